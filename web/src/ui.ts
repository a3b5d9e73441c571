// The page: picks the screen from the phone's state (sign-in, home with history, outgoing,
// incoming, in call, with its keypad for key tones) and fills it. All user-provided text goes in
// through `textContent`.

import type { Call } from './call';
import { fetchHistory, formatDuration, type HistoryEntry } from './history';
import type { Phone } from './phone';
import { describeVerdict } from './quality';
import { Tones } from './tones';

export type Screen = 'signin' | 'home' | 'outgoing' | 'incoming' | 'incall';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page is missing #${id}`);
  return el as T;
};

export class Ui {
  private phone: Phone | null = null;
  private readonly tones = new Tones();
  private history: HistoryEntry[] = [];
  private historyFor = '';
  private lastEndedShown: string | null = null;
  private tick: number | undefined;
  /** The call whose keypad is open; a new call starts with it closed. */
  private keypadFor: string | null = null;

  constructor(private readonly actions: { signIn(token: string): void; signOut(): void }) {
    $('signin-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const token = $<HTMLInputElement>('token').value.trim();
      if (!/^rw_[0-9a-f]{64}$/.test(token)) {
        this.signInError('A device token is rw_ followed by 64 lowercase hex digits.');
        return;
      }
      this.actions.signIn(token);
    });
    $('signout').addEventListener('click', () => this.actions.signOut());
    $('call-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.phone?.call($<HTMLInputElement>('callee').value);
    });
    $('cancel-button').addEventListener('click', () => this.phone?.current?.hangup());
    $('accept-button').addEventListener('click', () => void this.phone?.current?.accept());
    $('decline-button').addEventListener('click', () => this.phone?.current?.decline());
    $('hangup-button').addEventListener('click', () => this.phone?.current?.hangup());
    $('mute-button').addEventListener('click', () => {
      const call = this.phone?.current;
      if (call) call.setMuted(!call.muted);
    });
    $('keypad-button').addEventListener('click', () => {
      const call = this.phone?.current;
      this.keypadFor = call && this.keypadFor !== call.id ? call.id : null;
      this.render();
    });
    $('keypad').addEventListener('click', (e) => {
      const digit = (e.target as Element).closest<HTMLElement>('button[data-digit]')?.dataset.digit;
      if (digit && this.phone?.current?.sendDtmf(digit)) this.tones.key(digit);
    });
  }

  attach(phone: Phone | null): void {
    this.phone = phone;
    this.history = [];
    this.historyFor = '';
    window.clearInterval(this.tick);
    if (phone) this.tick = window.setInterval(() => this.renderDuration(), 500);
    this.render();
  }

  signInError(text: string): void {
    $('signin-error').textContent = text;
    this.render();
  }

  screen(): Screen {
    const phone = this.phone;
    if (!phone || !phone.me) return 'signin';
    const call = phone.current;
    if (!call?.live) return 'home';
    if (call.role === 'callee' && call.phase === 'ringing') return 'incoming';
    if (call.role === 'caller' && (call.phase === 'dialing' || call.phase === 'ringing')) return 'outgoing';
    return 'incall';
  }

  render(): void {
    const phone = this.phone;
    const screen = this.screen();
    $('app').dataset.screen = screen;
    for (const section of document.querySelectorAll<HTMLElement>('section[data-screen]')) {
      section.hidden = section.dataset.screen !== screen;
    }
    if (phone?.fatal && !phone.me) $('signin-error').textContent = signInMessage(phone.fatal);

    $('who').hidden = !phone?.me;
    if (phone?.me) {
      const me = phone.me;
      $('who-name').textContent = me.display_name ? `${me.display_name} (${me.user})` : me.user;
      $('who-device').textContent = `device ${me.device_id.slice(0, 8)}`;
      const status = $('status');
      status.textContent = phone.connection === 'online' ? 'online' : phone.connection === 'offline' ? 'reconnecting…' : phone.connection;
      status.className = `badge ${phone.connection}`;
    }

    const call = phone?.current ?? null;
    this.tones.set(screen === 'incoming' ? 'ring' : screen === 'outgoing' && call?.phase === 'ringing' ? 'ringback' : null);
    if (screen === 'home') this.renderHome(phone, call);
    if (call && screen === 'outgoing') {
      $('out-peer').textContent = call.peerUser;
      $('out-state').textContent = call.phase === 'ringing' ? 'Ringing…' : 'Calling…';
    }
    if (call && screen === 'incoming') {
      $('in-peer').textContent = call.peerDisplayName ?? call.peerUser;
    }
    if (call && screen === 'incall') this.renderInCall(call);
  }

  private renderHome(phone: Phone | null, call: Call | null): void {
    if (!phone?.me) return;
    const last = $('last-call');
    if (call && !call.live) {
      const talk = call.talkStartedAt !== null ? ` (${formatDuration((performance.now() - call.talkStartedAt) / 1000)})` : '';
      if (this.lastEndedShown !== call.id) {
        last.dataset.reason = call.endReason ?? '';
        last.textContent = `${call.peerDisplayName ?? call.peerUser}: ${call.endText}${call.talkStartedAt !== null ? talk : ''}`;
        this.lastEndedShown = call.id;
        this.historyFor = '';
      }
      last.hidden = false;
    } else {
      last.hidden = true;
    }
    const notice = $('notice');
    notice.hidden = !phone.notice;
    notice.textContent = phone.notice ?? '';
    $<HTMLButtonElement>('call-button').disabled = phone.connection !== 'online';
    const key = `${phone.me.device_id}:${call?.id ?? ''}:${call?.phase ?? ''}`;
    if (this.historyFor !== key) {
      this.historyFor = key;
      // Records are written a few milliseconds after the events (docs/http.md): read a moment later.
      window.setTimeout(() => {
        fetchHistory(phone.token)
          .then((h) => {
            this.history = h;
            this.renderHistory();
          })
          .catch((e) => console.warn('ringwire:', e));
      }, 300);
    }
    this.renderHistory();
  }

  private renderHistory(): void {
    const list = $('history');
    list.replaceChildren(
      ...this.history.map((h) => {
        const li = document.createElement('li');
        li.className = h.missed ? 'missed' : '';
        li.dataset.callId = h.callId;
        const other = document.createElement('span');
        other.className = 'other';
        other.textContent = `${h.outgoing ? '↗' : '↙'} ${h.other}`;
        const outcome = document.createElement('span');
        outcome.className = 'outcome';
        outcome.textContent = h.talkSeconds !== null ? `${h.outcome} · ${formatDuration(h.talkSeconds)}` : h.outcome;
        const when = document.createElement('span');
        when.className = 'muted';
        when.textContent = h.when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
        li.append(other, outcome, when);
        return li;
      }),
    );
    $('history-empty').hidden = this.history.length > 0;
  }

  private renderInCall(call: Call): void {
    $('call-peer').textContent = call.peerDisplayName ?? call.peerUser;
    const state: Record<string, string> = {
      connecting: 'Connecting…',
      active: 'In call',
      reconnecting: 'Reconnecting…',
    };
    $('call-state').textContent = state[call.phase] ?? call.phase;
    const mute = $('mute-button');
    mute.textContent = call.muted ? 'Unmute' : 'Mute';
    mute.setAttribute('aria-pressed', String(call.muted));
    const q = call.quality;
    const fmt = (v: number | null, unit: string, digits = 0) => (v === null ? '–' : `${v.toFixed(digits)}${unit}`);
    $('quality').textContent = q
      ? `RTT ${fmt(q.rttMs, ' ms')} · loss ${fmt(q.lossPercent, '%', 1)} · jitter ${fmt(q.jitterMs, ' ms')}`
      : 'RTT – · loss – · jitter –';
    $<HTMLMeterElement>('level').value = q?.audioLevel ?? 0;
    // The verdict only when it is news: a good call shows nothing.
    const verdict = $('verdict');
    const v = call.verdict;
    verdict.hidden = !v || v.verdict === 'good';
    verdict.dataset.verdict = v?.verdict ?? 'good';
    verdict.dataset.cause = v?.cause ?? '';
    verdict.textContent = v ? describeVerdict(v) : '';
    this.renderKeypad(call);
    this.renderDuration();
  }

  private renderKeypad(call: Call): void {
    const open = call.phase === 'active' && this.keypadFor === call.id;
    const toggle = $('keypad-button');
    toggle.hidden = call.phase !== 'active';
    toggle.setAttribute('aria-expanded', String(open));
    $('keypad').hidden = !open;
    const blocked = call.dtmfBlocked;
    for (const key of document.querySelectorAll<HTMLButtonElement>('#keypad button[data-digit]')) {
      key.disabled = blocked !== null;
    }
    const note = $('dtmf-note');
    note.hidden = blocked === null;
    note.textContent = blocked ?? '';
    $('dtmf-sent').textContent = call.dtmfSent;
  }

  private renderDuration(): void {
    const call = this.phone?.current;
    if (!call?.live || call.talkStartedAt === null) return;
    $('call-duration').textContent = formatDuration((performance.now() - call.talkStartedAt) / 1000);
  }
}

function signInMessage(code: string): string {
  switch (code) {
    case 'unauthorized':
      return 'This token is not valid (unknown or revoked).';
    case 'replaced':
      return 'This device signed in somewhere else (another tab?).';
    case 'unsupported_version':
      return 'This page is too old for the server; reload.';
    default:
      return `Could not sign in: ${code}`;
  }
}
