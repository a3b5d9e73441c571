//! Deterministic simulation for ringwire tests: whole call flows in virtual time, the same way
//! on every run, in milliseconds of real time.
//!
//! - [`SimClock`]: virtual time, as `Instant`s (for the engine and the network) and as UNIX
//!   milliseconds (for the router). It never sleeps; only the test moves it.
//! - [`SimNetwork`]: in-memory UDP between `SocketAddr`s with per-direction delay, jitter, loss
//!   (random or bursty Gilbert–Elliott), duplication, reordering, rate limits and partitions,
//!   all decided by one seeded generator. The link model and the generator are
//!   `ringwire-netem`'s ([`LinkConfig`], [`Loss`], [`SeededRng`]), the same ones the peer-pair
//!   tests and the benchmarks use, re-exported here.
//! - [`SimSignaling`]: the real sans-IO call router behind simulated WebSocket links, playing
//!   the server driver's part (the server's own handshake rules, lookups, routing, record
//!   writing). It keeps the call
//!   record ([`CallLog`]) so tests can assert how each call ended.
//! - [`World`]: all of the above with real call engines (`ringwire_core::Agent`, real str0m
//!   connections, real Opus) as the devices — whole calls in virtual time.
//!
//! # Driving a simulation
//!
//! Every part is sans-IO and says when it next needs attention. A test repeats one step: find
//! the earliest of the network's next delivery, the signaling harness's next event and every
//! participant's own timeout; advance the clock to it; hand out everything now due; feed the
//! participants' timeouts. Nothing sleeps, so 45 s of ringing take microseconds, and because
//! every choice comes from the seeds and ties break in a fixed order, a failing seed fails the
//! same way every time.
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Duration;
//!
//! use ringwire_sim::{earliest, LinkConfig, Loss, SimClock, SimNetwork};
//!
//! let mut clock = SimClock::new();
//! let mut net = SimNetwork::new(42);
//! let (a, b): (SocketAddr, SocketAddr) =
//!     ("198.18.0.1:4000".parse().unwrap(), "198.18.0.2:4000".parse().unwrap());
//! net.bind(a);
//! net.bind(b);
//! net.set_default_link(LinkConfig::with_delay(Duration::from_millis(40)).loss(Loss::Random(0.1)));
//!
//! // Participant `a` sends a packet every 20 ms (its "timeout"); `b` echoes what it gets.
//! let mut next_send = Some(clock.now());
//! let mut sent = 0;
//! let mut echoed_back = 0;
//! while let Some(at) = earliest([next_send, net.next_delivery_time()]) {
//!     clock.advance_to(at);
//!     let now = clock.now();
//!     while let Some(d) = net.poll_delivery(now) {
//!         if d.to == b {
//!             net.send(now, b, a, d.payload);
//!         } else {
//!             echoed_back += 1;
//!         }
//!     }
//!     if next_send.is_some_and(|t| t <= now) {
//!         net.send(now, a, b, vec![sent as u8]);
//!         sent += 1;
//!         next_send = (sent < 100).then(|| now + Duration::from_millis(20));
//!     }
//! }
//! assert_eq!(sent, 100);
//! // About 81% make the round trip; the exact count is fixed by the seed.
//! assert!((65..95).contains(&echoed_back));
//! assert!(clock.elapsed() < Duration::from_secs(3));
//! ```
//!
//! With signaling in the loop, add [`SimSignaling::poll_timeout`] to the candidates and, after
//! advancing, drain [`SimSignaling::poll_delivery`] (and [`SimSignaling::poll_closed`]) into
//! the participants; what they send goes back through [`SimSignaling::send`] at the same `now`.

mod call_log;
mod clock;
mod error;
mod link;
mod net;
mod peer_channel;
mod platform;
pub mod scenario;
mod signaling;
mod world;

pub use call_log::CallLog;
pub use clock::{SimClock, TimeBase, DEFAULT_EPOCH_MS};
pub use error::SimError;
pub use link::LinkStats;
pub use net::{Datagram, Endpoint, SimNetwork};
pub use peer_channel::ChannelTiming;
pub use platform::{AppState, Os, OsCall, PhoneOs};
pub use ringwire_netem::{LinkConfig, Loss, RateLimit, SeededRng};
pub use signaling::{SignalingLink, SignalingStats, SimSignaling};
pub use world::{Dev, PlayedFrames, SimDevice, World};

use std::time::Instant;

/// The earliest of some optional deadlines: the step a simulation loop takes next.
pub fn earliest<I>(deadlines: I) -> Option<Instant>
where
    I: IntoIterator<Item = Option<Instant>>,
{
    deadlines.into_iter().flatten().min()
}
