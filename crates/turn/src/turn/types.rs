//! The TURN client's public vocabulary: credentials, configuration, relay family, the events
//! it reports and the peer data it unwraps. `Debug` hides passwords and payloads.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::transaction::RetransmitConfig;
use crate::url::Transport;
use crate::Error;

/// Long-term credentials; with TURN REST these are `<expiry>:<id>` and
/// base64(HMAC-SHA1(secret, username)). `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// USERNAME (at most 513 bytes).
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Which address family to ask the relay for (RFC 6156 / RFC 8656 REQUESTED-ADDRESS-FAMILY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RelayFamily {
    /// IPv4 (the default; no attribute is sent).
    #[default]
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// How to reach the server and what to ask for.
#[derive(Debug, Clone)]
pub struct TurnConfig {
    /// The server's (resolved) address.
    pub server: SocketAddr,
    /// UDP, or TCP (also for TLS over TCP: the driver runs TLS, this client sees plaintext).
    pub transport: Transport,
    /// Long-term credentials.
    pub credentials: Credentials,
    /// The relayed address's family.
    pub relay_family: RelayFamily,
    /// Retransmissions and the per-request deadline.
    pub retransmit: RetransmitConfig,
    /// The LIFETIME asked for (the server may grant less); 600 s by default.
    pub lifetime: Duration,
}

impl TurnConfig {
    /// A configuration with the defaults: IPv4 relay, 600 s lifetime, default retransmits.
    pub fn new(server: SocketAddr, transport: Transport, credentials: Credentials) -> Self {
        TurnConfig {
            server,
            transport,
            credentials,
            relay_family: RelayFamily::Ipv4,
            retransmit: RetransmitConfig::default(),
            lifetime: Duration::from_secs(600),
        }
    }
}

/// A datagram a peer sent to our relayed address, unwrapped.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerData {
    /// The peer's address (str0m's `Receive::source`).
    pub peer: SocketAddr,
    /// The datagram.
    pub data: Vec<u8>,
}

impl fmt::Debug for PeerData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerData")
            .field("len", &self.data.len())
            .finish_non_exhaustive()
    }
}

/// What the TURN client reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TurnEvent {
    /// The allocation exists: `relayed` is the relay candidate's address.
    Allocated {
        /// XOR-RELAYED-ADDRESS: the relay candidate.
        relayed: SocketAddr,
        /// XOR-MAPPED-ADDRESS: our address as the server saw it (a srflx candidate for UDP).
        mapped: Option<SocketAddr>,
        /// The lifetime the server granted.
        lifetime: Duration,
    },
    /// The allocation was refreshed (its lifetime starts again).
    Refreshed {
        /// The lifetime the server granted.
        lifetime: Duration,
    },
    /// A permission for this peer IP is installed (refreshed from now on).
    PermissionCreated(IpAddr),
    /// CreatePermission failed (403 for a peer the server's policy denies, or a timeout).
    PermissionFailed {
        /// The peer IP.
        peer: IpAddr,
        /// Why.
        error: Error,
    },
    /// A channel is bound to this peer; data to it now goes as ChannelData.
    ChannelBound {
        /// The peer.
        peer: SocketAddr,
        /// The channel number.
        channel: u16,
    },
    /// ChannelBind failed; data to the peer still goes as Send indications if permitted.
    ChannelFailed {
        /// The peer.
        peer: SocketAddr,
        /// Why.
        error: Error,
    },
    /// A datagram from a peer, unwrapped from a Data indication or ChannelData.
    Data(PeerData),
    /// The allocation failed or was lost: the client is closed. Typed: [`Error::Unauthorized`]
    /// for wrong or expired credentials, [`Error::Timeout`] for a silent server, …
    Failed(Error),
    /// The allocation was deleted (Refresh with lifetime 0): the client is closed.
    Deallocated,
}
