//! Incoming-call pushes as the phone receives them: parsing the payload the server's push
//! gateway sends (APNs VoIP top-level fields, or an FCM data map whose values are all strings;
//! `crates/server/src/push/payload.rs`) into what the app needs to report the call to the OS
//! at once. The payload is untrusted: every field is validated, sizes are bounded.

use ringwire_proto::{CallId, DeviceId, DisplayName, UserName};
use serde_json::Value;

use crate::CoreError;

/// APNs' VoIP payload limit; anything larger did not come from our gateway.
pub const MAX_PUSH_BYTES: usize = 5120;
/// The payload versions this engine understands (`"ringwire"` field).
pub const PUSH_VERSION: u64 = 1;

/// Everything the app needs for `reportNewIncomingCall` (CallKit) or
/// `addNewIncomingCall` (ConnectionService), returned by `handle_push` at once.
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
}

/// Parses a push payload. Missed-call pushes are notifications for the app to show, not calls:
/// they are refused here with a clear error.
pub(crate) fn parse(payload: &[u8]) -> Result<InvitePush, CoreError> {
    let bad = |detail: String| CoreError::BadPush { detail };
    if payload.len() > MAX_PUSH_BYTES {
        return Err(bad(format!(
            "{} bytes; a ringwire push is at most {MAX_PUSH_BYTES}",
            payload.len()
        )));
    }
    let value: Value =
        serde_json::from_slice(payload).map_err(|e| bad(format!("not JSON: {e}")))?;
    let m = value
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    // FCM data values are strings; APNs fields keep their JSON types. Accept both.
    let text = |key: &str| -> Option<String> {
        match m.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let field = |key: &'static str| text(key).ok_or_else(|| bad(format!("missing `{key}`")));
    let version: u64 = field("ringwire")?
        .parse()
        .map_err(|_| bad("`ringwire` is not a version number".into()))?;
    if version != PUSH_VERSION {
        return Err(bad(format!(
            "payload version {version}; this engine reads version {PUSH_VERSION}: update the app"
        )));
    }
    match field("kind")?.as_str() {
        "invite" => {}
        "missed_call" => {
            return Err(bad(
                "a missed-call push is a notification to show, not a call to report".into(),
            ))
        }
        other => return Err(bad(format!("unknown kind {other:?}"))),
    }
    let parse_as = |key: &'static str, what: &str| -> Result<String, CoreError> {
        field(key).map_err(|_| bad(format!("missing `{key}` ({what})")))
    };
    Ok(InvitePush {
        call_id: parse_as("call_id", "call id")?
            .parse()
            .map_err(|_| bad("`call_id` is not 32 lowercase hex digits".into()))?,
        from_user: parse_as("from_user", "user name")?
            .parse()
            .map_err(|_| bad("`from_user` is not a user name".into()))?,
        from_display_name: match text("from_display_name") {
            Some(name) => Some(
                name.parse()
                    .map_err(|_| bad("`from_display_name` is not a display name".into()))?,
            ),
            None => None,
        },
        from_device: parse_as("from_device", "device id")?
            .parse()
            .map_err(|_| bad("`from_device` is not 32 lowercase hex digits".into()))?,
        ring_deadline_ms: parse_as("ring_deadline_ms", "UNIX ms")?
            .parse()
            .map_err(|_| bad("`ring_deadline_ms` is not a UNIX time in ms".into()))?,
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
        let err = |p: String| match parse(p.as_bytes()) {
            Err(CoreError::BadPush { detail }) => detail,
            other => panic!("expected BadPush, got {other:?}"),
        };
        assert!(err("nope".into()).contains("not JSON"));
        assert!(err("[]".into()).contains("object"));
        assert!(err(r#"{"ringwire":2,"kind":"invite"}"#.into()).contains("update the app"));
        assert!(err(r#"{"ringwire":1,"kind":"missed_call"}"#.into()).contains("notification"));
        assert!(err(format!(
            r#"{{"ringwire":1,"kind":"invite","call_id":"XYZ","from_user":"a","from_device":"{DEV}","ring_deadline_ms":1}}"#
        ))
        .contains("call_id"));
        assert!(err(format!(
            r#"{{"ringwire":1,"kind":"invite","call_id":"{CALL}","from_user":"a","from_device":"{DEV}"}}"#
        ))
        .contains("ring_deadline_ms"));
        assert!(err("x".repeat(MAX_PUSH_BYTES + 1)).contains("at most"));
    }
}
