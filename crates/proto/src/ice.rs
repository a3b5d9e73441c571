//! ICE servers as the server hands them to a device: [`IceServer`] has the shape of WebRTC's
//! `RTCIceServer` (`{"urls": [...], "username": "...", "credential": "..."}`), each URL parsed
//! into an [`IceUrl`] (RFC 7064 `stun:` and RFC 7065 `turn:`/`turns:` URIs). The same parser
//! checks `ringwire serve`'s configured URLs at startup and every URL a device decodes, so a
//! device only ever sees URLs a WebRTC stack accepts.
//!
//! Bounds: at most [`MAX_ICE_SERVERS`] servers, [`MAX_ICE_URLS`] URLs per server, URLs of at
//! most [`MAX_ICE_URL_BYTES`] bytes, usernames and credentials of at most
//! [`MAX_ICE_CREDENTIAL_BYTES`] printable ASCII bytes. A server with a `turn:`/`turns:` URL must
//! carry both a username and a credential (a browser refuses it otherwise); a credential never
//! comes without a username.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::ids::INVALID_VALUE_PREFIX;

/// Most ICE servers in one list.
pub const MAX_ICE_SERVERS: usize = 8;
/// Most URLs in one [`IceServer`].
pub const MAX_ICE_URLS: usize = 8;
/// Longest URL.
pub const MAX_ICE_URL_BYTES: usize = 256;
/// Longest username or credential.
pub const MAX_ICE_CREDENTIAL_BYTES: usize = 256;

/// The scheme of an ICE server URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IceScheme {
    /// `stun:` — a STUN server (server-reflexive candidates).
    Stun,
    /// `turn:` — a TURN server over UDP or TCP (relay candidates).
    Turn,
    /// `turns:` — a TURN server over TLS.
    Turns,
}

impl IceScheme {
    /// Whether this is a TURN scheme (needs credentials).
    pub fn is_turn(self) -> bool {
        matches!(self, IceScheme::Turn | IceScheme::Turns)
    }

    /// The port a URL without one means: 3478, or 5349 for `turns:`.
    pub fn default_port(self) -> u16 {
        match self {
            IceScheme::Stun | IceScheme::Turn => 3478,
            IceScheme::Turns => 5349,
        }
    }
}

/// The `?transport=` of a TURN URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IceTransport {
    Udp,
    Tcp,
}

/// The host part of an ICE server URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IceHost {
    /// A DNS name (resolved by the device, so DNS64 can synthesise an address).
    Name(String),
    V4(Ipv4Addr),
    /// Written in brackets in the URL.
    V6(Ipv6Addr),
}

/// One checked ICE server URL, such as `turn:turn.example.org:3478?transport=tcp`. Keeps the
/// text it was parsed from, which is also what it serializes to.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(type = "string"))]
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IceUrl {
    text: String,
    scheme: IceScheme,
    host: IceHost,
    port: Option<u16>,
    transport: Option<IceTransport>,
}

impl IceUrl {
    /// Parses and checks one URL; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<IceUrl, String> {
        if text.is_empty() || text.len() > MAX_ICE_URL_BYTES {
            return Err(format!("an ICE URL must be 1-{MAX_ICE_URL_BYTES} bytes"));
        }
        let (scheme_text, rest) = text
            .split_once(':')
            .ok_or_else(|| format!("{text:?} has no scheme; use stun:, turn: or turns:"))?;
        let scheme = match scheme_text.to_ascii_lowercase().as_str() {
            "stun" => IceScheme::Stun,
            "turn" => IceScheme::Turn,
            "turns" => IceScheme::Turns,
            _ => {
                return Err(format!(
                    "{text:?} has scheme {scheme_text:?}; use stun:, turn: or turns:"
                ))
            }
        };
        if rest.starts_with("//") {
            return Err(format!(
                "{text:?}: ICE URLs have no \"//\" (write {scheme_text}:host:port)"
            ));
        }
        let (authority, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let transport = match query {
            None => None,
            Some(_) if scheme == IceScheme::Stun => {
                return Err(format!("{text:?}: a stun: URL takes no ?transport="))
            }
            Some(q) => Some(match q.to_ascii_lowercase().as_str() {
                "transport=udp" => IceTransport::Udp,
                "transport=tcp" => IceTransport::Tcp,
                _ => {
                    return Err(format!(
                        "{text:?}: the query must be ?transport=udp or ?transport=tcp"
                    ))
                }
            }),
        };
        let (host, port) = parse_authority(authority).map_err(|e| format!("{text:?}: {e}"))?;
        Ok(IceUrl {
            text: text.to_owned(),
            scheme,
            host,
            port,
            transport,
        })
    }

    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn scheme(&self) -> IceScheme {
        self.scheme
    }

    pub fn host(&self) -> &IceHost {
        &self.host
    }

    /// The port written in the URL, if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The port to use: the written one or the scheme's default.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(self.scheme.default_port())
    }

    /// The `?transport=` written in the URL, if any.
    pub fn transport(&self) -> Option<IceTransport> {
        self.transport
    }
}

fn parse_authority(authority: &str) -> Result<(IceHost, Option<u16>), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address needs a closing ]")?;
        let ip: Ipv6Addr = v6
            .parse()
            .map_err(|_| format!("{v6:?} is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("expected :port after ]")?),
        };
        (IceHost::V6(ip), port)
    } else {
        let (h, port) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        let host = if let Ok(ip) = h.parse::<Ipv4Addr>() {
            IceHost::V4(ip)
        } else if is_dns_name(h) {
            IceHost::Name(h.to_owned())
        } else {
            return Err(format!(
                "{h:?} is not a host name, an IPv4 address or a bracketed IPv6 address"
            ));
        };
        (host, port)
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(format!("{p:?} is not a port (1-65535)")),
        },
    };
    Ok((host, port))
}

/// Letters, digits, `-` and `.`; labels of 1-63 bytes not starting or ending with `-`; not
/// all digits and dots (that is an IPv4 address, checked before).
fn is_dns_name(h: &str) -> bool {
    let h = h.strip_suffix('.').unwrap_or(h);
    !h.is_empty()
        && h.len() <= 253
        && !h.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl TryFrom<String> for IceUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        IceUrl::parse(&s).map_err(|e| format!("{INVALID_VALUE_PREFIX}: {e}"))
    }
}

impl From<IceUrl> for String {
    fn from(u: IceUrl) -> String {
        u.text
    }
}

impl std::str::FromStr for IceUrl {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        IceUrl::parse(s)
    }
}

impl fmt::Display for IceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for IceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IceUrl({})", self.text)
    }
}

/// One ICE server, shaped like WebRTC's `RTCIceServer`: pass it to `RTCPeerConnection`
/// unchanged. Build one with [`IceServer::new`], which enforces the module's rules.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(as = "RawIceServer"))]
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawIceServer", into = "RawIceServer")]
pub struct IceServer {
    urls: Vec<IceUrl>,
    username: Option<String>,
    credential: Option<String>,
}

impl IceServer {
    /// Checks the URLs and credentials together; the error says what is wrong.
    pub fn new(
        urls: Vec<IceUrl>,
        username: Option<String>,
        credential: Option<String>,
    ) -> Result<IceServer, String> {
        if urls.is_empty() || urls.len() > MAX_ICE_URLS {
            return Err(format!("an ICE server needs 1-{MAX_ICE_URLS} urls"));
        }
        for (name, value) in [("username", &username), ("credential", &credential)] {
            if let Some(v) = value {
                if v.is_empty()
                    || v.len() > MAX_ICE_CREDENTIAL_BYTES
                    || !v.bytes().all(|b| b.is_ascii_graphic())
                {
                    return Err(format!(
                        "{name} must be 1-{MAX_ICE_CREDENTIAL_BYTES} printable ASCII bytes"
                    ));
                }
            }
        }
        if credential.is_some() && username.is_none() {
            return Err("a credential needs a username".into());
        }
        let turn = urls.iter().any(|u| u.scheme().is_turn());
        if turn && (username.is_none() || credential.is_none()) {
            return Err(
                "a server with turn: or turns: urls needs a username and a credential".into(),
            );
        }
        Ok(IceServer {
            urls,
            username,
            credential,
        })
    }

    /// The server's URLs (at least one).
    pub fn urls(&self) -> &[IceUrl] {
        &self.urls
    }

    /// The TURN username (`<expiry unix time>:<device id>` from ringwire's server).
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The TURN password.
    pub fn credential(&self) -> Option<&str> {
        self.credential.as_deref()
    }
}

impl fmt::Debug for IceServer {
    // The credential is a password: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceServer")
            .field("urls", &self.urls)
            .field("username", &self.username)
            .field(
                "credential",
                &self.credential.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The wire form of [`IceServer`], checked by `TryFrom`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "IceServer", optional_fields))]
#[derive(Serialize, Deserialize)]
struct RawIceServer {
    urls: Vec<IceUrl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credential: Option<String>,
}

impl TryFrom<RawIceServer> for IceServer {
    type Error = String;
    fn try_from(raw: RawIceServer) -> Result<Self, String> {
        IceServer::new(raw.urls, raw.username, raw.credential)
            .map_err(|e| format!("{INVALID_VALUE_PREFIX}: ice server: {e}"))
    }
}

impl From<IceServer> for RawIceServer {
    fn from(s: IceServer) -> RawIceServer {
        RawIceServer {
            urls: s.urls,
            username: s.username,
            credential: s.credential,
        }
    }
}

/// A list of at most [`MAX_ICE_SERVERS`] ICE servers (serde helper for the message fields).
pub(crate) fn bounded_servers<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<IceServer>, D::Error> {
    let servers = Vec::<IceServer>::deserialize(d)?;
    if servers.len() > MAX_ICE_SERVERS {
        return Err(serde::de::Error::custom(format!(
            "{INVALID_VALUE_PREFIX}: at most {MAX_ICE_SERVERS} ice servers"
        )));
    }
    Ok(servers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_urls_parse_into_their_parts() {
        let u = IceUrl::parse("turn:turn.example.org:3478?transport=tcp").unwrap();
        assert_eq!(u.scheme(), IceScheme::Turn);
        assert_eq!(u.host(), &IceHost::Name("turn.example.org".into()));
        assert_eq!(u.port(), Some(3478));
        assert_eq!(u.transport(), Some(IceTransport::Tcp));
        let u = IceUrl::parse("stun:198.18.0.1").unwrap();
        assert_eq!(u.host(), &IceHost::V4(Ipv4Addr::new(198, 18, 0, 1)));
        assert_eq!(u.port_or_default(), 3478);
        let u = IceUrl::parse("turns:[2001:2::1]:5349?transport=tcp").unwrap();
        assert_eq!(u.host(), &IceHost::V6("2001:2::1".parse().unwrap()));
        assert_eq!(
            IceUrl::parse("turns:x.org").unwrap().port_or_default(),
            5349
        );
        assert_eq!(
            IceUrl::parse("TURN:a.b?transport=UDP").unwrap().scheme(),
            IceScheme::Turn
        );
        assert!(IceUrl::parse("stun:localhost").is_ok());
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, why) in [
            ("", "1-256"),
            ("turn.example.org", "scheme"),
            ("http://x.org", "scheme"),
            ("stun://x.org", "//"),
            ("stun:x.org?transport=udp", "no ?transport"),
            ("turn:x.org?transport=sctp", "transport=udp"),
            ("turn:x.org:0", "port"),
            ("turn:x.org:65536", "port"),
            ("turn:x.org:+1", "port"),
            ("turn:x.org:", "port"),
            ("turn:", "host"),
            ("turn:bad_host", "host"),
            ("turn:-a.org", "host"),
            ("turn:[::1", "]"),
            ("turn:[nope]", "IPv6"),
            ("turn:[::1]3478", ":port"),
            ("turn:1.2.3", "host"),
        ] {
            let err = IceUrl::parse(url).unwrap_err();
            assert!(err.contains(why), "{url}: {err}");
        }
        assert!(IceUrl::parse(&format!("stun:{}.org", "a".repeat(300))).is_err());
    }

    fn url(s: &str) -> IceUrl {
        IceUrl::parse(s).unwrap()
    }

    #[test]
    fn turn_servers_need_credentials() {
        assert!(IceServer::new(vec![url("stun:x.org")], None, None).is_ok());
        assert!(IceServer::new(vec![url("turn:x.org")], None, None).is_err());
        assert!(IceServer::new(vec![url("turn:x.org")], Some("u".into()), None).is_err());
        assert!(IceServer::new(vec![url("stun:x.org")], None, Some("c".into())).is_err());
        assert!(IceServer::new(vec![], None, None).is_err());
        assert!(IceServer::new(vec![url("stun:x.org"); 9], None, None).is_err());
        assert!(IceServer::new(
            vec![url("turn:x.org")],
            Some("a b".into()),
            Some("c".into())
        )
        .is_err());
        let ok = IceServer::new(
            vec![url("turn:x.org"), url("stun:x.org")],
            Some("1700000000:0101".into()),
            Some("c2VjcmV0".into()),
        )
        .unwrap();
        assert!(
            !format!("{ok:?}").contains("c2VjcmV0"),
            "the credential is redacted"
        );
    }

    #[test]
    fn wire_shape_is_rtc_ice_server() {
        let s = IceServer::new(vec![url("stun:x.org")], None, None).unwrap();
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"urls":["stun:x.org"]}"#
        );
        let t: IceServer = serde_json::from_str(
            r#"{"urls":["turn:x.org?transport=udp"],"username":"1:d","credential":"pw"}"#,
        )
        .unwrap();
        assert_eq!(t.username(), Some("1:d"));
        assert_eq!(t.credential(), Some("pw"));
        assert!(serde_json::from_str::<IceServer>(r#"{"urls":["turn:x.org"]}"#).is_err());
    }
}
