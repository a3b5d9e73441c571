//! OAuth2 access tokens for FCM from a Google service account (RFC 7523 JWT bearer grant): an
//! RS256 assertion (`iss` = the account's email, `scope` = firebase.messaging, `aud` = the
//! token endpoint, `iat`, `exp` one hour later) exchanged at the token endpoint, and the access
//! token cached until shortly before it expires — one exchange serves every push in that time.

use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use super::h2::H2Client;
use super::jwt::{sign_rs256, Rs256Key};
use super::{Attempt, PushError};
use ringwire_router::record::PushOutcome;

/// The scope FCM HTTP v1 needs.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// Lifetime asked for in the assertion (Google's maximum).
const ASSERTION_LIFETIME_SECS: u64 = 3600;
/// An access token is replaced this long before it expires, so no push carries one that expires
/// in flight.
const EXPIRY_MARGIN_SECS: u64 = 300;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Debug)]
struct AccessToken {
    token: String,
    /// Replace it from this time on (UNIX seconds).
    renew_at: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

/// Access tokens for one service account.
#[derive(Debug)]
pub struct TokenSource {
    http: H2Client,
    token_uri: String,
    path: String,
    client_email: String,
    key_id: Option<String>,
    key: Rs256Key,
    /// Held across an exchange, so concurrent pushes wait for one exchange instead of each
    /// starting their own.
    cached: Mutex<Option<AccessToken>>,
    exchanges: std::sync::atomic::AtomicU64,
}

impl TokenSource {
    pub fn new(
        token_uri: String,
        client_email: String,
        key_id: Option<String>,
        key: Rs256Key,
        tls: std::sync::Arc<rustls::ClientConfig>,
    ) -> Result<TokenSource, PushError> {
        let uri: http::Uri = token_uri
            .parse()
            .map_err(|e| PushError::Config(format!("token_uri {token_uri:?}: {e}")))?;
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        Ok(TokenSource {
            http: H2Client::new(&token_uri, tls)?,
            token_uri,
            path,
            client_email,
            key_id,
            key,
            cached: Mutex::new(None),
            exchanges: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Token exchanges done so far.
    pub fn exchanges(&self) -> u64 {
        self.exchanges.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A valid access token, exchanging a new assertion if the cached one is due for renewal or
    /// is exactly the one FCM just `rejected` (401). Errors come as the [`Attempt`] the push
    /// should make of them.
    pub async fn get(&self, now_secs: u64, rejected: Option<&str>) -> Result<String, Attempt> {
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached.as_ref() {
            if now_secs < t.renew_at && rejected != Some(t.token.as_str()) {
                return Ok(t.token.clone());
            }
        }
        let fresh = self.exchange(now_secs).await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    async fn exchange(&self, now_secs: u64) -> Result<AccessToken, Attempt> {
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": self.client_email,
            "scope": FCM_SCOPE,
            "aud": self.token_uri,
            "iat": now_secs,
            "exp": now_secs + ASSERTION_LIFETIME_SECS,
        });
        let assertion = sign_rs256(&self.key, &header, &claims)
            .map_err(|e| Attempt::Done(PushOutcome::Failed, e.to_string()))?;
        // The assertion is base64url and dots: nothing in it needs form-encoding.
        let body = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
        );
        self.exchanges
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let headers = [(
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        )];
        let resp = self
            .http
            .post(&self.path, &headers, Bytes::from(body), REQUEST_TIMEOUT)
            .await
            .map_err(Attempt::transport)?;
        let status = resp.status.as_u16();
        if status != 200 {
            let detail = format!(
                "token endpoint {status}: {}",
                String::from_utf8_lossy(&resp.body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            );
            return Err(match status {
                429 | 500..=599 => Attempt::Retry {
                    after: None,
                    detail,
                    transport: false,
                },
                // A refused assertion (bad key, clock skew, revoked account) will not get
                // better by retrying this push.
                _ => Attempt::Done(PushOutcome::Failed, detail),
            });
        }
        let parsed: TokenResponse = serde_json::from_slice(&resp.body).map_err(|e| {
            Attempt::Done(
                PushOutcome::Failed,
                format!("token endpoint answered 200 without a token: {e}"),
            )
        })?;
        tracing::info!(expires_in = parsed.expires_in, "FCM access token obtained");
        Ok(AccessToken {
            token: parsed.access_token,
            renew_at: renew_at(now_secs, parsed.expires_in),
        })
    }
}

/// When to replace a token that expires in `expires_in` seconds: five minutes early, or at
/// half its life if it is short-lived.
fn renew_at(now_secs: u64, expires_in: u64) -> u64 {
    let margin = EXPIRY_MARGIN_SECS.min(expires_in / 2);
    now_secs + expires_in - margin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_renewed_before_they_expire() {
        assert_eq!(renew_at(1_000, 3600), 1_000 + 3300);
        assert_eq!(renew_at(1_000, 60), 1_030);
        assert_eq!(renew_at(1_000, 0), 1_000);
    }
}
