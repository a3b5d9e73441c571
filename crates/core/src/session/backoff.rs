//! Reconnect delays: exponential backoff with full jitter. The ceiling starts at
//! `backoff_initial`, doubles per failed attempt up to `backoff_max`, and resets after a
//! `welcome`; each delay is uniform in `[0, ceiling]`. Randomness is passed in (the engine draws
//! it from the OS), so the policy is deterministic under test.

use std::time::Duration;

/// The backoff state of one signaling connection.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            initial,
            max,
            failures: 0,
        }
    }

    /// Back to the initial ceiling (after a successful handshake).
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The ceiling of the next delay: `initial * 2^failures`, at most `max`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.failures).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The next delay for a uniformly random `random`, and one more failure counted.
    pub fn next_delay(&mut self, random: u64) -> Duration {
        let ceiling = self.ceiling().as_nanos();
        self.failures = self.failures.saturating_add(1).min(32);
        let nanos = ceiling * u128::from(random) / u128::from(u64::MAX);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn ceiling_doubles_up_to_the_max_and_resets() {
        let mut b = Backoff::new(250 * MS, 10_000 * MS);
        let ceilings: Vec<_> = (0..8)
            .map(|_| {
                let c = b.ceiling();
                b.next_delay(0);
                c
            })
            .collect();
        assert_eq!(
            ceilings,
            [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000].map(|m| m * MS)
        );
        b.reset();
        assert_eq!(b.ceiling(), 250 * MS);
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        let mut b = Backoff::new(250 * MS, 10_000 * MS);
        assert_eq!(b.clone().next_delay(0), Duration::ZERO);
        assert_eq!(b.clone().next_delay(u64::MAX), 250 * MS);
        assert_eq!(
            b.next_delay(u64::MAX / 2),
            Duration::from_nanos(124_999_999)
        );
    }

    #[test]
    fn many_failures_do_not_overflow() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        for _ in 0..1000 {
            assert!(b.next_delay(u64::MAX) <= Duration::from_secs(30));
        }
        assert_eq!(b.ceiling(), Duration::from_secs(30));
    }
}
