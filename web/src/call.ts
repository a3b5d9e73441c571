// One call as this browser device sees it, following the call flow (docs/engine.md) exactly like the
// native engine (crates/core/src/agent): a callee device pre-connects while it rings (it offers
// to the caller device at once, media held); the caller answers every ringing device with its
// own connection; the first accept wins, whether the server's `accepted` or the winner's in-band
// accept arrives first, and the caller closes the losers' connections. All transitions happen in
// `onServer`, `onControl`, `onPeerState` and the user actions below. Each call also records its
// timeline (web/src/timeline.ts) and hands it to the host when it ends.

import { Peer, type PeerSignal, type Quality } from './peer';
import { type QualityChange, QualityMonitor, readStats } from './quality';
import type { AppState, CallTimeline } from './generated/protocol';
import {
  type CallId,
  candidateInit,
  type ClientMessage,
  type DeviceId,
  describeEnd,
  type InbandMessage,
  type ServerMessage,
} from './protocol';
import { TimelineRecorder } from './timeline';

export type Phase = 'dialing' | 'ringing' | 'connecting' | 'active' | 'reconnecting' | 'ended';
export type Role = 'caller' | 'callee';

/** What a call needs from the page around it. */
export interface CallHost {
  readonly deviceId: DeviceId;
  send(message: ClientMessage): void;
  /** The microphone, asked for when the user calls or accepts (a user gesture). */
  microphone(): Promise<MediaStreamTrack>;
  /** The element remote audio plays through. */
  playRemote(stream: MediaStream | null): void;
  changed(call: Call): void;
  iceServers: RTCIceServer[];
  /** The call is over: its timeline, to upload (`call_timeline`). */
  timelineDone(timeline: CallTimeline): void;
}

/** A ringing device that says nothing past its deadline is a ghost (late pushes: docs/protocol.md). */
const GHOST_GRACE_MS = 5_000;
/** Media that stays down this long ends the call, as in the native engine. */
const RECONNECT_LIMIT_MS = 30_000;
/** How often the first inbound audio is looked for in getStats once media connected. */
const FIRST_AUDIO_POLL_MS = 100;

export class Call {
  phase: Phase;
  /** Remote device whose connection carries the call once answered. */
  answeredDevice: DeviceId | null = null;
  /** Why it ended, the protocol reason (or `media_failed`); set when `phase` is `ended`. */
  endReason: string | null = null;
  endedHere = false;
  endText = '';
  /** When the call ended here (UNIX ms); for the hybrid comparison tests and logs. */
  endedAtMs: number | null = null;
  muted = false;
  /** Keys sent as DTMF in this call, in order. */
  dtmfSent = '';
  /** When audio started (`performance.now()`), for the duration shown. */
  talkStartedAt: number | null = null;
  acceptedAt: number | null = null;
  quality: Quality | null = null;
  /** The quality verdict announced last (`null`: the call is good, nothing announced yet). */
  verdict: QualityChange | null = null;
  /** Every verdict change of this call, in order, with when it came (`performance.now()`). */
  readonly verdictChanges: (QualityChange & { atMs: number })[] = [];
  readonly qualityMonitor = new QualityMonitor();
  ringDeadlineMs: number | null = null;
  /** Devices that said `ringing` (caller side). */
  readonly ringingDevices = new Set<DeviceId>();
  readonly peers = new Map<DeviceId, Peer>();
  /** What this device saw of the call, uploaded when it ends (`call_timeline`). */
  readonly timeline: TimelineRecorder;
  private mic: MediaStreamTrack | null = null;
  private reconnectTimer: number | undefined;
  private ghostTimer: number | undefined;
  private firstAudioTimer: number | undefined;

  private constructor(
    readonly id: CallId,
    readonly role: Role,
    /** The other party: the callee user for a caller, the caller user for a callee. */
    readonly peerUser: string,
    readonly peerDisplayName: string | null,
    /** The caller device, for a callee. */
    readonly callerDevice: DeviceId | null,
    private readonly host: CallHost,
  ) {
    this.phase = role === 'caller' ? 'dialing' : 'ringing';
    this.timeline = new TimelineRecorder(id, role === 'caller' ? 'outgoing' : 'incoming');
  }

  /** Places a call: the microphone first (the user's click is the gesture), then `invite`. */
  static outgoing(host: CallHost, id: CallId, toUser: string, mic: MediaStreamTrack): Call {
    const call = new Call(id, 'caller', toUser, null, null, host);
    call.mic = mic;
    host.send({ type: 'invite', call_id: id, to_user: toUser });
    return call;
  }

  /** A call rings here: tell the caller, and pre-connect while the user decides. */
  static incoming(host: CallHost, m: Extract<ServerMessage, { type: 'incoming' }>, ringTimeoutMs: number): Call {
    const call = new Call(m.call_id, 'callee', m.from_user, m.from_display_name ?? null, m.from_device, host);
    call.ringDeadlineMs = m.ring_deadline_ms;
    host.send({ type: 'ringing', call_id: call.id });
    call.timeline.noteOnce({ kind: 'ringing_shown' });
    call.ghostTimer = window.setTimeout(() => {
      if (call.phase === 'ringing') call.finish('no_answer', null);
    }, ringTimeoutMs + GHOST_GRACE_MS);
    const peer = call.addPeer(m.from_device, 'offerer');
    peer.offer().catch((e) => console.warn('ringwire: offer failed', e));
    return call;
  }

  get live(): boolean {
    return this.phase !== 'ended';
  }

  get answeredHere(): boolean {
    return this.role === 'callee' && this.answeredDevice === this.host.deviceId;
  }

  /** The connection that carries (or will carry) the call's audio. */
  get mediaPeer(): Peer | null {
    if (this.role === 'callee') return this.callerDevice ? (this.peers.get(this.callerDevice) ?? null) : null;
    return this.answeredDevice ? (this.peers.get(this.answeredDevice) ?? null) : null;
  }

  // ---- user actions ----

  async accept(): Promise<void> {
    if (this.role !== 'callee' || this.phase !== 'ringing') return;
    this.phase = 'connecting';
    this.answeredDevice = this.host.deviceId;
    this.acceptedAt = performance.now();
    this.timeline.noteOnce({ kind: 'answered', from_lock_screen: false });
    this.host.changed(this);
    this.host.send({ type: 'accept', call_id: this.id });
    this.mediaPeer?.sendControl({ type: 'accept', call_id: this.id });
    try {
      this.mic = await this.host.microphone();
    } catch (error) {
      console.warn('ringwire: no microphone; the call continues receive-only', error);
    }
    if (!this.live) return;
    await this.startMedia();
  }

  decline(): void {
    if (this.role !== 'callee' || this.phase !== 'ringing') return;
    this.host.send({ type: 'decline', call_id: this.id });
    this.finish('declined', this.host.deviceId);
  }

  hangup(): void {
    if (!this.live) return;
    // An answered call that never had media is recorded as such, whoever pressed the button.
    const silent = this.answeredDevice !== null && this.talkStartedAt === null;
    this.host.send(
      silent ? { type: 'hangup', call_id: this.id, reason: 'media_failed' } : { type: 'hangup', call_id: this.id },
    );
    this.mediaPeer?.sendControl({ type: 'hangup', call_id: this.id });
    const reason =
      this.answeredDevice === null ? (this.role === 'caller' ? 'cancelled' : 'declined') : 'hangup';
    this.finish(reason, this.host.deviceId);
  }

  setMuted(muted: boolean): void {
    this.muted = muted;
    if (this.mic) this.mic.enabled = !muted;
    this.host.changed(this);
  }

  /** Key tones to the far end (RFC 4733), after any still queued; false when they cannot go. */
  sendDtmf(digits: string): boolean {
    if (this.phase !== 'active' || !this.mediaPeer?.sendDtmf(digits)) return false;
    this.dtmfSent += digits;
    this.host.changed(this);
    return true;
  }

  /** Why the keypad cannot send now, or null when it can. */
  get dtmfBlocked(): string | null {
    if (this.phase !== 'active') return 'Key tones can be sent once the call is connected.';
    // Not `??`: a peer's `null` means "can send" and must not fall through to the message.
    return this.mediaPeer ? this.mediaPeer.dtmfBlocked : 'No connection to send key tones on.';
  }

  // ---- inputs ----

  onServer(m: ServerMessage): void {
    if (!this.live) return;
    switch (m.type) {
      case 'calling':
        this.ringDeadlineMs = m.ring_deadline_ms;
        break;
      case 'ringing':
        this.ringingDevices.add(m.device_id);
        if (this.phase === 'dialing') this.phase = 'ringing';
        // The caller hears ringback from the first ringing device on.
        if (this.answeredDevice === null) this.timeline.noteOnce({ kind: 'ringing_shown' });
        break;
      case 'accepted':
        if (this.role === 'caller') this.select(m.device_id);
        else if (m.device_id === this.host.deviceId && this.answeredDevice === null) {
          // Answered here earlier (a reload, another tab): the server is the authority.
          this.answeredDevice = m.device_id;
          this.timeline.noteOnce({ kind: 'answered', from_lock_screen: false });
          void this.startMedia();
        }
        break;
      case 'ended':
        this.finish(m.reason, m.device_id ?? null);
        return;
      case 'offer': {
        if (!this.mayTalkTo(m.from_device)) return;
        const peer = this.peers.get(m.from_device) ?? this.addPeer(m.from_device, 'answerer');
        peer.acceptOffer(m.sdp).catch((e) => console.warn('ringwire: bad offer', e));
        break;
      }
      case 'answer':
        this.peers.get(m.from_device)?.acceptAnswer(m.sdp).catch((e) => console.warn('ringwire: bad answer', e));
        break;
      case 'candidate':
        void this.peers.get(m.from_device)?.addCandidate(candidateInit(m));
        break;
      default:
        return;
    }
    this.host.changed(this);
  }

  /** The server refused something about this call. */
  onError(m: Extract<ServerMessage, { type: 'error' }>): void {
    if (!this.live) return;
    switch (m.code) {
      case 'unknown_call':
      case 'not_a_participant':
        // Asked about in `hello` (or acted on) and the server does not have us in it: gone.
        if (m.ref_type === 'hello' || m.ref_type === 'accept' || m.ref_type === 'hangup') {
          this.finish('connection_lost', null);
        }
        break;
      case 'user_not_found':
      case 'cannot_call_self':
      case 'duplicate_call':
      case 'rate_limited':
        if (m.ref_type === 'invite') this.finish(m.code, this.host.deviceId, m.message);
        break;
      default:
        break;
    }
  }

  async updateQuality(): Promise<void> {
    const peer = this.mediaPeer;
    if (!peer || !this.live || this.answeredDevice === null) return;
    this.quality = await peer.quality(this.quality);
    this.host.changed(this);
  }

  /**
   * One quality window ended at `nowMs` (every `WINDOW_MS` while the call lives): the verdict
   * of an answered call, whose media this device plays. Until then nothing is expected to flow,
   * and the window does not count.
   */
  async judgeQuality(nowMs: number): Promise<void> {
    const peer = this.mediaPeer;
    if (!peer || !this.live || this.answeredDevice === null || !peer.mediaEnabled) {
      this.qualityMonitor.reset();
      return;
    }
    let report: RTCStatsReport;
    try {
      report = await peer.stats();
    } catch {
      return; // closed meanwhile
    }
    if (!this.live) return;
    const sample = readStats(report, nowMs);
    const change = this.qualityMonitor.onSample(sample, {
      connected: peer.connectionState === 'connected',
      farEndPaused: peer.remoteAudioPaused,
    });
    if (!change) return;
    this.verdict = change;
    this.verdictChanges.push({ ...change, atMs: nowMs });
    this.timeline.note({
      kind: 'quality',
      verdict: change.verdict,
      ...(change.cause ? { cause: change.cause } : {}),
      ...(change.action ? { action: change.action } : {}),
    });
    this.host.changed(this);
  }

  /** Ends the call here for good: connections closed, microphone released by the page. */
  finish(reason: string, byDevice: DeviceId | null, detail?: string): void {
    if (!this.live) return;
    this.phase = 'ended';
    this.endedAtMs = Date.now();
    this.endReason = reason;
    this.endedHere = byDevice === this.host.deviceId;
    this.endText = detail ?? describeEnd(reason, this.endedHere, this.role);
    window.clearTimeout(this.reconnectTimer);
    window.clearTimeout(this.ghostTimer);
    window.clearInterval(this.firstAudioTimer);
    for (const peer of this.peers.values()) peer.close();
    this.host.playRemote(null);
    this.uploadTimeline(reason, this.endedHere);
    this.host.changed(this);
  }

  /**
   * The call is dropped without ending here (glare: the surviving call arrives as its own
   * `incoming`): its timeline still goes to the server, ended by the server's reason.
   */
  dropped(reason: string): void {
    window.clearInterval(this.firstAudioTimer);
    if (this.live) this.uploadTimeline(reason, false);
  }

  /** The page became visible or hidden while the call lives. */
  noteAppState(state: AppState): void {
    if (this.live) this.timeline.note({ kind: 'app_state', state });
  }

  private uploadTimeline(reason: string, endedLocally: boolean): void {
    const timeline = this.timeline.finish(reason, endedLocally);
    if (timeline) this.host.timelineDone(timeline);
  }

  // ---- internals ----

  private addPeer(device: DeviceId, role: 'offerer' | 'answerer'): Peer {
    const peer: Peer = new Peer(
      device,
      role,
      {
        signal: (s: PeerSignal) => this.host.send({ ...s, call_id: this.id, to_device: device }),
        control: (c: InbandMessage) => this.onControl(device, c),
        connectionState: () => this.onPeerState(peer),
      },
      this.host.iceServers,
    );
    this.peers.set(device, peer);
    return peer;
  }

  /** After an accept only the caller and the answering device talk (protocol.md 4.11). */
  private mayTalkTo(device: DeviceId): boolean {
    if (this.role === 'callee') return device === this.callerDevice;
    return this.answeredDevice === null || this.answeredDevice === device;
  }

  private onControl(from: DeviceId, c: InbandMessage): void {
    if (c.call_id !== this.id || !this.live) return;
    if (c.type === 'accept' && this.role === 'caller') {
      // In-band accept beats a slow server; the server's `accepted` confirms or corrects it.
      this.select(from);
      this.host.changed(this);
    } else if (c.type === 'hangup' && (this.role === 'callee' || from === this.answeredDevice)) {
      this.finish(this.answeredDevice ? 'hangup' : this.role === 'callee' ? 'cancelled' : 'declined', from);
    }
  }

  /** Caller: `device` answered. Keep its connection, close the rest, let audio flow. */
  private select(device: DeviceId): void {
    if (this.answeredDevice === device) return;
    this.answeredDevice = device;
    this.acceptedAt ??= performance.now();
    // The caller's `answered`: the callee answered (as the native engine's caller notes it).
    this.timeline.noteOnce({ kind: 'answered', from_lock_screen: false });
    for (const [other, peer] of this.peers) {
      if (other !== device) {
        peer.close();
        this.peers.delete(other);
      }
    }
    if (this.phase === 'dialing' || this.phase === 'ringing') this.phase = 'connecting';
    void this.startMedia();
  }

  private async startMedia(): Promise<void> {
    const peer = this.mediaPeer;
    if (!peer) return; // the winner has not offered yet; `onPeerState` starts it
    await peer.setMedia(true, this.mic);
    if (this.mic) this.mic.enabled = !this.muted;
    this.host.playRemote(peer.remoteStream);
    this.onPeerState(peer);
  }

  private onPeerState(peer: Peer): void {
    if (!this.live || peer !== this.mediaPeer || this.answeredDevice === null) return;
    if (!peer.mediaEnabled) {
      void this.startMedia();
      return;
    }
    const state = peer.connectionState;
    if (state === 'connected') {
      window.clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      // Every (re)connection of the answered call's media; the first counts for analytics.
      if (this.phase !== 'active') this.timeline.note({ kind: 'media_connected' });
      this.watchFirstAudio(peer);
      this.phase = 'active';
      this.talkStartedAt ??= performance.now();
    } else if ((state === 'disconnected' || state === 'failed') && this.phase === 'active') {
      this.phase = 'reconnecting';
      this.reconnectTimer = window.setTimeout(() => {
        if (this.phase !== 'reconnecting') return;
        this.host.send({ type: 'hangup', call_id: this.id, reason: 'media_failed' });
        this.finish('media_failed', this.host.deviceId);
      }, RECONNECT_LIMIT_MS);
    }
    this.host.changed(this);
  }

  /** Notes `first_audio` once the answered connection has received its first audio packet. */
  private watchFirstAudio(peer: Peer): void {
    if (this.firstAudioTimer !== undefined || this.timeline.has('first_audio')) return;
    let busy = false;
    this.firstAudioTimer = window.setInterval(async () => {
      if (busy) return;
      if (!this.live || peer !== this.mediaPeer) {
        window.clearInterval(this.firstAudioTimer);
        this.firstAudioTimer = undefined;
        return;
      }
      busy = true;
      try {
        let received = 0;
        (await peer.stats()).forEach((s: Record<string, unknown> & { type: string }) => {
          if (s.type === 'inbound-rtp' && s.kind === 'audio' && typeof s.packetsReceived === 'number') {
            received += s.packetsReceived;
          }
        });
        if (received > 0 && this.live) {
          this.timeline.noteOnce({ kind: 'first_audio' });
          window.clearInterval(this.firstAudioTimer);
          this.firstAudioTimer = undefined;
        }
      } catch {
        // closed meanwhile; the next tick stops
      } finally {
        busy = false;
      }
    }, FIRST_AUDIO_POLL_MS);
  }
}
