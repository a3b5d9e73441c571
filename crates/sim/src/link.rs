//! What one direction of a simulated link does to the datagrams that cross it: fixed delay,
//! uniform jitter, loss (random or bursty Gilbert–Elliott), duplication, reordering and an
//! optional rate limit with a bounded queue. [`LinkConfig`] is plain data; the per-link state
//! (the Gilbert–Elliott channel state, the rate limiter's queue) lives in [`LinkState`] inside
//! the network, so configurations can be shared and compared freely.

use std::time::{Duration, Instant};

use crate::rng::SimRng;

/// How a link loses packets.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Loss {
    /// Nothing is lost.
    #[default]
    None,
    /// Each packet is lost independently with this probability (a fraction, 0.1 = 10%).
    Random(f64),
    /// A two-state Markov channel. Before each packet the channel moves Good→Bad with
    /// `p_good_to_bad` or Bad→Good with `p_bad_to_good`; the packet is then lost with
    /// probability `loss_in_bad` in the Bad state and never in the Good state.
    GilbertElliott {
        p_good_to_bad: f64,
        p_bad_to_good: f64,
        loss_in_bad: f64,
    },
}

impl Loss {
    /// Bursty loss with `mean_loss` of all packets lost (a fraction) in bursts of
    /// `mean_burst_packets` consecutive packets on average (lengths are geometric). Built as a
    /// Gilbert channel that loses everything while Bad: the Bad state lasts `1 / p_bad_to_good`
    /// packets on average and the channel spends `p_gb / (p_gb + p_bg)` of its time there.
    ///
    /// `mean_loss` is clamped to `[0, 1]` and `mean_burst_packets` below 1 is taken as 1. Bursts
    /// are separated by at least one delivered packet, so a loss above
    /// `mean_burst / (mean_burst + 1)` cannot be had with that burst length: the mean loss is
    /// kept and the bursts are made longer (`mean_loss / (1 - mean_loss)`).
    pub fn bursty(mean_loss: f64, mean_burst_packets: f64) -> Loss {
        let mean_loss = if mean_loss.is_nan() {
            0.0
        } else {
            mean_loss.clamp(0.0, 1.0)
        };
        let burst = if mean_burst_packets.is_nan() {
            1.0
        } else {
            mean_burst_packets.max(1.0)
        };
        let (p_good_to_bad, p_bad_to_good) = if mean_loss >= 1.0 {
            (1.0, 0.0)
        } else if mean_loss > burst / (burst + 1.0) {
            (1.0, (1.0 - mean_loss) / mean_loss)
        } else {
            let p_bad_to_good = 1.0 / burst;
            (mean_loss * p_bad_to_good / (1.0 - mean_loss), p_bad_to_good)
        };
        Loss::GilbertElliott {
            p_good_to_bad,
            p_bad_to_good,
            loss_in_bad: 1.0,
        }
    }

    /// The long-run fraction of packets this model loses.
    pub fn mean_loss(&self) -> f64 {
        match *self {
            Loss::None => 0.0,
            Loss::Random(p) => p.clamp(0.0, 1.0),
            Loss::GilbertElliott {
                p_good_to_bad,
                p_bad_to_good,
                loss_in_bad,
            } => {
                let moving = p_good_to_bad + p_bad_to_good;
                if moving <= 0.0 {
                    0.0
                } else {
                    p_good_to_bad / moving * loss_in_bad.clamp(0.0, 1.0)
                }
            }
        }
    }

    /// Decides the fate of one packet, advancing the channel state; true means lost.
    pub(crate) fn lose(&self, bad: &mut bool, rng: &mut SimRng) -> bool {
        match *self {
            Loss::None => false,
            Loss::Random(p) => rng.chance(p),
            Loss::GilbertElliott {
                p_good_to_bad,
                p_bad_to_good,
                loss_in_bad,
            } => {
                let flip = if *bad { p_bad_to_good } else { p_good_to_bad };
                if rng.chance(flip) {
                    *bad = !*bad;
                }
                *bad && rng.chance(loss_in_bad)
            }
        }
    }
}

/// A bottleneck: packets leave at `bits_per_second`, waiting in a FIFO queue of at most
/// `queue_bytes`; a packet that does not fit is dropped (tail drop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Serialization rate. Zero drops everything.
    pub bits_per_second: u64,
    /// Bytes that may wait for the bottleneck, including the packet being sent.
    pub queue_bytes: usize,
}

/// One direction of a link. `Default` is a perfect link: no delay, no loss.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Extra delay, uniform in `[0, jitter)`, drawn for each packet independently — so packets
    /// sent closer together than the jitter may arrive out of order, as with netem.
    pub jitter: Duration,
    /// Loss model.
    pub loss: Loss,
    /// Fraction of delivered packets that arrive twice (the copy draws its own jitter).
    pub duplicate: f64,
    /// Fraction of packets held back by an extra [`LinkConfig::reorder_delay`], so packets
    /// sent after them overtake them.
    pub reorder: f64,
    /// How long a reordered packet is held back.
    pub reorder_delay: Duration,
    /// Optional bottleneck in front of the delay.
    pub rate_limit: Option<RateLimit>,
}

impl LinkConfig {
    /// A link with this one-way delay and nothing else.
    pub fn with_delay(delay: Duration) -> Self {
        LinkConfig {
            delay,
            ..LinkConfig::default()
        }
    }

    /// Sets the jitter.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the loss model.
    pub fn loss(mut self, loss: Loss) -> Self {
        self.loss = loss;
        self
    }

    /// Sets the duplicated fraction.
    pub fn duplicate(mut self, fraction: f64) -> Self {
        self.duplicate = fraction;
        self
    }

    /// Holds back `fraction` of packets by `extra`.
    pub fn reorder(mut self, fraction: f64, extra: Duration) -> Self {
        self.reorder = fraction;
        self.reorder_delay = extra;
        self
    }

    /// Puts a bottleneck in front of the link.
    pub fn rate_limit(mut self, bits_per_second: u64, queue_bytes: usize) -> Self {
        self.rate_limit = Some(RateLimit {
            bits_per_second,
            queue_bytes,
        });
        self
    }
}

/// Mutable state of one configured link (shared by every flow that uses it).
#[derive(Clone, Debug, Default)]
pub(crate) struct LinkState {
    /// Gilbert–Elliott: in the Bad state.
    pub(crate) bad: bool,
    /// Rate limit: when the bottleneck finishes sending what is queued.
    pub(crate) busy_until: Option<Instant>,
}

impl LinkState {
    /// Passes a packet of `len` bytes through the bottleneck at `now`; returns when it has
    /// left it, or `None` if the queue is full.
    pub(crate) fn depart(
        &mut self,
        now: Instant,
        len: usize,
        limit: &RateLimit,
    ) -> Option<Instant> {
        if limit.bits_per_second == 0 {
            return None;
        }
        let start = self.busy_until.filter(|t| *t > now).unwrap_or(now);
        let backlog = start.saturating_duration_since(now);
        let bps = u128::from(limit.bits_per_second);
        let backlog_bytes = backlog.as_nanos() * bps / 8 / 1_000_000_000;
        let len128 = u128::try_from(len).unwrap_or(u128::MAX);
        let queue = u128::try_from(limit.queue_bytes).unwrap_or(u128::MAX);
        if backlog_bytes + len128 > queue {
            return None;
        }
        let nanos = len128 * 8 * 1_000_000_000 / bps;
        let done = start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        self.busy_until = Some(done);
        Some(done)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursty_parameters_give_the_requested_mean_and_burst() {
        let loss = Loss::bursty(0.1, 3.0);
        let Loss::GilbertElliott {
            p_good_to_bad,
            p_bad_to_good,
            loss_in_bad,
        } = loss
        else {
            panic!("bursty must be Gilbert–Elliott: {loss:?}");
        };
        assert!((p_bad_to_good - 1.0 / 3.0).abs() < 1e-12);
        assert!((loss_in_bad - 1.0).abs() < 1e-12);
        assert!((p_good_to_bad - 0.1 / 0.9 / 3.0).abs() < 1e-12);
        assert!((loss.mean_loss() - 0.1).abs() < 1e-12);
        assert!((Loss::bursty(1.0, 2.0).mean_loss() - 1.0).abs() < 1e-12);
        assert_eq!(Loss::bursty(0.0, 2.0).mean_loss(), 0.0);
        // 80% loss cannot come in bursts of 1 with a delivered packet between them: the mean
        // is kept and the bursts grow to 4.
        let heavy = Loss::bursty(0.8, 1.0);
        assert!((heavy.mean_loss() - 0.8).abs() < 1e-12);
        let Loss::GilbertElliott { p_bad_to_good, .. } = heavy else {
            panic!("{heavy:?}");
        };
        assert!((1.0 / p_bad_to_good - 4.0).abs() < 1e-9);
    }

    #[test]
    fn rate_limit_serializes_and_tail_drops() {
        let now = Instant::now();
        let mut state = LinkState::default();
        // 8 kbit/s: one 100-byte packet takes 100 ms; the queue holds 250 bytes.
        let limit = RateLimit {
            bits_per_second: 8_000,
            queue_bytes: 250,
        };
        let first = state.depart(now, 100, &limit);
        let second = state.depart(now, 100, &limit);
        let third = state.depart(now, 100, &limit);
        assert_eq!(first, Some(now + Duration::from_millis(100)));
        assert_eq!(second, Some(now + Duration::from_millis(200)));
        assert_eq!(third, None, "300 bytes do not fit a 250-byte queue");
        // Once the queue has drained the link is idle again.
        let later = now + Duration::from_secs(1);
        assert_eq!(
            state.depart(later, 100, &limit),
            Some(later + Duration::from_millis(100))
        );
    }
}
