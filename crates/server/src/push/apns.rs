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
use super::{Attempt, PushError};
use ringwire_router::record::{PushKind, PushOutcome};
use ringwire_router::PushRequest;

/// A provider token is renewed once it is this old (Apple: older than 60 min is refused).
pub const TOKEN_REFRESH_SECS: u64 = 50 * 60;
/// Apple refuses providers that renew more often than this (`TooManyProviderTokenUpdates`);
/// only one renewal forced by an `ExpiredProviderToken` refusal may come sooner.
pub const TOKEN_MIN_RENEWAL_SECS: u64 = 20 * 60;
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

/// The provider token in use, and when a refusal last forced a renewal.
#[derive(Debug, Default)]
struct TokenCache {
    current: Option<ProviderToken>,
    forced_at: Option<u64>,
}

/// Whether to sign a new provider token now.
#[derive(Debug, PartialEq, Eq)]
enum Renewal {
    /// Keep the cached one.
    No,
    /// There is none, or it is old enough to renew.
    Due,
    /// APNs refused exactly the cached one as expired, and no refusal forced a renewal in the
    /// last 20 minutes (if one did, the clock or the key is wrong and renewing again would only
    /// add `TooManyProviderTokenUpdates`).
    Forced,
}

impl TokenCache {
    fn renewal(&self, now_secs: u64, rejected: Option<&str>) -> Renewal {
        let Some(t) = &self.current else {
            return Renewal::Due;
        };
        let recently_forced = self
            .forced_at
            .is_some_and(|at| now_secs.saturating_sub(at) < TOKEN_MIN_RENEWAL_SECS);
        if rejected == Some(t.jwt.as_str()) && !recently_forced {
            Renewal::Forced
        } else if now_secs.saturating_sub(t.issued_at) >= TOKEN_REFRESH_SECS {
            Renewal::Due
        } else {
            Renewal::No
        }
    }
}

/// The APNs client.
#[derive(Debug)]
pub struct Apns {
    settings: ApnsSettings,
    http: H2Client,
    token: Mutex<TokenCache>,
}

impl Apns {
    pub fn new(
        settings: ApnsSettings,
        tls: std::sync::Arc<rustls::ClientConfig>,
    ) -> Result<Apns, PushError> {
        Ok(Apns {
            http: H2Client::new(&settings.endpoint, tls)?,
            settings,
            token: Mutex::new(TokenCache::default()),
        })
    }

    /// Connections opened to APNs so far.
    pub fn connections_opened(&self) -> u64 {
        self.http.connections_opened()
    }

    /// The provider token to send, renewed if needed (see [`Renewal`]).
    fn provider_token(&self, now_secs: u64, rejected: Option<&str>) -> Result<String, PushError> {
        // Signing takes microseconds; holding the lock through it keeps renewals single.
        let mut cache = self.token.lock().unwrap_or_else(|e| e.into_inner());
        let renewal = cache.renewal(now_secs, rejected);
        if renewal != Renewal::No {
            let jwt = sign_es256(
                &self.settings.key,
                &json!({"alg": "ES256", "kid": self.settings.key_id}),
                &json!({"iss": self.settings.team_id, "iat": now_secs}),
            )?;
            tracing::info!(key_id = %self.settings.key_id, ?renewal, "APNs provider token renewed");
            cache.current = Some(ProviderToken {
                jwt,
                issued_at: now_secs,
            });
            if renewal == Renewal::Forced {
                cache.forced_at = Some(now_secs);
            }
        }
        cache
            .current
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
        let mut payload = req.payload();
        payload.sent_at_ms = Some(now_ms);
        let body = match payload.to_apns() {
            Ok(b) => b,
            Err(e) => return Attempt::Done(PushOutcome::Failed, e.to_string()),
        };
        let jwt = match self.provider_token(now_ms / 1000, rejected) {
            Ok(jwt) if rejected == Some(jwt.as_str()) => {
                let why = "APNs refused the provider token as expired, and it was renewed for \
                           that less than 20 minutes ago: check the server clock and the key";
                return Attempt::Done(PushOutcome::Failed, why.into());
            }
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

    fn cache(issued_at: u64, forced_at: Option<u64>) -> TokenCache {
        TokenCache {
            current: Some(ProviderToken {
                jwt: "jwt-a".into(),
                issued_at,
            }),
            forced_at,
        }
    }

    #[test]
    fn provider_token_is_reused_then_renewed_at_50_minutes() {
        assert_eq!(TokenCache::default().renewal(1_000, None), Renewal::Due);
        let c = cache(1_000, None);
        assert_eq!(c.renewal(1_000, None), Renewal::No);
        assert_eq!(c.renewal(1_000 + TOKEN_REFRESH_SECS - 1, None), Renewal::No);
        assert_eq!(c.renewal(1_000 + TOKEN_REFRESH_SECS, None), Renewal::Due);
    }

    #[test]
    fn an_expired_refusal_renews_once_per_20_minutes() {
        // APNs refused the cached token: renew even though it is young.
        assert_eq!(
            cache(1_000, None).renewal(1_060, Some("jwt-a")),
            Renewal::Forced
        );
        // A refusal of an older token that was already replaced renews nothing.
        assert_eq!(
            cache(1_000, None).renewal(1_060, Some("jwt-old")),
            Renewal::No
        );
        // The renewed token refused too, soon after: do not renew again.
        let forced = cache(1_060, Some(1_060));
        assert_eq!(forced.renewal(1_100, Some("jwt-a")), Renewal::No);
        let later = 1_060 + TOKEN_MIN_RENEWAL_SECS;
        assert_eq!(forced.renewal(later, Some("jwt-a")), Renewal::Forced);
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
