// Generated from the Rust types by crates/ffi/tests/typescript.rs: do not edit.
// The bridge's events (docs/bridge.md), inside `{"type":"event","seq":N,...}`.

export type Sdp = string;

export type EndReason = "answered_elsewhere" | "declined_elsewhere" | "cancelled" | "no_answer" | "busy" | "declined" | "hangup" | "connection_lost" | "glare" | "unavailable" | "media_failed";

export type Candidate = { 
/**
 * The `candidate:` attribute line (without `a=`), or empty for end-of-candidates.
 */
candidate: string, 
/**
 * The media stream id the candidate belongs to (at most 64 bytes).
 */
sdp_mid?: string, 
/**
 * The m-line index the candidate belongs to.
 */
sdp_m_line_index?: number, 
/**
 * The ICE ufrag the candidate belongs to (at most 64 bytes); tells generations apart
 * after an ICE restart.
 */
username_fragment?: string, };

export type PeerSignal = { "type": "offer", sdp: Sdp, } | { "type": "answer", sdp: Sdp, } | { "type": "candidate" } & Candidate | { "type": "end_of_candidates" } | { "type": "bye", reason?: EndReason, };

export type QualityVerdict = "good" | "fair" | "poor";

export type QualityCause = "network_loss" | "network_delay" | "jitter" | "cpu" | "no_audio_received" | "far_end_muted";

export type QualityAction = "added_redundancy" | "lowered_bitrate" | "switched_to_relay" | "restarted_ice";

export type QualityFigures = { 
/**
 * Packets lost, percent: the larger of the two directions.
 */
loss_pct: number, 
/**
 * Round-trip time, ms, when known.
 */
rtt_ms: number | null, 
/**
 * Interarrival jitter, ms.
 */
jitter_ms: number, 
/**
 * Share of the window's played frames that were concealment, 0-1.
 */
concealment_ratio: number, 
/**
 * The E-model's MOS for the call so far, when audio has arrived.
 */
mos: number | null, 
/**
 * Audio packets received in the window.
 */
packets_received: number, 
/**
 * Share of the window's audio-clock ticks that did not happen, percent.
 */
missed_ticks_pct: number, };

export type FrameSources = { 
/**
 * Its own packet, decoded.
 */
decoded: number, 
/**
 * Opus in-band FEC (SILK LBRR) in the next packet.
 */
lbrr: number, 
/**
 * An RFC 2198 redundant copy in a later packet.
 */
red: number, 
/**
 * DRED (Deep REDundancy) history in a later packet.
 */
dred: number, 
/**
 * libopus's neural packet-loss concealment.
 */
deep_plc: number, 
/**
 * libopus's classic concealment (pitch repetition fading to noise): after 200 ms of loss
 * in a row, or in a build without deep PLC.
 */
classic_plc: number, };

export type CallQuality = { 
/**
 * Round-trip time, ms, when known.
 */
rtt_ms: number | null, 
/**
 * Network packet loss, percent.
 */
loss_pct: number, 
/**
 * Interarrival jitter, ms.
 */
jitter_ms: number, 
/**
 * Jitter buffer delay, ms.
 */
jitter_buffer_ms: number, 
/**
 * Share of played frames concealed, 0-1.
 */
concealment_ratio: number, 
/**
 * E-model transmission rating.
 */
r_factor: number, 
/**
 * MOS (1-4.5) from `r_factor`.
 */
mos: number, 
/**
 * Where the frames played so far came from: decoded, LBRR, RED, DRED, deep or classic
 * PLC. [`CallQuality::estimate`] leaves it empty; the call's receiver fills it in.
 */
sources: FrameSources, };

export type CallKitEndReason = "failed" | "remoteEnded" | "unanswered" | "answeredElsewhere" | "declinedElsewhere";

export type CandidateType = "host" | "srflx" | "prflx" | "relay";

export type RelayTransport = "udp" | "tcp" | "tls";

export type SelectedPair = { 
/**
 * Our candidate's type.
 */
local: CandidateType, 
/**
 * The peer's candidate's type.
 */
remote: CandidateType, 
/**
 * The pair's protocol (always `udp` today).
 */
protocol: string, 
/**
 * When `local` is a relay: how we reach the TURN server.
 */
relay_transport: RelayTransport | null, };

export type BridgeEvent = { "event": "incoming", call_id: string, from_user: string, display_name: string | null, } | { "event": "outgoing", call_id: string, to_user: string, } | { "event": "ringing", call_id: string, } | { "event": "answered", call_id: string, } | { "event": "connected", call_id: string, } | { "event": "dtmf", call_id: string, digit: string, } | { "event": "reconnecting", call_id: string, } | { "event": "reconnected", call_id: string, } | { "event": "quality", call_id: string, 
/**
 * Round-trip time, ms, when known.
 */
rtt_ms: number | null, 
/**
 * Network packet loss, percent.
 */
loss_pct: number, 
/**
 * Interarrival jitter, ms.
 */
jitter_ms: number, 
/**
 * Jitter buffer delay, ms.
 */
jitter_buffer_ms: number, 
/**
 * Share of played frames concealed, 0-1.
 */
concealment_ratio: number, 
/**
 * E-model transmission rating.
 */
r_factor: number, 
/**
 * MOS (1-4.5) from `r_factor`.
 */
mos: number, 
/**
 * Where the frames played so far came from: decoded, LBRR, RED, DRED, deep or classic
 * PLC. [`CallQuality::estimate`] leaves it empty; the call's receiver fills it in.
 */
sources: FrameSources, } | { "event": "quality_changed", call_id: string, verdict: QualityVerdict, 
/**
 * `None` for `good`.
 */
cause: QualityCause | null, 
/**
 * What the engine did since the call stopped being good, if anything.
 */
action: QualityAction | null, figures: QualityFigures, } | { "event": "ended", call_id: string, reason: string, detail: string | null, callkit_reason: CallKitEndReason | null, ended_locally: boolean, 
/**
 * The candidate pair the media took (`local`/`remote`: host, srflx, prflx, relay;
 * `protocol`; `relay_transport`: udp, tcp, tls), `null` when media never connected.
 */
selected_pair: SelectedPair | null, } | { "event": "error", call_id: string | null, message: string, } | { "event": "signaling", connected: boolean, detail: string | null, } | { "event": "peer_signal", call_id: string, signal: PeerSignal, };
