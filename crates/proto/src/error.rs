//! Errors: [`ProtoError`] for frames that fail to decode, and [`ErrorCode`], the closed set of
//! codes the server puts in `error` messages (decode failures and call-logic refusals alike).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A frame that could not be turned into a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The frame exceeds [`crate::MAX_FRAME_BYTES`].
    #[error("frame is {size} bytes; the limit is {limit} bytes")]
    FrameTooLarge { size: usize, limit: usize },
    /// Not JSON, or not a JSON object.
    #[error("frame is not a JSON object: {0}")]
    Malformed(String),
    /// `type` names no message of this protocol version.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A required field is absent.
    #[error("missing field `{0}`")]
    MissingField(String),
    /// An id field is not 32 lowercase hex digits.
    #[error("field `{field}`: {detail}")]
    InvalidId { field: String, detail: String },
    /// A field has the wrong JSON type or an invalid value.
    #[error("field `{field}`: {detail}")]
    InvalidField { field: String, detail: String },
    /// A push payload (not a frame) that is not a ringwire push this version can read.
    #[error("push payload: {0}")]
    PushPayload(String),
}

impl ProtoError {
    /// The wire code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtoError::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
            ProtoError::Malformed(_) => ErrorCode::MalformedJson,
            ProtoError::UnknownType(_) => ErrorCode::UnknownType,
            ProtoError::MissingField(_) => ErrorCode::MissingField,
            ProtoError::InvalidId { .. } => ErrorCode::InvalidId,
            ProtoError::InvalidField { .. } | ProtoError::PushPayload(_) => ErrorCode::InvalidField,
        }
    }
}

/// Codes carried by the `error` message. Stable: clients switch on them.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not a JSON object.
    MalformedJson,
    /// The `type` is not a message of this protocol version.
    UnknownType,
    /// A required field is missing.
    MissingField,
    /// A field has the wrong type or an invalid value.
    InvalidField,
    /// An id is not 32 lowercase hex digits.
    InvalidId,
    /// The frame exceeds 64 KiB.
    FrameTooLarge,
    /// `hello` offered no version the server speaks. The connection is closed.
    UnsupportedVersion,
    /// A message other than `hello` arrived first, or `hello` arrived twice.
    HelloRequired,
    /// The device token is missing, unknown or revoked. The connection is closed.
    Unauthorized,
    /// The device is not a participant of the call it named.
    NotAParticipant,
    /// No call with that id is known (it never existed, or ended long ago).
    UnknownCall,
    /// The message is not valid in the call's current state (e.g. `accept` after the call ended).
    InvalidState,
    /// `invite` named a user that does not exist.
    UserNotFound,
    /// `invite` named the caller's own user.
    CannotCallSelf,
    /// `invite` reused the id of an existing call.
    DuplicateCall,
    /// Too many invites (or messages) in a short time; retry after `retry_after_ms`.
    RateLimited,
    /// `invite` named a user who already has the most calls ringing at once that the server
    /// allows; no call was created.
    TooManyCalls,
    /// The relay target device is not connected right now.
    PeerUnavailable,
    /// Another connection authenticated as the same device; this one is closed.
    Replaced,
    /// The server is shutting down; reconnect with backoff.
    ShuttingDown,
    /// Nothing arrived on the connection for 60 seconds; it is closed. Reconnect.
    IdleTimeout,
    /// The connection did not read its messages fast enough and fell behind; it is closed.
    TooSlow,
    /// The server failed; the message was not processed. Retrying may work.
    Internal,
    /// This device already uploaded a `call_timeline` for the call; nothing was changed. An
    /// upload is idempotent: treat this like `timeline_stored`.
    AlreadyStored,
}

impl ErrorCode {
    /// Every code, for exhaustive tests and documentation.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::MalformedJson,
        ErrorCode::UnknownType,
        ErrorCode::MissingField,
        ErrorCode::InvalidField,
        ErrorCode::InvalidId,
        ErrorCode::FrameTooLarge,
        ErrorCode::UnsupportedVersion,
        ErrorCode::HelloRequired,
        ErrorCode::Unauthorized,
        ErrorCode::NotAParticipant,
        ErrorCode::UnknownCall,
        ErrorCode::InvalidState,
        ErrorCode::UserNotFound,
        ErrorCode::CannotCallSelf,
        ErrorCode::DuplicateCall,
        ErrorCode::RateLimited,
        ErrorCode::TooManyCalls,
        ErrorCode::PeerUnavailable,
        ErrorCode::Replaced,
        ErrorCode::ShuttingDown,
        ErrorCode::IdleTimeout,
        ErrorCode::TooSlow,
        ErrorCode::Internal,
        ErrorCode::AlreadyStored,
    ];

    /// The wire spelling (`snake_case`), also used as the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::MissingField => "missing_field",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::InvalidId => "invalid_id",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::HelloRequired => "hello_required",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::NotAParticipant => "not_a_participant",
            ErrorCode::UnknownCall => "unknown_call",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::UserNotFound => "user_not_found",
            ErrorCode::CannotCallSelf => "cannot_call_self",
            ErrorCode::DuplicateCall => "duplicate_call",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooManyCalls => "too_many_calls",
            ErrorCode::PeerUnavailable => "peer_unavailable",
            ErrorCode::Replaced => "replaced",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::IdleTimeout => "idle_timeout",
            ErrorCode::TooSlow => "too_slow",
            ErrorCode::Internal => "internal",
            ErrorCode::AlreadyStored => "already_stored",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_spelling_matches_serde() {
        for c in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_string(c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
    }
}
