//! The engine crate's one error type; each message says what to do.

/// Everything that can go wrong in the driver or be refused by the app-facing API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The signaling connection is down and the message cannot wait for it (relays, pings).
    #[error("signaling is down; the message was dropped (the engine reconnects by itself)")]
    SignalingDown,
    /// The server URL is not usable.
    #[error("bad signaling URL {0}: use ws://host:port/v1/ws or wss://…")]
    Url(String),
    /// The server refused the device token: it is unknown or revoked.
    #[error("the server refused this device's token ({0}): add the device again with `ringwire device add`")]
    Unauthorized(String),
    /// The server speaks no protocol version we do.
    #[error("the server speaks no protocol version this engine knows ({0}): upgrade the app or the server")]
    UnsupportedVersion(String),
    /// No media socket could be bound.
    #[error("cannot bind a UDP socket for media: {0}")]
    Bind(String),
    /// The engine thread or its runtime could not start.
    #[error("the engine could not start: {0}")]
    Runtime(String),
    /// The engine has stopped; create a new one.
    #[error("the engine has stopped")]
    Stopped,
    /// An argument from the app is invalid (a malformed user name, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The call engine refused a command.
    #[error(transparent)]
    Core(#[from] ringwire_core::CoreError),
}
