// Peer mode against an unchanged standard WebRTC app: a plain Chromium page (web/tests/peer-page,
// the Firebase WebRTC codelab's code, no ringwire code in it) signals through Firestore-shaped
// documents (ringwire-docstore, Redis-backed); on the other side the native engine
// (`ringwire peer`) reaches the same documents through the adapter of
// crates/docstore/src/peer.rs (`ringwire-docstore-relay`). Both directions: the page calls the
// engine, and the engine calls the page; a tone each way is heard, the page's DTMF keys reach the
// engine, each side hangs up once, and the SDP and candidates the engine got are byte for byte
// what the page's RTCPeerConnection produced (and the other way round).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  Cleanup, grantMicrophone, launchBrowser, repoRoot, ringwireBin, tempDir, waitFor,
} from './harness.mjs';

const PAGE_HZ = 880;
const NATIVE_HZ = 440;
const docstoreBin = join(repoRoot, 'target', 'debug', 'ringwire-docstore');
const relayBin = join(repoRoot, 'target', 'debug', 'ringwire-docstore-relay');
const redisUrl = process.env.RINGWIRE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

let docstore;
let browser;
const cleanup = new Cleanup();

/** `ringwire-docstore` on a free port under a fresh key prefix, serving the page. */
async function startDocstore() {
  const prefix = `peer-test-${randomBytes(6).toString('hex')}`;
  const child = spawn(docstoreBin, [
    '--listen', '127.0.0.1:0', '--redis', redisUrl, '--prefix', prefix,
    '--static', join(repoRoot, 'web', 'tests', 'peer-page'),
  ], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
  const line = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`ringwire-docstore exited ${code} (is Redis at ${redisUrl}?)`)));
  });
  const addr = line.replace('listening on ', '').trim();
  return {
    http: `http://${addr}`,
    ws: `ws://${addr}/v1/docs`,
    stop: () => child.kill('SIGTERM'),
  };
}

/** A Firestore-style document id: 20 letters and digits. */
function docId() {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(20), (b) => alphabet[b % alphabet.length]).join('');
}

/**
 * `ringwire peer` joined to the call document by the relay, each one's stdout the other's stdin.
 * Resolves `done` with the softphone's JSON report (the last stderr line) and exit code.
 */
function nativeSide({ id, side, peerArgs }) {
  const dir = tempDir('peer');
  const logPath = join(dir, 'relay.jsonl');
  const record = join(dir, 'heard.wav');
  const peer = spawn(ringwireBin, ['peer', '--tone', String(NATIVE_HZ), '--json', '--record', record, ...peerArgs], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  const relayArgs = ['--url', docstore.ws, '--doc', id, '--side', side, '--log', logPath];
  if (side === 'caller') relayArgs.push('--delete-at-end');
  const relay = spawn(relayBin, relayArgs, { stdio: ['pipe', 'pipe', 'inherit'] });
  peer.stdout.pipe(relay.stdin);
  relay.stdout.pipe(peer.stdin);
  let stderr = '';
  peer.stderr.on('data', (d) => { stderr += d; });
  const relayDone = new Promise((r) => relay.on('exit', r));
  const done = new Promise((resolve) => {
    peer.on('exit', (code) => {
      const last = stderr.trim().split('\n').reverse().find((l) => l.startsWith('{'));
      resolve({ code, report: last ? JSON.parse(last) : null, stderr });
    });
  });
  const relayed = () => readFileSync(logPath, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  cleanup.add(() => { peer.kill('SIGKILL'); relay.kill('SIGKILL'); });
  return { done, relayDone, relayed };
}

async function openPage() {
  const context = await browser.newContext();
  await grantMicrophone(context, { url: docstore.http });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
  await page.goto(`${docstore.http}/static/index.html`);
  await page.waitForFunction(() => window.app !== undefined);
  return page;
}

/** The dominant frequency the page hears from the far end, with WebAudio. */
async function pageHears(page, ms = 1500) {
  return page.evaluate(async (ms) => {
    const stream = window.remoteStream;
    if (!stream) return null;
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    ctx.createMediaStreamSource(stream).connect(analyser);
    const bins = new Float32Array(analyser.frequencyBinCount);
    const sums = new Float32Array(analyser.frequencyBinCount);
    const end = performance.now() + ms;
    while (performance.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      analyser.getFloatFrequencyData(bins);
      for (let i = 0; i < bins.length; i++) sums[i] += 10 ** (bins[i] / 20);
    }
    let best = 1;
    for (let i = 2; i < sums.length; i++) if (sums[i] > sums[best]) best = i;
    const hz = (best * ctx.sampleRate) / analyser.fftSize;
    await ctx.close();
    return hz;
  }, ms);
}

/** The relay's log checked against the page's own: nothing was rewritten either way. */
function assertUnmunged(log, relayed) {
  const fromStore = relayed.filter((r) => r.dir === 'from_store').map((r) => r.message);
  const toStore = relayed.filter((r) => r.dir === 'to_store').map((r) => r.message);
  const pageDescription = fromStore.find((m) => m.type === log.wroteDescription.type);
  assert.ok(pageDescription, `the page's ${log.wroteDescription.type} reached the engine`);
  assert.equal(pageDescription.sdp, log.wroteDescription.sdp, 'the page\'s SDP, byte for byte');
  const engineDescription = toStore.find((m) => m.type === log.readDescription.type);
  assert.equal(engineDescription.sdp, log.readDescription.sdp, 'the engine\'s SDP, byte for byte');
  const sent = fromStore.filter((m) => m.type === 'candidate').map((m) => m.candidate);
  assert.ok(log.sentCandidates.length > 0, 'the page trickled candidates');
  assert.deepEqual(sent.sort(), log.sentCandidates.map((c) => c.candidate).sort(),
    'every candidate the page gathered reached the engine as it was');
  const received = toStore.filter((m) => m.type === 'candidate' && m.candidate).map((m) => m.candidate);
  assert.deepEqual(log.receivedCandidates.map((c) => c.candidate).sort(), received.sort(),
    'the page got the engine\'s candidates as it sent them');
}

before(async () => {
  docstore = await startDocstore();
  cleanup.add(() => docstore.stop());
  browser = await launchBrowser({ toneHz: PAGE_HZ });
  cleanup.add(() => browser.close());
});

after(() => cleanup.run());

test('a plain WebRTC page calls the native engine through Firestore-shaped documents', async () => {
  const id = docId();
  const native = nativeSide({ id, side: 'callee', peerArgs: ['--accept-after', '300'] });
  const page = await openPage();
  await page.evaluate((id) => window.app.call(id), id);
  await page.waitForFunction(() => document.getElementById('state').textContent === 'connected', null, { timeout: 20_000 });
  const heard = await pageHears(page);
  assert.ok(Math.abs(heard - NATIVE_HZ) < 15, `the page heard ${heard} Hz`);
  await page.evaluate(() => window.app.sendDtmf('147#'));
  await new Promise((r) => setTimeout(r, 2000));
  await page.evaluate(() => window.app.hangup());
  const { code, report, stderr } = await native.done;
  assert.ok(report, `no report:\n${stderr}`);
  assert.equal(report.ok, true, JSON.stringify(report));
  assert.equal(code, 0);
  assert.ok(Math.abs(report.heard_hz - PAGE_HZ) < 15, `the engine heard ${report.heard_hz} Hz`);
  assert.equal(report.dtmf_received, '147#');
  assert.equal(report.end_reason.reason, 'hangup');
  assert.equal(report.ended_locally, false);
  await native.relayDone;
  const log = await page.evaluate(() => window.app.log);
  assert.deepEqual(log.errors, []);
  assertUnmunged(log, native.relayed());
  await page.context().close();
});

test('the native engine calls a plain WebRTC page, hangs up, and the caller clears the documents', async () => {
  const id = docId();
  const native = nativeSide({ id, side: 'caller', peerArgs: ['--offer', '--duration', '4'] });
  const page = await openPage();
  await page.evaluate((id) => window.app.answer(id), id);
  await page.waitForFunction(() => document.getElementById('state').textContent === 'connected', null, { timeout: 20_000 });
  const heard = await pageHears(page);
  assert.ok(Math.abs(heard - NATIVE_HZ) < 15, `the page heard ${heard} Hz`);
  const { code, report, stderr } = await native.done;
  assert.ok(report, `no report:\n${stderr}`);
  assert.equal(report.ok, true, JSON.stringify(report));
  assert.equal(code, 0);
  assert.ok(Math.abs(report.heard_hz - PAGE_HZ) < 15, `the engine heard ${report.heard_hz} Hz`);
  assert.equal(report.end_reason.reason, 'hangup');
  assert.equal(report.ended_locally, true);
  await waitFor('the page to see the hangup', () => page.evaluate(() => window.app.log.hangupSeen), 10_000);
  const log = await page.evaluate(() => window.app.log);
  assert.equal(log.hangupSeen.by, 'caller');
  assert.deepEqual(log.errors, []);
  await native.relayDone;
  assert.equal(await page.evaluate(() => window.app.callDocExists()), false, 'the caller deleted the call document');
  assertUnmunged(log, native.relayed());
  await page.context().close();
});
