//! The signaling task: connect, `hello` → `welcome`, pump messages both ways with keepalive
//! pings, and on any failure back off and connect again — except when the server refused the
//! device for good.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use ringwire_proto::{decode_server, encode, ClientMessage, ErrorCode, ServerMessage};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{debug, info, warn};

use super::{queue, Shared, SignalingConfig, SignalingEvent};
use crate::EngineError;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a connection ended.
enum Ended {
    /// Try again after a backoff.
    Retry(String),
    /// The server refused us for good.
    Fatal(EngineError),
    /// `shutdown` was called.
    Stopped,
}

pub(super) struct Task {
    pub config: SignalingConfig,
    pub shared: Arc<Shared>,
    pub events: mpsc::UnboundedSender<SignalingEvent>,
    pub outgoing: mpsc::UnboundedReceiver<ClientMessage>,
    pub stop: watch::Receiver<bool>,
}

impl Task {
    pub async fn run(mut self) {
        let mut backoff = self.config.backoff_initial;
        let mut attempt: u64 = 0;
        loop {
            attempt += 1;
            let (ended, welcomed) = self.connect_and_serve().await;
            self.shared.connected.store(false, Ordering::Release);
            if welcomed {
                backoff = self.config.backoff_initial;
            }
            let reason = match ended {
                Ended::Stopped => return,
                Ended::Fatal(error) => {
                    warn!(%error, "signaling refused for good");
                    let _ = self.events.send(SignalingEvent::Fatal(error));
                    return;
                }
                Ended::Retry(reason) => reason,
            };
            // Full jitter: a fleet of phones that lost the server together does not come back
            // in lockstep.
            let retry_in = jitter(backoff, attempt);
            backoff = (backoff * 2).min(self.config.backoff_max);
            info!(%reason, retry_in_ms = retry_in.as_millis() as u64, "signaling disconnected");
            if self
                .events
                .send(SignalingEvent::Disconnected { reason, retry_in })
                .is_err()
            {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(retry_in) => {}
                _ = self.stop.changed() => return,
            }
            // Messages sent while down: control ones wait for the welcome, the rest is stale.
            while let Ok(message) = self.outgoing.try_recv() {
                if super::is_call_control(&message) {
                    queue(&self.shared, message);
                }
            }
        }
    }

    /// One connection's life. Returns how it ended and whether `welcome` arrived.
    async fn connect_and_serve(&mut self) -> (Ended, bool) {
        let mut socket = match self.connect().await {
            Ok(socket) => socket,
            Err(ended) => return (ended, false),
        };
        if let Err(ended) = self.handshake(&mut socket).await {
            return (ended, false);
        }
        let ended = self.serve(&mut socket).await;
        if matches!(ended, Ended::Stopped) {
            let _ = socket
                .close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "shutdown".into(),
                }))
                .await;
        }
        (ended, true)
    }

    async fn connect(&mut self) -> Result<Socket, Ended> {
        let mut request = self
            .config
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| Ended::Fatal(EngineError::Url(format!("{}: {e}", self.config.url))))?;
        let bearer = HeaderValue::from_str(&format!("Bearer {}", self.config.token))
            .map_err(|_| Ended::Fatal(EngineError::Unauthorized("malformed token".into())))?;
        request.headers_mut().insert("authorization", bearer);
        // Nagle off: a small frame must not wait for the ACK of the previous one.
        let connect = tokio_tungstenite::connect_async_with_config(request, None, true);
        tokio::select! {
            result = tokio::time::timeout(self.config.connect_timeout, connect) => match result {
                Ok(Ok((socket, _))) => Ok(socket),
                Ok(Err(e)) => Err(Ended::Retry(format!("connect failed: {e}"))),
                Err(_) => Err(Ended::Retry("connect timed out".into())),
            },
            _ = self.stop.changed() => Err(Ended::Stopped),
        }
    }

    async fn handshake(&mut self, socket: &mut Socket) -> Result<(), Ended> {
        let calls = self
            .shared
            .known_calls
            .lock()
            .map(|c| {
                c.iter()
                    .copied()
                    .take(ringwire_proto::MAX_HELLO_CALLS)
                    .collect()
            })
            .unwrap_or_default();
        let hello = ClientMessage::Hello {
            versions: ringwire_proto::SUPPORTED_VERSIONS.to_vec(),
            client: self
                .config
                .client_name
                .as_deref()
                .and_then(|n| n.parse().ok()),
            calls,
        };
        send(socket, &hello).await?;
        let deadline = tokio::time::sleep(self.config.connect_timeout);
        tokio::pin!(deadline);
        loop {
            let frame = tokio::select! {
                frame = socket.next() => frame,
                _ = &mut deadline => return Err(Ended::Retry("no welcome in time".into())),
                _ = self.stop.changed() => return Err(Ended::Stopped),
            };
            match self.read(frame)? {
                Some(ServerMessage::Welcome(welcome)) => {
                    info!(device_id = %welcome.device_id, version = welcome.version, "signaling connected");
                    self.shared.connected.store(true, Ordering::Release);
                    let _ = self.events.send(SignalingEvent::Connected(welcome));
                    let queued: Vec<ClientMessage> = self
                        .shared
                        .outbox
                        .lock()
                        .map(|mut q| q.drain(..).collect())
                        .unwrap_or_default();
                    for message in queued {
                        send(socket, &message).await?;
                    }
                    return Ok(());
                }
                Some(other) => {
                    debug!(kind = other.type_name(), "message before welcome ignored");
                }
                None => {}
            }
        }
    }

    async fn serve(&mut self, socket: &mut Socket) -> Ended {
        let mut ping = tokio::time::interval(self.config.ping_interval);
        ping.tick().await; // the first tick is immediate
        let mut pending: Option<(u64, Instant, SystemTime)> = None;
        let mut nonce: u64 = 0;
        loop {
            let pong_deadline = pending.map(|(_, at, _)| at + self.config.pong_timeout);
            let pong_timer = async {
                match pong_deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = self.stop.changed() => {
                    // What the app sent before shutting down (a last hangup) still goes out.
                    while let Ok(message) = self.outgoing.try_recv() {
                        if send(socket, &message).await.is_err() {
                            break;
                        }
                    }
                    return Ended::Stopped;
                }
                message = self.outgoing.recv() => {
                    let Some(message) = message else { return Ended::Stopped };
                    if let Err(ended) = send(socket, &message).await {
                        if super::is_call_control(&message) {
                            queue(&self.shared, message);
                        }
                        return ended;
                    }
                }
                frame = socket.next() => {
                    match self.read(frame) {
                        Err(ended) => return ended,
                        Ok(Some(ServerMessage::Pong { nonce: n, server_time_ms })) => {
                            if let Some((sent_nonce, sent_at, sent_wall)) = pending {
                                if sent_nonce == n {
                                    self.on_pong(sent_at, sent_wall, server_time_ms);
                                    pending = None;
                                }
                            }
                        }
                        Ok(Some(message)) => {
                            let _ = self.events.send(SignalingEvent::Message(message));
                        }
                        Ok(None) => {}
                    }
                }
                _ = ping.tick() => {
                    if pending.is_none() {
                        nonce += 1;
                        pending = Some((nonce, Instant::now(), SystemTime::now()));
                        if let Err(ended) = send(socket, &ClientMessage::Ping { nonce }).await {
                            return ended;
                        }
                    }
                }
                _ = pong_timer => return Ended::Retry("no pong: the connection is dead".into()),
            }
        }
    }

    fn on_pong(&self, sent_at: Instant, sent_wall: SystemTime, server_time_ms: u64) {
        let rtt = sent_at.elapsed();
        self.shared
            .rtt_us
            .store(rtt.as_micros() as u64, Ordering::Relaxed);
        // offset ≈ server − (t_sent + t_received) / 2 (protocol §2.3).
        let sent_ms = sent_wall
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let midpoint = sent_ms + (rtt.as_millis() as i64) / 2;
        self.shared
            .offset_ms
            .store(server_time_ms as i64 - midpoint, Ordering::Relaxed);
    }

    /// One frame in: a server message, nothing (control frames, undecodable text), or the end
    /// of the connection.
    fn read(
        &self,
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<Option<ServerMessage>, Ended> {
        let message = match frame {
            None => return Err(Ended::Retry("connection closed".into())),
            Some(Err(e)) => return Err(Ended::Retry(format!("read failed: {e}"))),
            Some(Ok(m)) => m,
        };
        match message {
            Message::Text(text) => match decode_server(text.as_str()) {
                Ok(ServerMessage::Error(error)) if error.call_id.is_none() => match error.code {
                    ErrorCode::Unauthorized => {
                        Err(Ended::Fatal(EngineError::Unauthorized(error.message)))
                    }
                    ErrorCode::UnsupportedVersion => {
                        Err(Ended::Fatal(EngineError::UnsupportedVersion(error.message)))
                    }
                    _ => Ok(Some(ServerMessage::Error(error))),
                },
                Ok(message) => Ok(Some(message)),
                Err(error) => {
                    warn!(code = ?error.code(), bytes = text.len(), "undecodable server frame skipped");
                    Ok(None)
                }
            },
            Message::Close(frame) => {
                let code = frame.as_ref().map(|f| u16::from(f.code));
                let reason = frame
                    .as_ref()
                    .map(|f| f.reason.to_string())
                    .unwrap_or_default();
                match code {
                    Some(4401) => Err(Ended::Fatal(EngineError::Unauthorized(reason))),
                    Some(4406) => Err(Ended::Fatal(EngineError::UnsupportedVersion(reason))),
                    _ => Err(Ended::Retry(format!(
                        "server closed the connection ({}{}{})",
                        code.map(|c| c.to_string())
                            .unwrap_or_else(|| "no code".into()),
                        if reason.is_empty() { "" } else { ": " },
                        reason
                    ))),
                }
            }
            // Pings are answered by tungstenite; binary frames are not part of protocol v1.
            _ => Ok(None),
        }
    }
}

async fn send(socket: &mut Socket, message: &ClientMessage) -> Result<(), Ended> {
    let text = encode(message);
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|e| Ended::Retry(format!("write failed: {e}")))
}

/// A uniformly random delay in [0, backoff] (full jitter), never below 50 ms.
fn jitter(backoff: Duration, attempt: u64) -> Duration {
    let mut seed = [0u8; 8];
    if getrandom::fill(&mut seed).is_err() {
        seed = attempt.to_le_bytes();
    }
    let fraction = (u64::from_le_bytes(seed) % 1_000_001) as f64 / 1_000_000.0;
    backoff.mul_f64(fraction).max(Duration::from_millis(50))
}
