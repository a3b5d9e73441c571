// Call analytics from the browser: each call's timeline (`call_timeline`, docs/protocol.md 5.14),
// the browser's counterpart of the native engine's (crates/core/src/agent/timeline.rs). A call
// notes its moments as they happen — ringing shown, answered, media connected, first audio,
// every quality verdict, the page's visibility, the end — in UNIX ms (`Date.now()`), and hands
// the finished timeline to `TimelineUploads`, which sends it when the call is over and again
// after every `welcome` until the server answers `timeline_stored` or refuses it for good.
// A browser has no push, no OS call screen and no audio session: `push_received`,
// `reported_to_os` and `audio_session_activated` never appear, and `answered` is never from the
// lock screen.

import type {
  CallDirection,
  CallId,
  CallTimeline,
  ClientMessage,
  EndReason,
  ErrorMessage,
  TimelineEndReason,
  TimelineEvent,
  TimelineEventKind,
} from './generated/protocol';

/** Most events one timeline may hold (`MAX_TIMELINE_EVENTS` in crates/proto). */
export const MAX_TIMELINE_EVENTS = 128;
/** Timelines waiting for the server's word; the oldest goes first when full. */
export const PENDING_MAX = 16;
/** When `rate_limited` says no `retry_after_ms`. */
const RETRY_DEFAULT_MS = 1_000;

const END_REASONS: ReadonlySet<string> = new Set<EndReason>([
  'answered_elsewhere',
  'declined_elsewhere',
  'cancelled',
  'no_answer',
  'busy',
  'declined',
  'hangup',
  'connection_lost',
  'glare',
  'unavailable',
  'media_failed',
]);

/** The timeline's end reason: a protocol end reason, else `failed` (the call never got going). */
export function timelineEndReason(reason: string): TimelineEndReason {
  return END_REASONS.has(reason) ? (reason as EndReason) : 'failed';
}

/** One call's moments, in order, bounded so the end always fits. */
export class TimelineRecorder {
  private readonly events: TimelineEvent[] = [];
  private lastAtMs = 0;
  private done = false;

  constructor(
    readonly callId: CallId,
    readonly direction: CallDirection,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Whether a moment of this kind was noted already (for the once-per-call ones). */
  has(kind: TimelineEventKind['kind']): boolean {
    return this.events.some((e) => e.kind === kind);
  }

  /**
   * Notes a moment now. Times never go backwards (a wall clock set back mid-call is clamped),
   * and the last slot is kept for `ended`.
   */
  note(kind: TimelineEventKind): void {
    if (this.done) return;
    const isEnd = kind.kind === 'ended';
    if (!isEnd && this.events.length >= MAX_TIMELINE_EVENTS - 1) return;
    const atMs = Math.max(this.lastAtMs, Math.floor(this.clock()));
    this.lastAtMs = atMs;
    this.events.push({ at_ms: atMs, ...kind } as TimelineEvent);
  }

  /** Notes a moment unless one of its kind was noted already. */
  noteOnce(kind: TimelineEventKind): void {
    if (!this.has(kind.kind)) this.note(kind);
  }

  /** The call is over: the end is noted and the timeline is ready to upload (once). */
  finish(reason: string, endedLocally: boolean): CallTimeline | null {
    if (this.done) return null;
    this.note({ kind: 'ended', reason: timelineEndReason(reason), ended_locally: endedLocally });
    this.done = true;
    return { call_id: this.callId, platform: 'web', direction: this.direction, events: [...this.events] };
  }
}

/**
 * The timelines the server has not stored yet. Kept in memory only: a page reload (or a closed
 * tab) loses the ones still waiting, which is acceptable for analytics — the native engine keeps
 * its queue in memory too.
 */
export class TimelineUploads {
  private queue: CallTimeline[] = [];
  private retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly send: (message: ClientMessage) => void,
    private readonly connected: () => boolean,
  ) {}

  get pending(): number {
    return this.queue.length;
  }

  /** A call ended: its timeline joins the queue and goes now if the session is up. */
  add(timeline: CallTimeline): void {
    this.queue = this.queue.filter((t) => t.call_id !== timeline.call_id);
    if (this.queue.length >= PENDING_MAX) this.queue.shift();
    this.queue.push(timeline);
    if (this.connected()) this.upload(timeline);
  }

  /** After `welcome`: every timeline not stored yet goes (again); a repeat is `already_stored`. */
  resend(): void {
    for (const timeline of this.queue) this.upload(timeline);
  }

  /** `timeline_stored`: done with it. */
  stored(callId: CallId): void {
    this.queue = this.queue.filter((t) => t.call_id !== callId);
  }

  /**
   * An `error` with `ref_type: "call_timeline"`. `rate_limited` keeps it and tries again after
   * `retry_after_ms` (or the next `welcome`); every other answer (`already_stored` = stored,
   * `unknown_call`, `not_a_participant`, `invalid_field`, ...) is final.
   */
  refused(error: ErrorMessage): void {
    if (!error.call_id) return;
    if (error.code !== 'rate_limited') {
      if (error.code !== 'already_stored') {
        console.warn(`ringwire: call timeline ${error.call_id} refused: ${error.code} ${error.message}`);
      }
      this.stored(error.call_id);
      return;
    }
    if (this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.connected()) this.resend();
    }, error.retry_after_ms ?? RETRY_DEFAULT_MS);
  }

  stop(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private upload(timeline: CallTimeline): void {
    this.send({ type: 'call_timeline', ...timeline });
  }
}
