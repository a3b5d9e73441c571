//! Test support for `coturn.rs`: start a coturn with a generated config on free loopback
//! ports, make TURN REST credentials, and drive a client over a real UDP or TCP socket.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use ringwire_turn::stun::integrity::hmac_sha1;
use ringwire_turn::{
    BindingEvent, Credentials, IdGenerator, RelayFamily, RetransmitConfig, StunBinding, Transmit,
    Transport, TurnClient, TurnConfig, TurnEvent,
};

const TURNSERVER: &str = "/usr/bin/turnserver";
const SECRET: &str = "ringwire-test-secret";
/// Each wait in a test gives up after this long.
const STEP: Duration = Duration::from_secs(5);

/// A running coturn, killed on drop.
pub struct Coturn {
    child: Child,
    dir: PathBuf,
    port: u16,
    /// With TLS: the TLS port and the self-signed certificate (DER) to trust.
    tls: Option<(u16, rustls::pki_types::CertificateDer<'static>)>,
}

impl Coturn {
    /// Starts coturn (UDP and TCP), or prints why not and returns `None` when it is not
    /// installed.
    pub fn start() -> Option<Coturn> {
        Self::start_with(false)
    }

    /// Starts coturn with TLS too, on a certificate for 127.0.0.1 generated here.
    pub fn start_with_tls() -> Option<Coturn> {
        Self::start_with(true)
    }

    fn start_with(with_tls: bool) -> Option<Coturn> {
        if !Path::new(TURNSERVER).exists() {
            eprintln!("SKIPPED: {TURNSERVER} is not installed (Debian package `coturn`)");
            return None;
        }
        let port = free_port();
        let relay = free_port();
        let (min, max) = (relay.min(65_000), relay.min(65_000) + 200);
        let dir =
            std::env::temp_dir().join(format!("ringwire-coturn-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = format!(
            "listening-ip=127.0.0.1\nrelay-ip=127.0.0.1\n{v6}listening-port={port}\nmin-port={min}\nmax-port={max}\n\
             use-auth-secret\nstatic-auth-secret={SECRET}\nrealm=ringwire.test\nallow-loopback-peers\n\
             no-cli\nno-dtls\nfingerprint\nuserdb={db}\npidfile={pid}\nlog-file=stdout\nsimple-log\n",
            v6 = if has_ipv6() { "listening-ip=::1\nrelay-ip=::1\n" } else { "" },
            db = dir.join("turndb").display(),
            pid = dir.join("turnserver.pid").display(),
        );
        let tls = if with_tls {
            let tls_port = free_port();
            let certified =
                rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            std::fs::write(&cert, certified.cert.pem()).unwrap();
            std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
            let (cert, key) = (cert.display(), key.display());
            config += &format!("tls-listening-port={tls_port}\ncert={cert}\npkey={key}\n");
            Some((tls_port, certified.cert.der().clone()))
        } else {
            config += "no-tls\n";
            None
        };
        let conf = dir.join("turnserver.conf");
        std::fs::write(&conf, config).unwrap();
        let log = std::fs::File::create(dir.join("turnserver.log")).unwrap();
        let child = Command::new(TURNSERVER)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start turnserver");
        let mut coturn = Coturn {
            child,
            dir,
            port,
            tls,
        };
        coturn.wait_ready();
        Some(coturn)
    }

    /// The server's UDP and TCP address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The TLS port's address (with [`Coturn::start_with_tls`]).
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls
            .as_ref()
            .map(|(port, _)| SocketAddr::from(([127, 0, 0, 1], *port)))
    }

    /// TURN REST credentials valid for `valid_for_s` seconds (negative: already expired).
    pub fn credentials(&self, id: &str, valid_for_s: i64) -> Credentials {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let username = format!("{}:{id}", now + valid_for_s);
        let mac = hmac_sha1(SECRET.as_bytes(), &[username.as_bytes()]);
        let password = base64::engine::general_purpose::STANDARD.encode(mac);
        Credentials { username, password }
    }

    fn wait_ready(&mut self) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "turnserver exited with {status}; log in {}",
                    self.dir.display()
                );
            }
            let config = RetransmitConfig {
                deadline: Duration::from_millis(300),
                ..RetransmitConfig::default()
            };
            let mut binding = StunBinding::new(self.addr(), config, IdGenerator::from_u64(99));
            binding.start(Instant::now());
            if let Some(BindingEvent::Mapped { .. }) =
                run_binding(&mut binding, &socket, Duration::from_secs(1))
            {
                return;
            }
        }
        panic!("turnserver did not answer; log in {}", self.dir.display());
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port free for both UDP and TCP on 127.0.0.1 right now.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

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

/// Whether this machine has IPv6 loopback.
pub fn has_ipv6() -> bool {
    UdpSocket::bind("[::1]:0").is_ok()
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// The test's driver: one socket, one client, every event kept.
pub struct Driver {
    conn: Conn,
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
        let mut buf = vec![0u8; 65_536];
        loop {
            while let Some(t) = self.client.poll_transmit() {
                self.send(&t);
            }
            while let Some(event) = self.client.poll_event() {
                seen.push(event.clone());
                self.events.push(event);
            }
            if seen.iter().any(&done) {
                return seen;
            }
            assert!(
                Instant::now() < end,
                "no matching event within {STEP:?}; saw {seen:?}"
            );
            let now = Instant::now();
            let wait = self
                .client
                .poll_timeout()
                .map_or(STEP, |t| t.saturating_duration_since(now));
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
                let _ = self.client.handle_input(Instant::now(), &buf[..n]);
            }
            if self
                .client
                .poll_timeout()
                .is_some_and(|t| t <= Instant::now())
            {
                self.client.handle_timeout(Instant::now());
            }
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
        Err(e) => panic!("stream read: {e}"),
    }
}
