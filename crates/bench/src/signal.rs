//! Signals and their analysis for the benchmarks: the chirp train injected to time
//! mouth-to-ear latency, the cross-correlation that finds each chirp in what was played (and
//! rejects weak matches), percentiles, and 48 kHz WAV in and out.

use std::path::Path;

use anyhow::Context;

pub const RATE: usize = 48_000;
/// One chirp: 60 ms sweeping 300 → 3400 Hz under a Hann window.
const CHIRP_SAMPLES: usize = RATE * 60 / 1000;
/// Chirps start this far apart; the search for each one's echo stays below it.
const PERIOD_SAMPLES: usize = RATE * 600 / 1000;
const MAX_LAG_SAMPLES: usize = RATE * 500 / 1000;
/// A match weaker than this normalised correlation is not a measurement.
pub const MIN_CORRELATION: f64 = 0.5;

/// `count` chirps, one per 600 ms, starting after 100 ms of silence, as 16-bit PCM.
pub fn chirp_train(count: usize) -> Vec<i16> {
    let mut out = vec![0i16; RATE / 10 + count * PERIOD_SAMPLES];
    let (f0, f1) = (300.0f64, 3400.0f64);
    let seconds = CHIRP_SAMPLES as f64 / RATE as f64;
    for k in 0..count {
        let start = RATE / 10 + k * PERIOD_SAMPLES;
        for i in 0..CHIRP_SAMPLES {
            let t = i as f64 / RATE as f64;
            let phase = 2.0 * std::f64::consts::PI * (f0 * t + (f1 - f0) * t * t / (2.0 * seconds));
            let window = 0.5
                - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / (CHIRP_SAMPLES - 1) as f64).cos();
            out[start + i] = (0.5 * 32767.0 * window * phase.sin()).round() as i16;
        }
    }
    out
}

/// Where each chirp began in `sent`: a 1 ms block loud enough after at least 100 ms of quiet.
fn onsets(sent: &[f32]) -> Vec<usize> {
    let block = RATE / 1000;
    let mut found = Vec::new();
    let mut quiet_blocks = 100;
    for (b, chunk) in sent.chunks(block).enumerate() {
        let loud = chunk.iter().any(|s| s.abs() > 0.02);
        if loud && quiet_blocks >= 100 {
            // Back up to the first sample above a lower threshold within the block.
            let first = chunk.iter().position(|s| s.abs() > 0.002).unwrap_or(0);
            found.push(b * block + first);
        }
        quiet_blocks = if loud { 0 } else { quiet_blocks + 1 };
    }
    found
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum()
}

fn decimate(x: &[f32], by: usize) -> Vec<f32> {
    x.chunks(by)
        .map(|c| c.iter().sum::<f32>() / by as f32)
        .collect()
}

/// One chirp found in the played signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Echo {
    pub lag_ms: f64,
    pub correlation: f64,
}

/// A continuous stream of samples and when each stretch of it crossed its device edge: the
/// samples stay contiguous (as the codec and the listener had them) while the clock comes from
/// the stamps, so correlation is sample-exact and timing is as good as the stamps.
#[derive(Debug, Clone, Default)]
pub struct Stream {
    pub samples: Vec<f32>,
    /// (index of the first sample of a stretch, its time in seconds), ascending.
    pub stamps: Vec<(usize, f64)>,
}

impl Stream {
    /// Samples on one clock from the first (a recording made on one sample clock).
    pub fn continuous(samples: Vec<f32>) -> Stream {
        Stream {
            samples,
            stamps: vec![(0, 0.0)],
        }
    }

    /// Frames stamped with `Instant`s, timed from `t0`.
    pub fn from_frames(
        frames: &[(std::time::Instant, Vec<i16>)],
        t0: std::time::Instant,
    ) -> Stream {
        let mut stream = Stream::default();
        for (at, frame) in frames {
            let t = if *at >= t0 {
                at.duration_since(t0).as_secs_f64()
            } else {
                -t0.duration_since(*at).as_secs_f64()
            };
            stream.stamps.push((stream.samples.len(), t));
            stream
                .samples
                .extend(frame.iter().map(|s| f32::from(*s) / 32768.0));
        }
        stream
    }

    /// When sample `i` crossed the edge.
    pub fn time_of(&self, i: usize) -> f64 {
        let k = self.stamps.partition_point(|(start, _)| *start <= i);
        match k.checked_sub(1).and_then(|k| self.stamps.get(k)) {
            Some((start, t)) => t + (i - start) as f64 / RATE as f64,
            None => i as f64 / RATE as f64,
        }
    }

    /// The first sample at or after time `t`.
    pub fn index_at(&self, t: f64) -> usize {
        let k = self.stamps.partition_point(|(_, at)| *at <= t);
        match k.checked_sub(1).and_then(|k| self.stamps.get(k)) {
            Some((start, at)) => start + ((t - at) * RATE as f64).max(0.0).round() as usize,
            None => self.stamps.first().map_or(0, |s| s.0),
        }
    }
}

/// For each chirp in `sent` (the capture edge), how much later it left `played` (the playout
/// edge): a coarse cross-correlation at 12 kHz, refined at 48 kHz, normalised. Weak matches are
/// returned too; [`accepted`] keeps the measurements.
pub fn echoes(sent: &Stream, played: &Stream) -> Vec<Echo> {
    const BY: usize = 4;
    let played_d = decimate(&played.samples, BY);
    let mut out = Vec::new();
    for onset in onsets(&sent.samples) {
        let Some(template) = sent.samples.get(onset..onset + CHIRP_SAMPLES) else {
            continue;
        };
        let sent_at = sent.time_of(onset);
        let from = played.index_at(sent_at);
        let t_d = decimate(template, BY);
        let mut best = (0usize, f64::MIN);
        for lag in 0..MAX_LAG_SAMPLES / BY {
            let start = from / BY + lag;
            let Some(window) = played_d.get(start..start + t_d.len()) else {
                break;
            };
            let c = dot(&t_d, window);
            if c > best.1 {
                best = (start * BY, c);
            }
        }
        let mut fine = (best.0, f64::MIN);
        for at in best.0.saturating_sub(2 * BY)..=best.0 + 2 * BY {
            let Some(window) = played.samples.get(at..at + CHIRP_SAMPLES) else {
                break;
            };
            let c = dot(template, window);
            if c > fine.1 {
                fine = (at, c);
            }
        }
        let Some(window) = played.samples.get(fine.0..fine.0 + CHIRP_SAMPLES) else {
            continue;
        };
        let energy = (dot(template, template) * dot(window, window)).sqrt();
        let correlation = if energy > 0.0 { fine.1 / energy } else { 0.0 };
        out.push(Echo {
            lag_ms: (played.time_of(fine.0) - sent_at) * 1000.0,
            correlation,
        });
    }
    out
}

/// The lags of the echoes strong enough to count.
pub fn accepted(echoes: &[Echo]) -> Vec<f64> {
    echoes
        .iter()
        .filter(|e| e.correlation >= MIN_CORRELATION)
        .map(|e| e.lag_ms)
        .collect()
}

/// The `p`th percentile (0–100) by nearest rank; `None` for no data.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    Some(v[rank.min(v.len()) - 1])
}

pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Sample standard deviation.
pub fn spread(values: &[f64]) -> Option<f64> {
    let m = mean(values)?;
    (values.len() > 1).then(|| {
        (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
    })
}

pub fn write_wav(path: &Path, channels: &[&[f32]]) -> anyhow::Result<()> {
    let spec = hound::WavSpec {
        channels: channels.len() as u16,
        sample_rate: RATE as u32,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("creating {}", path.display()))?;
    let len = channels.iter().map(|c| c.len()).max().unwrap_or(0);
    for i in 0..len {
        for c in channels {
            let s = c.get(i).copied().unwrap_or(0.0);
            w.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16)?;
        }
    }
    w.finalize()?;
    Ok(())
}

pub fn write_pcm(path: &Path, samples: &[i16]) -> anyhow::Result<()> {
    let floats: Vec<f32> = samples.iter().map(|s| f32::from(*s) / 32768.0).collect();
    write_wav(path, &[&floats])
}

/// Every channel of a 16-bit WAV at 48 kHz, as floats.
pub fn read_wav(path: &Path) -> anyhow::Result<Vec<Vec<f32>>> {
    let mut r =
        hound::WavReader::open(path).with_context(|| format!("opening {}", path.display()))?;
    let spec = r.spec();
    anyhow::ensure!(
        spec.sample_rate as usize == RATE && spec.bits_per_sample == 16,
        "{}: expected 48 kHz 16-bit PCM",
        path.display()
    );
    let n = usize::from(spec.channels.max(1));
    let mut out = vec![Vec::new(); n];
    for (i, s) in r.samples::<i16>().enumerate() {
        out[i % n].push(f32::from(s?) / 32768.0);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(x: &[i16]) -> Vec<f32> {
        x.iter().map(|s| f32::from(*s) / 32768.0).collect()
    }

    #[test]
    fn a_delayed_copy_is_found_at_its_delay() {
        let sent = floats(&chirp_train(4));
        let delay = RATE * 37 / 1000 + 5; // 37.104 ms
        let mut played = vec![0.0f32; delay];
        played.extend(sent.iter().map(|s| s * 0.3));
        let found = echoes(&Stream::continuous(sent), &Stream::continuous(played));
        assert_eq!(found.len(), 4);
        for e in &found {
            assert!((e.lag_ms - 37.104).abs() < 0.05, "{e:?}");
            assert!(e.correlation > 0.99, "{e:?}");
        }
    }

    #[test]
    fn noise_instead_of_the_chirp_is_rejected() {
        let sent = floats(&chirp_train(3));
        let mut state = 12345u32;
        let played: Vec<f32> = (0..sent.len() + RATE)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 16) as f32 / 65536.0 - 0.5
            })
            .collect();
        let found = echoes(&Stream::continuous(sent), &Stream::continuous(played));
        assert_eq!(found.len(), 3);
        assert!(accepted(&found).is_empty(), "{found:?}");
    }

    #[test]
    fn stamped_frames_time_the_echo_by_their_stamps() {
        // The receiver's stream starts 1 s later on the clock and its frames carry stamps; the
        // chirp sits 10 ms into its second 20 ms frame: 1 s + 30 ms after the first stamp.
        let t0 = std::time::Instant::now();
        let chirp = chirp_train(1);
        let sent: Vec<(std::time::Instant, Vec<i16>)> = chirp
            .chunks(960)
            .enumerate()
            .map(|(i, c)| {
                (
                    t0 + std::time::Duration::from_millis(20 * i as u64),
                    c.to_vec(),
                )
            })
            .collect();
        let onset = RATE / 10; // 100 ms into the clip
        let mut played_samples = vec![0i16; 960 + 480];
        played_samples.extend_from_slice(&chirp[onset..]);
        let start =
            t0 + std::time::Duration::from_millis(100) + std::time::Duration::from_millis(7);
        let played: Vec<(std::time::Instant, Vec<i16>)> = played_samples
            .chunks(960)
            .enumerate()
            .map(|(i, c)| {
                (
                    start + std::time::Duration::from_millis(20 * i as u64),
                    c.to_vec(),
                )
            })
            .collect();
        let found = echoes(
            &Stream::from_frames(&sent, t0),
            &Stream::from_frames(&played, t0),
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert!((found[0].lag_ms - 37.0).abs() < 0.1, "{found:?}");
        assert!(found[0].correlation > 0.99, "{found:?}");
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
    }
}
