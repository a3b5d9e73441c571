//! What the engine tells the app: [`Report`]s shaped like CallKit's provider calls, and how a
//! call ended ([`CallEndReason`], mapped to CallKit's `CXCallEndedReason` by
//! [`CallKitEndReason`]). The Android adapter (self-managed ConnectionService) maps the same
//! reports to `Connection` state changes.

use std::time::Duration;

use ringwire_media::CallQuality;
use ringwire_proto::{CallId, DeviceId, DisplayName, EndReason, ErrorCode, UserName};
use serde::Serialize;

/// Which way a call goes, from this device's point of view.
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Outgoing,
    Incoming,
}

/// Why a call ended on this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallEndReason {
    /// One of the protocol's end reasons (from the server, from the peer in-band, or decided
    /// here and sent to the server).
    Protocol { reason: EndReason },
    /// The call never started: the server refused the invite (unknown user, calling yourself,
    /// rate limited, ...) or the call could not be set up at all.
    Failed {
        code: Option<ErrorCode>,
        detail: String,
    },
    /// The call was answered but its media never connected, so nobody heard anything:
    /// `cause` says what was missing; `ended_by` is the protocol reason that ended it in the
    /// meantime: `hangup` when a user hung up (here or there), `media_failed` when an engine
    /// gave up after `AgentConfig::media_timeout`. Never a good call, whatever ended it.
    MediaFailed {
        cause: MediaFailure,
        ended_by: Option<EndReason>,
    },
}

/// Why an answered call's media never connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaFailure {
    /// No WebRTC connection to the answering device existed (its offer or answer never came).
    NoConnection,
    /// ICE found no working candidate pair: it failed, or was still checking when the call
    /// ended.
    IceFailed,
    /// ICE connected but the DTLS-SRTP handshake never finished.
    DtlsFailed,
}

impl MediaFailure {
    /// The `snake_case` spelling (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            MediaFailure::NoConnection => "no_connection",
            MediaFailure::IceFailed => "ice_failed",
            MediaFailure::DtlsFailed => "dtls_failed",
        }
    }
}

impl CallEndReason {
    /// A protocol end reason.
    pub fn protocol(reason: EndReason) -> Self {
        CallEndReason::Protocol { reason }
    }

    /// The protocol reason, if this is one (a call whose media failed has none: it was not
    /// the call the protocol reason describes).
    pub fn as_protocol(&self) -> Option<EndReason> {
        match self {
            CallEndReason::Protocol { reason } => Some(*reason),
            CallEndReason::Failed { .. } | CallEndReason::MediaFailed { .. } => None,
        }
    }
}

/// CallKit's `CXCallEndedReason`, the vocabulary an app uses to end a call it reported when the
/// end did not come from the user's own action on this device.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CallKitEndReason {
    Failed,
    RemoteEnded,
    Unanswered,
    AnsweredElsewhere,
    DeclinedElsewhere,
}

impl CallKitEndReason {
    /// How the app reports an end it did not cause; `None` when the user ended the call on
    /// this device (CallKit already knows: the end action was the cause).
    pub fn for_end(reason: &CallEndReason, ended_locally: bool) -> Option<CallKitEndReason> {
        if ended_locally {
            return None;
        }
        Some(match reason {
            CallEndReason::Failed { .. } | CallEndReason::MediaFailed { .. } => {
                CallKitEndReason::Failed
            }
            CallEndReason::Protocol { reason } => match reason {
                EndReason::AnsweredElsewhere => CallKitEndReason::AnsweredElsewhere,
                EndReason::DeclinedElsewhere => CallKitEndReason::DeclinedElsewhere,
                EndReason::NoAnswer => CallKitEndReason::Unanswered,
                EndReason::ConnectionLost | EndReason::Unavailable | EndReason::MediaFailed => {
                    CallKitEndReason::Failed
                }
                EndReason::Cancelled
                | EndReason::Busy
                | EndReason::Declined
                | EndReason::Hangup
                | EndReason::Glare => CallKitEndReason::RemoteEnded,
                // A reason added to the protocol later: the far side ended it.
                _ => CallKitEndReason::RemoteEnded,
            },
        })
    }
}

/// Timings and totals of one call, for the call report the CLI prints and the app may log.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallSummary {
    /// Invite sent (outgoing) or incoming reported → the first remote device rang
    /// (outgoing) or `ringing` was sent (incoming).
    pub invite_to_ringing: Option<Duration>,
    /// Accept known on this device (pressed here, or `accepted`/in-band accept received) → the
    /// first decoded audio frame played.
    pub accept_to_first_audio: Option<Duration>,
    /// Call start → accept.
    pub ring_time: Option<Duration>,
    /// Accept → end.
    pub talk_time: Option<Duration>,
    /// Call start → end.
    pub total: Duration,
    /// Whether ICE and DTLS had finished before the accept (the pre-connect worked).
    pub preconnected: bool,
    /// Whether the answered call's media path (ICE and DTLS to the answering device) was ever
    /// up. `false` for every call that was not answered.
    pub media_connected: bool,
    /// Quality at the end of the call; `None` when no audio packet ever arrived (there is
    /// nothing to estimate from, and an estimate from zeros would look perfect).
    pub quality: Option<CallQuality>,
    /// Audio frames sent and played, and how the played ones were made.
    pub frames_sent: u64,
    /// Frames sent carrying DRED history (the policy turns it on under loss).
    pub frames_sent_with_dred: u64,
    pub frames_decoded: u64,
    pub frames_recovered_fec: u64,
    /// Frames whose packet was lost, played whole from an RFC 2198 redundant copy (counted in
    /// `frames_decoded` too).
    pub frames_recovered_red: u64,
    /// Lost frames rebuilt from the DRED history of a later packet.
    pub frames_recovered_dred: u64,
    /// Lost frames played with packet-loss concealment.
    pub frames_concealed: u64,
    /// Concealment played while the jitter buffer grew its delay or waited for a late packet
    /// (not a loss).
    pub frames_inserted: u64,
    /// Every played frame by where it came from (decoded, LBRR, RED, DRED, deep PLC, classic
    /// PLC); the concealment here includes `frames_inserted` and refused payloads.
    pub frame_sources: ringwire_media::FrameSources,
    /// Audio removed by time-compressing speech to bring the delay back down after a loss
    /// episode, ms.
    pub compressed_ms: u64,
    /// Audio added by stretching speech to raise the delay ahead of loss bursts, ms.
    pub expanded_ms: u64,
    /// Time played with the delay more than 10 ms above the clean-path delay (the room left
    /// for loss recovery), ms.
    pub above_clean_delay_ms: u64,
    /// The candidate pair the media used last (types on both sides, protocol, the relay's
    /// transport); `None` if ICE never selected one.
    pub selected_pair: Option<crate::gather::SelectedPair>,
    /// STUN/TURN servers that failed during this call's gathering, readable
    /// (`TURN authentication failed at turn:…`). Never fatal unless relay-only.
    pub gathering_failures: Vec<String>,
    /// The TURN allocations this call made (after a network change, those on the new
    /// network): transport, and the time from the call's start to each relay candidate.
    pub turn_allocations: Vec<crate::gather::TurnAllocation>,
}

/// Something the app must know or act on. Handle them in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// A call came in: report it to the OS at once (CallKit `reportNewIncomingCall`).
    IncomingCall {
        call_id: CallId,
        from_user: UserName,
        from_display_name: Option<DisplayName>,
        /// The server's word that this is a replay to a device that (re)connected.
        replayed: bool,
    },
    /// An outgoing call was placed (CallKit `reportOutgoingCall(startedConnectingAt:)`).
    OutgoingStarted { call_id: CallId, to_user: UserName },
    /// The callee's phone rings: play ringback.
    RemoteRinging { call_id: CallId },
    /// The call was answered (here or by the far end) and media is being released: stop
    /// ringing/ringback. Audio starts once the audio session is active.
    Answered {
        call_id: CallId,
        remote_device: DeviceId,
    },
    /// Media flows both ways (CallKit `reportOutgoingCall(connectedAt:)`).
    Connected { call_id: CallId },
    /// The first decoded audio frame of the call was played.
    FirstAudio { call_id: CallId },
    /// The far end pressed a DTMF key (`0`-`9`, `*`, `#`, `A`-`D`), reported once per press
    /// as its RFC 4733 event starts.
    DtmfReceived { call_id: CallId, digit: char },
    /// The network path broke; the engine is trying to restore it.
    Reconnecting { call_id: CallId },
    /// The path is back.
    Reconnected { call_id: CallId },
    /// Periodic call quality, once audio has arrived (never estimated from nothing).
    Quality {
        call_id: CallId,
        quality: CallQuality,
    },
    /// The call's quality verdict changed (see [`crate::quality`] for the thresholds and the
    /// hysteresis): show it, with the cause and what the engine did about it.
    QualityChanged {
        call_id: CallId,
        verdict: crate::QualityChange,
    },
    /// The call is over. `callkit` says how to report it (`None`: the user ended it here).
    Ended {
        call_id: CallId,
        direction: Direction,
        reason: CallEndReason,
        ended_locally: bool,
        callkit: Option<CallKitEndReason>,
        summary: Box<CallSummary>,
    },
    /// A command was refused or an error needs the app's attention; the call (if any) goes on.
    Error {
        call_id: Option<CallId>,
        message: String,
    },
}

impl Report {
    /// The call this report is about, if any.
    pub fn call_id(&self) -> Option<CallId> {
        match self {
            Report::IncomingCall { call_id, .. }
            | Report::OutgoingStarted { call_id, .. }
            | Report::RemoteRinging { call_id }
            | Report::Answered { call_id, .. }
            | Report::Connected { call_id }
            | Report::FirstAudio { call_id }
            | Report::DtmfReceived { call_id, .. }
            | Report::Reconnecting { call_id }
            | Report::Reconnected { call_id }
            | Report::Quality { call_id, .. }
            | Report::QualityChanged { call_id, .. }
            | Report::Ended { call_id, .. } => Some(*call_id),
            Report::Error { call_id, .. } => *call_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callkit_reasons_follow_apples_vocabulary() {
        let p = CallEndReason::protocol;
        let remote = |r| CallKitEndReason::for_end(&r, false);
        assert_eq!(
            remote(p(EndReason::AnsweredElsewhere)),
            Some(CallKitEndReason::AnsweredElsewhere)
        );
        assert_eq!(
            remote(p(EndReason::DeclinedElsewhere)),
            Some(CallKitEndReason::DeclinedElsewhere)
        );
        assert_eq!(
            remote(p(EndReason::NoAnswer)),
            Some(CallKitEndReason::Unanswered)
        );
        assert_eq!(
            remote(p(EndReason::Hangup)),
            Some(CallKitEndReason::RemoteEnded)
        );
        assert_eq!(
            remote(p(EndReason::Cancelled)),
            Some(CallKitEndReason::RemoteEnded)
        );
        assert_eq!(
            remote(p(EndReason::ConnectionLost)),
            Some(CallKitEndReason::Failed)
        );
        assert_eq!(
            remote(p(EndReason::MediaFailed)),
            Some(CallKitEndReason::Failed),
            "a call whose media was lost for good failed; the far side did not end it"
        );
        let failed = CallEndReason::Failed {
            code: Some(ErrorCode::UserNotFound),
            detail: "no such user".into(),
        };
        assert_eq!(remote(failed), Some(CallKitEndReason::Failed));
        let media = CallEndReason::MediaFailed {
            cause: MediaFailure::IceFailed,
            ended_by: Some(EndReason::Hangup),
        };
        assert_eq!(media.as_protocol(), None);
        assert_eq!(remote(media.clone()), Some(CallKitEndReason::Failed));
        assert_eq!(
            serde_json::to_value(&media).unwrap(),
            serde_json::json!({"kind": "media_failed", "cause": "ice_failed", "ended_by": "hangup"})
        );
        assert_eq!(
            CallKitEndReason::for_end(&p(EndReason::Hangup), true),
            None,
            "an end the user caused here is not reported back to CallKit"
        );
    }
}
