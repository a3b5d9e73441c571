// Generated from the Rust types by crates/ffi/tests/typescript.rs: do not edit.
// The bridge's events (docs/bridge.md), inside `{"type":"event","seq":N,...}`.

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
mos: number, };

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
mos: number, } | { "event": "ended", call_id: string, reason: string, detail: string | null, callkit_reason: CallKitEndReason | null, ended_locally: boolean, 
/**
 * The candidate pair the media took (`local`/`remote`: host, srflx, prflx, relay;
 * `protocol`; `relay_transport`: udp, tcp, tls), `null` when media never connected.
 */
selected_pair: SelectedPair | null, } | { "event": "error", call_id: string | null, message: string, } | { "event": "signaling", connected: boolean, detail: string | null, } | { "event": "peer_signal", call_id: string, signal: PeerSignal, };
