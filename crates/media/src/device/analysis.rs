//! Measuring audio: the dominant frequency of a recording and its level. Used by tests ("did
//! the 440 Hz tone survive the call?") and by the CLI softphone to check what it heard.
//!
//! The frequency estimate is a Welch periodogram: Hann-windowed segments of up to 8192 samples,
//! half overlapping, power spectra averaged (so brief dropouts or concealment glitches do not
//! move the peak), then the peak bin refined by fitting a parabola to the log power of it and its
//! neighbours. For a Hann window that fit is accurate to a small fraction of a bin: well under
//! 1 Hz at 48 kHz. It allocates and is meant for analysis, not for the audio path.

use std::f64::consts::PI;

/// Longest analysis segment: 8192 samples gives 5.9 Hz bins at 48 kHz.
const MAX_SEGMENT: usize = 8192;

/// The frequency (Hz) carrying the most energy in `samples`, or 0.0 for silence or an empty
/// slice. DC is ignored (each segment's mean is removed first).
pub fn dominant_frequency(samples: &[i16], sample_rate: u32) -> f64 {
    if samples.is_empty() || sample_rate == 0 {
        return 0.0;
    }
    let n = samples.len().next_power_of_two().clamp(16, MAX_SEGMENT);
    let twiddles: Vec<(f64, f64)> = (0..n / 2)
        .map(|k| {
            let (s, c) = (-2.0 * PI * k as f64 / n as f64).sin_cos();
            (c, s)
        })
        .collect();
    let mut power = vec![0.0f64; n / 2 + 1];
    let mut re = vec![0.0f64; n];
    let mut im = vec![0.0f64; n];

    // Full segments at half overlap, plus one ending at the last sample so the tail counts; an
    // input shorter than a segment is one zero-padded segment.
    let len = samples.len();
    let last_start = len.saturating_sub(n);
    let mut starts: Vec<usize> = (0..=last_start).step_by(n / 2).collect();
    if starts.last() != Some(&last_start) {
        starts.push(last_start);
    }
    for start in starts {
        let segment = &samples[start..(start + n).min(len)];
        let seg_len = segment.len() as f64;
        let mean = segment.iter().map(|&s| f64::from(s)).sum::<f64>() / seg_len;
        re.fill(0.0);
        im.fill(0.0);
        for (i, &s) in segment.iter().enumerate() {
            let hann = 0.5 - 0.5 * (2.0 * PI * i as f64 / seg_len).cos();
            re[i] = (f64::from(s) - mean) * hann;
        }
        fft(&mut re, &mut im, &twiddles);
        for (k, p) in power.iter_mut().enumerate() {
            *p += re[k] * re[k] + im[k] * im[k];
        }
    }

    // Skip bin 0 (DC and the window's leakage of it).
    let Some((peak, &peak_power)) = power
        .iter()
        .enumerate()
        .skip(1)
        .max_by(|a, b| a.1.total_cmp(b.1))
    else {
        return 0.0;
    };
    if peak_power <= 0.0 {
        return 0.0;
    }
    let mut bin = peak as f64;
    if peak + 1 < power.len() {
        let (a, b, c) = (
            power[peak - 1].max(f64::MIN_POSITIVE).ln(),
            peak_power.ln(),
            power[peak + 1].max(f64::MIN_POSITIVE).ln(),
        );
        let denom = a - 2.0 * b + c;
        if denom < 0.0 {
            bin += (0.5 * (a - c) / denom).clamp(-0.5, 0.5);
        }
    }
    bin * f64::from(sample_rate) / n as f64
}

/// Root-mean-square level in sample units (0 to 32768); 0.0 for an empty slice.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}

/// RMS level relative to full scale, in dB (a full-scale square wave is 0 dBFS, a full-scale
/// sine −3 dBFS); negative infinity for digital silence.
pub fn rms_dbfs(samples: &[i16]) -> f64 {
    20.0 * (rms(samples) / 32768.0).log10()
}

/// In-place iterative radix-2 FFT; `re.len()` is a power of two and `twiddles[k]` is
/// e^(−2πik/n) for k < n/2.
fn fft(re: &mut [f64], im: &mut [f64], twiddles: &[(f64, f64)]) {
    let n = re.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let half = len / 2;
        let stride = n / len;
        for start in (0..n).step_by(len) {
            for k in 0..half {
                let (wr, wi) = twiddles[k * stride];
                let (a, b) = (start + k, start + k + half);
                let tr = re[b] * wr - im[b] * wi;
                let ti = re[b] * wi + im[b] * wr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        len <<= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f64, amplitude: f64, len: usize, rate: u32) -> Vec<i16> {
        (0..len)
            .map(|i| (amplitude * (2.0 * PI * hz * i as f64 / f64::from(rate)).sin()) as i16)
            .collect()
    }

    #[test]
    fn finds_tones_to_within_a_hertz() {
        for hz in [100.0, 440.0, 1000.0, 1234.5, 3000.0, 7000.0] {
            let got = dominant_frequency(&sine(hz, 8000.0, 48_000, 48_000), 48_000);
            assert!((got - hz).abs() < 1.0, "{hz} Hz measured as {got}");
        }
    }

    #[test]
    fn works_at_other_rates_and_short_inputs() {
        let got = dominant_frequency(&sine(440.0, 8000.0, 16_000, 16_000), 16_000);
        assert!((got - 440.0).abs() < 1.0, "{got}");
        // 20 ms at 48 kHz: 1024-point segment, 47 Hz bins, still close.
        let got = dominant_frequency(&sine(440.0, 8000.0, 960, 48_000), 48_000);
        assert!((got - 440.0).abs() < 5.0, "{got}");
    }

    #[test]
    fn picks_the_stronger_tone_and_ignores_dc() {
        let a = sine(440.0, 6000.0, 48_000, 48_000);
        let b = sine(1500.0, 2000.0, 48_000, 48_000);
        let mix: Vec<i16> = a.iter().zip(&b).map(|(x, y)| x + y + 3000).collect();
        let got = dominant_frequency(&mix, 48_000);
        assert!((got - 440.0).abs() < 1.0, "{got}");
    }

    #[test]
    fn silence_and_empty_input() {
        assert_eq!(dominant_frequency(&[], 48_000), 0.0);
        assert_eq!(dominant_frequency(&[0; 4800], 48_000), 0.0);
        assert_eq!(rms(&[]), 0.0);
        assert_eq!(rms_dbfs(&[0; 10]), f64::NEG_INFINITY);
    }

    #[test]
    fn levels() {
        assert_eq!(rms(&[1000, -1000, 1000, -1000]), 1000.0);
        let full_sine = sine(1000.0, 32767.0, 48_000, 48_000);
        assert!((rms_dbfs(&full_sine) + 3.01).abs() < 0.05);
    }
}
