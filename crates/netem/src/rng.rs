//! The workspace's random numbers for simulations, randomized tests and benchmarks:
//! xoshiro256** seeded through splitmix64, written here rather than taken from a crate so that
//! a seed's meaning is fixed by this file alone and cannot change with a dependency upgrade.
//! Not for cryptography.

use std::time::Duration;

/// splitmix64: expands one 64-bit seed into well-mixed state words.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seeded xoshiro256** generator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeededRng {
    s: [u64; 4],
}

impl SeededRng {
    /// A generator whose whole output is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        // splitmix64 never yields four zero words in a row, so the state is never all zero.
        SeededRng { s }
    }

    /// A generator for one keyed decision: the same `(seed, key)` always gives the same stream,
    /// whatever was drawn before. For callers whose sequence of draws is not repeatable (a peer
    /// that randomizes its own packet timing would shift a running stream), keyed by what
    /// identifies the event — its time, its sender, its length.
    pub fn keyed(seed: u64, key: u64) -> Self {
        let mut sm = key;
        SeededRng::new(seed ^ splitmix64(&mut sm))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`, with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p` (never for `p <= 0` or NaN, always for `p >= 1`).
    pub fn chance(&mut self, p: f64) -> bool {
        if p.is_nan() || p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        self.next_f64() < p
    }

    /// Uniform in `[0, n)`; 0 when `n` is 0. Uses rejection sampling, so it has no modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// Uniform in `[0, len)`, for picking an index; 0 when `len` is 0.
    pub fn index(&mut self, len: usize) -> usize {
        // usize fits u64 on every supported target, and the result is below `len`.
        usize::try_from(self.below(len as u64)).unwrap_or(0)
    }

    /// One of `items`, uniformly. Panics if `items` is empty.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// True with probability `percent` / 100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A duration uniform in `[0, max)` at nanosecond resolution; zero when `max` is zero.
    pub fn duration_below(&mut self, max: Duration) -> Duration {
        let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.below(nanos))
    }

    /// 16 random bytes (for deterministic ids).
    pub fn bytes16(&mut self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        out[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_xoshiro256starstar() {
        // Reference: state {1, 2, 3, 4} gives 11520, 0, 1509978240, 1215971899390074240
        // (from the authors' xoshiro256starstar.c).
        let mut rng = SeededRng { s: [1, 2, 3, 4] };
        let got: Vec<u64> = (0..4).map(|_| rng.next_u64()).collect();
        assert_eq!(got, [11520, 0, 1_509_978_240, 1_215_971_899_390_074_240]);
    }

    #[test]
    fn splitmix_matches_reference() {
        // Reference first output of splitmix64 seeded with 0.
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let a: Vec<u64> = {
            let mut r = SeededRng::new(7);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = SeededRng::new(7);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = SeededRng::new(8);
            (0..8).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn floats_and_ranges_stay_in_bounds_and_are_roughly_uniform() {
        let mut rng = SeededRng::new(1);
        let mut sum = 0.0;
        let n = 100_000;
        for _ in 0..n {
            let x = rng.next_f64();
            assert!((0.0..1.0).contains(&x));
            sum += x;
            assert!(rng.below(10) < 10);
            assert!(rng.duration_below(Duration::from_millis(5)) < Duration::from_millis(5));
        }
        let mean = sum / f64::from(n);
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
        assert_eq!(rng.duration_below(Duration::ZERO), Duration::ZERO);
        assert!(!rng.chance(0.0));
        assert!(rng.chance(1.0));
        assert!(!rng.chance(f64::NAN));
        assert_eq!(rng.index(0), 0);
        assert!(rng.index(3) < 3);
        assert!([1, 2, 3].contains(rng.pick(&[1, 2, 3])));
        assert!(!rng.percent(0));
        assert!(rng.percent(100));
    }

    #[test]
    fn keyed_streams_depend_on_seed_and_key_only() {
        let first = |seed, key| SeededRng::keyed(seed, key).next_u64();
        assert_eq!(first(1, 2), first(1, 2));
        assert_ne!(first(1, 2), first(1, 3));
        assert_ne!(first(1, 2), first(2, 2));
    }
}
