// The browser client's negotiation rules that need no browser (protocol.md 4.13): a relayed
// candidate with neither `sdp_mid` nor `sdp_m_line_index` is for m-line 0, and a callee whose
// first offer is out drops an offer from the caller instead of rolling its own back. The
// sources are bundled in memory with esbuild (as build.mjs does) and run in Node against a
// stand-in `RTCPeerConnection` that records what the client asks of it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { build } from 'esbuild';

const src = new URL('../src/', import.meta.url).pathname;

/** Imports a web/src module, bundled, as an ES module. */
async function load(entry) {
  const out = await build({
    entryPoints: [`${src}${entry}`],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'warning',
  });
  const code = out.outputFiles[0].text;
  return import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
}

test('a candidate without sdp_mid and sdp_m_line_index is for m-line 0', async () => {
  const { candidateInit } = await load('protocol.ts');
  const line = 'candidate:1 1 udp 2122260223 192.0.2.10 54400 typ host';
  assert.deepEqual(candidateInit({ candidate: line }), { candidate: line, sdpMLineIndex: 0 });
  assert.deepEqual(candidateInit({ candidate: line, sdp_mid: null, sdp_m_line_index: null }), {
    candidate: line,
    sdpMLineIndex: 0,
  });
  assert.deepEqual(candidateInit({ candidate: line, sdp_mid: 'a1b', username_fragment: 'uf' }), {
    candidate: line,
    sdpMid: 'a1b',
    usernameFragment: 'uf',
  });
  assert.deepEqual(candidateInit({ candidate: line, sdp_m_line_index: 1 }), {
    candidate: line,
    sdpMLineIndex: 1,
  });
  assert.deepEqual(candidateInit({ candidate: '', sdp_mid: '0' }), { candidate: '' }, 'end of candidates');
});

/** Just enough of RTCPeerConnection for `Peer`'s offer/answer steps, with a call log. */
class FakePeerConnection {
  static last = null;
  constructor() {
    this.calls = [];
    this.signalingState = 'stable';
    this.localDescription = null;
    this.remoteDescription = null;
    this.connectionState = 'new';
    FakePeerConnection.last = this;
  }
  addTransceiver() {
    return { sender: { replaceTrack: async () => {} }, receiver: { track: { kind: 'audio' } } };
  }
  createDataChannel(label) {
    return { label, readyState: 'connecting', close() {} };
  }
  getTransceivers() {
    return [];
  }
  async createOffer() {
    return { type: 'offer', sdp: 'v=0 local offer' };
  }
  async createAnswer() {
    return { type: 'answer', sdp: 'v=0 local answer' };
  }
  async setLocalDescription(d) {
    this.calls.push(`local ${d.type}`);
    this.localDescription = d;
    this.signalingState = d.type === 'offer' ? 'have-local-offer' : 'stable';
  }
  async setRemoteDescription(d) {
    this.calls.push(`remote ${d.type}`);
    this.remoteDescription = d;
    this.signalingState = d.type === 'offer' ? 'have-remote-offer' : 'stable';
  }
  async addIceCandidate() {}
  close() {}
}

test('a callee keeps its first offer when the caller offers too', async () => {
  globalThis.RTCPeerConnection = FakePeerConnection;
  globalThis.MediaStream = class {
    addTrack() {}
  };
  const { Peer } = await load('peer.ts');
  const sent = [];
  const events = { signal: (m) => sent.push(m), control() {}, connectionState() {} };

  const callee = new Peer('9'.repeat(32), 'offerer', events);
  const pc = FakePeerConnection.last;
  await callee.offer();
  await callee.acceptOffer('v=0 the caller offered too');
  assert.deepEqual(pc.calls, ['local offer'], 'the crossing offer is not applied');
  assert.deepEqual(
    sent.map((m) => m.type),
    ['offer'],
    'no answer to it',
  );
  await callee.acceptAnswer('v=0 the caller answered ours');
  assert.deepEqual(pc.calls, ['local offer', 'remote answer']);

  // Once negotiated, an offer from the peer (an ICE restart) is answered as before.
  await callee.acceptOffer('v=0 restart');
  assert.deepEqual(pc.calls, ['local offer', 'remote answer', 'remote offer', 'local answer']);
  assert.deepEqual(
    sent.map((m) => m.type),
    ['offer', 'answer'],
  );

  // The caller side answers the first offer it gets.
  sent.length = 0;
  const caller = new Peer('8'.repeat(32), 'answerer', events);
  await caller.acceptOffer('v=0 the callee offer');
  assert.deepEqual(FakePeerConnection.last.calls, ['remote offer', 'local answer']);
  assert.deepEqual(
    sent.map((m) => m.type),
    ['answer'],
  );
});
