//! The connection task: connect, then drive the protocol session
//! ([`ringwire_core::session::ClientSession`]: `hello` → `welcome`, reads, writes, pings) until
//! the connection is lost; wait out the backoff and do it again. It stops for good on shutdown, on
//! a fatal refusal (unauthorized, unsupported version, replaced), or when nobody listens to its
//! events any more.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use ringwire_proto::{encode, ClientMessage};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tracing::Instrument;

use super::config::Prepared;
use super::state::Shared;
use super::SignalingEvent;
use crate::error::EngineError;
use ringwire_core::session::{Backoff, Refusal, SessionEnd as ProtocolEnd, SessionEvent};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Sink = SplitSink<Ws, Message>;
type Stream = SplitStream<Ws>;

/// How long a shutdown waits for the server to answer the close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The connection task and what it owns.
#[derive(Debug)]
pub(crate) struct Task {
    pub(crate) prepared: Prepared,
    pub(crate) shared: Arc<Shared>,
    pub(crate) events: mpsc::UnboundedSender<SignalingEvent>,
}

/// Why one attempt to connect failed.
enum Failure {
    /// Try again after the backoff.
    Retry(String),
    /// Do not try again.
    Fatal(EngineError),
}

/// Why a connected session ended.
enum SessionEnd {
    /// Shutdown, or nobody listens any more: the task ends quietly.
    Stop,
    /// [`super::SignalingClient::pause`]: closed cleanly; wait for resume.
    Paused,
    Fatal(EngineError),
    /// Reconnect after the backoff.
    Lost(String),
    /// Reconnect at once: the connection may be on an address that is gone.
    NetworkChanged,
}

impl Task {
    /// Runs until shutdown or a fatal error; marks the shared state stopped and tells `done`.
    pub(crate) async fn run(
        self,
        stop: watch::Receiver<bool>,
        online: watch::Receiver<bool>,
        network: watch::Receiver<u64>,
        done: watch::Sender<bool>,
    ) {
        let span = tracing::info_span!("signaling", url = %self.prepared.url_for_logs);
        async move {
            match self.connect_loop(stop, online, network).await {
                Some(error) => {
                    tracing::error!(%error, "signaling stopped");
                    self.shared.set_stopped();
                    let _ = self.events.send(SignalingEvent::Fatal(error));
                }
                None => {
                    tracing::info!("signaling stopped");
                    self.shared.set_stopped();
                }
            }
            let _ = done.send(true);
        }
        .instrument(span)
        .await;
    }

    /// Connects and reconnects; returns the fatal error that ended it, if any.
    async fn connect_loop(
        &self,
        mut stop: watch::Receiver<bool>,
        mut online: watch::Receiver<bool>,
        mut network: watch::Receiver<u64>,
    ) -> Option<EngineError> {
        let config = &self.prepared.config;
        let mut backoff = Backoff::new(config.backoff_initial, config.backoff_max);
        let mut attempt: u64 = 0;
        loop {
            if !*online.borrow_and_update() {
                tracing::info!("signaling paused");
                if !self.emit(SignalingEvent::Paused) {
                    return None;
                }
                tokio::select! {
                    biased;
                    () = stopped(&mut stop) => return None,
                    () = resumed(&mut online) => {}
                }
                tracing::info!("signaling resumed");
                backoff.reset();
                attempt = 0;
            }
            attempt += 1;
            tracing::debug!(attempt, "connecting");
            network.borrow_and_update();
            let started = Instant::now();
            let opened = tokio::select! {
                biased;
                () = stopped(&mut stop) => return None,
                () = paused(&mut online) => continue,
                () = network_changed(&mut network) => {
                    tracing::info!("network changed while connecting: starting over");
                    backoff.reset();
                    continue;
                }
                opened = tokio::time::timeout(config.connect_timeout, self.open()) => opened,
            };
            let mut now_please = false;
            let reason = match opened {
                Err(_) => format!(
                    "no welcome within the connect timeout ({:?})",
                    config.connect_timeout
                ),
                Ok(Err(Failure::Fatal(error))) => return Some(error),
                Ok(Err(Failure::Retry(reason))) => reason,
                Ok(Ok(ws)) => {
                    let mut links = Links {
                        stop: &mut stop,
                        online: &mut online,
                        network: &mut network,
                        backoff: &mut backoff,
                        attempt: &mut attempt,
                    };
                    match self.connection(ws, started, &mut links).await {
                        SessionEnd::Stop => return None,
                        SessionEnd::Paused => continue,
                        SessionEnd::Fatal(error) => return Some(error),
                        SessionEnd::Lost(reason) => reason,
                        SessionEnd::NetworkChanged => {
                            now_please = true;
                            "the network changed".to_string()
                        }
                    }
                }
            };
            let retry_in = if now_please {
                Duration::ZERO
            } else {
                backoff.next_delay(random_u64())
            };
            tracing::warn!(%reason, ?retry_in, attempt, "signaling disconnected");
            if !self.emit(SignalingEvent::Disconnected { reason, retry_in }) {
                return None;
            }
            tokio::select! {
                biased;
                () = stopped(&mut stop) => return None,
                () = paused(&mut online) => {}
                () = network_changed(&mut network) => backoff.reset(),
                () = tokio::time::sleep(retry_in) => {}
            }
        }
    }

    /// TCP (and TLS) and the WebSocket upgrade with the bearer token.
    async fn open(&self) -> Result<Ws, Failure> {
        let request = self.prepared.request().map_err(Failure::Fatal)?;
        let connector = match &self.prepared.tls {
            Some(tls) => Connector::Rustls(tls.clone()),
            None => Connector::Plain,
        };
        let (ws, _) =
            tokio_tungstenite::connect_async_tls_with_config(request, None, true, Some(connector))
                .await
                .map_err(|e| Failure::Retry(format!("connect failed: {e}")))?;
        Ok(ws)
    }

    /// One open connection, from `hello` to its end: the session decides, this carries it out.
    async fn connection(&self, ws: Ws, started: Instant, links: &mut Links<'_>) -> SessionEnd {
        self.shared.lock().handle_open(started.into_std());
        let (mut sink, mut stream) = ws.split();
        let end = self.drive(&mut sink, &mut stream, links).await;
        match &end {
            SessionEnd::Stop => {
                close_normally(&mut sink, &mut stream, "client shutting down").await
            }
            SessionEnd::Paused => {
                self.shared.lock().handle_closed_by_us();
                close_normally(&mut sink, &mut stream, "client going idle").await
            }
            SessionEnd::NetworkChanged => self.shared.lock().handle_closed_by_us(),
            // The session ended these itself.
            SessionEnd::Lost(_) | SessionEnd::Fatal(_) => {}
        }
        end
    }

    /// Hands the session what happens on the socket, the clock and the app's side, and carries
    /// out what it says, until the connection ends.
    async fn drive(
        &self,
        sink: &mut Sink,
        stream: &mut Stream,
        links: &mut Links<'_>,
    ) -> SessionEnd {
        loop {
            if let Some(end) = self.deliver_events(links) {
                return end;
            }
            if let Err(reason) = self.flush(sink).await {
                self.shared.lock().handle_lost(reason);
                continue;
            }
            let deadline = self.shared.lock().poll_timeout().map(Instant::from_std);
            tokio::select! {
                biased;
                () = stopped(links.stop) => {
                    // What the app sent right before shutting down (a last hangup) still goes
                    // out before the close.
                    let _ = self.flush(sink).await;
                    return SessionEnd::Stop;
                }
                () = paused(links.online) => {
                    // The last hangup before the app went idle goes out before the close.
                    if let Err(reason) = self.flush(sink).await {
                        self.shared.lock().handle_lost(reason);
                        continue;
                    }
                    return SessionEnd::Paused;
                }
                () = network_changed(links.network) => return SessionEnd::NetworkChanged,
                frame = stream.next() => self.on_frame(frame),
                () = self.shared.wake.notified() => {}
                () = sleep_until(deadline) => {
                    self.shared.lock().handle_timeout(std::time::Instant::now(), unix_ms());
                }
            }
        }
    }

    /// Passes the session's events on; `Some` when the connection is over.
    fn deliver_events(&self, links: &mut Links<'_>) -> Option<SessionEnd> {
        loop {
            let event = self.shared.lock().poll_event()?;
            match event {
                SessionEvent::Connected(welcome) => {
                    tracing::info!(user = %welcome.user, device = %welcome.device_id, version = welcome.version, "signaling connected");
                    links.backoff.reset();
                    *links.attempt = 0;
                    if !self.emit(SignalingEvent::Connected(welcome)) {
                        return Some(SessionEnd::Stop);
                    }
                }
                SessionEvent::Message(message) => {
                    if !self.emit(SignalingEvent::Message(message)) {
                        return Some(SessionEnd::Stop);
                    }
                }
                SessionEvent::Ended(ProtocolEnd::Lost(reason)) => {
                    return Some(SessionEnd::Lost(reason))
                }
                SessionEvent::Ended(ProtocolEnd::Refused(refusal)) => {
                    return Some(SessionEnd::Fatal(refused(refusal)))
                }
            }
        }
    }

    /// Writes what the session has for the socket; on failure the session gets back what was
    /// not written, and the reason.
    async fn flush(&self, sink: &mut Sink) -> Result<(), String> {
        let batch: Vec<ClientMessage> = {
            let mut session = self.shared.lock();
            std::iter::from_fn(|| session.poll_transmit()).collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        write_all(sink, batch).await.map_err(|(e, unsent)| {
            self.shared.lock().handle_unsent(unsent);
            format!("write failed: {e}")
        })
    }

    /// Hands one read from the socket to the session.
    fn on_frame(&self, frame: Option<Result<Message, WsError>>) {
        let mut session = self.shared.lock();
        match frame {
            None => session.handle_lost("connection closed".into()),
            Some(Err(e)) => session.handle_lost(format!("read failed: {e}")),
            Some(Ok(Message::Text(text))) => {
                session.handle_text(std::time::Instant::now(), text.as_str())
            }
            Some(Ok(Message::Close(frame))) => match &frame {
                Some(f) => session.handle_close(Some(u16::from(f.code)), f.reason.as_str()),
                None => session.handle_close(None, ""),
            },
            Some(Ok(Message::Binary(_))) => {
                tracing::warn!("binary frame from the server; skipped")
            }
            // Pings are answered by tungstenite itself on the next read or write.
            Some(Ok(_)) => {}
        }
    }

    /// Sends an event; `false` when nobody listens any more.
    fn emit(&self, event: SignalingEvent) -> bool {
        let delivered = self.events.send(event).is_ok();
        if !delivered {
            tracing::info!("signaling events receiver dropped; stopping");
        }
        delivered
    }
}

/// What a connection reads besides its socket: the app's stop, pause and network signals, and
/// the reconnect state a `welcome` resets.
struct Links<'a> {
    stop: &'a mut watch::Receiver<bool>,
    online: &'a mut watch::Receiver<bool>,
    network: &'a mut watch::Receiver<u64>,
    backoff: &'a mut Backoff,
    attempt: &'a mut u64,
}

/// The engine's error for a refusal.
fn refused(refusal: Refusal) -> EngineError {
    match refusal {
        Refusal::Unauthorized => EngineError::Unauthorized,
        Refusal::UnsupportedVersion => EngineError::UnsupportedVersion,
        Refusal::Replaced => EngineError::Replaced,
    }
}

/// Writes a batch; on failure returns the error and the messages from the one that failed on
/// (it may or may not have reached the server: call-control actions are idempotent there, so
/// sending one twice is safe, losing one is not).
async fn write_all(
    sink: &mut Sink,
    batch: Vec<ClientMessage>,
) -> Result<(), (tokio_tungstenite::tungstenite::Error, Vec<ClientMessage>)> {
    let mut batch = batch.into_iter();
    while let Some(message) = batch.next() {
        tracing::debug!(r#type = message.type_name(), call_id = ?message.call_id(), "send");
        if let Err(e) = sink.feed(Message::Text(encode(&message).into())).await {
            return Err((e, std::iter::once(message).chain(batch).collect()));
        }
    }
    // A failed flush leaves it unknown what went out; the batch counts as sent.
    sink.flush().await.map_err(|e| (e, Vec::new()))
}

/// Says goodbye with 1000 and waits briefly for the server's close frame.
async fn close_normally(sink: &mut Sink, stream: &mut Stream, reason: &str) {
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: reason.into(),
    };
    let goodbye = async {
        if sink.send(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        while let Some(Ok(frame)) = stream.next().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    };
    if tokio::time::timeout(CLOSE_TIMEOUT, goodbye).await.is_err() {
        tracing::debug!("server did not answer the close frame in time");
    }
}

/// Resolves when shutdown was asked for or every client handle is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Resolves when [`super::SignalingClient::pause`] is in force (never if every handle is gone:
/// `stopped` covers that).
/// Resolves on the next network change; never when the sender is gone.
async fn network_changed(network: &mut watch::Receiver<u64>) {
    if network.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn paused(online: &mut watch::Receiver<bool>) {
    if online.wait_for(|online| !*online).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Resolves when the client is resumed (never if every handle is gone: `stopped` covers that).
async fn resumed(online: &mut watch::Receiver<bool>) {
    if online.wait_for(|online| *online).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A random `u64` from the OS; falls back to the clock's nanoseconds, which is enough for
/// jitter.
pub(crate) fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos().into())
            .unwrap_or(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_is_the_matching_engine_error() {
        assert_eq!(refused(Refusal::Unauthorized), EngineError::Unauthorized);
        assert_eq!(
            refused(Refusal::UnsupportedVersion),
            EngineError::UnsupportedVersion
        );
        assert_eq!(refused(Refusal::Replaced), EngineError::Replaced);
    }
}
