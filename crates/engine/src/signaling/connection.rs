//! The connection task: connect, `hello` → `welcome`, then read, write and keep alive until the
//! connection is lost; wait out the backoff and do it again. It stops for good on shutdown, on
//! a fatal refusal (unauthorized, unsupported version, replaced), or when nobody listens to its
//! events any more.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use ringwire_proto::{
    decode_server, encode, ClientMessage, ErrorCode, ServerMessage, Welcome, MAX_HELLO_CALLS,
    SUPPORTED_VERSIONS,
};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};
use tracing::Instrument;

use super::config::Prepared;
use super::state::Shared;
use super::SignalingEvent;
use crate::error::EngineError;
use ringwire_core::session::Backoff;

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

/// An application ping waiting for its pong.
#[derive(Clone, Copy)]
struct PendingPing {
    nonce: u64,
    sent: Instant,
    sent_unix_ms: i64,
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
            let outcome = tokio::select! {
                biased;
                () = stopped(&mut stop) => return None,
                () = paused(&mut online) => continue,
                () = network_changed(&mut network) => {
                    tracing::info!("network changed while connecting: starting over");
                    backoff.reset();
                    continue;
                }
                outcome = tokio::time::timeout(config.connect_timeout, self.connect()) => outcome,
            };
            let mut now_please = false;
            let reason = match outcome {
                Err(_) => format!(
                    "no welcome within the connect timeout ({:?})",
                    config.connect_timeout
                ),
                Ok(Err(Failure::Fatal(error))) => return Some(error),
                Ok(Err(Failure::Retry(reason))) => reason,
                Ok(Ok((ws, welcome))) => {
                    backoff.reset();
                    attempt = 0;
                    match self
                        .session(ws, welcome, &mut stop, &mut online, &mut network)
                        .await
                    {
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

    /// One attempt: TCP (and TLS), upgrade with the bearer token, `hello`, wait for `welcome`.
    async fn connect(&self) -> Result<(Ws, Welcome), Failure> {
        let request = self.prepared.request().map_err(Failure::Fatal)?;
        let connector = match &self.prepared.tls {
            Some(tls) => Connector::Rustls(tls.clone()),
            None => Connector::Plain,
        };
        let (mut ws, _) =
            tokio_tungstenite::connect_async_tls_with_config(request, None, true, Some(connector))
                .await
                .map_err(|e| Failure::Retry(format!("connect failed: {e}")))?;
        let hello = self.hello();
        ws.send(Message::Text(encode(&hello).into()))
            .await
            .map_err(|e| Failure::Retry(format!("sending hello failed: {e}")))?;
        let mut last_error = None;
        loop {
            let frame = match ws.next().await {
                None => return Err(Failure::Retry(handshake_closed(None, last_error))),
                Some(Err(e)) => {
                    return Err(Failure::Retry(format!(
                        "connection failed during the handshake: {e}"
                    )))
                }
                Some(Ok(frame)) => frame,
            };
            match frame {
                Message::Text(text) => match decode_server(text.as_str()) {
                    Ok(ServerMessage::Welcome(welcome)) => return Ok((ws, welcome)),
                    Ok(ServerMessage::Error(error)) => {
                        if let Some(fatal) = fatal_error_code(error.code) {
                            return Err(Failure::Fatal(fatal));
                        }
                        tracing::warn!(code = %error.code, message = %error.message, "server refused the handshake");
                        last_error = Some(error.code);
                    }
                    Ok(other) => {
                        tracing::warn!(
                            r#type = other.type_name(),
                            "unexpected message before welcome; skipped"
                        );
                    }
                    Err(e) => log_undecodable(&e),
                },
                Message::Close(frame) => {
                    let code = frame.as_ref().map(|f| u16::from(f.code));
                    if let Some(fatal) = code.and_then(fatal_close_code) {
                        return Err(Failure::Fatal(fatal));
                    }
                    return Err(Failure::Retry(handshake_closed(code, last_error)));
                }
                // WebSocket pings are answered by tungstenite on the next read or write.
                _ => {}
            }
        }
    }

    fn hello(&self) -> ClientMessage {
        let mut calls = self.shared.lock().known_calls.clone();
        if calls.len() > MAX_HELLO_CALLS {
            tracing::warn!(
                known = calls.len(),
                sent = MAX_HELLO_CALLS,
                "more known calls than hello.calls allows; listing only the first"
            );
            calls.truncate(MAX_HELLO_CALLS);
        }
        ClientMessage::Hello {
            versions: SUPPORTED_VERSIONS.to_vec(),
            client: self.prepared.client_name.clone(),
            calls,
        }
    }

    /// A connected session: flush the outbox, forward what arrives, keep alive.
    async fn session(
        &self,
        ws: Ws,
        welcome: Welcome,
        stop: &mut watch::Receiver<bool>,
        online: &mut watch::Receiver<bool>,
        network: &mut watch::Receiver<u64>,
    ) -> SessionEnd {
        tracing::info!(user = %welcome.user, device = %welcome.device_id, version = welcome.version, "signaling connected");
        self.shared.set_up();
        if !self.emit(SignalingEvent::Connected(welcome)) {
            self.shared.set_down();
            return SessionEnd::Stop;
        }
        let (mut sink, mut stream) = ws.split();
        let end = self
            .session_loop(&mut sink, &mut stream, stop, online, network)
            .await;
        self.shared.set_down();
        match end {
            SessionEnd::Stop => {
                close_normally(&mut sink, &mut stream, "client shutting down").await
            }
            SessionEnd::Paused => close_normally(&mut sink, &mut stream, "client going idle").await,
            _ => {}
        }
        end
    }

    async fn session_loop(
        &self,
        sink: &mut Sink,
        stream: &mut Stream,
        stop: &mut watch::Receiver<bool>,
        online: &mut watch::Receiver<bool>,
        network: &mut watch::Receiver<u64>,
    ) -> SessionEnd {
        let config = &self.prepared.config;
        let mut ping_timer = tokio::time::interval(config.ping_interval);
        ping_timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut pending: Option<PendingPing> = None;
        let mut next_nonce = random_u64();
        loop {
            let batch = self.shared.take_for_writing();
            if !batch.is_empty() {
                if let Err((e, unsent)) = write_all(sink, batch).await {
                    self.shared.requeue(unsent);
                    return SessionEnd::Lost(format!("write failed: {e}"));
                }
            }
            let pong_deadline = pending.map(|p| p.sent + config.pong_timeout);
            tokio::select! {
                biased;
                () = stopped(stop) => {
                    // What the app sent right before shutting down (a last hangup) still goes
                    // out before the close.
                    let last = self.shared.take_for_writing();
                    if !last.is_empty() {
                        let _ = write_all(sink, last).await;
                    }
                    return SessionEnd::Stop;
                }
                () = paused(online) => {
                    // The last hangup before the app went idle goes out before the close.
                    let last = self.shared.take_for_writing();
                    if !last.is_empty() {
                        if let Err((e, unsent)) = write_all(sink, last).await {
                            self.shared.requeue(unsent);
                            return SessionEnd::Lost(format!("write failed: {e}"));
                        }
                    }
                    return SessionEnd::Paused;
                }
                () = network_changed(network) => return SessionEnd::NetworkChanged,
                frame = stream.next() => {
                    let frame = match frame {
                        None => return SessionEnd::Lost("connection closed".into()),
                        Some(Err(e)) => return SessionEnd::Lost(format!("read failed: {e}")),
                        Some(Ok(frame)) => frame,
                    };
                    if let Some(end) = self.on_frame(frame, &mut pending) {
                        return end;
                    }
                }
                () = self.shared.wake.notified() => {}
                () = sleep_until(pong_deadline) => {
                    return SessionEnd::Lost(format!(
                        "no pong within the pong timeout ({:?})",
                        config.pong_timeout
                    ));
                }
                _ = ping_timer.tick(), if pending.is_none() => {
                    let ping = PendingPing {
                        nonce: next_nonce,
                        sent: Instant::now(),
                        sent_unix_ms: unix_ms(),
                    };
                    next_nonce = next_nonce.wrapping_add(1);
                    let frame = Message::Text(encode(&ClientMessage::Ping { nonce: ping.nonce }).into());
                    if let Err(e) = sink.send(frame).await {
                        return SessionEnd::Lost(format!("write failed: {e}"));
                    }
                    pending = Some(ping);
                }
            }
        }
    }

    /// Handles one frame; `Some` ends the session.
    fn on_frame(&self, frame: Message, pending: &mut Option<PendingPing>) -> Option<SessionEnd> {
        match frame {
            Message::Text(text) => {
                let message = match decode_server(text.as_str()) {
                    Ok(message) => message,
                    Err(e) => {
                        log_undecodable(&e);
                        return None;
                    }
                };
                match message {
                    ServerMessage::Pong {
                        nonce,
                        server_time_ms,
                    } if pending.is_some_and(|p| p.nonce == nonce) => {
                        let ping = pending.take()?;
                        self.on_pong(ping, server_time_ms);
                        None
                    }
                    ServerMessage::Error(error) if fatal_error_code(error.code).is_some() => {
                        fatal_error_code(error.code).map(SessionEnd::Fatal)
                    }
                    message => {
                        if let ServerMessage::Error(error) = &message {
                            tracing::debug!(code = %error.code, call_id = ?error.call_id, "server error");
                        }
                        (!self.emit(SignalingEvent::Message(message))).then_some(SessionEnd::Stop)
                    }
                }
            }
            Message::Close(frame) => {
                let (code, reason) = match &frame {
                    Some(f) => (Some(u16::from(f.code)), f.reason.as_str().to_owned()),
                    None => (None, String::new()),
                };
                if let Some(fatal) = code.and_then(fatal_close_code) {
                    return Some(SessionEnd::Fatal(fatal));
                }
                Some(SessionEnd::Lost(match code {
                    Some(code) => format!("server closed the connection ({code} {reason})"),
                    None => "server closed the connection".to_owned(),
                }))
            }
            Message::Binary(_) => {
                tracing::warn!("binary frame from the server; skipped");
                None
            }
            // Pings are answered by tungstenite itself on the next read or write.
            _ => None,
        }
    }

    fn on_pong(&self, ping: PendingPing, server_time_ms: u64) {
        let rtt = ping.sent.elapsed();
        let half_rtt_ms = i64::try_from(rtt.as_millis() / 2).unwrap_or(i64::MAX);
        let server_ms = i64::try_from(server_time_ms).unwrap_or(i64::MAX);
        let offset = server_ms.saturating_sub(ping.sent_unix_ms.saturating_add(half_rtt_ms));
        tracing::trace!(?rtt, offset_ms = offset, "pong");
        let mut state = self.shared.lock();
        state.rtt = Some(rtt);
        state.server_offset_ms = Some(offset);
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

/// Server error codes after which reconnecting is wrong.
fn fatal_error_code(code: ErrorCode) -> Option<EngineError> {
    match code {
        ErrorCode::Unauthorized => Some(EngineError::Unauthorized),
        ErrorCode::UnsupportedVersion => Some(EngineError::UnsupportedVersion),
        ErrorCode::Replaced => Some(EngineError::Replaced),
        _ => None,
    }
}

/// Close codes after which reconnecting is wrong (protocol 3.9).
fn fatal_close_code(code: u16) -> Option<EngineError> {
    match code {
        4401 => Some(EngineError::Unauthorized),
        4406 => Some(EngineError::UnsupportedVersion),
        4409 => Some(EngineError::Replaced),
        _ => None,
    }
}

fn handshake_closed(code: Option<u16>, error: Option<ErrorCode>) -> String {
    let mut reason = "server closed the connection during the handshake".to_owned();
    if let Some(code) = code {
        reason.push_str(&format!(" ({code})"));
    }
    if let Some(error) = error {
        reason.push_str(&format!(" after error {error}"));
    }
    reason
}

/// A frame that fails to decode is skipped; its content (which may carry SDP or addresses)
/// is not logged, only the kind of failure.
fn log_undecodable(error: &ringwire_proto::ProtoError) {
    tracing::warn!(code = %error.code(), "skipping a server frame that failed to decode");
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A random `u64` from the OS; falls back to the clock's nanoseconds, which is enough for
/// jitter.
fn random_u64() -> u64 {
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
    fn fatal_codes_match_the_protocol() {
        assert_eq!(fatal_close_code(4401), Some(EngineError::Unauthorized));
        assert_eq!(
            fatal_close_code(4406),
            Some(EngineError::UnsupportedVersion)
        );
        assert_eq!(fatal_close_code(4409), Some(EngineError::Replaced));
        for retry in [1000, 1001, 1009, 4400] {
            assert_eq!(fatal_close_code(retry), None, "{retry}");
        }
        assert_eq!(
            fatal_error_code(ErrorCode::Unauthorized),
            Some(EngineError::Unauthorized)
        );
        assert_eq!(fatal_error_code(ErrorCode::ShuttingDown), None);
        assert_eq!(fatal_error_code(ErrorCode::IdleTimeout), None);
    }
}
