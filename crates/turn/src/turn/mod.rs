//! The TURN client (RFC 5766/8656): one allocation on one server over one transport.
//!
//! States, all changed in `TurnClient::set_state`:
//! `Idle → Allocating → Allocated → Deallocating → Closed`, and `Closed` from any state on
//! failure. The first Allocate goes without credentials; the server's 401 gives realm and
//! nonce and the request is sent again with the long-term credential (438 Stale Nonce: again
//! with the new nonce). Once allocated the client refreshes the allocation before its lifetime
//! ends, installs and refreshes the permissions and channels asked for (even before the
//! allocation existed), and wraps/unwraps peer data. Requests are in `requests.rs`; the peer
//! table in `peers.rs`.

mod peers;
mod requests;
#[cfg(test)]
mod tests;
mod types;

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::channel::{is_channel_data, ChannelData};
use crate::stun::{attr, is_stun, Class, Message, MessageBuilder, Method};
use crate::transaction::IdGenerator;
use crate::url::Transport;
use crate::{Error, StreamFramer, Transmit};
use peers::Peers;
use requests::{Auth, Request, Transaction};
pub use types::{Credentials, PeerData, RelayFamily, TurnConfig, TurnEvent};

/// Where the allocation stands.
#[derive(Debug)]
enum State {
    /// Created, nothing sent.
    Idle,
    /// Allocate in flight (perhaps through the 401/438 dance).
    Allocating,
    /// The allocation exists.
    Allocated(Allocation),
    /// Refresh(0) in flight, or an Allocate whose allocation will be deleted at once.
    Deallocating,
    /// Done: deallocated (`None`) or failed.
    Closed(Option<Error>),
}

#[derive(Debug, Clone, Copy)]
struct Allocation {
    relayed: SocketAddr,
    mapped: Option<SocketAddr>,
    lifetime: Duration,
    /// When the next Refresh is due; `None` while one is in flight.
    refresh_at: Option<Instant>,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Allocating => "allocating",
            State::Allocated(_) => "allocated",
            State::Deallocating => "deallocating",
            State::Closed(None) => "deallocated",
            State::Closed(Some(_)) => "failed",
        }
    }
}

/// A sans-IO TURN client for one allocation. See the crate docs for the drive contract.
pub struct TurnClient {
    config: TurnConfig,
    ids: IdGenerator,
    state: State,
    auth: Option<Auth>,
    transactions: Vec<Transaction>,
    peers: Peers,
    framer: Option<StreamFramer>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TurnEvent>,
}

impl fmt::Debug for TurnClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnClient")
            .field("transport", &self.config.transport)
            .field("state", &self.state.name())
            .field("transactions", &self.transactions.len())
            .finish_non_exhaustive()
    }
}

impl TurnClient {
    /// A client; nothing is sent before [`start`](Self::start).
    pub fn new(config: TurnConfig, ids: IdGenerator) -> Self {
        let framer = (config.transport == Transport::Tcp).then(StreamFramer::new);
        TurnClient {
            config,
            ids,
            state: State::Idle,
            auth: None,
            transactions: Vec::new(),
            peers: Peers::default(),
            framer,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Sends the Allocate request. Does nothing unless idle.
    pub fn start(&mut self, now: Instant) {
        if !matches!(self.state, State::Idle) {
            return;
        }
        if self.config.credentials.username.len() > attr::MAX_USERNAME {
            let error = Error::InvalidCredentials("USERNAME over 513 bytes");
            self.set_state(State::Closed(Some(error)), "username too long");
            return;
        }
        self.send_request(now, Request::Allocate, 0);
        self.set_state(State::Allocating, "start");
    }

    /// The server's address.
    pub fn server(&self) -> SocketAddr {
        self.config.server
    }

    /// The transport to the server.
    pub fn transport(&self) -> Transport {
        self.config.transport
    }

    /// The relayed address while allocated.
    pub fn relayed(&self) -> Option<SocketAddr> {
        match &self.state {
            State::Allocated(a) => Some(a.relayed),
            _ => None,
        }
    }

    /// Our address as the server saw it, while allocated.
    pub fn mapped(&self) -> Option<SocketAddr> {
        match &self.state {
            State::Allocated(a) => a.mapped,
            _ => None,
        }
    }

    /// Whether the client is done (deallocated or failed).
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed(_))
    }

    /// Whether a UDP datagram from `source` is for this client (STUN or ChannelData from the
    /// server); others on a shared socket go to str0m.
    pub fn accepts(&self, source: SocketAddr, data: &[u8]) -> bool {
        source == self.config.server && (is_stun(data) || is_channel_data(data))
    }

    /// Asks for a permission for `peer` (installed at once if allocated, else when allocated),
    /// refreshed until the client closes.
    pub fn create_permission(&mut self, now: Instant, peer: IpAddr) -> Result<(), Error> {
        self.check_open()?;
        if self.peers.want_permission(peer) {
            self.send_due(now);
        }
        Ok(())
    }

    /// Asks for a channel to `peer` (this installs the permission too); returns its number.
    /// Until [`TurnEvent::ChannelBound`], data goes as Send indications if a permission exists.
    pub fn bind_channel(&mut self, now: Instant, peer: SocketAddr) -> Result<u16, Error> {
        self.check_open()?;
        let number = self.peers.want_channel(peer)?;
        self.send_due(now);
        Ok(number)
    }

    /// Whether data may be sent to `peer` now (a permission or a bound channel).
    pub fn can_send_to(&self, peer: SocketAddr) -> bool {
        matches!(self.state, State::Allocated(_)) && self.peers.has_permission(peer.ip())
    }

    /// Wraps a datagram for `peer` (ChannelData if bound, else a Send indication) into a
    /// [`Transmit`] to the server. Send it at once.
    pub fn send_to(&mut self, peer: SocketAddr, data: &[u8]) -> Result<Transmit, Error> {
        let State::Allocated(allocation) = &self.state else {
            return Err(Error::NoAllocation);
        };
        if peer.is_ipv4() != allocation.relayed.is_ipv4() {
            return Err(Error::PeerFamily(peer));
        }
        let stream = self.config.transport == Transport::Tcp;
        let contents = if let Some(channel) = self.peers.bound_channel(peer) {
            ChannelData::encode(channel, data, stream)?
        } else if self.peers.has_permission(peer.ip()) {
            // Header, XOR-PEER-ADDRESS (≤ 24) and the DATA header must fit a 16-bit length.
            if data.len() > usize::from(u16::MAX) - 20 - 24 - 4 - 3 {
                return Err(Error::PayloadTooLong(data.len()));
            }
            MessageBuilder::new(Class::Indication, Method::Send, self.ids.next_id())
                .xor_address(attr::XOR_PEER_ADDRESS, peer)
                .attr(attr::DATA, data)
                .finish(None, false)
        } else {
            return Err(Error::NoPermission(peer.ip()));
        };
        Ok(self.transmit_to_server(contents))
    }

    /// Deletes the allocation (Refresh with lifetime 0); [`TurnEvent::Deallocated`] follows.
    pub fn deallocate(&mut self, now: Instant) {
        match self.state {
            State::Idle => self.set_state(State::Closed(None), "deallocate before start"),
            State::Allocating => self.set_state(State::Deallocating, "deallocate while allocating"),
            State::Allocated(_) => {
                self.transactions.clear();
                self.send_request(now, Request::Refresh { lifetime: 0 }, 0);
                self.set_state(State::Deallocating, "deallocate");
            }
            State::Deallocating | State::Closed(_) => {}
        }
    }

    /// The TCP/TLS connection to the server closed: the allocation is lost with it.
    pub fn connection_closed(&mut self) {
        match self.state {
            State::Closed(_) => {}
            State::Deallocating => self.set_state(State::Closed(None), "connection closed"),
            _ => self.set_state(
                State::Closed(Some(Error::ConnectionClosed)),
                "connection closed",
            ),
        }
    }

    /// Takes bytes from the server: over UDP one datagram, over TCP/TLS a chunk of the stream
    /// (framed here). Malformed input is an error and otherwise ignored over UDP; over a stream
    /// it closes the client (the stream cannot be resynchronised).
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        let Some(mut framer) = self.framer.take() else {
            return self.handle_message(now, data);
        };
        let mut result = framer.push(data);
        let mut first_error = None;
        while result.is_ok() {
            match framer.next_frame() {
                Ok(Some((_, frame))) => {
                    if let Err(e) = self.handle_message(now, &frame) {
                        first_error.get_or_insert(e);
                    }
                }
                Ok(None) => break,
                Err(e) => result = Err(e),
            }
        }
        self.framer = Some(framer);
        if let Err(e) = result {
            if !self.is_closed() {
                self.set_state(State::Closed(Some(e.clone())), "stream out of step");
            }
            return Err(e);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Advances timers to `now`: retransmissions, deadlines, refreshes.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick_transactions(now);
        if let State::Allocated(a) = &mut self.state {
            if a.refresh_at.is_some_and(|at| now >= at) {
                a.refresh_at = None;
                let lifetime = u32::try_from(self.config.lifetime.as_secs()).unwrap_or(u32::MAX);
                self.send_request(now, Request::Refresh { lifetime }, 0);
            }
        }
        self.send_due(now);
    }

    /// The next message to send to the server.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<TurnEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due; `None` once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let transactions = self
            .transactions
            .iter()
            .map(|t| t.retransmit.poll_timeout());
        let (refresh, peers) = match &self.state {
            State::Allocated(a) => (a.refresh_at, self.peers.next_timeout()),
            _ => (None, None),
        };
        transactions.chain(refresh).chain(peers).min()
    }

    fn check_open(&self) -> Result<(), Error> {
        match self.state {
            State::Idle | State::Allocating | State::Allocated(_) => Ok(()),
            State::Deallocating | State::Closed(_) => Err(Error::NoAllocation),
        }
    }

    fn handle_message(&mut self, now: Instant, data: &[u8]) -> Result<(), Error> {
        if is_channel_data(data) {
            let frame = ChannelData::decode(data)?;
            if let Some(peer) = self.peers.peer_for_channel(frame.channel) {
                let data = frame.data.to_vec();
                self.events
                    .push_back(TurnEvent::Data(PeerData { peer, data }));
            }
            return Ok(());
        }
        let message = Message::decode(data)?;
        self.handle_stun(now, &message)
    }

    fn transmit_to_server(&self, contents: Vec<u8>) -> Transmit {
        Transmit {
            transport: self.config.transport,
            destination: self.config.server,
            contents,
        }
    }

    /// Every state change goes through here; entering `Allocated` or `Closed` emits the event.
    fn set_state(&mut self, new: State, reason: &'static str) {
        tracing::debug!(
            from = self.state.name(),
            to = new.name(),
            reason,
            "TURN allocation"
        );
        match &new {
            State::Allocated(a) => self.events.push_back(TurnEvent::Allocated {
                relayed: a.relayed,
                mapped: a.mapped,
                lifetime: a.lifetime,
            }),
            State::Closed(outcome) => {
                self.transactions.clear();
                self.peers.clear();
                self.events.push_back(match outcome {
                    None => TurnEvent::Deallocated,
                    Some(e) => TurnEvent::Failed(e.clone()),
                });
            }
            State::Idle | State::Allocating | State::Deallocating => {}
        }
        self.state = new;
    }
}
