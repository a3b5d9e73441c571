//! The test's driver: real UDP, TCP or TLS (rustls) sockets feeding a [`TurnClient`] or a
//! [`StunBinding`] by the crate's drive contract, on the real clock.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use ringwire_turn::{
    BindingEvent, Credentials, IdGenerator, RelayFamily, StunBinding, Transmit, Transport,
    TurnClient, TurnConfig, TurnEvent,
};

use super::Coturn;

/// Each wait in a test gives up after this long.
const STEP: Duration = Duration::from_secs(5);

/// Runs a Binding client over `socket` until its event, or `limit`.
pub fn run_binding(
    binding: &mut StunBinding,
    socket: &UdpSocket,
    limit: Duration,
) -> Option<BindingEvent> {
    let end = Instant::now() + limit;
    let mut buf = [0u8; 2048];
    while Instant::now() < end {
        while let Some(t) = binding.poll_transmit() {
            socket.send_to(&t.contents, t.destination).unwrap();
        }
        if let Some(event) = binding.poll_event() {
            return Some(event);
        }
        let now = Instant::now();
        let wait = binding
            .poll_timeout()
            .map_or(Duration::from_millis(20), |t| {
                t.saturating_duration_since(now)
            });
        socket
            .set_read_timeout(Some(
                wait.clamp(Duration::from_millis(1), Duration::from_millis(20)),
            ))
            .unwrap();
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            if binding.accepts(from, &buf[..n]) {
                let _ = binding.handle_input(Instant::now(), from, &buf[..n]);
            }
        }
        if binding.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            binding.handle_timeout(Instant::now());
        }
    }
    None
}

/// How the test reaches coturn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// UDP on 127.0.0.1.
    Udp,
    /// UDP on ::1, asking for an IPv6 relayed address.
    Udp6,
    /// TCP on 127.0.0.1.
    Tcp,
    /// TLS over TCP on 127.0.0.1.
    Tls,
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// The test's driver: one socket, one client, every event kept.
pub struct Driver {
    conn: Conn,
    /// Added to the real clock before the client sees it: the test moves the client's time
    /// ahead (to a refresh) without waiting.
    pub clock_ahead: Duration,
    credentials: Credentials,
    pub client: TurnClient,
    pub events: Vec<TurnEvent>,
}

impl Driver {
    /// A client for `server` over `via`.
    pub fn connect(via: Via, server: &Coturn, credentials: Credentials) -> Driver {
        let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, server.port));
        let (conn, addr, transport) = match via {
            Via::Udp => (
                Conn::Udp(UdpSocket::bind("127.0.0.1:0").unwrap()),
                server.addr(),
                Transport::Udp,
            ),
            Via::Udp6 => (
                Conn::Udp(UdpSocket::bind("[::1]:0").unwrap()),
                v6,
                Transport::Udp,
            ),
            Via::Tcp => {
                let stream = TcpStream::connect(server.addr()).unwrap();
                (Conn::Tcp(stream), server.addr(), Transport::Tcp)
            }
            Via::Tls => return Self::connect_tls(server, credentials),
        };
        let mut d = Self::with_conn(conn, addr, transport, server, credentials);
        if via == Via::Udp6 {
            let mut config = TurnConfig::new(addr, transport, d.credentials.clone());
            config.relay_family = RelayFamily::Ipv6;
            d.client = TurnClient::new(config, IdGenerator::from_u64(6));
        }
        d
    }

    /// TURN over TLS over TCP: TLS is the driver's (here rustls), the client sees plaintext.
    fn connect_tls(server: &Coturn, credentials: Credentials) -> Driver {
        let (addr, cert) = match (&server.tls, server.tls_addr()) {
            (Some((_, cert)), Some(addr)) => (addr, cert.clone()),
            _ => panic!("coturn started without TLS"),
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
        let tls = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
        let stream = rustls::StreamOwned::new(tls, TcpStream::connect(addr).unwrap());
        Self::with_conn(
            Conn::Tls(Box::new(stream)),
            addr,
            Transport::Tcp,
            server,
            credentials,
        )
    }

    fn with_conn(
        conn: Conn,
        addr: SocketAddr,
        transport: Transport,
        server: &Coturn,
        credentials: Credentials,
    ) -> Driver {
        let config = TurnConfig::new(addr, transport, credentials.clone());
        let client = TurnClient::new(config, IdGenerator::from_u64(u64::from(server.port)));
        Driver {
            conn,
            clock_ahead: Duration::ZERO,
            client,
            credentials,
            events: Vec::new(),
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        match &self.conn {
            Conn::Udp(s) => s.local_addr().unwrap(),
            Conn::Tcp(s) => s.local_addr().unwrap(),
            Conn::Tls(s) => s.sock.local_addr().unwrap(),
        }
    }

    pub fn send(&mut self, t: &Transmit) {
        match &mut self.conn {
            Conn::Udp(s) => {
                s.send_to(&t.contents, t.destination).unwrap();
            }
            Conn::Tcp(s) => s.write_all(&t.contents).unwrap(),
            Conn::Tls(s) => {
                s.write_all(&t.contents).unwrap();
                s.flush().unwrap();
            }
        }
    }

    /// Drives the client until an event matches; returns the events seen meanwhile.
    pub fn run_until(&mut self, done: impl Fn(&TurnEvent) -> bool) -> Vec<TurnEvent> {
        let end = Instant::now() + STEP;
        let mut seen = Vec::new();
        loop {
            seen.extend(self.drain());
            if seen.iter().any(&done) {
                return seen;
            }
            assert!(
                Instant::now() < end,
                "no matching event within {STEP:?}; saw {seen:?}"
            );
            self.step();
        }
    }

    /// Drives the client for `time`; returns the events seen.
    pub fn run_for(&mut self, time: Duration) -> Vec<TurnEvent> {
        let end = Instant::now() + time;
        let mut seen = Vec::new();
        while Instant::now() < end {
            seen.extend(self.drain());
            self.step();
        }
        seen.extend(self.drain());
        seen
    }

    /// The client's clock: the real one, moved ahead by `clock_ahead`.
    fn now(&self) -> Instant {
        Instant::now() + self.clock_ahead
    }

    /// Sends what the client has to send and returns its events (also kept in `events`).
    fn drain(&mut self) -> Vec<TurnEvent> {
        while let Some(t) = self.client.poll_transmit() {
            self.send(&t);
        }
        let events: Vec<TurnEvent> = std::iter::from_fn(|| self.client.poll_event()).collect();
        self.events.extend(events.iter().cloned());
        events
    }

    /// Waits (at most 20 ms, at most until the client's timer) for bytes from the server and
    /// feeds them in, then fires the client's timer if it is due.
    fn step(&mut self) {
        let mut buf = vec![0u8; 65_536];
        let wait = self
            .client
            .poll_timeout()
            .map_or(STEP, |t| t.saturating_duration_since(self.now()));
        let wait = Some(wait.clamp(Duration::from_millis(1), Duration::from_millis(20)));
        let received = match &mut self.conn {
            Conn::Udp(s) => {
                s.set_read_timeout(wait).unwrap();
                match s.recv_from(&mut buf) {
                    Ok((n, from)) if self.client.accepts(from, &buf[..n]) => Some(n),
                    _ => None,
                }
            }
            Conn::Tcp(s) => {
                s.set_read_timeout(wait).unwrap();
                stream_read(s.read(&mut buf), &mut self.client)
            }
            Conn::Tls(s) => {
                s.sock.set_read_timeout(wait).unwrap();
                stream_read(s.read(&mut buf), &mut self.client)
            }
        };
        if let Some(n) = received {
            let _ = self.client.handle_input(self.now(), &buf[..n]);
        }
        if self.client.poll_timeout().is_some_and(|t| t <= self.now()) {
            self.client.handle_timeout(self.now());
        }
    }
}

/// What a stream read gives the client: bytes, nothing yet, or the end of the connection.
fn stream_read(read: std::io::Result<usize>, client: &mut TurnClient) -> Option<usize> {
    match read {
        Ok(0) => {
            client.connection_closed();
            None
        }
        Ok(n) => Some(n),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {
            client.connection_closed();
            None
        }
        Err(e) => panic!("stream read: {e}"),
    }
}
