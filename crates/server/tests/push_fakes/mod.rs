//! Stand-ins for APNs, FCM and Google's OAuth2 token endpoint: real HTTP/2 servers over TLS on
//! 127.0.0.1, with certificates from a CA generated at test time, that check what the real
//! services check — provider-token and assertion signatures against keys generated at test
//! time, claims, headers, payload sizes, bearer tokens — and refuse what they would refuse.
//! Requests that pass the checks get the next scripted answer (200 when the script is empty).
//! Every request is recorded for the tests to inspect.
#![allow(dead_code)] // each test uses a different part

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_2048_8192_SHA256,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub const TEAM_ID: &str = "TEAM123456";
pub const KEY_ID: &str = "KEY9876543";
pub const BUNDLE_ID: &str = "com.example.ringwire";
pub const CLIENT_EMAIL: &str = "pusher@ringwire-test.iam.gserviceaccount.com";
pub const PROJECT_ID: &str = "ringwire-test";
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<String> = body
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

// ---- keys and certificates, made fresh for every test ----

/// A test CA and a server certificate for 127.0.0.1 signed by it.
pub struct TestPki {
    pub ca_pem: String,
    pub server: Arc<rustls::ServerConfig>,
}

pub fn pki() -> TestPki {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ringwire push test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("CA certificate");
    let server_key = KeyPair::generate().expect("server key");
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("server params")
        .signed_by(&server_key, &ca)
        .expect("server certificate");
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![server_cert.der().clone()], key_der)
        .expect("server TLS config");
    // Like Apple's and Google's servers: HTTP/2 via ALPN.
    server.alpn_protocols = vec![b"h2".to_vec()];
    TestPki {
        ca_pem: ca.pem(),
        server: Arc::new(server),
    }
}

/// An APNs token-auth signing key (`.p8`, PKCS#8 P-256) and its public key.
pub struct ApnsKey {
    pub p8_pem: String,
    pub public: Vec<u8>,
}

pub fn apns_key() -> ApnsKey {
    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("P-256 key");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .expect("parse key");
    ApnsKey {
        p8_pem: pem("PRIVATE KEY", pkcs8.as_ref()),
        public: pair.public_key().as_ref().to_vec(),
    }
}

/// A Google service-account key (RSA 2048) as the JSON file Google hands out, and its public
/// key.
pub struct ServiceAccountKey {
    pub private_pem: String,
    pub public: Vec<u8>,
}

pub fn service_account_key() -> ServiceAccountKey {
    let pair =
        aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
    let der = AsDer::<Pkcs8V1Der>::as_der(&pair).expect("PKCS#8");
    ServiceAccountKey {
        private_pem: pem("PRIVATE KEY", der.as_ref()),
        public: pair.public_key().as_ref().to_vec(),
    }
}

impl ServiceAccountKey {
    /// The key file's JSON, naming `token_uri`.
    pub fn json(&self, token_uri: &str) -> String {
        json!({
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": "0123456789abcdef",
            "private_key": self.private_pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "1",
            "token_uri": token_uri,
        })
        .to_string()
    }
}

/// A JWT's header, claims, signature and signing input; `None` if malformed.
pub fn split_jwt(jwt: &str) -> Option<(Value, Value, Vec<u8>, String)> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, s] = parts.as_slice() else {
        return None;
    };
    let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
    let claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()?;
    Some((
        header,
        claims,
        URL_SAFE_NO_PAD.decode(s).ok()?,
        format!("{h}.{c}"),
    ))
}

// ---- one generic HTTP/2 TLS server ----

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
    /// Which TLS connection it came on (1, 2, ...).
    pub conn: u64,
    /// The status the server answered.
    pub status: u16,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// An answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn new(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: if body.is_null() {
                String::new()
            } else {
                body.to_string()
            },
        }
    }

    pub fn retry_after(mut self, secs: u64) -> Reply {
        self.headers.push(("retry-after", secs.to_string()));
        self
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// A running server: its URL, what it saw, how many connections it accepted.
#[derive(Clone)]
pub struct Server {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub connections: Arc<AtomicU64>,
    pub script: Arc<Mutex<VecDeque<Reply>>>,
    /// Answer when the script is empty (200 unless set).
    pub otherwise: Arc<Mutex<Option<Reply>>>,
    /// Notified to close every open connection gracefully (HTTP/2 GOAWAY).
    goaway: Arc<tokio::sync::Notify>,
    /// Connections that have ended.
    closed: Arc<AtomicU64>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    pub fn then(&self, reply: Reply) -> &Self {
        self.script.lock().expect("lock").push_back(reply);
        self
    }

    pub fn always(&self, reply: Reply) {
        *self.otherwise.lock().expect("lock") = Some(reply);
    }

    /// The scripted answer for a request that passed the checks.
    fn next_reply(&self, ok: Reply) -> Reply {
        if let Some(r) = self.script.lock().expect("lock").pop_front() {
            return r;
        }
        self.otherwise.lock().expect("lock").clone().unwrap_or(ok)
    }

    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Closes every open connection the way a service going away does (HTTP/2 GOAWAY) and
    /// waits until they are closed.
    pub async fn close_connections(&self) {
        self.goaway.notify_waiters();
        for _ in 0..250 {
            if self.closed.load(Ordering::Relaxed) == self.connections() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("connections did not close");
    }
}

async fn serve(tls: Arc<rustls::ServerConfig>, make: impl FnOnce(Server) -> Handler) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let server = Server {
        addr: listener.local_addr().expect("addr"),
        seen: Arc::default(),
        connections: Arc::default(),
        script: Arc::default(),
        otherwise: Arc::default(),
        goaway: Arc::default(),
        closed: Arc::default(),
    };
    let handler = make(server.clone());
    let acceptor = TlsAcceptor::from(tls);
    let state = server.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, handler, state) = (acceptor.clone(), handler.clone(), state.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                assert_eq!(
                    tls.get_ref().1.alpn_protocol(),
                    Some(&b"h2"[..]),
                    "client must use h2"
                );
                let conn = state.connections.fetch_add(1, Ordering::Relaxed) + 1;
                let (goaway, closed) = (state.goaway.clone(), state.closed.clone());
                let service = service_fn(move |req: Request<Incoming>| {
                    let (handler, state) = (handler.clone(), state.clone());
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let mut seen = Seen {
                            path: parts.uri.path().to_owned(),
                            headers: parts.headers,
                            body,
                            at: Instant::now(),
                            conn,
                            status: 0,
                        };
                        let reply = handler(&seen);
                        seen.status = reply.status;
                        state.seen.lock().expect("lock").push(seen);
                        let mut resp = Response::builder()
                            .status(StatusCode::from_u16(reply.status).expect("status"))
                            .header("content-type", "application/json");
                        for (k, v) in reply.headers {
                            resp = resp.header(k, v);
                        }
                        Ok::<_, std::convert::Infallible>(
                            resp.body(Full::new(Bytes::from(reply.body)))
                                .expect("response"),
                        )
                    }
                });
                let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service);
                tokio::pin!(conn);
                tokio::select! {
                    _ = conn.as_mut() => {}
                    _ = goaway.notified() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = conn.await;
                    }
                }
                closed.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
    server
}

// ---- APNs ----

fn apns_error(status: u16, reason: &str) -> Reply {
    Reply::new(status, json!({"reason": reason}))
}

pub fn apns_reply(status: u16, reason: &str) -> Reply {
    apns_error(status, reason)
}

/// What APNs checks before it looks at the device token: the provider token (ES256 signature
/// with the team's key, `kid`, `iss`, a fresh `iat`), push type, topic, priority, expiration,
/// payload size.
fn apns_check(seen: &Seen, public: &[u8]) -> Result<(), Reply> {
    let token = seen
        .path
        .strip_prefix("/3/device/")
        .ok_or_else(|| apns_error(404, "BadPath"))?;
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(apns_error(400, "BadDeviceToken"));
    }
    let auth = seen
        .header("authorization")
        .ok_or_else(|| apns_error(403, "MissingProviderToken"))?;
    let jwt = auth
        .strip_prefix("bearer ")
        .ok_or_else(|| apns_error(403, "InvalidProviderToken"))?;
    let (header, claims, sig, input) =
        split_jwt(jwt).ok_or_else(|| apns_error(403, "InvalidProviderToken"))?;
    let sig_ok = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public)
        .verify(input.as_bytes(), &sig)
        .is_ok();
    let iat = claims["iat"].as_u64().unwrap_or(0);
    if !sig_ok || header["alg"] != "ES256" || header["kid"] != KEY_ID || claims["iss"] != TEAM_ID {
        return Err(apns_error(403, "InvalidProviderToken"));
    }
    if iat + 3600 < now_secs() || iat > now_secs() + 60 {
        return Err(apns_error(403, "ExpiredProviderToken"));
    }
    let (push_type, topic) = (seen.header("apns-push-type"), seen.header("apns-topic"));
    let topic_ok = match push_type {
        Some("voip") => topic == Some(&format!("{BUNDLE_ID}.voip")[..]),
        Some("alert") => topic == Some(BUNDLE_ID),
        _ => return Err(apns_error(400, "InvalidPushType")),
    };
    if !topic_ok {
        return Err(apns_error(400, "DeviceTokenNotForTopic"));
    }
    match seen.header("apns-priority") {
        Some("10") => {}
        Some("5" | "1") if push_type != Some("voip") => {}
        _ => return Err(apns_error(400, "BadPriority")),
    }
    if seen
        .header("apns-expiration")
        .is_none_or(|v| v.parse::<u64>().is_err())
    {
        return Err(apns_error(400, "BadExpirationDate"));
    }
    if seen.body.len() > 5120 {
        return Err(apns_error(413, "PayloadTooLarge"));
    }
    if serde_json::from_slice::<Value>(&seen.body).is_err() {
        return Err(apns_error(400, "PayloadEmpty"));
    }
    Ok(())
}

/// A fake APNs for the team's key.
pub async fn fake_apns(tls: Arc<rustls::ServerConfig>, key_public: Vec<u8>) -> Server {
    serve(tls, move |server| {
        Arc::new(move |seen: &Seen| match apns_check(seen, &key_public) {
            Ok(()) => server.next_reply(Reply::new(200, Value::Null)),
            Err(refusal) => refusal,
        })
    })
    .await
}

// ---- Google's token endpoint ----

/// Access tokens the fake token endpoint has issued (FCM accepts only these).
pub type Issued = Arc<Mutex<HashSet<String>>>;

fn form_field<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    body.split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

fn token_check(seen: &Seen, public: &[u8], aud: &str) -> Result<(), Reply> {
    let bad = |why: &str| {
        Reply::new(
            400,
            json!({"error": "invalid_grant", "error_description": why}),
        )
    };
    if seen.header("content-type") != Some("application/x-www-form-urlencoded") {
        return Err(bad("form body expected"));
    }
    let body = std::str::from_utf8(&seen.body).map_err(|_| bad("not UTF-8"))?;
    if form_field(body, "grant_type")
        != Some("urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer")
    {
        return Err(bad("unsupported grant_type"));
    }
    let assertion = form_field(body, "assertion").ok_or_else(|| bad("no assertion"))?;
    let (header, claims, sig, input) = split_jwt(assertion).ok_or_else(|| bad("malformed JWT"))?;
    if header["alg"] != "RS256" {
        return Err(bad("alg must be RS256"));
    }
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
        .verify(input.as_bytes(), &sig)
        .map_err(|_| bad("Invalid JWT Signature."))?;
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap_or(0),
        claims["exp"].as_u64().unwrap_or(0),
    );
    let now = now_secs();
    if claims["iss"] != CLIENT_EMAIL || claims["scope"] != FCM_SCOPE || claims["aud"] != aud {
        return Err(bad("wrong iss, scope or aud"));
    }
    if iat > now + 60 || exp <= now || exp <= iat || exp - iat > 3600 {
        return Err(bad(
            "Invalid JWT: Token must be a short-lived token (60 minutes)",
        ));
    }
    Ok(())
}

/// A fake OAuth2 token endpoint at `/token` for the service account's key.
pub async fn fake_token_endpoint(
    tls: Arc<rustls::ServerConfig>,
    key_public: Vec<u8>,
    issued: Issued,
) -> Server {
    serve(tls, move |server| {
        let aud = format!("{}/token", server.url());
        let counter = AtomicU64::new(0);
        Arc::new(move |seen: &Seen| {
            if seen.path != "/token" {
                return Reply::new(404, json!({"error": "not_found"}));
            }
            if let Err(refusal) = token_check(seen, &key_public, &aud) {
                return refusal;
            }
            let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
            let token = format!("ya29.test-access-token-{n}");
            issued.lock().expect("lock").insert(token.clone());
            server.next_reply(Reply::new(
                200,
                json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}),
            ))
        })
    })
    .await
}

// ---- FCM ----

pub fn fcm_error(status: u16, canonical: &str, code: &str) -> Reply {
    Reply::new(
        status,
        json!({"error": {
            "code": status,
            "message": format!("{code} (test)"),
            "status": canonical,
            "details": [{
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": code,
            }],
        }}),
    )
}

fn fcm_check(seen: &Seen, issued: &Issued) -> Result<(), Reply> {
    if seen.path != format!("/v1/projects/{PROJECT_ID}/messages:send") {
        return Err(fcm_error(404, "NOT_FOUND", "UNSPECIFIED_ERROR"));
    }
    let bearer = seen
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or("");
    if !issued.lock().expect("lock").contains(bearer) {
        return Err(Reply::new(
            401,
            json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}),
        ));
    }
    let invalid = || fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT");
    let body = seen.json();
    let message = &body["message"];
    if !message["token"].is_string() {
        return Err(invalid());
    }
    let data = message["data"].as_object().ok_or_else(invalid)?;
    if !data.values().all(Value::is_string) || Value::Object(data.clone()).to_string().len() > 4096
    {
        return Err(invalid());
    }
    let android = &message["android"];
    if !matches!(android["priority"].as_str(), Some("high" | "normal")) {
        return Err(invalid());
    }
    let ttl_ok = android["ttl"]
        .as_str()
        .and_then(|t| t.strip_suffix('s'))
        .is_some_and(|n| n.parse::<f64>().is_ok_and(|v| v >= 0.0));
    if !ttl_ok {
        return Err(invalid());
    }
    Ok(())
}

/// A fake FCM that accepts the access tokens in `issued`.
pub async fn fake_fcm(tls: Arc<rustls::ServerConfig>, issued: Issued) -> Server {
    serve(tls, move |server| {
        Arc::new(move |seen: &Seen| match fcm_check(seen, &issued) {
            Ok(()) => server.next_reply(Reply::new(
                200,
                json!({"name": format!("projects/{PROJECT_ID}/messages/0:1")}),
            )),
            Err(refusal) => refusal,
        })
    })
    .await
}

/// The three fake services, the keys they trust, and config files pointing at them.
pub struct Rig {
    pub apns: Server,
    pub fcm: Server,
    pub token: Server,
    pub apns_public: Vec<u8>,
    pub dir: tempfile::TempDir,
}

pub async fn rig() -> Rig {
    let pki = pki();
    let apns_key = apns_key();
    let sa_key = service_account_key();
    let issued = Issued::default();
    let apns = fake_apns(pki.server.clone(), apns_key.public.clone()).await;
    let token =
        fake_token_endpoint(pki.server.clone(), sa_key.public.clone(), issued.clone()).await;
    let fcm = fake_fcm(pki.server.clone(), issued).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(dir.path().join("AuthKey.p8"), &apns_key.p8_pem).unwrap();
    let token_uri = format!("{}/token", token.url());
    std::fs::write(dir.path().join("sa.json"), sa_key.json(&token_uri)).unwrap();
    Rig {
        apns,
        fcm,
        token,
        apns_public: apns_key.public,
        dir,
    }
}

impl Rig {
    /// Push settings for both services, with short backoffs so tests stay quick.
    pub fn apply(&self, c: &mut ringwire_server::ServerConfig) {
        let path = |f: &str| self.dir.path().join(f);
        c.apns_endpoint = self.apns.url();
        c.apns_team_id = Some(TEAM_ID.into());
        c.apns_key_id = Some(KEY_ID.into());
        c.apns_key_path = Some(path("AuthKey.p8"));
        c.apns_bundle_id = Some(BUNDLE_ID.into());
        c.fcm_endpoint = self.fcm.url();
        c.fcm_service_account_path = Some(path("sa.json"));
        c.push_ca_file = Some(path("ca.pem"));
        c.push_retry_base_ms = 20;
        c.push_retry_max_ms = 100;
    }

    pub fn config(&self) -> ringwire_server::ServerConfig {
        let mut c = ringwire_server::ServerConfig::default();
        self.apply(&mut c);
        c
    }

    /// The same settings as `RINGWIRE_*` variables, for server processes.
    pub fn env(&self) -> Vec<(String, String)> {
        let path = |f: &str| self.dir.path().join(f).display().to_string();
        vec![
            ("RINGWIRE_APNS_ENDPOINT".into(), self.apns.url()),
            ("RINGWIRE_APNS_TEAM_ID".into(), TEAM_ID.into()),
            ("RINGWIRE_APNS_KEY_ID".into(), KEY_ID.into()),
            ("RINGWIRE_APNS_KEY_PATH".into(), path("AuthKey.p8")),
            ("RINGWIRE_APNS_BUNDLE_ID".into(), BUNDLE_ID.into()),
            ("RINGWIRE_FCM_ENDPOINT".into(), self.fcm.url()),
            ("RINGWIRE_FCM_SERVICE_ACCOUNT_PATH".into(), path("sa.json")),
            ("RINGWIRE_PUSH_CA_FILE".into(), path("ca.pem")),
            ("RINGWIRE_PUSH_RETRY_BASE_MS".into(), "20".into()),
            ("RINGWIRE_PUSH_RETRY_MAX_MS".into(), "100".into()),
        ]
    }
}
