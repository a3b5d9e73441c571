// One call as a Gantt-like picture: a row for the server's call record and a row for each
// device's timeline, time on x (seconds from the invite), bars for ringing and talking (the
// talking bar coloured by the quality verdict in force), a marker for every event. Device
// times are the devices' own clocks, drawn as they are: phones keep them within a fraction of
// a second of the server's, so the rows line up, and a row that does not shows a clock that is
// off.

import type { QualityVerdict, TimelineEvent } from '../src/generated/protocol';
import type { CallRecord, StoredTimeline } from './api';
import { offset, shortId } from './format';
import { el, root, tip } from './svg';

interface Bar {
  from: number;
  to: number;
  cls: string;
  title: string;
}

interface Mark {
  at: number;
  cls: string;
  title: string;
}

interface Row {
  label: string;
  sub: string;
  bars: Bar[];
  marks: Mark[];
}

const LABEL_W = 190;
const ROW_H = 34;
const W = 900;
const TOP = 26;

/** What an event says besides its kind, for tooltips and the event tables. */
export function details(e: TimelineEvent): string {
  switch (e.kind) {
    case 'push_received':
      return e.sent_at_ms === undefined ? 'no send time' : `sent ${e.at_ms - e.sent_at_ms} ms before`;
    case 'answered':
      return e.from_lock_screen ? 'from the lock screen' : 'app in the foreground';
    case 'quality':
      return [e.verdict, e.cause, e.action].filter(Boolean).join(' · ');
    case 'app_state':
      return e.state;
    case 'ended':
      return `${e.reason}${e.ended_locally ? ' (here)' : ''}`;
    default:
      return '';
  }
}

function serverRow(call: CallRecord): Row {
  const end = call.ended_at_ms ?? Date.now();
  const bars: Bar[] = [];
  const ringEnd = call.accepted_at_ms ?? end;
  bars.push({ from: call.invited_at_ms, to: ringEnd, cls: 'bar-ring', title: 'ringing' });
  if (call.accepted_at_ms !== null) {
    bars.push({ from: call.accepted_at_ms, to: end, cls: 'bar-talk', title: 'answered' });
  }
  const marks: Mark[] = [{ at: call.invited_at_ms, cls: 'm-invite', title: 'invite' }];
  if (call.first_ring_at_ms !== null) marks.push({ at: call.first_ring_at_ms, cls: 'm-ringing_shown', title: 'first ringing' });
  if (call.accepted_at_ms !== null) marks.push({ at: call.accepted_at_ms, cls: 'm-answered', title: `accepted on ${shortId(call.answered_device ?? '')}` });
  if (call.ended_at_ms !== null) marks.push({ at: call.ended_at_ms, cls: 'm-ended', title: `ended: ${call.end_reason ?? ''}` });
  return { label: 'server', sub: `${call.caller_user} → ${call.callee_user}`, bars, marks };
}

function deviceRow(call: CallRecord, t: StoredTimeline): Row {
  const events = t.events;
  const first = (kind: TimelineEvent['kind']) => events.find((e) => e.kind === kind);
  const last = events[events.length - 1];
  const ended = first('ended');
  const end = ended?.at_ms ?? last.at_ms;
  const answered = first('answered');
  const talkStart =
    t.direction === 'incoming'
      ? answered?.at_ms
      : (first('media_connected') ?? first('first_audio'))?.at_ms;
  const ringStart =
    events.find((e) => e.kind === 'push_received' || e.kind === 'reported_to_os' || e.kind === 'ringing_shown')?.at_ms ??
    events[0].at_ms;
  const bars: Bar[] = [];
  const ringEnd = Math.min(talkStart ?? end, end);
  if (ringEnd > ringStart) bars.push({ from: ringStart, to: ringEnd, cls: 'bar-ring', title: 'ringing' });
  if (talkStart !== undefined && end > talkStart) {
    let from = talkStart;
    let verdict: QualityVerdict | null = null;
    for (const e of events) {
      if (e.kind !== 'quality' || e.at_ms < talkStart || e.at_ms > end) continue;
      if (e.at_ms > from) bars.push(talkBar(from, e.at_ms, verdict));
      from = e.at_ms;
      verdict = e.verdict;
    }
    if (end > from) bars.push(talkBar(from, end, verdict));
  }
  const marks = events.map((e) => ({
    at: e.at_ms,
    cls: `m-${e.kind}`,
    title: `${e.kind.replace(/_/g, ' ')} ${offset(e.at_ms, call.invited_at_ms)} ${details(e)}`.trim(),
  }));
  const role = t.device_id === call.caller_device ? 'caller' : 'callee';
  return { label: `${t.platform} · ${role}`, sub: shortId(t.device_id), bars, marks };
}

function talkBar(from: number, to: number, verdict: QualityVerdict | null): Bar {
  return verdict === null
    ? { from, to, cls: 'bar-talk', title: 'talking (no verdict yet)' }
    : { from, to, cls: `bar-talk v-${verdict}`, title: `talking, ${verdict}` };
}

/** A round step that gives at most about ten ticks over `spanS` seconds. */
function tickStep(spanS: number): number {
  for (const step of [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600]) {
    if (spanS / step <= 10) return step;
  }
  return 7200;
}

export function drawGantt(host: HTMLElement, call: CallRecord, timelines: StoredTimeline[]): void {
  const rows = [serverRow(call), ...timelines.map((t) => deviceRow(call, t))];
  const times = rows.flatMap((r) => [...r.bars.flatMap((b) => [b.from, b.to]), ...r.marks.map((m) => m.at)]);
  const lo = Math.min(call.invited_at_ms, ...times);
  const hi = Math.max(lo + 1000, ...times);
  const pad = (hi - lo) * 0.03;
  const [t0, t1] = [lo - pad, hi + pad];
  const plotW = W - LABEL_W - 16;
  const x = (t: number) => LABEL_W + ((t - t0) / (t1 - t0)) * plotW;
  const height = TOP + rows.length * ROW_H + 10;
  const svg = root(host, W, height, `call ${call.call_id}: server and ${timelines.length} device timelines`);
  svg.classList.add('gantt');

  const step = tickStep((t1 - t0) / 1000);
  const firstTick = Math.ceil((t0 - call.invited_at_ms) / 1000 / step) * step;
  for (let s = firstTick; call.invited_at_ms + s * 1000 <= t1; s += step) {
    const at = x(call.invited_at_ms + s * 1000);
    el(svg, 'line', { x1: at, x2: at, y1: TOP - 6, y2: height - 6, class: 'grid' });
    el(svg, 'text', { x: at, y: TOP - 10, 'text-anchor': 'middle', class: 'tick' }, `${s}s`);
  }

  rows.forEach((row, i) => {
    const y = TOP + i * ROW_H;
    const g = el(svg, 'g', { class: 'row', 'data-row': i === 0 ? 'server' : row.sub });
    el(g, 'text', { x: 6, y: y + 14, class: 'row-label' }, row.label);
    el(g, 'text', { x: 6, y: y + 27, class: 'row-sub' }, row.sub);
    for (const b of row.bars) {
      const rect = el(g, 'rect', {
        x: x(b.from),
        y: y + 7,
        width: Math.max(1, x(b.to) - x(b.from)),
        height: 18,
        rx: 3,
        class: b.cls,
      });
      tip(rect, `${b.title}: ${offset(b.from, call.invited_at_ms)} to ${offset(b.to, call.invited_at_ms)}`);
    }
    for (const m of row.marks) {
      const mark = el(g, 'path', {
        d: `M${x(m.at).toFixed(1)},${y + 3}l5,13l-5,13l-5,-13z`,
        class: `mark ${m.cls}`,
      });
      tip(mark, m.title);
    }
  });
}
