//! The WebSocket signaling client: one task that keeps a device connected to the server
//! (protocol v1, docs/protocol.md §3), reconnects with exponential backoff and full jitter,
//! lists the device's calls in `hello.calls` on every reconnect so the server resyncs it, and
//! keeps call-control messages sent while down until the next `welcome`.
//!
//! [`SignalingClient`] is the handle (cheap to clone); events arrive on the channel given to
//! [`SignalingClient::spawn`]. The device token is never logged.

mod connection;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringwire_proto::{CallId, ClientMessage, ServerMessage, Welcome};
use tokio::sync::{mpsc, watch};

use crate::EngineError;

/// Call-control messages kept while disconnected.
const OUTBOX_LIMIT: usize = 64;

/// Where and how to connect.
#[derive(Clone)]
pub struct SignalingConfig {
    /// `ws://host:port/v1/ws` or `wss://…`.
    pub url: String,
    /// The device token (`rw_…`).
    pub token: String,
    /// A name for this client, sent in `hello`.
    pub client_name: Option<String>,
    /// First reconnect delay; doubles up to `backoff_max`, reset after a `welcome`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Application-level `ping` interval (also keeps NATs open).
    pub ping_interval: Duration,
    /// No `pong` within this: the connection is dead, reconnect.
    pub pong_timeout: Duration,
    /// TCP + WebSocket + hello/welcome must finish within this.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for SignalingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalingConfig")
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("client_name", &self.client_name)
            .finish_non_exhaustive()
    }
}

impl SignalingConfig {
    /// Defaults: backoff 250 ms → 10 s, ping every 15 s, pong and connect timeouts 10 s.
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> SignalingConfig {
        SignalingConfig {
            url: url.into(),
            token: token.into(),
            client_name: Some(format!("ringwire-engine/{}", env!("CARGO_PKG_VERSION"))),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            ping_interval: Duration::from_secs(15),
            pong_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What the client reports.
#[derive(Debug)]
pub enum SignalingEvent {
    /// `hello` → `welcome` done; the server's resync messages follow as `Message`s.
    Connected(Welcome),
    /// A server message.
    Message(ServerMessage),
    /// The connection is gone; the next attempt starts in `retry_in`.
    Disconnected { reason: String, retry_in: Duration },
    /// The server refused this device for good (unauthorized, no common version); the client
    /// stopped.
    Fatal(EngineError),
}

/// State shared between the handle and the task.
struct Shared {
    connected: AtomicBool,
    known_calls: Mutex<Vec<CallId>>,
    /// Control messages waiting for the next `welcome`.
    outbox: Mutex<VecDeque<ClientMessage>>,
    rtt_us: AtomicU64,
    /// Server clock minus ours, ms; `i64::MIN` until measured.
    offset_ms: AtomicI64,
}

/// Handle to the signaling task.
#[derive(Clone)]
pub struct SignalingClient {
    shared: Arc<Shared>,
    outgoing: mpsc::UnboundedSender<ClientMessage>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for SignalingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalingClient")
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl SignalingClient {
    /// Spawns the connection task on the current tokio runtime; events go to `events`.
    pub fn spawn(
        config: SignalingConfig,
        events: mpsc::UnboundedSender<SignalingEvent>,
    ) -> Result<SignalingClient, EngineError> {
        if !(config.url.starts_with("ws://") || config.url.starts_with("wss://")) {
            return Err(EngineError::Url(config.url));
        }
        let shared = Arc::new(Shared {
            connected: AtomicBool::new(false),
            known_calls: Mutex::new(Vec::new()),
            outbox: Mutex::new(VecDeque::new()),
            rtt_us: AtomicU64::new(u64::MAX),
            offset_ms: AtomicI64::new(i64::MIN),
        });
        let (outgoing, outgoing_rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let task = connection::Task {
            config,
            shared: shared.clone(),
            events,
            outgoing: outgoing_rx,
            stop: stop_rx,
        };
        tokio::spawn(task.run());
        Ok(SignalingClient {
            shared,
            outgoing,
            stop,
        })
    }

    /// Sends a message. Call-control messages sent while disconnected wait (up to 64, oldest
    /// dropped) and go out right after the next `welcome`; relays and pings are dropped while
    /// down and return [`EngineError::SignalingDown`].
    pub fn send(&self, message: ClientMessage) -> Result<(), EngineError> {
        if !self.is_connected() {
            if !is_call_control(&message) {
                return Err(EngineError::SignalingDown);
            }
            queue(&self.shared, message);
            return Ok(());
        }
        self.outgoing
            .send(message)
            .map_err(|_| EngineError::Stopped)
    }

    /// The calls the app still shows, sent as `hello.calls` on every (re)connect.
    pub fn set_known_calls(&self, calls: Vec<CallId>) {
        if let Ok(mut known) = self.shared.known_calls.lock() {
            *known = calls;
        }
    }

    /// Whether `welcome` arrived on the current connection.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    /// Round-trip time of the last `ping`/`pong`.
    pub fn rtt(&self) -> Option<Duration> {
        match self.shared.rtt_us.load(Ordering::Relaxed) {
            u64::MAX => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// The server's clock minus ours, in ms (protocol §2.3), once a `pong` arrived.
    pub fn server_offset_ms(&self) -> Option<i64> {
        match self.shared.offset_ms.load(Ordering::Relaxed) {
            i64::MIN => None,
            ms => Some(ms),
        }
    }

    /// Closes the connection (code 1000) and stops the task; no events follow.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        // Wait until the task has let go of the connection.
        self.stop.closed().await;
    }
}

/// Messages that change a call and must not be lost to a reconnect.
fn is_call_control(message: &ClientMessage) -> bool {
    matches!(
        message,
        ClientMessage::Invite(_)
            | ClientMessage::Ringing { .. }
            | ClientMessage::Accept { .. }
            | ClientMessage::Decline { .. }
            | ClientMessage::Busy { .. }
            | ClientMessage::Cancel { .. }
            | ClientMessage::Hangup { .. }
    )
}

fn queue(shared: &Shared, message: ClientMessage) {
    if let Ok(mut outbox) = shared.outbox.lock() {
        if outbox.len() >= OUTBOX_LIMIT {
            tracing::warn!("signaling outbox full; the oldest queued message is dropped");
            outbox.pop_front();
        }
        outbox.push_back(message);
    }
}
