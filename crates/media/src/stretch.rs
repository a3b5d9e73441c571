//! Time-scale modification of decoded speech by whole pitch periods, in both directions, for the
//! receiver's jitter buffer to move its delay without dropping or inventing frames.
//!
//! - **Shorter** ([`Accelerator::compress`]): delay recovery after a loss episode. While packets
//!   were lost or late, the jitter buffer grew its target delay; once the network is calm again
//!   that extra delay is pure mouth-to-ear latency and must go within seconds. Dropping whole
//!   20 ms frames would do it but is heard as clicks and missing phonemes.
//! - **Longer** ([`Accelerator::expand`]): delay build-up ahead of trouble. When the buffer sees
//!   a loss burst it wants more delay, so that the redundancy (FEC, RED) carried by later
//!   packets arrives before the lost frames are due; inserting concealment frames would do it
//!   but is heard as a robotic stutter in the middle of intact speech.
//!
//! Either way the span is changed by exactly one pitch period where the speech is periodic (the
//! ear cannot tell one glottal cycle from the next, so one more or one fewer goes unnoticed),
//! or by one longer chunk where the audio is near-silent, and everything else (noise,
//! fricatives, onsets), where any change would be audible, is refused and passed through. Both
//! directions share one analysis, so a span that may be shortened may also be lengthened and
//! vice versa. The ideas are libwebrtc NetEq's Accelerate and PreemptiveExpand: a coarse pitch
//! search on a decimated copy, a refinement at the full rate, and an overlap-add that keeps the
//! waveform continuous: [`Accelerator::compress`] cross-fades two adjacent periods into one,
//! [`Accelerator::expand`] inserts a cross-fade of the same two periods between them.
//!
//! The module is pure: no clock, no I/O, and no allocation after [`Accelerator::new`] (the
//! scratch is fixed-size; the caller's output vector only grows if its capacity is short:
//! `input.len()` for compress, `input.len() + MAX_ADDED` for expand). Audio is 48 kHz mono
//! i16, as everywhere in this crate. Deciding *when* to stretch (how far the delay is from its
//! target) belongs to the jitter buffer, not here.

/// The shortest pitch period searched, 2.5 ms (400 Hz): higher voices are rare in speech, and a
/// shorter cut would recover delay too slowly to be worth the search.
pub const MIN_PERIOD: usize = 120;
/// The longest pitch period searched, 15 ms (about 67 Hz), which also bounds one cut.
pub const MAX_PERIOD: usize = 720;
/// The most one call removes (the quiet cut); a voiced cut removes one period, at most this.
pub const MAX_REMOVED: usize = MAX_PERIOD;
/// The most one call adds (the quiet insert); a voiced insert adds one period, at most this.
/// [`Accelerator::expand`]'s output needs `input.len() + MAX_ADDED` of capacity.
pub const MAX_ADDED: usize = MAX_PERIOD;
/// The shortest input [`Accelerator::compress`] and [`Accelerator::expand`] work on, 30 ms:
/// both cross-fade the period before the middle of the input with the period after it, so the
/// longest period needs twice its length.
pub const MIN_INPUT: usize = 2 * MAX_PERIOD;
/// Below this level (RMS relative to full scale, 32768) a span counts as quiet unless the caller
/// chose another threshold: well under speech (typically -35 to -15 dBFS), about where a
/// quiet room sits after a noise suppressor.
pub const DEFAULT_QUIET_DBFS: f64 = -45.0;

/// The normalized correlation between the two periods to be merged above which the cut is
/// taken as inaudible. NetEq uses the same figure; lower lets breathy or jittery voicing through
/// and the merge starts to sound rough.
const VOICED_CORRELATION: f64 = 0.9;
/// The pitch search runs at 4 kHz: speech pitch shows up fine there and the search is 144
/// times cheaper than at 48 kHz (12 times fewer lags, 12 times shorter windows).
const DECIMATION: usize = 12;
/// The analysed span: `MAX_PERIOD` either side of the input's middle, decimated.
const DOWN_LEN: usize = MIN_INPUT / DECIMATION;
const COARSE_MIN: usize = MIN_PERIOD / DECIMATION;
const COARSE_MAX: usize = MAX_PERIOD / DECIMATION;
/// Correlations are kept one lag beyond each end so that a peak at an end of the range can be
/// told from a slope that merely starts or ends there.
const COARSE_FIRST: usize = COARSE_MIN - 1;
const COARSE_LAGS: usize = COARSE_MAX + 2 - COARSE_FIRST;
/// One fixed 4 kHz window for every lag, so that correlations at different lags compare fairly.
const COARSE_WINDOW: usize = DOWN_LEN - (COARSE_MAX + 1);
/// A coarse peak this close to the best counts as a rival: the first such peak is the
/// fundamental; later ones are its multiples, and removing a multiple would cut twice as much
/// in one go where the first period alone was clean.
const PEAK_FRACTION: f64 = 0.9;
/// Below this best coarse correlation the full-rate check cannot pass (decimation removes the
/// least periodic part of the signal, so full-rate correlations come out lower), and noise is
/// refused without the refinement's cost.
const COARSE_FLOOR: f64 = 0.6;

/// What one call to [`Accelerator::compress`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// The span was periodic: one pitch period, `removed` samples, was merged away.
    Voiced { removed: usize },
    /// The span was quiet: [`MAX_REMOVED`] samples were merged away whatever their shape.
    Quiet { removed: usize },
    /// Any cut would have been heard; the output is the input.
    Refused,
}

impl Compression {
    /// How many samples the output is shorter than the input.
    pub fn removed(self) -> usize {
        match self {
            Compression::Voiced { removed } | Compression::Quiet { removed } => removed,
            Compression::Refused => 0,
        }
    }
}

/// What one call to [`Accelerator::expand`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expansion {
    /// The span was periodic: one pitch period, `added` samples, was inserted.
    Voiced { added: usize },
    /// The span was quiet: [`MAX_ADDED`] samples were inserted whatever their shape.
    Quiet { added: usize },
    /// Any insert would have been heard; the output is the input.
    Refused,
}

impl Expansion {
    /// How many samples the output is longer than the input.
    pub fn added(self) -> usize {
        match self {
            Expansion::Voiced { added } | Expansion::Quiet { added } => added,
            Expansion::Refused => 0,
        }
    }
}

/// What the analysis of a span allows, in either direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Periodic with this period in samples: one period may go or come.
    Voiced(usize),
    /// Quiet: a [`MAX_PERIOD`] chunk may go or come.
    Quiet,
    /// Loud and not periodic, or too short to analyse: leave it alone.
    Refused,
}

/// Shortens or lengthens decoded speech by whole pitch periods; see the module docs. One per
/// receive stream; its state is only scratch, so calls are independent of each other. (The
/// name is from the first direction it did; [`Accelerator::expand`] is the other.)
#[derive(Debug, Clone)]
pub struct Accelerator {
    /// Mean square (in i16 units squared) below which a span is quiet.
    quiet_mean_square: f64,
    /// The analysed span decimated to 4 kHz.
    down: [i64; DOWN_LEN],
    /// Normalized correlation at each coarse lag from `COARSE_FIRST`.
    coarse: [f64; COARSE_LAGS],
}

impl Default for Accelerator {
    fn default() -> Self {
        Accelerator::new()
    }
}

impl Accelerator {
    /// An accelerator that counts spans under [`DEFAULT_QUIET_DBFS`] as quiet.
    pub fn new() -> Self {
        Accelerator::with_quiet_dbfs(DEFAULT_QUIET_DBFS)
    }

    /// An accelerator with its own quiet threshold (RMS in dBFS), for a receiver that tracks
    /// the call's background noise level. A non-number falls back to the default; minus
    /// infinity still counts digital silence as quiet.
    pub fn with_quiet_dbfs(dbfs: f64) -> Self {
        let dbfs = if dbfs.is_nan() {
            DEFAULT_QUIET_DBFS
        } else {
            dbfs
        };
        let amplitude = 32768.0 * 10f64.powf(dbfs / 20.0);
        Accelerator {
            quiet_mean_square: amplitude * amplitude,
            down: [0; DOWN_LEN],
            coarse: [0.0; COARSE_LAGS],
        }
    }

    /// Shortens `input` (at least [`MIN_INPUT`] samples) by one pitch period where that is
    /// inaudible, writing the result to `out` (cleared first; no allocation if its capacity
    /// is at least `input.len()`). `out.len()` is always `input.len() - removed`. Refused
    /// (`out` == `input`): shorter than [`MIN_INPUT`], or neither periodic nor quiet.
    ///
    /// Only the middle is touched: with `m = input.len() / 2` and `r` removed, `input[..m - r]`
    /// and `input[m + r..]` are copied unchanged and the `r` samples between are a cross-fade
    /// of `input[m - r..m]` into `input[m..m + r]`. The output's first and last samples are
    /// the input's, so consecutive outputs join as continuously as their inputs did.
    pub fn compress(&mut self, input: &[i16], out: &mut Vec<i16>) -> Compression {
        out.clear();
        let middle = input.len() / 2;
        match self.analyse(input) {
            Verdict::Quiet => {
                splice(input, middle, MAX_REMOVED, out);
                Compression::Quiet {
                    removed: MAX_REMOVED,
                }
            }
            Verdict::Voiced(period) => {
                splice(input, middle, period, out);
                Compression::Voiced { removed: period }
            }
            Verdict::Refused => {
                out.extend_from_slice(input);
                Compression::Refused
            }
        }
    }

    /// Lengthens `input` (at least [`MIN_INPUT`] samples) by one pitch period where that is
    /// inaudible, writing the result to `out` (cleared first; no allocation if its capacity is
    /// at least `input.len() + MAX_ADDED`, so a caller that reserves that once never allocates
    /// in steady state). `out.len()` is always `input.len() + added`. Refused (`out` ==
    /// `input`): shorter than [`MIN_INPUT`], or neither periodic nor quiet, exactly when
    /// [`Accelerator::compress`] refuses the same input.
    ///
    /// Only the middle is touched: with `m = input.len() / 2` and `a` added, the output is
    /// `input[..m]`, then `a` new samples, then `input[m..]`. The new samples are a cross-fade
    /// of `input[m..m + a]` (what naturally follows `input[m - 1]`) into `input[m - a..m]`
    /// (what naturally precedes `input[m]`), so each join steps by the input's own step at `m`
    /// plus at most `1/(a + 1)` of the mismatch between the two periods. For a voiced span
    /// those periods correlate at 0.9 or better, so the insert is one more glottal cycle; for
    /// a quiet span it is one more 15 ms of the same near-silence. The output's first and last
    /// samples are the input's, so consecutive outputs join as continuously as their inputs
    /// did.
    pub fn expand(&mut self, input: &[i16], out: &mut Vec<i16>) -> Expansion {
        out.clear();
        let middle = input.len() / 2;
        match self.analyse(input) {
            Verdict::Quiet => {
                insert(input, middle, MAX_ADDED, out);
                Expansion::Quiet { added: MAX_ADDED }
            }
            Verdict::Voiced(period) => {
                insert(input, middle, period, out);
                Expansion::Voiced { added: period }
            }
            Verdict::Refused => {
                out.extend_from_slice(input);
                Expansion::Refused
            }
        }
    }

    /// The one analysis both directions act on: the [`MAX_PERIOD`] samples either side of the
    /// middle of `input` are quiet, or periodic with a period whose two copies either side of
    /// the middle correlate well enough to merge or to interpolate, or neither.
    fn analyse(&mut self, input: &[i16]) -> Verdict {
        let middle = input.len() / 2;
        let Some(span) = middle
            .checked_sub(MAX_PERIOD)
            .and_then(|start| input.get(start..middle + MAX_PERIOD))
        else {
            return Verdict::Refused;
        };
        // Quiet comes first: it needs no pitch search, and it changes the most.
        if self.is_quiet(span) {
            return Verdict::Quiet;
        }
        self.find_period(span)
            .map_or(Verdict::Refused, Verdict::Voiced)
    }

    fn is_quiet(&self, span: &[i16]) -> bool {
        let energy: i64 = span.iter().map(|&s| i64::from(s) * i64::from(s)).sum();
        energy as f64 <= self.quiet_mean_square * span.len() as f64
    }

    /// The pitch period, in samples, at which the two periods either side of `span`'s middle
    /// are alike enough to merge (or to cross-fade into a new period between them); `None` if
    /// there is none.
    fn find_period(&mut self, span: &[i16]) -> Option<usize> {
        self.decimate(span);
        self.coarse_correlations();

        // Local maxima only: a correlation that is high because the lag is near zero or near
        // a long period outside the range is a slope, not a pitch.
        let c = &self.coarse;
        let is_peak = |i: usize| c[i] >= c[i - 1] && c[i] >= c[i + 1];
        let mut peaks = (COARSE_MIN..=COARSE_MAX).filter(|&lag| is_peak(lag - COARSE_FIRST));
        let (best_lag, best) = peaks.clone().fold((0, f64::MIN), |acc, lag| {
            let v = c[lag - COARSE_FIRST];
            if v > acc.1 {
                (lag, v)
            } else {
                acc
            }
        });
        if best < COARSE_FLOOR {
            return None;
        }
        let first_lag = peaks
            .find(|&lag| c[lag - COARSE_FIRST] >= PEAK_FRACTION * best)
            .unwrap_or(best_lag);

        // The first rival is usually the period; the best is tried too because a jittery voice
        // can match a double period where the single one falls short of the threshold.
        let middle = span.len() / 2;
        for lag in [first_lag, best_lag] {
            let (period, correlation) = refine(span, middle, lag);
            if correlation >= VOICED_CORRELATION {
                return Some(period);
            }
            if first_lag == best_lag {
                break;
            }
        }
        None
    }

    /// Low-pass and decimate `span` into `self.down`. The filter is a 23-tap triangle (two
    /// 12-sample box filters in a row): nulls at every multiple of 4 kHz and -26 dB side lobes
    /// are plenty for a pitch search that is refined at full rate afterwards, and it needs no
    /// coefficient table.
    fn decimate(&mut self, span: &[i16]) {
        const HALF: isize = DECIMATION as isize - 1;
        for (k, d) in self.down.iter_mut().enumerate() {
            let centre = (k * DECIMATION + DECIMATION / 2) as isize;
            let mut acc = 0i64;
            for j in -HALF..=HALF {
                // Taps beyond the span's ends are left out rather than padded: the lost weight
                // only dims the first and last decimated samples a little.
                if let Some(&s) = usize::try_from(centre + j).ok().and_then(|i| span.get(i)) {
                    acc += i64::from(s) * (DECIMATION as isize - j.abs()) as i64;
                }
            }
            *d = acc;
        }
    }

    fn coarse_correlations(&mut self) {
        let reference = &self.down[..COARSE_WINDOW];
        let ref_energy = energy(reference);
        for (i, c) in self.coarse.iter_mut().enumerate() {
            let lag = COARSE_FIRST + i;
            let lagged = &self.down[lag..lag + COARSE_WINDOW];
            *c = normalized(dot(reference, lagged), ref_energy, energy(lagged));
        }
    }
}

/// The best full-rate period within one coarse step of `coarse_lag` (in 4 kHz samples), and
/// its normalized correlation, measured on exactly the two periods the splice would merge (and
/// the insert would cross-fade): that is the correlation that decides whether either is heard.
fn refine(span: &[i16], middle: usize, coarse_lag: usize) -> (usize, f64) {
    let centre = coarse_lag * DECIMATION;
    let lo = centre.saturating_sub(DECIMATION).max(MIN_PERIOD);
    let hi = (centre + DECIMATION).min(MAX_PERIOD).min(middle);
    let mut best = (centre.clamp(MIN_PERIOD, MAX_PERIOD), f64::MIN);
    for period in lo..=hi {
        let (Some(before), Some(after)) = (
            span.get(middle - period..middle),
            span.get(middle..middle + period),
        ) else {
            continue;
        };
        let (mut cross, mut e_before, mut e_after) = (0i64, 0i64, 0i64);
        for (&a, &b) in before.iter().zip(after) {
            let (a, b) = (i64::from(a), i64::from(b));
            cross += a * b;
            e_before += a * a;
            e_after += b * b;
        }
        let correlation = normalized(cross, e_before, e_after);
        if correlation > best.1 {
            best = (period, correlation);
        }
    }
    best
}

/// Writes `input` with the `period` samples before `middle` cross-faded into the `period`
/// samples after it: `period` fewer samples.
fn splice(input: &[i16], middle: usize, period: usize, out: &mut Vec<i16>) {
    let start = middle - period;
    out.extend_from_slice(&input[..start]);
    cross_fade(&input[start..middle], &input[middle..middle + period], out);
    out.extend_from_slice(&input[middle + period..]);
}

/// Writes `input` with a new period inserted at `middle`: a cross-fade of the `period` samples
/// after `middle` into the `period` samples before it, `period` more samples. Its start
/// continues `input[middle - 1]` as `input[middle]` would, and its end leads into
/// `input[middle]` as `input[middle - 1]` would.
fn insert(input: &[i16], middle: usize, period: usize, out: &mut Vec<i16>) {
    out.extend_from_slice(&input[..middle]);
    cross_fade(
        &input[middle..middle + period],
        &input[middle - period..middle],
        out,
    );
    out.extend_from_slice(&input[middle..]);
}

/// Appends `from.len()` samples fading from `from` into `to` (of the same length). The fade is
/// linear: for the well-correlated periods it blends, linear and raised-cosine windows sound
/// the same and linear keeps the amplitude exactly; for quiet spans its 3 dB dip on
/// uncorrelated noise is below hearing at that level.
fn cross_fade(from: &[i16], to: &[i16], out: &mut Vec<i16>) {
    let steps = from.len() as i64 + 1;
    out.extend(from.iter().zip(to).enumerate().map(|(i, (&a, &b))| {
        // Weights on `to` run 1/(n+1) .. n/(n+1): the first sample is almost `from[0]`, so it
        // follows whatever `from[0]` followed, and the last almost `to[n-1]`, so it leads into
        // whatever followed that: no sample jumps at either seam.
        let k = i as i64 + 1;
        let mixed = (i64::from(a) * (steps - k) + i64::from(b) * k + steps / 2).div_euclid(steps);
        // A rounded convex combination of two i16 values is an i16; the clamp only documents it.
        mixed.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
    }));
}

fn dot(a: &[i64], b: &[i64]) -> i64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn energy(a: &[i64]) -> i64 {
    dot(a, a)
}

/// The correlation coefficient (without mean removal: a DC offset is part of the waveform the
/// splice must match); zero when either side is silent.
fn normalized(cross: i64, e1: i64, e2: i64) -> f64 {
    if e1 <= 0 || e2 <= 0 {
        return 0.0;
    }
    cross as f64 / ((e1 as f64) * (e2 as f64)).sqrt()
}

#[cfg(test)]
#[path = "stretch_tests.rs"]
mod tests;
