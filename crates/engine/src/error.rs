//! [`EngineError`]: the one error type of the engine crate. Every message says what the caller
//! should do about it.

/// Everything that can go wrong in the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A relay (`offer`, `answer`, `candidate`) or `ping` was sent while the signaling
    /// connection is down. These are not queued.
    #[error(
        "signaling is not connected: relays and pings are not queued; send them again after the next Connected event (an ICE restart is usually needed)"
    )]
    SignalingDown,
    /// The signaling URL cannot be used.
    #[error("invalid signaling URL ({0}); use ws://host:port/v1/ws or wss://host/v1/ws")]
    Url(String),
    /// Some other configuration value cannot be used.
    #[error("invalid signaling configuration: {0}")]
    Config(String),
    /// The server rejected the device token (`error unauthorized`, close 4401). Fatal.
    #[error(
        "the server rejected the device token (unauthorized): it is missing, unknown or revoked; obtain a new token and create a new client"
    )]
    Unauthorized,
    /// The server speaks no protocol version this client speaks (close 4406). Fatal.
    #[error(
        "the server speaks no protocol version this client supports (unsupported_version); update the app"
    )]
    UnsupportedVersion,
    /// Another connection of this device took over (`error replaced`, close 4409). Fatal.
    #[error(
        "another connection with this device's token took over (replaced); do not reconnect automatically, or the two will keep replacing each other"
    )]
    Replaced,
    /// The signaling client has stopped: it was shut down, or stopped after a fatal error.
    #[error(
        "the signaling client has stopped (shut down, or after a fatal error); create a new one"
    )]
    Closed,
    /// `spawn` was called outside a tokio runtime.
    #[error("no tokio runtime: call SignalingClient::spawn from within a tokio runtime")]
    NoRuntime,
    /// The message may not be sent through [`crate::SignalingClient::send`].
    #[error("{0}")]
    NotSendable(&'static str),
    /// No media socket could be bound.
    #[error("cannot bind a UDP socket for media: {0}")]
    Bind(String),
    /// The engine thread or its runtime could not start.
    #[error("the engine could not start: {0}")]
    Runtime(String),
    /// The engine has stopped; create a new one.
    #[error("the engine has stopped; create a new Engine")]
    Stopped,
    /// An argument from the app is invalid (a malformed user name, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The call engine refused a command (unknown call, wrong state, too many calls, a push
    /// that is not a ringwire push); match on the core error to tell which.
    #[error(transparent)]
    Core(#[from] ringwire_core::CoreError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringwire_core::CoreError;

    #[test]
    fn a_core_refusal_keeps_its_type_and_its_message() {
        let core = CoreError::TooManyCalls { max: 2 };
        let error = EngineError::from(core.clone());
        assert!(
            matches!(error, EngineError::Core(CoreError::TooManyCalls { max: 2 })),
            "an app must be able to match on the core error: {error:?}"
        );
        assert_eq!(error.to_string(), core.to_string());
    }
}
