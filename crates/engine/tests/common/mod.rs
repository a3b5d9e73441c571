//! Shared harness: a real ringwire server on a loopback port with a temporary SQLite data
//! directory (stoppable and restartable on the same port), the admin API over real HTTP, and
//! signaling clients whose events are awaited with timeouts.
#![allow(dead_code)] // each test file uses a different part of the harness

use std::net::SocketAddr;
use std::time::Duration;

use ringwire_engine::{SignalingClient, SignalingConfig, SignalingEvent};
use ringwire_proto::{CallId, ClientMessage, DeviceId, ServerMessage, Welcome};
use ringwire_server::{Server, ServerConfig};
use serde_json::{json, Value};
use tokio::sync::mpsc;

pub const ADMIN: &str = "engine-test-admin-token-0123456789";
/// How long any one expected event may take. Generous: tests assert behaviour, not speed.
pub const WAIT: Duration = Duration::from_secs(15);

pub struct TestServer {
    server: Option<Server>,
    pub addr: SocketAddr,
    config: ServerConfig,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// Starts with `adjust` applied to the test configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("temporary data directory");
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
            data_dir: dir.path().join("data"),
            admin_token: Some(ADMIN.to_owned()),
            ..ServerConfig::default()
        };
        adjust(&mut config);
        let server = Server::start(config.clone()).await.expect("server starts");
        let addr = server.local_addr();
        // Restarts bind the same port, so clients reconnect to the same URL.
        config.listen = addr;
        TestServer {
            server: Some(server),
            addr,
            config,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// Stops the server gracefully (`shutting_down`, close 1001 on every connection).
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
    }

    /// Starts the server again on the same port and data directory.
    pub async fn start_again(&mut self) {
        assert!(self.server.is_none(), "stop the server first");
        let server = Server::start(self.config.clone())
            .await
            .expect("server restarts on the same port");
        assert_eq!(server.local_addr(), self.addr);
        self.server = Some(server);
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/ws", self.addr)
    }

    fn http_url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn add_user(&self, name: &str) {
        let resp = self
            .http
            .post(self.http_url("/v1/admin/users"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": name}))
            .send()
            .await
            .expect("admin request");
        assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    }

    /// Adds a device and returns its id and token.
    pub async fn add_device(&self, user: &str) -> (DeviceId, String) {
        let resp = self
            .http
            .post(self.http_url(&format!("/v1/admin/users/{user}/devices")))
            .bearer_auth(ADMIN)
            .json(&json!({"label": "engine test"}))
            .send()
            .await
            .expect("admin request");
        assert_eq!(resp.status(), 201);
        let body: Value = resp.json().await.expect("json");
        let id = body["device"]["device_id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("device id");
        (id, body["token"].as_str().expect("token").to_owned())
    }

    /// One counter or gauge from `/metrics`.
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self
            .http
            .get(self.http_url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("metric {name} missing"))
            .trim()
            .parse()
            .expect("integer metric")
    }

    /// Polls a metric until `done` holds (metrics trail the sockets by a few milliseconds).
    pub async fn metric_when(&self, name: &str, done: impl Fn(u64) -> bool) -> u64 {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let value = self.metric(name).await;
            if done(value) {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} stayed at {value}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A config with short backoff so reconnect tests do not idle.
pub fn config(url: String, token: &str) -> SignalingConfig {
    let mut config = SignalingConfig::new(url, token);
    config.client_name = Some("ringwire-engine-tests".into());
    config.backoff_initial = Duration::from_millis(50);
    config.backoff_max = Duration::from_millis(400);
    config
}

/// A signaling client and the receiving end of its events.
pub struct Engine {
    pub client: SignalingClient,
    pub events: mpsc::UnboundedReceiver<SignalingEvent>,
}

impl Engine {
    pub fn spawn(config: SignalingConfig) -> Engine {
        let (tx, events) = mpsc::unbounded_channel();
        let client = SignalingClient::spawn(config, tx).expect("valid configuration");
        Engine { client, events }
    }

    pub async fn connect(server: &TestServer, token: &str) -> (Engine, Welcome) {
        let mut engine = Engine::spawn(config(server.ws_url(), token));
        let welcome = engine.connected().await;
        (engine, welcome)
    }

    /// The next event; panics on timeout or when the task has ended.
    pub async fn next(&mut self) -> SignalingEvent {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("timed out waiting for a signaling event")
            .expect("the signaling task ended unexpectedly")
    }

    /// Waits for `Connected`, passing over failed attempts (`Disconnected`).
    pub async fn connected(&mut self) -> Welcome {
        loop {
            match self.next().await {
                SignalingEvent::Connected(welcome) => return welcome,
                SignalingEvent::Disconnected { .. } => continue,
                other => panic!("expected Connected, got {other:?}"),
            }
        }
    }

    /// Waits for `Disconnected`, passing over server messages (such as `shutting_down`).
    pub async fn disconnected(&mut self) -> (String, Duration) {
        loop {
            match self.next().await {
                SignalingEvent::Disconnected { reason, retry_in } => return (reason, retry_in),
                SignalingEvent::Message(_) => continue,
                other => panic!("expected Disconnected, got {other:?}"),
            }
        }
    }

    /// The next event, which must be a server message.
    pub async fn message(&mut self) -> ServerMessage {
        match self.next().await {
            SignalingEvent::Message(message) => message,
            other => panic!("expected a server message, got {other:?}"),
        }
    }

    /// Messages until one matches; those passed over must satisfy `skippable`.
    pub async fn message_where(
        &mut self,
        wanted: impl Fn(&ServerMessage) -> bool,
        skippable: impl Fn(&ServerMessage) -> bool,
    ) -> ServerMessage {
        loop {
            let message = self.message().await;
            if wanted(&message) {
                return message;
            }
            assert!(skippable(&message), "unexpected message {message:?}");
        }
    }

    /// The event channel closes (the task ended) with no further events than `allowed`.
    pub async fn ends(&mut self, allowed: impl Fn(&SignalingEvent) -> bool) {
        loop {
            match tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("the signaling task did not end")
            {
                None => return,
                Some(event) => assert!(allowed(&event), "unexpected event {event:?}"),
            }
        }
    }
}

pub fn invite(call_id: CallId, to: &str) -> ClientMessage {
    ClientMessage::Invite(ringwire_proto::Invite {
        call_id,
        to_user: to.parse().expect("user name"),
    })
}
