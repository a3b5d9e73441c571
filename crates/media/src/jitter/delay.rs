//! Arrival-delay statistics of one timeline: the sliding window of transit times that the
//! target delay is a percentile of, the window's minimum transit that "current delay" is
//! measured from, and the RFC 3550 interarrival jitter.
//!
//! Times are milliseconds on the buffer's own axis (since its first `Instant`); timestamps are
//! converted to milliseconds by the caller. Nothing here reads a clock.

use std::collections::VecDeque;

#[derive(Debug, Clone, Copy)]
struct Sample {
    arrival_ms: f64,
    transit_ms: f64,
}

#[derive(Debug, Clone)]
pub(super) struct DelayEstimator {
    window_ms: f64,
    percentile: f64,
    /// Bounds memory when packets arrive far faster than one per frame (floods, garbage).
    cap: usize,
    samples: VecDeque<Sample>,
    /// Minimum transit of the window; kept after the window empties so a silent stretch still
    /// has a reference until the next packet starts a new one.
    min_transit_ms: Option<f64>,
    since_start: u64,
    last_transit_ms: Option<f64>,
    jitter_ms: f64,
    scratch: Vec<f64>,
}

impl DelayEstimator {
    pub(super) fn new(window_ms: u32, percentile: f64, frame_ms: u32) -> Self {
        let cap = (4 * window_ms / frame_ms.max(1)).max(16) as usize;
        Self {
            window_ms: f64::from(window_ms),
            percentile,
            cap,
            samples: VecDeque::with_capacity(cap),
            min_transit_ms: None,
            since_start: 0,
            last_transit_ms: None,
            jitter_ms: 0.0,
            scratch: Vec::with_capacity(cap),
        }
    }

    /// Forgets everything: the next sample starts a new timeline (SSRC change, timestamp jump).
    pub(super) fn clear(&mut self) {
        self.samples.clear();
        self.min_transit_ms = None;
        self.since_start = 0;
        self.last_transit_ms = None;
        self.jitter_ms = 0.0;
    }

    /// Records a packet that arrived at `arrival_ms` carrying media time `media_ms`.
    pub(super) fn add(&mut self, arrival_ms: f64, media_ms: f64) {
        let transit_ms = arrival_ms - media_ms;
        if !transit_ms.is_finite() {
            return;
        }
        // RFC 3550 §6.4.1: J += (|D| - J) / 16, D the transit difference of consecutive arrivals.
        if let Some(last) = self.last_transit_ms {
            self.jitter_ms += ((transit_ms - last).abs() - self.jitter_ms) / 16.0;
        }
        self.last_transit_ms = Some(transit_ms);

        let evicted = if self.samples.len() >= self.cap {
            self.samples.pop_front()
        } else {
            None
        };
        let was_empty = self.samples.is_empty();
        self.samples.push_back(Sample {
            arrival_ms,
            transit_ms,
        });
        self.since_start += 1;
        if evicted.is_some_and(|e| Some(e.transit_ms) == self.min_transit_ms) {
            self.rescan_min();
        } else {
            self.min_transit_ms = match (was_empty, self.min_transit_ms) {
                (false, Some(m)) => Some(m.min(transit_ms)),
                _ => Some(transit_ms),
            };
        }
    }

    /// Drops samples older than the window.
    pub(super) fn expire(&mut self, now_ms: f64) {
        let horizon = now_ms - self.window_ms;
        let mut removed = false;
        while self.samples.front().is_some_and(|s| s.arrival_ms < horizon) {
            self.samples.pop_front();
            removed = true;
        }
        if removed && !self.samples.is_empty() {
            self.rescan_min();
        }
    }

    fn rescan_min(&mut self) {
        self.min_transit_ms = self
            .samples
            .iter()
            .map(|s| s.transit_ms)
            .reduce(f64::min)
            .or(self.min_transit_ms);
    }

    pub(super) fn min_transit_ms(&self) -> Option<f64> {
        self.min_transit_ms
    }

    /// Samples recorded since the timeline started (not only those still in the window).
    pub(super) fn samples_since_start(&self) -> u64 {
        self.since_start
    }

    pub(super) fn jitter_ms(&self) -> f64 {
        self.jitter_ms
    }

    /// The configured percentile of relative arrival delay over the window, ms; 0 when empty.
    pub(super) fn quantile_ms(&mut self) -> f64 {
        let Some(min) = self.min_transit_ms else {
            return 0.0;
        };
        if self.samples.is_empty() {
            return 0.0;
        }
        self.scratch.clear();
        self.scratch
            .extend(self.samples.iter().map(|s| s.transit_ms - min));
        let n = self.scratch.len();
        // Nearest-rank percentile: the smallest value with at least p·n samples at or below it.
        let rank = (self.percentile * n as f64).ceil() as usize;
        let k = rank.clamp(1, n) - 1;
        let (_, value, _) = self.scratch.select_nth_unstable_by(k, f64::total_cmp);
        value.max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_of_relative_delay_and_window_expiry() {
        let mut d = DelayEstimator::new(2000, 0.97, 20);
        // 100 packets, every 20 ms; packet i is delayed by (i % 10) ms beyond the fastest.
        for i in 0..100 {
            let media = f64::from(i) * 20.0;
            d.add(media + 50.0 + f64::from(i % 10), media);
        }
        assert_eq!(d.min_transit_ms(), Some(50.0));
        assert_eq!(d.quantile_ms(), 9.0);
        // One very slow packet is under the 3 % the percentile may ignore.
        d.add(2000.0 + 50.0 + 300.0, 2000.0);
        assert_eq!(d.quantile_ms(), 9.0);
        // Everything expires, the minimum is kept for reference.
        d.expire(10_000.0);
        assert_eq!(d.quantile_ms(), 0.0);
        assert_eq!(d.min_transit_ms(), Some(50.0));
        assert_eq!(d.samples_since_start(), 101);
    }

    #[test]
    fn rfc3550_jitter_converges_to_mean_transit_difference() {
        let mut d = DelayEstimator::new(2000, 0.97, 20);
        for i in 0..2000 {
            let media = f64::from(i) * 20.0;
            let extra = if i % 2 == 0 { 0.0 } else { 10.0 };
            d.add(media + 40.0 + extra, media);
        }
        assert!((d.jitter_ms() - 10.0).abs() < 0.01, "{}", d.jitter_ms());
    }

    #[test]
    fn flood_is_capped() {
        let mut d = DelayEstimator::new(2000, 0.97, 20);
        for i in 0..100_000 {
            d.add(1.0, f64::from(i % 7));
        }
        assert!(d.samples.len() <= d.cap);
        assert_eq!(d.min_transit_ms(), Some(-5.0));
    }
}
