//! ICE server URLs (RFC 7064 `stun:`, RFC 7065 `turn:`/`turns:`) parsed into what a driver needs
//! to reach the server: scheme, host (an IP literal or a name to resolve), port and transport.
//!
//! Names are not resolved here: the driver resolves them through the system resolver (so DNS64
//! on a NAT64 network synthesises an address) and builds a [`crate::TurnClient`] or
//! [`crate::StunBinding`] per address it wants to try.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use crate::Error;

/// The URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `stun:` — server-reflexive discovery only.
    Stun,
    /// `turn:` — relay over UDP or TCP.
    Turn,
    /// `turns:` — relay over TLS over TCP (the driver runs TLS).
    Turns,
}

/// The transport to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Datagrams: one message per datagram.
    Udp,
    /// A byte stream (TCP, or TLS over TCP): messages framed by [`crate::StreamFramer`].
    Tcp,
}

/// The server's host: an address literal, or a name for the driver to resolve.
#[derive(Clone, PartialEq, Eq)]
pub enum Host {
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
    /// A DNS name.
    Name(String),
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Name(name) => write!(f, "{name}"),
        }
    }
}

/// A parsed ICE server URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServerUrl {
    /// `stun`, `turn` or `turns`.
    pub scheme: Scheme,
    /// Where the server is.
    pub host: Host,
    /// The port (3478 by default, 5349 for `turns`).
    pub port: u16,
    /// UDP or TCP (`turns` is always TCP, `stun` always UDP).
    pub transport: Transport,
}

impl IceServerUrl {
    /// Parses `stun:host[:port]`, `turn:host[:port][?transport=udp|tcp]` or
    /// `turns:host[:port][?transport=tcp]`; IPv6 literals go in brackets.
    pub fn parse(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::InvalidUrl(format!("{why}: {url:.100}"));
        let (scheme, rest) = url.split_once(':').ok_or_else(|| bad("no scheme"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "stun" => Scheme::Stun,
            "turn" => Scheme::Turn,
            "turns" => Scheme::Turns,
            _ => return Err(bad("scheme is not stun, turn or turns")),
        };
        let (hostport, query) = match rest.split_once('?') {
            Some((h, q)) => (h, Some(q)),
            None => (rest, None),
        };
        let transport = match (scheme, query) {
            (Scheme::Stun, None) | (Scheme::Turn, None) => Transport::Udp,
            (Scheme::Turns, None) => Transport::Tcp,
            (Scheme::Stun, Some(_)) => return Err(bad("stun: URLs take no query")),
            (_, Some(q)) => match q.to_ascii_lowercase().as_str() {
                "transport=udp" if scheme == Scheme::Turn => Transport::Udp,
                "transport=tcp" => Transport::Tcp,
                "transport=udp" => return Err(bad("turns over UDP (DTLS) is not supported")),
                _ => return Err(bad("query is not transport=udp or transport=tcp")),
            },
        };
        let default_port = if scheme == Scheme::Turns { 5349 } else { 3478 };
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("bad host or port"))?;
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("bad port"))?,
            None => default_port,
        };
        Ok(IceServerUrl {
            scheme,
            host,
            port,
            transport,
        })
    }

    /// Whether this server relays (TURN) rather than only reflects (STUN).
    pub fn is_turn(&self) -> bool {
        self.scheme != Scheme::Stun
    }

    /// Whether the driver must run TLS on the TCP connection.
    pub fn is_tls(&self) -> bool {
        self.scheme == Scheme::Turns
    }

    /// The server address when the host is a literal; `None` for a name (resolve it).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.host {
            Host::Ip(ip) => Some(SocketAddr::new(ip, self.port)),
            Host::Name(_) => None,
        }
    }
}

impl FromStr for IceServerUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        IceServerUrl::parse(s)
    }
}

fn split_host_port(s: &str) -> Option<(Host, Option<&str>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = ip.parse().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        return Some((Host::Ip(IpAddr::V6(ip)), port));
    }
    let (host, port) = match s.split_once(':') {
        Some((h, p)) if !p.contains(':') => (h, Some(p)),
        Some(_) => return None, // an unbracketed IPv6 literal is ambiguous
        None => (s, None),
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some((Host::Ip(ip), port));
    }
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    valid.then(|| (Host::Name(host.to_ascii_lowercase()), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> IceServerUrl {
        IceServerUrl::parse(s).unwrap()
    }

    #[test]
    fn parses_the_forms_the_server_hands_out() {
        let u = url("stun:turn.example.org:3478");
        assert_eq!(
            (u.scheme, u.port, u.transport),
            (Scheme::Stun, 3478, Transport::Udp)
        );
        assert_eq!(u.host, Host::Name("turn.example.org".into()));
        assert_eq!(u.socket_addr(), None);
        let u = url("turn:turn.example.org?transport=tcp");
        assert_eq!(
            (u.scheme, u.port, u.transport),
            (Scheme::Turn, 3478, Transport::Tcp)
        );
        let u = url("turns:turn.example.org:443?transport=tcp");
        assert_eq!(
            (u.port, u.transport, u.is_tls()),
            (443, Transport::Tcp, true)
        );
        assert_eq!(url("turns:t.example").port, 5349);
        assert_eq!(
            url("TURN:t.example?Transport=UDP").transport,
            Transport::Udp
        );
    }

    #[test]
    fn parses_ip_literals() {
        assert_eq!(
            url("turn:127.0.0.1:3479").socket_addr(),
            Some("127.0.0.1:3479".parse().unwrap())
        );
        assert_eq!(
            url("stun:[2001:db8::1]:19302").socket_addr(),
            Some("[2001:db8::1]:19302".parse().unwrap())
        );
        assert_eq!(
            url("stun:[::1]").socket_addr(),
            Some("[::1]:3478".parse().unwrap())
        );
    }

    #[test]
    fn rejects_what_cannot_be_used() {
        for bad in [
            "http://x",
            "stun:",
            "stun:x:0",
            "stun:x:65536",
            "stun:x?transport=udp",
            "turn:x?transport=sctp",
            "turns:x?transport=udp",
            "turn:2001:db8::1",
            "turn:[2001:db8::1",
            "turn:[2001:db8::1]x",
            "turn:bad host",
            "turn:a..b",
            "stuns:x",
        ] {
            assert!(IceServerUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
