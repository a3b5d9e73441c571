//! What a push carries: [`PushPayload`], built by the server's push gateway and read by the
//! phone's engine, so both ends share one type, one version number and one set of size limits.
//!
//! An incoming-call push holds everything the phone needs to report the call to CallKit /
//! ConnectionService at once, before it has a socket: the call id, who calls (user, display
//! name, device) and the ring deadline (so a push that arrives late ends the call it reported
//! instead of ringing a ghost). APNs carries the fields at the top level of its JSON (a VoIP push
//! needs no `aps`; a missed-call push adds the `aps` alert); FCM carries them as a data map whose
//! values must all be strings. The display name is the only field of unbounded size, so it is
//! what gets shortened when a payload is over its service's limit. On the reading side the
//! payload is untrusted: every field is validated and the size is bounded.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ProtoError;
use crate::ids::{CallId, DeviceId, DisplayName, UserName};

/// APNs refuses larger payloads (413) for VoIP and alert pushes; nothing larger is read either.
pub const APNS_MAX_PAYLOAD: usize = 5120;
/// FCM refuses data messages whose data is larger.
pub const FCM_MAX_DATA: usize = 4096;
/// Version of the payload's field set, sent as `ringwire`; bumped when fields change meaning.
pub const PUSH_PAYLOAD_VERSION: u32 = 1;
/// Title of the missed-call notification (apps that want it localized rewrite it in their
/// notification service extension, using the `ringwire` fields).
pub const MISSED_CALL_TITLE: &str = "Missed call";

/// What a push is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PushKind {
    /// An incoming call for an offline device: APNs VoIP push / high-priority FCM data message.
    Invite,
    /// The call ended unanswered: an ordinary alert push announcing the missed call.
    MissedCall,
}

impl PushKind {
    /// The spelling in logs, payloads and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            PushKind::Invite => "invite",
            PushKind::MissedCall => "missed_call",
        }
    }

    /// Parses the spelling of [`PushKind::as_str`].
    pub fn parse(s: &str) -> Option<PushKind> {
        [PushKind::Invite, PushKind::MissedCall]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// The fields of one push, whichever service carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushPayload {
    pub kind: PushKind,
    pub call_id: CallId,
    pub from_user: UserName,
    pub from_display_name: Option<DisplayName>,
    pub from_device: DeviceId,
    /// When the call stops (or stopped) ringing, server clock (UNIX ms).
    pub ring_deadline_ms: u64,
    /// When the server sent this push (server clock, UNIX ms), set by the gateway at each try,
    /// so the phone can report how long the push took (`call_timeline`'s `push_received`).
    /// Absent in pushes from servers that predate it.
    pub sent_at_ms: Option<u64>,
}

/// The call fields as they go on the wire, in this order.
#[derive(Serialize)]
struct Fields<'a> {
    ringwire: u32,
    kind: PushKind,
    call_id: String,
    from_user: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_display_name: Option<&'a str>,
    from_device: String,
    ring_deadline_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    sent_at_ms: Option<u64>,
}

#[derive(Serialize)]
struct ApnsBody<'a> {
    #[serde(flatten)]
    fields: Fields<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aps: Option<Aps<'a>>,
}

#[derive(Serialize)]
struct Aps<'a> {
    alert: Alert<'a>,
    sound: &'static str,
    #[serde(rename = "thread-id")]
    thread_id: &'static str,
}

#[derive(Serialize)]
struct Alert<'a> {
    title: &'static str,
    body: &'a str,
}

fn bad(detail: impl Into<String>) -> ProtoError {
    ProtoError::PushPayload(detail.into())
}

impl PushPayload {
    fn fields<'a>(&'a self, display_name: Option<&'a str>) -> Fields<'a> {
        Fields {
            ringwire: PUSH_PAYLOAD_VERSION,
            kind: self.kind,
            call_id: self.call_id.to_string(),
            from_user: self.from_user.as_str(),
            from_display_name: display_name,
            from_device: self.from_device.to_string(),
            ring_deadline_ms: self.ring_deadline_ms,
            sent_at_ms: self.sent_at_ms,
        }
    }

    /// The APNs payload, at most [`APNS_MAX_PAYLOAD`] bytes.
    pub fn to_apns(&self) -> Result<Vec<u8>, ProtoError> {
        self.fit(APNS_MAX_PAYLOAD, |name| {
            let aps = (self.kind == PushKind::MissedCall).then(|| Aps {
                alert: Alert {
                    title: MISSED_CALL_TITLE,
                    body: name.unwrap_or(self.from_user.as_str()),
                },
                sound: "default",
                thread_id: "ringwire.missed_call",
            });
            to_json(&ApnsBody {
                fields: self.fields(name),
                aps,
            })
        })
    }

    /// The FCM `data` map (every value a string, as FCM requires), at most [`FCM_MAX_DATA`]
    /// bytes as JSON.
    pub fn to_fcm_data(&self) -> Result<BTreeMap<String, String>, ProtoError> {
        let mut kept = None;
        self.fit(FCM_MAX_DATA, |name| {
            let data = string_map(&self.fields(name));
            let bytes = to_json(&data);
            kept = Some(data);
            bytes
        })?;
        kept.ok_or_else(|| bad("no FCM data was built"))
    }

    /// Builds with the full display name, then with it cut (at a character boundary) by as many
    /// bytes as the payload is over, then without it; the first that fits wins (the last one
    /// built is what `build` saw last).
    fn fit(
        &self,
        limit: usize,
        mut build: impl FnMut(Option<&str>) -> Vec<u8>,
    ) -> Result<Vec<u8>, ProtoError> {
        let name = self.from_display_name.as_ref().map(|n| n.as_str());
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
        Err(bad(format!(
            "{} push payload is {} bytes; the limit is {limit}",
            self.kind.as_str(),
            full.len()
        )))
    }

    /// Reads a payload in either form (APNs fields keep their JSON types; FCM values are all
    /// strings). Everything is validated; the error says which field is wrong.
    pub fn parse(payload: &[u8]) -> Result<PushPayload, ProtoError> {
        if payload.len() > APNS_MAX_PAYLOAD {
            return Err(bad(format!(
                "{} bytes; a ringwire push is at most {APNS_MAX_PAYLOAD}",
                payload.len()
            )));
        }
        let value: Value =
            serde_json::from_slice(payload).map_err(|e| bad(format!("not JSON: {e}")))?;
        let m = value.as_object().ok_or_else(|| bad("not a JSON object"))?;
        let text = |key: &str| -> Option<String> {
            match m.get(key)? {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let field = |key: &'static str, what: &str| {
            text(key).ok_or_else(|| bad(format!("missing `{key}` ({what})")))
        };
        let version: u64 = field("ringwire", "payload version")?
            .parse()
            .map_err(|_| bad("`ringwire` is not a version number"))?;
        if version != u64::from(PUSH_PAYLOAD_VERSION) {
            return Err(bad(format!(
                "payload version {version}; this engine reads version {PUSH_PAYLOAD_VERSION}: \
                 update the app"
            )));
        }
        let kind = field("kind", "invite or missed_call")?;
        let kind = PushKind::parse(&kind).ok_or_else(|| bad(format!("unknown kind {kind:?}")))?;
        Ok(PushPayload {
            kind,
            call_id: field("call_id", "call id")?
                .parse()
                .map_err(|_| bad("`call_id` is not 32 lowercase hex digits"))?,
            from_user: field("from_user", "user name")?
                .parse()
                .map_err(|_| bad("`from_user` is not a user name"))?,
            from_display_name: match text("from_display_name") {
                Some(name) => Some(
                    name.parse()
                        .map_err(|_| bad("`from_display_name` is not a display name"))?,
                ),
                None => None,
            },
            from_device: field("from_device", "device id")?
                .parse()
                .map_err(|_| bad("`from_device` is not 32 lowercase hex digits"))?,
            ring_deadline_ms: field("ring_deadline_ms", "UNIX ms")?
                .parse()
                .map_err(|_| bad("`ring_deadline_ms` is not a UNIX time in ms"))?,
            sent_at_ms: match text("sent_at_ms") {
                Some(ms) => Some(
                    ms.parse()
                        .map_err(|_| bad("`sent_at_ms` is not a UNIX time in ms"))?,
                ),
                None => None,
            },
        })
    }
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    // Plain structs and string maps always serialize.
    serde_json::to_vec(value).unwrap_or_default()
}

/// The fields as a map of strings (FCM's data form).
fn string_map(fields: &Fields<'_>) -> BTreeMap<String, String> {
    let Ok(Value::Object(m)) = serde_json::to_value(fields) else {
        return BTreeMap::new();
    };
    let m: Map<String, Value> = m;
    m.into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, s)
        })
        .collect()
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

    fn payload(kind: PushKind, name: Option<&str>) -> PushPayload {
        PushPayload {
            kind,
            call_id: CallId::from_bytes([7; 16]),
            from_user: "alice".parse().unwrap(),
            from_display_name: name.map(|n| n.parse().unwrap()),
            from_device: DeviceId::from_bytes([2; 16]),
            ring_deadline_ms: 1_795_420_045_123,
            sent_at_ms: None,
        }
    }

    #[test]
    fn voip_payload_has_what_callkit_needs_and_reads_back() {
        let p = payload(PushKind::Invite, Some("Alice"));
        let bytes = p.to_apns().unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["ringwire"], 1);
        assert_eq!(v["kind"], "invite");
        assert_eq!(v["call_id"], "07070707070707070707070707070707");
        assert_eq!(v["from_user"], "alice");
        assert_eq!(v["from_display_name"], "Alice");
        assert_eq!(v["from_device"], "02020202020202020202020202020202");
        assert_eq!(v["ring_deadline_ms"], 1_795_420_045_123u64);
        assert!(v.get("aps").is_none());
        assert_eq!(PushPayload::parse(&bytes).unwrap(), p);
    }

    #[test]
    fn the_send_time_travels_when_set_and_is_optional() {
        let mut p = payload(PushKind::Invite, None);
        let v: Value = serde_json::from_slice(&p.to_apns().unwrap()).unwrap();
        assert!(v.get("sent_at_ms").is_none());
        p.sent_at_ms = Some(1_795_420_000_456);
        let apns = p.to_apns().unwrap();
        let v: Value = serde_json::from_slice(&apns).unwrap();
        assert_eq!(v["sent_at_ms"], 1_795_420_000_456u64);
        assert_eq!(PushPayload::parse(&apns).unwrap(), p);
        let fcm = p.to_fcm_data().unwrap();
        assert_eq!(fcm["sent_at_ms"], "1795420000456");
        assert_eq!(
            PushPayload::parse(&serde_json::to_vec(&fcm).unwrap()).unwrap(),
            p
        );
        let mut bad_time = v;
        bad_time["sent_at_ms"] = Value::from("soon");
        let err = PushPayload::parse(&serde_json::to_vec(&bad_time).unwrap()).unwrap_err();
        assert!(err.to_string().contains("sent_at_ms"), "{err}");
    }

    #[test]
    fn missed_call_payload_is_an_alert() {
        let v: Value =
            serde_json::from_slice(&payload(PushKind::MissedCall, None).to_apns().unwrap())
                .unwrap();
        assert_eq!(v["aps"]["alert"]["title"], MISSED_CALL_TITLE);
        assert_eq!(v["aps"]["alert"]["body"], "alice");
        assert_eq!(v["aps"]["thread-id"], "ringwire.missed_call");
        assert_eq!(v["kind"], "missed_call");
    }

    #[test]
    fn fcm_data_values_are_strings_and_read_back() {
        let p = payload(PushKind::Invite, Some("Alice"));
        let m = p.to_fcm_data().unwrap();
        assert_eq!(m["ring_deadline_ms"], "1795420045123");
        assert_eq!(m["ringwire"], "1");
        assert_eq!(
            PushPayload::parse(&serde_json::to_vec(&m).unwrap()).unwrap(),
            p
        );
    }

    #[test]
    fn an_oversized_payload_loses_display_name_bytes_first() {
        let name = "Ä".repeat(60);
        let p = payload(PushKind::Invite, Some(&name));
        let full = to_json(&p.fields(Some(&name))).len();
        let out = p.fit(full - 10, |n| to_json(&p.fields(n))).unwrap();
        assert!(out.len() <= full - 10);
        let v: Value = serde_json::from_slice(&out).unwrap();
        let kept = v["from_display_name"].as_str().unwrap();
        assert!(!kept.is_empty() && kept.len() < name.len() && name.starts_with(kept));
        assert_eq!(truncate("aÄb", 2), "a");
        assert_eq!(truncate("abc", 10), "abc");
        let err = p.fit(10, |n| to_json(&p.fields(n))).unwrap_err();
        assert!(err.to_string().contains("limit is 10"), "{err}");
    }

    #[test]
    fn refuses_what_is_not_a_ringwire_push() {
        const CALL: &str = "0123456789abcdef0123456789abcdef";
        const DEV: &str = "fedcba9876543210fedcba9876543210";
        let err = |p: String| PushPayload::parse(p.as_bytes()).unwrap_err().to_string();
        assert!(err("nope".into()).contains("not JSON"));
        assert!(err("[]".into()).contains("object"));
        assert!(err(r#"{"ringwire":2,"kind":"invite"}"#.into()).contains("update the app"));
        assert!(err(r#"{"ringwire":1,"kind":"hello"}"#.into()).contains("unknown kind"));
        assert!(err(format!(
            r#"{{"ringwire":1,"kind":"invite","call_id":"XYZ","from_user":"a","from_device":"{DEV}","ring_deadline_ms":1}}"#
        ))
        .contains("call_id"));
        assert!(err(format!(
            r#"{{"ringwire":1,"kind":"invite","call_id":"{CALL}","from_user":"a","from_device":"{DEV}"}}"#
        ))
        .contains("ring_deadline_ms"));
        assert!(err("x".repeat(APNS_MAX_PAYLOAD + 1)).contains("at most"));
    }
}
