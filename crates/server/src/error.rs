//! The server crate's error type: what stops the server from starting or running, each with a
//! message that says what to fix.

use crate::store::StoreError;

/// Why the server could not start or had to stop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A configuration value is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The store could not be opened or failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another server running there? pick another --listen)")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("serving HTTP: {0}")]
    Serve(std::io::Error),
    /// Clustering failed: NATS or the leader election (the text says which and what to check).
    #[error("cluster: {0}")]
    Cluster(String),
}
