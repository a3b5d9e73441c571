//! `to-native` mode: the browser client (web/, served by the bench's server) calls a native
//! engine and talks into the call; the native side (run by `ringwire bench quality`) answers and
//! records what it plays. Chromium sends with the client's defaults — whatever Opus, FEC and RED
//! settings it negotiates with the engine — through the orchestrator's impairment relay.
//!
//! Input: `{server, token, callee_user, map_url, send_wav, lead_ms, tail_ms}`. The page is put
//! behind the relay with web/tests/impair.mjs's shim (every candidate, the page's own and the
//! engine's, swapped for its stand-in through the relay's `/map`), and its microphone is
//! tonative-shim.js: a WebAudio stream that plays `send_wav` once when told, as pair-page.js's
//! source does, so neither stack's voice processing (echo cancellation, noise suppression, gain
//! control, which a real microphone track would get) touches the speech.
//!
//! Result: `{connected_ms, played_at_ms, clip_ms, sender: {start, end}, negotiated}` with times in epoch ms
//! and `sender` the page's outbound-rtp counters when the call became active and when the tail
//! ended.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { putBehindRelay } from '../../web/tests/impair.mjs';
import { here, launch, log, now, pipeConsole, sendCodec, sleep } from './common.mjs';
import { readWav } from './wav.mjs';

const RATE = 48000;
const shim = readFileSync(join(here, 'tonative-shim.js'), 'utf8');

/** The stand-in of a real `ip:port`, from the Rust relay. */
async function standIn(mapUrl, addr) {
  const response = await fetch(`${mapUrl}?addr=${addr}`);
  const text = (await response.text()).trim();
  if (!response.ok) throw new Error(`GET ${mapUrl}?addr=${addr}: ${response.status} ${text}`);
  return text;
}

/** The call's audio outbound-rtp counters now, or null. */
async function outbound(page) {
  return page.evaluate(async () => {
    const pc = window.ringwire.phone?.current?.mediaPeer?.pc;
    if (!pc) return null;
    const report = await pc.getStats();
    let out = null;
    report.forEach((s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'audio') out = s;
    });
    if (!out) return null;
    return { t: performance.timeOrigin + performance.now(), bytesSent: out.bytesSent ?? null, packetsSent: out.packetsSent ?? null, headerBytesSent: out.headerBytesSent ?? null };
  });
}

export async function run(input) {
  const { server, token, callee_user: calleeUser, map_url: mapUrl, send_wav: sendWav } = input;
  const leadMs = Number(input.lead_ms ?? 500);
  const tailMs = Number(input.tail_ms ?? 1500);
  if (!server || !token || !calleeUser || !mapUrl || !sendWav) {
    throw new Error('to-native needs server, token, callee_user, map_url and send_wav');
  }
  if (!(leadMs >= 0) || !(tailMs >= 0)) throw new Error('lead_ms and tail_ms must be >= 0');
  const wav = readWav(sendWav);
  if (wav.rate !== RATE || wav.channels !== 1) throw new Error(`send_wav must be 48 kHz mono, is ${wav.rate} Hz ${wav.channels} ch`);
  const clipMs = (wav.samples.length / RATE) * 1000;
  const pcm = Buffer.from(wav.samples.buffer, wav.samples.byteOffset, wav.samples.byteLength).toString('base64');

  const origin = new URL(server).origin;
  const browser = await launch();
  try {
    const context = await browser.newContext({ viewport: { width: 520, height: 720 } });
    await context.grantPermissions(['microphone'], { origin });
    const mapped = [];
    await putBehindRelay(context, {
      standIn: async (addr) => {
        const s = await standIn(mapUrl, addr);
        mapped.push(`${addr} -> ${s}`);
        return s;
      },
    });
    await context.addInitScript({ content: shim });
    const page = await context.newPage();
    pipeConsole(page, 'to-native');
    await page.goto(origin);
    await page.waitForSelector('#app[data-screen="signin"]');
    await page.fill('#token', token);
    await page.click('#signin-button');
    await page.waitForSelector('#app[data-screen="home"]');
    await page.waitForSelector('#status.online');
    await page.evaluate((b64) => window.__benchSend.load(b64), pcm);

    const tCall = now();
    await page.fill('#callee', calleeUser);
    await page.click('#call-button');
    await page
      .waitForFunction(() => window.ringwire.phone?.current?.phase === 'active', undefined, { timeout: 20_000, polling: 20 })
      .catch(async () => {
        const phase = await page.evaluate(() => window.ringwire.phone?.current?.phase ?? null);
        const errors = await page.evaluate(() => window.__benchSend.errors);
        throw new Error(`the call did not become active (phase ${phase}; ${errors.join('; ')})`);
      });
    const connectedMs = now() - tCall;
    const start = await outbound(page);
    await sleep(leadMs);
    const playedAtMs = await page.evaluate(() => window.__benchSend.play());
    await sleep(Math.max(0, playedAtMs - Date.now()) + clipMs + tailMs);
    const end = await outbound(page);
    // The page called, so the engine's answer is its remote description.
    const answerSdp = await page.evaluate(() => window.ringwire.phone?.current?.mediaPeer?.pc?.remoteDescription?.sdp ?? null);
    const errors = await page.evaluate(() => window.__benchSend.errors);
    if (mapped.length) log(`to-native: candidates mapped: ${mapped.join(', ')}`);
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    await page.click('#hangup-button').catch(() => undefined);
    await page.waitForSelector('#app[data-screen="home"]', { timeout: 10_000 }).catch(() => undefined);
    return { connected_ms: connectedMs, played_at_ms: playedAtMs, clip_ms: clipMs, sender: { start, end }, negotiated: sendCodec(answerSdp), mapped_candidates: mapped.length };
  } finally {
    await browser.close().catch(() => undefined);
  }
}
