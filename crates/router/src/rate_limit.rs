//! Token buckets that stop floods: per device for invites (in the router) and per connection for
//! all messages (in the connection task). Time is passed in, so the limiter stays deterministic.

/// A token bucket: `burst` tokens, refilled one every `refill_ms`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    last_ms: u64,
}

impl TokenBucket {
    pub fn full(burst: u32, now_ms: u64) -> Self {
        TokenBucket {
            tokens: f64::from(burst),
            last_ms: now_ms,
        }
    }

    /// Takes one token, or says how long until one is available.
    pub fn take(&mut self, burst: u32, refill_ms: u64, now_ms: u64) -> Result<(), u64> {
        let refill_ms = refill_ms.max(1);
        let elapsed = now_ms.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now_ms);
        self.tokens = (self.tokens + elapsed as f64 / refill_ms as f64).min(f64::from(burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err((missing * refill_ms as f64).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_refills() {
        let mut b = TokenBucket::full(3, 0);
        assert!(b.take(3, 1000, 0).is_ok());
        assert!(b.take(3, 1000, 0).is_ok());
        assert!(b.take(3, 1000, 0).is_ok());
        assert_eq!(b.take(3, 1000, 0), Err(1000));
        assert_eq!(b.take(3, 1000, 400), Err(600));
        assert!(b.take(3, 1000, 1000).is_ok());
        // Never refills above the burst.
        assert!(b.take(3, 1000, 1_000_000).is_ok());
        assert!(b.take(3, 1000, 1_000_000).is_ok());
        assert!(b.take(3, 1000, 1_000_000).is_ok());
        assert!(b.take(3, 1000, 1_000_000).is_err());
    }

    #[test]
    fn a_clock_going_backwards_does_not_mint_tokens() {
        let mut b = TokenBucket::full(1, 5000);
        assert!(b.take(1, 1000, 5000).is_ok());
        assert!(b.take(1, 1000, 1000).is_err());
    }
}
