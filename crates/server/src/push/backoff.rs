//! When to try a push again after a push service said "not now" (429, 500, 503): exponential
//! backoff with full jitter (AWS's "Exponential Backoff and Jitter": a uniform wait between
//! zero and the capped exponential), never shorter than the service's `Retry-After`, and never
//! past the give-up time (for an incoming call, its ring deadline: a push that arrives after the
//! call stopped ringing would show a ghost call). Pure functions; the caller supplies the time
//! and the randomness.

use std::time::Duration;

/// Backoff tunables (from `push_retry_base_ms` / `push_retry_max_ms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The cap of the first wait; doubles per retry.
    pub base: Duration,
    /// The largest cap.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(250),
            max: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0 for the first retry), given a uniformly random
    /// `random`, and the service's `Retry-After` if it sent one.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, random: u64) -> Duration {
        let cap = self
            .base
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX))
            .min(self.max);
        let cap_ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        let jittered = Duration::from_millis(random % cap_ms.saturating_add(1));
        match retry_after {
            Some(after) => jittered.max(after),
            None => jittered,
        }
    }
}

/// Whether to sleep `delay` and retry, with `now_ms` and `give_up_at_ms` in UNIX ms: only if
/// the retry would still start before the give-up time.
pub fn retry_fits(now_ms: u64, delay: Duration, give_up_at_ms: u64) -> bool {
    let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    now_ms.saturating_add(delay_ms) < give_up_at_ms
}

/// Parses `Retry-After` in its delay-seconds form. The HTTP-date form is not used by APNs or
/// FCM; it is ignored (the jittered backoff applies).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        }
    }

    #[test]
    fn full_jitter_stays_under_the_doubling_cap() {
        let p = policy();
        for (retry, cap) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (40, 1000),
        ] {
            for random in [0, 1, 99, 12_345, u64::MAX] {
                let d = p.delay(retry, None, random);
                assert!(d <= Duration::from_millis(cap), "retry {retry}: {d:?}");
            }
            assert_eq!(p.delay(retry, None, cap), Duration::from_millis(cap));
            assert_eq!(p.delay(retry, None, 0), Duration::ZERO);
        }
    }

    #[test]
    fn retry_after_is_a_floor() {
        let p = policy();
        let after = Some(Duration::from_secs(3));
        assert_eq!(p.delay(0, after, 7), Duration::from_secs(3));
        assert_eq!(
            p.delay(0, Some(Duration::ZERO), 50),
            Duration::from_millis(50)
        );
    }

    #[test]
    fn never_retries_past_the_give_up_time() {
        assert!(retry_fits(1_000, Duration::from_millis(499), 1_500));
        assert!(!retry_fits(1_000, Duration::from_millis(500), 1_500));
        assert!(!retry_fits(2_000, Duration::ZERO, 1_500));
        assert!(!retry_fits(u64::MAX, Duration::MAX, 1));
    }

    #[test]
    fn retry_after_parses_delay_seconds_only() {
        assert_eq!(parse_retry_after(" 2 "), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
