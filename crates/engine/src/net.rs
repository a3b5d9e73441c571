//! The media sockets: one UDP socket per local address, bound before the first call so the
//! addresses can be ICE host candidates. Datagrams from every socket are funnelled into one
//! channel for the driver, tagged with the socket they arrived on (str0m needs the local
//! address as the destination).

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

/// The bound sockets.
pub(crate) struct MediaSockets {
    sockets: Vec<(SocketAddr, Arc<UdpSocket>)>,
}

impl MediaSockets {
    /// Binds one socket per address (the machine's IPv4 interface addresses when `bind` is
    /// empty) and starts a reader task for each.
    pub async fn bind(
        bind: &[IpAddr],
        allow_loopback: bool,
        received: mpsc::Sender<Received>,
    ) -> Result<MediaSockets, EngineError> {
        let ips = if bind.is_empty() {
            interface_addresses(allow_loopback)
        } else {
            bind.to_vec()
        };
        let mut sockets = Vec::new();
        for ip in ips {
            let socket = UdpSocket::bind(SocketAddr::new(ip, 0))
                .await
                .map_err(|e| EngineError::Bind(format!("{ip}: {e}")))?;
            let local = socket
                .local_addr()
                .map_err(|e| EngineError::Bind(e.to_string()))?;
            let socket = Arc::new(socket);
            tokio::spawn(read_loop(socket.clone(), local, received.clone()));
            debug!(
                kind = if ip.is_loopback() {
                    "loopback"
                } else {
                    "interface"
                },
                "media socket bound"
            );
            sockets.push((local, socket));
        }
        if sockets.is_empty() {
            return Err(EngineError::Bind(
                "no usable network address: connect to a network, or allow loopback".into(),
            ));
        }
        Ok(MediaSockets { sockets })
    }

    /// The bound local addresses (the ICE host candidates).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.iter().map(|(a, _)| *a).collect()
    }

    /// Sends without waiting; a full socket buffer drops the datagram like the network would.
    pub fn send(&self, source: SocketAddr, destination: SocketAddr, contents: &[u8]) {
        let Some((_, socket)) = self.sockets.iter().find(|(a, _)| *a == source) else {
            debug!("transmit from an address we do not own dropped");
            return;
        };
        if let Err(error) = socket.try_send_to(contents, destination) {
            debug!(%error, "datagram not sent");
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

/// The machine's IPv4 addresses that make usable host candidates.
fn interface_addresses(allow_loopback: bool) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = match if_addrs::get_if_addrs() {
        Ok(list) => list
            .into_iter()
            .map(|i| i.ip())
            .filter(|ip| match ip {
                IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified(),
                IpAddr::V6(_) => false,
            })
            .collect(),
        Err(error) => {
            warn!(%error, "could not list network interfaces");
            Vec::new()
        }
    };
    if allow_loopback {
        ips.insert(0, IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    ips.dedup();
    ips
}
