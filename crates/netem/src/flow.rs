//! [`Flow`]: one direction of traffic through one link, with its own generator and counters —
//! the whole model in one value, for drivers that impair a single stream (the benchmark relay,
//! a test's pair of peers) rather than a network of hosts.

use std::time::Instant;

use crate::link::{Fate, LinkConfig, LinkState};
use crate::rng::SeededRng;

/// What became of a flow's datagrams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Datagrams offered to the link.
    pub sent: u64,
    /// Taken by the loss model.
    pub lost: u64,
    /// Dropped by a full bottleneck queue.
    pub rate_dropped: u64,
    /// Held back by the reorder delay.
    pub reordered: u64,
    /// Extra copies made.
    pub duplicated: u64,
}

impl FlowStats {
    /// Datagrams that arrive, copies included.
    pub fn delivered(&self) -> u64 {
        self.sent - self.lost - self.rate_dropped + self.duplicated
    }

    /// Datagrams that never arrive.
    pub fn dropped(&self) -> u64 {
        self.lost + self.rate_dropped
    }
}

/// One direction of traffic through one link.
#[derive(Clone, Debug)]
pub struct Flow {
    config: LinkConfig,
    state: LinkState,
    rng: SeededRng,
    stats: FlowStats,
}

impl Flow {
    /// A flow through a link configured as `config`, its draws fixed by `seed`.
    pub fn new(config: LinkConfig, seed: u64) -> Flow {
        Flow {
            config,
            state: LinkState::default(),
            rng: SeededRng::new(seed),
            stats: FlowStats::default(),
        }
    }

    /// Decides the fate of a datagram of `len` bytes sent at `now`.
    pub fn admit(&mut self, now: Instant, len: usize) -> Fate {
        self.stats.sent += 1;
        let fate = self.state.admit(&self.config, now, len, &mut self.rng);
        match fate {
            Fate::Lost => self.stats.lost += 1,
            Fate::RateDropped => self.stats.rate_dropped += 1,
            Fate::Arrives {
                reordered, copy, ..
            } => {
                self.stats.reordered += u64::from(reordered);
                self.stats.duplicated += u64::from(copy.is_some());
            }
        }
        fate
    }

    /// What became of the datagrams so far.
    pub fn stats(&self) -> FlowStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Loss;

    #[test]
    fn the_same_seed_repeats_the_same_fates() {
        let config = LinkConfig::default()
            .loss(Loss::Random(0.3))
            .jitter(Duration::from_millis(20))
            .duplicate(0.05);
        let now = Instant::now();
        let run = |seed| {
            let mut flow = Flow::new(config, seed);
            (0..300).map(|_| flow.admit(now, 100)).collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn counters_add_up() {
        let config = LinkConfig::default()
            .loss(Loss::Random(0.2))
            .duplicate(0.1)
            .reorder(0.1, Duration::from_millis(5))
            .rate_limit(64_000, 1_000);
        let mut flow = Flow::new(config, 9);
        let start = Instant::now();
        let mut arrivals = 0;
        for i in 0..2000u32 {
            let now = start + Duration::from_micros(u64::from(i) * 5_000);
            if let Fate::Arrives { copy, .. } = flow.admit(now, 200) {
                arrivals += 1 + u64::from(copy.is_some());
            }
        }
        let s = flow.stats();
        assert_eq!(s.sent, 2000);
        assert_eq!(s.delivered(), arrivals);
        assert!(s.lost > 300 && s.rate_dropped > 0 && s.duplicated > 0 && s.reordered > 0);
    }
}
