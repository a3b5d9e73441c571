//! Playout delay through a loss episode, for `bench quality`: one call whose relay runs clean
//! for 5 s, then 10 s of 20 % bursty loss (mean burst 3), then clean again for 8 s
//! ([`Schedule::full`]; `--quick` 3, 4 and 4 s), while the receiver's
//! playout delay is sampled. The question is whether a jitter buffer that grew during the loss
//! gives the delay back once the loss is over (the target: back within [`TOLERANCE_MS`] of the
//! clean-path delay in ≤ 3 s), because a buffer that keeps the delay adds it to every later
//! turn of the conversation.
//!
//! Where the delay comes from: ringwire's receiving engine reports `jitter_buffer_ms` (the
//! delay of the slot it played last, relative to the fastest packet in the window) in its
//! periodic quality report; the benchmark runs that engine with a [`SAMPLE`] report period
//! instead of the default 2 s. Chromium's receiving peer connection is polled with getStats
//! every [`CHROMIUM_SAMPLE`]: the delay over each interval is Δ`jitterBufferDelay` /
//! Δ`jitterBufferEmittedCount`, put at the interval's middle.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context};
use serde_json::{json, Value};

use super::impair::{condition, LinkConfig, Loss};
use super::relay::{Relay, RelayStats};
use super::speech::{self, Plan};
use super::{chromium, signal};
use ringwire_testkit::Lab;

/// How long the path is clean, lossy, and clean again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub before: Duration,
    pub episode: Duration,
    pub after: Duration,
}

impl Schedule {
    pub fn full() -> Schedule {
        Schedule {
            before: Duration::from_secs(5),
            episode: Duration::from_secs(10),
            after: Duration::from_secs(8),
        }
    }

    /// Long enough to show the run works, too short for figures.
    pub fn quick() -> Schedule {
        Schedule {
            before: Duration::from_secs(3),
            episode: Duration::from_secs(4),
            after: Duration::from_secs(4),
        }
    }

    pub fn total(&self) -> Duration {
        self.before + self.episode + self.after
    }
}
/// How close to the clean-path delay counts as recovered (and above it as "above").
pub const TOLERANCE_MS: f64 = 10.0;
/// ringwire's quality report period in this run.
pub const SAMPLE: Duration = Duration::from_millis(500);
/// Chromium's getStats period.
pub const CHROMIUM_SAMPLE: Duration = Duration::from_millis(250);
/// The start of the call is not the clean path's steady state: the buffer is still settling.
const SETTLE_S: f64 = 1.0;

pub fn episode_loss() -> LinkConfig {
    condition(Loss::bursty(0.20, 3.0), Duration::ZERO)
}

/// The figures of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    /// Median delay on the clean path before the episode, ms.
    pub clean_ms: f64,
    /// Highest delay during the episode, ms.
    pub peak_ms: f64,
    /// From the end of the episode until the delay is back within the tolerance for good, s.
    pub recovery_s: f64,
    /// `false`: the delay was still up when the run ended; `recovery_s` is a lower bound.
    pub recovered: bool,
    /// Time from the episode's start to the run's end with the delay above clean + tolerance, s.
    pub above_s: f64,
    /// Samples (before, during, after).
    pub samples: [usize; 3],
}

/// `samples`: (seconds from the episode's start, delay ms), in time order; `before_s` of clean
/// path preceded the episode.
pub fn analyse(samples: &[(f64, f64)], before_s: f64, episode_s: f64) -> anyhow::Result<Recovery> {
    let before: Vec<f64> = samples
        .iter()
        .filter(|(t, _)| *t < 0.0 && *t >= -(before_s - SETTLE_S))
        .map(|(_, d)| *d)
        .collect();
    let clean_ms = signal::percentile(&before, 50.0)
        .ok_or_else(|| anyhow!("no delay sample on the clean path before the episode"))?;
    let during: Vec<f64> = samples
        .iter()
        .filter(|(t, _)| (0.0..=episode_s).contains(t))
        .map(|(_, d)| *d)
        .collect();
    let peak_ms = during
        .iter()
        .copied()
        .reduce(f64::max)
        .ok_or_else(|| anyhow!("no delay sample during the loss episode"))?;
    let after: Vec<(f64, f64)> = samples
        .iter()
        .copied()
        .filter(|(t, _)| *t > episode_s)
        .collect();
    let (last_t, last_d) = *after
        .last()
        .ok_or_else(|| anyhow!("no delay sample after the loss episode"))?;
    let limit = clean_ms + TOLERANCE_MS;
    let high = |d: f64| d > limit;
    // The last high sample from the episode on: recovery is the next sample after it.
    let from_episode: Vec<(f64, f64)> =
        samples.iter().copied().filter(|(t, _)| *t >= 0.0).collect();
    let last_high = from_episode.iter().rposition(|(_, d)| high(*d));
    let (recovery_s, recovered) = match last_high {
        None => (0.0, true),
        Some(_) if high(last_d) => (last_t - episode_s, false),
        Some(i) => {
            let back = from_episode.get(i + 1).map_or(last_t, |(t, _)| *t);
            ((back - episode_s).max(0.0), true)
        }
    };
    let mut above_s = 0.0;
    for pair in from_episode.windows(2) {
        if high(pair[1].1) {
            above_s += pair[1].0 - pair[0].0;
        }
    }
    Ok(Recovery {
        clean_ms,
        peak_ms,
        recovery_s,
        recovered,
        above_s,
        samples: [before.len(), during.len(), after.len()],
    })
}

/// A long stretch of speech: the clips one after another, cut to `seconds`.
pub fn long_speech(clips: &[Vec<i16>], seconds: f64) -> anyhow::Result<Vec<i16>> {
    let want = (seconds * signal::RATE as f64) as usize;
    let joined: Vec<i16> = clips.iter().flatten().copied().collect();
    anyhow::ensure!(
        joined.len() >= want,
        "the clips make {:.1} s of speech, {seconds:.1} s needed",
        joined.len() as f64 / signal::RATE as f64
    );
    Ok(joined[..want].to_vec())
}

/// What a run measured, and what went on during it.
#[derive(Debug)]
pub struct Run {
    pub recovery: Recovery,
    pub samples: Vec<(f64, f64)>,
    pub notes: Vec<String>,
}

/// ringwire ↔ ringwire (the lab's alice calls bob) through `url`, the signaling proxy that
/// points media at `relay`.
pub async fn native(
    lab: &Lab,
    url: &str,
    speech: Arc<Vec<i16>>,
    relay: Arc<Relay>,
    schedule: Schedule,
    seed: u64,
) -> anyhow::Result<Run> {
    let (url, caller, callee) = (
        url.to_string(),
        lab.token("alice", 0)?,
        lab.token("bob", 0)?,
    );
    let clip_time = Duration::from_secs_f64(speech.len() as f64 / signal::RATE as f64);
    let total = schedule.total();
    anyhow::ensure!(clip_time >= total, "the speech is shorter than the run");
    let schedule_relay = relay.clone();
    relay.set(condition(Loss::None, Duration::ZERO), seed);
    let (heard, episode_stats) = tokio::task::spawn_blocking(move || {
        let mut phase = 0;
        let mut episode_stats = None;
        let mut tick = |since_play: Duration| {
            if phase == 0 && since_play >= schedule.before {
                schedule_relay.change(episode_loss(), seed);
                phase = 1;
            } else if phase == 1 && since_play >= schedule.before + schedule.episode {
                episode_stats = Some(schedule_relay.stats());
                schedule_relay.change(condition(Loss::None, Duration::ZERO), seed);
                phase = 2;
            }
        };
        let heard = speech::native_call(
            &url,
            caller,
            callee,
            "bob",
            speech,
            Plan {
                lead: Duration::from_millis(200),
                // The run is over once `after` has passed; the clip's rest is not needed.
                tail: Duration::ZERO,
                receiver_quality_interval: Some(SAMPLE),
            },
            &mut tick,
        )?;
        Ok::<_, anyhow::Error>((heard, episode_stats))
    })
    .await
    .map_err(|e| anyhow!("recovery thread: {e}"))??;
    let play_at = heard
        .play_at
        .ok_or_else(|| anyhow!("the clip never started"))?;
    let episode_start = play_at + schedule.before;
    let run_end = play_at + total;
    kept_sending(&relay, run_end)?;
    let samples: Vec<(f64, f64)> = heard
        .quality
        .iter()
        .filter(|(at, _)| *at <= run_end)
        .map(|(at, q)| (seconds_between(episode_start, *at), q.jitter_buffer_ms))
        .collect();
    let recovery = analyse(
        &samples,
        schedule.before.as_secs_f64(),
        schedule.episode.as_secs_f64(),
    )?;
    let mut notes = vec![episode_loss_note(episode_stats)?];
    notes.extend(heard.incidents.iter().cloned());
    notes.dedup();
    Ok(Run {
        recovery,
        samples,
        notes,
    })
}

/// An error unless RTP still crossed the relay within a second of `run_end`: a delay sampled
/// after the media stopped would be a stale figure, not a recovery.
fn kept_sending(relay: &Relay, run_end: Instant) -> anyhow::Result<()> {
    let last = relay.traffic().iter().map(|t| t.last).max();
    match last {
        Some(last) if last + Duration::from_secs(1) >= run_end => Ok(()),
        _ => Err(anyhow!(
            "the media stopped before the end of the run (last RTP {:?} before it)",
            last.map(|l| run_end.saturating_duration_since(l))
        )),
    }
}

/// "RTP loss in the episode 19.8%"; an error if the episode carried no media.
fn episode_loss_note(stats: Option<RelayStats>) -> anyhow::Result<String> {
    let s = stats.ok_or_else(|| anyhow!("the run ended before the loss episode did"))?;
    let total = s.rtp_forwarded + s.rtp_dropped;
    anyhow::ensure!(
        total > 100,
        "only {total} RTP packets crossed the relay during the loss episode"
    );
    Ok(format!(
        "RTP loss in the episode {:.1}%",
        s.rtp_dropped as f64 / total as f64 * 100.0
    ))
}

fn seconds_between(from: Instant, to: Instant) -> f64 {
    if to >= from {
        to.duration_since(from).as_secs_f64()
    } else {
        -from.duration_since(to).as_secs_f64()
    }
}

fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Chromium ↔ Chromium (the `pair` page) through `relay`: the schedule starts when the first
/// RTP packet crosses the relay, and the page samples its jitter buffer meanwhile.
pub async fn chromium(
    dir: &std::path::Path,
    speech: &[i16],
    relay: Arc<Relay>,
    schedule: Schedule,
    seed: u64,
) -> anyhow::Result<Run> {
    let send = dir.join("recovery-speech.wav");
    signal::write_pcm(&send, speech)?;
    let out = dir.join("recovery-chromium.stereo.wav");
    relay.set(condition(Loss::None, Duration::ZERO), seed);
    let schedule_relay = relay.clone();
    // Epoch ms of the episode's start and end, on the clock the page stamps its samples with.
    let timer = tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        while schedule_relay.traffic().iter().all(|t| t.packets == 0) {
            anyhow::ensure!(Instant::now() < deadline, "no RTP crossed the relay");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(schedule.before).await;
        schedule_relay.change(episode_loss(), seed);
        let start = epoch_ms();
        tokio::time::sleep(schedule.episode).await;
        let stats = schedule_relay.stats();
        schedule_relay.change(condition(Loss::None, Duration::ZERO), seed);
        let end = epoch_ms();
        let run_end = Instant::now() + schedule.after;
        Ok::<_, anyhow::Error>((start, end, stats, run_end))
    });
    let result = chromium::run(
        "pair",
        &json!({
            "send_wav": send,
            "out_wav": out,
            "map_url": relay.map_url(),
            "lead_ms": 200,
            "tail_ms": 0,
            "stats_every_ms": CHROMIUM_SAMPLE.as_millis() as u64,
        }),
    )
    .await;
    let result = match result {
        Ok(v) => v,
        Err(e) => {
            timer.abort();
            return Err(e);
        }
    };
    let (start, end, episode_stats, end_instant) = timer
        .await
        .map_err(|e| anyhow!("recovery schedule: {e}"))?
        .context("the Chromium recovery run")?;
    kept_sending(&relay, end_instant)?;
    let run_end = end + schedule.after.as_secs_f64() * 1000.0;
    let samples = chromium_delays(&result, start, run_end)?;
    let recovery = analyse(
        &samples,
        schedule.before.as_secs_f64(),
        (end - start) / 1000.0,
    )?;
    Ok(Run {
        recovery,
        samples,
        notes: vec![episode_loss_note(Some(episode_stats))?],
    })
}

/// (seconds from `start_ms`, delay ms) per getStats interval, up to `end_ms`.
fn chromium_delays(result: &Value, start_ms: f64, end_ms: f64) -> anyhow::Result<Vec<(f64, f64)>> {
    let series = result
        .get("series")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("the pair page returned no jitter-buffer series"))?;
    let points: Vec<(f64, f64, f64)> = series
        .iter()
        .filter_map(|s| {
            Some((
                s.get("t")?.as_f64()?,
                s.get("jitterBufferDelay")?.as_f64()?,
                s.get("jitterBufferEmittedCount")?.as_f64()?,
            ))
        })
        .collect();
    anyhow::ensure!(
        points.len() >= 10,
        "the pair page sampled its jitter buffer {} times",
        points.len()
    );
    let mut out = Vec::new();
    for pair in points.windows(2) {
        let ((t0, d0, n0), (t1, d1, n1)) = (pair[0], pair[1]);
        let middle = (t0 + t1) / 2.0;
        if n1 > n0 && middle <= end_ms {
            out.push(((middle - start_ms) / 1000.0, (d1 - d0) / (n1 - n0) * 1000.0));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
        points.to_vec()
    }

    #[test]
    fn recovery_is_timed_from_the_episode_end_to_the_last_time_the_delay_came_back() {
        // Clean at 40 ms, up to 120 in the episode (10 s), back below 50 at 12.5 s.
        let mut s = Vec::new();
        for i in -8..0 {
            s.push((f64::from(i) * 0.5, 40.0));
        }
        for i in 0..=20 {
            s.push((f64::from(i) * 0.5, 40.0 + f64::from(i) * 4.0));
        }
        s.extend([
            (10.5, 100.0),
            (11.0, 80.0),
            (11.5, 60.0),
            (12.0, 52.0),
            (12.5, 45.0),
        ]);
        s.extend([(13.0, 41.0), (13.5, 40.0), (14.0, 40.0)]);
        let r = analyse(&series(&s), 5.0, 10.0).expect("analyses");
        assert_eq!(r.clean_ms, 40.0);
        assert_eq!(r.peak_ms, 120.0);
        assert!(r.recovered);
        assert!((r.recovery_s - 2.5).abs() < 1e-9, "{r:?}");
        // High from the 1.5 s sample (46 ≤ 50, 48 ≤ 50, 52 > 50 at 1.5 s) to 12.0 s.
        assert!((r.above_s - 11.0).abs() < 1e-9, "{r:?}");
        assert_eq!(r.samples, [8, 21, 8]);
    }

    #[test]
    fn a_delay_still_up_at_the_end_is_a_lower_bound_and_no_growth_is_zero() {
        let mut s: Vec<(f64, f64)> = (-8..0).map(|i| (f64::from(i) * 0.5, 40.0)).collect();
        s.extend((0..=30).map(|i| (f64::from(i) * 0.5, 90.0)));
        let r = analyse(&s, 5.0, 10.0).expect("analyses");
        assert!(!r.recovered);
        assert!((r.recovery_s - 5.0).abs() < 1e-9, "{r:?}");
        let flat: Vec<(f64, f64)> = (-8..30).map(|i| (f64::from(i) * 0.5, 40.0)).collect();
        let r = analyse(&flat, 5.0, 10.0).expect("analyses");
        assert!(r.recovered);
        assert_eq!((r.recovery_s, r.above_s), (0.0, 0.0));
    }

    #[test]
    fn no_samples_is_an_error_not_a_figure() {
        assert!(analyse(&[], 5.0, 10.0).is_err());
        let only_before: Vec<(f64, f64)> = (-8..0).map(|i| (f64::from(i) * 0.5, 40.0)).collect();
        assert!(analyse(&only_before, 5.0, 10.0).is_err());
    }

    #[test]
    fn chromium_delays_are_deltas_of_the_cumulative_counters() {
        let series: Vec<Value> = (0..12)
            .map(|i| {
                let i = f64::from(i);
                // 250 ms apart, 12000 samples emitted per interval, each held 0.05 s.
                json!({"t": 1000.0 + i * 250.0, "jitterBufferDelay": i * 600.0, "jitterBufferEmittedCount": i * 12000.0})
            })
            .collect();
        let d = chromium_delays(&json!({ "series": series }), 1000.0, 10_000.0).expect("delays");
        assert_eq!(d.len(), 11);
        assert!((d[0].0 - 0.125).abs() < 1e-9);
        assert!(d.iter().all(|(_, ms)| (ms - 50.0).abs() < 1e-9), "{d:?}");
    }
}
