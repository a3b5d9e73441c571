//! The WebSocket signaling connection (protocol sections 3 and 4.6–4.7).
//!
//! The protocol itself (what goes out when, timeouts, pings, refusals) is the pure
//! [`ringwire_core::session::ClientSession`], which the simulator drives too. The engine thread
//! owns it, inside its `Device`, like the simulator's devices; what is here carries it:
//!
//! - the transport (`transport`): one tokio task per connection owner that connects (TCP, TLS
//!   with rustls and the webpki roots, the WebSocket upgrade with `Authorization: Bearer
//!   <token>`) after the wait it is told, decodes frames for its owner, writes the batches it
//!   is handed and reports open, close, loss and failed attempts. It decides nothing;
//! - the link (`link`): which connection is current, the backoff (exponential with full
//!   jitter, reset after each `welcome`), pause and network changes, between the session and
//!   the transport. Not async: the engine thread's loop drives it;
//! - [`SignalingClient`]: the same link and transport over a session of its own, for a caller
//!   with no engine (the engine's tests), reporting [`SignalingEvent`]s.
//!
//! The connection's life, as [`SignalingClient`] reports it (the engine says the same with its
//! `EngineEvent::Signaling*` events):
//!
//! 1. Connect with the bearer token, send `hello` (versions `[1]`, the client name, and the
//!    calls set with [`SignalingClient::set_known_calls`]), wait for `welcome` — all within
//!    `connect_timeout`.
//! 2. Emit [`SignalingEvent::Connected`]; write the call-control messages queued while
//!    disconnected; then forward every server message as [`SignalingEvent::Message`], starting
//!    with the server's resync (protocol 4.7). An application `ping` goes out at once and then
//!    `ping_interval` after each `pong`; the `pong` updates [`SignalingClient::rtt`] and
//!    [`SignalingClient::server_offset_ms`] and is not forwarded (pongs for pings the app sent
//!    itself are). A frame that fails to decode is logged and skipped.
//! 3. On a failed attempt, a close, a read or write error, or no `pong` within `pong_timeout`:
//!    emit [`SignalingEvent::Disconnected`] with the delay chosen (exponential backoff with full
//!    jitter, reset after each `welcome`), wait, go to 1.
//! 4. On `error unauthorized` / close 4401, close 4406 (`unsupported_version`), or
//!    `error replaced` / close 4409 (protocol 3.6: another instance of this device took over):
//!    emit [`SignalingEvent::Fatal`] and end. On [`SignalingClient::shutdown`], when every handle
//!    is dropped, or when the event receiver is dropped: close with 1000 and end, silently.
//! 5. On [`SignalingClient::network_changed`]: drop the connection (or the attempt, or the
//!    backoff wait), emit [`SignalingEvent::Disconnected`] with no delay, go to 1 at once.
//! 6. On [`SignalingClient::pause`] (the app left the foreground with no call): write what is
//!    queued, close with 1000 (or give up the attempt or the backoff wait), emit
//!    [`SignalingEvent::Paused`] and wait. Call-control messages sent meanwhile are queued as
//!    while disconnected. On [`SignalingClient::resume`]: go to 1 at once, backoff reset.
//!
//! The event channel closes when the task ends. Delivery is at most once: a message written to
//! a connection that then dies is not resent.

mod client;
mod config;
pub(crate) mod link;
mod state;
pub(crate) mod transport;

use std::sync::Arc;
use std::time::Duration;

use ringwire_proto::{CallId, ClientMessage, ServerMessage, Welcome};
use tokio::sync::{mpsc, watch};

pub use config::SignalingConfig;
pub(crate) use config::{tls_config, Prepared};

use crate::error::EngineError;
use client::{Signals, Task};
use link::{random_u64, Link};
use state::Shared;

/// What the signaling client reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalingEvent {
    /// The handshake completed (`hello` → `welcome`). The server's resync messages follow as
    /// [`SignalingEvent::Message`].
    Connected(Welcome),
    /// A message from the server.
    Message(ServerMessage),
    /// The connection was lost or an attempt failed; the next attempt starts in `retry_in`.
    Disconnected {
        /// What happened, for logs and diagnostics.
        reason: String,
        /// The backoff delay before the next attempt.
        retry_in: Duration,
    },
    /// The connection was closed because [`SignalingClient::pause`] asked for it (or an attempt
    /// or a backoff wait was given up); nothing happens until [`SignalingClient::resume`].
    Paused,
    /// The server refused this device for good ([`EngineError::Unauthorized`],
    /// [`EngineError::UnsupportedVersion`], [`EngineError::Replaced`]). No retry; the task has
    /// stopped and this is the last event.
    Fatal(EngineError),
}

/// A handle to a signaling connection of its own, for a caller with no engine (the engine
/// itself owns its session in its thread). Cheap to clone; the task stops when
/// [`SignalingClient::shutdown`] is called or the last handle is dropped.
#[derive(Debug, Clone)]
pub struct SignalingClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    /// `true` asks the task to stop; dropping it (the last handle gone) does too.
    stop: watch::Sender<bool>,
    /// `false` asks the task to close the connection and wait ([`SignalingClient::pause`]).
    online: watch::Sender<bool>,
    /// Bumped on a network change: the task drops its connection and connects again at once.
    network: watch::Sender<u64>,
    /// Becomes `true` (or closes) when the task has ended.
    done: watch::Receiver<bool>,
}

impl SignalingClient {
    /// Spawns its task (and the transport's) on the current tokio runtime. Events go to
    /// `events`.
    ///
    /// Fails if the configuration is unusable ([`EngineError::Url`], [`EngineError::Config`])
    /// or there is no runtime ([`EngineError::NoRuntime`]); connection problems are reported as
    /// events instead.
    pub fn spawn(
        config: SignalingConfig,
        events: mpsc::UnboundedSender<SignalingEvent>,
    ) -> Result<SignalingClient, EngineError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| EngineError::NoRuntime)?;
        let prepared = Prepared::new(config)?;
        let shared = Arc::new(Shared::new(prepared.session_config(), random_u64()));
        let (stop, stop_rx) = watch::channel(false);
        let (online, online_rx) = watch::channel(true);
        let (done_tx, done) = watch::channel(false);
        let (network, network_rx) = watch::channel(0u64);
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let task = Task {
            shared: shared.clone(),
            link: Link::spawn(prepared, reports_tx),
            reports,
            events,
        };
        let signals = Signals {
            stop: stop_rx,
            online: online_rx,
            network: network_rx,
        };
        runtime.spawn(task.run(signals, done_tx));
        Ok(SignalingClient {
            inner: Arc::new(Inner {
                shared,
                stop,
                online,
                network,
                done,
            }),
        })
    }

    /// Sends a message. Call-control messages (invite, ringing, accept, decline, busy, cancel,
    /// hangup) sent while disconnected are queued (bounded, 64; oldest dropped with a warn) and
    /// flushed right after the next welcome; relays (offer/answer/candidate) and pings are
    /// dropped while disconnected and return `Err(EngineError::SignalingDown)`.
    ///
    /// `hello` is refused ([`EngineError::NotSendable`]): the client sends it itself. After the
    /// task has stopped every send is [`EngineError::Closed`].
    pub fn send(&self, msg: ClientMessage) -> Result<(), EngineError> {
        self.inner.shared.send(msg)
    }

    /// The calls the app still shows; sent as `hello.calls` on every (re)connect (protocol
    /// 4.7). At most 32 are sent (the protocol's limit): the first 32 of this list.
    pub fn set_known_calls(&self, calls: Vec<CallId>) {
        self.inner.shared.lock().set_known_calls(calls);
    }

    /// Whether the handshake has completed on the current connection.
    pub fn is_connected(&self) -> bool {
        self.inner.shared.lock().is_up()
    }

    /// Round-trip time of the last ping/pong.
    pub fn rtt(&self) -> Option<Duration> {
        self.inner.shared.lock().rtt()
    }

    /// The estimated server clock offset (protocol 2.3): server time minus local time, in
    /// milliseconds, from the last ping/pong (assuming a symmetric path).
    pub fn server_offset_ms(&self) -> Option<i64> {
        self.inner.shared.lock().server_offset_ms()
    }

    /// Takes the device offline on purpose: what is queued is written, the connection closes
    /// with 1000 (so the server marks the device offline at once and reaches it by push), and
    /// nothing reconnects until [`resume`](Self::resume). [`SignalingEvent::Paused`] follows.
    /// Idempotent.
    pub fn pause(&self) {
        self.inner
            .online
            .send_if_modified(|online| std::mem::replace(online, false));
    }

    /// Connects again after [`pause`](Self::pause), at once (the backoff starts over).
    /// Idempotent; does nothing if not paused.
    pub fn resume(&self) {
        self.inner
            .online
            .send_if_modified(|online| !std::mem::replace(online, true));
    }

    /// The device's network changed: the connection may be tied to an address that is gone,
    /// and a dead TCP connection would be noticed only at the pong timeout. Drops it and
    /// connects again at once (backoff reset), on whatever path the system now routes; an
    /// attempt or backoff wait in progress starts over at once. Paused stays paused.
    pub fn network_changed(&self) {
        self.inner.network.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Whether [`pause`](Self::pause) is in force.
    pub fn is_paused(&self) -> bool {
        !*self.inner.online.borrow()
    }

    /// Closes the connection with 1000 and waits until the task has ended; no events follow.
    /// Idempotent; every handle may call it.
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        let mut done = self.inner.done.clone();
        // Err means the task is gone (it dropped its sender): also done.
        let _ = done.wait_for(|done| *done).await;
    }
}
