//! The network impairments the quality benchmark puts both stacks through, as a sans-IO model:
//! given a packet and the time it arrived, [`Flow::admit`] says whether it is lost and when it
//! leaves. Loss is independent (Bernoulli) or bursty (the two-state Gilbert model: every packet
//! in the bad state is lost); jitter delays each packet by a uniform random extra in
//! `0..=jitter`, never letting a packet overtake the one before it (queueing delay keeps order,
//! and reordering is a different impairment). Seeded, so a run repeats exactly.

use std::time::{Duration, Instant};

/// What a link does to media packets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    pub loss: Loss,
    /// The most extra delay a packet gets (uniform in `0..=jitter`).
    pub jitter: Duration,
}

impl Impairment {
    pub const CLEAN: Impairment = Impairment {
        loss: Loss::None,
        jitter: Duration::ZERO,
    };

    /// A short label for tables and plots: `5% random`, `10% bursty`, `30 ms jitter`, `clean`.
    pub fn label(&self) -> String {
        let loss = match self.loss {
            Loss::None => None,
            Loss::Random(p) => Some(format!("{:.0}% random loss", p * 100.0)),
            Loss::Bursty { rate, .. } => Some(format!("{:.0}% bursty loss", rate * 100.0)),
        };
        let jitter =
            (!self.jitter.is_zero()).then(|| format!("{} ms jitter", self.jitter.as_millis()));
        match (loss, jitter) {
            (None, None) => "no loss".to_string(),
            (Some(l), None) => l,
            (None, Some(j)) => j,
            (Some(l), Some(j)) => format!("{l}, {j}"),
        }
    }
}

/// How packets are lost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    None,
    /// Each packet lost independently with this probability.
    Random(f64),
    /// Gilbert model with this long-run loss rate and mean burst length (packets).
    Bursty {
        rate: f64,
        mean_burst: f64,
    },
}

/// SplitMix64: small, seedable and good enough to draw losses and delays.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One direction of one link: its impairment, random state and queue tail.
#[derive(Debug, Clone)]
pub struct Flow {
    impairment: Impairment,
    rng: Rng,
    /// Gilbert state: in the bad (losing) state.
    bad: bool,
    /// When the previous admitted packet leaves (packets never overtake it).
    tail: Option<Instant>,
    pub admitted: u64,
    pub dropped: u64,
}

impl Flow {
    pub fn new(impairment: Impairment, seed: u64) -> Flow {
        Flow {
            impairment,
            rng: Rng(seed),
            bad: false,
            tail: None,
            admitted: 0,
            dropped: 0,
        }
    }

    /// A packet arrived at `now`: `None` if it is lost, otherwise when to send it on.
    pub fn admit(&mut self, now: Instant) -> Option<Instant> {
        if self.lost() {
            self.dropped += 1;
            return None;
        }
        self.admitted += 1;
        let jitter = self.impairment.jitter.as_secs_f64() * self.rng.unit();
        let mut leave = now + Duration::from_secs_f64(jitter);
        if let Some(tail) = self.tail {
            leave = leave.max(tail);
        }
        self.tail = Some(leave);
        Some(leave)
    }

    fn lost(&mut self) -> bool {
        match self.impairment.loss {
            Loss::None => false,
            Loss::Random(p) => self.rng.unit() < p,
            Loss::Bursty { rate, mean_burst } => {
                // Leave the bad state with r = 1/mean burst; enter it with p chosen so the
                // long-run share of bad packets, p / (p + r), is the loss rate.
                let r = 1.0 / mean_burst.max(1.0);
                let p = (rate * r / (1.0 - rate).max(1e-9)).min(1.0);
                let u = self.rng.unit();
                self.bad = if self.bad { u >= r } else { u < p };
                self.bad
            }
        }
    }
}

/// Only RTP is impaired: STUN, DTLS and RTCP pass untouched, so both stacks connect the same
/// way and the figures are about what loss does to audio. RTP and RTCP both start with version
/// 2 (first byte 128..=191); RTCP's packet types 192..=223 read as 64..=95 under RTP's marker
/// mask (RFC 5761).
pub fn is_rtp(packet: &[u8]) -> bool {
    match packet {
        [first, second, ..] => (128..=191).contains(first) && !(64..=95).contains(&(second & 0x7F)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss_rate(impairment: Impairment, seed: u64, n: u32) -> (f64, f64) {
        let mut flow = Flow::new(impairment, seed);
        let now = Instant::now();
        let (mut lost, mut bursts, mut in_burst) = (0u32, 0u32, false);
        for _ in 0..n {
            let gone = flow.admit(now).is_none();
            lost += u32::from(gone);
            if gone && !in_burst {
                bursts += 1;
            }
            in_burst = gone;
        }
        let mean_burst = if bursts == 0 {
            0.0
        } else {
            f64::from(lost) / f64::from(bursts)
        };
        (f64::from(lost) / f64::from(n), mean_burst)
    }

    #[test]
    fn random_loss_has_the_asked_rate_and_short_bursts() {
        let imp = Impairment {
            loss: Loss::Random(0.1),
            jitter: Duration::ZERO,
        };
        let (rate, burst) = loss_rate(imp, 7, 200_000);
        assert!((rate - 0.1).abs() < 0.005, "{rate}");
        assert!(burst < 1.3, "{burst}");
    }

    #[test]
    fn gilbert_loss_has_the_asked_rate_and_mean_burst() {
        for target in [0.1, 0.2] {
            let imp = Impairment {
                loss: Loss::Bursty {
                    rate: target,
                    mean_burst: 3.0,
                },
                jitter: Duration::ZERO,
            };
            let (rate, burst) = loss_rate(imp, 11, 400_000);
            assert!((rate - target).abs() < 0.01, "{target}: {rate}");
            assert!((burst - 3.0).abs() < 0.15, "{target}: {burst}");
        }
    }

    #[test]
    fn jitter_delays_within_bounds_and_never_reorders() {
        let jitter = Duration::from_millis(100);
        let mut flow = Flow::new(
            Impairment {
                loss: Loss::None,
                jitter,
            },
            3,
        );
        let start = Instant::now();
        let mut last = start;
        let mut most = Duration::ZERO;
        for i in 0..5000u32 {
            let now = start + Duration::from_millis(u64::from(i) * 20);
            let leave = flow.admit(now).expect("no loss configured");
            assert!(leave >= now && leave >= last);
            most = most.max(leave - now);
            last = leave;
        }
        assert!(most <= jitter + Duration::from_millis(100), "{most:?}");
        assert!(most >= jitter / 2, "{most:?}");
    }

    #[test]
    fn the_same_seed_repeats_the_same_losses() {
        let imp = Impairment {
            loss: Loss::Random(0.3),
            jitter: Duration::ZERO,
        };
        let now = Instant::now();
        let run = |seed| {
            let mut f = Flow::new(imp, seed);
            (0..200).map(|_| f.admit(now).is_some()).collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn only_rtp_is_impaired() {
        assert!(is_rtp(&[0x80, 111, 0, 1]));
        assert!(is_rtp(&[0x80, 0x80 | 111, 0, 1]));
        assert!(!is_rtp(&[0x80, 200, 0, 1])); // RTCP sender report
        assert!(!is_rtp(&[0x81, 201, 0, 1])); // RTCP receiver report
        assert!(!is_rtp(&[0x00, 0x01, 0, 0])); // STUN binding request
        assert!(!is_rtp(&[22, 0xfe, 0xfd])); // DTLS handshake
        assert!(!is_rtp(&[0x80]));
    }
}
