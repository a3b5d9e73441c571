//! Incoming-call pushes as the phone receives them: parsing the payload the server's push
//! gateway sends (APNs VoIP top-level fields, or an FCM data map whose values are all strings;
//! both read by `ringwire_proto::PushPayload`, the type the gateway builds them from) into what
//! the app needs to report the call to the OS at once. The payload is untrusted: every field is
//! validated, sizes are bounded.

use ringwire_proto::{CallId, DeviceId, DisplayName, ProtoError, PushKind, PushPayload, UserName};

use crate::CoreError;

/// Everything the app needs for `reportNewIncomingCall` (CallKit) or
/// `addNewIncomingCall` (ConnectionService), returned by `handle_push` at once.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushCall {
    pub call_id: CallId,
    pub from_user: UserName,
    pub from_display_name: Option<DisplayName>,
    pub from_device: DeviceId,
    /// When the call stops ringing, server clock (UNIX ms).
    pub ring_deadline_ms: u64,
    /// The engine already knew this call (from signaling, or an earlier push for it): the app
    /// reported it already and must not report it twice.
    pub already_known: bool,
}

/// A parsed incoming-call push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvitePush {
    pub call_id: CallId,
    pub from_user: UserName,
    pub from_display_name: Option<DisplayName>,
    pub from_device: DeviceId,
    pub ring_deadline_ms: u64,
    /// When the server sent it (server clock), if it says: the push's delay, for analytics.
    pub sent_at_ms: Option<u64>,
}

/// Parses a push payload ([`PushPayload::parse`] validates every field). Missed-call pushes
/// are notifications for the app to show, not calls: they are refused here with a clear error.
pub(crate) fn parse(payload: &[u8]) -> Result<InvitePush, CoreError> {
    let p = PushPayload::parse(payload).map_err(|e| CoreError::BadPush {
        detail: match e {
            ProtoError::PushPayload(detail) => detail,
            other => other.to_string(),
        },
    })?;
    if p.kind == PushKind::MissedCall {
        return Err(CoreError::BadPush {
            detail: "a missed-call push is a notification to show, not a call to report".into(),
        });
    }
    Ok(InvitePush {
        call_id: p.call_id,
        from_user: p.from_user,
        from_display_name: p.from_display_name,
        from_device: p.from_device,
        ring_deadline_ms: p.ring_deadline_ms,
        sent_at_ms: p.sent_at_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = "0123456789abcdef0123456789abcdef";
    const DEV: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn reads_the_apns_and_the_fcm_forms() {
        let apns = format!(
            r#"{{"ringwire":1,"kind":"invite","call_id":"{CALL}","from_user":"alice","from_display_name":"Alice L.","from_device":"{DEV}","ring_deadline_ms":1795420045000}}"#
        );
        let fcm = format!(
            r#"{{"ringwire":"1","kind":"invite","call_id":"{CALL}","from_user":"alice","from_device":"{DEV}","ring_deadline_ms":"1795420045000"}}"#
        );
        let a = parse(apns.as_bytes()).expect("apns");
        let f = parse(fcm.as_bytes()).expect("fcm");
        assert_eq!(a.call_id, f.call_id);
        assert_eq!(a.ring_deadline_ms, 1_795_420_045_000);
        assert_eq!(
            a.from_display_name.as_ref().map(|d| d.as_str()),
            Some("Alice L.")
        );
        assert_eq!(f.from_display_name, None);
    }

    #[test]
    fn refuses_what_is_not_an_incoming_call_push() {
        // Field-by-field validation is PushPayload's (ringwire-proto); here: its refusals
        // arrive as BadPush with the reason, and a missed-call push is not a call.
        let err = |p: String| match parse(p.as_bytes()) {
            Err(CoreError::BadPush { detail }) => detail,
            other => panic!("expected BadPush, got {other:?}"),
        };
        assert!(err("nope".into()).contains("not JSON"));
        assert!(err(format!(
            r#"{{"ringwire":1,"kind":"missed_call","call_id":"{CALL}","from_user":"a","from_device":"{DEV}","ring_deadline_ms":1}}"#
        ))
        .contains("notification"));
        assert!(err("x".repeat(ringwire_proto::APNS_MAX_PAYLOAD + 1)).contains("at most"));
    }
}
