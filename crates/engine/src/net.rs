//! The media sockets: one UDP socket per local address, bound before the first call so the
//! addresses can be ICE host candidates, and re-bound when the network changes (addresses that
//! appeared get a socket, those that went away lose theirs). Datagrams from every socket are
//! funnelled into one channel for the driver, tagged with the socket they arrived on (str0m
//! needs the local address as the destination).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::EngineError;

/// Largest datagram we read; WebRTC packets stay under the path MTU.
const MAX_DATAGRAM: usize = 2048;

/// One received datagram.
pub(crate) struct Received {
    pub source: SocketAddr,
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

/// The bound sockets, each with the task reading it.
pub(crate) struct MediaSockets {
    sockets: Vec<BoundSocket>,
    /// Addresses the app pinned (`EngineConfig::bind`); empty means "the interfaces".
    pinned: Vec<IpAddr>,
    allow_loopback: bool,
    received: mpsc::Sender<Received>,
}

struct BoundSocket {
    local: SocketAddr,
    socket: Arc<UdpSocket>,
    reader: tokio::task::JoinHandle<()>,
}

impl MediaSockets {
    /// Binds one socket per address (the machine's interface addresses, IPv4 and IPv6, when
    /// `bind` is empty) and starts a reader task for each. Call inside the engine's runtime.
    pub fn bind(
        bind: &[IpAddr],
        allow_loopback: bool,
        received: mpsc::Sender<Received>,
    ) -> Result<MediaSockets, EngineError> {
        let mut sockets = MediaSockets {
            sockets: Vec::new(),
            pinned: bind.to_vec(),
            allow_loopback,
            received,
        };
        for ip in sockets.wanted() {
            let bound = sockets.bind_one(ip)?;
            sockets.sockets.push(bound);
        }
        if sockets.sockets.is_empty() {
            return Err(EngineError::Bind(
                "no usable network address: connect to a network, or allow loopback".into(),
            ));
        }
        Ok(sockets)
    }

    /// The addresses there should be a socket on now.
    fn wanted(&self) -> Vec<IpAddr> {
        if self.pinned.is_empty() {
            interface_addresses(self.allow_loopback)
        } else {
            self.pinned.clone()
        }
    }

    /// Whether the interfaces' addresses differ from the bound ones (an app that pinned its
    /// addresses never changes).
    pub fn interfaces_changed(&self) -> bool {
        let mut wanted = self.wanted();
        let mut bound: Vec<IpAddr> = self.sockets.iter().map(|s| s.local.ip()).collect();
        wanted.sort();
        bound.sort();
        wanted != bound
    }

    /// After a network change: binds sockets on addresses that appeared and closes those on
    /// addresses that went away; sockets on addresses still present keep their ports, so a
    /// path that still works is not disturbed. Returns whether anything changed. An address
    /// that cannot be bound (it vanished again meanwhile) is skipped, never fatal: with no
    /// address left the engine waits for the next change.
    pub fn rebind(&mut self) -> bool {
        let wanted = self.wanted();
        let before = self.sockets.len();
        self.sockets.retain(|s| {
            let keep = wanted.contains(&s.local.ip());
            if !keep {
                s.reader.abort();
                debug!(
                    ipv6 = s.local.is_ipv6(),
                    "media socket closed: address gone"
                );
            }
            keep
        });
        let mut changed = self.sockets.len() != before;
        for ip in wanted {
            if self.sockets.iter().any(|s| s.local.ip() == ip) {
                continue;
            }
            match self.bind_one(ip) {
                Ok(bound) => {
                    self.sockets.push(bound);
                    changed = true;
                }
                Err(error) => warn!(%error, "new address not bound"),
            }
        }
        changed
    }

    fn bind_one(&self, ip: IpAddr) -> Result<BoundSocket, EngineError> {
        let std_socket = std::net::UdpSocket::bind(SocketAddr::new(ip, 0))
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(|e| EngineError::Bind(format!("{ip}: {e}")))?;
        let socket =
            UdpSocket::from_std(std_socket).map_err(|e| EngineError::Bind(format!("{ip}: {e}")))?;
        let local = socket
            .local_addr()
            .map_err(|e| EngineError::Bind(e.to_string()))?;
        let socket = Arc::new(socket);
        let reader = tokio::spawn(read_loop(socket.clone(), local, self.received.clone()));
        debug!(
            kind = if ip.is_loopback() {
                "loopback"
            } else {
                "interface"
            },
            ipv6 = ip.is_ipv6(),
            "media socket bound"
        );
        Ok(BoundSocket {
            local,
            socket,
            reader,
        })
    }

    /// The bound local addresses (the ICE host candidates).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.iter().map(|s| s.local).collect()
    }

    /// Sends without waiting; a full socket buffer drops the datagram like the network would.
    pub fn send(&self, source: SocketAddr, destination: SocketAddr, contents: &[u8]) {
        let Some(bound) = self.sockets.iter().find(|s| s.local == source) else {
            debug!("transmit from an address we do not own dropped");
            return;
        };
        if let Err(error) = bound.socket.try_send_to(contents, destination) {
            debug!(%error, "datagram not sent");
        }
    }
}

impl Drop for MediaSockets {
    fn drop(&mut self) {
        for s in &self.sockets {
            s.reader.abort();
        }
    }
}

async fn read_loop(socket: Arc<UdpSocket>, local: SocketAddr, out: mpsc::Sender<Received>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((len, source)) => {
                let received = Received {
                    source,
                    destination: local,
                    contents: buf[..len].to_vec(),
                };
                if out.send(received).await.is_err() {
                    return; // the driver is gone
                }
            }
            Err(error) => {
                // ICMP port unreachable and friends surface here on Linux; keep reading.
                debug!(%error, "udp receive error");
                if out.is_closed() {
                    return;
                }
            }
        }
    }
}

/// The machine's addresses that make usable host candidates: IPv4 and IPv6 alike, so an
/// IPv6-only network (NAT64 included) works. IPv4 first: the order is the candidates'.
fn interface_addresses(allow_loopback: bool) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = match if_addrs::get_if_addrs() {
        Ok(list) => list
            .into_iter()
            .map(|i| i.ip())
            .filter(usable_host_address)
            .collect(),
        Err(error) => {
            warn!(%error, "could not list network interfaces");
            Vec::new()
        }
    };
    ips.sort_by_key(|ip| ip.is_ipv6());
    if allow_loopback {
        ips.insert(0, IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    ips.dedup();
    ips
}

/// An address a peer elsewhere could reach: not loopback, unspecified or multicast, and not
/// link-local (fe80::/10 needs a scope a candidate cannot carry; 169.254/16 is never routed).
fn usable_host_address(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified() && !v4.is_multicast()
        }
        IpAddr::V6(v6) => {
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            !v6.is_loopback() && !v6.is_unspecified() && !v6.is_multicast() && !link_local
        }
    }
}

#[cfg(test)]
mod tests {
    use super::usable_host_address;
    use std::net::IpAddr;

    #[test]
    fn global_and_unique_local_ipv6_are_host_candidates_link_local_is_not() {
        let usable = |s: &str| usable_host_address(&s.parse::<IpAddr>().unwrap());
        assert!(usable("2001:2:0:101::2"));
        assert!(usable("fd00::5"));
        assert!(usable("198.19.1.2"));
        assert!(!usable("fe80::1"));
        assert!(!usable("::1"));
        assert!(!usable("::"));
        assert!(!usable("ff02::1"));
        assert!(!usable("127.0.0.1"));
        assert!(!usable("169.254.3.4"));
    }
}
