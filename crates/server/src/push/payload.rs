//! What a push carries, and keeping it under each service's size limit. An incoming-call push
//! holds everything the phone needs to report the call to CallKit / ConnectionService at once,
//! before it has a socket: the call id, who calls (user, display name, device) and the ring
//! deadline (so a push that arrives late ends the call it reported instead of ringing a ghost).
//! The display name is the only field of unbounded interest, so it is what gets truncated.

use serde_json::{json, Map, Value};

use super::PushError;
use crate::record::PushKind;
use crate::router::PushRequest;

/// APNs refuses larger payloads (413) for VoIP and alert pushes.
pub const APNS_MAX_PAYLOAD: usize = 5120;
/// FCM refuses data messages whose data is larger.
pub const FCM_MAX_DATA: usize = 4096;
/// Version of the payload's field set, sent as `ringwire`; bumped when fields change meaning.
pub const PAYLOAD_VERSION: u32 = 1;
/// Title of the missed-call notification (apps that want it localized rewrite it in their
/// notification service extension, using the `ringwire` fields).
pub const MISSED_CALL_TITLE: &str = "Missed call";

/// The call fields shared by every payload, as (key, JSON value).
fn call_fields(req: &PushRequest, display_name: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("ringwire".into(), json!(PAYLOAD_VERSION));
    m.insert("kind".into(), json!(req.kind.as_str()));
    m.insert("call_id".into(), json!(req.call_id.to_string()));
    m.insert("from_user".into(), json!(req.from_user.as_str()));
    if let Some(name) = display_name {
        m.insert("from_display_name".into(), json!(name));
    }
    m.insert("from_device".into(), json!(req.from_device.to_string()));
    m.insert("ring_deadline_ms".into(), json!(req.ring_deadline_ms));
    m
}

/// The APNs payload: the call fields at the top level (a VoIP push needs no `aps`); a
/// missed-call push adds the `aps` alert.
pub fn apns(req: &PushRequest) -> Result<Vec<u8>, PushError> {
    fit(APNS_MAX_PAYLOAD, req, |name| {
        let mut m = call_fields(req, name);
        if req.kind == PushKind::MissedCall {
            let body = name.unwrap_or(req.from_user.as_str());
            m.insert(
                "aps".into(),
                json!({
                    "alert": {"title": MISSED_CALL_TITLE, "body": body},
                    "sound": "default",
                    "thread-id": "ringwire.missed_call",
                }),
            );
        }
        Value::Object(m).to_string().into_bytes()
    })
}

/// The FCM `data` map: the call fields with every value a string, as FCM requires.
pub fn fcm_data(req: &PushRequest) -> Result<Map<String, Value>, PushError> {
    let to_strings = |name: Option<&str>| -> Map<String, Value> {
        call_fields(req, name)
            .into_iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, Value::String(s))
            })
            .collect()
    };
    let bytes = fit(FCM_MAX_DATA, req, |name| {
        Value::Object(to_strings(name)).to_string().into_bytes()
    })?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        // `fit` returned what the closure built: always an object.
        _ => Err(PushError::Payload("FCM data did not round-trip".into())),
    }
}

/// Builds with the full display name, then with it cut (at a character boundary) by as many
/// bytes as the payload is over, then without it; the first that fits wins.
fn fit(
    limit: usize,
    req: &PushRequest,
    build: impl Fn(Option<&str>) -> Vec<u8>,
) -> Result<Vec<u8>, PushError> {
    let name = req.from_display_name.as_ref().map(|n| n.as_str());
    let full = build(name);
    if full.len() <= limit {
        return Ok(full);
    }
    if let Some(name) = name {
        // JSON escaping can make a character cost up to 6 bytes; cut generously.
        let excess = full.len() - limit;
        let keep = truncate(name, name.len().saturating_sub(excess * 6));
        let cut = build(Some(keep));
        if cut.len() <= limit {
            return Ok(cut);
        }
        let bare = build(None);
        if bare.len() <= limit {
            return Ok(bare);
        }
    }
    Err(PushError::Payload(format!(
        "{} push payload is {} bytes; the limit is {limit}",
        req.kind.as_str(),
        full.len()
    )))
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ringwire_proto::{CallId, DeviceId};

    fn req(kind: PushKind, name: Option<&str>) -> PushRequest {
        PushRequest {
            call_id: CallId::from_bytes([7; 16]),
            device: DeviceId::from_bytes([1; 16]),
            kind,
            from_user: "alice".parse().unwrap(),
            from_display_name: name.map(|n| n.parse().unwrap()),
            from_device: DeviceId::from_bytes([2; 16]),
            ring_deadline_ms: 1_795_420_045_123,
        }
    }

    #[test]
    fn voip_payload_has_what_callkit_needs() {
        let v: Value =
            serde_json::from_slice(&apns(&req(PushKind::Invite, Some("Alice"))).unwrap()).unwrap();
        assert_eq!(v["ringwire"], 1);
        assert_eq!(v["kind"], "invite");
        assert_eq!(v["call_id"], "07070707070707070707070707070707");
        assert_eq!(v["from_user"], "alice");
        assert_eq!(v["from_display_name"], "Alice");
        assert_eq!(v["from_device"], "02020202020202020202020202020202");
        assert_eq!(v["ring_deadline_ms"], 1_795_420_045_123u64);
        assert!(v.get("aps").is_none());
    }

    #[test]
    fn missed_call_payload_is_an_alert() {
        let v: Value =
            serde_json::from_slice(&apns(&req(PushKind::MissedCall, None)).unwrap()).unwrap();
        assert_eq!(v["aps"]["alert"]["title"], MISSED_CALL_TITLE);
        assert_eq!(v["aps"]["alert"]["body"], "alice");
        assert_eq!(v["kind"], "missed_call");
    }

    #[test]
    fn fcm_data_values_are_strings() {
        let m = fcm_data(&req(PushKind::Invite, Some("Alice"))).unwrap();
        assert!(m.values().all(Value::is_string), "{m:?}");
        assert_eq!(m["ring_deadline_ms"], "1795420045123");
        assert_eq!(m["ringwire"], "1");
    }

    #[test]
    fn an_oversized_payload_loses_display_name_bytes_first() {
        let name = "Ä".repeat(60);
        let r = req(PushKind::Invite, Some(&name));
        let build = |n: Option<&str>| Value::Object(call_fields(&r, n)).to_string().into_bytes();
        let limit = build(Some(&name)).len() - 10;
        let out = fit(limit, &r, build).unwrap();
        assert!(out.len() <= limit);
        let v: Value = serde_json::from_slice(&out).unwrap();
        let kept = v["from_display_name"].as_str().unwrap();
        assert!(!kept.is_empty() && kept.len() < name.len() && name.starts_with(kept));
        assert_eq!(truncate("aÄb", 2), "a");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn a_payload_that_cannot_fit_is_an_error() {
        let r = req(PushKind::Invite, None);
        let build = |n: Option<&str>| Value::Object(call_fields(&r, n)).to_string().into_bytes();
        let err = fit(10, &r, build).unwrap_err();
        assert!(err.to_string().contains("limit is 10"), "{err}");
    }
}
