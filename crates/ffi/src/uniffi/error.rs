//! [`RingwireError`]: the one error the bindings throw. Flat on purpose: each variant is a
//! category an app can switch on, and its message (the engine's own, which says what to do)
//! travels as the exception's text.

use ringwire_core::CoreError;
use ringwire_engine::EngineError;

/// Everything a binding call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
#[non_exhaustive]
pub enum RingwireError {
    /// An argument from the app is malformed: a call id that is not 32 lowercase hex digits, an
    /// invalid user name, a push payload that is not a ringwire push, too many samples.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The configuration cannot be used (server URL, token, tone frequency, audio ring size).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The engine could not start (no UDP socket could be bound, no thread).
    #[error("{0}")]
    Startup(String),
    /// The engine refused the command (unknown call, wrong state, too many calls).
    #[error("{0}")]
    Refused(String),
    /// The server refused this device for good (token unknown or revoked, protocol too new).
    #[error("{0}")]
    Signaling(String),
    /// The engine was shut down (or stopped after a fatal error); create a new one.
    #[error("the engine has stopped; create a new Engine")]
    Stopped,
    /// An engine method was called from inside a listener callback, on the engine thread,
    /// which would wait for itself. Hand the work to another thread or queue.
    #[error(
        "engine methods cannot be called from a listener callback (they would wait for the engine thread, which is running the callback); dispatch to another queue first"
    )]
    CalledFromListener,
    /// The host audio device already feeds another engine.
    #[error("this HostAudioDevice already feeds an engine; create one device per engine")]
    AudioDeviceInUse,
}

impl From<EngineError> for RingwireError {
    fn from(error: EngineError) -> Self {
        let text = error.to_string();
        match error {
            EngineError::InvalidInput(_) => RingwireError::InvalidArgument(text),
            EngineError::Url(_) | EngineError::Config(_) => RingwireError::InvalidConfig(text),
            EngineError::Bind(_) | EngineError::Runtime(_) | EngineError::NoRuntime => {
                RingwireError::Startup(text)
            }
            EngineError::Stopped | EngineError::Closed => RingwireError::Stopped,
            EngineError::Unauthorized
            | EngineError::UnsupportedVersion
            | EngineError::Replaced
            | EngineError::SignalingDown => RingwireError::Signaling(text),
            EngineError::Core(
                CoreError::BadPush { .. }
                | CoreError::BadSdp { .. }
                | CoreError::BadCandidate { .. },
            ) => RingwireError::InvalidArgument(text),
            EngineError::Core(CoreError::Config(_)) => RingwireError::InvalidConfig(text),
            // Core refusals and anything the engine adds later: the engine's message says it.
            _ => RingwireError::Refused(text),
        }
    }
}
