// The browser's quality verdicts (web/src/quality.ts) and its E-model (web/src/emodel.ts), in
// Node: the same thresholds, hysteresis and MOS as the native engine (crates/core/src/call/
// verdict.rs, crates/media/src/quality), checked against the Rust tests' own cases and figures,
// then fed getStats() reports shaped like Chromium's: a network that degrades for 10 s and
// recovers, a 2 s blip that must not flap, and each cause. The modules are compiled from the
// TypeScript with the build's esbuild, so what runs here is what the page runs.

import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');

async function load(entry) {
  const out = await build({
    entryPoints: [join(web, entry)],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    write: false,
    logLevel: 'warning',
  });
  return import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString('base64')}`);
}

const q = await load('src/quality.ts');
const em = await load('src/emodel.ts');

const close = (actual, expected, tolerance, what) =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual}, expected ${expected} ± ${tolerance}`);

test('the E-model gives the Rust E-model figures', () => {
  const at = (ta) => ({ oneWayDelayMs: ta, packetLossPct: 0, burstRatio: 1, ie: 0, bpl: 4.3 });
  // crates/media/src/quality/emodel_tests.rs, value for value.
  close(em.rFactor(at(0)), 93.2, 0.1, 'R of the default connection');
  close(em.mosFromR(em.rFactor(at(0))), 4.41, 0.005, 'its MOS');
  close(em.idd(150), 0.164, 0.002, 'Idd(150)');
  close(em.idd(200), 3.044, 0.002, 'Idd(200)');
  close(em.idd(400), 24.07, 0.01, 'Idd(400)');
  assert.equal(em.idd(100), 0);
  assert.equal(em.idd(Number.NaN), 0);
  close(em.delayImpairment(0), 0.149, 0.005, 'Id(0)');
  close(em.delayImpairment(150), 2.81 + 0.84 + 0.164, 0.1, 'Id(150)');
  close(em.delayImpairment(400), 5.81 + 1.23 + 24.07, 0.05, 'Id(400)');
  close(em.rFactor(at(150)), 89.4, 0.2, 'R at 150 ms');
  close(em.rFactor(at(400)), 62.1, 0.2, 'R at 400 ms');
  let last = Infinity;
  for (let ta = 0; ta <= 800; ta += 10) {
    const r = em.rFactor(at(ta));
    assert.ok(r <= last + 1e-9, `R rose at ${ta} ms`);
    last = r;
  }
  close(em.ieEff({ oneWayDelayMs: 0, packetLossPct: 2, burstRatio: 1, ie: 0, bpl: 25.1 }), 7.011, 0.001, 'Ie-eff');
  for (const [r, mos] of [[50, 2.58], [60, 3.1], [70, 3.6], [80, 4.02], [90, 4.34]]) close(em.mosFromR(r), mos, 0.01, `MOS(${r})`);
  assert.equal(em.mosFromR(-5), 1);
  assert.equal(em.mosFromR(120), 4.5);
  assert.equal(em.mosFromR(Number.NaN), 1);
  const garbage = { oneWayDelayMs: Number.NaN, packetLossPct: Infinity, burstRatio: -3, ie: Number.NaN, bpl: 0 };
  assert.ok(Number.isFinite(em.rFactor(garbage)));
});

test('the estimate adds up the delay budget and takes the worse of loss and concealment', () => {
  const inputs = { rttMs: 100, lossPct: 0, jitterBufferMs: 40, concealmentRatio: 0, frameMs: 20 };
  // 50 (RTT/2) + 40 (buffer) + 26.5 (Opus algorithmic) + 20 (packetization) = 136.5 ms.
  const expected = em.rFactor({ oneWayDelayMs: 136.5, packetLossPct: 0, burstRatio: 1, ie: 0, bpl: 30 });
  close(em.estimate(inputs).rFactor, expected, 1e-9, 'R');
  assert.ok(em.estimate({ ...inputs, rttMs: null }).rFactor > expected, 'unknown RTT counts as no network delay');
  const net = em.estimate({ ...inputs, lossPct: 5 }).rFactor;
  close(em.estimate({ ...inputs, concealmentRatio: 0.05 }).rFactor, net, 1e-9, 'concealment as loss');
  assert.ok(em.estimate({ ...inputs, lossPct: 5, concealmentRatio: 0.1 }).rFactor < net);
  const bad = em.estimate({ rttMs: Number.NaN, lossPct: -4, jitterBufferMs: Number.NaN, concealmentRatio: 7, frameMs: Number.NaN });
  assert.ok(Number.isFinite(bad.rFactor) && Number.isFinite(bad.mos));
});

/** verdict.rs's test window. */
function window(loss, rtt, packets, missed = 0) {
  return {
    figures: {
      loss_pct: loss,
      rtt_ms: rtt,
      jitter_ms: 5,
      concealment_ratio: loss / 100,
      mos: 4.2,
      packets_received: packets,
      missed_ticks_pct: missed,
    },
    connected: true,
    farEndPaused: false,
  };
}

test('each cause at its threshold, as verdict.rs', () => {
  const is = (w, verdict, cause) => assert.deepEqual(q.assess(w), { verdict, cause });
  is(window(0, 50, 100), 'good', null);
  is(window(4, 50, 100), 'fair', 'network_loss');
  is(window(12, 700, 100), 'poor', 'network_loss');
  is(window(0, 700, 100), 'poor', 'network_delay');
  is(window(0, 350, 100), 'fair', 'network_delay');
  is(window(12, null, 100, 20), 'poor', 'cpu');
  is(window(0, null, 0), 'poor', 'no_audio_received');
  is({ ...window(0, null, 0), connected: false }, 'good', null);
  is({ ...window(0, null, 0), farEndPaused: true }, 'fair', 'far_end_muted');
  is({ ...window(0, 50, 100), figures: { ...window(0, 50, 100).figures, jitter_ms: 70 } }, 'poor', 'jitter');
  is({ ...window(0, 50, 100), figures: { ...window(0, 50, 100).figures, jitter_ms: 35 } }, 'fair', 'jitter');
  const lowMos = window(2, 100, 100);
  lowMos.figures.mos = 3.0;
  is(lowMos, 'poor', 'network_loss');
  const lowMosDelay = window(0, 500, 100);
  lowMosDelay.figures.mos = 3.4;
  is(lowMosDelay, 'fair', 'network_delay');
});

test('two seconds of bad network do not flap, as verdict.rs', () => {
  const t = new q.VerdictTracker();
  const good = window(0, 50, 100);
  const bad = window(20, 50, 100);
  const feed = (s, w) => t.onWindow(s * 1000, 2000, w);
  assert.equal(feed(2, good), null);
  assert.equal(feed(4, bad), null);
  assert.equal(feed(6, good), null);
  assert.equal(feed(8, bad), null);
  assert.equal(feed(10, bad), null);
  assert.equal(feed(12, good), null);
  assert.equal(feed(14, bad), null);
  assert.equal(feed(16, bad), null);
  assert.deepEqual(feed(18, bad), { verdict: 'poor', cause: 'network_loss' });
  assert.equal(feed(20, bad), null);
  for (const s of [22, 24, 26]) assert.equal(feed(s, good), null);
  assert.deepEqual(feed(28, good), { verdict: 'good', cause: null });
  assert.equal(t.current, 'good');
});

/**
 * A Chromium-shaped getStats() source for one call: 50 packets a second arrive, `loss` of them
 * lost (exactly, so windows are deterministic), concealment following the loss, and the RTT
 * and jitter given.
 */
class FakeStats {
  constructor() {
    this.atMs = 0;
    this.received = 0;
    this.lost = 0;
    this.samples = 0;
    this.concealed = 0;
    this.bufferS = 0;
    this.emitted = 0;
    this.set({});
  }
  set({ loss = 0, rttMs = 40, jitterMs = 4, flowing = true }) {
    Object.assign(this, { loss, rttMs, jitterMs, flowing });
  }
  /** `ms` of call time pass, in 20 ms packets. */
  advance(ms) {
    for (let t = 0; t < ms; t += 20) {
      this.atMs += 20;
      this.samples += 960;
      this.emitted += 960;
      this.bufferS += 960 * 0.04;
      if (!this.flowing) {
        this.concealed += 960;
        continue;
      }
      // Deterministic loss: `loss` of every 100 packets, spread evenly.
      this.n = (this.n ?? 0) + 1;
      if (Math.floor(this.n * this.loss) > Math.floor((this.n - 1) * this.loss)) {
        this.lost += 1;
        this.concealed += 960;
      } else {
        this.received += 1;
      }
    }
  }
  report() {
    return new Map(
      [
        {
          id: 'IT01A', type: 'inbound-rtp', kind: 'audio', packetsReceived: this.received, packetsLost: this.lost,
          concealedSamples: this.concealed, totalSamplesReceived: this.samples, jitter: this.jitterMs / 1000,
          jitterBufferDelay: this.bufferS, jitterBufferEmittedCount: this.emitted,
        },
        { id: 'T01', type: 'transport', selectedCandidatePairId: 'CP1' },
        { id: 'CP1', type: 'candidate-pair', nominated: true, state: 'succeeded', currentRoundTripTime: this.rttMs / 1000 },
        { id: 'CP2', type: 'candidate-pair', nominated: false, state: 'failed', currentRoundTripTime: 9 },
      ].map((s) => [s.id, s]),
    );
  }
}

/** A call judged every 2 s while `script(sec)` sets the network; the changes with their times. */
function run(seconds, script, { connected = () => true, farEndPaused = () => false } = {}) {
  const net = new FakeStats();
  const monitor = new q.QualityMonitor();
  const changes = [];
  const windows = [];
  monitor.onSample(q.readStats(net.report(), net.atMs), { connected: true, farEndPaused: false });
  for (let s = 0; s < seconds; s += 1) {
    net.set(script(s));
    net.advance(1000);
    if ((s + 1) % 2 === 0) {
      const sec = s + 1;
      const change = monitor.onSample(q.readStats(net.report(), net.atMs), { connected: connected(sec), farEndPaused: farEndPaused(sec) });
      windows.push({ sec, ...monitor.lastWindow });
      if (change) changes.push({ sec, ...change });
    }
  }
  return { changes, windows };
}

test('a network that loses 20 % for 10 s turns the call poor (network loss), then good again', () => {
  // Clean for 10 s, 20 % loss from 10 s to 20 s, clean again.
  const { changes, windows } = run(50, (s) => ({ loss: s >= 10 && s < 20 ? 0.2 : 0 }));
  assert.equal(changes.length, 2, JSON.stringify(changes));
  const [poor, good] = changes;
  assert.equal(poor.verdict, 'poor');
  assert.equal(poor.cause, 'network_loss');
  assert.equal(poor.action, null, 'the browser takes no action');
  // Three bad windows (10-12, 12-14, 14-16): announced at 16 s, 6 s after it started.
  assert.equal(poor.sec, 16);
  close(poor.figures.loss_pct, 20, 0.5, 'loss of the window');
  assert.ok(poor.figures.mos < 3.6, `MOS ${poor.figures.mos}`);
  assert.equal(poor.figures.missed_ticks_pct, 0);
  assert.equal(poor.figures.rtt_ms, 40, 'RTT of the selected pair');
  close(poor.figures.jitter_ms, 4, 1e-9, 'jitter in ms');
  close(poor.figures.concealment_ratio, 0.2, 0.01, 'concealment');
  assert.equal(poor.figures.packets_received, 80);
  // Good from 20 s: four good windows, announced at 28 s.
  assert.deepEqual([good.sec, good.verdict, good.cause], [28, 'good', null]);
  assert.ok(good.figures.mos > 4, `MOS ${good.figures.mos}`);
  // Before the loss, the windows were good with a MOS near the engine's for a clean call.
  const clean = windows.find((w) => w.sec === 8);
  assert.equal(clean.verdict, 'good');
  assert.ok(clean.figures.mos > 4.3, `clean MOS ${clean.figures.mos}`);
});

test('a 2 s blip, aligned with a window or straddling two, does not flap', () => {
  for (const start of [10, 11]) {
    const { changes, windows } = run(30, (s) => ({ loss: s >= start && s < start + 2 ? 0.3 : 0 }));
    assert.deepEqual(changes, [], `blip at ${start} s`);
    assert.ok(windows.some((w) => w.verdict === 'poor'), 'the blip was seen in a window');
  }
  // Bad, good, bad, bad, good: never three in a row.
  const bursts = new Set([4, 5, 8, 9, 10, 11]);
  assert.deepEqual(run(20, (s) => ({ loss: bursts.has(s) ? 0.25 : 0 })).changes, []);
});

test('each cause from getStats figures', () => {
  const first = (opts, script) => run(20, script, opts).changes[0];
  const delay = first({}, () => ({ rttMs: 700 }));
  assert.deepEqual([delay.verdict, delay.cause, delay.sec], ['poor', 'network_delay', 6]);
  const slow = first({}, () => ({ rttMs: 350 }));
  assert.deepEqual([slow.verdict, slow.cause], ['fair', 'network_delay']);
  const jitter = first({}, () => ({ jitterMs: 45 }));
  assert.deepEqual([jitter.verdict, jitter.cause], ['fair', 'jitter']);
  const light = first({}, () => ({ loss: 0.05 }));
  assert.deepEqual([light.verdict, light.cause], ['fair', 'network_loss']);
  const silent = first({}, () => ({ flowing: false }));
  assert.deepEqual([silent.verdict, silent.cause], ['poor', 'no_audio_received']);
  assert.equal(silent.figures.mos, null, 'no MOS without audio');
  // Nothing arriving on a path that is down is not a quality (reconnecting is shown instead).
  assert.equal(first({ connected: () => false }, () => ({ flowing: false })), undefined);
  const paused = first({ farEndPaused: () => true }, () => ({ flowing: false }));
  assert.deepEqual([paused.verdict, paused.cause], ['fair', 'far_end_muted']);
});

test('readings: the first starts a window, RTT falls back, counters that restart start again', () => {
  const monitor = new q.QualityMonitor();
  const net = new FakeStats();
  const state = { connected: true, farEndPaused: false };
  assert.equal(q.readStats(new Map(), 0), null, 'no inbound audio yet');
  assert.equal(monitor.onSample(null, state), null);
  net.advance(2000);
  assert.equal(monitor.onSample(q.readStats(net.report(), net.atMs), state), null);
  assert.equal(monitor.lastWindow, null, 'the first reading only starts a window');
  // Without a selected pair, the remote-inbound-rtp RTT.
  const report = net.report();
  report.delete('T01');
  report.delete('CP1');
  report.set('RI', { id: 'RI', type: 'remote-inbound-rtp', kind: 'audio', roundTripTime: 0.25 });
  assert.equal(q.readStats(report, 0).rttMs, 250);
  // Counters that went back (a new stream) start a new window instead of a negative one.
  const restarted = { ...q.readStats(net.report(), net.atMs + 2000), packetsReceived: 3 };
  assert.equal(monitor.onSample(restarted, state), null);
  assert.equal(monitor.lastWindow, null);
});

test('what the call screen says', () => {
  const d = (verdict, cause, action = null) => q.describeVerdict({ verdict, cause, action });
  assert.equal(d('good', null), '');
  assert.equal(d('poor', 'network_loss'), 'Poor connection (network loss)');
  assert.equal(d('fair', 'network_delay'), 'Fair connection (network delay)');
  assert.equal(d('poor', 'network_loss', 'added_redundancy'), 'Poor connection (network loss) · trying to improve…');
  assert.equal(d('fair', 'far_end_muted'), 'The other side paused its audio');
  assert.equal(q.WINDOW_MS, 2000);
  assert.equal(q.HOLD_WORSE_MS, 6000);
  assert.equal(q.HOLD_BETTER_MS, 8000);
});
