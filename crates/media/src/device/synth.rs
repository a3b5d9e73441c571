//! Synthetic devices: a sine tone, silence, and a sink that discards. They stand in for a
//! microphone and a speaker in tests, benchmarks and headless calls.

use std::f64::consts::TAU;

use super::{AudioSink, AudioSource, SourceState};
use crate::codec::SAMPLE_RATE;
use crate::MediaError;

/// An endless sine tone at 48 kHz. The phase carries over between frames, so frame boundaries
/// add no clicks (a click would show up as broadband energy and spoil frequency checks).
#[derive(Debug, Clone)]
pub struct ToneSource {
    hz: f64,
    amplitude: i16,
    phase: f64,
    step: f64,
}

impl ToneSource {
    /// A tone of `hz` (0 up to, not including, 24 kHz) and peak `amplitude` (e.g. 8000 ≈ −12
    /// dBFS, a comfortable speech-like level).
    pub fn new(hz: f64, amplitude: i16) -> Result<Self, MediaError> {
        let nyquist = f64::from(SAMPLE_RATE) / 2.0;
        if !(hz.is_finite() && (0.0..nyquist).contains(&hz)) {
            return Err(MediaError::Config(format!(
                "tone frequency {hz} Hz must be at least 0 and below {nyquist} Hz"
            )));
        }
        Ok(ToneSource {
            hz,
            amplitude,
            phase: 0.0,
            step: TAU * hz / f64::from(SAMPLE_RATE),
        })
    }

    /// The tone's frequency in Hz.
    pub fn hz(&self) -> f64 {
        self.hz
    }

    /// The tone's peak amplitude.
    pub fn amplitude(&self) -> i16 {
        self.amplitude
    }
}

impl AudioSource for ToneSource {
    fn read_frame(&mut self, out: &mut [i16]) -> Result<SourceState, MediaError> {
        let amplitude = f64::from(self.amplitude);
        for sample in out.iter_mut() {
            *sample = (amplitude * self.phase.sin()).round() as i16;
            // Wrap to keep the phase small: an ever-growing f64 loses precision after hours.
            self.phase += self.step;
            if self.phase >= TAU {
                self.phase -= TAU;
            }
        }
        Ok(SourceState::Active)
    }
}

/// An endless source of digital silence (a muted microphone).
#[derive(Debug, Clone, Copy, Default)]
pub struct SilenceSource;

impl AudioSource for SilenceSource {
    fn read_frame(&mut self, out: &mut [i16]) -> Result<SourceState, MediaError> {
        out.fill(0);
        Ok(SourceState::Active)
    }
}

/// A sink that discards audio and counts what it was given.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink {
    frames: u64,
    samples: u64,
}

impl NullSink {
    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Samples written so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }
}

impl AudioSink for NullSink {
    fn write_frame(&mut self, frame: &[i16]) -> Result<(), MediaError> {
        self.frames += 1;
        self.samples += frame.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::analysis::{dominant_frequency, rms};

    #[test]
    fn tone_has_its_frequency_and_level_across_frames() {
        let mut tone = ToneSource::new(440.0, 8000).unwrap();
        let mut all = Vec::new();
        let mut frame = [0i16; 960];
        for _ in 0..50 {
            assert_eq!(tone.read_frame(&mut frame).unwrap(), SourceState::Active);
            all.extend_from_slice(&frame);
        }
        let hz = dominant_frequency(&all, SAMPLE_RATE);
        assert!((hz - 440.0).abs() < 1.0, "{hz}");
        assert!((rms(&all) - 8000.0 / 2f64.sqrt()).abs() < 20.0);
    }

    #[test]
    fn tone_is_phase_continuous_at_frame_boundaries() {
        // Frames of odd sizes; the largest sample-to-sample step must stay what a continuous
        // sine allows (amplitude × step), never a jump at a boundary.
        let mut tone = ToneSource::new(1000.0, 10_000).unwrap();
        let mut all = Vec::new();
        for size in [7usize, 480, 960, 13, 1] {
            let mut frame = vec![0i16; size];
            tone.read_frame(&mut frame).unwrap();
            all.extend_from_slice(&frame);
        }
        let max_step = all
            .windows(2)
            .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
            .max()
            .unwrap();
        let allowed = 10_000.0 * TAU * 1000.0 / 48_000.0 + 1.0;
        assert!(f64::from(max_step) <= allowed, "{max_step} > {allowed}");
    }

    #[test]
    fn tone_rejects_impossible_frequencies() {
        assert!(ToneSource::new(24_000.0, 1).is_err());
        assert!(ToneSource::new(-1.0, 1).is_err());
        assert!(ToneSource::new(f64::NAN, 1).is_err());
    }

    #[test]
    fn silence_and_null() {
        let mut frame = [7i16; 480];
        assert_eq!(
            SilenceSource.read_frame(&mut frame).unwrap(),
            SourceState::Active
        );
        assert!(frame.iter().all(|&s| s == 0));
        let mut sink = NullSink::default();
        sink.write_frame(&frame).unwrap();
        sink.write_frame(&frame[..100]).unwrap();
        sink.finish().unwrap();
        assert_eq!((sink.frames(), sink.samples()), (2, 580));
    }
}
