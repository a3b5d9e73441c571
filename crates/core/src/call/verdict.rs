//! Quality verdicts: from what one window of an answered call measured (loss both ways, RTT,
//! jitter, concealment, the E-model's MOS, missed audio-clock ticks, packets received, the far
//! end's pause), a verdict an app can show — `good`, `fair` or `poor` — with the one cause that
//! explains it, and the hysteresis that keeps a UI from flapping.
//!
//! # Thresholds (per window, `AgentConfig::quality_interval`, 2 s by default)
//!
//! | cause               | fair from           | poor from           |
//! |---------------------|---------------------|---------------------|
//! | `no_audio_received` | —                   | no packet in the window of a connected call |
//! | `cpu`               | 3 % ticks missed    | 10 % ticks missed   |
//! | `network_loss`      | 3 % lost            | 10 % lost           |
//! | `network_delay`     | RTT 300 ms          | RTT 600 ms          |
//! | `jitter`            | 30 ms               | 60 ms               |
//! | (any, by the MOS)   | MOS below 3.6       | MOS below 3.1       |
//!
//! The far end's pause (`far_end_muted`: its sender stopped, no packets by its own choice) is
//! `fair`, never `poor`: nothing is wrong with the network. Missed ticks come first: a starved
//! audio thread conceals too, and that must not be blamed on the network. Loss is the larger of
//! what this side did not receive and what the far end reports not receiving from us. When
//! only the MOS is low, the cause is the largest of the contributors.
//!
//! # Hysteresis
//!
//! A worse verdict is announced once it has held for [`HOLD_WORSE`] (three windows: two seconds
//! of bad network touch at most two, so they do not flap the UI); a better one once it has held
//! for [`HOLD_BETTER`]. The call starts `good` without an announcement; each announcement is a
//! change of level (the cause is the one seen when the level changed).
//!
//! Each side judges what it hears (the loss it counts, its own audio clock, its own MOS over the
//! window); the far end's engine judges the other direction.

use std::time::{Duration, Instant};

use serde::Serialize;

/// How long a worse verdict must hold before it is announced: three 2 s windows, since a two
/// second burst can straddle two of them.
pub const HOLD_WORSE: Duration = Duration::from_secs(6);
/// How long a better verdict must hold before it is announced.
pub const HOLD_BETTER: Duration = Duration::from_secs(8);

/// The verdict, its causes and the actions are the protocol's words (`call_timeline` carries
/// them too): one vocabulary from the engine to the dashboard.
pub use ringwire_proto::{QualityAction, QualityCause, QualityVerdict as Verdict};

/// The figures of one window behind a verdict.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QualityFigures {
    /// Packets lost, percent: the larger of the two directions.
    pub loss_pct: f64,
    /// Round-trip time, ms, when known.
    pub rtt_ms: Option<f64>,
    /// Interarrival jitter, ms.
    pub jitter_ms: f64,
    /// Share of the window's played frames that were concealment, 0-1.
    pub concealment_ratio: f64,
    /// The E-model's MOS for the call so far, when audio has arrived.
    pub mos: Option<f64>,
    /// Audio packets received in the window.
    pub packets_received: u64,
    /// Share of the window's audio-clock ticks that did not happen, percent.
    pub missed_ticks_pct: f64,
}

/// A verdict change, as reported (the bindings call it `QualityVerdict`).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(
    feature = "uniffi",
    derive(uniffi::Record),
    uniffi(name = "QualityVerdict")
)]
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QualityChange {
    pub verdict: Verdict,
    /// `None` for `good`.
    pub cause: Option<QualityCause>,
    /// What the engine did since the call stopped being good, if anything.
    pub action: Option<QualityAction>,
    pub figures: QualityFigures,
}

/// One window's raw measurements, before the verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Window {
    pub figures: QualityFigures,
    /// Whether the media path is up (no packets on a path that is down is not a quality).
    pub connected: bool,
    /// Whether the far end says it paused its audio.
    pub far_end_paused: bool,
}

/// The verdict of one window alone: the worst cause, and its level.
pub(crate) fn assess(window: &Window) -> (Verdict, Option<QualityCause>) {
    let f = &window.figures;
    if window.far_end_paused {
        return (Verdict::Fair, Some(QualityCause::FarEndMuted));
    }
    if window.connected && f.packets_received == 0 {
        return (Verdict::Poor, Some(QualityCause::NoAudioReceived));
    }
    let level = |value: f64, fair: f64, poor: f64| {
        if value >= poor {
            Verdict::Poor
        } else if value >= fair {
            Verdict::Fair
        } else {
            Verdict::Good
        }
    };
    let cpu = level(f.missed_ticks_pct, 3.0, 10.0);
    if cpu != Verdict::Good {
        return (cpu, Some(QualityCause::Cpu));
    }
    let candidates = [
        (level(f.loss_pct, 3.0, 10.0), QualityCause::NetworkLoss),
        (
            level(f.rtt_ms.unwrap_or(0.0), 300.0, 600.0),
            QualityCause::NetworkDelay,
        ),
        (level(f.jitter_ms, 30.0, 60.0), QualityCause::Jitter),
    ];
    // The worst level; among equals, the order above (loss, delay, jitter).
    let worst = candidates
        .iter()
        .copied()
        .fold((Verdict::Good, None), |acc, (v, c)| {
            if v > acc.0 {
                (v, Some(c))
            } else {
                acc
            }
        });
    let by_mos = match f.mos {
        Some(mos) if mos < 3.1 => Verdict::Poor,
        Some(mos) if mos < 3.6 => Verdict::Fair,
        _ => Verdict::Good,
    };
    if by_mos > worst.0 {
        // The MOS alone says worse: blame its largest contributor.
        let loss = f.loss_pct.max(f.concealment_ratio * 100.0) / 10.0;
        let delay = f.rtt_ms.unwrap_or(0.0) / 600.0;
        let jitter = f.jitter_ms / 60.0;
        let cause = if loss >= delay && loss >= jitter {
            QualityCause::NetworkLoss
        } else if delay >= jitter {
            QualityCause::NetworkDelay
        } else {
            QualityCause::Jitter
        };
        return (by_mos, Some(cause));
    }
    worst
}

/// The verdict of a call over time, with hysteresis (see the module docs).
#[derive(Debug)]
pub(crate) struct VerdictTracker {
    announced: Verdict,
    /// A different verdict seen, since when, and its latest cause.
    pending: Option<(Verdict, Instant, Option<QualityCause>)>,
}

impl Default for VerdictTracker {
    fn default() -> Self {
        VerdictTracker {
            announced: Verdict::Good,
            pending: None,
        }
    }
}

impl VerdictTracker {
    /// The verdict announced last (`good` until the first change).
    pub fn current(&self) -> Verdict {
        self.announced
    }

    /// Feeds the verdict of one window ([`assess`]) of length `span` that ended at `now`;
    /// returns the new verdict and cause when it changes.
    pub fn on_window(
        &mut self,
        now: Instant,
        span: Duration,
        (verdict, cause): (Verdict, Option<QualityCause>),
    ) -> Option<(Verdict, Option<QualityCause>)> {
        if verdict == self.announced {
            self.pending = None;
            return None;
        }
        let since = match self.pending {
            Some((pending, since, _)) if pending == verdict => since,
            _ => now,
        };
        self.pending = Some((verdict, since, cause));
        let hold = if verdict > self.announced {
            HOLD_WORSE
        } else {
            HOLD_BETTER
        };
        // A window's figures cover the span before `now`: the first bad window counts whole.
        if now.saturating_duration_since(since) + span >= hold {
            self.announced = verdict;
            self.pending = None;
            return Some((verdict, cause));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(loss: f64, rtt: Option<f64>, packets: u64, missed: f64) -> Window {
        Window {
            figures: QualityFigures {
                loss_pct: loss,
                rtt_ms: rtt,
                jitter_ms: 5.0,
                concealment_ratio: loss / 100.0,
                mos: Some(4.2),
                packets_received: packets,
                missed_ticks_pct: missed,
            },
            connected: true,
            far_end_paused: false,
        }
    }

    #[test]
    fn each_cause_at_its_threshold() {
        assert_eq!(
            assess(&window(0.0, Some(50.0), 100, 0.0)),
            (Verdict::Good, None)
        );
        assert_eq!(
            assess(&window(4.0, Some(50.0), 100, 0.0)),
            (Verdict::Fair, Some(QualityCause::NetworkLoss))
        );
        assert_eq!(
            assess(&window(12.0, Some(700.0), 100, 0.0)),
            (Verdict::Poor, Some(QualityCause::NetworkLoss))
        );
        assert_eq!(
            assess(&window(0.0, Some(700.0), 100, 0.0)),
            (Verdict::Poor, Some(QualityCause::NetworkDelay))
        );
        assert_eq!(
            assess(&window(12.0, None, 100, 20.0)),
            (Verdict::Poor, Some(QualityCause::Cpu)),
            "a starved audio thread is not the network"
        );
        assert_eq!(
            assess(&window(0.0, None, 0, 0.0)),
            (Verdict::Poor, Some(QualityCause::NoAudioReceived))
        );
        let mut paused = window(0.0, None, 0, 0.0);
        paused.far_end_paused = true;
        assert_eq!(
            assess(&paused),
            (Verdict::Fair, Some(QualityCause::FarEndMuted))
        );
        let mut low_mos = window(2.0, Some(100.0), 100, 0.0);
        low_mos.figures.mos = Some(3.0);
        assert_eq!(
            assess(&low_mos),
            (Verdict::Poor, Some(QualityCause::NetworkLoss))
        );
    }

    const SPAN: Duration = Duration::from_secs(2);

    #[test]
    fn two_seconds_of_bad_network_do_not_flap() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut t = VerdictTracker::default();
        let good = window(0.0, Some(50.0), 100, 0.0);
        let bad = window(20.0, Some(50.0), 100, 0.0);
        assert_eq!(t.on_window(at(2), SPAN, assess(&good)), None);
        // One bad window, then good again: nothing announced.
        assert_eq!(t.on_window(at(4), SPAN, assess(&bad)), None);
        assert_eq!(t.on_window(at(6), SPAN, assess(&good)), None);
        // Two bad windows (a short burst straddling a boundary): still nothing.
        assert_eq!(t.on_window(at(8), SPAN, assess(&bad)), None);
        assert_eq!(t.on_window(at(10), SPAN, assess(&bad)), None);
        assert_eq!(t.on_window(at(12), SPAN, assess(&good)), None);
        // Three in a row: poor, once.
        assert_eq!(t.on_window(at(14), SPAN, assess(&bad)), None);
        assert_eq!(t.on_window(at(16), SPAN, assess(&bad)), None);
        assert_eq!(
            t.on_window(at(18), SPAN, assess(&bad)),
            Some((Verdict::Poor, Some(QualityCause::NetworkLoss)))
        );
        assert_eq!(t.on_window(at(20), SPAN, assess(&bad)), None);
        // Recovery needs four good windows.
        for s in [22, 24, 26] {
            assert_eq!(t.on_window(at(s), SPAN, assess(&good)), None);
        }
        assert_eq!(
            t.on_window(at(28), SPAN, assess(&good)),
            Some((Verdict::Good, None))
        );
        assert_eq!(t.current(), Verdict::Good);
    }
}
