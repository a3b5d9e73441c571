//! # ringwire-turn: a sans-IO STUN binding and TURN client
//!
//! What the engine uses to gather server-reflexive candidates (STUN Binding, RFC 5389/8489)
//! and relay candidates (TURN, RFC 5766/8656) and to carry media through a relay. No sockets,
//! threads, clocks or async runtime: the driver owns the sockets and the clock and feeds this
//! crate bytes and instants, like str0m's `Rtc` and quinn-proto.
//!
//! ## Why our own, not `turn-client-proto`/`stun-proto`
//! We evaluated the maintained sans-IO crates (`stun-proto`/`stun-types` 2.0,
//! `turn-client-proto` 0.7, `stun_codec` 0.4). `turn-client-proto` is close (sans-IO, UDP and
//! TCP, long-term credentials, Refresh, CreatePermission, ChannelBind; it builds here), but:
//! a failed allocation is reported as `AllocationCreateFailed(family)` with no cause, so a
//! wrong password, 486 quota and a dead server look the same, and the call-failure reason the
//! issue asks for cannot be given; transaction ids come from the thread RNG with no way to
//! inject one, so simulations and tests are not repeatable; time is its own `Instant` type; and
//! its 0.x API has changed on most releases. `stun_codec` is a codec only, with a bytecodec
//! API. The STUN codec TURN needs is small (a dozen attributes), so we own it: every length is
//! bounded in one place, it is fuzzed from `fuzz/`, and the RFC 5769 vectors pin it down.
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
//! 2. Start it (`start(now)`), or call any method that takes `now`.
//! 3. After **every** call that takes input or `now`, drain `poll_transmit()` (send each
//!    [`Transmit`] to its destination, over UDP as one datagram, over TCP/TLS as bytes on the
//!    stream) and `poll_event()` until both return `None`.
//! 4. Call `handle_timeout(now)` when `poll_timeout()` is reached (re-read it after each step;
//!    `None` means no timer is running), then drain again.
//! 5. Feed server bytes with `handle_input`: over UDP only datagrams whose source is the
//!    server (`accepts`), over TCP/TLS every chunk read from the stream (the client frames it).
//!
//! Time is always passed in as [`std::time::Instant`]; nothing here reads a clock. The same
//! seed, inputs and instants give the same bytes out.
//!
//! ## Carrying media through the relay (the engine's side)
//! On [`TurnEvent::Allocated`] the driver adds `Candidate::relayed(relayed, local, "udp")` to
//! str0m. For each remote candidate it calls [`TurnClient::bind_channel`] (which also installs
//! the permission). str0m's `Transmit`s whose source is the relayed address go through
//! [`TurnClient::send_to`], which wraps them (ChannelData once bound, a Send indication before)
//! into a [`Transmit`] to the server; [`TurnEvent::Data`] from the server is an unwrapped
//! datagram that the driver gives str0m as `Receive { source: peer, destination: relayed }`.

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
