//! `pair` mode: Chromium's WebRTC audio path between two RTCPeerConnections in one page
//! (pair-page.html/js, recorder-worklet.js), optionally routed through the orchestrator's
//! impairment relay by rewriting every trickled candidate through `map_url`. Writes a 48 kHz
//! 2-channel 16-bit WAV: channel 0 = what entered A's track, channel 1 = what B received, sample
//! aligned (same AudioContext), starting `pre_roll_ms` before the send WAV starts. The map lookups
//! run in node (page.exposeFunction), so the relay needs no CORS headers. `stats_every_ms` (0:
//! off) samples B's jitter-buffer counters that often (`series`); `sender` is A's outbound-rtp
//! counters when connected and when the recording ended, `negotiated` the codec it sends with
//! (the answer's first). `red_first` makes both peers prefer RFC 2198 RED over plain Opus (a
//! tuned web app).


import { launch, log, now, pipeConsole, sendCodec, staticServer } from './common.mjs';
import { readWav, writeWav } from './wav.mjs';

const RATE = 48000;

export async function run(input) {
  const { send_wav: sendWav, out_wav: outWav } = input;
  const mapUrl = input.map_url ?? null;
  const leadMs = Number(input.lead_ms ?? 1000);
  const tailMs = Number(input.tail_ms ?? 1500);
  const statsEveryMs = Number(input.stats_every_ms ?? 0);
  const redFirst = input.red_first === true;
  if (!sendWav || !outWav) throw new Error('send_wav and out_wav are required');
  if (!(leadMs >= 0) || !(tailMs >= 0) || !(statsEveryMs >= 0)) throw new Error('lead_ms, tail_ms and stats_every_ms must be >= 0');
  const wav = readWav(sendWav);
  if (wav.rate !== RATE || wav.channels !== 1) throw new Error(`send_wav must be 48 kHz mono, is ${wav.rate} Hz ${wav.channels} ch`);
  const preRollMs = Math.min(200, leadMs);

  const server = await staticServer({ '/send.wav': sendWav });
  const browser = await launch();
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    pipeConsole(page, 'pair');
    const mapped = [];
    await page.exposeFunction('benchMap', async (addr) => {
      const response = await fetch(`${mapUrl}?addr=${addr}`);
      const text = (await response.text()).trim();
      if (!response.ok) throw new Error(`GET ${mapUrl}?addr=${addr}: ${response.status} ${text}`);
      mapped.push(`${addr} -> ${text}`);
      return text;
    });
    await page.goto(`${server.url}/pair-page.html`);
    await page.waitForFunction(() => window.bench?.ready);
    const started = now();
    const r = await page.evaluate((p) => window.bench.run(p), { leadMs, tailMs, useMap: mapUrl !== null, preRollMs, statsEveryMs, redFirst });
    log(`pair: connected in ${r.connectedMs.toFixed(1)} ms, recorded ${r.frames} frames in ${((now() - started) / 1000).toFixed(1)} s`);
    if (mapped.length) log(`pair: candidates mapped: ${mapped.join(', ')}`);
    if (r.errors.length) log(`pair: page errors: ${r.errors.join('; ')}`);
    if (r.frames !== r.expectedFrames) throw new Error(`recorded ${r.frames} frames, expected ${r.expectedFrames}`);

    const count = await page.evaluate(() => window.bench.chunkCount());
    const parts = [];
    for (let i = 0; i < count; i++) parts.push(Buffer.from(await page.evaluate((k) => window.bench.chunkB64(k), i), 'base64'));
    writeWav(outWav, Buffer.concat(parts), RATE, 2);
    return {
      out_wav: outWav,
      connected_ms: r.connectedMs,
      stats: r.stats,
      pre_roll_ms: (r.preRollFrames / RATE) * 1000,
      recorded_frames: r.frames,
      send_frames: r.sendFrames,
      mapped_candidates: mapped.length,
      sender: r.sender,
      negotiated: sendCodec(r.answerSdp),
      series: r.series,
    };
  } finally {
    await browser.close().catch(() => undefined);
    await server.close();
  }
}
