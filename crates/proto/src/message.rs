//! The messages of protocol v1: what a device sends ([`ClientMessage`]) and what the server
//! sends ([`ServerMessage`]). Field names and `type` tags here are the wire format; the field
//! docs are mirrored in `docs/protocol.md`.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::ice::{bounded_servers, IceServer};
use crate::ids::{CallId, DeviceId, DisplayName, UserName, INVALID_VALUE_PREFIX};
use crate::push::PushToken;
use crate::reason::{EndReason, HangupReason};
use crate::timeline::CallTimeline;
use crate::{MAX_CANDIDATE_BYTES, MAX_SDP_BYTES};

/// An SDP offer or answer, opaque to the server: non-empty and at most [`MAX_SDP_BYTES`].
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(type = "string"))]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sdp(String);

impl Sdp {
    /// The SDP text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sdp {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() || s.len() > MAX_SDP_BYTES {
            return Err(format!(
                "{INVALID_VALUE_PREFIX}: sdp must be 1-{MAX_SDP_BYTES} bytes"
            ));
        }
        Ok(Sdp(s))
    }
}

impl From<Sdp> for String {
    fn from(s: Sdp) -> String {
        s.0
    }
}

impl std::fmt::Debug for Sdp {
    // SDP carries ICE credentials and addresses: never print it whole.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sdp({} bytes)", self.0.len())
    }
}

/// One ICE candidate, as WebRTC's `RTCIceCandidateInit`. An empty `candidate` means
/// end-of-candidates. The browser spellings `sdpMid`, `sdpMLineIndex` and `usernameFragment` are
/// accepted too, so a page can pass `candidate.toJSON()` fields through unchanged.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(optional_fields))]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The `candidate:` attribute line (without `a=`), or empty for end-of-candidates.
    #[serde(deserialize_with = "candidate_line")]
    pub candidate: String,
    /// The media stream id the candidate belongs to (at most 64 bytes).
    #[serde(
        default,
        alias = "sdpMid",
        deserialize_with = "short_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_mid: Option<String>,
    /// The m-line index the candidate belongs to.
    #[serde(
        default,
        alias = "sdpMLineIndex",
        skip_serializing_if = "Option::is_none"
    )]
    pub sdp_m_line_index: Option<u16>,
    /// The ICE ufrag the candidate belongs to (at most 64 bytes); tells generations apart
    /// after an ICE restart.
    #[serde(
        default,
        alias = "usernameFragment",
        deserialize_with = "short_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub username_fragment: Option<String>,
}

fn short_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    if s.as_ref().is_some_and(|s| s.len() > 64) {
        return Err(serde::de::Error::custom(format!(
            "{INVALID_VALUE_PREFIX}: sdp_mid and username_fragment must be at most 64 bytes"
        )));
    }
    Ok(s)
}

fn candidate_line<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.len() > MAX_CANDIDATE_BYTES {
        return Err(serde::de::Error::custom(format!(
            "{INVALID_VALUE_PREFIX}: candidate must be at most {MAX_CANDIDATE_BYTES} bytes"
        )));
    }
    Ok(s)
}

impl std::fmt::Debug for Candidate {
    // Candidates carry IP addresses: keep them out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidate")
            .field(
                "candidate",
                &format_args!("<{} bytes>", self.candidate.len()),
            )
            .field("sdp_mid", &self.sdp_mid)
            .field("sdp_m_line_index", &self.sdp_m_line_index)
            .field(
                "username_fragment",
                &self.username_fragment.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `invite`: start a call to every device of `to_user`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// Chosen by the caller: 128 random bits.
    pub call_id: CallId,
    /// The user to call.
    pub to_user: UserName,
}

/// What a relay carries between the caller's device and one callee device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayKind {
    /// An SDP offer.
    Offer(Sdp),
    /// An SDP answer.
    Answer(Sdp),
    /// A trickled ICE candidate.
    Candidate(Candidate),
}

/// A relay in transit: `peer` is the target when a device sends it and the source when the
/// server delivers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relay {
    /// The call the relay belongs to.
    pub call_id: CallId,
    /// The other end: `to_device` on the way in, `from_device` on the way out.
    pub peer: DeviceId,
    /// The payload.
    pub kind: RelayKind,
}

/// Messages a device sends to the server.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(optional_fields))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClientMessage {
    /// First message on every connection.
    Hello {
        /// Protocol versions the device speaks.
        versions: Vec<u32>,
        /// Free-form client name and version, for logs (at most 128 bytes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client: Option<DisplayName>,
        /// Calls this device already knows about (e.g. reported to CallKit from a push); the
        /// server answers each with `incoming` (still ringing) or `ended`.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        #[cfg_attr(feature = "ts", ts(as = "Option<Vec<CallId>>", optional))]
        calls: Vec<CallId>,
    },
    /// Start a call.
    Invite(Invite),
    /// The callee device is ringing (it reported the call to the OS).
    Ringing { call_id: CallId },
    /// The callee accepts on this device.
    Accept { call_id: CallId },
    /// The callee declines.
    Decline { call_id: CallId },
    /// The callee device is already in a call.
    Busy { call_id: CallId },
    /// The caller gives up before the call is accepted.
    Cancel { call_id: CallId },
    /// A participant ends an accepted call (or, while ringing, cancels or declines it).
    Hangup {
        call_id: CallId,
        /// Why, when it was not the user: `media_failed` when the device gave up on a media
        /// path that never connected or could not be restored. Absent: the user hung up.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<HangupReason>,
    },
    /// SDP offer for one peer device.
    Offer {
        call_id: CallId,
        to_device: DeviceId,
        sdp: Sdp,
    },
    /// SDP answer for one peer device.
    Answer {
        call_id: CallId,
        to_device: DeviceId,
        sdp: Sdp,
    },
    /// Trickled ICE candidate for one peer device.
    Candidate {
        call_id: CallId,
        to_device: DeviceId,
        #[serde(flatten)]
        candidate: Candidate,
    },
    /// Application-level keepalive; answered with `pong`.
    Ping { nonce: u64 },
    /// Where to send this device's push notifications (replaces the previous registration).
    PushToken(PushToken),
    /// What this device saw of a call, uploaded once the call is over; answered with
    /// `timeline_stored` (or an `error` naming the call).
    CallTimeline(CallTimeline),
}

impl ClientMessage {
    /// The user hangs up (no `reason`).
    pub fn hangup(call_id: CallId) -> ClientMessage {
        ClientMessage::Hangup {
            call_id,
            reason: None,
        }
    }

    /// The device gives up on media that never connected or was lost for good.
    pub fn media_failed_hangup(call_id: CallId) -> ClientMessage {
        ClientMessage::Hangup {
            call_id,
            reason: Some(HangupReason::MediaFailed),
        }
    }

    /// Every `type` a device may send.
    pub const TYPES: &'static [&'static str] = &[
        "hello",
        "invite",
        "ringing",
        "accept",
        "decline",
        "busy",
        "cancel",
        "hangup",
        "offer",
        "answer",
        "candidate",
        "ping",
        "push_token",
        "call_timeline",
    ];

    /// The wire `type` of this message (also the metrics label).
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientMessage::Hello { .. } => "hello",
            ClientMessage::Invite(_) => "invite",
            ClientMessage::Ringing { .. } => "ringing",
            ClientMessage::Accept { .. } => "accept",
            ClientMessage::Decline { .. } => "decline",
            ClientMessage::Busy { .. } => "busy",
            ClientMessage::Cancel { .. } => "cancel",
            ClientMessage::Hangup { .. } => "hangup",
            ClientMessage::Offer { .. } => "offer",
            ClientMessage::Answer { .. } => "answer",
            ClientMessage::Candidate { .. } => "candidate",
            ClientMessage::Ping { .. } => "ping",
            ClientMessage::PushToken(_) => "push_token",
            ClientMessage::CallTimeline(_) => "call_timeline",
        }
    }

    /// Whether this message starts or acts on a call (`invite`, `ringing`, `accept`,
    /// `decline`, `busy`, `cancel`, `hangup`): what a client must keep for the next connection
    /// when its WebSocket drops, while relays and pings are only worth sending now.
    pub fn is_call_action(&self) -> bool {
        matches!(
            self,
            ClientMessage::Invite(_)
                | ClientMessage::Ringing { .. }
                | ClientMessage::Accept { .. }
                | ClientMessage::Decline { .. }
                | ClientMessage::Busy { .. }
                | ClientMessage::Cancel { .. }
                | ClientMessage::Hangup { .. }
        )
    }

    /// The call this message is about, if any.
    pub fn call_id(&self) -> Option<CallId> {
        match self {
            ClientMessage::Hello { .. }
            | ClientMessage::Ping { .. }
            | ClientMessage::PushToken(_) => None,
            ClientMessage::Invite(i) => Some(i.call_id),
            ClientMessage::Ringing { call_id }
            | ClientMessage::Accept { call_id }
            | ClientMessage::Decline { call_id }
            | ClientMessage::Busy { call_id }
            | ClientMessage::Cancel { call_id }
            | ClientMessage::Hangup { call_id, .. }
            | ClientMessage::Offer { call_id, .. }
            | ClientMessage::Answer { call_id, .. }
            | ClientMessage::Candidate { call_id, .. } => Some(*call_id),
            ClientMessage::CallTimeline(t) => Some(t.call_id()),
        }
    }

    /// Splits off relays (offer, answer, candidate) so routers handle them in one place.
    pub fn into_relay(self) -> Result<Relay, ClientMessage> {
        match self {
            ClientMessage::Offer {
                call_id,
                to_device,
                sdp,
            } => Ok(Relay {
                call_id,
                peer: to_device,
                kind: RelayKind::Offer(sdp),
            }),
            ClientMessage::Answer {
                call_id,
                to_device,
                sdp,
            } => Ok(Relay {
                call_id,
                peer: to_device,
                kind: RelayKind::Answer(sdp),
            }),
            ClientMessage::Candidate {
                call_id,
                to_device,
                candidate,
            } => Ok(Relay {
                call_id,
                peer: to_device,
                kind: RelayKind::Candidate(candidate),
            }),
            other => Err(other),
        }
    }

    /// Builds the message a device sends for a relay (the inverse of [`Self::into_relay`]).
    pub fn from_relay(relay: Relay) -> ClientMessage {
        let Relay {
            call_id,
            peer,
            kind,
        } = relay;
        match kind {
            RelayKind::Offer(sdp) => ClientMessage::Offer {
                call_id,
                to_device: peer,
                sdp,
            },
            RelayKind::Answer(sdp) => ClientMessage::Answer {
                call_id,
                to_device: peer,
                sdp,
            },
            RelayKind::Candidate(candidate) => ClientMessage::Candidate {
                call_id,
                to_device: peer,
                candidate,
            },
        }
    }
}

/// `welcome`: the server accepted `hello`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(optional_fields))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The protocol version both sides now speak.
    pub version: u32,
    /// The authenticated user.
    pub user: UserName,
    /// The user's display name, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<DisplayName>,
    /// This device's id (peers address relays to it).
    pub device_id: DeviceId,
    /// The server's clock, UNIX milliseconds (to interpret deadlines).
    pub server_time_ms: u64,
    /// How long an unanswered call rings, in milliseconds.
    pub ring_timeout_ms: u64,
    /// The ICE servers to use, shaped like WebRTC's `RTCIceServer`, TURN entries with
    /// short-lived credentials. Empty (absent on the wire) when the server has none
    /// configured.
    #[serde(
        default,
        deserialize_with = "bounded_servers",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[cfg_attr(feature = "ts", ts(as = "Option<Vec<IceServer>>", optional))]
    pub ice_servers: Vec<IceServer>,
    /// When the TURN credentials in `ice_servers` expire (UNIX ms, server clock); absent when
    /// there are none. The server sends [`ServerMessage::IceServers`] before then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ice_expires_ms: Option<u64>,
}

/// `ice_servers`: fresh TURN credentials for a connected device, sent before the previous
/// ones expire. Replaces the list from `welcome` (or the last `ice_servers`) whole.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(optional_fields))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServers {
    /// The ICE servers to use from now on (same shape as `welcome.ice_servers`).
    #[serde(deserialize_with = "bounded_servers")]
    pub ice_servers: Vec<IceServer>,
    /// When these credentials expire (UNIX ms, server clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ice_expires_ms: Option<u64>,
}

/// `incoming`: a call for this device's user.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(optional_fields))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incoming {
    /// The call.
    pub call_id: CallId,
    /// Who is calling.
    pub from_user: UserName,
    /// The caller's display name, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_display_name: Option<DisplayName>,
    /// The caller's device: the target of this device's offer and candidates.
    pub from_device: DeviceId,
    /// When the call stops ringing (UNIX ms, server clock).
    pub ring_deadline_ms: u64,
    /// True when delivered on (re)connect rather than at invite time.
    #[serde(default)]
    pub replayed: bool,
}

/// `error`: a message was refused or the connection is about to close.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(optional_fields))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorMessage {
    /// What went wrong, machine-readable.
    pub code: ErrorCode,
    /// What went wrong and what to do, for humans.
    pub message: String,
    /// The call the refused message was about, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<CallId>,
    /// The `type` of the refused message, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_type: Option<String>,
    /// For `rate_limited`: when to try again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorMessage {
    /// An error with just a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorMessage {
            code,
            message: message.into(),
            call_id: None,
            ref_type: None,
            retry_after_ms: None,
        }
    }

    /// Names the call the refused message was about.
    pub fn with_call(mut self, call_id: Option<CallId>) -> Self {
        self.call_id = call_id;
        self
    }

    /// Names the refused message's type.
    pub fn with_ref_type(mut self, ref_type: &str) -> Self {
        self.ref_type = Some(ref_type.to_owned());
        self
    }
}

/// Messages the server sends to a device.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(optional_fields))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerMessage {
    /// Answer to `hello`.
    Welcome(Welcome),
    /// To the caller: the invite was accepted and is ringing out.
    Calling {
        call_id: CallId,
        to_user: UserName,
        /// Callee devices connected now (they got `incoming`).
        devices_online: u32,
        /// Callee devices not connected (they get it when they connect, or by push).
        devices_offline: u32,
        ring_deadline_ms: u64,
    },
    /// To each callee device: a call is ringing.
    Incoming(Incoming),
    /// To the caller: a callee device is ringing.
    Ringing {
        call_id: CallId,
        device_id: DeviceId,
    },
    /// To the caller and to the device that won: the call was accepted on `device_id`.
    Accepted {
        call_id: CallId,
        device_id: DeviceId,
    },
    /// The call is over for this device.
    Ended {
        call_id: CallId,
        reason: EndReason,
        /// The device whose action ended the call, when there was one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device_id: Option<DeviceId>,
        /// For `glare`: the call that survived.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaced_by: Option<CallId>,
    },
    /// SDP offer from a peer device.
    Offer {
        call_id: CallId,
        from_device: DeviceId,
        sdp: Sdp,
    },
    /// SDP answer from a peer device.
    Answer {
        call_id: CallId,
        from_device: DeviceId,
        sdp: Sdp,
    },
    /// ICE candidate from a peer device.
    Candidate {
        call_id: CallId,
        from_device: DeviceId,
        #[serde(flatten)]
        candidate: Candidate,
    },
    /// Answer to `ping`.
    Pong { nonce: u64, server_time_ms: u64 },
    /// A refusal or a reason for closing.
    Error(ErrorMessage),
    /// Fresh ICE servers and TURN credentials, before the previous ones expire.
    IceServers(IceServers),
    /// The device's `call_timeline` for this call is stored (now, or by an earlier upload).
    TimelineStored { call_id: CallId },
}

impl ServerMessage {
    /// Every `type` the server may send.
    pub const TYPES: &'static [&'static str] = &[
        "welcome",
        "calling",
        "incoming",
        "ringing",
        "accepted",
        "ended",
        "offer",
        "answer",
        "candidate",
        "pong",
        "error",
        "ice_servers",
        "timeline_stored",
    ];

    /// The wire `type` of this message (also the metrics label).
    pub fn type_name(&self) -> &'static str {
        match self {
            ServerMessage::Welcome(_) => "welcome",
            ServerMessage::Calling { .. } => "calling",
            ServerMessage::Incoming(_) => "incoming",
            ServerMessage::Ringing { .. } => "ringing",
            ServerMessage::Accepted { .. } => "accepted",
            ServerMessage::Ended { .. } => "ended",
            ServerMessage::Offer { .. } => "offer",
            ServerMessage::Answer { .. } => "answer",
            ServerMessage::Candidate { .. } => "candidate",
            ServerMessage::Pong { .. } => "pong",
            ServerMessage::Error(_) => "error",
            ServerMessage::IceServers(_) => "ice_servers",
            ServerMessage::TimelineStored { .. } => "timeline_stored",
        }
    }

    /// Delivers a relay from `relay.peer` (the sending device).
    pub fn from_relay(relay: Relay) -> ServerMessage {
        let Relay {
            call_id,
            peer,
            kind,
        } = relay;
        match kind {
            RelayKind::Offer(sdp) => ServerMessage::Offer {
                call_id,
                from_device: peer,
                sdp,
            },
            RelayKind::Answer(sdp) => ServerMessage::Answer {
                call_id,
                from_device: peer,
                sdp,
            },
            RelayKind::Candidate(candidate) => ServerMessage::Candidate {
                call_id,
                from_device: peer,
                candidate,
            },
        }
    }

    /// Splits off a delivered relay (offer, answer, candidate); `peer` is the sender.
    // The `Err` side is not an error but the message handed back unchanged, so its size (that
    // of `welcome`) costs nothing a caller would avoid by boxing.
    #[allow(clippy::result_large_err)]
    pub fn into_relay(self) -> Result<Relay, ServerMessage> {
        match self {
            ServerMessage::Offer {
                call_id,
                from_device,
                sdp,
            } => Ok(Relay {
                call_id,
                peer: from_device,
                kind: RelayKind::Offer(sdp),
            }),
            ServerMessage::Answer {
                call_id,
                from_device,
                sdp,
            } => Ok(Relay {
                call_id,
                peer: from_device,
                kind: RelayKind::Answer(sdp),
            }),
            ServerMessage::Candidate {
                call_id,
                from_device,
                candidate,
            } => Ok(Relay {
                call_id,
                peer: from_device,
                kind: RelayKind::Candidate(candidate),
            }),
            other => Err(other),
        }
    }

    /// Shorthand for an `ended` without a device or replacement.
    pub fn ended(call_id: CallId, reason: EndReason) -> ServerMessage {
        ServerMessage::Ended {
            call_id,
            reason,
            device_id: None,
            replaced_by: None,
        }
    }
}
