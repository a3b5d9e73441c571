//! One TURN allocation of a call: its [`TurnClient`], the link to the server (the shared media
//! UDP socket, or a TCP/TLS stream the driver owns), and the datagrams str0m wanted to send to
//! a peer before the permission for it was installed.
//!
//! Permissions follow str0m: the first datagram to a peer (an ICE check to a remote candidate
//! or a peer-reflexive address) asks for a permission and a channel, and waits here until the
//! server installed the permission; a check never waits for a retransmission timer.

use std::collections::{HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use ringwire_turn::{Error as TurnError, IdGenerator, TurnClient, TurnConfig, TurnEvent};
use tracing::debug;

use super::types::{IceServer, RelayTransport};
use super::StreamId;

/// Datagrams kept per allocation while permissions are being installed.
const PENDING_MAX: usize = 16;

/// How the allocation's messages reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    /// Over the media UDP socket bound to this address.
    Udp { local: SocketAddr },
    /// Over a stream the driver opens; `local` once it is connected.
    Stream {
        id: StreamId,
        local: Option<SocketAddr>,
    },
}

/// What an allocation asks of the gathering.
pub(super) enum RelayOut {
    /// Bytes for the server over the link.
    Send(Vec<u8>),
    /// The allocation exists: the relay candidate (and our mapped address over UDP).
    Allocated {
        relayed: SocketAddr,
        mapped: Option<SocketAddr>,
    },
    /// A datagram from `peer` arrived at `relayed`.
    Data {
        peer: SocketAddr,
        relayed: SocketAddr,
        data: Vec<u8>,
    },
    /// The allocation failed or was lost.
    Failed(TurnError),
}

pub(super) struct Relay {
    pub server: IceServer,
    pub link: Link,
    client: TurnClient,
    relayed: Option<SocketAddr>,
    asked: HashSet<IpAddr>,
    pending: VecDeque<(SocketAddr, Vec<u8>)>,
    /// What the gathering has not taken yet ([`Relay::poll_output`]).
    out: VecDeque<RelayOut>,
    pub failed: Option<TurnError>,
}

impl Relay {
    pub fn new(server: IceServer, link: Link, ids: IdGenerator) -> Option<Relay> {
        let credentials = server.credentials.clone()?;
        let config = TurnConfig::new(server.addr, server.url.transport, credentials);
        Some(Relay {
            client: TurnClient::new(config, ids),
            server,
            link,
            relayed: None,
            asked: HashSet::new(),
            pending: VecDeque::new(),
            out: VecDeque::new(),
            failed: None,
        })
    }

    pub fn transport(&self) -> RelayTransport {
        self.server.relay_transport()
    }

    pub fn relayed(&self) -> Option<SocketAddr> {
        self.relayed
    }

    pub fn start(&mut self, now: Instant) {
        self.client.start(now);
    }

    /// Whether a UDP datagram from `source` that arrived on `destination` is the server's.
    pub fn accepts_datagram(
        &self,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) -> bool {
        matches!(self.link, Link::Udp { local } if local == destination)
            && !self.client.is_closed()
            && self.client.accepts(source, data)
    }

    pub fn handle_input(&mut self, now: Instant, data: &[u8]) {
        if let Err(error) = self.client.handle_input(now, data) {
            debug!(%error, "TURN input ignored");
        }
    }

    pub fn connection_closed(&mut self) {
        self.client.connection_closed();
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.client.poll_timeout().is_some_and(|t| t <= now) {
            self.client.handle_timeout(now);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.client.poll_timeout()
    }

    /// Wraps a datagram str0m sends from the relayed address to `peer`; asks for the
    /// permission first if there is none yet.
    pub fn send(&mut self, now: Instant, peer: SocketAddr, data: Vec<u8>) {
        if self.client.can_send_to(peer) {
            match self.client.send_to(peer, &data) {
                Ok(t) => self.out.push_back(RelayOut::Send(t.contents)),
                Err(error) => debug!(%error, "datagram not relayed"),
            }
            return;
        }
        if self.asked.insert(peer.ip()) {
            if let Err(error) = self.client.create_permission(now, peer.ip()) {
                debug!(%error, "no permission asked");
                return;
            }
        }
        // A channel per peer address: 4 bytes of overhead instead of 36.
        if let Err(error) = self.client.bind_channel(now, peer) {
            debug!(%error, "no channel asked");
        }
        if self.pending.len() >= PENDING_MAX {
            self.pending.pop_front();
        }
        self.pending.push_back((peer, data));
    }

    /// Deletes the allocation; its last request goes out with the next output.
    pub fn deallocate(&mut self, now: Instant) {
        self.client.deallocate(now);
    }

    /// The next thing the allocation asks of the gathering: the client's transmits and what
    /// its events mean, in order.
    pub fn poll_output(&mut self) -> Option<RelayOut> {
        loop {
            if let Some(out) = self.out.pop_front() {
                return Some(out);
            }
            if let Some(t) = self.client.poll_transmit() {
                return Some(RelayOut::Send(t.contents));
            }
            let event = self.client.poll_event()?;
            self.on_event(event);
        }
    }

    fn on_event(&mut self, event: TurnEvent) {
        match event {
            TurnEvent::Allocated {
                relayed, mapped, ..
            } => {
                self.relayed = Some(relayed);
                self.out.push_back(RelayOut::Allocated { relayed, mapped });
            }
            TurnEvent::PermissionCreated(_) | TurnEvent::ChannelBound { .. } => {
                self.flush_pending()
            }
            TurnEvent::PermissionFailed { peer, error } => {
                debug!(%error, "TURN permission refused");
                self.pending.retain(|(p, _)| p.ip() != peer);
            }
            TurnEvent::ChannelFailed { error, .. } => debug!(%error, "TURN channel refused"),
            TurnEvent::Data(d) => {
                if let Some(relayed) = self.relayed {
                    self.out.push_back(RelayOut::Data {
                        peer: d.peer,
                        relayed,
                        data: d.data,
                    });
                }
            }
            TurnEvent::Failed(error) => {
                self.failed = Some(error.clone());
                self.out.push_back(RelayOut::Failed(error));
            }
            TurnEvent::Refreshed { .. } | TurnEvent::Deallocated => {}
            other => debug!(event = ?other, "TURN event not used"),
        }
    }

    fn flush_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for (peer, data) in pending {
            if self.client.can_send_to(peer) {
                match self.client.send_to(peer, &data) {
                    Ok(t) => self.out.push_back(RelayOut::Send(t.contents)),
                    Err(error) => debug!(%error, "datagram not relayed"),
                }
            } else {
                self.pending.push_back((peer, data));
            }
        }
    }
}
