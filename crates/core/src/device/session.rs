//! What a [`Device`] needs of its signaling session ([`SignalingSession`]: a [`ClientSession`],
//! or none), and the socket's side of a device with a [`ClientSession`]: the driver says what
//! happened to the connection, the device hands it to the session and its events to the agent
//! at once.

use std::time::Instant;

use ringwire_proto::{CallId, ClientMessage, ServerMessage};

use super::Device;
use crate::error::CoreError;
use crate::session::ClientSession;

/// The device side of the signaling connection as the [`Device`] sees it: where the agent's
/// messages and known calls go, and its timer. The engine's thread and the simulator's devices
/// own a [`ClientSession`]; `Option<ClientSession>` is a device with no ringwire server at all
/// (the agent's peer-mode tests).
pub trait SignalingSession {
    /// Sends a message for the agent ([`ClientSession::send`]'s rules).
    fn send(&mut self, message: ClientMessage) -> Result<(), CoreError>;
    /// The calls the app still shows, for the next `hello.calls`.
    fn set_known_calls(&mut self, calls: Vec<CallId>);
    /// The session's next deadline, if it has one.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

impl SignalingSession for ClientSession {
    fn send(&mut self, message: ClientMessage) -> Result<(), CoreError> {
        ClientSession::send(self, message)
    }

    fn set_known_calls(&mut self, calls: Vec<CallId>) {
        ClientSession::set_known_calls(self, calls);
    }

    fn poll_timeout(&self) -> Option<Instant> {
        ClientSession::poll_timeout(self)
    }
}

/// No session (a peer-only engine has no ringwire server): nothing is sent.
impl<S: SignalingSession> SignalingSession for Option<S> {
    fn send(&mut self, message: ClientMessage) -> Result<(), CoreError> {
        match self {
            Some(session) => session.send(message),
            None => Err(CoreError::NotSendable(
                "no ringwire server configured: signal dropped",
            )),
        }
    }

    fn set_known_calls(&mut self, calls: Vec<CallId>) {
        if let Some(session) = self {
            session.set_known_calls(calls);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.as_ref().and_then(S::poll_timeout)
    }
}

/// The socket's side, for the driver that owns the session's connection. Each
/// input says whether the session had anything for the agent (an event: `welcome`, a server
/// message, the connection's end); when it had not, the agent has nothing new either, and
/// [`Device::poll_output`] can wait: write what [`Device::poll_transmit`] has.
impl Device<ClientSession> {
    /// A connection is open: `hello` goes out (take it with [`Device::poll_transmit`]), listing
    /// the calls the agent knows now. `attempt_started` is when the attempt began.
    pub fn handle_open(&mut self, attempt_started: Instant) {
        let known = self.agent.known_calls();
        self.session.set_known_calls(known.clone());
        self.known_calls = known;
        self.session.handle_open(attempt_started);
    }

    /// The next message to write on the connection.
    pub fn poll_transmit(&mut self) -> Option<ClientMessage> {
        self.session.poll_transmit()
    }

    /// A message from the server.
    pub fn handle_server_message(&mut self, now: Instant, message: ServerMessage) -> bool {
        self.session.handle_message(now, message);
        self.session_events(now)
    }

    /// The server closed the connection (its close frame's code and reason, if any).
    pub fn handle_close(&mut self, now: Instant, code: Option<u16>, reason: &str) -> bool {
        self.session.handle_close(code, reason);
        self.session_events(now)
    }

    /// The connection was lost (the socket died).
    pub fn handle_lost(&mut self, now: Instant, reason: String) -> bool {
        self.session.handle_lost(reason);
        self.session_events(now)
    }

    /// The driver closed the connection on purpose ([`crate::SignalingWanted::Offline`], after
    /// writing what [`Device::poll_transmit`] had): signaling is down.
    pub fn handle_closed_by_us(&mut self, now: Instant) {
        self.session.handle_closed_by_us();
        self.handle_signaling_down(now);
    }

    /// The session's deadline ([`ClientSession::poll_timeout`]) passed: a ping, or a
    /// handshake or pong overdue. `unix_ms` is the wall clock, stamped on pings.
    pub fn handle_session_timeout(&mut self, now: Instant, unix_ms: i64) -> bool {
        self.session.handle_timeout(now, unix_ms);
        self.session_events(now)
    }

    /// Hands the session's events to the agent; says whether there were any.
    fn session_events(&mut self, now: Instant) -> bool {
        let mut any = false;
        while let Some(event) = self.session.poll_event() {
            self.handle_session_event(now, event);
            any = true;
        }
        any
    }
}
