// The hybrid demo page: UI only. Every action goes to the native engine through the bridge;
// every state change comes back as an event or, after the page slept, a snapshot. No WebRTC
// and no signaling run here, so freezing this page cannot hurt the call.

import { type BridgeEvent, RingwireBridge, type Snapshot } from '../bridge/index';
import { describeVerdict } from '../src/quality';

type Screen = 'home' | 'outgoing' | 'incoming' | 'incall';
type QualityChanged = Extract<BridgeEvent, { event: 'quality_changed' }>;

interface View {
  callId: string;
  direction: 'incoming' | 'outgoing';
  peer: string;
  state: string;
  muted: boolean;
  answeredAt: number | null;
  /** The engine's latest quality verdict (`null` until it announced one). */
  quality: Pick<QualityChanged, 'verdict' | 'cause' | 'action'> | null;
}

const $ = (id: string): HTMLElement => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
};

const bridge = new RingwireBridge();
let call: View | null = null;
let lastEnded: { peer: string; reason: string; callkit: string | null } | null = null;
let signaling = false;
const eventLog: string[] = [];

declare global {
  interface Window {
    hybrid: { bridge: RingwireBridge; view: () => View | null; log: string[]; resyncs: string[] };
  }
}
window.hybrid = { bridge, view: () => call, log: eventLog, resyncs: [] };

function screen(): Screen {
  if (!call) return 'home';
  if (call.direction === 'incoming' && call.state === 'ringing') return 'incoming';
  if (call.direction === 'outgoing' && (call.state === 'dialing' || call.state === 'ringing')) return 'outgoing';
  return 'incall';
}

function render(): void {
  const s = screen();
  $('app').dataset.screen = s;
  for (const section of document.querySelectorAll<HTMLElement>('section[data-screen]')) {
    section.hidden = section.dataset.screen !== s;
  }
  const status = $('status');
  status.textContent = signaling ? 'online' : 'offline';
  status.className = `badge ${signaling ? 'online' : 'offline'}`;
  const last = $('last-call');
  last.hidden = !lastEnded || s !== 'home';
  if (lastEnded) {
    last.textContent = `${lastEnded.peer}: call ended (${lastEnded.reason.replace(/_/g, ' ')})`;
    last.dataset.reason = lastEnded.reason;
  }
  if (call) {
    $('out-peer').textContent = call.peer;
    $('out-state').textContent = call.state === 'ringing' ? 'Ringing…' : 'Calling…';
    $('in-peer').textContent = call.peer;
    $('call-peer').textContent = call.peer;
    const states: Record<string, string> = { connecting: 'Connecting…', active: 'In call', reconnecting: 'Reconnecting…' };
    $('call-state').textContent = states[call.state] ?? call.state;
    $('mute-button').textContent = call.muted ? 'Unmute' : 'Mute';
    $('mute-button').setAttribute('aria-pressed', String(call.muted));
    // The engine's verdict only when it is news; "trying to improve…" when it acted on it.
    const verdict = $('verdict');
    const q = call.quality;
    verdict.hidden = !q || q.verdict === 'good';
    verdict.dataset.verdict = q?.verdict ?? 'good';
    verdict.dataset.cause = q?.cause ?? '';
    verdict.dataset.action = q?.action ?? '';
    verdict.textContent = q ? describeVerdict(q) : '';
  }
  const list = $('events');
  list.replaceChildren(
    ...eventLog.slice(-12).map((t) => {
      const li = document.createElement('li');
      li.textContent = t;
      return li;
    }),
  );
}

function fromSnapshot(s: Snapshot): void {
  signaling = s.signaling.connected;
  const live = s.calls[0];
  if (live) {
    const same = call?.callId === live.call_id;
    call = {
      callId: live.call_id,
      direction: live.direction,
      peer: live.remote_user,
      state: live.state,
      muted: live.muted,
      answeredAt: same ? (call?.answeredAt ?? null) : ['connecting', 'active', 'reconnecting'].includes(live.state) ? Date.now() : null,
      // The snapshot has no verdict: keep ours, and replayed `quality_changed` events update it.
      quality: same ? (call?.quality ?? null) : null,
    };
  } else {
    if (call) {
      const ended = s.recent_ended.find((e) => e.call_id === call?.callId);
      lastEnded = {
        peer: call.peer,
        reason: ended?.reason ?? 'ended',
        callkit: ended?.callkit_reason ?? null,
      };
    }
    call = null;
  }
}

function apply(e: BridgeEvent): void {
  const id = 'call_id' in e ? e.call_id : null;
  // The call on screen, if this event is about it.
  const c = call !== null && call.callId === id ? call : null;
  switch (e.event) {
    case 'signaling':
      signaling = Boolean(e.connected);
      break;
    case 'incoming':
      call = { callId: String(id), direction: 'incoming', peer: String(e.display_name ?? e.from_user), state: 'ringing', muted: false, answeredAt: null, quality: null };
      break;
    case 'outgoing':
      call = { callId: String(id), direction: 'outgoing', peer: String(e.to_user), state: 'dialing', muted: false, answeredAt: null, quality: null };
      break;
    case 'ringing':
      if (c?.state === 'dialing') c.state = 'ringing';
      break;
    case 'answered':
      if (c) {
        c.state = 'connecting';
        c.answeredAt = Date.now();
      }
      break;
    case 'connected':
    case 'reconnected':
      if (c) c.state = 'active';
      break;
    case 'reconnecting':
      if (c) c.state = 'reconnecting';
      break;
    case 'quality':
      if (c) {
        const rtt = typeof e.rtt_ms === 'number' ? `${Math.round(e.rtt_ms)} ms` : '–';
        $('quality').textContent = `RTT ${rtt} · loss ${Number(e.loss_pct).toFixed(1)}% · MOS ${Number(e.mos).toFixed(2)}`;
      }
      break;
    case 'quality_changed':
      if (c) c.quality = { verdict: e.verdict, cause: e.cause, action: e.action };
      break;
    case 'ended':
      if (c) {
        lastEnded = { peer: c.peer, reason: String(e.reason), callkit: (e.callkit_reason as string | null) ?? null };
        call = null;
      }
      break;
    default:
      break;
  }
}

bridge.onEvent((e, replayed) => {
  if (e.event !== 'quality') {
    const detail =
      e.event === 'ended'
        ? `: ${e.reason}`
        : e.event === 'quality_changed'
          ? `: ${e.verdict}${e.cause ? ` (${e.cause})` : ''}${e.action ? `, ${e.action}` : ''}`
          : '';
    eventLog.push(`${replayed ? '(while asleep) ' : ''}${e.event}${detail}`);
  }
  // The snapshot already reflects replayed events, except the verdict, which it does not carry:
  // a verdict that changed while the page slept comes only from its replayed event.
  if (!replayed || e.event === 'quality_changed') apply(e);
  render();
});
bridge.onResync((s, reason) => {
  window.hybrid.resyncs.push(reason);
  fromSnapshot(s);
  render();
});

$('call-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const user = ($('callee') as HTMLInputElement).value.trim().toLowerCase();
  $('notice').hidden = true;
  bridge.startCall(user).catch((e: Error) => {
    $('notice').textContent = e.message;
    $('notice').hidden = false;
  });
});
const act = (f: (id: string) => Promise<unknown>) => () => {
  if (call) void f(call.callId).catch((e: Error) => console.warn('ringwire bridge:', e.message));
};
$('accept-button').addEventListener('click', act((id) => bridge.answer(id)));
$('decline-button').addEventListener('click', act((id) => bridge.decline(id)));
$('cancel-button').addEventListener('click', act((id) => bridge.end(id)));
$('hangup-button').addEventListener('click', act((id) => bridge.end(id)));
$('mute-button').addEventListener('click', () => {
  if (!call) return;
  const muted = !call.muted;
  call.muted = muted;
  void bridge.mute(call.callId, muted);
  render();
});
window.setInterval(() => {
  if (call?.answeredAt) {
    const s = Math.floor((Date.now() - call.answeredAt) / 1000);
    $('call-duration').textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }
}, 500);

void bridge.resync('start');
render();
