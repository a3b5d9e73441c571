//! The vocabulary of candidate gathering: the ICE servers the agent gathers from (already
//! resolved by the driver), the ICE transport policy, and the selected candidate pair as the
//! call summary reports it.

use std::fmt;
use std::net::SocketAddr;

use ringwire_turn::{Credentials, Host, IceServerUrl, Scheme, Transport};
use serde::Serialize;

/// One ICE server address to gather from. The driver parses the URL and resolves its host
/// through the system resolver (so DNS64 works); the core never resolves names.
#[derive(Clone, PartialEq, Eq)]
pub struct IceServer {
    /// The parsed URL (scheme, transport, TLS).
    pub url: IceServerUrl,
    /// One resolved address of the server.
    pub addr: SocketAddr,
    /// Long-term credentials; needed for `turn:`/`turns:`, ignored for `stun:`.
    pub credentials: Option<Credentials>,
}

impl IceServer {
    /// The name to check the TLS certificate against (`turns:` only).
    pub fn tls_name(&self) -> Option<String> {
        if !self.url.is_tls() {
            return None;
        }
        Some(match &self.url.host {
            Host::Name(name) => name.clone(),
            Host::Ip(ip) => ip.to_string(),
        })
    }

    /// How the relay is reached, for reports.
    pub fn relay_transport(&self) -> RelayTransport {
        match (self.url.scheme, self.url.transport) {
            (Scheme::Turns, _) => RelayTransport::Tls,
            (_, Transport::Tcp) => RelayTransport::Tcp,
            (_, Transport::Udp) => RelayTransport::Udp,
        }
    }

    /// `scheme:addr?transport=…`, for logs and failure reasons (no credentials).
    pub fn describe(&self) -> String {
        let scheme = match self.url.scheme {
            Scheme::Stun => "stun",
            Scheme::Turn => "turn",
            Scheme::Turns => "turns",
        };
        match self.url.scheme {
            Scheme::Stun => format!("{scheme}:{}", self.addr),
            _ => format!(
                "{scheme}:{}?transport={}",
                self.addr,
                match self.url.transport {
                    Transport::Udp => "udp",
                    Transport::Tcp => "tcp",
                }
            ),
        }
    }
}

impl fmt::Debug for IceServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceServer")
            .field("url", &self.url)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// Which local candidates the connections use (`RTCIceTransportPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IceTransportPolicy {
    /// Host, server-reflexive and relay candidates.
    #[default]
    All,
    /// Relay candidates only: no host or server-reflexive candidate is offered, so the peer
    /// never learns this device's addresses and every path goes through TURN.
    Relay,
}

/// An ICE candidate type.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateType {
    /// An interface address.
    Host,
    /// The address a STUN server saw (our NAT's mapping).
    Srflx,
    /// Learnt from the peer's checks.
    Prflx,
    /// A TURN relay address.
    Relay,
}

impl From<str0m::CandidateKind> for CandidateType {
    fn from(kind: str0m::CandidateKind) -> Self {
        match kind {
            str0m::CandidateKind::Host => CandidateType::Host,
            str0m::CandidateKind::ServerReflexive => CandidateType::Srflx,
            str0m::CandidateKind::PeerReflexive => CandidateType::Prflx,
            str0m::CandidateKind::Relayed => CandidateType::Relay,
        }
    }
}

/// How this device reaches its TURN server.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayTransport {
    /// `turn:…?transport=udp`.
    Udp,
    /// `turn:…?transport=tcp`.
    Tcp,
    /// `turns:` (TLS over TCP).
    Tls,
}

/// The candidate pair ICE selected for the media (`RTCIceCandidatePairStats` in brief).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SelectedPair {
    /// Our candidate's type.
    pub local: CandidateType,
    /// The peer's candidate's type.
    pub remote: CandidateType,
    /// The pair's protocol (always `udp` today).
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub protocol: &'static str,
    /// When `local` is a relay: how we reach the TURN server.
    pub relay_transport: Option<RelayTransport>,
    /// Our address on the pair (kept out of reports and serialisation: privacy).
    #[serde(skip)]
    pub local_addr: SocketAddr,
}

/// One TURN allocation of a call: how the device reached the server, and how long from the
/// start of gathering until the relay candidate existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TurnAllocation {
    /// `udp`, `tcp` or `tls`.
    pub transport: RelayTransport,
    /// From the start of gathering (the call's creation) to the allocation's success.
    #[serde(rename = "ms", serialize_with = "millis")]
    pub took: std::time::Duration,
}

fn millis<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 10_000.0).round() / 10.0)
}
