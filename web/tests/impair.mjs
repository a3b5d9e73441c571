// Network impairment for a browser page's call on loopback, where netem is not at hand (no
// root, no netns; Chromium's fake-network field trials do not reach its calls): a user-space
// UDP relay, the same idea as the benchmark's (crates/bench/src/relay.rs). Every real endpoint X
// gets a stand-in socket R(X) on 127.0.0.1; the page is made to see only stand-ins (its
// RTCPeerConnection rewrites the far end's candidates, and its own, through `pageShim`), so a
// datagram from Y to R(X) goes on from R(Y) to X and each side sees the other's stand-in as its
// peer. ICE, DTLS and RTCP pass untouched; RTP towards each side is dropped with the loss set
// for that side (deterministic draws from a seed). Nothing else of the call is touched.

import { createSocket } from 'node:dgram';

/** RTP, not RTCP (RFC 5761 demultiplexing: version 2, payload type outside 64-95). */
function isRtp(b) {
  return b.length >= 12 && b[0] >= 128 && b[0] < 192 && ((b[1] & 0x7f) < 64 || (b[1] & 0x7f) > 95);
}

/** mulberry32: a seeded generator, so a loss pattern is the same on every run. */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const other = (side) => (side === 'page' ? 'far' : 'page');

/**
 * Starts the relay. `standIn(addr, side)` answers the stand-in of a real `ip:port` that belongs
 * to `side` (`page` or `far`); `set({toPage, toFar})` sets the RTP loss (0-1) towards each side.
 */
export function startRelay({ seed = 1 } = {}) {
  /** Real address -> { socket, ready, side }. */
  const endpoints = new Map();
  let loss = { toPage: 0, toFar: 0 };
  let random = seeded(seed);
  const counts = { page: { rtp: 0, dropped: 0 }, far: { rtp: 0, dropped: 0 } };

  function endpoint(real, side) {
    const known = endpoints.get(real);
    if (known) return known;
    const [ip, port] = splitAddr(real);
    const socket = createSocket('udp4');
    const ready = new Promise((ok) => socket.bind({ address: '127.0.0.1', port: 0 }, ok));
    const entry = { socket, ready, side, ip, port };
    endpoints.set(real, entry);
    // A datagram for X (this stand-in's real endpoint) from Y: on to X, from R(Y).
    socket.on('message', (msg, from) => {
      const sender = endpoint(`${from.address}:${from.port}`, other(entry.side));
      if (isRtp(msg)) {
        const c = counts[entry.side];
        c.rtp += 1;
        if (random() < (entry.side === 'page' ? loss.toPage : loss.toFar)) {
          c.dropped += 1;
          return;
        }
      }
      void sender.ready.then(() => sender.socket.send(msg, entry.port, entry.ip));
    });
    socket.on('error', () => undefined);
    return entry;
  }

  return {
    async standIn(real, side) {
      const entry = endpoint(real, side);
      await entry.ready;
      return `127.0.0.1:${entry.socket.address().port}`;
    },
    set({ toPage = 0, toFar = 0 }, newSeed) {
      loss = { toPage, toFar };
      if (newSeed !== undefined) random = seeded(newSeed);
    },
    /** RTP datagrams towards each side so far, and how many were dropped. */
    counts() {
      return structuredClone(counts);
    },
    close() {
      for (const { socket } of endpoints.values()) socket.close();
      endpoints.clear();
    },
  };
}

function splitAddr(addr) {
  const i = addr.lastIndexOf(':');
  return [addr.slice(0, i), Number(addr.slice(i + 1))];
}

/**
 * Puts a page behind `relay`: before the page's scripts run, its RTCPeerConnection is replaced
 * by one that swaps every candidate address (the far end's as they are added, in descriptions
 * too, and the page's own as they are gathered) for its stand-in. Candidates the relay cannot
 * carry (IPv6, TCP, mDNS names) are left out. Call before the page opens.
 */
export async function putBehindRelay(context, relay) {
  await context.exposeFunction('__relayStandIn', (addr, side) => relay.standIn(addr, side));
  await context.addInitScript(pageShim);
}

/** Runs in the page before its scripts. */
function pageShim() {
  const Native = window.RTCPeerConnection;
  // `candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...`
  const rewrite = async (line, side) => {
    const f = line.split(' ');
    if (f.length < 8 || f[2].toLowerCase() !== 'udp' || !/^\d+\.\d+\.\d+\.\d+$/.test(f[4])) return null;
    const [ip, port] = (await window.__relayStandIn(`${f[4]}:${f[5]}`, side)).split(':');
    f[4] = ip;
    f[5] = port;
    return f.join(' ');
  };
  const rewriteSdp = async (sdp, side) => {
    const lines = [];
    for (const l of sdp.split('\r\n')) {
      if (!l.startsWith('a=candidate:')) lines.push(l);
      else {
        const c = await rewrite(l.slice(2), side);
        if (c) lines.push(`a=${c}`);
      }
    }
    return lines.join('\r\n');
  };
  window.RTCPeerConnection = class extends Native {
    #order = Promise.resolve();
    async addIceCandidate(init) {
      if (!init || !init.candidate) return super.addIceCandidate(init);
      const candidate = await rewrite(init.candidate, 'far');
      if (candidate) await super.addIceCandidate({ ...init, candidate });
    }
    async setRemoteDescription(desc) {
      return super.setRemoteDescription(desc?.sdp ? { type: desc.type, sdp: await rewriteSdp(desc.sdp, 'far') } : desc);
    }
    get localDescription() {
      // Candidates reach the far end only trickled (and rewritten below), never in the SDP.
      const d = super.localDescription;
      return d && { type: d.type, sdp: d.sdp.replace(/a=candidate:[^\r\n]*\r\n/g, ''), toJSON: () => d.toJSON() };
    }
    get onicecandidate() {
      return super.onicecandidate;
    }
    set onicecandidate(handler) {
      super.onicecandidate = (event) => {
        // Kept in order: the end-of-candidates event must come after every rewritten candidate.
        this.#order = this.#order.then(async () => {
          const c = event.candidate;
          if (!c || !c.candidate) return handler?.call(this, event);
          const line = await rewrite(c.candidate, 'page');
          if (!line) return undefined;
          const candidate = new RTCIceCandidate({
            candidate: line,
            sdpMid: c.sdpMid,
            sdpMLineIndex: c.sdpMLineIndex,
            usernameFragment: c.usernameFragment,
          });
          return handler?.call(this, { candidate, type: 'icecandidate' });
        });
      };
    }
  };
}
