//! A real server for integration tests, driven the way an operator drives it: over its admin
//! HTTP API. It runs on an ephemeral loopback port with a temporary data directory, can stop
//! and start again on the same port (clients reconnect to the same URL) or restart on a new
//! one, and reads its history and metrics, polling where they trail the sockets.

use std::net::SocketAddr;
use std::time::Duration;

use ringwire_proto::DeviceId;
use ringwire_server::{Server, ServerConfig};
use serde_json::{json, Value};

/// The admin token every test server is started with.
pub const ADMIN: &str = "testkit-admin-token-0123456789abcdef";
/// How long a polled value may take to arrive. Generous: tests assert behaviour, not speed.
const WAIT: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub struct TestServer {
    server: Option<Server>,
    pub addr: SocketAddr,
    /// The configuration it was started with (`listen` as given, port 0 unless adjusted).
    pub config: ServerConfig,
    pub http: reqwest::Client,
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
        TestServer {
            addr: server.local_addr(),
            server: Some(server),
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

    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    /// Starts the server again on the same port and data directory.
    pub async fn start_again(&mut self) {
        assert!(self.server.is_none(), "stop the server first");
        let mut config = self.config.clone();
        config.listen = self.addr;
        let server = Server::start(config)
            .await
            .expect("server restarts on the same port");
        assert_eq!(server.local_addr(), self.addr);
        self.server = Some(server);
    }

    /// Stops the server gracefully and starts a new one on the same data (new port).
    pub async fn restart(&mut self) {
        self.stop().await;
        let server = Server::start(self.config.clone())
            .await
            .expect("server restarts");
        self.addr = server.local_addr();
        self.server = Some(server);
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/ws", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn add_user(&self, name: &str) {
        let resp = self
            .http
            .post(self.url("/v1/admin/users"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": name, "display_name": name.to_uppercase()}))
            .send()
            .await
            .expect("admin request");
        assert_eq!(resp.status(), 201, "{:?}", resp.text().await);
    }

    /// Adds a device and returns its id and token.
    pub async fn add_device(&self, user: &str) -> (DeviceId, String) {
        let resp = self
            .http
            .post(self.url(&format!("/v1/admin/users/{user}/devices")))
            .bearer_auth(ADMIN)
            .json(&json!({"label": "test"}))
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

    /// The call history `token`'s device sees.
    pub async fn history(&self, token: &str) -> Value {
        let resp = self
            .http
            .get(self.url("/v1/calls"))
            .bearer_auth(token)
            .send()
            .await
            .expect("history");
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("json")
    }

    /// Polls the history until `done` holds for the newest call (the record writer runs
    /// asynchronously, a few milliseconds behind the messages).
    pub async fn history_when(&self, token: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let history = self.history(token).await;
            if done(&history["calls"][0]) {
                return history;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "history never reached the expected state: {history}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The newest call once it has ended.
    pub async fn last_ended_call(&self, token: &str) -> Value {
        self.history_when(token, |c| c["state"] == "ended").await["calls"][0].clone()
    }

    /// The whole `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// One counter or gauge from `/metrics`.
    pub async fn metric(&self, name: &str) -> u64 {
        let text = self.metrics().await;
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
