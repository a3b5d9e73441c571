//! The media crate's error type.

/// What can go wrong in the audio pipeline. Each message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// A configuration value is out of range.
    #[error("invalid media configuration: {0}")]
    Config(String),
}
