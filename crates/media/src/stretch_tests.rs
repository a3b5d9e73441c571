//! Tests of both directions. Compress: what it cuts (one period of voiced speech, one chunk of
//! silence, nothing of noise), that the cut is continuous and leaves the pitch alone, and that
//! no input makes it panic or lie about how much it removed. Expand: the same for what it
//! inserts, with both joins of the insert checked against a proven bound, and a round trip
//! (expand, then compress) that must come back to the input's length and smoothness.

use std::f64::consts::TAU;
use std::time::Instant;

use super::*;
use ringwire_netem::SeededRng;

const FS: f64 = 48_000.0;
/// 40 ms, what a jitter buffer would hand over (two 20 ms frames).
const CHUNK: usize = 1920;

fn sine(freq: f64, amplitude: f64, len: usize) -> Vec<i16> {
    (0..len)
        .map(|n| (amplitude * (TAU * freq * n as f64 / FS).sin()).round() as i16)
        .collect()
}

/// A sustained vowel: harmonics of `f0` up to 4 kHz with a falling spectrum and two formant
/// bumps, under a slow 3 Hz loudness swing, peaking near -12 dBFS.
fn vowel(f0: f64, len: usize, offset: usize) -> Vec<i16> {
    (offset..offset + len)
        .map(|n| {
            let t = n as f64 / FS;
            let envelope = 0.75 + 0.25 * (TAU * 3.0 * t).sin();
            let mut s = 0.0;
            let mut k = 1.0;
            while k * f0 < 4000.0 {
                s += harmonic_gain(k * f0) / k * (TAU * k * f0 * t + 0.7 * k).sin();
                k += 1.0;
            }
            (4000.0 * envelope * s).clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// Formant-like emphasis around 700 Hz and 1200 Hz.
fn harmonic_gain(f: f64) -> f64 {
    let bump = |centre: f64, width: f64| (-((f - centre) / width).powi(2)).exp();
    0.4 + 1.5 * bump(700.0, 200.0) + 1.0 * bump(1200.0, 250.0)
}

fn uniform_noise(rng: &mut SeededRng, amplitude: f64, len: usize) -> Vec<i16> {
    (0..len)
        .map(|_| (amplitude * (2.0 * rng.next_f64() - 1.0)).round() as i16)
        .collect()
}

/// Uniform noise with the given RMS level in dBFS (RMS of uniform noise is amplitude / √3).
fn noise_dbfs(rng: &mut SeededRng, dbfs: f64, len: usize) -> Vec<i16> {
    let rms = 32768.0 * 10f64.powf(dbfs / 20.0);
    uniform_noise(rng, (rms * 3f64.sqrt()).min(32767.0), len)
}

fn max_jump(x: &[i16]) -> i32 {
    x.windows(2)
        .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
        .max()
        .unwrap_or(0)
}

/// The mean distance between rising zero crossings, interpolated to a fraction of a sample.
fn period_from_zero_crossings(x: &[i16]) -> f64 {
    let crossings: Vec<f64> = x
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] < 0 && w[1] >= 0)
        .map(|(i, w)| {
            let (a, b) = (f64::from(w[0]), f64::from(w[1]));
            i as f64 + a / (a - b)
        })
        .collect();
    assert!(crossings.len() >= 2, "too few zero crossings");
    (crossings[crossings.len() - 1] - crossings[0]) / (crossings.len() - 1) as f64
}

/// The properties every call must keep, whatever the input: the length adds up, a refusal
/// copies, and a cut touches only the documented middle, where every sample lies between the
/// two samples it fades.
fn check_contract(input: &[i16], out: &[i16], result: Compression) {
    let removed = result.removed();
    assert_eq!(out.len() + removed, input.len(), "{result:?}");
    match result {
        Compression::Refused => {
            assert_eq!(out, input);
            return;
        }
        Compression::Quiet { removed } => assert_eq!(removed, MAX_REMOVED),
        Compression::Voiced { removed } => {
            assert!((MIN_PERIOD..=MAX_PERIOD).contains(&removed), "{removed}")
        }
    }
    let middle = input.len() / 2;
    let start = middle - removed;
    assert_eq!(out[..start], input[..start], "head changed");
    assert_eq!(out[middle..], input[middle + removed..], "tail changed");
    for i in 0..removed {
        let (a, b) = (input[start + i], input[middle + i]);
        let v = out[start + i];
        assert!(
            a.min(b) <= v && v <= a.max(b),
            "fade sample {i}: {v} outside {a}..{b}"
        );
    }
}

fn compress(acc: &mut Accelerator, input: &[i16]) -> (Vec<i16>, Compression) {
    let mut out = Vec::with_capacity(input.len());
    let result = acc.compress(input, &mut out);
    check_contract(input, &out, result);
    (out, result)
}

#[test]
fn sine_loses_exactly_one_period_and_keeps_its_pitch() {
    let input = sine(200.0, 10_000.0, CHUNK);
    let (out, result) = compress(&mut Accelerator::new(), &input);
    let Compression::Voiced { removed } = result else {
        panic!("200 Hz sine: {result:?}");
    };
    assert!(removed.abs_diff(240) <= 2, "removed {removed}");
    assert!(
        max_jump(&out) <= max_jump(&input) + 2,
        "splice is not smooth"
    );
    let (before, after) = (
        period_from_zero_crossings(&input),
        period_from_zero_crossings(&out),
    );
    assert!((after - before).abs() < 0.5, "period {before} -> {after}");
}

#[test]
fn sines_of_every_pitch_in_range_splice_continuously() {
    let mut acc = Accelerator::new();
    for freq in [68.0, 101.3, 137.0, 173.0, 210.0, 256.7, 333.3, 390.0] {
        let period = FS / freq;
        for phase_offset in [0, 97, 311] {
            // Enough periods either side of the cut for the zero-crossing count.
            let len = CHUNK.max((6.0 * period) as usize);
            let input: Vec<i16> = sine(freq, 12_000.0, len + phase_offset).split_off(phase_offset);
            let (out, result) = compress(&mut acc, &input);
            let Compression::Voiced { removed } = result else {
                panic!("{freq} Hz sine: {result:?}");
            };
            let periods = (removed as f64 / period).round().max(1.0);
            assert!(
                (removed as f64 - periods * period).abs() <= 2.0,
                "{freq} Hz: removed {removed}, period {period:.1}"
            );
            // Whole periods only when the first would not fit the range (below ~2.5 ms).
            assert!(
                periods == 1.0 || period < MIN_PERIOD as f64,
                "{freq} Hz: {removed}"
            );
            let (jump_in, jump_out) = (max_jump(&input), max_jump(&out));
            assert!(
                f64::from(jump_out) <= 1.1 * f64::from(jump_in) + 2.0,
                "{freq} Hz: jump {jump_in} -> {jump_out}"
            );
            let (before, after) = (
                period_from_zero_crossings(&input),
                period_from_zero_crossings(&out),
            );
            assert!(
                (after - before).abs() < 0.01 * before,
                "{freq} Hz: period {before} -> {after}"
            );
        }
    }
}

#[test]
fn vowel_loses_whole_pitch_periods() {
    let mut acc = Accelerator::new();
    let period = FS / 120.0;
    // Every offset sees a different phase of the loudness swing and of the waveform.
    for offset in (0..48_000).step_by(2_357) {
        for len in [MIN_INPUT, CHUNK, 2 * CHUNK] {
            let input = vowel(120.0, len, offset);
            let (out, result) = compress(&mut acc, &input);
            let Compression::Voiced { removed } = result else {
                panic!("vowel at {offset}, {len} samples: {result:?}");
            };
            let periods = (removed as f64 / period).round().max(1.0);
            assert!(
                (removed as f64 - periods * period).abs() <= 3.0,
                "vowel at {offset}: removed {removed}, period {period:.1}"
            );
            let (jump_in, jump_out) = (max_jump(&input), max_jump(&out));
            assert!(
                f64::from(jump_out) <= 1.2 * f64::from(jump_in) + 2.0,
                "vowel at {offset}: jump {jump_in} -> {jump_out}"
            );
        }
    }
}

#[test]
fn white_noise_is_refused() {
    let mut acc = Accelerator::new();
    let mut rng = SeededRng::new(7);
    for _ in 0..100 {
        let input = noise_dbfs(&mut rng, -10.0, CHUNK);
        let (out, result) = compress(&mut acc, &input);
        assert_eq!(result, Compression::Refused);
        assert_eq!(out, input);
    }
}

#[test]
fn speech_onset_is_refused() {
    // Silence, then a vowel starting at the middle: the two halves the cut would merge are
    // nothing alike, and the span as a whole is loud.
    let mut input = vec![0i16; CHUNK / 2];
    input.extend(vowel(150.0, CHUNK / 2, 0));
    let (_, result) = compress(&mut Accelerator::new(), &input);
    assert_eq!(result, Compression::Refused);
}

#[test]
fn vowel_buried_in_noise_is_refused() {
    // The pitch still shows at 4 kHz, where the voice dominates, but at full band the two
    // periods differ by loud noise: merging them would leave an audible dip.
    let mut rng = SeededRng::new(8);
    let mut acc = Accelerator::new();
    for offset in [0, 5_000, 17_000] {
        let mut input = vowel(110.0, CHUNK, offset);
        for (s, n) in input.iter_mut().zip(noise_dbfs(&mut rng, -20.0, CHUNK)) {
            *s = s.saturating_add(n);
        }
        let (_, result) = compress(&mut acc, &input);
        assert_eq!(result, Compression::Refused, "noisy vowel at {offset}");
    }
}

#[test]
fn pitch_jump_at_the_cut_is_refused() {
    // Different voices either side of the middle: no period of one matches the other.
    let mut input = vowel(110.0, CHUNK / 2, 0);
    input.extend(vowel(170.0, CHUNK / 2, 0));
    let (_, result) = compress(&mut Accelerator::new(), &input);
    assert_eq!(result, Compression::Refused);
}

#[test]
fn near_silence_is_quiet() {
    let mut acc = Accelerator::new();
    let mut rng = SeededRng::new(11);
    let silence = vec![0i16; CHUNK];
    let hiss = noise_dbfs(&mut rng, -60.0, CHUNK);
    let hum = sine(50.0, 150.0, CHUNK); // about -50 dBFS RMS, periodic but longer than 15 ms
    for input in [silence, hiss, hum] {
        let (out, result) = compress(&mut acc, &input);
        assert_eq!(
            result,
            Compression::Quiet {
                removed: MAX_REMOVED
            }
        );
        assert!(
            max_jump(&out) <= max_jump(&input) + 2,
            "quiet splice is not smooth"
        );
    }
}

#[test]
fn quiet_threshold_is_the_callers() {
    let mut rng = SeededRng::new(12);
    let input = noise_dbfs(&mut rng, -30.0, CHUNK);
    let (_, default) = compress(&mut Accelerator::new(), &input);
    assert_eq!(default, Compression::Refused);
    let (_, raised) = compress(&mut Accelerator::with_quiet_dbfs(-25.0), &input);
    assert_eq!(
        raised,
        Compression::Quiet {
            removed: MAX_REMOVED
        }
    );
    let (_, never) = compress(&mut Accelerator::with_quiet_dbfs(f64::NEG_INFINITY), &input);
    assert_eq!(never, Compression::Refused);
    let (_, zeros) = compress(
        &mut Accelerator::with_quiet_dbfs(f64::NEG_INFINITY),
        &[0; CHUNK],
    );
    assert_eq!(
        zeros,
        Compression::Quiet {
            removed: MAX_REMOVED
        }
    );
    let (_, nan) = compress(&mut Accelerator::with_quiet_dbfs(f64::NAN), &input);
    assert_eq!(nan, Compression::Refused);
}

#[test]
fn short_input_is_refused_and_exact_minimum_works() {
    let mut acc = Accelerator::new();
    for len in [0, 1, 480, MIN_INPUT - 1] {
        let input = sine(200.0, 10_000.0, len);
        let (out, result) = compress(&mut acc, &input);
        assert_eq!(result, Compression::Refused, "{len} samples");
        assert_eq!(out, input);
    }
    let (_, result) = compress(&mut acc, &sine(200.0, 10_000.0, MIN_INPUT));
    assert!(matches!(result, Compression::Voiced { removed } if removed.abs_diff(240) <= 2));
    let (_, result) = compress(&mut acc, &[0; MIN_INPUT]);
    assert_eq!(
        result,
        Compression::Quiet {
            removed: MAX_REMOVED
        }
    );
    let (_, result) = compress(&mut acc, &sine(200.0, 10_000.0, MIN_INPUT + 1));
    assert!(matches!(result, Compression::Voiced { .. }));
}

#[test]
fn output_is_written_in_place_without_reallocating() {
    let mut acc = Accelerator::new();
    let mut rng = SeededRng::new(5);
    let inputs = [
        vowel(180.0, CHUNK, 0),
        noise_dbfs(&mut rng, -10.0, CHUNK),
        vec![0; CHUNK],
    ];
    let mut out = Vec::with_capacity(CHUNK);
    let buffer = out.as_ptr();
    for input in inputs.iter().cycle().take(30) {
        acc.compress(input, &mut out);
        assert_eq!(out.as_ptr(), buffer);
    }
}

/// Thirty seconds of speech-like audio: voiced syllables with gliding pitch, fricative noise
/// bursts and pauses with a faint hiss.
fn speech_like(rng: &mut SeededRng, seconds: f64) -> Vec<i16> {
    let total = (seconds * FS) as usize;
    let mut pcm = Vec::with_capacity(total);
    while pcm.len() < total {
        match rng.below(10) {
            0..=5 => {
                let len = (0.12 + 0.2 * rng.next_f64()) * FS;
                let (f_start, glide) = (90.0 + 130.0 * rng.next_f64(), 0.8 + 0.4 * rng.next_f64());
                let level = 2000.0 + 4000.0 * rng.next_f64();
                let mut phase = 0.0;
                for n in 0..len as usize {
                    let x = n as f64 / len;
                    let f0 = f_start * (1.0 + (glide - 1.0) * x);
                    phase += TAU * f0 / FS;
                    let envelope = (std::f64::consts::PI * x).sin().powf(0.5);
                    let mut s = 0.0;
                    let mut k = 1.0;
                    while k * f0 < 3500.0 {
                        s += harmonic_gain(k * f0) / k * (k * phase).sin();
                        k += 1.0;
                    }
                    pcm.push((level * envelope * s).clamp(-32768.0, 32767.0) as i16);
                }
            }
            6..=7 => {
                // Differenced noise: a fricative's energy sits high.
                let len = ((0.06 + 0.1 * rng.next_f64()) * FS) as usize;
                let noise = noise_dbfs(rng, -22.0, len + 1);
                pcm.extend(
                    noise
                        .windows(2)
                        .map(|w| ((i32::from(w[1]) - i32::from(w[0])) / 2) as i16),
                );
            }
            _ => {
                let len = ((0.1 + 0.3 * rng.next_f64()) * FS) as usize;
                pcm.extend(noise_dbfs(rng, -65.0, len));
            }
        }
    }
    pcm.truncate(total);
    pcm
}

#[test]
fn thirty_seconds_of_speech_shorten_by_what_was_removed() {
    let mut rng = SeededRng::new(2024);
    let input = speech_like(&mut rng, 30.0);
    let mut acc = Accelerator::new();
    let mut played = Vec::with_capacity(input.len());
    let mut out = Vec::with_capacity(CHUNK);
    let (mut removed, mut voiced, mut quiet, mut refused) = (0, 0, 0, 0);
    // What a jitter buffer with excess delay would do: compress every 40 ms it plays out.
    for chunk in input.chunks(CHUNK) {
        let result = acc.compress(chunk, &mut out);
        check_contract(chunk, &out, result);
        let (jump_in, jump_out) = (max_jump(chunk), max_jump(&out));
        assert!(
            f64::from(jump_out) <= 1.5 * f64::from(jump_in) + 2.0,
            "{result:?} at sample {}: jump {jump_in} -> {jump_out}",
            played.len()
        );
        removed += result.removed();
        match result {
            Compression::Voiced { .. } => voiced += 1,
            Compression::Quiet { .. } => quiet += 1,
            Compression::Refused => refused += 1,
        }
        played.extend_from_slice(&out);
    }
    assert_eq!(played.len(), input.len() - removed);
    // Each kind of audio in the mix must meet its own verdict somewhere.
    assert!(
        voiced > 50 && quiet > 50 && refused > 10,
        "{voiced}/{quiet}/{refused}"
    );
    // Chunks join as their inputs did: the whole output is no rougher than the input.
    assert!(max_jump(&played) <= max_jump(&input) * 3 / 2 + 2);
    println!(
        "30 s speech-like: {voiced} voiced, {quiet} quiet, {refused} refused of {} calls; \
         removed {:.2} s ({:.1}% faster)",
        voiced + quiet + refused,
        removed as f64 / FS,
        100.0 * removed as f64 / played.len() as f64
    );
}

/// One input of a random length (often around [`MIN_INPUT`]) and a random kind: silence,
/// noise, tones from subsonic to 8 kHz, full-scale square waves, DC, clicks, tones in hiss and
/// random walks, at random levels.
fn random_input(rng: &mut SeededRng) -> Vec<i16> {
    let len = match rng.below(8) {
        0 => MIN_INPUT,
        1 => MIN_INPUT - 1 + rng.index(3),
        _ => rng.index(4 * MIN_INPUT),
    };
    let amplitude = 32767.0 * rng.next_f64();
    match rng.below(8) {
        0 => vec![0; len],
        1 => uniform_noise(rng, amplitude, len),
        2 => sine(20.0 + 8000.0 * rng.next_f64(), amplitude, len),
        3 => {
            let half = 1 + rng.index(1000);
            (0..len)
                .map(|n| {
                    if (n / half) % 2 == 0 {
                        i16::MAX
                    } else {
                        i16::MIN
                    }
                })
                .collect()
        }
        4 => vec![rng.below(65536) as u16 as i16; len],
        5 => (0..len)
            .map(|_| if rng.chance(0.01) { i16::MIN } else { 0 })
            .collect(),
        6 => {
            let tone = sine(60.0 + 400.0 * rng.next_f64(), 30_000.0, len);
            let hiss = uniform_noise(rng, amplitude / 4.0, len);
            tone.iter()
                .zip(&hiss)
                .map(|(&a, &b)| a.saturating_add(b))
                .collect()
        }
        _ => {
            let mut walk = 0i16;
            (0..len)
                .map(|_| {
                    walk = walk.saturating_add(rng.below(2001) as i16 - 1000);
                    walk
                })
                .collect()
        }
    }
}

#[test]
fn a_thousand_random_inputs_never_panic_and_add_up() {
    let mut rng = SeededRng::new(0x5eed);
    let mut acc = Accelerator::new();
    let mut out = Vec::new();
    let mut seen = [0; 3];
    for _ in 0..1000 {
        let input = random_input(&mut rng);
        let result = acc.compress(&input, &mut out);
        check_contract(&input, &out, result);
        seen[match result {
            Compression::Voiced { .. } => 0,
            Compression::Quiet { .. } => 1,
            Compression::Refused => 2,
        }] += 1;
    }
    // The inputs must reach every branch, or the contract was only checked on refusals.
    println!("random inputs: voiced/quiet/refused = {seen:?}");
    assert!(seen.iter().all(|&n| n >= 50), "{seen:?}");
}

/// Not a benchmark with a threshold: prints what one 40 ms call of each direction costs, for the record
/// (`cargo test --release -p ringwire-media stretch -- --nocapture`).
#[test]
fn cost_of_one_40ms_call() {
    let mut rng = SeededRng::new(99);
    let mut noisy_vowel = vowel(110.0, CHUNK, 0);
    for (s, n) in noisy_vowel
        .iter_mut()
        .zip(noise_dbfs(&mut rng, -22.0, CHUNK))
    {
        *s = s.saturating_add(n);
    }
    let cases = [
        ("voiced (vowel)", vowel(110.0, CHUNK, 0)),
        ("voiced (200 Hz sine)", sine(200.0, 10_000.0, CHUNK)),
        ("noisy vowel", noisy_vowel),
        ("refused (white noise)", noise_dbfs(&mut rng, -10.0, CHUNK)),
        ("quiet", noise_dbfs(&mut rng, -60.0, CHUNK)),
    ];
    let mut acc = Accelerator::new();
    let mut out = Vec::with_capacity(CHUNK + MAX_ADDED);
    let rounds = 500;
    for (name, input) in &cases {
        let start = Instant::now();
        let mut result = Compression::Refused;
        for _ in 0..rounds {
            result = acc.compress(std::hint::black_box(input), &mut out);
        }
        let micros = start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
        println!("stretch: one 40 ms compress, {name}: {micros:.1} µs ({result:?})");
        let start = Instant::now();
        let mut result = Expansion::Refused;
        for _ in 0..rounds {
            result = acc.expand(std::hint::black_box(input), &mut out);
        }
        let micros = start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
        println!("stretch: one 40 ms expand, {name}: {micros:.1} µs ({result:?})");
    }
}

// ---- Expand ----

/// The properties every expand must keep, whatever the input: the length adds up, a refusal
/// copies, and an insert leaves the input whole on either side of it, each inserted sample lies
/// between the two samples it fades, and both joins are continuous. Returns the two join steps
/// (into the insert, out of it), zero when refused.
///
/// The join bound is exact, not a tolerance. With `m` the middle, `a` added and `d = x[m] -
/// x[m-1]` the input's own step there, the insert's first sample is `(a·x[m] + x[m-a]) / (a+1)`
/// and its last `(x[m+a-1] + a·x[m-1]) / (a+1)`, each rounded to within ½, so
///
/// - into the insert: `out[m] - x[m-1] = d + (x[m-a] - x[m]) / (a+1)`
/// - out of it: `x[m] - out[m+a-1] = d - (x[m+a-1] - x[m-1]) / (a+1)`
///
/// each within ½: the output steps as the input did at `m`, plus at most `1/(a+1)` (`a` ≥ 120)
/// of how far the two periods differ there, which for a voiced span is little.
fn check_expand_contract(input: &[i16], out: &[i16], result: Expansion) -> (i32, i32) {
    let added = result.added();
    assert_eq!(out.len(), input.len() + added, "{result:?}");
    match result {
        Expansion::Refused => {
            assert_eq!(out, input);
            return (0, 0);
        }
        Expansion::Quiet { added } => assert_eq!(added, MAX_ADDED),
        Expansion::Voiced { added } => {
            assert!((MIN_PERIOD..=MAX_PERIOD).contains(&added), "{added}")
        }
    }
    let m = input.len() / 2;
    assert_eq!(out[..m], input[..m], "head changed");
    assert_eq!(out[m + added..], input[m..], "tail changed");
    for i in 0..added {
        let (a, b) = (input[m + i], input[m - added + i]);
        let v = out[m + i];
        assert!(
            a.min(b) <= v && v <= a.max(b),
            "inserted sample {i}: {v} outside {a}..{b}"
        );
    }
    let x = |i: usize| f64::from(input[i]);
    let (d, a) = (x(m) - x(m - 1), added as f64 + 1.0);
    let into = i32::from(out[m]) - i32::from(out[m - 1]);
    let out_of = i32::from(out[m + added]) - i32::from(out[m + added - 1]);
    let expected_into = d + (x(m - added) - x(m)) / a;
    let expected_out_of = d - (x(m + added - 1) - x(m - 1)) / a;
    assert!(
        (f64::from(into) - expected_into).abs() <= 0.5 + 1e-9,
        "join into the insert: {into}, expected {expected_into:.2}"
    );
    assert!(
        (f64::from(out_of) - expected_out_of).abs() <= 0.5 + 1e-9,
        "join out of the insert: {out_of}, expected {expected_out_of:.2}"
    );
    (into.abs(), out_of.abs())
}

fn expand(acc: &mut Accelerator, input: &[i16]) -> (Vec<i16>, Expansion) {
    let mut out = Vec::with_capacity(input.len() + MAX_ADDED);
    let result = acc.expand(input, &mut out);
    check_expand_contract(input, &out, result);
    (out, result)
}

#[test]
fn sine_gains_exactly_one_period_and_keeps_its_pitch() {
    let input = sine(200.0, 10_000.0, CHUNK);
    let mut out = Vec::with_capacity(CHUNK + MAX_ADDED);
    let result = Accelerator::new().expand(&input, &mut out);
    let (into, out_of) = check_expand_contract(&input, &out, result);
    let Expansion::Voiced { added } = result else {
        panic!("200 Hz sine: {result:?}");
    };
    assert!(added.abs_diff(240) <= 2, "added {added}");
    // Both joins step no more than the sine itself does anywhere (about 262 at this level).
    let jump_in = max_jump(&input);
    assert!(
        into <= jump_in + 2 && out_of <= jump_in + 2,
        "joins {into}, {out_of} vs {jump_in}"
    );
    assert!(max_jump(&out) <= jump_in + 2, "insert is not smooth");
    let (before, after) = (
        period_from_zero_crossings(&input),
        period_from_zero_crossings(&out),
    );
    assert!((after - before).abs() < 0.5, "period {before} -> {after}");
}

#[test]
fn sines_of_every_pitch_in_range_expand_continuously() {
    let mut acc = Accelerator::new();
    for freq in [68.0, 101.3, 137.0, 173.0, 210.0, 256.7, 333.3, 390.0] {
        let period = FS / freq;
        for phase_offset in [0, 97, 311] {
            let len = CHUNK.max((6.0 * period) as usize);
            let input: Vec<i16> = sine(freq, 12_000.0, len + phase_offset).split_off(phase_offset);
            let (out, result) = expand(&mut acc, &input);
            let Expansion::Voiced { added } = result else {
                panic!("{freq} Hz sine: {result:?}");
            };
            let periods = (added as f64 / period).round().max(1.0);
            assert!(
                (added as f64 - periods * period).abs() <= 2.0,
                "{freq} Hz: added {added}, period {period:.1}"
            );
            assert!(
                periods == 1.0 || period < MIN_PERIOD as f64,
                "{freq} Hz: {added}"
            );
            let (jump_in, jump_out) = (max_jump(&input), max_jump(&out));
            assert!(
                f64::from(jump_out) <= 1.1 * f64::from(jump_in) + 2.0,
                "{freq} Hz: jump {jump_in} -> {jump_out}"
            );
            let (before, after) = (
                period_from_zero_crossings(&input),
                period_from_zero_crossings(&out),
            );
            assert!(
                (after - before).abs() < 0.01 * before,
                "{freq} Hz: period {before} -> {after}"
            );
        }
    }
}

#[test]
fn vowel_gains_whole_pitch_periods() {
    let mut acc = Accelerator::new();
    let period = FS / 120.0;
    for offset in (0..48_000).step_by(2_357) {
        for len in [MIN_INPUT, CHUNK, 2 * CHUNK] {
            let input = vowel(120.0, len, offset);
            let (out, result) = expand(&mut acc, &input);
            let Expansion::Voiced { added } = result else {
                panic!("vowel at {offset}, {len} samples: {result:?}");
            };
            let periods = (added as f64 / period).round().max(1.0);
            assert!(
                (added as f64 - periods * period).abs() <= 3.0,
                "vowel at {offset}: added {added}, period {period:.1}"
            );
            let (jump_in, jump_out) = (max_jump(&input), max_jump(&out));
            assert!(
                f64::from(jump_out) <= 1.2 * f64::from(jump_in) + 2.0,
                "vowel at {offset}: jump {jump_in} -> {jump_out}"
            );
        }
    }
}

#[test]
fn expand_refuses_noise_onsets_noisy_vowels_and_pitch_jumps() {
    let mut acc = Accelerator::new();
    let mut rng = SeededRng::new(7);
    for _ in 0..100 {
        let input = noise_dbfs(&mut rng, -10.0, CHUNK);
        let (out, result) = expand(&mut acc, &input);
        assert_eq!(result, Expansion::Refused);
        assert_eq!(out, input);
    }
    let mut onset = vec![0i16; CHUNK / 2];
    onset.extend(vowel(150.0, CHUNK / 2, 0));
    assert_eq!(expand(&mut acc, &onset).1, Expansion::Refused, "onset");
    let mut jump = vowel(110.0, CHUNK / 2, 0);
    jump.extend(vowel(170.0, CHUNK / 2, 0));
    assert_eq!(expand(&mut acc, &jump).1, Expansion::Refused, "pitch jump");
    let mut rng = SeededRng::new(8);
    for offset in [0, 5_000, 17_000] {
        let mut input = vowel(110.0, CHUNK, offset);
        for (s, n) in input.iter_mut().zip(noise_dbfs(&mut rng, -20.0, CHUNK)) {
            *s = s.saturating_add(n);
        }
        let (_, result) = expand(&mut acc, &input);
        assert_eq!(result, Expansion::Refused, "noisy vowel at {offset}");
    }
}

#[test]
fn near_silence_expands_quietly() {
    let mut acc = Accelerator::new();
    let mut rng = SeededRng::new(11);
    let silence = vec![0i16; CHUNK];
    let hiss = noise_dbfs(&mut rng, -60.0, CHUNK);
    let hum = sine(50.0, 150.0, CHUNK);
    for input in [silence, hiss, hum] {
        let (out, result) = expand(&mut acc, &input);
        assert_eq!(result, Expansion::Quiet { added: MAX_ADDED });
        assert!(
            max_jump(&out) <= max_jump(&input) + 2,
            "quiet insert is not smooth"
        );
        // Still as quiet: the insert is no louder than the loudest input sample.
        let peak = |x: &[i16]| x.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!(peak(&out) <= peak(&input));
    }
    let (_, raised) = expand(
        &mut Accelerator::with_quiet_dbfs(-25.0),
        &noise_dbfs(&mut rng, -30.0, CHUNK),
    );
    assert_eq!(raised, Expansion::Quiet { added: MAX_ADDED });
}

#[test]
fn expand_short_input_is_refused_and_exact_minimum_works() {
    let mut acc = Accelerator::new();
    for len in [0, 1, 480, MIN_INPUT - 1] {
        let input = sine(200.0, 10_000.0, len);
        let (out, result) = expand(&mut acc, &input);
        assert_eq!(result, Expansion::Refused, "{len} samples");
        assert_eq!(out, input);
    }
    let (_, result) = expand(&mut acc, &sine(200.0, 10_000.0, MIN_INPUT));
    assert!(matches!(result, Expansion::Voiced { added } if added.abs_diff(240) <= 2));
    let (_, result) = expand(&mut acc, &[0; MIN_INPUT]);
    assert_eq!(result, Expansion::Quiet { added: MAX_ADDED });
    let (_, result) = expand(&mut acc, &sine(200.0, 10_000.0, MIN_INPUT + 1));
    assert!(matches!(result, Expansion::Voiced { .. }));
}

#[test]
fn expand_output_is_written_in_place_without_reallocating() {
    let mut acc = Accelerator::new();
    let mut rng = SeededRng::new(5);
    let inputs = [
        vowel(180.0, CHUNK, 0),
        noise_dbfs(&mut rng, -10.0, CHUNK),
        vec![0; CHUNK],
        sine(70.0, 10_000.0, CHUNK),
    ];
    let mut out = Vec::with_capacity(CHUNK + MAX_ADDED);
    let buffer = out.as_ptr();
    for input in inputs.iter().cycle().take(40) {
        acc.expand(input, &mut out);
        assert_eq!(out.as_ptr(), buffer);
    }
}

#[test]
fn thirty_seconds_of_speech_lengthen_by_what_was_added() {
    let mut rng = SeededRng::new(2024);
    let input = speech_like(&mut rng, 30.0);
    let mut acc = Accelerator::new();
    let mut played = Vec::with_capacity(input.len() * 3 / 2);
    let mut out = Vec::with_capacity(CHUNK + MAX_ADDED);
    let (mut added, mut voiced, mut quiet, mut refused) = (0, 0, 0, 0);
    // What a jitter buffer building up delay after a loss burst would do: expand every 40 ms.
    for chunk in input.chunks(CHUNK) {
        let result = acc.expand(chunk, &mut out);
        check_expand_contract(chunk, &out, result);
        let (jump_in, jump_out) = (max_jump(chunk), max_jump(&out));
        assert!(
            f64::from(jump_out) <= 1.5 * f64::from(jump_in) + 2.0,
            "{result:?} at sample {}: jump {jump_in} -> {jump_out}",
            played.len()
        );
        added += result.added();
        match result {
            Expansion::Voiced { .. } => voiced += 1,
            Expansion::Quiet { .. } => quiet += 1,
            Expansion::Refused => refused += 1,
        }
        played.extend_from_slice(&out);
    }
    assert_eq!(played.len(), input.len() + added);
    assert!(
        voiced > 50 && quiet > 50 && refused > 10,
        "{voiced}/{quiet}/{refused}"
    );
    assert!(max_jump(&played) <= max_jump(&input) * 3 / 2 + 2);
    println!(
        "30 s speech-like: {voiced} voiced, {quiet} quiet, {refused} refused of {} calls; \
         added {:.2} s ({:.1}% slower)",
        voiced + quiet + refused,
        added as f64 / FS,
        100.0 * added as f64 / input.len() as f64
    );
}

#[test]
fn a_thousand_random_inputs_expand_without_panic_and_agree_with_compress() {
    let mut rng = SeededRng::new(0x5eed);
    let mut acc = Accelerator::new();
    let (mut out, mut shorter) = (Vec::new(), Vec::new());
    let mut seen = [0; 3];
    for _ in 0..1000 {
        let input = random_input(&mut rng);
        let result = acc.expand(&input, &mut out);
        check_expand_contract(&input, &out, result);
        // One analysis: expand inserts exactly what compress would remove, of the same kind.
        let cut = acc.compress(&input, &mut shorter);
        let (kind, twin) = match result {
            Expansion::Voiced { .. } => (
                0,
                Compression::Voiced {
                    removed: result.added(),
                },
            ),
            Expansion::Quiet { .. } => (
                1,
                Compression::Quiet {
                    removed: result.added(),
                },
            ),
            Expansion::Refused => (2, Compression::Refused),
        };
        assert_eq!(cut, twin, "{result:?}");
        seen[kind] += 1;
    }
    println!("random inputs, expand: voiced/quiet/refused = {seen:?}");
    assert!(seen.iter().all(|&n| n >= 50), "{seen:?}");
}

#[test]
fn expand_then_compress_comes_back_continuously() {
    let mut acc = Accelerator::new();
    // A sine: the period goes in and comes out again, to within the search's ±2 samples.
    let input = sine(200.0, 10_000.0, CHUNK);
    let (longer, grown) = expand(&mut acc, &input);
    let (back, shrunk) = compress(&mut acc, &longer);
    assert!(matches!(grown, Expansion::Voiced { .. }), "{grown:?}");
    assert!(matches!(shrunk, Compression::Voiced { .. }), "{shrunk:?}");
    assert!(back.len().abs_diff(CHUNK) <= 4, "{grown:?} then {shrunk:?}");
    assert!(max_jump(&back) <= max_jump(&input) + 2);
    let (before, after) = (
        period_from_zero_crossings(&input),
        period_from_zero_crossings(&back),
    );
    assert!((after - before).abs() < 0.5, "period {before} -> {after}");

    // A vowel, at many phases: the compress cut lands on the inserted period (the middle of
    // the longer span lies inside it), so both cross-fades overlap, and still the result is
    // as smooth as the input.
    let period = FS / 120.0;
    for offset in (0..48_000).step_by(3_001) {
        let input = vowel(120.0, CHUNK, offset);
        let (longer, grown) = expand(&mut acc, &input);
        let (back, shrunk) = compress(&mut acc, &longer);
        let (Expansion::Voiced { added }, Compression::Voiced { removed }) = (grown, shrunk) else {
            panic!("vowel at {offset}: {grown:?} then {shrunk:?}");
        };
        for n in [added, removed] {
            let periods = (n as f64 / period).round().max(1.0);
            assert!(
                (n as f64 - periods * period).abs() <= 3.0,
                "vowel at {offset}: {n}"
            );
        }
        let (jump_in, jump_back) = (max_jump(&input), max_jump(&back));
        assert!(
            f64::from(jump_back) <= 1.2 * f64::from(jump_in) + 2.0,
            "vowel at {offset}: jump {jump_in} -> {jump_back}"
        );
    }
}
