//! FCM HTTP v1: `POST /v1/projects/<project>/messages:send` with an OAuth2 bearer token.
//! An incoming call is a high-priority data message whose TTL is the time left to ring (a call
//! push delivered later is worthless); a missed call is a normal-priority notification with the
//! same data. Each answer is mapped to what the gateway does next.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use super::config::FcmSettings;
use super::h2::H2Client;
use super::oauth::TokenSource;
use super::{Attempt, PushError};
use ringwire_router::record::{PushKind, PushOutcome};
use ringwire_router::PushRequest;

/// How long FCM keeps a missed-call notification for an offline phone.
pub const ALERT_TTL_SECS: u64 = 24 * 60 * 60;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The FCM client.
#[derive(Debug)]
pub struct Fcm {
    http: H2Client,
    path: String,
    oauth: TokenSource,
}

impl Fcm {
    pub fn new(settings: FcmSettings, tls: Arc<rustls::ClientConfig>) -> Result<Fcm, PushError> {
        Ok(Fcm {
            http: H2Client::new(&settings.endpoint, tls.clone())?,
            path: format!("/v1/projects/{}/messages:send", settings.project_id),
            oauth: TokenSource::new(
                settings.token_uri,
                settings.client_email,
                settings.private_key_id,
                settings.key,
                tls,
            )?,
        })
    }

    /// Token exchanges with Google so far.
    pub fn token_exchanges(&self) -> u64 {
        self.oauth.exchanges()
    }

    /// Connections opened to FCM so far.
    pub fn connections_opened(&self) -> u64 {
        self.http.connections_opened()
    }

    /// One try at sending `req` to the registration `token`. `rejected` is the access token
    /// FCM refused (401) on the previous try, if that is why this is a retry.
    pub async fn attempt(
        &self,
        token: &str,
        req: &PushRequest,
        now_ms: u64,
        rejected: Option<&str>,
    ) -> Attempt {
        let message = match message(token, req, now_ms) {
            Ok(m) => m,
            Err(e) => return Attempt::Done(PushOutcome::Failed, e.to_string()),
        };
        let access = match self.oauth.get(now_ms / 1000, rejected).await {
            Ok(t) => t,
            Err(attempt) => return attempt,
        };
        let headers = [
            ("authorization", format!("Bearer {access}")),
            ("content-type", "application/json; charset=utf-8".to_owned()),
        ];
        let body = Bytes::from(message.to_string());
        let resp = match self
            .http
            .post(&self.path, &headers, body, REQUEST_TIMEOUT)
            .await
        {
            Ok(r) => r,
            Err(e) => return Attempt::transport(e),
        };
        let retry_after = resp
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(super::backoff::parse_retry_after);
        let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
        classify(resp.status.as_u16(), &body, retry_after, access)
    }
}

/// The `messages:send` body.
fn message(token: &str, req: &PushRequest, now_ms: u64) -> Result<Value, PushError> {
    let mut payload = req.payload();
    payload.sent_at_ms = Some(now_ms);
    let data = payload
        .to_fcm_data()
        .map_err(|e| PushError::Payload(e.to_string()))?;
    Ok(match req.kind {
        PushKind::Invite => {
            let ttl_secs = req.ring_deadline_ms.saturating_sub(now_ms) / 1000;
            json!({"message": {
                "token": token,
                "data": data,
                "android": {"priority": "high", "ttl": format!("{ttl_secs}s")},
            }})
        }
        PushKind::MissedCall => {
            let body = req
                .from_display_name
                .as_ref()
                .map_or(req.from_user.as_str(), |n| n.as_str());
            json!({"message": {
                "token": token,
                "notification": {"title": ringwire_proto::MISSED_CALL_TITLE, "body": body},
                "data": data,
                "android": {
                    "priority": "normal",
                    "ttl": format!("{ALERT_TTL_SECS}s"),
                    "collapse_key": req.call_id.to_string(),
                },
            }})
        }
    })
}

/// The FCM error code of an error answer: `details[].errorCode` of the `FcmError` detail, else
/// the canonical `status`.
fn error_code(body: &Value) -> Option<&str> {
    let error = body.get("error")?;
    let detail = error
        .get("details")
        .and_then(Value::as_array)
        .and_then(|ds| ds.iter().find_map(|d| d.get("errorCode")?.as_str()));
    detail.or_else(|| error.get("status")?.as_str())
}

/// What an FCM answer means (Firebase's "FCM HTTP v1 error codes").
fn classify(status: u16, body: &Value, retry_after: Option<Duration>, access: String) -> Attempt {
    let code = error_code(body);
    let detail = format!("FCM {status} {}", code.unwrap_or(""));
    match (status, code) {
        (200, _) => Attempt::Done(PushOutcome::Sent, detail),
        (404, _) | (_, Some("UNREGISTERED")) => Attempt::Done(PushOutcome::Unregistered, detail),
        // The access token was refused (expired early, revoked): get a new one, once.
        (401, _) => Attempt::Reauth {
            rejected: access,
            detail,
        },
        (429 | 500 | 503, _) => Attempt::Retry {
            after: retry_after,
            detail,
            transport: false,
        },
        _ => Attempt::Done(PushOutcome::Failed, detail),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ringwire_proto::{CallId, DeviceId};

    fn err(status: u16, code: &str, detail: Option<&str>) -> Value {
        let mut e = json!({"error": {"code": status, "message": "x", "status": code}});
        if let Some(d) = detail {
            e["error"]["details"] = json!([{
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": d,
            }]);
        }
        e
    }

    fn outcome(status: u16, body: &Value) -> Option<PushOutcome> {
        match classify(status, body, None, "a".into()) {
            Attempt::Done(o, _) => Some(o),
            _ => None,
        }
    }

    #[test]
    fn answers_map_to_outcomes() {
        assert_eq!(outcome(200, &json!({"name": "m"})), Some(PushOutcome::Sent));
        let unregistered = err(404, "NOT_FOUND", Some("UNREGISTERED"));
        assert_eq!(outcome(404, &unregistered), Some(PushOutcome::Unregistered));
        let invalid = err(400, "INVALID_ARGUMENT", Some("INVALID_ARGUMENT"));
        assert_eq!(outcome(400, &invalid), Some(PushOutcome::Failed));
        let mismatch = err(403, "PERMISSION_DENIED", Some("SENDER_ID_MISMATCH"));
        assert_eq!(outcome(403, &mismatch), Some(PushOutcome::Failed));
        for (s, code) in [
            (429, "QUOTA_EXCEEDED"),
            (503, "UNAVAILABLE"),
            (500, "INTERNAL"),
        ] {
            assert!(matches!(
                classify(s, &err(s, code, Some(code)), None, "a".into()),
                Attempt::Retry { .. }
            ));
        }
        assert!(matches!(
            classify(401, &err(401, "UNAUTHENTICATED", None), None, "a".into()),
            Attempt::Reauth { .. }
        ));
    }

    #[test]
    fn invite_ttl_is_the_time_left_to_ring() {
        let req = PushRequest {
            call_id: CallId::from_bytes([7; 16]),
            device: DeviceId::from_bytes([1; 16]),
            kind: PushKind::Invite,
            from_user: "alice".parse().unwrap(),
            from_display_name: None,
            from_device: DeviceId::from_bytes([2; 16]),
            ring_deadline_ms: 100_000,
        };
        let m = message("tok", &req, 55_500).unwrap();
        assert_eq!(m["message"]["android"]["ttl"], "44s");
        assert_eq!(m["message"]["android"]["priority"], "high");
        assert_eq!(m["message"]["token"], "tok");
        assert!(m["message"].get("notification").is_none());
    }
}
