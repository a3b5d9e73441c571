// Generated from the Rust types by crates/ffi/tests/typescript.rs: do not edit.
// Protocol v1's message shapes (docs/protocol.md), as the server and the engine serialize them.

export type CallId = string;

export type DeviceId = string;

export type UserName = string;

export type DisplayName = string;

export type Sdp = string;

export type EndReason = "answered_elsewhere" | "declined_elsewhere" | "cancelled" | "no_answer" | "busy" | "declined" | "hangup" | "connection_lost" | "glare" | "unavailable" | "media_failed";

export type HangupReason = "media_failed";

export type ErrorCode = "malformed_json" | "unknown_type" | "missing_field" | "invalid_field" | "invalid_id" | "frame_too_large" | "unsupported_version" | "hello_required" | "unauthorized" | "not_a_participant" | "unknown_call" | "invalid_state" | "user_not_found" | "cannot_call_self" | "duplicate_call" | "rate_limited" | "too_many_calls" | "peer_unavailable" | "replaced" | "shutting_down" | "idle_timeout" | "too_slow" | "internal" | "already_stored";

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

export type Invite = { 
/**
 * Chosen by the caller: 128 random bits.
 */
call_id: CallId, 
/**
 * The user to call.
 */
to_user: UserName, };

export type PushPlatform = "apns" | "fcm" | "none";

export type PushToken = { platform: PushPlatform, voip_token?: string, alert_token?: string, };

export type IceUrl = string;

export type IceServer = { urls: Array<IceUrl>, username?: string, credential?: string, };

export type IceServers = { 
/**
 * The ICE servers to use from now on (same shape as `welcome.ice_servers`).
 */
ice_servers: Array<IceServer>, 
/**
 * When these credentials expire (UNIX ms, server clock).
 */
ice_expires_ms?: number, };

export type Welcome = { 
/**
 * The protocol version both sides now speak.
 */
version: number, 
/**
 * The authenticated user.
 */
user: UserName, 
/**
 * The user's display name, if set.
 */
display_name?: DisplayName, 
/**
 * This device's id (peers address relays to it).
 */
device_id: DeviceId, 
/**
 * The server's clock, UNIX milliseconds (to interpret deadlines).
 */
server_time_ms: number, 
/**
 * How long an unanswered call rings, in milliseconds.
 */
ring_timeout_ms: number, 
/**
 * The ICE servers to use, shaped like WebRTC's `RTCIceServer`, TURN entries with
 * short-lived credentials. Empty (absent on the wire) when the server has none
 * configured.
 */
ice_servers?: Array<IceServer>, 
/**
 * When the TURN credentials in `ice_servers` expire (UNIX ms, server clock); absent when
 * there are none. The server sends [`ServerMessage::IceServers`] before then.
 */
ice_expires_ms?: number, };

export type Incoming = { 
/**
 * The call.
 */
call_id: CallId, 
/**
 * Who is calling.
 */
from_user: UserName, 
/**
 * The caller's display name, if set.
 */
from_display_name?: DisplayName, 
/**
 * The caller's device: the target of this device's offer and candidates.
 */
from_device: DeviceId, 
/**
 * When the call stops ringing (UNIX ms, server clock).
 */
ring_deadline_ms: number, 
/**
 * True when delivered on (re)connect rather than at invite time.
 */
replayed: boolean, };

export type ErrorMessage = { 
/**
 * What went wrong, machine-readable.
 */
code: ErrorCode, 
/**
 * What went wrong and what to do, for humans.
 */
message: string, 
/**
 * The call the refused message was about, when known.
 */
call_id?: CallId, 
/**
 * The `type` of the refused message, when known.
 */
ref_type?: string, 
/**
 * For `rate_limited`: when to try again.
 */
retry_after_ms?: number, };

export type DevicePlatform = "ios" | "android" | "web" | "native";

export type CallDirection = "incoming" | "outgoing";

export type QualityVerdict = "good" | "fair" | "poor";

export type QualityCause = "network_loss" | "network_delay" | "jitter" | "cpu" | "no_audio_received" | "far_end_muted";

export type QualityAction = "added_redundancy" | "lowered_bitrate" | "switched_to_relay" | "restarted_ice";

export type AppState = "foreground" | "background" | "locked" | "suspended";

export type TimelineEndReason = EndReason | "failed";

export type TimelineEventKind = { "kind": "push_received", 
/**
 * When the server sent the push (server clock), from the push payload.
 */
sent_at_ms?: number, } | { "kind": "reported_to_os", } | { "kind": "ringing_shown", } | { "kind": "answered", 
/**
 * Answered from the lock screen (rather than with the app in the foreground).
 */
from_lock_screen: boolean, } | { "kind": "audio_session_activated", } | { "kind": "media_connected", } | { "kind": "first_audio", } | { "kind": "quality", verdict: QualityVerdict, cause?: QualityCause, 
/**
 * What the engine did about it, if anything.
 */
action?: QualityAction, } | { "kind": "app_state", state: AppState, } | { "kind": "ended", reason: TimelineEndReason, 
/**
 * The end was this device's own doing (its user, or its engine giving up).
 */
ended_locally: boolean, };

export type TimelineEvent = { at_ms: number, } & ({ "kind": "push_received", 
/**
 * When the server sent the push (server clock), from the push payload.
 */
sent_at_ms?: number, } | { "kind": "reported_to_os", } | { "kind": "ringing_shown", } | { "kind": "answered", 
/**
 * Answered from the lock screen (rather than with the app in the foreground).
 */
from_lock_screen: boolean, } | { "kind": "audio_session_activated", } | { "kind": "media_connected", } | { "kind": "first_audio", } | { "kind": "quality", verdict: QualityVerdict, cause?: QualityCause, 
/**
 * What the engine did about it, if anything.
 */
action?: QualityAction, } | { "kind": "app_state", state: AppState, } | { "kind": "ended", reason: TimelineEndReason, 
/**
 * The end was this device's own doing (its user, or its engine giving up).
 */
ended_locally: boolean, });

export type CallTimeline = { call_id: CallId, platform: DevicePlatform, direction: CallDirection, events: Array<TimelineEvent>, };

export type ClientMessage = { "type": "hello", 
/**
 * Protocol versions the device speaks.
 */
versions: Array<number>, 
/**
 * Free-form client name and version, for logs (at most 128 bytes).
 */
client?: DisplayName, 
/**
 * Calls this device already knows about (e.g. reported to CallKit from a push); the
 * server answers each with `incoming` (still ringing) or `ended`.
 */
calls?: Array<CallId>, } | { "type": "invite" } & Invite | { "type": "ringing", call_id: CallId, } | { "type": "accept", call_id: CallId, } | { "type": "decline", call_id: CallId, } | { "type": "busy", call_id: CallId, } | { "type": "cancel", call_id: CallId, } | { "type": "hangup", call_id: CallId, 
/**
 * Why, when it was not the user: `media_failed` when the device gave up on a media
 * path that never connected or could not be restored. Absent: the user hung up.
 */
reason?: HangupReason, } | { "type": "offer", call_id: CallId, to_device: DeviceId, sdp: Sdp, } | { "type": "answer", call_id: CallId, to_device: DeviceId, sdp: Sdp, } | { "type": "candidate", call_id: CallId, to_device: DeviceId, 
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
username_fragment?: string, } | { "type": "ping", nonce: number, } | { "type": "push_token" } & PushToken | { "type": "call_timeline" } & CallTimeline;

export type ServerMessage = { "type": "welcome" } & Welcome | { "type": "calling", call_id: CallId, to_user: UserName, 
/**
 * Callee devices connected now (they got `incoming`).
 */
devices_online: number, 
/**
 * Callee devices not connected (they get it when they connect, or by push).
 */
devices_offline: number, ring_deadline_ms: number, } | { "type": "incoming" } & Incoming | { "type": "ringing", call_id: CallId, device_id: DeviceId, } | { "type": "accepted", call_id: CallId, device_id: DeviceId, } | { "type": "ended", call_id: CallId, reason: EndReason, 
/**
 * The device whose action ended the call, when there was one.
 */
device_id?: DeviceId, 
/**
 * For `glare`: the call that survived.
 */
replaced_by?: CallId, } | { "type": "offer", call_id: CallId, from_device: DeviceId, sdp: Sdp, } | { "type": "answer", call_id: CallId, from_device: DeviceId, sdp: Sdp, } | { "type": "candidate", call_id: CallId, from_device: DeviceId, 
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
username_fragment?: string, } | { "type": "pong", nonce: number, server_time_ms: number, } | { "type": "error" } & ErrorMessage | { "type": "ice_servers" } & IceServers | { "type": "timeline_stored", call_id: CallId, };
