// One WebRTC connection to one remote device, the browser's counterpart of
// crates/core/src/peer: audio plus the `ringwire-control` data channel, candidates buffered
// until the remote description is set, and media held (nothing sent, nothing played) until the
// call is accepted. Holding is `replaceTrack(null)` on a sendrecv transceiver, so enabling audio
// needs no renegotiation and the first frame goes out at once.

import { type InbandMessage, parseInband } from './protocol';

export type PeerSignal =
  | { type: 'offer' | 'answer'; sdp: string }
  | {
      type: 'candidate';
      candidate: string;
      sdp_mid?: string;
      sdp_m_line_index?: number;
      username_fragment?: string;
    };

export interface PeerEvents {
  signal(message: PeerSignal): void;
  control(message: InbandMessage): void;
  connectionState(state: RTCPeerConnectionState): void;
}

/** What `getStats` says about the call's audio, for the in-call screen. */
export interface Quality {
  rttMs: number | null;
  lossPercent: number | null;
  jitterMs: number | null;
  packetsReceived: number;
  packetsLost: number;
  concealedPercent: number | null;
  /** Energy of the received audio, 0..1. */
  audioLevel: number | null;
}

export const CONTROL_LABEL = 'ringwire-control';

/** What `insertDTMF` accepts: digits, `*`, `#`, A-D and `,` (a 2 s pause). */
const DTMF_TONES = /^[0-9A-D*#,]+$/i;
/** Tone and gap lengths of each key, in ms (RFC 4733 events; the native engine decodes them). */
const DTMF_TONE_MS = 100;
const DTMF_GAP_MS = 70;

export class Peer {
  readonly pc: RTCPeerConnection;
  readonly remoteStream = new MediaStream();
  /** Counts of local candidates sent, by kind, for diagnostics and the interop tests. */
  readonly sentCandidates = { host: 0, mdns: 0, srflx: 0, relay: 0, prflx: 0 };
  private transceiver: RTCRtpTransceiver | null = null;
  private control: RTCDataChannel | null = null;
  private pendingCandidates: RTCIceCandidateInit[] = [];
  private mic: MediaStreamTrack | null = null;
  private mediaOn = false;
  private closed = false;
  /** Serialises SDP work: the browser's setDescription calls must not interleave. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly remoteDevice: string,
    private readonly role: 'offerer' | 'answerer',
    private readonly events: PeerEvents,
    iceServers: RTCIceServer[] = [],
  ) {
    this.pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    this.pc.onicecandidate = (event) => this.onLocalCandidate(event.candidate);
    // A STUN/TURN server that failed (wrong credentials, unreachable, a name that did not
    // resolve): never fatal, but the only trace of why a relay is missing.
    this.pc.onicecandidateerror = (event) => {
      const e = event as RTCPeerConnectionIceErrorEvent;
      console.warn(`ringwire: ICE server ${e.url} failed: ${e.errorCode} ${e.errorText}`);
    };
    this.pc.ontrack = (event) => {
      if (event.track.kind === 'audio') this.remoteStream.addTrack(event.track);
    };
    this.pc.ondatachannel = (event) => {
      if (event.channel.label === CONTROL_LABEL) this.attachControl(event.channel);
    };
    this.pc.onconnectionstatechange = () => this.events.connectionState(this.pc.connectionState);
    this.pc.oniceconnectionstatechange = () => {
      // The offerer restarts ICE (as the native engine does); the answerer follows its offer.
      if (this.pc.iceConnectionState === 'failed' && this.role === 'offerer') this.restartIce();
    };
  }

  /** Fresh TURN credentials (protocol.md 6.10), used from the next ICE gathering (a restart). */
  setIceServers(iceServers: RTCIceServer[]): void {
    if (this.closed) return;
    try {
      this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers });
    } catch (e) {
      console.warn('ringwire: ICE servers not updated', e);
    }
  }

  get connectionState(): RTCPeerConnectionState {
    return this.pc.connectionState;
  }

  get mediaEnabled(): boolean {
    return this.mediaOn;
  }

  /** Offerer: audio (sendrecv, held) and the control channel, then the offer goes out. */
  offer(): Promise<void> {
    return this.serial(async () => {
      this.transceiver = this.pc.addTransceiver('audio', { direction: 'sendrecv' });
      this.attachControl(this.pc.createDataChannel(CONTROL_LABEL, { ordered: true }));
      await this.pc.setLocalDescription(await this.pc.createOffer());
      this.events.signal({ type: 'offer', sdp: this.pc.localDescription?.sdp ?? '' });
    });
  }

  /**
   * Answerer: the remote offer (first one or a renegotiation such as an ICE restart). An offer
   * that crosses our own first offer is dropped: the callee offers (protocol.md 4.13), so ours
   * stands and the caller answers it, as the native engine does. (Handing it to the browser
   * would roll ours back and leave the two sides on different offers.)
   */
  acceptOffer(sdp: string): Promise<void> {
    return this.serial(async () => {
      if (this.role === 'offerer' && this.pc.signalingState === 'have-local-offer' && !this.pc.remoteDescription) {
        console.debug('ringwire: the peer offered while our first offer is out; ours stands');
        return;
      }
      await this.pc.setRemoteDescription({ type: 'offer', sdp });
      if (!this.transceiver) {
        this.transceiver =
          this.pc.getTransceivers().find((t) => t.receiver.track.kind === 'audio') ?? null;
        if (this.transceiver) {
          this.transceiver.direction = 'sendrecv';
          await this.transceiver.sender.replaceTrack(this.mediaOn ? this.mic : null);
        }
      }
      await this.flushCandidates();
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      this.events.signal({ type: 'answer', sdp: this.pc.localDescription?.sdp ?? '' });
    });
  }

  acceptAnswer(sdp: string): Promise<void> {
    return this.serial(async () => {
      if (this.pc.signalingState !== 'have-local-offer') return;
      await this.pc.setRemoteDescription({ type: 'answer', sdp });
      await this.flushCandidates();
    });
  }

  /** A trickled remote candidate; `""` is end-of-candidates. */
  addCandidate(init: RTCIceCandidateInit): Promise<void> {
    return this.serial(async () => {
      if (!this.pc.remoteDescription) {
        if (this.pendingCandidates.length < 64) this.pendingCandidates.push(init);
        return;
      }
      await this.addOne(init);
    });
  }

  /** Starts or holds media: the microphone goes out and remote audio may be played. */
  setMedia(enabled: boolean, mic: MediaStreamTrack | null): Promise<void> {
    this.mediaOn = enabled;
    this.mic = mic;
    return this.serial(async () => {
      await this.transceiver?.sender.replaceTrack(enabled ? mic : null);
    });
  }

  sendControl(message: InbandMessage): boolean {
    if (this.control?.readyState !== 'open') return false;
    this.control.send(JSON.stringify(message));
    return true;
  }

  /** Why key tones cannot go out on this connection, or null when they can. */
  get dtmfBlocked(): string | null {
    if (!this.transceiver) return 'No audio connection yet.';
    const dtmf = this.transceiver.sender.dtmf;
    if (!dtmf) return 'This browser cannot send key tones.';
    if (!dtmf.canInsertDTMF) return 'The other side did not accept key tones (no telephone-event).';
    return null;
  }

  /**
   * Queues `digits` as RFC 4733 telephone-events after any tones still queued (`insertDTMF`
   * replaces the queue, so the old one goes first); false when they cannot be sent.
   */
  sendDtmf(digits: string): boolean {
    const dtmf = this.transceiver?.sender.dtmf;
    if (!dtmf?.canInsertDTMF || !DTMF_TONES.test(digits)) return false;
    try {
      dtmf.insertDTMF(dtmf.toneBuffer + digits, DTMF_TONE_MS, DTMF_GAP_MS);
      return true;
    } catch (error) {
      // The transceiver stopped or stopped sending since `canInsertDTMF` was read.
      console.debug('ringwire: key tones not sent', error);
      return false;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.control?.close();
    this.pc.close();
  }

  /**
   * Whether the far end paused its audio to us: the remote track is muted (the browser mutes it
   * when the far end stops sending) or the negotiated direction no longer receives (the far end
   * said so in its description, e.g. on hold).
   */
  get remoteAudioPaused(): boolean {
    const t = this.transceiver;
    if (!t) return false;
    return t.receiver.track.muted || t.currentDirection === 'sendonly' || t.currentDirection === 'inactive';
  }

  stats(): Promise<RTCStatsReport> {
    return this.pc.getStats();
  }

  async quality(previous: Quality | null): Promise<Quality> {
    const report = await this.pc.getStats();
    const q: Quality = {
      rttMs: null,
      lossPercent: null,
      jitterMs: null,
      packetsReceived: 0,
      packetsLost: 0,
      concealedPercent: null,
      audioLevel: null,
    };
    let pairRtt: number | null = null;
    report.forEach((s: Record<string, unknown> & { type: string }) => {
      const num = (key: string): number | null => (typeof s[key] === 'number' ? (s[key] as number) : null);
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        q.packetsReceived = num('packetsReceived') ?? 0;
        q.packetsLost = Math.max(0, num('packetsLost') ?? 0);
        const jitter = num('jitter');
        if (jitter !== null) q.jitterMs = jitter * 1000;
        const concealed = num('concealedSamples');
        const total = num('totalSamplesReceived');
        if (concealed !== null && total) q.concealedPercent = (100 * concealed) / total;
        q.audioLevel = num('audioLevel');
      } else if (s.type === 'remote-inbound-rtp' && s.kind === 'audio') {
        const rtt = num('roundTripTime');
        if (rtt !== null) q.rttMs = rtt * 1000;
      } else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        const rtt = num('currentRoundTripTime');
        if (rtt !== null) pairRtt = rtt * 1000;
      }
    });
    if (q.rttMs === null) q.rttMs = pairRtt;
    // Loss over the last interval, as a phone's call screen shows it, not since the start.
    const received = q.packetsReceived - (previous?.packetsReceived ?? 0);
    const lost = q.packetsLost - (previous?.packetsLost ?? 0);
    if (received + lost > 0) q.lossPercent = (100 * Math.max(0, lost)) / (received + lost);
    return q;
  }

  private serial(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(() => (this.closed ? undefined : task()));
    // A failed step must not wedge the queue; the error still reaches this step's caller.
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async flushCandidates(): Promise<void> {
    const pending = this.pendingCandidates;
    this.pendingCandidates = [];
    for (const init of pending) await this.addOne(init);
  }

  private async addOne(init: RTCIceCandidateInit): Promise<void> {
    try {
      await this.pc.addIceCandidate(init.candidate === '' ? { candidate: '' } : init);
    } catch (error) {
      // A candidate of an older ICE generation, or one this browser cannot parse: the others
      // still connect the call.
      console.debug('ringwire: remote candidate skipped', error);
    }
  }

  private onLocalCandidate(candidate: RTCIceCandidate | null): void {
    if (!candidate) {
      this.events.signal({ type: 'candidate', candidate: '' });
      return;
    }
    if (!candidate.candidate) return;
    const kind = candidate.type ?? 'host';
    if (kind === 'host' && candidate.address?.endsWith('.local')) this.sentCandidates.mdns += 1;
    else if (kind in this.sentCandidates) this.sentCandidates[kind as keyof Peer['sentCandidates']] += 1;
    const message: PeerSignal = { type: 'candidate', candidate: candidate.candidate };
    if (candidate.sdpMid !== null) message.sdp_mid = candidate.sdpMid;
    if (candidate.sdpMLineIndex !== null) message.sdp_m_line_index = candidate.sdpMLineIndex;
    if (candidate.usernameFragment) message.username_fragment = candidate.usernameFragment;
    this.events.signal(message);
  }

  private attachControl(channel: RTCDataChannel): void {
    this.control = channel;
    channel.onmessage = (event) => {
      if (typeof event.data !== 'string') return;
      const message = parseInband(event.data);
      if (message) this.events.control(message);
    };
  }

  private restartIce(): void {
    void this.serial(async () => {
      await this.pc.setLocalDescription(await this.pc.createOffer({ iceRestart: true }));
      this.events.signal({ type: 'offer', sdp: this.pc.localDescription?.sdp ?? '' });
    });
  }
}
