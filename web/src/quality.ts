// Quality verdicts in the browser: the native engine's (crates/core/src/call/verdict.rs, measured
// as crates/core/src/agent/quality.rs does) computed from `RTCPeerConnection.getStats()`, with
// the same thresholds, the same hysteresis and the same words, so a browser user and a native
// user on one call are told the same thing about what they hear.
//
// Every window (`WINDOW_MS`) the call reads its stats (`readStats`); `QualityMonitor` turns two
// readings into the window's figures (deltas of the counters, RTT, jitter, the E-model's MOS over
// the window), `assess` gives the window's verdict and cause, and `VerdictTracker` announces a
// change only once it held: a worse verdict after `HOLD_WORSE_MS`, a better one after
// `HOLD_BETTER_MS`. The call starts `good` without an announcement.
//
// | cause               | fair from         | poor from                                   |
// |---------------------|-------------------|---------------------------------------------|
// | `no_audio_received` | —                 | no packet in the window of a connected call |
// | `cpu`               | 3 % ticks missed  | 10 % ticks missed                           |
// | `network_loss`      | 3 % lost          | 10 % lost                                   |
// | `network_delay`     | RTT 300 ms        | RTT 600 ms                                  |
// | `jitter`            | 30 ms             | 60 ms                                       |
// | (any, by the MOS)   | MOS below 3.6     | MOS below 3.1                               |
//
// What a browser cannot do like the engine:
// - `cpu`: a page cannot see its audio thread miss deadlines (WebRTC's audio device runs outside
//   JavaScript), so `missed_ticks_pct` is always 0 and `cpu` is never the browser's cause.
// - `far_end_muted`: the engine hears it from its RTP stack (the far end's stream paused). Here
//   the far end has paused when the remote track is `muted` (the browser mutes it when the far
//   end stops sending to us) or the transceiver's negotiated direction no longer receives (the
//   far end said so in SDP, e.g. on hold).
// - No action: the browser's sender is WebRTC's own, so a verdict never carries an `action`.
// - Loss is what this side did not receive (each side judges what it hears), before RED or FEC
//   repaired anything, as the engine counts it.
// - The MOS assumes 20 ms frames (Opus' default packet time, the engine's too).
//
// Everything here is plain computation on values passed in, time included, so it runs in Node's
// tests as it runs in the page.

import type { QualityFigures } from '../bridge/generated/events';
import { estimate } from './emodel';
import type { QualityAction, QualityCause, QualityVerdict as Verdict } from './generated/protocol';

export type { QualityAction, QualityCause, QualityFigures, Verdict };

/** How often a window ends (the engine's `AgentConfig::quality_interval`). */
export const WINDOW_MS = 2_000;
/** A worse verdict is announced once it held this long: three windows. */
export const HOLD_WORSE_MS = 6_000;
/** A better verdict is announced once it held this long. */
export const HOLD_BETTER_MS = 8_000;
/** Audio per packet assumed by the MOS. */
const FRAME_MS = 20;

/** A verdict change, as the engine reports it (`quality_changed`). */
export interface QualityChange {
  verdict: Verdict;
  /** `null` for `good`. */
  cause: QualityCause | null;
  /** What was done about it; always `null` in the browser. */
  action: QualityAction | null;
  figures: QualityFigures;
}

/** One window's figures and what else the verdict needs. */
export interface QualityWindow {
  figures: QualityFigures;
  /** Whether the media path is up (no packets on a path that is down is not a quality). */
  connected: boolean;
  /** Whether the far end paused its audio. */
  farEndPaused: boolean;
}

const RANK: Record<Verdict, number> = { good: 0, fair: 1, poor: 2 };
const worse = (a: Verdict, b: Verdict) => RANK[a] > RANK[b];

/** The verdict of one window alone: the worst cause, and its level. */
export function assess(window: QualityWindow): { verdict: Verdict; cause: QualityCause | null } {
  const f = window.figures;
  if (window.farEndPaused) return { verdict: 'fair', cause: 'far_end_muted' };
  if (window.connected && f.packets_received === 0) return { verdict: 'poor', cause: 'no_audio_received' };
  const level = (value: number, fair: number, poor: number): Verdict =>
    value >= poor ? 'poor' : value >= fair ? 'fair' : 'good';
  const cpu = level(f.missed_ticks_pct, 3, 10);
  if (cpu !== 'good') return { verdict: cpu, cause: 'cpu' };
  const candidates: [Verdict, QualityCause][] = [
    [level(f.loss_pct, 3, 10), 'network_loss'],
    [level(f.rtt_ms ?? 0, 300, 600), 'network_delay'],
    [level(f.jitter_ms, 30, 60), 'jitter'],
  ];
  // The worst level; among equals, the order above (loss, delay, jitter).
  let worst: { verdict: Verdict; cause: QualityCause | null } = { verdict: 'good', cause: null };
  for (const [verdict, cause] of candidates) if (worse(verdict, worst.verdict)) worst = { verdict, cause };
  const byMos: Verdict = f.mos === null ? 'good' : f.mos < 3.1 ? 'poor' : f.mos < 3.6 ? 'fair' : 'good';
  if (worse(byMos, worst.verdict)) {
    // The MOS alone says worse: blame its largest contributor.
    const loss = Math.max(f.loss_pct, f.concealment_ratio * 100) / 10;
    const delay = (f.rtt_ms ?? 0) / 600;
    const jitter = f.jitter_ms / 60;
    const cause: QualityCause =
      loss >= delay && loss >= jitter ? 'network_loss' : delay >= jitter ? 'network_delay' : 'jitter';
    return { verdict: byMos, cause };
  }
  return worst;
}

/** The verdict of a call over time, with hysteresis (`VerdictTracker` in the Rust). */
export class VerdictTracker {
  private announced: Verdict = 'good';
  /** A different verdict seen, since when (ms), and its latest cause. */
  private pending: { verdict: Verdict; sinceMs: number; cause: QualityCause | null } | null = null;

  /** The verdict announced last (`good` until the first change). */
  get current(): Verdict {
    return this.announced;
  }

  /**
   * Feeds one window of `spanMs` that ended at `nowMs`; returns the new verdict and cause when
   * it changes.
   */
  onWindow(nowMs: number, spanMs: number, window: QualityWindow): { verdict: Verdict; cause: QualityCause | null } | null {
    const { verdict, cause } = assess(window);
    if (verdict === this.announced) {
      this.pending = null;
      return null;
    }
    const sinceMs = this.pending?.verdict === verdict ? this.pending.sinceMs : nowMs;
    this.pending = { verdict, sinceMs, cause };
    const hold = worse(verdict, this.announced) ? HOLD_WORSE_MS : HOLD_BETTER_MS;
    // A window's figures cover the span before `nowMs`: the first bad window counts whole.
    if (Math.max(0, nowMs - sinceMs) + spanMs >= hold) {
      this.announced = verdict;
      this.pending = null;
      return { verdict, cause };
    }
    return null;
  }
}

/** The cumulative counters and current figures one `getStats()` gives about received audio. */
export interface StatsSample {
  /** When it was read, ms (any monotonic clock; the caller's). */
  atMs: number;
  packetsReceived: number;
  packetsLost: number;
  concealedSamples: number;
  totalSamplesReceived: number;
  /** Sum of the time each emitted sample spent in the jitter buffer, s, and their count. */
  jitterBufferDelayS: number;
  jitterBufferEmitted: number;
  /** RFC 3550 interarrival jitter, ms. */
  jitterMs: number | null;
  /** The selected candidate pair's current RTT, ms. */
  rttMs: number | null;
}

type StatsEntry = Record<string, unknown> & { type?: unknown; id?: unknown };

/**
 * Reads the received audio's counters from a stats report (`RTCStatsReport`, or any map of
 * stats objects by id); `null` while there is no inbound audio stream yet. RTT is the selected
 * candidate pair's `currentRoundTripTime` (the remote-inbound-rtp RTT when the pair has none).
 */
export function readStats(report: { forEach(cb: (value: StatsEntry) => void): void }, atMs: number): StatsSample | null {
  const byId = new Map<unknown, StatsEntry>();
  report.forEach((s) => byId.set(s.id, s));
  const num = (s: StatsEntry | undefined, key: string): number | null =>
    typeof s?.[key] === 'number' && Number.isFinite(s[key]) ? (s[key] as number) : null;
  let inbound: StatsEntry | undefined;
  let pair: StatsEntry | undefined;
  let nominated: StatsEntry | undefined;
  let remoteRtt: number | null = null;
  for (const s of byId.values()) {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      // After a renegotiation there can be more than one: the one that received most is the call's.
      if (!inbound || (num(s, 'packetsReceived') ?? 0) > (num(inbound, 'packetsReceived') ?? 0)) inbound = s;
    } else if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string') {
      pair = byId.get(s.selectedCandidatePairId);
    } else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
      nominated = s;
    } else if (s.type === 'remote-inbound-rtp' && s.kind === 'audio') {
      const rtt = num(s, 'roundTripTime');
      if (rtt !== null) remoteRtt = rtt * 1000;
    }
  }
  if (!inbound) return null;
  const pairRtt = num(pair ?? nominated, 'currentRoundTripTime');
  const jitter = num(inbound, 'jitter');
  return {
    atMs,
    packetsReceived: num(inbound, 'packetsReceived') ?? 0,
    packetsLost: num(inbound, 'packetsLost') ?? 0,
    concealedSamples: num(inbound, 'concealedSamples') ?? 0,
    totalSamplesReceived: num(inbound, 'totalSamplesReceived') ?? 0,
    jitterBufferDelayS: num(inbound, 'jitterBufferDelay') ?? 0,
    jitterBufferEmitted: num(inbound, 'jitterBufferEmittedCount') ?? 0,
    jitterMs: jitter === null ? null : jitter * 1000,
    rttMs: pairRtt !== null ? pairRtt * 1000 : remoteRtt,
  };
}

/** The figures of the window between two readings, as the engine measures its windows. */
export function windowFigures(previous: StatsSample, current: StatsSample): QualityFigures {
  const received = Math.max(0, current.packetsReceived - previous.packetsReceived);
  // `packetsLost` can fall (late packets and duplicates are subtracted again).
  const lost = Math.max(0, current.packetsLost - previous.packetsLost);
  const samples = current.totalSamplesReceived - previous.totalSamplesReceived;
  const concealed = current.concealedSamples - previous.concealedSamples;
  const emitted = current.jitterBufferEmitted - previous.jitterBufferEmitted;
  const bufferMs = emitted > 0 ? ((current.jitterBufferDelayS - previous.jitterBufferDelayS) / emitted) * 1000 : 0;
  const lossPct = received + lost > 0 ? (lost / (received + lost)) * 100 : 0;
  const concealmentRatio = samples > 0 ? Math.min(1, Math.max(0, concealed / samples)) : 0;
  const jitterMs = current.jitterMs ?? 0;
  // The E-model over this window alone: a call that recovered is rated as it is now.
  const mos =
    received > 0
      ? estimate({ rttMs: current.rttMs, lossPct, jitterBufferMs: bufferMs, concealmentRatio, frameMs: FRAME_MS }).mos
      : null;
  return {
    loss_pct: lossPct,
    rtt_ms: current.rttMs,
    jitter_ms: jitterMs,
    concealment_ratio: concealmentRatio,
    mos,
    packets_received: received,
    // Not measurable in a page (see the top of this file).
    missed_ticks_pct: 0,
  };
}

/**
 * One call's verdict: feed it a reading at the end of every window of an answered call, and
 * `reset` it while nothing is expected to flow (the next reading then starts a window).
 */
export class QualityMonitor {
  private base: StatsSample | null = null;
  private readonly tracker = new VerdictTracker();
  /** The latest window's figures and verdict, announced or not (for diagnostics and tests). */
  lastWindow: (QualityWindow & { verdict: Verdict; cause: QualityCause | null }) | null = null;

  get current(): Verdict {
    return this.tracker.current;
  }

  reset(): void {
    this.base = null;
  }

  /** A reading at the end of a window; returns the change to announce, if any. */
  onSample(sample: StatsSample | null, state: { connected: boolean; farEndPaused: boolean }): QualityChange | null {
    const previous = this.base;
    this.base = sample;
    // The first reading (or the first since the counters restarted) starts the first window.
    if (!sample || !previous || sample.packetsReceived < previous.packetsReceived) return null;
    const span = Math.max(0, sample.atMs - previous.atMs);
    const window: QualityWindow = { figures: windowFigures(previous, sample), ...state };
    this.lastWindow = { ...window, ...assess(window) };
    const change = this.tracker.onWindow(sample.atMs, span, window);
    return change && { ...change, action: null, figures: window.figures };
  }
}

const CAUSE_TEXT: Record<QualityCause, string> = {
  network_loss: 'network loss',
  network_delay: 'network delay',
  jitter: 'unsteady network',
  cpu: 'device too busy',
  no_audio_received: 'no audio arriving',
  far_end_muted: 'the other side paused its audio',
};

/**
 * What a call screen says about a verdict: nothing for `good`, else "Poor connection (network
 * loss)", with "trying to improve…" when something was done about it.
 */
export function describeVerdict(v: { verdict: Verdict; cause: QualityCause | null; action: QualityAction | null }): string {
  if (v.verdict === 'good') return '';
  // Not the network's fault: say what happened, not how the connection is.
  if (v.cause === 'far_end_muted') return 'The other side paused its audio';
  const level = v.verdict === 'poor' ? 'Poor connection' : 'Fair connection';
  const text = v.cause ? `${level} (${CAUSE_TEXT[v.cause] ?? v.cause.replace(/_/g, ' ')})` : level;
  return v.action ? `${text} · trying to improve…` : text;
}
