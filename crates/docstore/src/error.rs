//! The crate's one error type, [`DocStoreError`], and the wire codes ([`ErrorCode`]) that the
//! server answers with and the clients turn back into errors. Each message says what to do.

use serde::{Deserialize, Serialize};

use crate::doc::MAX_DATA_BYTES;

/// The code of an error answer on the wire (`{"error": {"code": ..., "message": ...}}`).
///
/// Clients match on the code; the message is for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame is not a JSON object with a numeric `id` and string `op`, or an argument is
    /// missing or of the wrong type.
    MalformedFrame,
    /// The `op` is not one this server knows.
    UnknownOp,
    /// A path breaks the path rules, or names a collection where a document is needed (or the
    /// reverse).
    InvalidPath,
    /// Document data is not a JSON object.
    InvalidData,
    /// Document data is larger than 64 KiB serialized.
    DataTooLarge,
    /// A frame is larger than the server's frame limit.
    FrameTooLarge,
    /// `update` of a document that does not exist.
    NotFound,
    /// The connection already has as many listeners as it may.
    TooManyListeners,
    /// `unlisten` of a listener id this connection does not have.
    UnknownListener,
    /// Redis (or the docstore server) cannot be reached.
    Unavailable,
    /// A listener fell so far behind that changes were trimmed before it read them.
    FellBehind,
    /// Something that should not happen; the message says what.
    Internal,
    /// A code this build does not know (a newer server).
    #[serde(other)]
    Unknown,
}

/// Why a docstore operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocStoreError {
    /// A path breaks the path rules.
    #[error(
        "invalid path {path:?}: {reason} (paths are 1 to 8 slash-separated segments of 1-128 \
         bytes of A-Z a-z 0-9 _ -; documents have an even number of segments, collections odd)"
    )]
    InvalidPath { path: String, reason: &'static str },
    /// Document data is not a JSON object.
    #[error("invalid document data: {0} (document data must be a JSON object)")]
    InvalidData(String),
    /// Document data is over the size limit.
    #[error(
        "document data is {size} bytes serialized, over the limit of {MAX_DATA_BYTES} (64 KiB); \
         keep large blobs out of documents"
    )]
    DataTooLarge { size: usize },
    /// `update` of a document that does not exist (Firestore's `not-found`).
    #[error("no document at {path}: create it with set (or add) before updating it")]
    NotFound { path: String },
    /// The listener limit of one connection is reached.
    #[error(
        "this connection already has {limit} listeners: unsubscribe some before listening to more"
    )]
    TooManyListeners { limit: usize },
    /// `unlisten` of an unknown listener.
    #[error(
        "no listener {listener} on this connection (already unsubscribed, or ended by an error)"
    )]
    UnknownListener { listener: u64 },
    /// A listener missed changes that Redis had already trimmed.
    #[error(
        "the listener on {path} fell behind by more than the change log keeps and missed changes; \
         listen again for a fresh snapshot"
    )]
    FellBehind { path: String },
    /// A frame could not be understood.
    #[error("malformed frame: {0}")]
    MalformedFrame(String),
    /// An unknown `op`.
    #[error(
        "unknown op {0:?}: use one of set, update, add, get, delete, delete_collection, list, \
         listen, unlisten"
    )]
    UnknownOp(String),
    /// A frame is over the frame limit.
    #[error(
        "frame of {size} bytes is over the limit of {limit} bytes: keep document data under 64 KiB"
    )]
    FrameTooLarge { size: usize, limit: usize },
    /// The key prefix is not usable.
    #[error("invalid key prefix {0:?}: use 1 to 64 characters of A-Z a-z 0-9 _ - .")]
    InvalidPrefix(String),
    /// Redis failed or cannot be reached.
    #[error(
        "Redis: {0} (is redis-server running at the --redis URL? check with `redis-cli ping`)"
    )]
    Redis(#[from] redis::RedisError),
    /// Redis holds something under the prefix that the docstore did not write.
    #[error("unexpected data in Redis: {0} (is another program writing under this key prefix?)")]
    Corrupt(String),
    /// The docstore server answered with an error.
    #[error("{message} ({code:?})")]
    Remote { code: ErrorCode, message: String },
    /// The WebSocket connection to the docstore server could not be made.
    #[error(
        "cannot connect to the docstore at {url}: {source} (is ringwire-docstore running there?)"
    )]
    Connect {
        url: String,
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The WebSocket connection to the docstore server closed.
    #[error("the connection to the docstore server closed ({0}); connect again")]
    Disconnected(String),
    /// The server sent something the client cannot read.
    #[error("unexpected answer from the docstore server: {0}")]
    Protocol(String),
    /// The operating system's random number generator failed (document ids need it).
    #[error("the OS random number generator failed: {0}")]
    Random(getrandom::Error),
    /// The server could not listen on its address.
    #[error("cannot listen on {addr}: {source} (is something else listening there? pick another --listen)")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// Serving HTTP failed.
    #[error("serving HTTP: {0}")]
    Serve(#[source] std::io::Error),
}

impl DocStoreError {
    /// The wire code for this error: what the server answers with, and what a client matches on
    /// whether the error was found locally or answered by the server.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidPath { .. } => ErrorCode::InvalidPath,
            Self::InvalidData(_) => ErrorCode::InvalidData,
            Self::DataTooLarge { .. } => ErrorCode::DataTooLarge,
            Self::NotFound { .. } => ErrorCode::NotFound,
            Self::TooManyListeners { .. } => ErrorCode::TooManyListeners,
            Self::UnknownListener { .. } => ErrorCode::UnknownListener,
            Self::FellBehind { .. } => ErrorCode::FellBehind,
            Self::MalformedFrame(_) => ErrorCode::MalformedFrame,
            Self::UnknownOp(_) => ErrorCode::UnknownOp,
            Self::FrameTooLarge { .. } => ErrorCode::FrameTooLarge,
            Self::Redis(_) | Self::Connect { .. } | Self::Disconnected(_) => ErrorCode::Unavailable,
            Self::Remote { code, .. } => *code,
            Self::InvalidPrefix(_)
            | Self::Corrupt(_)
            | Self::Protocol(_)
            | Self::Random(_)
            | Self::Bind { .. }
            | Self::Serve(_) => ErrorCode::Internal,
        }
    }
}
