//! Virtual time. A [`SimClock`] never sleeps and never reads the system clock after it is
//! built: it is one real `Instant` captured at construction plus a virtual offset that only
//! [`SimClock::advance`] and [`SimClock::advance_to`] move. The same moment is also available as
//! UNIX milliseconds (starting at a fixed epoch) for the server's router, which takes
//! `now_ms: u64`; [`TimeBase`] converts between the two so every part of a simulation agrees.

use std::time::{Duration, Instant};

/// The UNIX time (ms) a [`SimClock`] starts at unless told otherwise: 2023-11-14T22:13:20Z.
pub const DEFAULT_EPOCH_MS: u64 = 1_700_000_000_000;

/// The fixed mapping between a clock's `Instant`s and UNIX milliseconds. Cheap to copy; hand
/// one to every component that needs wall-clock milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeBase {
    base: Instant,
    epoch_ms: u64,
}

impl TimeBase {
    /// The `Instant` at which virtual time began.
    pub fn start(&self) -> Instant {
        self.base
    }

    /// The UNIX time (ms) of [`TimeBase::start`].
    pub fn epoch_ms(&self) -> u64 {
        self.epoch_ms
    }

    /// `at` as UNIX milliseconds, rounded down. Instants before the start map to the epoch.
    pub fn unix_ms(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.base).as_millis();
        self.epoch_ms
            .saturating_add(u64::try_from(since).unwrap_or(u64::MAX))
    }

    /// UNIX milliseconds as an `Instant`. Times before the epoch map to the start.
    pub fn instant(&self, unix_ms: u64) -> Instant {
        self.base + Duration::from_millis(unix_ms.saturating_sub(self.epoch_ms))
    }
}

/// Virtual time for a simulation. See the module docs.
#[derive(Clone, Debug)]
pub struct SimClock {
    time: TimeBase,
    offset: Duration,
}

impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}

impl SimClock {
    /// A clock at [`DEFAULT_EPOCH_MS`].
    pub fn new() -> Self {
        Self::with_epoch_ms(DEFAULT_EPOCH_MS)
    }

    /// A clock whose start is `epoch_ms` in UNIX milliseconds.
    pub fn with_epoch_ms(epoch_ms: u64) -> Self {
        SimClock {
            time: TimeBase {
                base: Instant::now(),
                epoch_ms,
            },
            offset: Duration::ZERO,
        }
    }

    /// The mapping between this clock's instants and UNIX milliseconds.
    pub fn time_base(&self) -> TimeBase {
        self.time
    }

    /// The current virtual instant.
    pub fn now(&self) -> Instant {
        self.time.base + self.offset
    }

    /// The current virtual time in UNIX milliseconds (rounded down).
    pub fn now_ms(&self) -> u64 {
        self.time.unix_ms(self.now())
    }

    /// Virtual time elapsed since the clock was built.
    pub fn elapsed(&self) -> Duration {
        self.offset
    }

    /// Moves virtual time forward by `by`.
    pub fn advance(&mut self, by: Duration) {
        self.offset += by;
    }

    /// Moves virtual time forward to `to`. Time never goes backwards: a `to` at or before
    /// [`SimClock::now`] (an already overdue deadline) leaves the clock where it is.
    pub fn advance_to(&mut self, to: Instant) {
        if let Some(ahead) = to.checked_duration_since(self.now()) {
            self.offset += ahead;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_instant_and_unix_ms_together() {
        let mut clock = SimClock::new();
        let t0 = clock.now();
        assert_eq!(clock.now_ms(), DEFAULT_EPOCH_MS);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now() - t0, Duration::from_millis(1500));
        assert_eq!(clock.now_ms(), DEFAULT_EPOCH_MS + 1500);
        clock.advance_to(t0 + Duration::from_secs(45));
        assert_eq!(clock.elapsed(), Duration::from_secs(45));
        assert_eq!(clock.now_ms(), DEFAULT_EPOCH_MS + 45_000);
    }

    #[test]
    fn advance_to_the_past_is_ignored() {
        let mut clock = SimClock::with_epoch_ms(5_000);
        clock.advance(Duration::from_secs(10));
        let now = clock.now();
        clock.advance_to(now - Duration::from_secs(3));
        assert_eq!(clock.now(), now);
        assert_eq!(clock.now_ms(), 15_000);
    }

    #[test]
    fn time_base_round_trips_and_rounds_down() {
        let clock = SimClock::new();
        let tb = clock.time_base();
        let at = tb.instant(DEFAULT_EPOCH_MS + 1234);
        assert_eq!(at - tb.start(), Duration::from_millis(1234));
        assert_eq!(tb.unix_ms(at), DEFAULT_EPOCH_MS + 1234);
        assert_eq!(
            tb.unix_ms(at + Duration::from_micros(999)),
            DEFAULT_EPOCH_MS + 1234
        );
        assert_eq!(tb.instant(0), tb.start());
    }

    #[test]
    fn no_real_time_passes_in_virtual_time() {
        let real = Instant::now();
        let mut clock = SimClock::new();
        clock.advance(Duration::from_secs(3600));
        assert!(real.elapsed() < Duration::from_secs(5));
        assert_eq!(clock.elapsed(), Duration::from_secs(3600));
    }
}
