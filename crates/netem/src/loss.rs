//! How a link loses datagrams: not at all, independently (Bernoulli), or in bursts (a
//! Gilbert–Elliott two-state channel, the usual model of fades, handovers and overflowing
//! queues). [`Loss`] is plain data; the channel's state lives in [`LossState`].

use crate::rng::SeededRng;

/// How a link loses datagrams.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Loss {
    /// Nothing is lost.
    #[default]
    None,
    /// Each datagram is lost independently with this probability (a fraction, 0.1 = 10%).
    Random(f64),
    /// A two-state Markov channel. Before each datagram the channel moves Good→Bad with
    /// `p_good_to_bad` or Bad→Good with `p_bad_to_good`; the datagram is then lost with
    /// probability `loss_in_bad` in the Bad state and never in the Good state.
    GilbertElliott {
        p_good_to_bad: f64,
        p_bad_to_good: f64,
        loss_in_bad: f64,
    },
}

impl Loss {
    /// Bursty loss with `mean_loss` of all datagrams lost (a fraction) in bursts of
    /// `mean_burst_packets` consecutive datagrams on average (lengths are geometric). Built as
    /// a Gilbert channel that loses everything while Bad: the Bad state lasts
    /// `1 / p_bad_to_good` datagrams on average and the channel spends
    /// `p_gb / (p_gb + p_bg)` of its time there.
    ///
    /// `mean_loss` is clamped to `[0, 1]` and `mean_burst_packets` below 1 is taken as 1.
    /// Bursts are separated by at least one delivered datagram, so a loss above
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

    /// The long-run fraction of datagrams this model loses.
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

    /// The mean length of a run of consecutive losses, in datagrams (1 for independent loss
    /// below certainty; `None` when nothing is lost or everything is).
    pub fn mean_burst(&self) -> Option<f64> {
        match *self {
            Loss::None => None,
            Loss::Random(p) if p <= 0.0 || p >= 1.0 || p.is_nan() => None,
            Loss::Random(p) => Some(1.0 / (1.0 - p)),
            Loss::GilbertElliott {
                p_good_to_bad,
                p_bad_to_good,
                loss_in_bad,
            } => (p_good_to_bad > 0.0 && p_bad_to_good > 0.0 && loss_in_bad >= 1.0)
                .then(|| 1.0 / p_bad_to_good),
        }
    }

    /// A short label for tables and plots: `5% random loss`, `10% bursty loss`, `no loss`.
    pub fn label(&self) -> String {
        match self {
            Loss::None => "no loss".to_owned(),
            Loss::Random(p) => format!("{:.0}% random loss", p * 100.0),
            Loss::GilbertElliott { .. } => format!("{:.0}% bursty loss", self.mean_loss() * 100.0),
        }
    }
}

/// The channel state of one link: whether a Gilbert–Elliott channel is in its Bad state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossState {
    bad: bool,
}

impl LossState {
    /// Decides the fate of one datagram under `loss`, advancing the channel; true means lost.
    pub fn lose(&mut self, loss: &Loss, rng: &mut SeededRng) -> bool {
        match *loss {
            Loss::None => false,
            Loss::Random(p) => rng.chance(p),
            Loss::GilbertElliott {
                p_good_to_bad,
                p_bad_to_good,
                loss_in_bad,
            } => {
                let flip = if self.bad {
                    p_bad_to_good
                } else {
                    p_good_to_bad
                };
                if rng.chance(flip) {
                    self.bad = !self.bad;
                }
                self.bad && rng.chance(loss_in_bad)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The measured loss rate and mean burst length of `n` datagrams.
    fn measure(loss: Loss, seed: u64, n: u32) -> (f64, f64) {
        let mut rng = SeededRng::new(seed);
        let mut state = LossState::default();
        let (mut lost, mut bursts, mut in_burst) = (0u32, 0u32, false);
        for _ in 0..n {
            let gone = state.lose(&loss, &mut rng);
            lost += u32::from(gone);
            bursts += u32::from(gone && !in_burst);
            in_burst = gone;
        }
        let burst = if bursts == 0 {
            0.0
        } else {
            f64::from(lost) / f64::from(bursts)
        };
        (f64::from(lost) / f64::from(n), burst)
    }

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
        assert_eq!(loss.mean_burst(), Some(3.0));
        assert!((Loss::bursty(1.0, 2.0).mean_loss() - 1.0).abs() < 1e-12);
        assert_eq!(Loss::bursty(0.0, 2.0).mean_loss(), 0.0);
        // 80% loss cannot come in bursts of 1 with a delivered datagram between them: the mean
        // is kept and the bursts grow to 4.
        let heavy = Loss::bursty(0.8, 1.0);
        assert!((heavy.mean_loss() - 0.8).abs() < 1e-12);
        let Loss::GilbertElliott { p_bad_to_good, .. } = heavy else {
            panic!("{heavy:?}");
        };
        assert!((1.0 / p_bad_to_good - 4.0).abs() < 1e-9);
    }

    #[test]
    fn measured_loss_matches_the_model() {
        for (loss, seed) in [
            (Loss::Random(0.1), 7),
            (Loss::bursty(0.1, 3.0), 11),
            (Loss::bursty(0.2, 3.0), 12),
        ] {
            let (rate, burst) = measure(loss, seed, 400_000);
            assert!((rate - loss.mean_loss()).abs() < 0.01, "{loss:?}: {rate}");
            let want = loss.mean_burst().expect("some loss");
            assert!((burst - want).abs() < 0.15, "{loss:?}: burst {burst}");
        }
        assert_eq!(measure(Loss::None, 1, 1000).0, 0.0);
        assert_eq!(measure(Loss::Random(1.0), 1, 1000).0, 1.0);
    }

    #[test]
    fn labels_name_the_model_and_rate() {
        assert_eq!(Loss::None.label(), "no loss");
        assert_eq!(Loss::Random(0.05).label(), "5% random loss");
        assert_eq!(Loss::bursty(0.2, 3.0).label(), "20% bursty loss");
    }
}
