//! ringwire's audio pipeline, with no network: Opus encode/decode with in-band FEC and bitrate
//! adaptation ([`codec`]), an adaptive jitter buffer written for this project ([`jitter`]), the
//! playout path that turns jitter-buffer decisions into PCM with FEC recovery and PLC
//! ([`playout`]), audio devices behind one trait ([`device`]), and call quality estimates
//! including an ITU-T G.107 E-model MOS ([`quality`]), DTMF as RFC 4733 telephone-events
//! ([`dtmf`]), and RFC 2198 redundant audio ([`red`]).
//!
//! Audio is 48 kHz mono, 16-bit PCM in 20 ms frames (10 ms selectable). Time is passed in; this
//! crate never reads a clock.
//!
//! With the `uniffi` feature (on only when `ringwire-ffi` is in the build) the records the
//! bindings export derive their UniFFI form here, so each is defined once: [`CallQuality`],
//! [`FrameSources`] and [`device::HostAudioStats`]. Without it the crate knows nothing of UniFFI.

pub mod codec;
pub mod device;
pub mod dtmf;
mod error;
pub mod jitter;
pub mod playout;
pub mod quality;
pub mod red;
pub mod stretch;

// The types a call driver needs, at the crate root.
pub use codec::{BitrateDecision, EncoderConfig, FrameDuration, NetworkReport, PolicyConfig};
pub use jitter::{JitterConfig, JitterStats, RtpAudioPacket};
pub use playout::{
    AudioReceiver, AudioSender, FrameKind, FrameSources, ReceiverConfig, ReceiverStats,
};
pub use quality::{mos_from_r, r_factor, CallQuality, EModelInput, QualityInputs};

pub use error::MediaError;

// The crate's UniFFI scaffolding: its records form the `ringwire_media` module of the bindings.
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();
