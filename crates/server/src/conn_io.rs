//! Bounded socket IO for one connection: no write to a client, and no close, can wait forever.
//!
//! A client that stops reading fills its TCP window, and a WebSocket write then never completes.
//! Every write here races its own deadline ([`SEND_TIMEOUT`]) and the connection's three stop
//! signals — the hub saying the client fell too far behind, the device being revoked, and
//! server shutdown — so the connection task always gets back to its loop or ends. A close is
//! bounded by [`CLOSE_TIMEOUT`]; after it the socket is simply dropped (TCP close).

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message};
use futures_util::{Sink, SinkExt};
use ringwire_proto::{encode, ErrorCode, ErrorMessage, ServerMessage};
use tokio::sync::{watch, Notify};

use crate::metrics::Metrics;

/// Longest one frame may take to be accepted by the socket before the client counts as too slow.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the goodbye (error frame and close frame) may take; then the socket is dropped.
pub const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);

/// Close code for going away (shutdown, idle, too slow).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code for a missing, unknown or revoked token.
pub const CLOSE_UNAUTHORIZED: u16 = 4401;

/// How a connection ends.
#[derive(Debug)]
pub enum Exit {
    /// The peer closed or the socket failed.
    Gone,
    /// We close with this error and code.
    Close(ErrorMessage, u16),
}

impl Exit {
    pub fn too_slow() -> Exit {
        Exit::Close(
            ErrorMessage::new(
                ErrorCode::TooSlow,
                "this connection fell too far behind; reconnect",
            ),
            CLOSE_GOING_AWAY,
        )
    }

    pub fn revoked() -> Exit {
        Exit::Close(
            ErrorMessage::new(ErrorCode::Unauthorized, "this device's token was revoked"),
            CLOSE_UNAUTHORIZED,
        )
    }

    pub fn shutting_down() -> Exit {
        Exit::Close(
            ErrorMessage::new(
                ErrorCode::ShuttingDown,
                "the server is shutting down; reconnect with backoff",
            ),
            CLOSE_GOING_AWAY,
        )
    }
}

/// What can interrupt a connection at any await.
#[derive(Debug)]
pub struct Guards<'a> {
    /// The hub could not queue a frame: the client fell too far behind.
    pub kill: &'a Notify,
    /// The device was revoked.
    pub revoked: &'a Notify,
    /// Server shutdown.
    pub shutdown: watch::Receiver<bool>,
}

impl Guards<'_> {
    /// Resolves when any stop signal fires, with the exit it calls for.
    pub async fn stopped(&mut self) -> Exit {
        tokio::select! {
            _ = self.kill.notified() => Exit::too_slow(),
            _ = self.revoked.notified() => Exit::revoked(),
            _ = crate::listener::shutting_down(&mut self.shutdown) => Exit::shutting_down(),
        }
    }
}

/// Sends one frame, bounded by [`SEND_TIMEOUT`] and the guards.
pub async fn send_frame<S>(
    socket: &mut S,
    guards: &mut Guards<'_>,
    frame: Message,
) -> Result<(), Exit>
where
    S: Sink<Message, Error = axum::Error> + Unpin,
{
    tokio::select! {
        biased;
        sent = socket.send(frame) => sent.map_err(|_| Exit::Gone),
        exit = guards.stopped() => Err(exit),
        _ = tokio::time::sleep(SEND_TIMEOUT) => {
            tracing::info!("a write did not complete in time; dropping the connection");
            Err(Exit::too_slow())
        }
    }
}

/// Counts and sends one protocol message, bounded like [`send_frame`].
pub async fn send<S>(
    socket: &mut S,
    metrics: &Metrics,
    guards: &mut Guards<'_>,
    msg: &ServerMessage,
) -> Result<(), Exit>
where
    S: Sink<Message, Error = axum::Error> + Unpin,
{
    count(metrics, msg);
    send_frame(socket, guards, Message::Text(encode(msg).into())).await
}

fn count(metrics: &Metrics, msg: &ServerMessage) {
    metrics.sent(msg.type_name());
    if let ServerMessage::Error(e) = msg {
        metrics.error(e.code.as_str());
    }
}

/// Sends `err`, then a close frame with `code`, within [`CLOSE_TIMEOUT`] in all; the error is
/// counted in the metrics even when the client no longer reads.
pub async fn close<S>(socket: &mut S, metrics: &Metrics, err: ErrorMessage, code: u16)
where
    S: Sink<Message, Error = axum::Error> + Unpin,
{
    let reason = err.code.as_str();
    let msg = ServerMessage::Error(err);
    count(metrics, &msg);
    let goodbye = async {
        socket.send(Message::Text(encode(&msg).into())).await?;
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        socket.send(Message::Close(Some(frame))).await?;
        socket.close().await
    };
    if tokio::time::timeout(CLOSE_TIMEOUT, goodbye).await.is_err() {
        tracing::debug!("the client did not take the close in time; dropping the socket");
    }
}
