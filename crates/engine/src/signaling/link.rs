//! [`Link`]: the signaling connection as the owner of the protocol session runs it — which
//! connection is current, the reconnect backoff, pause and network changes — between the
//! session (the engine thread's `Device<ClientSession>`, or the standalone
//! [`super::SignalingClient`]'s `ClientSession`, both seen as a [`SessionSocket`]) and the
//! [`Transport`] task that carries the WebSocket. Not async: its owner's loop hands it the
//! transport's reports and the app's wishes, and it tells the transport what to do.
//!
//! The rules (the module docs of [`super`] tell them from the app's side):
//!
//! - a failed attempt, or a connection the session ended as lost, is reported as
//!   [`LinkEvent::Disconnected`] and tried again after the backoff (exponential with full
//!   jitter, reset by each `welcome`), which the transport waits out;
//! - a connection the session refused for good ([`Refusal`]) is [`LinkEvent::Fatal`]: no
//!   retry;
//! - pause writes what the session has, closes with 1000 (or gives up the attempt or the
//!   wait) and waits for resume, which connects at once with the backoff reset;
//! - a network change drops the connection (or the attempt, or the wait) and connects again at
//!   once, backoff reset; paused stays paused.

use std::time::{Duration, Instant};

use ringwire_core::session::{Backoff, ClientSession, Refusal, SessionEnd};
use ringwire_core::Device;
use ringwire_proto::{ClientMessage, ServerMessage};
use tokio::sync::mpsc;

use super::config::Prepared;
use super::transport::{Command, Report, Transport};
use crate::error::EngineError;

/// The socket's side of the protocol session, as the link drives it.
pub(crate) trait SessionSocket {
    /// A connection opened; its attempt began at `started`.
    fn open(&mut self, started: Instant);
    /// A message from the server.
    fn message(&mut self, now: Instant, message: ServerMessage);
    /// The server's close frame.
    fn close(&mut self, now: Instant, code: Option<u16>, reason: &str);
    /// The connection died.
    fn lost(&mut self, now: Instant, reason: String);
    /// Messages taken for a connection that could not write them.
    fn unsent(&mut self, messages: Vec<ClientMessage>);
    /// The link closed the connection on purpose.
    fn closed_by_us(&mut self, now: Instant);
    /// The next message to write.
    fn transmit(&mut self) -> Option<ClientMessage>;
    /// Stop for good.
    fn stop(&mut self);
}

impl SessionSocket for ClientSession {
    fn open(&mut self, started: Instant) {
        self.handle_open(started);
    }

    fn message(&mut self, now: Instant, message: ServerMessage) {
        self.handle_message(now, message);
    }

    fn close(&mut self, _now: Instant, code: Option<u16>, reason: &str) {
        self.handle_close(code, reason);
    }

    fn lost(&mut self, _now: Instant, reason: String) {
        self.handle_lost(reason);
    }

    fn unsent(&mut self, messages: Vec<ClientMessage>) {
        self.handle_unsent(messages);
    }

    fn closed_by_us(&mut self, _now: Instant) {
        self.handle_closed_by_us();
    }

    fn transmit(&mut self) -> Option<ClientMessage> {
        self.poll_transmit()
    }

    fn stop(&mut self) {
        let dropped = ClientSession::stop(self);
        if dropped > 0 {
            tracing::warn!(
                messages = dropped,
                "signaling client stopped with unsent messages"
            );
        }
    }
}

/// The engine thread's device: the session's events go to the agent at once (drain
/// [`Device::poll_output`] after each input).
impl SessionSocket for Device<ClientSession> {
    fn open(&mut self, started: Instant) {
        self.handle_open(started);
    }

    fn message(&mut self, now: Instant, message: ServerMessage) {
        self.handle_server_message(now, message);
    }

    fn close(&mut self, now: Instant, code: Option<u16>, reason: &str) {
        self.handle_close(now, code, reason);
    }

    fn lost(&mut self, now: Instant, reason: String) {
        self.handle_lost(now, reason);
    }

    fn unsent(&mut self, messages: Vec<ClientMessage>) {
        self.session_mut().unsent(messages);
    }

    fn closed_by_us(&mut self, now: Instant) {
        self.handle_closed_by_us(now);
    }

    fn transmit(&mut self) -> Option<ClientMessage> {
        self.poll_transmit()
    }

    fn stop(&mut self) {
        SessionSocket::stop(self.session_mut());
    }
}

/// What the link tells its owner (the session's own events come from the session).
#[derive(Debug)]
pub(crate) enum LinkEvent {
    /// The connection was lost or an attempt failed; the next attempt starts in `retry_in`.
    Disconnected { reason: String, retry_in: Duration },
    /// Closed on purpose ([`Link::pause`]); nothing happens until [`Link::resume`].
    Paused,
    /// Refused for good; the link has stopped.
    Fatal(EngineError),
}

/// Where the link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Connection `id` is being attempted, or waited for (the backoff).
    Connecting(u64),
    /// Connection `id` is open; the session runs on it.
    Open(u64),
    /// Offline on purpose until resume.
    Paused,
    /// Refused for good, or shut down.
    Stopped,
}

/// The signaling connection of one session. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Link {
    transport: Transport,
    backoff: Backoff,
    /// Attempts since the last `welcome`, for logs.
    attempt: u64,
    last_id: u64,
    state: State,
}

impl Link {
    /// Spawns the transport (reports go to `reports`) and starts connecting at once.
    pub(crate) fn spawn(prepared: Prepared, reports: mpsc::UnboundedSender<Report>) -> Link {
        let config = &prepared.config;
        let backoff = Backoff::new(config.backoff_initial, config.backoff_max);
        let mut link = Link {
            transport: Transport::spawn(prepared, reports),
            backoff,
            attempt: 0,
            last_id: 0,
            state: State::Stopped,
        };
        link.connect(Duration::ZERO);
        link
    }

    /// Whether [`Link::pause`] is in force.
    pub(crate) fn is_paused(&self) -> bool {
        self.state == State::Paused
    }

    /// What the transport reported; hand the session's events (if any) on afterwards, the
    /// connection's end to [`Link::session_ended`].
    pub(crate) fn handle_report(
        &mut self,
        session: &mut impl SessionSocket,
        now: Instant,
        report: Report,
    ) -> Option<LinkEvent> {
        match report {
            Report::Opened { id, started } if self.state == State::Connecting(id) => {
                self.state = State::Open(id);
                session.open(started);
            }
            Report::Failed { id, reason } if self.state == State::Connecting(id) => {
                return Some(self.retry(reason));
            }
            Report::Unusable(error) => {
                self.state = State::Stopped;
                session.stop();
                return Some(LinkEvent::Fatal(error));
            }
            Report::Message { id, message } if self.state == State::Open(id) => {
                session.message(now, message);
            }
            Report::Closed { id, code, reason } if self.state == State::Open(id) => {
                session.close(now, code, &reason);
            }
            Report::Lost { id, reason, unsent } => {
                session.unsent(unsent);
                if self.state == State::Open(id) {
                    session.lost(now, reason);
                }
            }
            Report::Unwritten(unsent) => session.unsent(unsent),
            // About a connection given up already.
            Report::Opened { .. }
            | Report::Failed { .. }
            | Report::Message { .. }
            | Report::Closed { .. } => {}
        }
        None
    }

    /// The session's `welcome` arrived: the backoff starts over.
    pub(crate) fn connected(&mut self) {
        self.backoff.reset();
        self.attempt = 0;
    }

    /// The session ended the connection: lost (try again after the backoff) or refused for
    /// good.
    pub(crate) fn session_ended(&mut self, end: SessionEnd) -> Option<LinkEvent> {
        let State::Open(id) = self.state else {
            return None;
        };
        self.transport.send(Command::Close { id, goodbye: None });
        match end {
            SessionEnd::Lost(reason) => Some(self.retry(reason)),
            SessionEnd::Refused(refusal) => {
                self.state = State::Stopped;
                Some(LinkEvent::Fatal(refused(refusal)))
            }
        }
    }

    /// Hands the transport what the session has for the open connection.
    pub(crate) fn flush(&mut self, session: &mut impl SessionSocket) {
        let State::Open(id) = self.state else {
            return;
        };
        let messages: Vec<ClientMessage> = std::iter::from_fn(|| session.transmit()).collect();
        if !messages.is_empty() {
            self.transport.send(Command::Write { id, messages });
        }
    }

    /// Takes the device offline on purpose: what the session has is written, the connection
    /// closes with 1000 (or the attempt or the wait is given up). Idempotent.
    pub(crate) fn pause(
        &mut self,
        session: &mut impl SessionSocket,
        now: Instant,
    ) -> Option<LinkEvent> {
        let id = match self.state {
            State::Paused | State::Stopped => return None,
            State::Open(id) => {
                self.flush(session);
                session.closed_by_us(now);
                id
            }
            State::Connecting(id) => id,
        };
        let goodbye = Some("client going idle");
        self.transport.send(Command::Close { id, goodbye });
        self.state = State::Paused;
        tracing::info!("signaling paused");
        Some(LinkEvent::Paused)
    }

    /// Connects again after [`Link::pause`], at once, the backoff reset. Does nothing if not
    /// paused.
    pub(crate) fn resume(&mut self) {
        if self.state != State::Paused {
            return;
        }
        tracing::info!("signaling resumed");
        self.connected();
        self.connect(Duration::ZERO);
    }

    /// The device's network changed: drops the connection (or the attempt, or the wait) and
    /// connects again at once, the backoff reset. Paused stays paused.
    pub(crate) fn network_changed(
        &mut self,
        session: &mut impl SessionSocket,
        now: Instant,
    ) -> Option<LinkEvent> {
        let (id, event) = match self.state {
            State::Paused | State::Stopped => return None,
            State::Connecting(id) => {
                tracing::info!("network changed while connecting: starting over");
                (id, None)
            }
            State::Open(id) => {
                session.closed_by_us(now);
                let reason = "the network changed".to_owned();
                tracing::warn!(%reason, attempt = self.attempt, "signaling disconnected");
                let retry_in = Duration::ZERO;
                (id, Some(LinkEvent::Disconnected { reason, retry_in }))
            }
        };
        self.transport.send(Command::Close { id, goodbye: None });
        self.backoff.reset();
        self.connect(Duration::ZERO);
        event
    }

    /// Stops for good: what the session has is written and the connection closes with 1000.
    /// Then [`Link::finish`].
    pub(crate) fn shutdown(&mut self, session: &mut impl SessionSocket) {
        if let State::Open(id) = self.state {
            self.flush(session);
            let goodbye = Some("client shutting down");
            self.transport.send(Command::Close { id, goodbye });
        }
        self.state = State::Stopped;
        session.stop();
    }

    /// Waits, at most `limit`, for the transport to carry out what it was told and end.
    pub(crate) async fn finish(self, limit: Duration) {
        self.transport.finish(limit).await;
    }

    /// Tries again after the next backoff delay.
    fn retry(&mut self, reason: String) -> LinkEvent {
        let retry_in = self.backoff.next_delay(random_u64());
        tracing::warn!(%reason, ?retry_in, attempt = self.attempt, "signaling disconnected");
        self.connect(retry_in);
        LinkEvent::Disconnected { reason, retry_in }
    }

    fn connect(&mut self, after: Duration) {
        self.last_id += 1;
        self.attempt += 1;
        let id = self.last_id;
        tracing::debug!(attempt = self.attempt, ?after, "connecting");
        self.state = State::Connecting(id);
        self.transport.send(Command::Connect { id, after });
    }
}

/// The engine's error for a refusal.
fn refused(refusal: Refusal) -> EngineError {
    match refusal {
        Refusal::Unauthorized => EngineError::Unauthorized,
        Refusal::UnsupportedVersion => EngineError::UnsupportedVersion,
        Refusal::Replaced => EngineError::Replaced,
    }
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
    use crate::signaling::SignalingConfig;
    use ringwire_proto::{CallId, DeviceId};

    /// The server's `welcome`, as it comes off the wire.
    fn welcome() -> ServerMessage {
        let device = DeviceId::random();
        let text = format!(
            r#"{{"type":"welcome","version":1,"user":"me","device_id":"{device}","server_time_ms":1,"ring_timeout_ms":2}}"#
        );
        ringwire_proto::decode_server(&text).expect("a welcome")
    }

    #[tokio::test]
    async fn a_connection_given_up_is_not_heard_and_its_unwritten_hangup_follows_the_next_welcome()
    {
        let config = SignalingConfig::new("ws://127.0.0.1:9/v1/ws", "rw_x");
        let prepared = Prepared::new(config).expect("valid");
        let mut session = ClientSession::new(prepared.session_config(), 1);
        // The transport's own reports (it cannot reach port 9) are not read here.
        let (reports, _unread) = mpsc::unbounded_channel();
        let mut link = Link::spawn(prepared, reports);
        let now = Instant::now();
        let opened = |id| Report::Opened { id, started: now };
        assert!(link.handle_report(&mut session, now, opened(1)).is_none());
        assert!(matches!(
            session.poll_transmit(),
            Some(ClientMessage::Hello { .. })
        ));

        // The network changes: connection 1 is given up, 2 is attempted at once.
        let event = link.network_changed(&mut session, now);
        assert!(
            matches!(event, Some(LinkEvent::Disconnected { retry_in, .. }) if retry_in.is_zero()),
            "{event:?}"
        );
        // What connection 1 still reports is not heard, but a hangup it could not write waits.
        let hangup = ClientMessage::hangup(CallId::random());
        let late = [
            Report::Message {
                id: 1,
                message: welcome(),
            },
            Report::Lost {
                id: 1,
                reason: "write failed".into(),
                unsent: vec![hangup.clone()],
            },
        ];
        for report in late {
            assert!(link.handle_report(&mut session, now, report).is_none());
        }
        assert_eq!(session.poll_event(), None);
        assert!(!session.is_up());

        // Connection 2: `hello` first, the hangup only after `welcome`.
        link.handle_report(&mut session, now, opened(2));
        assert!(matches!(
            session.poll_transmit(),
            Some(ClientMessage::Hello { .. })
        ));
        assert_eq!(session.poll_transmit(), None);
        let message = Report::Message {
            id: 2,
            message: welcome(),
        };
        link.handle_report(&mut session, now, message);
        assert!(session.is_up());
        assert_eq!(session.poll_transmit(), Some(hangup));
    }

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
