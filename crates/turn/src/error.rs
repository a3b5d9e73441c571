//! The crate's one error type: malformed input, what a server refused (by STUN error code),
//! timeouts, and misuse of the API.

use std::net::{IpAddr, SocketAddr};

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input that is not a valid STUN message, ChannelData frame or stream; the detail says
    /// which check failed.
    #[error("malformed input: {0}")]
    Malformed(&'static str),
    /// An ICE server URL that cannot be used.
    #[error("invalid ICE server URL: {0}")]
    InvalidUrl(String),
    /// 401 after the request carried our credentials: wrong username or password, or expired
    /// TURN REST credentials.
    #[error("TURN server rejected the credentials (401)")]
    Unauthorized,
    /// 300 Try Alternate: the server sends us to another one (ALTERNATE-SERVER). The driver
    /// may start a new client there (if it trusts the redirect for these credentials).
    #[error("TURN server redirects to another server (300)")]
    TryAlternate(SocketAddr),
    /// The credentials cannot be sent (a USERNAME over 513 bytes).
    #[error("invalid credentials: {0}")]
    InvalidCredentials(&'static str),
    /// 403 Forbidden: the server will not do this (for example a permission to a peer its policy
    /// denies).
    #[error("forbidden by the TURN server (403)")]
    Forbidden,
    /// 437 Allocation Mismatch: the server has no (or another) allocation for this 5-tuple.
    #[error("allocation mismatch (437)")]
    AllocationMismatch,
    /// 438 Stale Nonce came back more times than we retry.
    #[error("stale nonce (438) repeated")]
    StaleNonce,
    /// 442 Unsupported Transport Protocol.
    #[error("unsupported transport protocol (442)")]
    UnsupportedTransport,
    /// 486 Allocation Quota Reached.
    #[error("allocation quota reached (486)")]
    QuotaReached,
    /// 508 Insufficient Capacity.
    #[error("TURN server has insufficient capacity (508)")]
    InsufficientCapacity,
    /// Any other error response.
    #[error("STUN error {code}: {reason}")]
    Server {
        /// The ERROR-CODE number (300–699).
        code: u16,
        /// The reason phrase the server sent.
        reason: String,
    },
    /// The TCP/TLS connection to the server closed.
    #[error("connection to the TURN server closed")]
    ConnectionClosed,
    /// The server sent no answer before the transaction's deadline.
    #[error("no response from the STUN/TURN server")]
    Timeout,
    /// A response lacked an attribute it must carry, or carried a wrong MESSAGE-INTEGRITY.
    #[error("invalid response: {0}")]
    InvalidResponse(&'static str),
    /// The call needs an allocation and there is none (not yet, or not any more).
    #[error("no TURN allocation")]
    NoAllocation,
    /// Data for a peer with no permission installed (create one or bind a channel first).
    #[error("no permission for peer {0}")]
    NoPermission(IpAddr),
    /// All 4,096 channel numbers are bound.
    #[error("no free channel number for {0}")]
    ChannelsExhausted(SocketAddr),
    /// A peer of another address family than the relayed address.
    #[error("peer {0} is not of the relayed address's family")]
    PeerFamily(SocketAddr),
    /// Data too long for one STUN or ChannelData message.
    #[error("payload of {0} bytes is too long to relay")]
    PayloadTooLong(usize),
}

impl Error {
    /// The error for a STUN ERROR-CODE that ends a transaction (not 401/438, which are retried
    /// first).
    pub fn from_code(code: u16, reason: &str) -> Self {
        match code {
            401 => Error::Unauthorized,
            403 => Error::Forbidden,
            437 => Error::AllocationMismatch,
            438 => Error::StaleNonce,
            442 => Error::UnsupportedTransport,
            486 => Error::QuotaReached,
            508 => Error::InsufficientCapacity,
            _ => Error::Server {
                code,
                reason: reason.chars().take(128).collect(),
            },
        }
    }
}
