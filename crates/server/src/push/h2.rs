//! One long-lived HTTP/2 connection to one push-service origin, shared by every push: requests
//! are multiplexed as streams over it (Apple asks providers to keep their connections open
//! rather than reconnect per push). The connection is opened on first use, TLS with ALPN `h2`
//! only, and re-opened when the service closes it (GOAWAY, idle timeout, network error).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;

use super::PushError;

/// Largest response body read; push-service answers are a few hundred bytes.
const MAX_RESPONSE_BODY: usize = 64 * 1024;
/// How long opening a connection (TCP + TLS + HTTP/2 preface) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 PING interval, so a dead connection is noticed between pushes.
const KEEPALIVE: Duration = Duration::from_secs(60);

/// A response, fully read.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The connection to one origin (`https://host[:port]`).
#[derive(Debug)]
pub struct H2Client {
    host: String,
    port: u16,
    authority: String,
    tls: Arc<rustls::ClientConfig>,
    conn: Mutex<Option<SendRequest<Full<Bytes>>>>,
    /// Connections opened so far (for logs and tests of connection reuse).
    opened: std::sync::atomic::AtomicU64,
}

impl H2Client {
    /// For the origin of `base_url` (any path is ignored); only `https` is accepted.
    pub fn new(base_url: &str, tls: Arc<rustls::ClientConfig>) -> Result<H2Client, PushError> {
        let uri: Uri = base_url
            .parse()
            .map_err(|e| PushError::Config(format!("{base_url:?} is not a URL: {e}")))?;
        if uri.scheme_str() != Some("https") {
            return Err(PushError::Config(format!(
                "{base_url:?} must be an https:// URL (push services speak HTTP/2 over TLS)"
            )));
        }
        let host = uri
            .host()
            .ok_or_else(|| PushError::Config(format!("{base_url:?} has no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(443);
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_else(|| host.clone());
        Ok(H2Client {
            host,
            port,
            authority,
            tls,
            conn: Mutex::new(None),
            opened: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// How many connections this client has opened.
    pub fn connections_opened(&self) -> u64 {
        self.opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sends `POST path` with `headers` and `body`, within `timeout`.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<Response, PushError> {
        let uri = format!("https://{}{path}", self.authority);
        let mut req = Request::post(uri);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| PushError::Transport(format!("building the request: {e}")))?;
        tokio::time::timeout(timeout, self.round_trip(req))
            .await
            .map_err(|_| PushError::Transport(format!("no answer within {timeout:?}")))?
    }

    async fn round_trip(&self, req: Request<Full<Bytes>>) -> Result<Response, PushError> {
        let mut sender = self.sender().await?;
        sender
            .ready()
            .await
            .map_err(|e| self.failed(format!("connection not ready: {e}")))?;
        // A failed request needs no cleanup here: a connection that died with it reports
        // `is_closed`, and the next push opens a new one.
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| self.failed(format!("request failed: {e}")))?;
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BODY)
            .collect()
            .await
            .map_err(|e| PushError::Transport(format!("reading the response: {e}")))?
            .to_bytes();
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// The live connection's handle, opening a connection if there is none.
    async fn sender(&self) -> Result<SendRequest<Full<Bytes>>, PushError> {
        let mut slot = self.conn.lock().await;
        if let Some(sender) = slot.as_ref() {
            if !sender.is_closed() {
                return Ok(sender.clone());
            }
        }
        *slot = None;
        let sender = tokio::time::timeout(CONNECT_TIMEOUT, self.connect())
            .await
            .map_err(|_| {
                PushError::Transport(format!(
                    "connecting to {} took longer than {CONNECT_TIMEOUT:?}",
                    self.authority
                ))
            })??;
        *slot = Some(sender.clone());
        Ok(sender)
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, PushError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| {
                PushError::Transport(format!("cannot connect to {}: {e}", self.authority))
            })?;
        // Pushes are small and latency-bound.
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(self.host.clone())
            .map_err(|e| PushError::Config(format!("{:?} is not a host name: {e}", self.host)))?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| {
                PushError::Transport(format!("TLS with {} failed: {e}", self.authority))
            })?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(PushError::Transport(format!(
                "{} did not agree to HTTP/2 (ALPN h2)",
                self.authority
            )));
        }
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(KEEPALIVE)
            .keep_alive_while_idle(true)
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|e| {
                PushError::Transport(format!(
                    "HTTP/2 handshake with {} failed: {e}",
                    self.authority
                ))
            })?;
        let authority = self.authority.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%authority, error = %e, "push connection closed");
            }
        });
        let n = self
            .opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        tracing::info!(authority = %self.authority, connections_opened = n, "push connection open");
        Ok(sender)
    }

    fn failed(&self, why: String) -> PushError {
        PushError::Transport(format!("{}: {why}", self.authority))
    }
}

/// The TLS settings every push connection uses: the Mozilla root set (webpki-roots), plus an
/// extra CA to trust if one is configured (a private test CA or a corporate proxy), and ALPN
/// `h2` only.
pub fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, PushError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_ca_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| {
                PushError::Config(format!("push_ca_file: not PEM certificates: {e}"))
            })?;
            roots.add(cert).map_err(|e| {
                PushError::Config(format!("push_ca_file: unusable certificate: {e}"))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(PushError::Config(
                "push_ca_file holds no \"CERTIFICATE\" PEM block".into(),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PushError::Config(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}
