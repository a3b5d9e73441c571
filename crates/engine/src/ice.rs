//! The ICE servers an engine gathers from, as the app (or the server's `welcome`) gives them:
//! [`IceServerConfig`], shaped like WebRTC's `RTCIceServer` (`urls`, `username`,
//! `credential`). The driver parses the URLs and resolves their hosts through the system
//! resolver (so DNS64 synthesises addresses on a NAT64 network) into the core's resolved
//! [`IceServer`]s; the core never resolves names.

use std::fmt;

use ringwire_core::IceServer;
use ringwire_turn::{Credentials, Host, IceServerUrl};
use tracing::{debug, warn};

/// One ICE server entry (`RTCIceServer`): its URLs (`stun:`, `turn:`, `turns:`) and, for TURN,
/// the long-term credentials (with TURN REST: `<expiry>:<id>` and the HMAC password).
/// `Debug` hides the credential.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IceServerConfig {
    /// `stun:host[:port]`, `turn:host[:port][?transport=udp|tcp]`, `turns:host[:port]`.
    pub urls: Vec<String>,
    /// The TURN username.
    pub username: Option<String>,
    /// The TURN password.
    pub credential: Option<String>,
}

impl fmt::Debug for IceServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceServerConfig")
            .field("urls", &self.urls)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// One configured URL, parsed, with the credentials of its entry.
pub(crate) struct ParsedServer {
    url: IceServerUrl,
    credentials: Option<Credentials>,
}

/// Parses every URL once; a URL that does not parse is logged and left out (gathering
/// failures are never fatal).
pub(crate) fn parse(configs: &[IceServerConfig]) -> Vec<ParsedServer> {
    let mut parsed = Vec::new();
    for config in configs {
        let credentials = match (&config.username, &config.credential) {
            (Some(username), Some(password)) => Some(Credentials {
                username: username.clone(),
                password: password.clone(),
            }),
            _ => None,
        };
        for url in &config.urls {
            match IceServerUrl::parse(url) {
                Ok(url) => parsed.push(ParsedServer {
                    url,
                    credentials: credentials.clone(),
                }),
                Err(error) => warn!(%error, "ICE server URL left out"),
            }
        }
    }
    parsed
}

/// The resolved list at once when every URL names an IP address (nothing to look up), so a
/// call that starts right after `welcome` (a push-woken phone's) already gathers with it;
/// `None` when some host is a name and [`resolve`] must run.
pub(crate) fn literals(parsed: &[ParsedServer]) -> Option<Vec<IceServer>> {
    parsed
        .iter()
        .map(|p| match p.url.host {
            Host::Ip(ip) => Some(IceServer {
                addr: std::net::SocketAddr::new(ip, p.url.port),
                url: p.url.clone(),
                credentials: p.credentials.clone(),
            }),
            Host::Name(_) => None,
        })
        .collect()
}

/// Resolves every parsed URL through the system resolver; a name that does not resolve is
/// logged and left out. A name gives one server per resolved address family (the first
/// address of each).
pub(crate) async fn resolve(parsed: Vec<ParsedServer>) -> Vec<IceServer> {
    let mut servers = Vec::new();
    for ParsedServer { url, credentials } in parsed {
        let addrs = match &url.host {
            Host::Ip(ip) => vec![std::net::SocketAddr::new(*ip, url.port)],
            Host::Name(name) => match tokio::net::lookup_host((name.as_str(), url.port)).await {
                Ok(found) => {
                    let found: Vec<_> = found.collect();
                    let v4 = found.iter().find(|a| a.is_ipv4()).copied();
                    let v6 = found.iter().find(|a| a.is_ipv6()).copied();
                    v4.into_iter().chain(v6).collect()
                }
                Err(error) => {
                    warn!(%error, "ICE server name does not resolve; left out");
                    continue;
                }
            },
        };
        for addr in addrs {
            debug!(host = ?url.host, "ICE server resolved");
            servers.push(IceServer {
                url: url.clone(),
                addr,
                credentials: credentials.clone(),
            });
        }
    }
    servers
}
