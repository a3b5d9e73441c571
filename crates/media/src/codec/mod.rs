//! Opus voice coding through libopus (`ringwire-opus`, which builds the vendored libopus 1.6
//! with the `cc` crate: no cmake).
//!
//! [`OpusEncoder`] and [`OpusDecoder`] fix what a call needs — 48 kHz mono, the VOIP
//! application, 10 or 20 ms frames, in-band FEC — and take caller-owned buffers, so steady-state
//! coding never allocates. [`BitratePolicy`] is a pure state machine that turns measured loss and
//! RTT into the encoder's bitrate and the packet-loss percentage that sizes its FEC; the driver
//! feeds it receiver reports and applies the decision with [`OpusEncoder::apply`].
//!
//! Loss recovery: when packet N is missing but N+1 is here, [`OpusDecoder::decode_fec`] rebuilds
//! N from the low-bitrate copy that libopus embeds in N+1 (its "LBRR" data). Only SILK and hybrid
//! packets carry it; [`has_fec`] tells whether a packet does, and `decode_fec` falls back to
//! packet-loss concealment ([`OpusDecoder::conceal`]) and says so when it does not.

mod bitrate;
mod decoder;
mod encoder;
mod packet;
#[cfg(test)]
mod tests;

pub use bitrate::{BitrateDecision, BitratePolicy, NetworkReport, PolicyConfig};
pub use decoder::{OpusDecoder, Recovery};
pub use encoder::{EncoderConfig, OpusEncoder};
pub use packet::{has_fec, DTX_PACKET_MAX_BYTES, MAX_PACKET_BYTES};

use crate::MediaError;

/// The sample rate of every PCM buffer in this crate, in Hz.
pub const SAMPLE_RATE: u32 = 48_000;

/// How much audio one frame (and one RTP packet) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FrameDuration {
    /// 10 ms (480 samples): lower latency, ~10% more bits spent on packet overhead.
    Ms10,
    /// 20 ms (960 samples): what WebRTC peers send by default.
    #[default]
    Ms20,
}

impl FrameDuration {
    /// Samples per frame at [`SAMPLE_RATE`], mono.
    pub const fn samples(self) -> usize {
        match self {
            FrameDuration::Ms10 => 480,
            FrameDuration::Ms20 => 960,
        }
    }

    /// Duration in milliseconds.
    pub const fn millis(self) -> u32 {
        match self {
            FrameDuration::Ms10 => 10,
            FrameDuration::Ms20 => 20,
        }
    }

    /// The frame duration for a millisecond count, as configuration files and the jitter buffer
    /// spell it.
    pub fn from_millis(ms: u32) -> Result<Self, MediaError> {
        match ms {
            10 => Ok(FrameDuration::Ms10),
            20 => Ok(FrameDuration::Ms20),
            other => Err(MediaError::Config(format!(
                "frame duration {other} ms is not supported; use 10 or 20"
            ))),
        }
    }
}

/// Turns a libopus error into ours, naming the operation so a log line says what failed.
fn codec_error(op: &str, err: ringwire_opus::OpusError) -> MediaError {
    MediaError::Codec(format!("{op}: {err}"))
}
