//! The bridge's one error type. Each variant has a stable `code` the UI switches on; the
//! message says what to do.

use thiserror::Error;

/// A command the bridge refused. The UI gets it as `{"ok":false,"error":{"code","message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BridgeError {
    #[error("command is {len} bytes; the limit is {max}: send one small JSON object")]
    TooLarge { len: usize, max: usize },
    #[error("command is not a JSON object with \"id\" and \"cmd\": {detail}")]
    Malformed { detail: String },
    #[error("unknown command {cmd:?}; see docs/bridge.md for the list")]
    UnknownCommand { cmd: String },
    #[error("invalid {field}: {detail}")]
    InvalidField { field: &'static str, detail: String },
    #[error("no call {call_id} on this device; ask for a snapshot")]
    UnknownCall { call_id: String },
    #[error("the engine refused: {detail}")]
    Engine { detail: String },
}

impl BridgeError {
    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            BridgeError::TooLarge { .. } => "too_large",
            BridgeError::Malformed { .. } => "malformed_json",
            BridgeError::UnknownCommand { .. } => "unknown_command",
            BridgeError::InvalidField { .. } => "invalid_field",
            BridgeError::UnknownCall { .. } => "unknown_call",
            BridgeError::Engine { .. } => "engine",
        }
    }
}
