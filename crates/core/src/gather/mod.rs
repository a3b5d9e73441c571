//! Candidate gathering for one call, sans-IO: server-reflexive candidates from a STUN Binding
//! on each media socket to each UDP STUN/TURN server, and relay candidates from one TURN
//! allocation per configured TURN server (over the media UDP socket, or over a TCP/TLS stream
//! the driver owns). Built on `ringwire-turn`'s state machines and driven from where str0m's
//! `Rtc` is driven: the [`Agent`](crate::Agent) feeds it datagrams, stream bytes and time
//! after every input, and moves its outputs to its own.
//!
//! Gathering never delays the offer or the answer: host candidates go in the SDP as always,
//! and each candidate found here is added to the call's connections and trickled as it comes.
//! A failed server is logged and recorded ([`Gathering::failures`]), never fatal — unless the
//! ICE transport policy is `relay` and no allocation is left, which the agent ends the call on.
//!
//! Allocations are per call: a relay exists only while a call needs it (its credentials may
//! be short-lived, and a device at rest keeps no state on the TURN server), and ending the call
//! deallocates it. The relay pre-connects while the phone rings, like host candidates.
//!
//! Data path: str0m's transmits from a relayed address go through [`Gathering::send`] (wrapped
//! as ChannelData or a Send indication to the server); datagrams a peer sent to the relay come
//! out as [`GatherEvent::Data`] for the connections, with the relayed address as destination.

mod relay;
mod types;

pub use types::{
    CandidateType, IceServer, IceTransportPolicy, RelayTransport, SelectedPair, TurnAllocation,
};

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use ringwire_turn::{
    BindingEvent, Error as TurnError, IdGenerator, RetransmitConfig, Scheme, StunBinding, Transport,
};
use tracing::{debug, info, warn};

use ringwire_proto::CallId;

use crate::agent::Output;
use relay::{Link, Relay, RelayOut};

/// A TCP/TLS connection to a TURN server, opened and owned by the driver
/// ([`Output::StreamConnect`]).
pub type StreamId = u64;

/// What gathering tells the agent.
#[derive(Debug)]
pub(crate) enum GatherEvent {
    /// A new local candidate for every connection of the call.
    Candidate(str0m::Candidate),
    /// A datagram a peer sent to our relay, unwrapped.
    Data {
        source: SocketAddr,
        destination: SocketAddr,
        contents: Vec<u8>,
    },
    /// A server failed (recorded in [`Gathering::failures`]).
    Failed,
}

/// One STUN Binding from one media socket.
struct Binding {
    local: SocketAddr,
    server: String,
    client: StunBinding,
}

/// The gathering of one call. See the [module docs](self).
pub(crate) struct Gathering {
    /// The call this gathering is for (in every log line).
    call_id: Option<CallId>,
    policy: IceTransportPolicy,
    bindings: Vec<Binding>,
    relays: Vec<Relay>,
    candidates: Vec<str0m::Candidate>,
    failures: Vec<String>,
    /// Relay-only, and no TURN server was configured at all.
    no_relay_server: bool,
    /// When gathering started, and the latest instant an input brought (the state machine
    /// reads no clock).
    started: Option<Instant>,
    latest: Option<Instant>,
    /// How long each TURN allocation took from the start of gathering.
    allocations: Vec<TurnAllocation>,
    out: VecDeque<Output>,
    events: VecDeque<GatherEvent>,
}

impl Gathering {
    /// A gathering that does nothing (no servers).
    pub fn idle() -> Gathering {
        Gathering {
            call_id: None,
            policy: IceTransportPolicy::All,
            bindings: Vec::new(),
            relays: Vec::new(),
            candidates: Vec::new(),
            failures: Vec::new(),
            no_relay_server: false,
            started: None,
            latest: None,
            allocations: Vec::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Starts gathering from `servers` for media sockets bound at `local_addrs`. Stream ids
    /// come from `next_stream` (unique across the agent).
    pub fn start(
        call_id: CallId,
        now: Instant,
        servers: &[IceServer],
        local_addrs: &[SocketAddr],
        policy: IceTransportPolicy,
        next_stream: &mut StreamId,
    ) -> Gathering {
        let mut g = Gathering::idle();
        g.call_id = Some(call_id);
        g.started = Some(now);
        g.latest = Some(now);
        g.policy = policy;
        for server in servers {
            let udp = server.url.transport == Transport::Udp && server.url.scheme != Scheme::Turns;
            // One STUN Binding per media socket of the server's family.
            if udp && policy == IceTransportPolicy::All {
                for local in local_addrs.iter().filter(|l| same_family(**l, server.addr)) {
                    let mut client =
                        StunBinding::new(server.addr, RetransmitConfig::default(), ids());
                    client.start(now);
                    g.bindings.push(Binding {
                        local: *local,
                        server: server.describe(),
                        client,
                    });
                }
            }
            if !server.url.is_turn() {
                continue;
            }
            if server.credentials.is_none() {
                g.fail(format!("TURN {} has no credentials", server.describe()));
                continue;
            }
            let link = if udp {
                match local_addrs.iter().find(|l| same_family(**l, server.addr)) {
                    Some(local) => Link::Udp { local: *local },
                    None => continue,
                }
            } else {
                let id = *next_stream;
                *next_stream += 1;
                g.out.push_back(Output::StreamConnect {
                    stream: id,
                    server: server.addr,
                    tls_name: server.tls_name(),
                });
                Link::Stream { id, local: None }
            };
            if let Some(mut relay) = Relay::new(server.clone(), link, ids()) {
                if matches!(link, Link::Udp { .. }) {
                    relay.start(now);
                }
                g.relays.push(relay);
            }
        }
        if policy == IceTransportPolicy::Relay && g.relays.is_empty() {
            g.no_relay_server = true;
            g.events.push_back(GatherEvent::Failed);
        }
        info!(
            call_id = ?g.call_id,
            bindings = g.bindings.len(),
            relays = g.relays.len(),
            ?policy,
            "gathering started"
        );
        g.pump();
        g
    }

    /// Whether this gathering had no server to gather from (or never started).
    pub fn had_no_servers(&self) -> bool {
        self.bindings.is_empty()
            && self.relays.is_empty()
            && self.candidates.is_empty()
            && self.failures.is_empty()
            && !self.no_relay_server
    }

    /// How long each TURN allocation took, from the start of gathering to its success.
    pub fn allocations(&self) -> &[TurnAllocation] {
        &self.allocations
    }

    /// Candidates gathered so far (for a connection created after they came).
    pub fn candidates(&self) -> &[str0m::Candidate] {
        &self.candidates
    }

    /// Every server failure so far, readable (`TURN authentication failed at …: …`).
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Relay-only and no relay can come any more: why, for the call's end reason.
    pub fn relay_impossible(&self) -> Option<String> {
        if self.policy != IceTransportPolicy::Relay {
            return None;
        }
        if self.no_relay_server {
            return Some("relay-only ICE policy, but no TURN server is configured".into());
        }
        let any_alive = self
            .relays
            .iter()
            .any(|r| r.failed.is_none() || r.relayed().is_some());
        if any_alive {
            return None;
        }
        Some(format!(
            "relay-only ICE policy and no TURN relay could be allocated: {}",
            self.failures.join("; ")
        ))
    }

    /// The relay transport of a relayed address of ours.
    pub fn relay_transport(&self, relayed: SocketAddr) -> Option<RelayTransport> {
        self.relays
            .iter()
            .find(|r| r.relayed() == Some(relayed))
            .map(Relay::transport)
    }

    /// Whether `source` is one of our relayed addresses (str0m's transmit goes via [`send`]).
    ///
    /// [`send`]: Self::send
    pub fn is_relayed(&self, source: SocketAddr) -> bool {
        self.relays.iter().any(|r| r.relayed() == Some(source))
    }

    /// Sends a datagram str0m emitted from the relayed address `source` through its relay.
    pub fn send(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        contents: Vec<u8>,
    ) {
        self.latest = Some(now);
        if let Some(i) = self.relays.iter().position(|r| r.relayed() == Some(source)) {
            self.relays[i].send(now, destination, contents);
            self.apply(i);
        }
    }

    /// Whether a datagram on the media socket `destination` is a STUN/TURN server's answer.
    pub fn accepts(&self, source: SocketAddr, destination: SocketAddr, data: &[u8]) -> bool {
        self.bindings
            .iter()
            .any(|b| b.local == destination && b.client.accepts(source, data))
            || self
                .relays
                .iter()
                .any(|r| r.accepts_datagram(source, destination, data))
    }

    /// Takes a datagram [`accepts`](Self::accepts) said is ours.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &[u8],
    ) {
        self.latest = Some(now);
        if let Some(b) = self
            .bindings
            .iter_mut()
            .find(|b| b.local == destination && b.client.accepts(source, data))
        {
            if let Err(error) = b.client.handle_input(now, source, data) {
                debug!(%error, "STUN response ignored");
            }
        } else if let Some(r) = self
            .relays
            .iter_mut()
            .find(|r| r.accepts_datagram(source, destination, data))
        {
            r.handle_input(now, data);
        }
        self.pump();
    }

    /// Whether this gathering owns the stream.
    pub fn owns_stream(&self, stream: StreamId) -> bool {
        self.relays
            .iter()
            .any(|r| matches!(r.link, Link::Stream { id, .. } if id == stream))
    }

    /// The driver connected the stream from `local`: the allocation starts.
    pub fn stream_connected(&mut self, now: Instant, stream: StreamId, local: SocketAddr) {
        self.latest = Some(now);
        if let Some(r) = self.relay_of(stream) {
            r.link = Link::Stream {
                id: stream,
                local: Some(local),
            };
            r.start(now);
        }
        self.pump();
    }

    /// Bytes read from the stream.
    pub fn stream_data(&mut self, now: Instant, stream: StreamId, data: &[u8]) {
        self.latest = Some(now);
        if let Some(r) = self.relay_of(stream) {
            r.handle_input(now, data);
        }
        self.pump();
    }

    /// The stream failed to connect or closed.
    pub fn stream_closed(&mut self, stream: StreamId, error: &str) {
        if let Some(r) = self.relay_of(stream) {
            let never_connected = matches!(r.link, Link::Stream { local: None, .. });
            if never_connected && r.failed.is_none() {
                let why = format!("TURN {} unreachable: {error}", r.server.describe());
                r.failed = Some(TurnError::ConnectionClosed);
                self.fail(why);
            } else {
                r.connection_closed();
            }
        }
        self.pump();
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.latest = Some(now);
        for b in &mut self.bindings {
            if b.client.poll_timeout().is_some_and(|t| t <= now) {
                b.client.handle_timeout(now);
            }
        }
        for r in &mut self.relays {
            r.handle_timeout(now);
        }
        self.pump();
    }

    /// The earliest timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.bindings
            .iter()
            .filter_map(|b| b.client.poll_timeout())
            .chain(self.relays.iter().filter_map(Relay::poll_timeout))
            .min()
    }

    /// The call ended: deletes every allocation (the Refresh with lifetime 0 goes out now; if
    /// it is lost, the allocation expires by itself) and closes the streams after it.
    pub fn close(&mut self, now: Instant) {
        self.latest = Some(now);
        for r in &mut self.relays {
            r.deallocate(now);
        }
        self.bindings.clear();
        self.pump();
        for r in &self.relays {
            if let Link::Stream { id, .. } = r.link {
                self.out.push_back(Output::StreamClose { stream: id });
            }
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<GatherEvent> {
        self.events.pop_front()
    }

    fn relay_of(&mut self, stream: StreamId) -> Option<&mut Relay> {
        self.relays
            .iter_mut()
            .find(|r| matches!(r.link, Link::Stream { id, .. } if id == stream))
    }

    /// Moves every client's transmits and events out.
    fn pump(&mut self) {
        let mut found = Vec::new();
        for b in &mut self.bindings {
            while let Some(t) = b.client.poll_transmit() {
                self.out.push_back(Output::Transmit {
                    source: b.local,
                    destination: t.destination,
                    contents: t.contents,
                });
            }
            while let Some(event) = b.client.poll_event() {
                match event {
                    BindingEvent::Mapped { mapped } => found.push((mapped, b.local)),
                    BindingEvent::Failed(error) => {
                        let why = format!("STUN {} failed: {error}", b.server);
                        self.failures.push(why.clone());
                        warn!(call_id = ?self.call_id, reason = %why, "server-reflexive candidate not gathered");
                        self.events.push_back(GatherEvent::Failed);
                    }
                }
            }
        }
        for (mapped, local) in found {
            self.add_srflx(mapped, local);
        }
        for i in 0..self.relays.len() {
            self.apply(i);
        }
    }

    /// Carries out what relay `i` asks for.
    fn apply(&mut self, i: usize) {
        while let Some(o) = self.relays[i].poll_output() {
            match o {
                RelayOut::Send(contents) => {
                    let out = match self.relays[i].link {
                        Link::Udp { local } => Output::Transmit {
                            source: local,
                            destination: self.relays[i].server.addr,
                            contents,
                        },
                        Link::Stream { id, .. } => Output::StreamSend {
                            stream: id,
                            contents,
                        },
                    };
                    self.out.push_back(out);
                }
                RelayOut::Allocated { relayed, mapped } => {
                    let took = match (self.started, self.latest) {
                        (Some(start), Some(latest)) => latest.saturating_duration_since(start),
                        _ => std::time::Duration::ZERO,
                    };
                    let transport = self.relays[i].transport();
                    self.allocations.push(TurnAllocation { transport, took });
                    info!(
                        call_id = ?self.call_id,
                        ?transport,
                        took_ms = took.as_millis() as u64,
                        "TURN allocation made: relay candidate"
                    );
                    let earlier = self
                        .candidates
                        .iter()
                        .filter(|c| {
                            c.kind() == str0m::CandidateKind::Relayed
                                && c.addr().is_ipv6() == relayed.is_ipv6()
                        })
                        .count();
                    let server = self.relays[i].server.addr;
                    self.add_candidate(relayed_candidate(relayed, transport, server, earlier));
                    if let (Some(mapped), Link::Udp { local }) = (mapped, self.relays[i].link) {
                        self.add_srflx(mapped, local);
                    }
                }
                RelayOut::Data {
                    peer,
                    relayed,
                    data,
                } => self.events.push_back(GatherEvent::Data {
                    source: peer,
                    destination: relayed,
                    contents: data,
                }),
                RelayOut::Failed(error) => {
                    let server = self.relays[i].server.describe();
                    let why = match error {
                        TurnError::Unauthorized
                        | TurnError::InvalidCredentials(_)
                        | TurnError::StaleNonce => {
                            format!("TURN authentication failed at {server}: {error}")
                        }
                        _ => format!("TURN allocation at {server} failed: {error}"),
                    };
                    self.fail(why);
                }
            }
        }
    }

    fn fail(&mut self, why: String) {
        warn!(call_id = ?self.call_id, reason = %why, "ICE server failed");
        self.failures.push(why);
        self.events.push_back(GatherEvent::Failed);
    }

    fn add_srflx(&mut self, mapped: SocketAddr, local: SocketAddr) {
        if mapped == local || self.policy == IceTransportPolicy::Relay {
            return;
        }
        match str0m::Candidate::server_reflexive(mapped, local, "udp") {
            Ok(c) => self.add_candidate(c),
            Err(error) => debug!(%error, "server-reflexive candidate refused"),
        }
    }

    fn add_candidate(&mut self, c: str0m::Candidate) {
        if self
            .candidates
            .iter()
            .any(|k| k.addr() == c.addr() && k.kind() == c.kind())
        {
            return;
        }
        debug!(call_id = ?self.call_id, kind = %c.kind(), "local candidate gathered");
        self.candidates.push(c.clone());
        self.events.push_back(GatherEvent::Candidate(c));
    }
}

/// A relayed candidate whose priority ranks the relay by how we reach the TURN server, as
/// libwebrtc does: over UDP before TCP before TLS (RFC 8445 §5.1.2.2 leaves the choice to the
/// agent). str0m would give every relayed candidate the same type preference — the candidate's
/// own protocol is UDP whatever carries it to the server — and then rank equal relays by the
/// order they arrived, so a TCP allocation that finished first won the nomination over a UDP
/// one, with head-of-line blocking for the whole call. `earlier` is how many relayed candidates
/// of this address family the call already has, which keeps each local preference unique.
fn relayed_candidate(
    relayed: SocketAddr,
    transport: RelayTransport,
    server: SocketAddr,
    earlier: usize,
) -> str0m::Candidate {
    let type_preference: u32 = match transport {
        RelayTransport::Udp => 2,
        RelayTransport::Tcp => 1,
        RelayTransport::Tls => 0,
    };
    let family_top: u32 = if relayed.is_ipv6() { 65_535 } else { 65_534 };
    let earlier = u32::try_from(earlier).unwrap_or(u32::MAX).min(1_000);
    let local_preference = family_top - 2 * earlier;
    // Component 1 (RTP; everything is muxed).
    let priority = type_preference << 24 | local_preference << 8 | (256 - 1);
    // Same foundation for relays of the same relayed IP, server IP and transport (RFC 8445
    // §5.1.1.3); FNV-1a keeps it stable across runs and builds.
    let mut hash: u32 = 0x811c_9dc5;
    let key = format!("relay|{}|{}|{transport:?}", relayed.ip(), server.ip());
    for byte in key.bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    let unspecified = match relayed {
        SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    };
    str0m::Candidate::from_parts(
        format!("{hash:08x}"),
        1,
        str0m::net::Protocol::Udp,
        priority,
        relayed,
        str0m::CandidateKind::Relayed,
        Some(unspecified),
        None,
        None,
    )
}

fn same_family(a: SocketAddr, b: SocketAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// Transaction ids from the OS's randomness (STUN requires them unpredictable).
fn ids() -> IdGenerator {
    let mut seed = [0u8; 32];
    if getrandom::fill(&mut seed).is_err() {
        // No OS randomness: still unique per process, just guessable.
        seed[..8].copy_from_slice(&getrandom::u64().unwrap_or(0x5eed).to_le_bytes());
    }
    IdGenerator::new(seed)
}

#[cfg(test)]
mod tests;
