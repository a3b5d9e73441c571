// The operator's dashboard (served at /admin/ by `ringwire serve`): asks for the admin token
// and keeps it in this tab (sessionStorage), then reads the admin API with it: the figures of
// the chosen range in total and per platform, the same figures per bucket as charts, the recent
// calls, and one call's timelines as a Gantt-like picture (`#call=<id>`). Every figure element
// carries the JSON path it shows (`data-figure`) and the raw value (`data-value`), so what the
// page shows can be checked against the endpoint. All text from the server goes in through
// `textContent`.

import type { DevicePlatform } from '../src/generated/protocol';
import { Api, AuthError, type AnalyticsReport, type Figures, type ListedCall } from './api';
import { barChart, lineChart } from './charts';
import { clock, count, ms, offset, percent, seconds, shortId, UNKNOWN } from './format';
import { details, drawGantt } from './gantt';

const TOKEN_KEY = 'ringwire.admin_token';
const PLATFORMS: DevicePlatform[] = ['ios', 'android', 'web', 'native'];
const RANGES: Record<string, { spanMs: number; bucketMs: number }> = {
  hour: { spanMs: 3_600_000, bucketMs: 300_000 },
  day: { spanMs: 86_400_000, bucketMs: 3_600_000 },
  week: { spanMs: 7 * 86_400_000, bucketMs: 6 * 3_600_000 },
};

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (!found) throw new Error(`page is missing #${id}`);
  return found as T;
};

function make<K extends keyof HTMLElementTagNameMap>(
  parent: HTMLElement,
  tag: K,
  text?: string,
  cls?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  parent.appendChild(node);
  return node;
}

/** An element showing one figure: `path` into the report, the raw value, its text. */
function figure(parent: HTMLElement, tag: 'td' | 'strong' | 'span', path: string, value: number | null, text: string) {
  const node = make(parent, tag, value === null ? UNKNOWN : text);
  node.dataset.figure = path;
  node.dataset.value = JSON.stringify(value);
  if (value === null) node.classList.add('unknown');
  return node;
}

let api: Api | null = null;

declare global {
  interface Window {
    /** The last analytics report shown, for the browser tests and the console. */
    ringwireAdmin: { report: AnalyticsReport | null; calls: ListedCall[] };
  }
}
window.ringwireAdmin = { report: null, calls: [] };

function show(view: 'signin' | 'dashboard' | 'call'): void {
  $('signin').hidden = view !== 'signin';
  $('dashboard').hidden = view !== 'dashboard';
  $('call').hidden = view !== 'call';
  $('controls').hidden = view === 'signin';
  document.body.dataset.view = view;
}

function currentRange(): { from: number; to: number; bucketMs: number } {
  const { spanMs, bucketMs } = RANGES[$<HTMLSelectElement>('range').value] ?? RANGES.day;
  // Whole buckets, ending at the end of the current one: charts do not shift every refresh.
  const to = Math.ceil((Date.now() + 1) / bucketMs) * bucketMs;
  return { from: to - spanMs, to, bucketMs };
}

async function signIn(token: string): Promise<void> {
  api = new Api(token);
  try {
    await refresh();
    sessionStorage.setItem(TOKEN_KEY, token);
    $('signin-error').textContent = '';
    await route();
  } catch (e) {
    api = null;
    sessionStorage.removeItem(TOKEN_KEY);
    show('signin');
    $('signin-error').textContent =
      e instanceof AuthError ? `The server refused the token: ${e.message}` : `Could not load: ${String(e)}`;
  }
}

function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  api = null;
  window.ringwireAdmin = { report: null, calls: [] };
  $<HTMLInputElement>('admin-token').value = '';
  history.replaceState(null, '', '/admin/');
  show('signin');
}

/** Loads the range's figures and calls and draws them; throws when the token is refused. */
async function refresh(): Promise<void> {
  if (!api) return;
  const { from, to, bucketMs } = currentRange();
  const [analytics, calls] = await Promise.all([api.analytics(from, to, bucketMs), api.calls(from, to)]);
  window.ringwireAdmin = { report: analytics, calls };
  $('load-error').hidden = true;
  drawCards(analytics.total);
  drawPlatforms(analytics);
  drawCharts(analytics);
  drawCalls(calls);
  $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  document.body.dataset.loaded = String(Date.now());
}

function drawCards(total: Figures): void {
  const host = $('cards');
  host.replaceChildren();
  const card = (label: string, fill: (value: HTMLElement) => void, note?: string) => {
    const box = make(host, 'div', undefined, 'card');
    make(box, 'span', label, 'label');
    const value = make(box, 'div', undefined, 'value');
    fill(value);
    if (note) make(box, 'span', note, 'note muted');
  };
  const pair = (v: HTMLElement, path: string, p: { p50: number | null; p95: number | null }) => {
    figure(v, 'strong', `${path}.p50`, p.p50, ms(p.p50));
    make(v, 'span', ' / ', 'sep');
    figure(v, 'strong', `${path}.p95`, p.p95, ms(p.p95));
  };
  card('Calls', (v) => figure(v, 'strong', 'total.calls', total.calls, count(total.calls)),
    `${total.timelines} device timelines`);
  card('Push delivery p50 / p95', (v) => pair(v, 'total.push_delivery_ms', total.push_delivery_ms),
    `${total.push_delivery_ms.samples} pushes`);
  card('Push → reported to OS p50 / p95', (v) => pair(v, 'total.time_to_report_ms', total.time_to_report_ms));
  card('Lock-screen answers with audio ≤ 2 s', (v) => {
    const l = total.lock_screen_answers;
    figure(v, 'strong', 'total.lock_screen_answers.rate', l.rate, percent(l.rate));
  }, `${total.lock_screen_answers.succeeded} of ${total.lock_screen_answers.attempted}`);
  card('Accept → first audio p50 / p95', (v) =>
    pair(v, 'total.accept_to_first_audio_ms', total.accept_to_first_audio_ms));
  card('Ended: connection lost / media failed', (v) => {
    figure(v, 'strong', 'total.ended.connection_lost', total.ended.connection_lost, count(total.ended.connection_lost));
    make(v, 'span', ' / ', 'sep');
    figure(v, 'strong', 'total.ended.media_failed', total.ended.media_failed, count(total.ended.media_failed));
  });
  card('Call time in poor quality', (v) => figure(v, 'strong', 'total.poor_share', total.poor_share, percent(total.poor_share)),
    `${seconds(total.call_time_s.poor)} of ${seconds(total.call_time_s.good + total.call_time_s.fair + total.call_time_s.poor)}`);
}

function drawPlatforms(r: AnalyticsReport): void {
  const table = $<HTMLTableElement>('platforms');
  table.replaceChildren();
  const head = make(make(table, 'thead'), 'tr');
  for (const title of [
    'Platform', 'Calls', 'Timelines', 'Push delivery p50 / p95', 'Push → report p50 / p95',
    'Lock-screen answers with audio', 'rate', 'Accept → audio p50 / p95', 'Connection lost',
    'Media failed', 'Poor share',
  ]) make(head, 'th', title);
  const body = make(table, 'tbody');
  const rows: [string, string, Figures][] = [['total', 'all platforms', r.total]];
  for (const p of PLATFORMS) {
    const f = r.platforms[p];
    if (f) rows.push([`platforms.${p}`, p, f]);
  }
  for (const [path, name, f] of rows) {
    const tr = make(body, 'tr');
    tr.dataset.platform = name;
    make(tr, 'th', name);
    figure(tr, 'td', `${path}.calls`, f.calls, count(f.calls));
    figure(tr, 'td', `${path}.timelines`, f.timelines, count(f.timelines));
    const pair = (key: 'push_delivery_ms' | 'time_to_report_ms' | 'accept_to_first_audio_ms') => {
      const cell = make(tr, 'td');
      figure(cell, 'span', `${path}.${key}.p50`, f[key].p50, ms(f[key].p50));
      make(cell, 'span', ' / ', 'sep');
      figure(cell, 'span', `${path}.${key}.p95`, f[key].p95, ms(f[key].p95));
    };
    pair('push_delivery_ms');
    pair('time_to_report_ms');
    const l = f.lock_screen_answers;
    const answers = make(tr, 'td');
    figure(answers, 'span', `${path}.lock_screen_answers.succeeded`, l.succeeded, count(l.succeeded));
    make(answers, 'span', ' of ', 'sep');
    figure(answers, 'span', `${path}.lock_screen_answers.attempted`, l.attempted, count(l.attempted));
    figure(tr, 'td', `${path}.lock_screen_answers.rate`, l.rate, percent(l.rate));
    pair('accept_to_first_audio_ms');
    figure(tr, 'td', `${path}.ended.connection_lost`, f.ended.connection_lost, count(f.ended.connection_lost));
    figure(tr, 'td', `${path}.ended.media_failed`, f.ended.media_failed, count(f.ended.media_failed));
    figure(tr, 'td', `${path}.poor_share`, f.poor_share, percent(f.poor_share));
  }
}

function drawCharts(r: AnalyticsReport): void {
  const host = $('charts');
  host.replaceChildren();
  const series = r.series ?? [];
  const starts = series.map((b) => b.from_ms);
  const bucketMs = r.bucket_ms ?? 3_600_000;
  const base = { starts, bucketMs };
  const msFormat = (v: number) => ms(Math.round(v));
  const shareFormat = (v: number) => percent(v);
  barChart(host, { ...base, id: 'calls', title: 'Calls', format: (v) => String(v), whole: true },
    series.map((b) => b.total.calls));
  lineChart(host, { ...base, id: 'push_delivery', title: 'Push delivery', format: msFormat }, [
    { label: 'p50', cls: 's-p50', values: series.map((b) => b.total.push_delivery_ms.p50) },
    { label: 'p95', cls: 's-p95', values: series.map((b) => b.total.push_delivery_ms.p95) },
  ]);
  lineChart(host, { ...base, id: 'time_to_report', title: 'Push → reported to OS', format: msFormat }, [
    { label: 'p50', cls: 's-p50', values: series.map((b) => b.total.time_to_report_ms.p50) },
    { label: 'p95', cls: 's-p95', values: series.map((b) => b.total.time_to_report_ms.p95) },
  ]);
  lineChart(host, { ...base, id: 'accept_to_first_audio', title: 'Accept → first audio', format: msFormat }, [
    { label: 'p50', cls: 's-p50', values: series.map((b) => b.total.accept_to_first_audio_ms.p50) },
    { label: 'p95', cls: 's-p95', values: series.map((b) => b.total.accept_to_first_audio_ms.p95) },
  ]);
  lineChart(host, { ...base, id: 'lock_screen', title: 'Lock-screen answers with audio ≤ 2 s', format: shareFormat, max: 1 }, [
    { label: 'all', cls: 's-total', values: series.map((b) => b.total.lock_screen_answers.rate) },
    ...(['ios', 'android'] as const).map((p) => ({
      label: p,
      cls: `s-${p}`,
      values: series.map((b) => b.platforms[p]?.lock_screen_answers.rate ?? null),
    })),
  ]);
  lineChart(host, { ...base, id: 'poor_share', title: 'Share of call time in poor quality', format: shareFormat, max: 1 }, [
    { label: 'poor', cls: 's-poor', values: series.map((b) => b.total.poor_share) },
  ]);
}

function outcome(c: ListedCall): string {
  if (c.state !== 'ended') return c.state === 'active' ? 'in progress' : 'ringing';
  const reason = (c.end_reason ?? 'ended').replace(/_/g, ' ');
  return c.accepted_at_ms !== null ? `answered · ${reason}` : reason;
}

function drawCalls(calls: ListedCall[]): void {
  const table = $<HTMLTableElement>('calls');
  table.replaceChildren();
  $('calls-empty').hidden = calls.length > 0;
  if (calls.length === 0) return;
  const head = make(make(table, 'thead'), 'tr');
  for (const title of ['When', 'Caller', 'Callee', 'Outcome', 'Talk', 'Timelines', '']) make(head, 'th', title);
  const body = make(table, 'tbody');
  for (const c of calls) {
    const tr = make(body, 'tr');
    tr.dataset.callId = c.call_id;
    make(tr, 'td', clock(c.invited_at_ms));
    make(tr, 'td', c.caller_user);
    make(tr, 'td', c.callee_user);
    make(tr, 'td', outcome(c), c.accepted_at_ms === null && c.state === 'ended' ? 'unanswered' : '');
    const talk = c.accepted_at_ms !== null && c.ended_at_ms !== null ? (c.ended_at_ms - c.accepted_at_ms) / 1000 : null;
    make(tr, 'td', talk === null ? UNKNOWN : seconds(talk));
    const badges = make(tr, 'td');
    for (const t of c.timelines) make(badges, 'span', `${t.platform} ${t.direction === 'outgoing' ? '↗' : '↘'}`, 'badge');
    const open = make(make(tr, 'td'), 'button', 'Timeline', 'link');
    open.type = 'button';
    open.addEventListener('click', () => {
      location.hash = `call=${c.call_id}`;
    });
  }
}

async function drawCall(callId: string): Promise<void> {
  if (!api) return;
  const { call, timelines } = await api.timelines(callId);
  $('call-id').textContent = call.call_id;
  const talk = call.accepted_at_ms !== null && call.ended_at_ms !== null
    ? ` · talked ${seconds((call.ended_at_ms - call.accepted_at_ms) / 1000)}` : '';
  $('call-summary').textContent =
    `${call.caller_user} (${shortId(call.caller_device)}) → ${call.callee_user} · ${clock(call.invited_at_ms)} · ` +
    `${call.state}${call.end_reason ? `: ${call.end_reason.replace(/_/g, ' ')}` : ''}${talk}`;
  const gantt = $('gantt');
  gantt.replaceChildren();
  drawGantt(gantt, call, timelines);
  $('no-timelines').hidden = timelines.length > 0;
  const events = $('events');
  events.replaceChildren();
  for (const t of timelines) {
    const box = make(events, 'div', undefined, 'timeline');
    box.dataset.deviceId = t.device_id;
    make(box, 'h3', `${t.platform} · ${t.direction} · device ${shortId(t.device_id)} · uploaded ${clock(t.uploaded_at_ms)}`);
    const table = make(box, 'table', undefined, 'events');
    for (const e of t.events) {
      const tr = make(table, 'tr');
      tr.dataset.kind = e.kind;
      make(tr, 'td', offset(e.at_ms, call.invited_at_ms), 'num');
      make(tr, 'td', e.kind.replace(/_/g, ' '));
      make(tr, 'td', details(e), 'muted');
    }
  }
  document.body.dataset.call = call.call_id;
}

/** Shows what the hash names: a call's drill-down, or the dashboard. */
async function route(): Promise<void> {
  if (!api) return show('signin');
  const match = /^#call=([0-9a-f]{32})$/.exec(location.hash);
  if (!match) {
    delete document.body.dataset.call;
    return show('dashboard');
  }
  try {
    await drawCall(match[1]);
    show('call');
  } catch (e) {
    if (e instanceof AuthError) return signOut();
    show('dashboard');
    const error = $('load-error');
    error.hidden = false;
    error.textContent = `Could not load call ${match[1]}: ${String(e)}`;
  }
}

$('signin-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = $<HTMLInputElement>('admin-token').value.trim();
  if (!token) {
    $('signin-error').textContent = 'Paste the admin token.';
    return;
  }
  void signIn(token);
});
$('signout').addEventListener('click', signOut);
$('refresh').addEventListener('click', () => void refresh().catch(onLoadError));
$('range').addEventListener('change', () => void refresh().catch(onLoadError));
$('call-close').addEventListener('click', () => {
  history.pushState(null, '', '/admin/');
  void route();
});
window.addEventListener('hashchange', () => void route());

function onLoadError(e: unknown): void {
  if (e instanceof AuthError) return signOut();
  const error = $('load-error');
  error.hidden = false;
  error.textContent = `Could not load: ${String(e)}`;
}

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) void signIn(saved);
else show('signin');
