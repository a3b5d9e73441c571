//! The media crate's error type.

/// What can go wrong in the audio pipeline. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// A configuration value is out of range.
    #[error("invalid media configuration: {0}")]
    Config(String),
    /// libopus refused a frame or packet (corrupt payload, wrong frame size, buffer too small).
    #[error("opus codec error: {0}")]
    Codec(String),
    /// A DTMF dial string or queue request was refused.
    #[error("{0}")]
    Dtmf(String),
    /// A WAV file could not be read or written, or has a format the devices do not support.
    #[error("wav file error: {0}")]
    Wav(String),
}
