//! Records and enums mirroring the engine's types, and the conversions into them. Ids and names
//! cross as strings (call and device ids: 32 lowercase hex digits; user names as the server
//! spells them); durations as whole milliseconds.

use std::time::Duration;

use ringwire_proto::CallId;

use super::RingwireError;

/// Which way a call goes, from this device's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Direction {
    Outgoing,
    Incoming,
}

/// Where the app is in its lifecycle, as the OS says; passed to `set_app_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AppState {
    /// On screen and running (iOS `didBecomeActive`, Android `ON_RESUME`).
    Foreground,
    /// Off screen, still running for now (iOS `didEnterBackground`, Android `ON_STOP`).
    Background,
    /// The screen locked with the app on top (iOS `protectedDataWillBecomeUnavailable`,
    /// Android `ACTION_SCREEN_OFF`).
    Locked,
    /// The UI is frozen (a suspended WebView); only what the OS keeps alive runs.
    Suspended,
}

impl From<AppState> for ringwire_core::AppState {
    fn from(state: AppState) -> Self {
        match state {
            AppState::Foreground => ringwire_core::AppState::Foreground,
            AppState::Background => ringwire_core::AppState::Background,
            AppState::Locked => ringwire_core::AppState::Locked,
            AppState::Suspended => ringwire_core::AppState::Suspended,
        }
    }
}

/// Where a call is (`docs/engine.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CallState {
    /// Outgoing: the invite is sent; the server has not confirmed it yet.
    Dialing,
    /// Ringing (there for an outgoing call, here for an incoming one); media pre-connects.
    Ringing,
    /// Answered; the media path is still being set up.
    Connecting,
    /// Answered, media flowing.
    Active,
    /// Answered, the media path broke; ICE is trying to restore it.
    Reconnecting,
}

/// What the app needs to redraw one call.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CallSnapshot {
    pub call_id: String,
    pub direction: Direction,
    pub remote_user: String,
    pub state: CallState,
    pub muted: bool,
    pub held: bool,
    /// Whether ICE and DTLS to the answering (or any ringing) device are up.
    pub media_connected: bool,
}

/// The protocol's end reasons (`docs/protocol.md`). A plain enum, so Swift and Kotlin switch on
/// it exhaustively; a reason newer than these bindings arrives as [`CallEndReason::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum EndReason {
    AnsweredElsewhere,
    DeclinedElsewhere,
    Cancelled,
    NoAnswer,
    Busy,
    Declined,
    Hangup,
    ConnectionLost,
    Glare,
    Unavailable,
    /// An answered call whose media never connected or was lost for good; an engine gave up.
    MediaFailed,
}

/// Why a call ended on this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum CallEndReason {
    /// A protocol end reason (from the server, the peer in-band, or decided here).
    Protocol { reason: EndReason },
    /// The call never started: the server refused the invite, or it could not be set up.
    /// `code` is the protocol error code (`user_not_found`, ...) when there is one.
    Failed {
        code: Option<String>,
        detail: String,
    },
    /// The call was answered but its media never connected (nobody heard anything): `cause`
    /// is `no_connection`, `ice_failed` or `dtls_failed`; `ended_by` the protocol reason that
    /// ended it meanwhile (`hangup` when a user hung up, `media_failed` when an engine gave up
    /// waiting).
    /// Show it as a failed call.
    MediaFailed {
        cause: String,
        ended_by: Option<String>,
    },
    /// A protocol end reason added after these bindings were built (its wire spelling).
    Other { reason: String },
}

/// CallKit's `CXCallEndedReason` (Android: the matching `DisconnectCause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum CallKitEndReason {
    Failed,
    RemoteEnded,
    Unanswered,
    AnsweredElsewhere,
    DeclinedElsewhere,
}

/// Call quality: network figures and the E-model's estimate.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CallQuality {
    /// Round-trip time, ms, when known.
    pub rtt_ms: Option<f64>,
    /// Network packet loss, percent.
    pub loss_pct: f64,
    /// Interarrival jitter, ms.
    pub jitter_ms: f64,
    /// Jitter buffer delay, ms.
    pub jitter_buffer_ms: f64,
    /// Share of played frames concealed, 0-1.
    pub concealment_ratio: f64,
    /// E-model transmission rating.
    pub r_factor: f64,
    /// MOS (1-4.5).
    pub mos: f64,
    /// Where the frames played so far came from.
    pub sources: FrameSources,
}

/// Where played frames came from; every frame that played audio is in exactly one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct FrameSources {
    /// Its own packet, decoded.
    pub decoded: u64,
    /// Opus in-band FEC (LBRR) in the next packet.
    pub lbrr: u64,
    /// An RFC 2198 redundant copy in a later packet.
    pub red: u64,
    /// DRED (Deep REDundancy) history in a later packet.
    pub dred: u64,
    /// libopus's neural concealment.
    pub deep_plc: u64,
    /// libopus's classic concealment (after 200 ms of loss in a row).
    pub classic_plc: u64,
}

impl From<ringwire_media::FrameSources> for FrameSources {
    fn from(s: ringwire_media::FrameSources) -> Self {
        let ringwire_media::FrameSources {
            decoded,
            lbrr,
            red,
            dred,
            deep_plc,
            classic_plc,
        } = s;
        FrameSources {
            decoded,
            lbrr,
            red,
            dred,
            deep_plc,
            classic_plc,
        }
    }
}

/// Timings and totals of one ended call.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct CallSummary {
    pub invite_to_ringing_ms: Option<u64>,
    pub accept_to_first_audio_ms: Option<u64>,
    pub ring_time_ms: Option<u64>,
    pub talk_time_ms: Option<u64>,
    pub total_ms: u64,
    /// ICE and DTLS were up before the accept (the pre-connect worked).
    pub preconnected: bool,
    /// The answered call's media path was up at some point; `false` means nobody heard
    /// anything (the end reason is then `MediaFailed`).
    pub media_connected: bool,
    /// `None` when no audio packet ever arrived: unknown, not perfect.
    pub quality: Option<CallQuality>,
    pub frames_sent: u64,
    /// Frames sent carrying DRED history (on under loss).
    pub frames_sent_with_dred: u64,
    pub frames_decoded: u64,
    pub frames_recovered_fec: u64,
    /// Lost frames played whole from an RFC 2198 redundant copy (also in `frames_decoded`).
    pub frames_recovered_red: u64,
    /// Lost frames rebuilt from a later packet's DRED.
    pub frames_recovered_dred: u64,
    pub frames_concealed: u64,
    pub frames_inserted: u64,
    /// Every played frame by where it came from.
    pub frame_sources: FrameSources,
    /// Audio removed by time-compressing speech after a loss episode, ms.
    pub compressed_ms: u64,
    /// Audio added by stretching speech ahead of loss bursts, ms.
    pub expanded_ms: u64,
    /// Time played with the delay more than 10 ms above the clean-path delay, ms.
    pub above_clean_delay_ms: u64,
    /// The candidate pair the media took; `None` when media never connected.
    pub selected_pair: Option<SelectedPair>,
}

/// The ICE candidate pair a call's media took (`RTCIceCandidatePairStats` in brief).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SelectedPair {
    /// This device's candidate type: `host`, `srflx`, `prflx` or `relay`.
    pub local: String,
    /// The far end's candidate type.
    pub remote: String,
    /// `udp`.
    pub protocol: String,
    /// With a local relay, how this device reaches the TURN server: `udp`, `tcp` or `tls`.
    pub relay_transport: Option<String>,
}

impl From<&ringwire_core::SelectedPair> for SelectedPair {
    fn from(p: &ringwire_core::SelectedPair) -> Self {
        let name = |v: serde_json::Value| v.as_str().unwrap_or("unknown").to_owned();
        SelectedPair {
            local: name(serde_json::json!(p.local)),
            remote: name(serde_json::json!(p.remote)),
            protocol: p.protocol.to_owned(),
            relay_transport: p.relay_transport.map(|t| name(serde_json::json!(t))),
        }
    }
}

/// What a push says about an incoming call: everything CallKit's `reportNewIncomingCall` (or
/// ConnectionService's `addNewIncomingCall`) needs, before the push handler returns.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PushCall {
    pub call_id: String,
    pub from_user: String,
    pub from_display_name: Option<String>,
    pub from_device: String,
    /// When the call stops ringing, on the server's clock (UNIX ms).
    pub ring_deadline_ms: u64,
    /// The engine knew this call already (over signaling, or from an earlier push): it was
    /// reported to the OS then, and must not be reported twice.
    pub already_known: bool,
}

impl From<ringwire_core::PushCall> for PushCall {
    fn from(p: ringwire_core::PushCall) -> Self {
        PushCall {
            call_id: p.call_id.to_string(),
            from_user: p.from_user.to_string(),
            from_display_name: p.from_display_name.map(|d| d.to_string()),
            from_device: p.from_device.to_string(),
            ring_deadline_ms: p.ring_deadline_ms,
            already_known: p.already_known,
        }
    }
}

/// Parses a call id from the app. Call ids come from events and snapshots, so a bad one is a
/// bug in the app; the message says what a good one looks like.
pub(crate) fn call_id(text: &str) -> Result<CallId, RingwireError> {
    text.parse().map_err(RingwireError::InvalidArgument)
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl From<ringwire_core::Direction> for Direction {
    fn from(d: ringwire_core::Direction) -> Self {
        match d {
            ringwire_core::Direction::Outgoing => Direction::Outgoing,
            ringwire_core::Direction::Incoming => Direction::Incoming,
        }
    }
}

impl From<ringwire_core::CallState> for CallState {
    fn from(s: ringwire_core::CallState) -> Self {
        match s {
            ringwire_core::CallState::Dialing => CallState::Dialing,
            ringwire_core::CallState::Ringing => CallState::Ringing,
            ringwire_core::CallState::Connecting => CallState::Connecting,
            ringwire_core::CallState::Active => CallState::Active,
            ringwire_core::CallState::Reconnecting => CallState::Reconnecting,
        }
    }
}

impl From<&ringwire_core::CallSnapshot> for CallSnapshot {
    fn from(c: &ringwire_core::CallSnapshot) -> Self {
        CallSnapshot {
            call_id: c.call_id.to_string(),
            direction: c.direction.into(),
            remote_user: c.remote_user.to_string(),
            state: c.state.into(),
            muted: c.muted,
            held: c.held,
            media_connected: c.media_connected,
        }
    }
}

impl EndReason {
    /// The protocol reason this mirrors.
    pub(crate) fn to_protocol(self) -> ringwire_proto::EndReason {
        use ringwire_proto::EndReason as P;
        match self {
            EndReason::AnsweredElsewhere => P::AnsweredElsewhere,
            EndReason::DeclinedElsewhere => P::DeclinedElsewhere,
            EndReason::Cancelled => P::Cancelled,
            EndReason::NoAnswer => P::NoAnswer,
            EndReason::Busy => P::Busy,
            EndReason::Declined => P::Declined,
            EndReason::Hangup => P::Hangup,
            EndReason::ConnectionLost => P::ConnectionLost,
            EndReason::Glare => P::Glare,
            EndReason::Unavailable => P::Unavailable,
            EndReason::MediaFailed => P::MediaFailed,
        }
    }

    /// The mirror of a protocol reason; `None` for one added after this list.
    pub(crate) fn from_protocol(r: ringwire_proto::EndReason) -> Option<Self> {
        use ringwire_proto::EndReason as P;
        Some(match r {
            P::AnsweredElsewhere => EndReason::AnsweredElsewhere,
            P::DeclinedElsewhere => EndReason::DeclinedElsewhere,
            P::Cancelled => EndReason::Cancelled,
            P::NoAnswer => EndReason::NoAnswer,
            P::Busy => EndReason::Busy,
            P::Declined => EndReason::Declined,
            P::Hangup => EndReason::Hangup,
            P::ConnectionLost => EndReason::ConnectionLost,
            P::Glare => EndReason::Glare,
            P::Unavailable => EndReason::Unavailable,
            P::MediaFailed => EndReason::MediaFailed,
            _ => return None,
        })
    }
}

impl From<&ringwire_core::CallEndReason> for CallEndReason {
    fn from(r: &ringwire_core::CallEndReason) -> Self {
        match r {
            ringwire_core::CallEndReason::Protocol { reason } => {
                match EndReason::from_protocol(*reason) {
                    Some(mirror) => CallEndReason::Protocol { reason: mirror },
                    None => CallEndReason::Other {
                        reason: reason.to_string(),
                    },
                }
            }
            ringwire_core::CallEndReason::Failed { code, detail } => CallEndReason::Failed {
                code: code.map(|c| c.to_string()),
                detail: detail.clone(),
            },
            ringwire_core::CallEndReason::MediaFailed { cause, ended_by } => {
                CallEndReason::MediaFailed {
                    cause: cause.as_str().to_owned(),
                    ended_by: ended_by.map(|r| r.to_string()),
                }
            }
        }
    }
}

impl From<ringwire_core::CallKitEndReason> for CallKitEndReason {
    fn from(r: ringwire_core::CallKitEndReason) -> Self {
        use ringwire_core::CallKitEndReason as C;
        match r {
            C::Failed => CallKitEndReason::Failed,
            C::RemoteEnded => CallKitEndReason::RemoteEnded,
            C::Unanswered => CallKitEndReason::Unanswered,
            C::AnsweredElsewhere => CallKitEndReason::AnsweredElsewhere,
            C::DeclinedElsewhere => CallKitEndReason::DeclinedElsewhere,
        }
    }
}

impl From<&ringwire_media::CallQuality> for CallQuality {
    fn from(q: &ringwire_media::CallQuality) -> Self {
        CallQuality {
            rtt_ms: q.rtt_ms,
            loss_pct: q.loss_pct,
            jitter_ms: q.jitter_ms,
            jitter_buffer_ms: q.jitter_buffer_ms,
            concealment_ratio: q.concealment_ratio,
            r_factor: q.r_factor,
            mos: q.mos,
            sources: q.sources.into(),
        }
    }
}

impl From<&ringwire_core::CallSummary> for CallSummary {
    fn from(s: &ringwire_core::CallSummary) -> Self {
        CallSummary {
            invite_to_ringing_ms: s.invite_to_ringing.map(millis),
            accept_to_first_audio_ms: s.accept_to_first_audio.map(millis),
            ring_time_ms: s.ring_time.map(millis),
            talk_time_ms: s.talk_time.map(millis),
            total_ms: millis(s.total),
            preconnected: s.preconnected,
            media_connected: s.media_connected,
            quality: s.quality.as_ref().map(CallQuality::from),
            frames_sent: s.frames_sent,
            frames_sent_with_dred: s.frames_sent_with_dred,
            frames_decoded: s.frames_decoded,
            frames_recovered_fec: s.frames_recovered_fec,
            frames_recovered_red: s.frames_recovered_red,
            frames_recovered_dred: s.frames_recovered_dred,
            frames_concealed: s.frames_concealed,
            frames_inserted: s.frames_inserted,
            frame_sources: s.frame_sources.into(),
            compressed_ms: s.compressed_ms,
            expanded_ms: s.expanded_ms,
            above_clean_delay_ms: s.above_clean_delay_ms,
            selected_pair: s.selected_pair.as_ref().map(SelectedPair::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_protocol_reason_has_its_own_variant() {
        for reason in ringwire_proto::EndReason::ALL {
            assert!(
                EndReason::from_protocol(*reason).is_some(),
                "{reason} would fall through to CallEndReason::Other"
            );
        }
    }

    #[test]
    fn a_media_failure_keeps_its_cause_and_what_ended_it() {
        let core = ringwire_core::CallEndReason::MediaFailed {
            cause: ringwire_core::MediaFailure::IceFailed,
            ended_by: Some(ringwire_proto::EndReason::MediaFailed),
        };
        assert_eq!(
            CallEndReason::from(&core),
            CallEndReason::MediaFailed {
                cause: "ice_failed".into(),
                ended_by: Some("media_failed".into()),
            }
        );
        let summary = CallSummary::from(&ringwire_core::CallSummary::default());
        assert!(!summary.media_connected);
        assert_eq!(summary.quality, None);
    }

    #[test]
    fn a_bad_call_id_is_an_invalid_argument() {
        assert!(matches!(
            call_id("not-a-call"),
            Err(RingwireError::InvalidArgument(_))
        ));
        let id = CallId::random();
        assert_eq!(call_id(&id.to_string()), Ok(id));
    }
}
