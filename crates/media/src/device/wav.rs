//! WAV file devices (through `hound`): play a prompt or a recording into a call, record what the
//! call played.
//!
//! [`WavSource`] reads 16-bit integer PCM of any channel count (averaged to mono) at 8–48 kHz.
//! Rates below 48 kHz are brought up by linear interpolation, streaming, one sample of state:
//! plenty for speech prompts and test tones (16 kHz speech has nothing above 8 kHz to alias),
//! not for music. Rates above 48 kHz are refused rather than aliased, since downsampling needs a
//! low-pass filter this module does not have.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::Path;

use super::{AudioSink, AudioSource, SourceState};
use crate::codec::SAMPLE_RATE;
use crate::MediaError;

/// The lowest input rate accepted (narrowband telephony).
const MIN_INPUT_RATE: u32 = 8_000;

type SampleIter = hound::WavIntoSamples<Box<dyn Read + Send>, i16>;

/// Reads a 16-bit PCM WAV file as 48 kHz mono frames. At the end of the file the last frame is
/// padded with silence and still [`SourceState::Active`]; every frame after it is
/// [`SourceState::Finished`].
pub struct WavSource {
    samples: SampleIter,
    channels: u16,
    rate: u32,
    /// Linear interpolation between `prev` and `next` (input samples), at position
    /// `frac / SAMPLE_RATE` of the way from one to the other.
    prev: i16,
    next: i16,
    frac: u32,
    /// The file is exhausted; `next` repeats the last sample so its span is still emitted.
    input_done: bool,
    ended: bool,
}

impl std::fmt::Debug for WavSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavSource")
            .field("channels", &self.channels)
            .field("rate", &self.rate)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl WavSource {
    /// Opens a WAV file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, MediaError> {
        let path = path.as_ref();
        let file = File::open(path)
            .map_err(|e| MediaError::Wav(format!("cannot open {}: {e}", path.display())))?;
        Self::from_reader(BufReader::new(file))
            .map_err(|e| MediaError::Wav(format!("{}: {e}", path.display())))
    }

    /// Reads a WAV stream from any reader (a file, an embedded asset, a byte buffer).
    pub fn from_reader(reader: impl Read + Send + 'static) -> Result<Self, MediaError> {
        let boxed: Box<dyn Read + Send> = Box::new(reader);
        let reader = hound::WavReader::new(boxed).map_err(wav_error)?;
        let spec = reader.spec();
        if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
            return Err(MediaError::Wav(format!(
                "only 16-bit integer PCM is supported, this is {}-bit {:?}; convert it with \
                 e.g. `sox in.wav -b 16 out.wav`",
                spec.bits_per_sample, spec.sample_format
            )));
        }
        if !(MIN_INPUT_RATE..=SAMPLE_RATE).contains(&spec.sample_rate) {
            return Err(MediaError::Wav(format!(
                "sample rate {} Hz is not supported; use {MIN_INPUT_RATE} to {SAMPLE_RATE} Hz \
                 (e.g. `sox in.wav -r 48000 out.wav`)",
                spec.sample_rate
            )));
        }
        if spec.channels == 0 {
            return Err(MediaError::Wav("the file declares zero channels".into()));
        }
        let mut source = WavSource {
            samples: reader.into_samples(),
            channels: spec.channels,
            rate: spec.sample_rate,
            prev: 0,
            next: 0,
            frac: 0,
            input_done: false,
            ended: false,
        };
        // Prime: `prev` is the next sample to emit; the interpolator also needs the one after.
        match source.read_mono()? {
            Some(first) => {
                source.prev = first;
                source.next = first;
                if source.rate != SAMPLE_RATE {
                    match source.read_mono()? {
                        Some(second) => source.next = second,
                        None => source.input_done = true,
                    }
                }
            }
            None => source.ended = true,
        }
        Ok(source)
    }

    /// The file's own sample rate, before resampling.
    pub fn source_rate(&self) -> u32 {
        self.rate
    }

    /// The file's channel count, before the downmix.
    pub fn source_channels(&self) -> u16 {
        self.channels
    }

    /// One input sample, averaged over channels; `None` at the end (a trailing partial
    /// multi-channel frame counts as the end).
    fn read_mono(&mut self) -> Result<Option<i16>, MediaError> {
        let mut sum = 0i32;
        for _ in 0..self.channels {
            match self.samples.next() {
                Some(Ok(s)) => sum += i32::from(s),
                Some(Err(e)) => return Err(wav_error(e)),
                None => return Ok(None),
            }
        }
        // The mean of i16 values is an i16.
        Ok(Some((sum / i32::from(self.channels)) as i16))
    }

    /// The next 48 kHz sample, or `None` at the end.
    fn next_sample(&mut self) -> Result<Option<i16>, MediaError> {
        if self.ended {
            return Ok(None);
        }
        if self.rate == SAMPLE_RATE {
            let out = self.prev;
            match self.read_mono()? {
                Some(s) => self.prev = s,
                None => self.ended = true,
            }
            return Ok(Some(out));
        }
        let (a, b) = (f64::from(self.prev), f64::from(self.next));
        let out = a + (b - a) * f64::from(self.frac) / f64::from(SAMPLE_RATE);
        // Each output sample advances rate/48000 input samples.
        self.frac += self.rate;
        while self.frac >= SAMPLE_RATE {
            self.frac -= SAMPLE_RATE;
            self.prev = self.next;
            if self.input_done {
                self.ended = true;
                break;
            }
            match self.read_mono()? {
                Some(s) => self.next = s,
                None => self.input_done = true,
            }
        }
        Ok(Some(out.round() as i16))
    }
}

impl AudioSource for WavSource {
    fn read_frame(&mut self, out: &mut [i16]) -> Result<SourceState, MediaError> {
        let mut written = 0;
        for slot in out.iter_mut() {
            match self.next_sample()? {
                Some(s) => {
                    *slot = s;
                    written += 1;
                }
                None => break,
            }
        }
        out[written..].fill(0);
        Ok(if written > 0 || (out.is_empty() && !self.ended) {
            SourceState::Active
        } else {
            SourceState::Finished
        })
    }
}

/// Writes 48 kHz mono 16-bit WAV. [`AudioSink::finish`] writes the final header; dropping the
/// sink without it also tries, but cannot report a failure.
pub struct WavSink {
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    frames: u64,
}

impl std::fmt::Debug for WavSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavSink")
            .field("open", &self.writer.is_some())
            .field("frames", &self.frames)
            .finish()
    }
}

impl WavSink {
    /// Creates (or truncates) the file and writes a provisional header.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, MediaError> {
        let path = path.as_ref();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path, spec)
            .map_err(|e| MediaError::Wav(format!("cannot create {}: {e}", path.display())))?;
        Ok(WavSink {
            writer: Some(writer),
            frames: 0,
        })
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }
}

impl AudioSink for WavSink {
    fn write_frame(&mut self, frame: &[i16]) -> Result<(), MediaError> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| MediaError::Wav("write after finish".into()))?;
        for &s in frame {
            writer.write_sample(s).map_err(wav_error)?;
        }
        self.frames += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), MediaError> {
        match self.writer.take() {
            Some(writer) => writer.finalize().map_err(wav_error),
            None => Ok(()),
        }
    }
}

fn wav_error(e: hound::Error) -> MediaError {
    MediaError::Wav(e.to_string())
}

#[cfg(test)]
#[path = "wav_tests.rs"]
mod tests;
