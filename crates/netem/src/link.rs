//! One direction of a link: what it does to each datagram that crosses it — fixed delay,
//! uniform jitter, loss, duplication, reordering and an optional rate-limited bottleneck with a
//! bounded queue. [`LinkConfig`] is plain data, so configurations can be shared and compared;
//! [`LinkState`] holds what a link remembers between datagrams (its loss channel, its
//! bottleneck's backlog, the last arrival when jitter keeps order), and [`LinkState::admit`]
//! decides one datagram with the caller's generator.

use std::time::{Duration, Instant};

use crate::loss::{Loss, LossState};
use crate::rng::SeededRng;

/// A bottleneck: datagrams leave at `bits_per_second`, waiting in a FIFO queue of at most
/// `queue_bytes`; a datagram that does not fit is dropped (tail drop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Serialization rate. Zero drops everything.
    pub bits_per_second: u64,
    /// Bytes that may wait for the bottleneck, including the datagram being sent.
    pub queue_bytes: usize,
}

/// One direction of a link. `Default` is a perfect link: no delay, no loss.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Extra delay, uniform in `[0, jitter)`, drawn for each datagram independently.
    pub jitter: Duration,
    /// Whether jitter keeps order. `false` (the default, as Linux netem): datagrams sent closer
    /// together than the jitter may overtake each other. `true`: jitter is queueing delay, and
    /// a datagram never arrives before the one sent ahead of it (reordering is then only what
    /// [`LinkConfig::reorder`] asks for).
    pub jitter_keeps_order: bool,
    /// Loss model.
    pub loss: Loss,
    /// Fraction of delivered datagrams that arrive twice (the copy draws its own jitter).
    pub duplicate: f64,
    /// Fraction of datagrams held back by an extra [`LinkConfig::reorder_delay`], so
    /// datagrams sent after them overtake them.
    pub reorder: f64,
    /// How long a reordered datagram is held back.
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

    /// Sets the jitter (free to reorder).
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the jitter as queueing delay: it never reorders.
    pub fn queue_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self.jitter_keeps_order = true;
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

    /// Holds back `fraction` of datagrams by `extra`.
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

    /// A short label for tables and plots: `10% bursty loss, 30 ms jitter`, `no loss`.
    pub fn label(&self) -> String {
        let loss = (self.loss != Loss::None).then(|| self.loss.label());
        let jitter =
            (!self.jitter.is_zero()).then(|| format!("{} ms jitter", self.jitter.as_millis()));
        match (loss, jitter) {
            (None, None) => Loss::None.label(),
            (Some(l), None) => l,
            (None, Some(j)) => j,
            (Some(l), Some(j)) => format!("{l}, {j}"),
        }
    }
}

/// What a link did with one datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// The loss model took it.
    Lost,
    /// The bottleneck's queue was full.
    RateDropped,
    /// It arrives `at`; `copy` is when a duplicate arrives, if one was made.
    Arrives {
        at: Instant,
        /// Held back by the reorder delay.
        reordered: bool,
        copy: Option<Instant>,
    },
}

/// What one configured link remembers between datagrams.
#[derive(Clone, Debug, Default)]
pub struct LinkState {
    loss: LossState,
    /// Rate limit: when the bottleneck finishes sending what is queued.
    busy_until: Option<Instant>,
    /// Jitter that keeps order: when the previous datagram arrives.
    last_arrival: Option<Instant>,
}

impl LinkState {
    /// Decides the fate of a datagram of `len` bytes sent at `now` under `config`, drawing
    /// from `rng` (loss first, then jitter, reordering and duplication, in that order).
    pub fn admit(
        &mut self,
        config: &LinkConfig,
        now: Instant,
        len: usize,
        rng: &mut SeededRng,
    ) -> Fate {
        if self.loss.lose(&config.loss, rng) {
            return Fate::Lost;
        }
        let departed = match &config.rate_limit {
            Some(limit) => match self.depart(now, len, limit) {
                Some(at) => at,
                None => return Fate::RateDropped,
            },
            None => now,
        };
        let mut at = departed + config.delay + rng.duration_below(config.jitter);
        if config.jitter_keeps_order {
            at = self.last_arrival.map_or(at, |last| at.max(last));
            self.last_arrival = Some(at);
        }
        let reordered = rng.chance(config.reorder);
        if reordered {
            at += config.reorder_delay;
        }
        let copy = rng
            .chance(config.duplicate)
            .then(|| departed + config.delay + rng.duration_below(config.jitter));
        Fate::Arrives {
            at,
            reordered,
            copy,
        }
    }

    /// Passes a datagram of `len` bytes through the bottleneck at `now`; returns when it has
    /// left it, or `None` if the queue is full.
    fn depart(&mut self, now: Instant, len: usize, limit: &RateLimit) -> Option<Instant> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_serializes_and_tail_drops() {
        let now = Instant::now();
        let mut state = LinkState::default();
        // 8 kbit/s: one 100-byte datagram takes 100 ms; the queue holds 250 bytes.
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

    /// Arrival times of 5000 datagrams sent every 20 ms under `config`.
    fn arrivals(config: &LinkConfig) -> Vec<(Instant, Instant)> {
        let mut rng = SeededRng::new(3);
        let mut state = LinkState::default();
        let start = Instant::now();
        (0..5000u32)
            .filter_map(|i| {
                let sent = start + Duration::from_millis(u64::from(i) * 20);
                match state.admit(config, sent, 160, &mut rng) {
                    Fate::Arrives { at, .. } => Some((sent, at)),
                    _ => None,
                }
            })
            .collect()
    }

    #[test]
    fn free_jitter_reorders_and_queue_jitter_never_does() {
        let jitter = Duration::from_millis(100);
        let free = arrivals(&LinkConfig::with_delay(Duration::from_millis(30)).jitter(jitter));
        let overtaken = free.windows(2).filter(|w| w[1].1 < w[0].1).count();
        assert!(overtaken > 100, "{overtaken}");
        assert!(free
            .iter()
            .all(|(sent, at)| *at >= *sent + Duration::from_millis(30)
                && *at < *sent + Duration::from_millis(130)));

        let queued = arrivals(&LinkConfig::default().queue_jitter(jitter));
        assert!(queued.windows(2).all(|w| w[1].1 >= w[0].1));
        let most = queued
            .iter()
            .map(|(s, a)| *a - *s)
            .max()
            .unwrap_or_default();
        assert!(most >= jitter / 2 && most <= jitter + jitter, "{most:?}");
    }

    #[test]
    fn labels_join_loss_and_jitter() {
        assert_eq!(LinkConfig::default().label(), "no loss");
        let both = LinkConfig::default()
            .loss(Loss::bursty(0.1, 3.0))
            .queue_jitter(Duration::from_millis(30));
        assert_eq!(both.label(), "10% bursty loss, 30 ms jitter");
        assert_eq!(
            LinkConfig::default()
                .jitter(Duration::from_millis(60))
                .label(),
            "60 ms jitter"
        );
    }
}
