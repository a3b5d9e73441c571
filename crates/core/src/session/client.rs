//! [`ClientSession`]: the device side of protocol v1's signaling connection (protocol sections
//! 3 and 4.6–4.7) with no IO — one connection after another, each opened, handshaken, kept alive
//! and lost. The driver owns the socket: it says when a connection opened, hands over every
//! frame and close, writes what [`ClientSession::poll_transmit`] returns, and wakes at
//! [`ClientSession::poll_timeout`]. The session decides the rest:
//!
//! - on open, `hello` goes first (versions, client name, the known calls, at most 32);
//! - nothing else goes out before `welcome`; call control the agent sent while down or
//!   handshaking waits in the [`Outbox`] and follows the `welcome` in order; relays and pings
//!   sent while down are refused;
//! - `welcome` within the handshake timeout, or the attempt is lost; an error reply before it is
//!   remembered for the reason;
//! - an application `ping` right after `welcome` and every `ping_interval` after its `pong`;
//!   the `pong` gives the RTT and the server clock offset and is not passed on; no `pong` within
//!   `pong_timeout` and the connection is lost;
//! - `error unauthorized` / close 4401, close 4406 and `error replaced` / close 4409 end it for
//!   good ([`Refusal`]); any other close or loss is worth another attempt.
//!
//! The engine's thread (through its `Device`, over a WebSocket transport) and the simulator's
//! devices both drive it, so what the simulator proves about reconnects, resync and queued
//! hangups is what the shipped client does.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ringwire_proto::{
    decode_server, CallId, ClientMessage, DisplayName, ErrorCode, ServerMessage, Welcome,
    MAX_HELLO_CALLS, SUPPORTED_VERSIONS,
};

use super::outbox::{kind, Kind, Outbox};
use crate::error::CoreError;

/// Timing and identity of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Sent in `hello.client`, for the server's logs.
    pub client_name: Option<DisplayName>,
    /// From the start of an attempt to `welcome`.
    pub handshake_timeout: Duration,
    /// Between application pings once up.
    pub ping_interval: Duration,
    /// How long a ping may wait for its pong before the connection counts as dead.
    pub pong_timeout: Duration,
}

impl Default for SessionConfig {
    /// The engine's defaults: a ping every 15 s, 10 s for its pong, 10 s to `welcome`.
    fn default() -> Self {
        SessionConfig {
            client_name: None,
            handshake_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(15),
            pong_timeout: Duration::from_secs(10),
        }
    }
}

/// Why the server refused this device for good: reconnecting would be wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The token is unknown or revoked (`error unauthorized`, close 4401).
    Unauthorized,
    /// No protocol version in common (close 4406).
    UnsupportedVersion,
    /// Another instance of this device connected (`error replaced`, close 4409).
    Replaced,
}

impl Refusal {
    /// The refusal an error code means, if it is one.
    pub fn from_error_code(code: ErrorCode) -> Option<Refusal> {
        match code {
            ErrorCode::Unauthorized => Some(Refusal::Unauthorized),
            ErrorCode::UnsupportedVersion => Some(Refusal::UnsupportedVersion),
            ErrorCode::Replaced => Some(Refusal::Replaced),
            _ => None,
        }
    }

    /// The refusal a WebSocket close code means, if it is one (protocol 3.9).
    pub fn from_close_code(code: u16) -> Option<Refusal> {
        match code {
            4401 => Some(Refusal::Unauthorized),
            4406 => Some(Refusal::UnsupportedVersion),
            4409 => Some(Refusal::Replaced),
            _ => None,
        }
    }
}

/// How a connection ended, as the session saw it. The driver closes the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// Lost (or the attempt failed): try again after the backoff. The text is for logs.
    Lost(String),
    /// Refused for good: do not try again.
    Refused(Refusal),
}

/// What the session tells its driver, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// `welcome` arrived: the connection is up. The server's resync follows as messages.
    Connected(Welcome),
    /// A message from the server for the agent.
    Message(ServerMessage),
    /// The connection is over; close the socket.
    Ended(SessionEnd),
}

/// An application ping waiting for its pong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingPing {
    nonce: u64,
    sent: Instant,
    sent_unix_ms: i64,
}

/// Where the session is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// No connection (connecting, waiting to retry, or paused: the driver's business).
    Down,
    /// `hello` sent, waiting for `welcome` until `deadline`.
    Handshake {
        deadline: Instant,
        /// The last error the server sent before closing, for the reason.
        last_error: Option<ErrorCode>,
    },
    /// `welcome` received.
    Up {
        next_ping: Instant,
        pending: Option<PendingPing>,
    },
    /// Stopped for good (refused, or shut down): every send is refused.
    Stopped,
}

/// The device side of the signaling connection. See the module docs.
#[derive(Debug)]
pub struct ClientSession {
    config: SessionConfig,
    phase: Phase,
    /// Call control waiting for the next `welcome`.
    outbox: Outbox,
    /// What goes out on the current connection, in order.
    transmit: VecDeque<ClientMessage>,
    events: VecDeque<SessionEvent>,
    known_calls: Vec<CallId>,
    next_nonce: u64,
    rtt: Option<Duration>,
    server_offset_ms: Option<i64>,
}

impl ClientSession {
    /// A session with no connection yet. `nonce_seed` starts the ping nonces (any value; a
    /// random one keeps pings of two instances apart in the server's logs).
    pub fn new(config: SessionConfig, nonce_seed: u64) -> ClientSession {
        ClientSession {
            config,
            phase: Phase::Down,
            outbox: Outbox::default(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            known_calls: Vec::new(),
            next_nonce: nonce_seed,
            rtt: None,
            server_offset_ms: None,
        }
    }

    /// The calls the app still shows, listed in the next `hello.calls` (the first 32).
    pub fn set_known_calls(&mut self, calls: Vec<CallId>) {
        self.known_calls = calls;
    }

    /// Whether `welcome` has arrived on the current connection.
    pub fn is_up(&self) -> bool {
        matches!(self.phase, Phase::Up { .. })
    }

    /// Whether the session has stopped for good.
    pub fn is_stopped(&self) -> bool {
        self.phase == Phase::Stopped
    }

    /// Round-trip time of the last ping/pong.
    pub fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// Server time minus local time in milliseconds, from the last ping/pong (protocol 2.3),
    /// assuming a symmetric path.
    pub fn server_offset_ms(&self) -> Option<i64> {
        self.server_offset_ms
    }

    /// Sends a message for the agent: at once when up; call control waits for the next
    /// `welcome` when not (the oldest is dropped past [`super::OUTBOX_CAPACITY`]); relays and
    /// pings are refused while down ([`CoreError::SignalingDown`]); `hello` is the session's own
    /// ([`CoreError::NotSendable`]).
    pub fn send(&mut self, message: ClientMessage) -> Result<(), CoreError> {
        let kind = kind(&message);
        if kind == Kind::Hello {
            return Err(CoreError::NotSendable(
                "hello is sent by the signaling session itself on every (re)connect; set the \
                 known calls for hello.calls",
            ));
        }
        match (&self.phase, kind) {
            (Phase::Stopped, _) => Err(CoreError::SignalingStopped),
            (Phase::Up { .. }, _) => {
                self.transmit.push_back(message);
                Ok(())
            }
            (Phase::Down | Phase::Handshake { .. }, Kind::CallControl) => {
                tracing::debug!(
                    r#type = message.type_name(),
                    call_id = ?message.call_id(),
                    "signaling down; queued until the next welcome"
                );
                if let Some(old) = self.outbox.push_offline(message) {
                    tracing::warn!(
                        r#type = old.type_name(),
                        call_id = ?old.call_id(),
                        "signaling outbox full while disconnected; dropped the oldest message"
                    );
                }
                Ok(())
            }
            (Phase::Down | Phase::Handshake { .. }, _) => Err(CoreError::SignalingDown),
        }
    }

    /// A connection is open: `hello` goes out. `attempt_started` is when the attempt began
    /// (before TCP and TLS), so the handshake timeout covers the whole attempt.
    pub fn handle_open(&mut self, attempt_started: Instant) {
        if self.phase == Phase::Stopped {
            return;
        }
        self.drop_connection();
        let mut calls = self.known_calls.clone();
        if calls.len() > MAX_HELLO_CALLS {
            tracing::warn!(
                known = calls.len(),
                sent = MAX_HELLO_CALLS,
                "more known calls than hello.calls allows; listing only the first"
            );
            calls.truncate(MAX_HELLO_CALLS);
        }
        self.transmit.push_back(ClientMessage::Hello {
            versions: SUPPORTED_VERSIONS.to_vec(),
            client: self.config.client_name.clone(),
            calls,
        });
        self.phase = Phase::Handshake {
            deadline: attempt_started + self.config.handshake_timeout,
            last_error: None,
        };
    }

    /// A text frame from the server. One that fails to decode is skipped; its content (which
    /// may carry SDP or addresses) is not logged, only the kind of failure.
    pub fn handle_text(&mut self, now: Instant, text: &str) {
        match decode_server(text) {
            Ok(message) => self.handle_message(now, message),
            Err(e) => {
                tracing::warn!(code = %e.code(), "skipping a server frame that failed to decode")
            }
        }
    }

    /// A decoded message from the server.
    pub fn handle_message(&mut self, now: Instant, message: ServerMessage) {
        match &mut self.phase {
            Phase::Down | Phase::Stopped => {
                tracing::debug!(
                    r#type = message.type_name(),
                    "message with no connection; skipped"
                );
            }
            Phase::Handshake { last_error, .. } => match message {
                ServerMessage::Welcome(welcome) => {
                    // The first ping goes at once: the RTT and the server's clock offset are
                    // known from the start of the connection.
                    self.phase = Phase::Up {
                        next_ping: now,
                        pending: None,
                    };
                    self.events.push_back(SessionEvent::Connected(welcome));
                    self.transmit.extend(self.outbox.take());
                }
                ServerMessage::Error(error) => match Refusal::from_error_code(error.code) {
                    Some(refusal) => self.end(SessionEnd::Refused(refusal)),
                    None => {
                        tracing::warn!(code = %error.code, message = %error.message, "server refused the handshake");
                        *last_error = Some(error.code);
                    }
                },
                other => tracing::warn!(
                    r#type = other.type_name(),
                    "unexpected message before welcome; skipped"
                ),
            },
            Phase::Up { pending, .. } => match message {
                ServerMessage::Pong {
                    nonce,
                    server_time_ms,
                } if pending.is_some_and(|p| p.nonce == nonce) => {
                    if let Some(ping) = pending.take() {
                        self.on_pong(now, ping, server_time_ms);
                    }
                }
                ServerMessage::Error(error) => match Refusal::from_error_code(error.code) {
                    Some(refusal) => self.end(SessionEnd::Refused(refusal)),
                    None => {
                        tracing::debug!(code = %error.code, call_id = ?error.call_id, "server error");
                        self.events
                            .push_back(SessionEvent::Message(ServerMessage::Error(error)));
                    }
                },
                message => self.events.push_back(SessionEvent::Message(message)),
            },
        }
    }

    /// The server closed the connection (`code` and `reason` from its close frame, if any).
    pub fn handle_close(&mut self, code: Option<u16>, reason: &str) {
        if let Some(refusal) = code.and_then(Refusal::from_close_code) {
            if !matches!(self.phase, Phase::Down | Phase::Stopped) {
                self.end(SessionEnd::Refused(refusal));
            }
            return;
        }
        let text = match (&self.phase, code) {
            (Phase::Handshake { last_error, .. }, code) => {
                let mut text = "server closed the connection during the handshake".to_owned();
                if let Some(code) = code {
                    text.push_str(&format!(" ({code})"));
                }
                if let Some(error) = last_error {
                    text.push_str(&format!(" after error {error}"));
                }
                text
            }
            (_, Some(code)) => format!("server closed the connection ({code} {reason})"),
            (_, None) => "server closed the connection".to_owned(),
        };
        self.handle_lost(text);
    }

    /// The driver lost the connection (a read or write failed, the socket died): what was not
    /// written waits if it is call control, the rest is dropped.
    pub fn handle_lost(&mut self, reason: String) {
        if matches!(self.phase, Phase::Down | Phase::Stopped) {
            return;
        }
        self.end(SessionEnd::Lost(reason));
    }

    /// Puts messages the driver took but could not write back in front, in order: sending a
    /// call-control action twice is safe (the server treats them as idempotent), losing one
    /// is not.
    pub fn handle_unsent(&mut self, unsent: Vec<ClientMessage>) {
        for message in unsent.into_iter().rev() {
            self.transmit.push_front(message);
        }
    }

    /// The driver closed the connection on purpose (the app paused signaling, the network
    /// changed): like a loss, but nothing to report.
    pub fn handle_closed_by_us(&mut self) {
        if self.phase != Phase::Stopped {
            self.drop_connection();
        }
    }

    /// Time passed: the handshake or the pong may be overdue, a ping may be due. `unix_ms` is
    /// the wall clock, stamped on a ping to estimate the server's clock offset from its pong.
    pub fn handle_timeout(&mut self, now: Instant, unix_ms: i64) {
        match &mut self.phase {
            Phase::Handshake { deadline, .. } if now >= *deadline => {
                let text = format!(
                    "no welcome within the connect timeout ({:?})",
                    self.config.handshake_timeout
                );
                self.handle_lost(text);
            }
            Phase::Up {
                pending: Some(ping),
                ..
            } if now >= ping.sent + self.config.pong_timeout => {
                let text = format!(
                    "no pong within the pong timeout ({:?})",
                    self.config.pong_timeout
                );
                self.handle_lost(text);
            }
            Phase::Up { next_ping, pending } if pending.is_none() && now >= *next_ping => {
                let nonce = self.next_nonce;
                self.next_nonce = self.next_nonce.wrapping_add(1);
                *pending = Some(PendingPing {
                    nonce,
                    sent: now,
                    sent_unix_ms: unix_ms,
                });
                *next_ping = now + self.config.ping_interval;
                self.transmit.push_back(ClientMessage::Ping { nonce });
            }
            _ => {}
        }
    }

    /// When [`ClientSession::handle_timeout`] should run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Handshake { deadline, .. } => Some(*deadline),
            Phase::Up {
                pending: Some(ping),
                ..
            } => Some(ping.sent + self.config.pong_timeout),
            Phase::Up {
                next_ping,
                pending: None,
            } => Some(*next_ping),
            Phase::Down | Phase::Stopped => None,
        }
    }

    /// The next message to write on the current connection.
    pub fn poll_transmit(&mut self) -> Option<ClientMessage> {
        if matches!(self.phase, Phase::Down | Phase::Stopped) {
            return None;
        }
        self.transmit.pop_front()
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Stops for good (the app shut the client down): every later send is refused. Returns how
    /// many unsent messages were dropped.
    pub fn stop(&mut self) -> usize {
        self.phase = Phase::Stopped;
        let dropped = self.outbox.clear() + self.transmit.len();
        self.transmit.clear();
        dropped
    }

    fn end(&mut self, end: SessionEnd) {
        match &end {
            SessionEnd::Refused(_) => {
                self.stop();
            }
            SessionEnd::Lost(_) => self.drop_connection(),
        }
        self.events.push_back(SessionEvent::Ended(end));
    }

    /// The connection is gone: unwritten call control waits for the next one, the rest goes.
    fn drop_connection(&mut self) {
        self.phase = Phase::Down;
        self.outbox
            .push_front_all(std::mem::take(&mut self.transmit).into());
        for message in self.outbox.keep_for_offline() {
            tracing::debug!(
                r#type = message.type_name(),
                call_id = ?message.call_id(),
                "connection lost before this message was written; dropped"
            );
        }
    }

    fn on_pong(&mut self, now: Instant, ping: PendingPing, server_time_ms: u64) {
        let rtt = now.saturating_duration_since(ping.sent);
        let half_rtt_ms = i64::try_from(rtt.as_millis() / 2).unwrap_or(i64::MAX);
        let server_ms = i64::try_from(server_time_ms).unwrap_or(i64::MAX);
        let offset = server_ms.saturating_sub(ping.sent_unix_ms.saturating_add(half_rtt_ms));
        tracing::trace!(?rtt, offset_ms = offset, "pong");
        self.rtt = Some(rtt);
        self.server_offset_ms = Some(offset);
    }
}

#[cfg(test)]
mod tests;
