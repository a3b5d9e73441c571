// The signed-in device: one signaling session, the calls it knows, the microphone and the remote
// audio element. It routes server messages to calls by `call_id`, says `busy` when a second
// call rings while one is live, and drops a call silently on glare (the surviving call arrives
// as its own `incoming`). Ended calls' timelines go to the server through `TimelineUploads`
// (web/src/timeline.ts). The UI only reads its state and calls its actions.

import { Call, type CallHost } from './call';
import type { CallTimeline } from './generated/protocol';
import { type CallId, type ClientMessage, type ServerMessage, type Welcome, newCallId } from './protocol';
import { WINDOW_MS } from './quality';
import { Signaling } from './signaling';
import { TimelineUploads } from './timeline';

export type Connection = 'connecting' | 'online' | 'offline' | 'signed_out';

export interface PhoneView {
  changed(): void;
}

/** Ended calls stay listed this long so the page can show how they ended. */
const KEEP_ENDED = 8;

export class Phone implements CallHost {
  me: Welcome | null = null;
  connection: Connection = 'connecting';
  /** A connection-level refusal (`unauthorized`, `replaced`, ...), shown on the page. */
  fatal: string | null = null;
  notice: string | null = null;
  readonly calls = new Map<CallId, Call>();
  /** The latest ICE servers from `welcome` or `ice_servers`; each new connection takes them. */
  iceServers: RTCIceServer[] = [];
  private mic: MediaStreamTrack | null = null;
  private readonly signaling: Signaling;
  /** Ended calls' timelines until the server stores them (in memory: a reload loses them). */
  readonly timelines: TimelineUploads;
  private qualityTimer: number | undefined;
  private verdictTimer: number | undefined;
  private readonly onVisibility = (): void => {
    const state = document.visibilityState === 'hidden' ? 'background' : 'foreground';
    for (const call of this.calls.values()) call.noteAppState(state);
  };

  constructor(
    readonly token: string,
    private readonly audio: HTMLAudioElement,
    private readonly view: PhoneView,
  ) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = `${scheme}//${location.host}/v1/ws?token=${encodeURIComponent(token)}`;
    this.signaling = new Signaling(
      url,
      {
        onWelcome: (w) => this.onWelcome(w),
        onMessage: (m) => this.onMessage(m),
        onDown: (info) => {
          this.connection = info.final ? 'signed_out' : 'offline';
          if (info.final) this.fatal = info.error ?? `closed (${info.code})`;
          this.view.changed();
        },
      },
      () => [...this.calls.values()].filter((c) => c.live).map((c) => c.id),
    );
    this.timelines = new TimelineUploads(
      (m) => this.signaling.send(m),
      () => this.signaling.connected,
    );
  }

  get deviceId(): string {
    return this.me?.device_id ?? '';
  }

  /** The call on screen: a live one first, else the most recent. */
  get current(): Call | null {
    let latest: Call | null = null;
    for (const call of this.calls.values()) {
      if (call.live) return call;
      latest = call;
    }
    return latest;
  }

  start(): void {
    this.signaling.start();
    document.addEventListener('visibilitychange', this.onVisibility);
    this.qualityTimer = window.setInterval(() => {
      const call = this.current;
      if (call?.live) void call.updateQuality();
    }, 1000);
    // Quality verdicts over windows of their own length, as the native engine's.
    this.verdictTimer = window.setInterval(() => {
      const call = this.current;
      if (call?.live) void call.judgeQuality(performance.now());
    }, WINDOW_MS);
  }

  stop(): void {
    window.clearInterval(this.qualityTimer);
    window.clearInterval(this.verdictTimer);
    document.removeEventListener('visibilitychange', this.onVisibility);
    for (const call of this.calls.values()) call.hangup();
    this.timelines.stop();
    this.signaling.stop();
    this.releaseMicrophone();
  }

  async call(user: string): Promise<void> {
    const name = user.trim().toLowerCase();
    if (!name || this.current?.live) return;
    this.notice = null;
    let mic: MediaStreamTrack;
    try {
      mic = await this.microphone();
    } catch {
      this.notice = 'Microphone unavailable: allow microphone access to call.';
      this.view.changed();
      return;
    }
    const call = Call.outgoing(this, newCallId(), name, mic);
    this.remember(call);
  }

  // ---- CallHost ----

  send(message: ClientMessage): void {
    this.signaling.send(message);
  }

  async microphone(): Promise<MediaStreamTrack> {
    if (this.mic && this.mic.readyState === 'live') return this.mic;
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    this.mic = stream.getAudioTracks()[0] ?? null;
    if (!this.mic) throw new Error('no audio track');
    return this.mic;
  }

  playRemote(stream: MediaStream | null): void {
    this.audio.srcObject = stream;
    if (stream) this.audio.play().catch((e) => console.warn('ringwire: playback blocked', e));
  }

  timelineDone(timeline: CallTimeline): void {
    this.timelines.add(timeline);
  }

  changed(call: Call): void {
    if (!call.live && ![...this.calls.values()].some((c) => c.live)) this.releaseMicrophone();
    this.view.changed();
  }

  // ---- signaling ----

  private onWelcome(welcome: Welcome): void {
    this.me = welcome;
    this.setIceServers(welcome.ice_servers ?? []);
    this.connection = 'online';
    this.fatal = null;
    // Timelines of calls that ended while offline (or not yet stored) go (again).
    this.timelines.resend();
    this.view.changed();
  }

  private onMessage(m: ServerMessage): void {
    switch (m.type) {
      case 'incoming':
        this.onIncoming(m);
        break;
      case 'ended':
        if (m.reason === 'glare') {
          // Drop silently; the call named in `replaced_by` is (or will be) shown instead.
          this.calls.get(m.call_id)?.dropped(m.reason);
          this.calls.delete(m.call_id);
          this.view.changed();
          return;
        }
        this.calls.get(m.call_id)?.onServer(m);
        break;
      case 'timeline_stored':
        this.timelines.stored(m.call_id);
        break;
      case 'error':
        if (m.ref_type === 'call_timeline') {
          this.timelines.refused(m);
          break;
        }
        if (m.call_id) this.calls.get(m.call_id)?.onError(m);
        else if (m.code !== 'rate_limited') this.notice = `${m.code}: ${m.message}`;
        this.view.changed();
        break;
      case 'ice_servers':
        this.setIceServers(m.ice_servers);
        break;
      case 'welcome':
      case 'pong':
        break;
      default:
        this.calls.get(m.call_id)?.onServer(m);
    }
  }

  /** New connections use `servers`; live ones keep them for their next ICE restart. */
  private setIceServers(servers: RTCIceServer[]): void {
    this.iceServers = servers;
    for (const call of this.calls.values()) {
      if (call.live) for (const peer of call.peers.values()) peer.setIceServers(servers);
    }
  }

  private onIncoming(m: Extract<ServerMessage, { type: 'incoming' }>): void {
    const known = this.calls.get(m.call_id);
    if (known) {
      // A replay after a reconnect. If we answered and the server did not hear it, say it again.
      if (known.live && known.answeredHere) this.send({ type: 'accept', call_id: m.call_id });
      return;
    }
    const busy = [...this.calls.values()].some((c) => c.live);
    if (busy) {
      this.send({ type: 'busy', call_id: m.call_id });
      return;
    }
    this.remember(Call.incoming(this, m, this.me?.ring_timeout_ms ?? 45_000));
  }

  private remember(call: Call): void {
    this.calls.set(call.id, call);
    const ended = [...this.calls.values()].filter((c) => !c.live);
    for (const old of ended.slice(0, Math.max(0, ended.length - KEEP_ENDED))) this.calls.delete(old.id);
    this.view.changed();
  }

  private releaseMicrophone(): void {
    this.mic?.stop();
    this.mic = null;
  }
}
