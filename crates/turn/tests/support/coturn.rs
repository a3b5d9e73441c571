//! A coturn for one test: a generated config on free loopback ports (IPv4, and IPv6 where
//! there is `::1`; TLS on request with a certificate made here), TURN REST credentials, and
//! the process killed on drop.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use ringwire_turn::stun::integrity::hmac_sha1;
use ringwire_turn::{BindingEvent, Credentials, IdGenerator, RetransmitConfig, StunBinding};

use super::run_binding;

const TURNSERVER: &str = "/usr/bin/turnserver";
const SECRET: &str = "ringwire-test-secret";

/// A running coturn, killed on drop.
pub struct Coturn {
    child: Child,
    dir: PathBuf,
    pub(super) port: u16,
    /// With TLS: the TLS port and the self-signed certificate (DER) to trust.
    pub(super) tls: Option<(u16, rustls::pki_types::CertificateDer<'static>)>,
}

impl Coturn {
    /// Starts coturn (UDP and TCP), or prints why not and returns `None` when it is not
    /// installed.
    pub fn start() -> Option<Coturn> {
        Self::start_with(false, "")
    }

    /// Starts coturn with extra lines of configuration.
    pub fn start_configured(extra: &str) -> Option<Coturn> {
        Self::start_with(false, extra)
    }

    /// Starts coturn with TLS too, on a certificate for 127.0.0.1 generated here.
    pub fn start_with_tls() -> Option<Coturn> {
        Self::start_with(true, "")
    }

    /// Starts coturn on fresh ports, up to three times: a port found free can be taken by a
    /// parallel test before coturn binds it.
    fn start_with(with_tls: bool, extra: &str) -> Option<Coturn> {
        if !Path::new(TURNSERVER).exists() {
            eprintln!("SKIPPED: {TURNSERVER} is not installed (Debian package `coturn`)");
            return None;
        }
        let mut logs = String::new();
        for attempt in 1..=3 {
            let mut coturn = Self::spawn(with_tls, extra);
            if coturn.wait_ready() {
                return Some(coturn);
            }
            let log =
                std::fs::read_to_string(coturn.dir.join("turnserver.log")).unwrap_or_default();
            logs += &format!("--- attempt {attempt} (port {}):\n{log}\n", coturn.port);
        }
        panic!("turnserver did not answer; its logs:\n{logs}");
    }

    fn spawn(with_tls: bool, extra: &str) -> Coturn {
        let port = free_port();
        let relay = free_port().min(65_000);
        let (min, max) = (relay, relay + 200);
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
        config += extra;
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
        Coturn {
            child,
            dir,
            port,
            tls,
        }
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

    /// The TLS certificate (DER) to trust (with [`Coturn::start_with_tls`]).
    #[allow(dead_code)] // used by crates/engine/tests/gathering.rs, which shares this launcher
    pub fn tls_cert_der(&self) -> Option<Vec<u8>> {
        self.tls.as_ref().map(|(_, cert)| cert.to_vec())
    }

    /// coturn's `static-auth-secret`, for a signaling server that mints the credentials itself
    /// (used by the engine's gathering test, which shares this launcher).
    #[allow(dead_code)]
    pub fn secret(&self) -> &'static str {
        SECRET
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

    /// Whether coturn answers a STUN Binding within 5 s (false also if it exited).
    fn wait_ready(&mut self) -> bool {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_exited)) = self.child.try_wait() {
                return false;
            }
            let config = RetransmitConfig {
                deadline: Duration::from_millis(300),
                ..RetransmitConfig::default()
            };
            let mut binding = StunBinding::new(self.addr(), config, IdGenerator::from_u64(99));
            binding.start(Instant::now());
            let answer = run_binding(&mut binding, &socket, Duration::from_secs(1));
            if let Some(BindingEvent::Mapped { .. }) = answer {
                return true;
            }
        }
        false
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port free for UDP and TCP on 127.0.0.1 (and on ::1 where there is one) right now.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        let v6_free = !has_ipv6()
            || (UdpSocket::bind(("::1", port)).is_ok() && TcpListener::bind(("::1", port)).is_ok());
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && v6_free {
            return port;
        }
    }
}

/// Whether this machine has IPv6 loopback.
pub fn has_ipv6() -> bool {
    UdpSocket::bind("[::1]:0").is_ok()
}
