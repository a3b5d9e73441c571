//! The adapters kept on purpose: records and enums whose foreign shape differs from the engine's
//! type, and the conversions into them. Everything the bindings export as the engine defines
//! it (`Direction`, `AppState`, `CallState`, `CallSnapshot`, `EndReason`, `CallKitEndReason`,
//! `CallQuality`, `FrameSources`, `PushCall`, `HostAudioStats`, `DevicePlatform`, the quality
//! verdict) derives its UniFFI form on that type, in `ringwire-core`, `ringwire-proto` or
//! `ringwire-media` (their `uniffi` feature), and is re-exported from [`super`]. What is left
//! here differs on purpose:
//!
//! - [`CallEndReason`]: the protocol error code and the media failure's cause cross as their
//!   wire spellings, so an app shows and logs them as they are and a code the server adds
//!   needs no binding change. (Its `Other` variant is no longer produced: the bindings'
//!   `EndReason` is the protocol's own enum, so every reason has its variant.)
//! - [`CallSummary`]: durations as whole milliseconds (`…_ms`) instead of `Duration`s, and
//!   only what an app shows (the core summary's gathering failures and TURN allocations are
//!   not part of it).
//! - [`SelectedPair`]: candidate types as WebRTC's strings, and without the local address the
//!   core keeps (privacy).
//!
//! Ids and names cross as strings (call and device ids: 32 lowercase hex digits; user names as
//! the server spells them).

use std::time::Duration;

use ringwire_media::{CallQuality, FrameSources};
use ringwire_proto::{CallId, EndReason};

use super::RingwireError;

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
    /// A protocol end reason by its wire spelling, for one the bindings' [`EndReason`] lacks.
    /// Not produced today: `EndReason` is the protocol's own enum, so every reason has its
    /// variant; kept so an app's exhaustive `switch` written against earlier bindings stays
    /// valid.
    Other { reason: String },
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

/// Parses a call id from the app. Call ids come from events and snapshots, so a bad one is a
/// bug in the app; the message says what a good one looks like.
pub(crate) fn call_id(text: &str) -> Result<CallId, RingwireError> {
    text.parse().map_err(RingwireError::InvalidArgument)
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl From<&ringwire_core::CallEndReason> for CallEndReason {
    fn from(r: &ringwire_core::CallEndReason) -> Self {
        match r {
            ringwire_core::CallEndReason::Protocol { reason } => {
                CallEndReason::Protocol { reason: *reason }
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
            quality: s.quality,
            frames_sent: s.frames_sent,
            frames_sent_with_dred: s.frames_sent_with_dred,
            frames_decoded: s.frames_decoded,
            frames_recovered_fec: s.frames_recovered_fec,
            frames_recovered_red: s.frames_recovered_red,
            frames_recovered_dred: s.frames_recovered_dred,
            frames_concealed: s.frames_concealed,
            frames_inserted: s.frames_inserted,
            frame_sources: s.frame_sources,
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
