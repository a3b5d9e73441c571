//! # ringwire-turn: a sans-IO STUN binding and TURN client
//!
//! What the engine uses to gather server-reflexive candidates (STUN Binding, RFC 5389/8489)
//! and relay candidates (TURN, RFC 5766/8656) and to carry media through a relay. No sockets,
//! threads, clocks or async runtime: the driver owns the sockets and the clock and feeds this
//! crate bytes and instants, like str0m's `Rtc` and quinn-proto.
//!
//! ## Why our own, not `turn-client-proto`/`stun-proto`
//! We evaluated the maintained sans-IO crates (`stun-proto`/`stun-types` 2.0.4,
//! `turn-client-proto` 0.7.3, `stun_codec` 0.4.0). `turn-client-proto` comes closest (sans-IO,
//! UDP and TCP framing, TLS through companion crates, long-term credentials, Refresh,
//! CreatePermission, ChannelBind) and builds here, but:
//! - a failed allocation is only `TurnEvent::AllocationCreateFailed(AddressFamily)`: a wrong
//!   password, an expired REST credential, 486 quota, 508 capacity and a dead server look the
//!   same, so the engine could not give the clear failure reason issue 16 asks for;
//! - transaction ids come from `rand::rng()` inside `stun-types` with no way to inject a
//!   generator, so the simulator and tests could not repeat a run byte for byte;
//! - time is its own `sans_io_time::Instant`, not `std::time::Instant`;
//! - it is pre-1.0, with a 5,300-line protocol module we would have to follow.
//!
//! `stun_codec` is a codec only (on `bytecodec`). The STUN codec TURN needs is small (a dozen
//! attributes), so we own it: every length is bounded in one place, it is fuzzed from `fuzz/`,
//! and the RFC 5769 vectors pin it down. Its dependencies are RustCrypto's `hmac`, `sha1`,
//! `md-5` and `crc32fast`.
//!
//! ## The parts
//! - [`url`]: ICE server URLs (`stun:`, `turn:`, `turns:`) → host, port, transport, TLS.
//! - [`StunBinding`]: one Binding transaction with retransmissions → [`BindingEvent`].
//! - [`TurnClient`]: one allocation on one server over one transport → [`TurnEvent`].
//! - [`StreamFramer`]: cuts a TCP/TLS byte stream into STUN and ChannelData messages.
//! - [`stun`], [`channel`]: the codecs (also for demultiplexing a shared socket).
//!
//! ## The drive contract
//! Both clients have the same shape:
//! 1. Create it with the server's resolved address (names are resolved by the driver through
//!    the system resolver: see [`url`]) and an [`IdGenerator`] seeded from the OS.
//! 2. Start it with `start(now)`.
//! 3. After **every** call that takes input or `now` (and after `create_permission`,
//!    `bind_channel`, `deallocate`), drain `poll_transmit()` (send each [`Transmit`] to its
//!    destination: over UDP as one datagram, over TCP/TLS as bytes on the stream) and
//!    `poll_event()` until both return `None`.
//! 4. Call `handle_timeout(now)` once `poll_timeout()` is reached (re-read it after each step;
//!    `None` means no timer runs), then drain again.
//! 5. Feed server bytes with `handle_input`. Over UDP, on a socket shared with str0m, offer a
//!    datagram first to [`StunBinding::accepts`], then to [`TurnClient::accepts`] (STUN or
//!    ChannelData from the TURN server), and give the rest to str0m. Over TCP/TLS, feed every
//!    chunk read from the stream (the client frames it) and call
//!    [`TurnClient::connection_closed`] when the stream ends.
//!
//! Time is always passed in as [`std::time::Instant`]; nothing here reads a clock. The same
//! seed, inputs and instants give the same bytes out.
//!
//! ```no_run
//! use std::net::UdpSocket;
//! use std::time::{Duration, Instant};
//! use ringwire_turn::{Credentials, IdGenerator, Transport, TurnClient, TurnConfig, TurnEvent};
//!
//! # fn main() -> std::io::Result<()> {
//! let socket = UdpSocket::bind("0.0.0.0:0")?;
//! let server = "192.0.2.1:3478".parse().expect("address");
//! let credentials = Credentials { username: "1767225600:device".into(), password: "…".into() };
//! let seed = [7u8; 32]; // production: from getrandom
//! let config = TurnConfig::new(server, Transport::Udp, credentials);
//! let mut turn = TurnClient::new(config, IdGenerator::new(seed));
//! turn.start(Instant::now());
//! let mut buf = [0u8; 2048];
//! loop {
//!     while let Some(t) = turn.poll_transmit() {
//!         socket.send_to(&t.contents, t.destination)?;
//!     }
//!     while let Some(event) = turn.poll_event() {
//!         match event {
//!             // str0m: add Candidate::relayed(relayed, local, "udp").
//!             TurnEvent::Allocated { relayed, .. } => {}
//!             // str0m: Receive { source: d.peer, destination: relayed, .. }.
//!             TurnEvent::Data(d) => {}
//!             TurnEvent::Failed(_) | TurnEvent::Deallocated => return Ok(()),
//!             _ => {}
//!         }
//!     }
//!     let Some(deadline) = turn.poll_timeout() else { return Ok(()) };
//!     let wait = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
//!     socket.set_read_timeout(Some(wait))?;
//!     if let Ok((n, from)) = socket.recv_from(&mut buf) {
//!         if turn.accepts(from, &buf[..n]) {
//!             let _ = turn.handle_input(Instant::now(), &buf[..n]); // malformed: ignored
//!         } // else: str0m's
//!     }
//!     if turn.poll_timeout().is_some_and(|t| t <= Instant::now()) {
//!         turn.handle_timeout(Instant::now());
//!     }
//! }
//! # }
//! ```
//!
//! ## Carrying media through the relay (the engine's side)
//! - On [`TurnEvent::Allocated`] add `Candidate::relayed(relayed, local, "udp")` to str0m,
//!   where `local` is the socket (or TCP connection) address the allocation was made from; the
//!   relayed transport is UDP whatever the transport to the server. `mapped` in the event is a
//!   server-reflexive address for free when the transport is UDP.
//! - For each remote candidate of the family of the relayed address, call
//!   [`TurnClient::bind_channel`] (the server installs the permission with the channel). Until
//!   [`TurnEvent::ChannelBound`], [`TurnClient::send_to`] answers [`Error::NoPermission`]
//!   (ICE retransmits its checks) unless [`TurnClient::create_permission`] was called too, in
//!   which case data goes as Send indications meanwhile.
//! - str0m's `Transmit`s whose `source` is the relayed address go through
//!   [`TurnClient::send_to`]`(destination, contents)`: send the returned [`Transmit`] to the
//!   server at once.
//! - [`TurnEvent::Data`] is a datagram from a peer, unwrapped: give it to str0m as
//!   `Receive { proto: Udp, source: peer, destination: relayed, contents }`.
//! - At the end of the call, [`TurnClient::deallocate`] and drain until
//!   [`TurnEvent::Deallocated`] (or stop waiting: the allocation expires by itself).

pub mod binding;
pub mod channel;
pub mod error;
pub mod framer;
pub mod stun;
pub mod transaction;
pub mod turn;
pub mod url;

use std::net::SocketAddr;

pub use binding::{BindingEvent, StunBinding};
pub use channel::ChannelData;
pub use error::Error;
pub use framer::{FrameKind, StreamFramer};
pub use transaction::{IdGenerator, RetransmitConfig};
pub use turn::{Credentials, PeerData, RelayFamily, TurnClient, TurnConfig, TurnEvent};
pub use url::{Host, IceServerUrl, Scheme, Transport};

/// Bytes for the driver to send to a STUN/TURN server.
#[derive(Clone, PartialEq, Eq)]
pub struct Transmit {
    /// UDP: one datagram; TCP/TLS: bytes to write on the stream to `destination`.
    pub transport: Transport,
    /// The server's address.
    pub destination: SocketAddr,
    /// The message.
    pub contents: Vec<u8>,
}

impl std::fmt::Debug for Transmit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transmit")
            .field("transport", &self.transport)
            .field("len", &self.contents.len())
            .finish_non_exhaustive()
    }
}
