//! The one network impairment model of the workspace, and the one seeded random generator.
//!
//! Everything that makes a network worse on purpose — the simulator's links
//! (`ringwire-sim`), the peer-pair tests of `ringwire-core` and the benchmark relay — decides
//! the fate of a datagram here, so "10 % bursty loss, mean burst 3" means the same channel in a
//! virtual-time test and in `ringwire bench quality`. It is sans-IO, like str0m's netem: the
//! caller passes the time in, gets back whether the datagram is lost or when it arrives, and
//! does the delivering itself.
//!
//! - [`SeededRng`]: xoshiro256** seeded through splitmix64; a seed means the same stream
//!   forever (no dependency decides it). Not for cryptography.
//! - [`Loss`]: no loss, independent (Bernoulli) loss, or a Gilbert–Elliott two-state channel
//!   ([`Loss::bursty`] builds one from a mean loss and a mean burst length).
//! - [`LinkConfig`]: one direction of a link — delay, jitter (free to reorder, as Linux netem's,
//!   or kept in order, as a queue's), loss, duplication, reordering and a rate-limited
//!   bottleneck with a tail-drop queue.
//! - [`LinkState`]: the per-link state ([`LinkState::admit`] decides one datagram), and
//!   [`Flow`]: a config, its state, its own generator and counters in one value.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use ringwire_netem::{Fate, Flow, LinkConfig, Loss};
//!
//! let config = LinkConfig::with_delay(Duration::from_millis(40)).loss(Loss::bursty(0.1, 3.0));
//! let mut flow = Flow::new(config, 7);
//! let start = Instant::now();
//! let mut arrived = 0;
//! for i in 0..1000u32 {
//!     let now = start + Duration::from_millis(u64::from(i) * 20);
//!     if let Fate::Arrives { at, .. } = flow.admit(now, 160) {
//!         assert_eq!(at, now + Duration::from_millis(40));
//!         arrived += 1;
//!     }
//! }
//! assert_eq!(arrived, flow.stats().delivered());
//! assert!((850..950).contains(&arrived), "{arrived}");
//! ```

mod flow;
mod link;
mod loss;
mod rng;

pub use flow::{Flow, FlowStats};
pub use link::{Fate, LinkConfig, LinkState, RateLimit};
pub use loss::{Loss, LossState};
pub use rng::SeededRng;
