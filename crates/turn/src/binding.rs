//! The STUN Binding client (RFC 5389 §7): one request to a STUN server over UDP, retransmitted
//! on the [`RetransmitConfig`] schedule, giving the server-reflexive address or a clear failure.
//!
//! Over the same socket as the media: the driver hands it only datagrams from the server's
//! address ([`StunBinding::accepts`]); anything else goes to str0m. Call [`StunBinding::start`]
//! again to re-run it (a keepalive for the NAT binding, or after a network change).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use crate::stun::{is_stun, Class, Message, MessageBuilder, Method, TransactionId};
use crate::transaction::{IdGenerator, Retransmit, RetransmitConfig, Tick};
use crate::url::Transport;
use crate::{Error, Transmit};

/// What the binding client reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingEvent {
    /// The server saw us at `mapped`: a server-reflexive candidate (if it differs from the
    /// socket's own address).
    Mapped {
        /// Our address as the server saw it.
        mapped: SocketAddr,
    },
    /// No usable answer: [`Error::Timeout`] when the server never answered.
    Failed(Error),
}

#[derive(Debug)]
enum State {
    Idle,
    Waiting {
        id: TransactionId,
        request: Vec<u8>,
        retransmit: Retransmit,
    },
    Done(SocketAddr),
    Failed(Error),
}

/// A sans-IO STUN Binding client for one server.
#[derive(Debug)]
pub struct StunBinding {
    server: SocketAddr,
    config: RetransmitConfig,
    ids: IdGenerator,
    state: State,
    transmits: VecDeque<Transmit>,
    events: VecDeque<BindingEvent>,
}

impl StunBinding {
    /// A client for `server` (over UDP); nothing is sent before [`start`](Self::start).
    pub fn new(server: SocketAddr, config: RetransmitConfig, ids: IdGenerator) -> Self {
        StunBinding {
            server,
            config,
            ids,
            state: State::Idle,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The server this client talks to.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The mapped address once known.
    pub fn mapped(&self) -> Option<SocketAddr> {
        match self.state {
            State::Done(addr) => Some(addr),
            _ => None,
        }
    }

    /// Sends a Binding request (again), abandoning one in flight.
    pub fn start(&mut self, now: Instant) {
        let id = self.ids.next_id();
        let request = MessageBuilder::new(Class::Request, Method::Binding, id).finish(None, true);
        self.transmit(request.clone());
        let retransmit = Retransmit::new(now, &self.config, false);
        self.set_state(
            State::Waiting {
                id,
                request,
                retransmit,
            },
            "request sent",
        );
    }

    /// Whether a datagram from `source` is this client's: a STUN message from the server with
    /// the transaction id in flight. The driver offers a datagram here first, then to a
    /// [`crate::TurnClient`] on the same server, then to str0m.
    pub fn accepts(&self, source: SocketAddr, data: &[u8]) -> bool {
        match &self.state {
            State::Waiting { id, .. } => {
                source == self.server && is_stun(data) && data[8..20] == id.0
            }
            _ => false,
        }
    }

    /// Takes a datagram from the server. A response to another transaction is ignored; a
    /// malformed one is an error (and ignored).
    pub fn handle_input(
        &mut self,
        _now: Instant,
        source: SocketAddr,
        data: &[u8],
    ) -> Result<(), Error> {
        if source != self.server {
            return Ok(());
        }
        let message = Message::decode(data)?;
        let State::Waiting { id, .. } = &self.state else {
            return Ok(());
        };
        if message.transaction_id != *id || message.method != Method::Binding {
            return Ok(());
        }
        match message.class {
            Class::Success => match message.mapped_address()? {
                Some(mapped) => self.set_state(State::Done(mapped), "success response"),
                None => {
                    return Err(Error::InvalidResponse(
                        "Binding success without a mapped address",
                    ))
                }
            },
            Class::Error => {
                let (code, reason) = message
                    .error_code()?
                    .ok_or(Error::InvalidResponse("error without ERROR-CODE"))?;
                self.set_state(
                    State::Failed(Error::from_code(code, reason)),
                    "error response",
                );
            }
            Class::Request | Class::Indication => {}
        }
        Ok(())
    }

    /// Advances timers to `now`: resends, or fails at the deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        let State::Waiting {
            request,
            retransmit,
            ..
        } = &mut self.state
        else {
            return;
        };
        match retransmit.tick(now, &self.config) {
            Tick::Wait => {}
            Tick::Resend => {
                let request = request.clone();
                self.transmit(request);
            }
            Tick::Expired => self.set_state(State::Failed(Error::Timeout), "no response"),
        }
    }

    /// The next datagram to send to the server.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<BindingEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Waiting { retransmit, .. } => Some(retransmit.poll_timeout()),
            _ => None,
        }
    }

    fn transmit(&mut self, contents: Vec<u8>) {
        self.transmits.push_back(Transmit {
            transport: Transport::Udp,
            destination: self.server,
            contents,
        });
    }

    /// Every state change goes through here, and each end state emits its event.
    fn set_state(&mut self, new: State, reason: &'static str) {
        tracing::debug!(
            from = self.state.name(),
            to = new.name(),
            reason,
            "STUN binding"
        );
        match &new {
            State::Done(mapped) => self
                .events
                .push_back(BindingEvent::Mapped { mapped: *mapped }),
            State::Failed(error) => self.events.push_back(BindingEvent::Failed(error.clone())),
            State::Idle | State::Waiting { .. } => {}
        }
        self.state = new;
    }
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Waiting { .. } => "waiting",
            State::Done(_) => "done",
            State::Failed(_) => "failed",
        }
    }
}

#[cfg(test)]
#[path = "binding_tests.rs"]
mod tests;
