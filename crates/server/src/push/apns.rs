//! APNs over HTTP/2 with token-based provider authentication: one `POST /3/device/<token>` per
//! push on the shared connection, the provider JWT (ES256, `iss` = team id, `iat`, header
//! `kid` = key id) reused between pushes and renewed after 50 minutes — Apple refuses tokens
//! older than an hour and throttles providers that renew more often than every 20 minutes —
//! and each answer mapped to what the gateway does next.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use super::config::ApnsSettings;
use super::h2::H2Client;
use super::jwt::sign_es256;
use super::{payload, Attempt, PushError};
use crate::record::{PushKind, PushOutcome};
use crate::router::PushRequest;

/// A provider token is renewed once it is this old (Apple: older than 60 min is refused).
pub const TOKEN_REFRESH_SECS: u64 = 50 * 60;
/// How long a missed-call alert may wait in APNs for an offline phone.
pub const ALERT_EXPIRATION_SECS: u64 = 24 * 60 * 60;
/// Longest wait for one answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A signed provider token and when it was issued (UNIX seconds, its `iat`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct ProviderToken {
    jwt: String,
    issued_at: u64,
}

/// Whether to sign a new provider token: there is none, the cached one is old enough to
/// renew, or APNs just refused exactly the cached one as expired (renewed at most once per
/// refusal, because a second request with the same token finds the new one cached).
fn must_renew(cached: Option<&ProviderToken>, now_secs: u64, rejected: Option<&str>) -> bool {
    match cached {
        None => true,
        Some(t) => {
            rejected == Some(t.jwt.as_str())
                || now_secs.saturating_sub(t.issued_at) >= TOKEN_REFRESH_SECS
        }
    }
}

/// The APNs client.
#[derive(Debug)]
pub struct Apns {
    settings: ApnsSettings,
    http: H2Client,
    token: Mutex<Option<ProviderToken>>,
}

impl Apns {
    pub fn new(
        settings: ApnsSettings,
        tls: std::sync::Arc<rustls::ClientConfig>,
    ) -> Result<Apns, PushError> {
        Ok(Apns {
            http: H2Client::new(&settings.endpoint, tls)?,
            settings,
            token: Mutex::new(None),
        })
    }

    /// Connections opened to APNs so far.
    pub fn connections_opened(&self) -> u64 {
        self.http.connections_opened()
    }

    /// The provider token to send, renewed if needed (see [`must_renew`]).
    fn provider_token(&self, now_secs: u64, rejected: Option<&str>) -> Result<String, PushError> {
        // Signing takes microseconds; holding the lock through it keeps renewals single.
        let mut cached = self.token.lock().unwrap_or_else(|e| e.into_inner());
        if must_renew(cached.as_ref(), now_secs, rejected) {
            let jwt = sign_es256(
                &self.settings.key,
                &json!({"alg": "ES256", "kid": self.settings.key_id}),
                &json!({"iss": self.settings.team_id, "iat": now_secs}),
            )?;
            tracing::info!(key_id = %self.settings.key_id, "APNs provider token renewed");
            *cached = Some(ProviderToken {
                jwt,
                issued_at: now_secs,
            });
        }
        cached
            .as_ref()
            .map(|t| t.jwt.clone())
            .ok_or_else(|| PushError::Key("no provider token".into()))
    }

    /// One try at sending `req` to the device `token`. `rejected` is the provider token APNs
    /// refused as expired on the previous try, if that is why this is a retry.
    pub async fn attempt(
        &self,
        token: &str,
        req: &PushRequest,
        now_ms: u64,
        rejected: Option<&str>,
    ) -> Attempt {
        let body = match payload::apns(req) {
            Ok(b) => b,
            Err(e) => return Attempt::Done(PushOutcome::Failed, e.to_string()),
        };
        let jwt = match self.provider_token(now_ms / 1000, rejected) {
            Ok(jwt) => jwt,
            Err(e) => return Attempt::Done(PushOutcome::Failed, e.to_string()),
        };
        let (push_type, topic, expiration) = match req.kind {
            PushKind::Invite => (
                "voip",
                format!("{}.voip", self.settings.bundle_id),
                req.ring_deadline_ms / 1000,
            ),
            PushKind::MissedCall => (
                "alert",
                self.settings.bundle_id.clone(),
                now_ms / 1000 + ALERT_EXPIRATION_SECS,
            ),
        };
        let mut headers = vec![
            ("authorization", format!("bearer {jwt}")),
            ("apns-push-type", push_type.to_owned()),
            ("apns-topic", topic),
            ("apns-priority", "10".to_owned()),
            ("apns-expiration", expiration.to_string()),
            ("content-type", "application/json".to_owned()),
        ];
        if req.kind == PushKind::MissedCall {
            // A retry of a request APNs did receive would show a second alert; with the call
            // id as collapse id the phone shows one.
            headers.push(("apns-collapse-id", req.call_id.to_string()));
        }
        let path = format!("/3/device/{token}");
        let resp = match self
            .http
            .post(&path, &headers, Bytes::from(body), REQUEST_TIMEOUT)
            .await
        {
            Ok(r) => r,
            Err(e) => return Attempt::transport(e),
        };
        let reason = serde_json::from_slice::<serde_json::Value>(&resp.body)
            .ok()
            .and_then(|v| v.get("reason")?.as_str().map(str::to_owned));
        let retry_after = resp
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(super::backoff::parse_retry_after);
        classify(resp.status.as_u16(), reason.as_deref(), retry_after, jwt)
    }
}

/// What an APNs answer means (Apple's "Handling notification responses from APNs").
fn classify(
    status: u16,
    reason: Option<&str>,
    retry_after: Option<Duration>,
    jwt: String,
) -> Attempt {
    let detail = format!("APNs {status} {}", reason.unwrap_or(""));
    match (status, reason) {
        (200, _) => Attempt::Done(PushOutcome::Sent, detail),
        (410, _) => Attempt::Done(PushOutcome::Unregistered, detail),
        (400, Some("BadDeviceToken" | "DeviceTokenNotForTopic")) => {
            Attempt::Done(PushOutcome::BadToken, detail)
        }
        (403, Some("ExpiredProviderToken")) => Attempt::Reauth {
            rejected: jwt,
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
    use super::*;

    fn token(issued_at: u64) -> ProviderToken {
        ProviderToken {
            jwt: "jwt-a".into(),
            issued_at,
        }
    }

    #[test]
    fn provider_token_is_reused_then_renewed_at_50_minutes() {
        assert!(must_renew(None, 1_000, None));
        let t = token(1_000);
        assert!(!must_renew(Some(&t), 1_000, None));
        assert!(!must_renew(Some(&t), 1_000 + TOKEN_REFRESH_SECS - 1, None));
        assert!(must_renew(Some(&t), 1_000 + TOKEN_REFRESH_SECS, None));
    }

    #[test]
    fn an_expired_refusal_renews_once() {
        let t = token(1_000);
        // APNs refused the cached token: renew even though it is young.
        assert!(must_renew(Some(&t), 1_060, Some("jwt-a")));
        // A refusal of an older token that was already replaced renews nothing.
        assert!(!must_renew(Some(&t), 1_060, Some("jwt-old")));
    }

    #[test]
    fn answers_map_to_outcomes() {
        let done = |s, r| match classify(s, r, None, "j".into()) {
            Attempt::Done(o, _) => Some(o),
            _ => None,
        };
        assert_eq!(done(200, None), Some(PushOutcome::Sent));
        assert_eq!(
            done(410, Some("Unregistered")),
            Some(PushOutcome::Unregistered)
        );
        assert_eq!(
            done(400, Some("BadDeviceToken")),
            Some(PushOutcome::BadToken)
        );
        assert_eq!(
            done(400, Some("DeviceTokenNotForTopic")),
            Some(PushOutcome::BadToken)
        );
        assert_eq!(done(400, Some("BadTopic")), Some(PushOutcome::Failed));
        assert_eq!(
            done(403, Some("InvalidProviderToken")),
            Some(PushOutcome::Failed)
        );
        assert_eq!(
            done(413, Some("PayloadTooLarge")),
            Some(PushOutcome::Failed)
        );
        assert!(matches!(
            classify(403, Some("ExpiredProviderToken"), None, "j".into()),
            Attempt::Reauth { ref rejected, .. } if rejected == "j"
        ));
        for s in [429, 500, 503] {
            assert!(matches!(
                classify(s, None, Some(Duration::from_secs(2)), "j".into()),
                Attempt::Retry { after: Some(a), transport: false, .. } if a == Duration::from_secs(2)
            ));
        }
    }
}
