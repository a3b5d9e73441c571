//! What the simulated network counts per flow. The impairment model itself — loss, delay,
//! jitter, reordering, duplication, rate limits — is `ringwire-netem`'s, the same one the
//! peer-pair tests and the benchmarks use; this module adds what only a network of hosts has
//! (partitions, unbound ports).

/// What happened to the datagrams of one flow (or a sum of flows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// `send` calls.
    pub sent: u64,
    /// Lost by the loss model.
    pub lost: u64,
    /// Dropped because the two hosts were partitioned.
    pub partitioned: u64,
    /// Dropped by a full rate-limit queue.
    pub rate_dropped: u64,
    /// Arrived at an address nobody had bound.
    pub unbound: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Held back by the reorder delay.
    pub reordered: u64,
    /// Handed out by `poll_delivery` (copies included).
    pub delivered: u64,
}

impl LinkStats {
    /// Every way a datagram can fail to arrive.
    pub fn dropped(&self) -> u64 {
        self.lost + self.partitioned + self.rate_dropped + self.unbound
    }

    pub(crate) fn add(&mut self, other: &LinkStats) {
        self.sent += other.sent;
        self.lost += other.lost;
        self.partitioned += other.partitioned;
        self.rate_dropped += other.rate_dropped;
        self.unbound += other.unbound;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
        self.delivered += other.delivered;
    }
}
