//! Audio devices behind two small traits: an [`AudioSource`] fills frames for the encoder, an
//! [`AudioSink`] takes decoded frames. The engine pulls and pushes one frame per tick and never
//! cares what is behind them.
//!
//! Implementations: WAV files ([`WavSource`], [`WavSink`]) for the CLI softphone and tests,
//! synthetic ones ([`ToneSource`], [`SilenceSource`], [`NullSink`]), and [`HostAudio`] for
//! platforms where the OS owns the audio hardware (iOS, Android): the app's audio callback and
//! the engine meet at two lock-free ring buffers. [`analysis`] measures what came out (dominant
//! frequency, level).
//!
//! All PCM is 48 kHz mono i16 ([`crate::codec::SAMPLE_RATE`]); a frame is whatever length the
//! caller's buffer has, normally [`crate::codec::FrameDuration::samples`].

pub mod analysis;
mod host;
mod synth;
mod wav;

pub use host::{HostAudio, HostAudioAppSide, HostAudioEngineSide, HostAudioStats};
pub use synth::{NullSink, SilenceSource, ToneSource};
pub use wav::{WavSink, WavSource};

use crate::MediaError;

/// Whether a source still has audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceState {
    /// The frame holds audio (possibly padded with silence at the very end of a file).
    Active,
    /// Nothing left: the frame was filled with silence and every later one will be too.
    Finished,
}

/// Where outgoing audio comes from.
pub trait AudioSource: Send {
    /// Fills all of `out` with the next frame.
    fn read_frame(&mut self, out: &mut [i16]) -> Result<SourceState, MediaError>;
}

/// Where incoming audio goes.
pub trait AudioSink: Send {
    /// Takes one frame.
    fn write_frame(&mut self, frame: &[i16]) -> Result<(), MediaError>;

    /// Flushes and closes the sink (e.g. finalizes a file header). Later writes may fail.
    fn finish(&mut self) -> Result<(), MediaError> {
        Ok(())
    }
}

// Boxed devices are how a driver holds "whatever device the app chose".
impl<T: AudioSource + ?Sized> AudioSource for Box<T> {
    fn read_frame(&mut self, out: &mut [i16]) -> Result<SourceState, MediaError> {
        (**self).read_frame(out)
    }
}

impl<T: AudioSink + ?Sized> AudioSink for Box<T> {
    fn write_frame(&mut self, frame: &[i16]) -> Result<(), MediaError> {
        (**self).write_frame(frame)
    }

    fn finish(&mut self) -> Result<(), MediaError> {
        (**self).finish()
    }
}
