//! The candidates a connection knows, by address and type, so the selected pair str0m reports
//! (two addresses) can be named: host, srflx, prflx or relay on each side. A remote address no
//! candidate announced is peer-reflexive.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::gather::{CandidateType, SelectedPair};

/// Remote candidates remembered at most (a hostile peer must not grow this without bound).
const MAX_REMOTE: usize = 64;

#[derive(Debug, Default)]
pub(super) struct CandidateBook {
    local: HashMap<SocketAddr, CandidateType>,
    remote: HashMap<SocketAddr, CandidateType>,
}

impl CandidateBook {
    pub fn local(&mut self, c: &str0m::Candidate) {
        // str0m sends from a srflx candidate's base: the host entry names that address.
        self.local.entry(c.addr()).or_insert(c.kind().into());
    }

    pub fn remote(&mut self, c: &str0m::Candidate) {
        if self.remote.len() < MAX_REMOTE {
            self.remote.entry(c.addr()).or_insert(c.kind().into());
        }
    }

    /// Remembers the `a=candidate` lines of a remote description.
    pub fn remote_sdp(&mut self, sdp: &str) {
        for line in sdp.lines() {
            let line = line.trim();
            if let Some(c) = line
                .strip_prefix("a=")
                .filter(|l| l.starts_with("candidate:"))
                .and_then(|l| str0m::Candidate::from_sdp_string(l).ok())
            {
                self.remote(&c);
            }
        }
    }

    /// Names the pair str0m selected (its local address is the one it sends from).
    pub fn pair(&self, pair: &str0m::stats::CandidatePairStats) -> SelectedPair {
        let local = self
            .local
            .get(&pair.local.addr)
            .copied()
            .unwrap_or(CandidateType::Prflx);
        let remote = self
            .remote
            .get(&pair.remote.addr)
            .copied()
            .unwrap_or(CandidateType::Prflx);
        SelectedPair {
            local,
            remote,
            protocol: match pair.protocol {
                str0m::net::Protocol::Udp => "udp",
                str0m::net::Protocol::Tcp | str0m::net::Protocol::SslTcp => "tcp",
                str0m::net::Protocol::Tls => "tls",
            },
            relay_transport: None,
            local_addr: pair.local.addr,
        }
    }
}
