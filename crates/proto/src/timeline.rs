//! `call_timeline`: what a device saw of one call, uploaded once the call is over — the moments
//! that matter on a phone (push received, reported to the OS, ringing shown, answered, audio
//! session, media, first audio), every quality verdict, the app states and the end. The server
//! stores it beside the call record and turns it into operator figures.
//!
//! A timeline is untrusted input, parsed against fixed bounds: 1 to [`MAX_TIMELINE_EVENTS`]
//! events, in the order they happened (`at_ms` never decreases), each of a known `kind` with
//! exactly its documented fields (an unknown field is refused, so a typo in a device's recorder
//! is caught at the first upload, not months later in a dashboard). Times are UNIX milliseconds
//! on the device's clock; only `push_received.sent_at_ms` is the server's.

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::error::ProtoError;
use crate::ids::{CallId, INVALID_VALUE_PREFIX};
use crate::reason::EndReason;

/// Most events one timeline may hold.
pub const MAX_TIMELINE_EVENTS: usize = 128;

/// Defines a closed string enum with its wire spelling, `ALL` and `parse` (the store and the
/// metrics labels use the same spelling).
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling (`snake_case`), also the stored value and metrics label.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }

            /// Parses the wire spelling.
            pub fn parse(s: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// What kind of device recorded the timeline.
    #[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
    DevicePlatform {
        /// An iPhone or iPad app (CallKit, PushKit).
        Ios => "ios",
        /// An Android app (ConnectionService, FCM).
        Android => "android",
        /// A browser page.
        Web => "web",
        /// A desktop or command-line softphone on the native engine.
        Native => "native",
    }
}

wire_enum! {
    /// Which way the call went, from the recording device's point of view.
    CallDirection {
        /// The device was called (a callee device).
        Incoming => "incoming",
        /// The device placed the call (the caller device).
        Outgoing => "outgoing",
    }
}

wire_enum! {
    /// How the call sounded, as the engine judged it.
    #[cfg_attr(feature = "uniffi", derive(uniffi::Enum), uniffi(name = "Verdict"))]
    QualityVerdict {
        Good => "good",
        Fair => "fair",
        Poor => "poor",
    }
}

wire_enum! {
    /// Why the verdict is what it is.
    #[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
    QualityCause {
        /// Packets lost on the way.
        NetworkLoss => "network_loss",
        /// Round-trip time too long for a conversation.
        NetworkDelay => "network_delay",
        /// Arrival times vary too much.
        Jitter => "jitter",
        /// The audio thread missed its deadlines on this device.
        Cpu => "cpu",
        /// Nothing arrives from the other end.
        NoAudioReceived => "no_audio_received",
        /// The other end sends silence on purpose.
        FarEndMuted => "far_end_muted",
    }
}

wire_enum! {
    /// What the engine did about poor quality.
    #[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
    QualityAction {
        AddedRedundancy => "added_redundancy",
        LoweredBitrate => "lowered_bitrate",
        SwitchedToRelay => "switched_to_relay",
        RestartedIce => "restarted_ice",
    }
}

wire_enum! {
    /// The app's state as the OS reports it.
    AppState {
        Foreground => "foreground",
        Background => "background",
        Locked => "locked",
        Suspended => "suspended",
    }
}

/// How the call ended on the device: a protocol end reason (`media_failed` among them), or
/// `failed` when the call never got going (the server refused the invite, or it could not be
/// set up at all).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(type = "EndReason | \"failed\""))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TimelineEndReason {
    /// One of the protocol's end reasons (section 7 of `docs/protocol.md`).
    Protocol(EndReason),
    /// The call never got going.
    Failed,
}

impl TimelineEndReason {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineEndReason::Protocol(reason) => reason.as_str(),
            TimelineEndReason::Failed => "failed",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<TimelineEndReason> {
        match s {
            "failed" => Some(TimelineEndReason::Failed),
            other => EndReason::parse(other).map(TimelineEndReason::Protocol),
        }
    }
}

impl fmt::Display for TimelineEndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for TimelineEndReason {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        TimelineEndReason::parse(&s).ok_or_else(|| {
            let shown: String = s.chars().take(32).collect();
            format!(
                "{INVALID_VALUE_PREFIX}: ended.reason {shown:?} is neither an end reason nor \
                 \"failed\""
            )
        })
    }
}

impl From<TimelineEndReason> for String {
    fn from(r: TimelineEndReason) -> String {
        r.as_str().to_owned()
    }
}

/// What happened at one moment of the call. Tagged by `kind` on the wire, beside `at_ms`.
// Every variant is a struct, even without fields: serde refuses unknown fields only in struct
// variants (a unit variant of an internally tagged enum ignores them).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(optional_fields))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum TimelineEventKind {
    /// The incoming-call push arrived.
    PushReceived {
        /// When the server sent the push (server clock), from the push payload.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sent_at_ms: Option<u64>,
    },
    /// The call was reported to the OS (CallKit `reportNewIncomingCall`, `addNewIncomingCall`).
    ReportedToOs {},
    /// The incoming-call screen (or the outgoing call's ringback) was shown.
    RingingShown {},
    /// The user answered on this device.
    Answered {
        /// Answered from the lock screen (rather than with the app in the foreground).
        from_lock_screen: bool,
    },
    /// The OS activated the audio session.
    AudioSessionActivated {},
    /// The media path (ICE and DTLS) connected.
    MediaConnected {},
    /// The first audio from the other end was played.
    FirstAudio {},
    /// The quality verdict changed.
    Quality {
        verdict: QualityVerdict,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<QualityCause>,
        /// What the engine did about it, if anything.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<QualityAction>,
    },
    /// The app's state changed.
    AppState { state: AppState },
    /// The call ended on this device.
    Ended {
        reason: TimelineEndReason,
        /// The end was this device's own doing (its user, or its engine giving up).
        ended_locally: bool,
    },
}

impl TimelineEventKind {
    /// The wire `kind`.
    pub fn name(&self) -> &'static str {
        match self {
            TimelineEventKind::PushReceived { .. } => "push_received",
            TimelineEventKind::ReportedToOs {} => "reported_to_os",
            TimelineEventKind::RingingShown {} => "ringing_shown",
            TimelineEventKind::Answered { .. } => "answered",
            TimelineEventKind::AudioSessionActivated {} => "audio_session_activated",
            TimelineEventKind::MediaConnected {} => "media_connected",
            TimelineEventKind::FirstAudio {} => "first_audio",
            TimelineEventKind::Quality { .. } => "quality",
            TimelineEventKind::AppState { .. } => "app_state",
            TimelineEventKind::Ended { .. } => "ended",
        }
    }
}

/// One event: when (device clock, UNIX ms) and what. On the wire, one object with `at_ms`,
/// `kind` and the kind's fields.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TimelineEvent {
    pub at_ms: u64,
    #[serde(flatten)]
    #[cfg_attr(feature = "ts", ts(flatten))]
    pub kind: TimelineEventKind,
}

impl TimelineEvent {
    pub fn new(at_ms: u64, kind: TimelineEventKind) -> TimelineEvent {
        TimelineEvent { at_ms, kind }
    }
}

// By hand, because serde cannot refuse unknown fields beside a flattened field: `at_ms` is
// taken out and the rest must be exactly one kind's fields.
impl<'de> Deserialize<'de> for TimelineEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut fields = Map::<String, Value>::deserialize(d)?;
        let at_ms = fields
            .remove("at_ms")
            .ok_or_else(|| D::Error::missing_field("at_ms"))?;
        let at_ms = u64::deserialize(at_ms)
            .map_err(|e| D::Error::custom(format!("at_ms must be UNIX milliseconds: {e}")))?;
        let kind =
            TimelineEventKind::deserialize(Value::Object(fields)).map_err(D::Error::custom)?;
        Ok(TimelineEvent { at_ms, kind })
    }
}

/// `call_timeline`: one device's timeline of one call. Only a valid timeline can be built: 1 to
/// [`MAX_TIMELINE_EVENTS`] events whose `at_ms` never decreases.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(as = "RawCallTimeline"))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawCallTimeline", into = "RawCallTimeline")]
pub struct CallTimeline {
    call_id: CallId,
    platform: DevicePlatform,
    direction: CallDirection,
    events: Vec<TimelineEvent>,
}

impl CallTimeline {
    /// Checks the events (see the type docs); the error is [`ProtoError::InvalidField`] naming
    /// `events` (code `invalid_field`).
    pub fn new(
        call_id: CallId,
        platform: DevicePlatform,
        direction: CallDirection,
        events: Vec<TimelineEvent>,
    ) -> Result<CallTimeline, ProtoError> {
        if events.is_empty() || events.len() > MAX_TIMELINE_EVENTS {
            return Err(invalid_events(format!(
                "holds {} events; a timeline has 1-{MAX_TIMELINE_EVENTS}",
                events.len()
            )));
        }
        if let Some(i) = events.windows(2).position(|w| w[1].at_ms < w[0].at_ms) {
            return Err(invalid_events(format!(
                "are out of order: event {} ({}) is at {} ms, before event {} at {} ms",
                i + 1,
                events[i + 1].kind.name(),
                events[i + 1].at_ms,
                i,
                events[i].at_ms
            )));
        }
        Ok(CallTimeline {
            call_id,
            platform,
            direction,
            events,
        })
    }

    /// The call.
    pub fn call_id(&self) -> CallId {
        self.call_id
    }

    /// The recording device's kind.
    pub fn platform(&self) -> DevicePlatform {
        self.platform
    }

    /// Incoming (callee device) or outgoing (caller device).
    pub fn direction(&self) -> CallDirection {
        self.direction
    }

    /// The events, oldest first.
    pub fn events(&self) -> &[TimelineEvent] {
        &self.events
    }
}

fn invalid_events(detail: String) -> ProtoError {
    ProtoError::InvalidField {
        field: "events".to_owned(),
        detail,
    }
}

/// The wire shape, before the events are checked.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "CallTimeline"))]
#[derive(Serialize, Deserialize)]
struct RawCallTimeline {
    call_id: CallId,
    platform: DevicePlatform,
    direction: CallDirection,
    events: Vec<TimelineEvent>,
}

impl TryFrom<RawCallTimeline> for CallTimeline {
    type Error = String;
    fn try_from(raw: RawCallTimeline) -> Result<Self, String> {
        CallTimeline::new(raw.call_id, raw.platform, raw.direction, raw.events)
            .map_err(|e| format!("{INVALID_VALUE_PREFIX}: {e}"))
    }
}

impl From<CallTimeline> for RawCallTimeline {
    fn from(t: CallTimeline) -> RawCallTimeline {
        RawCallTimeline {
            call_id: t.call_id,
            platform: t.platform,
            direction: t.direction,
            events: t.events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode_client, encode};
    use crate::error::ErrorCode;
    use crate::message::ClientMessage;
    use crate::MAX_FRAME_BYTES;

    const CALL: &str = "3f9c2a7e5b1d4c8fa0e6b2d9c4f17a35";

    fn frame(events: &str) -> String {
        format!(
            r#"{{"type":"call_timeline","call_id":"{CALL}","platform":"ios","direction":"incoming","events":[{events}]}}"#
        )
    }

    fn refused(events: &str) -> ProtoError {
        decode_client(&frame(events)).expect_err("refused")
    }

    fn every_kind() -> Vec<TimelineEvent> {
        use TimelineEventKind as K;
        let t = 1_767_225_600_000;
        vec![
            TimelineEvent::new(
                t,
                K::PushReceived {
                    sent_at_ms: Some(t - 350),
                },
            ),
            TimelineEvent::new(t + 40, K::ReportedToOs {}),
            TimelineEvent::new(
                t + 41,
                K::AppState {
                    state: AppState::Locked,
                },
            ),
            TimelineEvent::new(t + 60, K::RingingShown {}),
            TimelineEvent::new(
                t + 3000,
                K::Answered {
                    from_lock_screen: true,
                },
            ),
            TimelineEvent::new(t + 3100, K::AudioSessionActivated {}),
            TimelineEvent::new(t + 3100, K::MediaConnected {}),
            TimelineEvent::new(t + 3300, K::FirstAudio {}),
            TimelineEvent::new(
                t + 3300,
                K::Quality {
                    verdict: QualityVerdict::Good,
                    cause: None,
                    action: None,
                },
            ),
            TimelineEvent::new(
                t + 9000,
                K::Quality {
                    verdict: QualityVerdict::Poor,
                    cause: Some(QualityCause::NetworkLoss),
                    action: Some(QualityAction::AddedRedundancy),
                },
            ),
            TimelineEvent::new(
                t + 20_000,
                K::Ended {
                    reason: TimelineEndReason::Protocol(EndReason::Hangup),
                    ended_locally: false,
                },
            ),
            TimelineEvent::new(
                t + 20_000,
                K::Ended {
                    reason: TimelineEndReason::Failed,
                    ended_locally: true,
                },
            ),
        ]
    }

    #[test]
    fn every_kind_round_trips_in_the_documented_shape() {
        let timeline = CallTimeline::new(
            CALL.parse().unwrap(),
            DevicePlatform::Ios,
            CallDirection::Incoming,
            every_kind(),
        )
        .unwrap();
        let msg = ClientMessage::CallTimeline(timeline.clone());
        let text = encode(&msg);
        assert_eq!(decode_client(&text).unwrap(), msg);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "call_timeline");
        assert_eq!(v["platform"], "ios");
        assert_eq!(v["direction"], "incoming");
        assert_eq!(
            v["events"][0],
            serde_json::json!({"at_ms": 1_767_225_600_000u64, "kind": "push_received", "sent_at_ms": 1_767_225_599_650u64})
        );
        assert_eq!(
            v["events"][1],
            serde_json::json!({"at_ms": 1_767_225_600_040u64, "kind": "reported_to_os"})
        );
        assert_eq!(v["events"][8]["kind"], "quality");
        assert!(v["events"][8].get("cause").is_none(), "absent, not null");
        assert_eq!(v["events"][10]["reason"], "hangup");
        assert_eq!(v["events"][11]["reason"], "failed");
        assert_eq!(msg.call_id(), Some(timeline.call_id()));
        assert!(!msg.is_call_action());
    }

    #[test]
    fn a_minimal_upload_decodes_and_nulls_are_absent() {
        let text = frame(
            r#"{"at_ms":5,"kind":"push_received"},{"at_ms":5,"kind":"quality","verdict":"fair","cause":null,"action":null},{"at_ms":9,"kind":"ended","reason":"media_failed","ended_locally":true}"#,
        );
        let ClientMessage::CallTimeline(t) = decode_client(&text).unwrap() else {
            panic!("not a timeline");
        };
        assert_eq!(t.events().len(), 3);
        assert_eq!(
            t.events()[0].kind,
            TimelineEventKind::PushReceived { sent_at_ms: None }
        );
        assert_eq!(
            t.events()[2].kind,
            TimelineEventKind::Ended {
                reason: TimelineEndReason::Protocol(EndReason::MediaFailed),
                ended_locally: true
            }
        );
    }

    #[test]
    fn unknown_fields_in_events_are_refused_even_on_kinds_without_fields() {
        for events in [
            r#"{"at_ms":1,"kind":"reported_to_os","extra":1}"#,
            r#"{"at_ms":1,"kind":"answered","from_lock_screen":true,"from_lockscreen":true}"#,
            r#"{"at_ms":1,"kind":"quality","verdict":"poor","casue":"jitter"}"#,
            r#"{"at_ms":1,"kind":"push_received","sent_at":5}"#,
        ] {
            let e = refused(events);
            assert_eq!(e.code(), ErrorCode::InvalidField, "{events}: {e}");
            assert!(e.to_string().contains("unknown field"), "{e}");
        }
    }

    #[test]
    fn bad_kinds_values_and_missing_fields_are_refused_with_their_codes() {
        for (events, code) in [
            (
                r#"{"at_ms":1,"kind":"teleported"}"#,
                ErrorCode::InvalidField,
            ),
            (r#"{"at_ms":1}"#, ErrorCode::MissingField),
            (r#"{"kind":"first_audio"}"#, ErrorCode::MissingField),
            (
                r#"{"at_ms":-1,"kind":"first_audio"}"#,
                ErrorCode::InvalidField,
            ),
            (
                r#"{"at_ms":1.5,"kind":"first_audio"}"#,
                ErrorCode::InvalidField,
            ),
            (
                r#"{"at_ms":"1","kind":"first_audio"}"#,
                ErrorCode::InvalidField,
            ),
            (r#"{"at_ms":1,"kind":"answered"}"#, ErrorCode::MissingField),
            (
                r#"{"at_ms":1,"kind":"quality","verdict":"awful"}"#,
                ErrorCode::InvalidField,
            ),
            (
                r#"{"at_ms":1,"kind":"quality","verdict":"poor","cause":"sunspots"}"#,
                ErrorCode::InvalidField,
            ),
            (
                r#"{"at_ms":1,"kind":"app_state","state":"asleep"}"#,
                ErrorCode::InvalidField,
            ),
            (
                r#"{"at_ms":1,"kind":"ended","reason":"bored","ended_locally":false}"#,
                ErrorCode::InvalidField,
            ),
            (
                r#"{"at_ms":1,"kind":"ended","reason":"hangup"}"#,
                ErrorCode::MissingField,
            ),
            (r#"7"#, ErrorCode::InvalidField),
        ] {
            assert_eq!(refused(events).code(), code, "{events}");
        }
        let no_platform = format!(
            r#"{{"type":"call_timeline","call_id":"{CALL}","direction":"incoming","events":[]}}"#
        );
        assert_eq!(
            decode_client(&no_platform).unwrap_err(),
            ProtoError::MissingField("platform".into())
        );
        let bad_platform = frame("").replace("\"ios\"", "\"symbian\"");
        assert_eq!(
            decode_client(&bad_platform).unwrap_err().code(),
            ErrorCode::InvalidField
        );
        let bad_id = frame(r#"{"at_ms":1,"kind":"first_audio"}"#).replace(CALL, "nope");
        assert_eq!(
            decode_client(&bad_id).unwrap_err().code(),
            ErrorCode::InvalidId
        );
    }

    #[test]
    fn events_must_be_in_order_and_between_1_and_128() {
        let e = refused(
            r#"{"at_ms":10,"kind":"ringing_shown"},{"at_ms":9,"kind":"answered","from_lock_screen":false}"#,
        );
        assert_eq!(e.code(), ErrorCode::InvalidField);
        assert!(e.to_string().contains("out of order"), "{e}");
        assert!(e.to_string().contains("answered"), "{e}");
        assert_eq!(refused("").code(), ErrorCode::InvalidField);

        let event = r#"{"at_ms":1,"kind":"first_audio"}"#;
        let at_limit = vec![event; MAX_TIMELINE_EVENTS].join(",");
        assert!(decode_client(&frame(&at_limit)).is_ok());
        let over = vec![event; MAX_TIMELINE_EVENTS + 1].join(",");
        let e = refused(&over);
        assert_eq!(e.code(), ErrorCode::InvalidField);
        assert!(e.to_string().contains("129 events"), "{e}");

        let built = CallTimeline::new(
            CALL.parse().unwrap(),
            DevicePlatform::Web,
            CallDirection::Outgoing,
            vec![TimelineEvent::new(1, TimelineEventKind::FirstAudio {}); 129],
        );
        assert!(
            matches!(built, Err(ProtoError::InvalidField { ref field, .. }) if field == "events")
        );
    }

    #[test]
    fn the_largest_timeline_fits_in_a_frame() {
        // 128 of the largest event, with every optional field: a recorder that keeps the limit
        // never hits the frame limit.
        let event = TimelineEvent::new(
            u64::MAX,
            TimelineEventKind::Quality {
                verdict: QualityVerdict::Good,
                cause: Some(QualityCause::NoAudioReceived),
                action: Some(QualityAction::SwitchedToRelay),
            },
        );
        let timeline = CallTimeline::new(
            CALL.parse().unwrap(),
            DevicePlatform::Android,
            CallDirection::Outgoing,
            vec![event; MAX_TIMELINE_EVENTS],
        )
        .unwrap();
        let text = encode(&ClientMessage::CallTimeline(timeline));
        assert!(text.len() < MAX_FRAME_BYTES / 3, "{} bytes", text.len());
    }

    #[test]
    fn wire_spellings_parse_back() {
        for p in DevicePlatform::ALL {
            assert_eq!(DevicePlatform::parse(p.as_str()), Some(*p));
            assert_eq!(serde_json::to_string(p).unwrap(), format!("\"{p}\""));
        }
        for v in QualityVerdict::ALL {
            assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{v}\""));
        }
        for c in QualityCause::ALL {
            assert_eq!(serde_json::to_string(c).unwrap(), format!("\"{c}\""));
        }
        for a in QualityAction::ALL {
            assert_eq!(serde_json::to_string(a).unwrap(), format!("\"{a}\""));
        }
        for s in AppState::ALL {
            assert_eq!(serde_json::to_string(s).unwrap(), format!("\"{s}\""));
        }
        for r in EndReason::ALL {
            let reason = TimelineEndReason::Protocol(*r);
            assert_eq!(TimelineEndReason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(
            TimelineEndReason::parse("failed"),
            Some(TimelineEndReason::Failed)
        );
        assert_eq!(TimelineEndReason::parse("ice_failed"), None);
    }
}
