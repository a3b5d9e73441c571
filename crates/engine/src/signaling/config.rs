//! [`SignalingConfig`]: where to connect, as whom, and the timing of keepalive and reconnect;
//! and its validation into what the link and its transport need ([`Prepared`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ringwire_proto::DisplayName;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::error::EngineError;

/// How the signaling client connects and keeps its connection alive.
///
/// Build it with [`SignalingConfig::new`], which fills in the defaults below, then adjust the
/// public fields. The token is never logged and is redacted from `Debug`.
#[derive(Clone)]
pub struct SignalingConfig {
    /// The server's WebSocket endpoint: `ws://127.0.0.1:8080/v1/ws` or `wss://host/v1/ws`.
    pub url: String,
    /// The device token (`rw_…`), sent as `Authorization: Bearer`.
    pub token: String,
    /// Client name and version for the server's logs (`hello.client`), at most 128 bytes.
    pub client_name: Option<String>,
    /// First reconnect delay ceiling; doubled per failed attempt. Default 250 ms.
    pub backoff_initial: Duration,
    /// Largest reconnect delay ceiling. Default 10 s.
    pub backoff_max: Duration,
    /// How often an application `ping` is sent while connected. Default 15 s.
    pub ping_interval: Duration,
    /// A `ping` unanswered this long counts as a dead connection. Default 10 s.
    pub pong_timeout: Duration,
    /// Limit on one attempt: TCP, TLS, upgrade and `hello` → `welcome`. Default 10 s.
    pub connect_timeout: Duration,
}

impl SignalingConfig {
    /// A configuration with the default timings.
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> SignalingConfig {
        SignalingConfig {
            url: url.into(),
            token: token.into(),
            client_name: None,
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            ping_interval: Duration::from_secs(15),
            pong_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for SignalingConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalingConfig")
            .field("url", &redact_url(&self.url))
            .field("token", &"<redacted>")
            .field("client_name", &self.client_name)
            .field("backoff_initial", &self.backoff_initial)
            .field("backoff_max", &self.backoff_max)
            .field("ping_interval", &self.ping_interval)
            .field("pong_timeout", &self.pong_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// A validated configuration: everything the link and its transport need, checked once.
pub(crate) struct Prepared {
    pub(crate) config: SignalingConfig,
    pub(crate) client_name: Option<DisplayName>,
    /// The URL for logs: no query (which may hold a token) and no user info.
    pub(crate) url_for_logs: String,
    /// TLS settings for `wss://`; `None` for `ws://`.
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("config", &self.config)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Prepared {
    /// What the protocol session needs of the configuration.
    pub(crate) fn session_config(&self) -> ringwire_core::session::SessionConfig {
        ringwire_core::session::SessionConfig {
            client_name: self.client_name.clone(),
            handshake_timeout: self.config.connect_timeout,
            ping_interval: self.config.ping_interval,
            pong_timeout: self.config.pong_timeout,
        }
    }

    /// Checks the URL, token, client name and timings; builds the TLS settings for `wss://`.
    pub(crate) fn new(config: SignalingConfig) -> Result<Prepared, EngineError> {
        let url_for_logs = redact_url(&config.url);
        let request = config
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| EngineError::Url(format!("{url_for_logs}: {e}")))?;
        let tls = match request.uri().scheme_str() {
            Some("ws") => None,
            Some("wss") => Some(tls_config(&[])?),
            _ => {
                return Err(EngineError::Url(format!(
                    "{url_for_logs}: the scheme must be ws or wss"
                )))
            }
        };
        if request.uri().host().unwrap_or_default().is_empty() {
            return Err(EngineError::Url(format!("{url_for_logs}: no host")));
        }
        bearer(&config.token)?;
        let client_name = config
            .client_name
            .as_deref()
            .map(|n| {
                n.parse::<DisplayName>().map_err(|_| {
                    EngineError::Config(
                        "client_name must be 1-128 bytes without control characters".into(),
                    )
                })
            })
            .transpose()?;
        let timings = [
            ("backoff_initial", config.backoff_initial),
            ("ping_interval", config.ping_interval),
            ("pong_timeout", config.pong_timeout),
            ("connect_timeout", config.connect_timeout),
        ];
        if let Some((name, _)) = timings.iter().find(|(_, d)| d.is_zero()) {
            return Err(EngineError::Config(format!(
                "{name} must be more than zero"
            )));
        }
        if config.backoff_max < config.backoff_initial {
            return Err(EngineError::Config(
                "backoff_max must be at least backoff_initial".into(),
            ));
        }
        Ok(Prepared {
            config,
            client_name,
            url_for_logs,
            tls,
        })
    }

    /// The upgrade request: the URL plus `Authorization: Bearer <token>`.
    pub(crate) fn request(&self) -> Result<Request, EngineError> {
        let mut request = self
            .config
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| EngineError::Url(format!("{}: {e}", self.url_for_logs)))?;
        request
            .headers_mut()
            .insert("authorization", bearer(&self.config.token)?);
        Ok(request)
    }
}

fn bearer(token: &str) -> Result<HeaderValue, EngineError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        EngineError::Config("the token contains characters not allowed in an HTTP header".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// rustls with the aws-lc-rs provider named explicitly (so it works whatever other crates
/// enable), the Mozilla root certificates from `webpki-roots`, and `extra_roots` (DER; for
/// `turns:`, a private CA or a test server). Used for `wss://` and `turns:` alike.
pub(crate) fn tls_config(
    extra_roots: &[Vec<u8>],
) -> Result<Arc<rustls::ClientConfig>, EngineError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for der in extra_roots {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| EngineError::Config(format!("a TURN TLS root is not usable: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EngineError::Config(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The URL without its query or fragment (a browser-style `?token=` must not reach the logs)
/// and without user info.
pub(crate) fn redact_url(url: &str) -> String {
    let base = url.split(['?', '#']).next().unwrap_or_default();
    match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => base.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_for_logs() {
        assert_eq!(
            redact_url("wss://u:p@host:443/v1/ws?token=rw_secret#x"),
            "wss://host:443/v1/ws"
        );
        assert_eq!(
            redact_url("ws://127.0.0.1:1/v1/ws"),
            "ws://127.0.0.1:1/v1/ws"
        );
        assert_eq!(redact_url("ws://host?token=a"), "ws://host");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let config = SignalingConfig::new("ws://h/v1/ws?token=rw_q", "rw_header_secret");
        let text = format!("{config:?}");
        assert!(!text.contains("rw_header_secret"), "{text}");
        assert!(!text.contains("rw_q"), "{text}");
    }

    #[test]
    fn bad_configurations_are_refused() {
        let ok = SignalingConfig::new("ws://127.0.0.1:9/v1/ws", "rw_x");
        assert!(Prepared::new(ok.clone()).is_ok());
        assert!(Prepared::new(SignalingConfig::new("wss://example.com/v1/ws", "t")).is_ok());
        for url in ["http://h/v1/ws", "not a url", "", "ws:///v1/ws"] {
            let mut c = ok.clone();
            c.url = url.into();
            assert!(
                matches!(Prepared::new(c), Err(EngineError::Url(_))),
                "{url}"
            );
        }
        let mut c = ok.clone();
        c.token = "rw_\nInjected: yes".into();
        let err = Prepared::new(c).unwrap_err();
        assert!(matches!(err, EngineError::Config(_)));
        assert!(!err.to_string().contains("Injected"));
        let mut c = ok.clone();
        c.client_name = Some("bad\u{7}name".into());
        assert!(matches!(Prepared::new(c), Err(EngineError::Config(_))));
        let mut c = ok.clone();
        c.backoff_initial = Duration::ZERO;
        assert!(matches!(Prepared::new(c), Err(EngineError::Config(_))));
        let mut c = ok;
        c.backoff_max = Duration::from_millis(1);
        assert!(matches!(Prepared::new(c), Err(EngineError::Config(_))));
    }

    #[test]
    fn the_request_carries_the_bearer_token() {
        let prepared =
            Prepared::new(SignalingConfig::new("ws://127.0.0.1:9/v1/ws", "rw_abc")).expect("valid");
        let request = prepared.request().expect("request");
        let auth = request.headers().get("authorization").expect("header");
        assert_eq!(auth.to_str().expect("ascii"), "Bearer rw_abc");
        assert!(auth.is_sensitive());
    }
}
