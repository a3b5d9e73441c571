//! The push gateway: wakes offline devices through APNs (iOS, PushKit VoIP pushes) and FCM
//! HTTP v1 (Android), and tells the router how each push ended.
//!
//! The router decides *who* needs a push ([`ringwire_router::Output::Push`]); the hub hands each
//! request to [`PushGateway::dispatch`], which runs it on its own task: look up the device's
//! registration in the store, pick the provider, send with retries, delete tokens the service
//! declared dead, count the outcome in `ringwire_push_total{provider,outcome}`, and feed the
//! outcome back to the router as [`ringwire_router::Input::PushResult`] so the call record keeps
//! it.
//!
//! - `config`: settings and keys, loaded once at start-up;
//! - `h2`: the one long-lived HTTP/2 connection per service;
//! - `jwt`: ES256 / RS256 JSON Web Tokens;
//! - `apns`, `fcm` (with `oauth` for its access tokens): one attempt each, the answer mapped
//!   to what to do next;
//! - `backoff`: when to retry after 429 / 5xx;
//! - `payload`: what a push carries, within each service's size limit.

mod apns;
mod backoff;
mod config;
mod fcm;
mod h2;
mod jwt;
mod oauth;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

pub use backoff::RetryPolicy;
pub use config::PushSettings;

use crate::clock::unix_ms;
use crate::metrics::Metrics;
use crate::store::{PushRegistration, Store};
use ringwire_proto::PushPlatform;
use ringwire_router::record::{PushKind, PushOutcome};
use ringwire_router::{Input, PushRequest};

/// How long a missed-call push keeps retrying after the call ended.
pub const MISSED_CALL_RETRY_MS: u64 = 60_000;

/// What can go wrong in the push gateway outside a push service's answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// A push setting is unusable; the text names it.
    #[error("push configuration: {0}")]
    Config(String),
    /// A signing key could not be read or used.
    #[error("push signing key: {0}")]
    Key(String),
    /// The connection to a push service failed.
    #[error("push connection: {0}")]
    Transport(String),
    /// The payload does not fit the service's limit.
    #[error("push payload: {0}")]
    Payload(String),
}

/// What one try at a push came to.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// Final: the outcome, and a line for the log.
    Done(PushOutcome, String),
    /// The service asked to back off (429 / 5xx; `transport: false`) or could not be reached
    /// (`transport: true`); retry after `after` at the earliest.
    Retry {
        after: Option<Duration>,
        detail: String,
        transport: bool,
    },
    /// The service refused the `rejected` credential as expired: renew it and retry, once.
    Reauth { rejected: String, detail: String },
}

impl Attempt {
    fn transport(e: PushError) -> Attempt {
        Attempt::Retry {
            after: None,
            detail: e.to_string(),
            transport: true,
        }
    }
}

/// The gateway; cheap to clone.
#[derive(Clone, Debug)]
pub struct PushGateway {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    metrics: Arc<Metrics>,
    apns: Option<apns::Apns>,
    fcm: Option<fcm::Fcm>,
    retry: RetryPolicy,
}

impl PushGateway {
    /// A gateway for the configured providers (possibly none).
    pub fn new(
        settings: PushSettings,
        store: Store,
        metrics: Arc<Metrics>,
    ) -> Result<PushGateway, PushError> {
        let tls = settings.tls;
        let apns = settings
            .apns
            .map(|s| apns::Apns::new(s, tls.clone()))
            .transpose()?;
        let fcm = settings
            .fcm
            .map(|s| fcm::Fcm::new(s, tls.clone()))
            .transpose()?;
        Ok(PushGateway {
            inner: Arc::new(Inner {
                store,
                metrics,
                apns,
                fcm,
                retry: settings.retry,
            }),
        })
    }

    /// Says at start-up which providers can be used, so an operator sees at once why offline
    /// phones do not ring.
    pub fn log_status(&self) {
        let (apns, fcm) = (self.inner.apns.is_some(), self.inner.fcm.is_some());
        if apns && fcm {
            tracing::info!("push: APNs and FCM configured");
            return;
        }
        let missing: Vec<&str> = [("APNs (set apns_*)", apns), ("FCM (set fcm_*)", fcm)]
            .into_iter()
            .filter(|(_, on)| !on)
            .map(|(name, _)| name)
            .collect();
        tracing::warn!(
            apns,
            fcm,
            "push unavailable for {}: offline devices on it are recorded as push_unavailable",
            missing.join(" and ")
        );
    }

    /// Token exchanges with Google so far (0 without FCM).
    pub fn fcm_token_exchanges(&self) -> u64 {
        self.inner.fcm.as_ref().map_or(0, fcm::Fcm::token_exchanges)
    }

    /// Connections opened to (APNs, FCM) so far.
    pub fn connections_opened(&self) -> (u64, u64) {
        (
            self.inner
                .apns
                .as_ref()
                .map_or(0, apns::Apns::connections_opened),
            self.inner
                .fcm
                .as_ref()
                .map_or(0, fcm::Fcm::connections_opened),
        )
    }

    /// Sends `req` on a task of its own and reports the outcome on `results`.
    pub fn dispatch(&self, req: PushRequest, results: mpsc::UnboundedSender<Input>) {
        let gateway = self.clone();
        tokio::spawn(async move {
            let outcome = gateway.deliver(&req).await;
            // The hub is gone only when the server is stopping; the outcome no longer matters.
            let _ = results.send(Input::PushResult {
                call_id: req.call_id,
                device: req.device,
                kind: req.kind,
                outcome,
            });
        });
    }

    /// Sends one push to completion (retries included) and returns how it ended.
    pub async fn deliver(&self, req: &PushRequest) -> PushOutcome {
        let (provider, outcome, detail) = self.deliver_inner(req).await;
        self.inner.metrics.push(provider, outcome.as_str());
        tracing::info!(
            call_id = %req.call_id,
            device_id = %req.device,
            kind = req.kind.as_str(),
            provider,
            outcome = outcome.as_str(),
            detail = %detail,
            "push"
        );
        outcome
    }

    async fn deliver_inner(&self, req: &PushRequest) -> (&'static str, PushOutcome, String) {
        let inner = &self.inner;
        if inner.apns.is_none() && inner.fcm.is_none() {
            return (
                "none",
                PushOutcome::PushUnavailable,
                "no push provider configured".into(),
            );
        }
        let registration = match inner.store.push_registration(req.device).await {
            Ok(Some(r)) => r,
            Ok(None) => return ("none", PushOutcome::NoToken, "no push registration".into()),
            Err(e) => {
                return (
                    "none",
                    PushOutcome::Failed,
                    format!("looking up the token: {e}"),
                )
            }
        };
        let give_up_at_ms = match req.kind {
            PushKind::Invite => req.ring_deadline_ms,
            PushKind::MissedCall => unix_ms() + MISSED_CALL_RETRY_MS,
        };
        let token = pick_token(&registration, req.kind);
        let (provider, outcome, detail) = match registration.platform {
            PushPlatform::Apns => {
                let Some(apns) = &inner.apns else {
                    return (
                        "apns",
                        PushOutcome::PushUnavailable,
                        "APNs is not configured".into(),
                    );
                };
                let Some(token) = token else {
                    return (
                        "apns",
                        PushOutcome::NoToken,
                        "no APNs token for this kind".into(),
                    );
                };
                let (o, d) =
                    with_retries(inner.retry, give_up_at_ms, |rejected, now_ms| async move {
                        apns.attempt(token, req, now_ms, rejected.as_deref()).await
                    })
                    .await;
                ("apns", o, d)
            }
            PushPlatform::Fcm => {
                let Some(fcm) = &inner.fcm else {
                    return (
                        "fcm",
                        PushOutcome::PushUnavailable,
                        "FCM is not configured".into(),
                    );
                };
                let Some(token) = token else {
                    return ("fcm", PushOutcome::NoToken, "no FCM token".into());
                };
                let (o, d) =
                    with_retries(inner.retry, give_up_at_ms, |rejected, now_ms| async move {
                        fcm.attempt(token, req, now_ms, rejected.as_deref()).await
                    })
                    .await;
                ("fcm", o, d)
            }
            PushPlatform::None => {
                return ("none", PushOutcome::NoToken, "pushes turned off".into())
            }
        };
        if matches!(outcome, PushOutcome::Unregistered | PushOutcome::BadToken) {
            if let Some(token) = token {
                if let Err(e) = inner.store.remove_push_token(req.device, token).await {
                    tracing::warn!(device_id = %req.device, error = %e, "could not delete a dead push token");
                }
            }
        }
        (provider, outcome, detail)
    }
}

/// The token a kind of push goes to. APNs keeps the two apart (a VoIP push must go to the
/// PushKit token, an alert to the ordinary one); an FCM registration token serves both.
fn pick_token(r: &PushRegistration, kind: PushKind) -> Option<&str> {
    let (voip, alert) = (r.voip_token.as_deref(), r.alert_token.as_deref());
    match (r.platform, kind) {
        (PushPlatform::Apns, PushKind::Invite) => voip,
        (PushPlatform::Apns, PushKind::MissedCall) => alert,
        (PushPlatform::Fcm, PushKind::Invite) => voip.or(alert),
        (PushPlatform::Fcm, PushKind::MissedCall) => alert.or(voip),
        (PushPlatform::None, _) => None,
    }
}

/// Runs `attempt` until it is final, renewing the credential once if it is refused as expired
/// and backing off (see `backoff`) while the service asks to, but never past
/// `give_up_at_ms`. Each try is handed the time at which it was decided, the same reading that
/// was checked against `give_up_at_ms`, so "no try after the deadline" holds exactly.
async fn with_retries<F, Fut>(
    policy: RetryPolicy,
    give_up_at_ms: u64,
    mut attempt: F,
) -> (PushOutcome, String)
where
    F: FnMut(Option<String>, u64) -> Fut,
    Fut: Future<Output = Attempt>,
{
    let mut rejected = None;
    let mut renewed = false;
    let mut retries = 0u32;
    loop {
        let now = unix_ms();
        if now >= give_up_at_ms {
            return (
                PushOutcome::Expired,
                "the ring deadline passed before it was sent".into(),
            );
        }
        let left = Duration::from_millis(give_up_at_ms - now);
        let result = match tokio::time::timeout(left, attempt(rejected.take(), now)).await {
            Ok(result) => result,
            Err(_) => {
                return (
                    PushOutcome::Expired,
                    "no answer before the ring deadline".into(),
                );
            }
        };
        match result {
            Attempt::Done(outcome, detail) => return (outcome, detail),
            Attempt::Reauth { detail, .. } if renewed => {
                return (
                    PushOutcome::Failed,
                    format!("{detail}, again after renewing the token"),
                );
            }
            Attempt::Reauth { rejected: r, .. } => {
                renewed = true;
                rejected = Some(r);
            }
            Attempt::Retry {
                after,
                detail,
                transport,
            } => {
                let delay = policy.delay(retries, after, random_u64());
                retries += 1;
                if !backoff::retry_fits(unix_ms(), delay, give_up_at_ms) {
                    let outcome = if transport {
                        PushOutcome::Failed
                    } else {
                        PushOutcome::Expired
                    };
                    return (outcome, format!("{detail}; gave up after {retries} tries"));
                }
                tracing::debug!(%detail, ?delay, retries, "push: backing off");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // Without OS randomness the waits are merely not jittered; a zero wait is still bounded by
    // the give-up time.
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod retry_tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The rule the APNs/FCM integration tests can only see through the fakes' receipt times
    /// (which trail the decision on a loaded machine): every try is decided before the give-up
    /// time, and the gateway then stops. Real clock, no slack: the check and the try share one
    /// reading.
    #[tokio::test]
    async fn no_try_is_decided_at_or_after_the_give_up_time() {
        let policy = RetryPolicy {
            base: Duration::from_millis(20),
            max: Duration::from_millis(60),
        };
        for _ in 0..5 {
            let give_up_at_ms = unix_ms() + 300;
            let tries = Arc::new(Mutex::new(Vec::new()));
            let seen = tries.clone();
            let (outcome, detail) = with_retries(policy, give_up_at_ms, move |_, now_ms| {
                seen.lock().expect("not poisoned").push(now_ms);
                async {
                    Attempt::Retry {
                        after: None,
                        detail: "503".into(),
                        transport: false,
                    }
                }
            })
            .await;
            assert_eq!(outcome, PushOutcome::Expired, "{detail}");
            let tries = tries.lock().expect("not poisoned").clone();
            assert!(tries.len() >= 2, "backed off and retried: {tries:?}");
            assert!(
                tries.iter().all(|&t| t < give_up_at_ms),
                "a try decided at or after {give_up_at_ms}: {tries:?}"
            );
            assert!(
                unix_ms() + 1 >= give_up_at_ms.saturating_sub(60),
                "gave up early"
            );
        }
    }
}
