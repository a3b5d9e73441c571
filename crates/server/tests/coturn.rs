//! ICE servers and TURN credentials end to end: a real server with an `[ice]` table hands a
//! device its ICE servers in `welcome` and fresh ones in `ice_servers` before they expire, and a
//! real coturn (Debian's `coturn`, started here on 127.0.0.1 with `use-auth-secret`) accepts
//! those credentials over UDP and TCP (`turnutils_uclient` allocates and relays) and refuses a
//! wrong password and an expired username.
//!
//! The coturn half skips with a printed line only when `turnserver` is not installed
//! (`scripts/test` installs it).

mod common;

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{Client, TestServer};
use ringwire_proto::{DeviceId, IceScheme, IceServer, IceTransport, ServerMessage};
use ringwire_server::ice::{parse_url_list, turn_password, turn_username, IceConfig, TurnSecret};

const SECRET: &str = "ringwire-test-secret-0123456789";
/// The shortest lifetime the server accepts: the refresh comes 8 s in.
const TTL_S: u64 = 10;

fn unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both).
fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
        let port = tcp.local_addr().expect("addr").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP");
}

/// coturn on 127.0.0.1, killed when dropped.
struct Coturn {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Coturn {
    fn start(turnserver: &Path) -> Coturn {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            "listening-ip=127.0.0.1\nrelay-ip=127.0.0.1\nlistening-port={port}\n\
             use-auth-secret\nstatic-auth-secret={SECRET}\nrealm=ringwire.test\n\
             allow-loopback-peers\nno-cli\nno-tls\nno-dtls\nfingerprint\n\
             userdb={d}/turndb\npidfile={d}/turnserver.pid\nlog-file={d}/turn.log\nsimple-log\n"
        );
        let path = dir.path().join("turnserver.conf");
        std::fs::write(&path, conf).expect("write turnserver.conf");
        let child = Command::new(turnserver)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start turnserver");
        let coturn = Coturn {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "coturn did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        coturn
    }

    fn ice_config(&self) -> IceConfig {
        let p = self.port;
        IceConfig {
            servers: parse_url_list(&format!(
                "stun:127.0.0.1:{p} turn:127.0.0.1:{p}?transport=udp turn:127.0.0.1:{p}?transport=tcp"
            ))
            .expect("urls"),
            turn_secret: Some(TurnSecret::new(SECRET)),
            turn_credential_ttl_s: TTL_S,
        }
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether coturn lets `username`/`password` allocate a relay and relay a few packets through
/// it (two clients talking through their relays: `-y`).
fn coturn_allows(uclient: &Path, port: u16, tcp: bool, username: &str, password: &str) -> bool {
    let mut cmd = Command::new(uclient);
    if tcp {
        cmd.arg("-t");
    }
    let out = cmd
        .args(["-y", "-c", "-n", "2", "-p", &port.to_string()])
        .args(["-u", username, "-w", password, "127.0.0.1"])
        .output()
        .expect("run turnutils_uclient");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let relayed = text
        .lines()
        .filter_map(|l| l.split("tot_recv_msgs=").nth(1))
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .filter_map(|n| n.parse::<u64>().ok())
        .any(|n| n > 0);
    out.status.success() && relayed && !text.contains("Cannot complete Allocation")
}

async fn server_with(ice: IceConfig) -> (TestServer, String) {
    let server = TestServer::start_with(|c| c.ice = ice).await;
    server.add_user("alice").await;
    let (_, token) = server.add_device("alice").await;
    (server, token)
}

/// The TURN entry of a list, after checking the list's shape: STUN first, then TURN with
/// `<expiry>:<device id>` credentials that expire about `TTL_S` from now.
fn check_shape(servers: &[IceServer], expires_ms: Option<u64>, device: DeviceId) -> IceServer {
    assert_eq!(servers.len(), 2, "{servers:?}");
    let stun = &servers[0];
    assert!(stun.urls().iter().all(|u| u.scheme() == IceScheme::Stun));
    assert_eq!((stun.username(), stun.credential()), (None, None));
    let turn = servers[1].clone();
    let transports: Vec<_> = turn.urls().iter().map(|u| u.transport()).collect();
    assert_eq!(
        transports,
        [Some(IceTransport::Udp), Some(IceTransport::Tcp)]
    );
    let username = turn.username().expect("username");
    let (expiry, who) = username.split_once(':').expect("expiry:device");
    assert_eq!(who, device.to_string());
    let expiry: u64 = expiry.parse().expect("unix time");
    let now = unix_s();
    assert!(
        expiry > now && expiry <= now + TTL_S + 1,
        "expiry {expiry}, now {now}"
    );
    assert_eq!(expires_ms, Some(expiry * 1000));
    let expected = turn_password(&TurnSecret::new(SECRET), username);
    assert_eq!(turn.credential(), Some(expected.as_str()));
    turn
}

/// Waits for the `ice_servers` refresh (due at 80% of the lifetime) and returns its lists.
async fn refreshed(client: &mut Client) -> (Vec<IceServer>, Option<u64>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(TTL_S);
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!remaining.is_zero(), "no ice_servers before the expiry");
        if let Ok(msg) = tokio::time::timeout(
            Duration::from_millis(500),
            common::next_message(&mut client.ws),
        )
        .await
        {
            match msg {
                Some(ServerMessage::IceServers(update)) => {
                    return (update.ice_servers, update.ice_expires_ms)
                }
                other => panic!("expected ice_servers, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn welcome_carries_ice_servers_refreshed_before_expiry() {
    let ice = IceConfig {
        servers: parse_url_list(
            "stun:turn.example.org, turn:turn.example.org:3478?transport=udp, turn:turn.example.org:3478?transport=tcp",
        )
        .expect("urls"),
        turn_secret: Some(TurnSecret::new(SECRET)),
        turn_credential_ttl_s: TTL_S,
    };
    let (server, token) = server_with(ice).await;
    let started = Instant::now();
    let mut client = Client::connect(&server, &token).await;
    let w = client.welcome.clone();
    let first = check_shape(&w.ice_servers, w.ice_expires_ms, client.device);

    let (servers, expires_ms) = refreshed(&mut client).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(7) && waited < Duration::from_secs(TTL_S),
        "refresh after {waited:?}; due at 80% of {TTL_S} s"
    );
    let second = check_shape(&servers, expires_ms, client.device);
    assert!(
        expires_ms > w.ice_expires_ms,
        "the new credentials live longer"
    );
    assert_ne!(first.username(), second.username());
    server.shutdown().await;
}

#[tokio::test]
async fn no_ice_config_means_no_ice_fields() {
    let (server, token) = server_with(IceConfig::default()).await;
    let client = Client::connect(&server, &token).await;
    assert!(client.welcome.ice_servers.is_empty());
    assert_eq!(client.welcome.ice_expires_ms, None);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_ice_settings_stop_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("dir");
    let config = ringwire_server::ServerConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.path().to_owned(),
        ice: IceConfig {
            servers: parse_url_list("turn:turn.example.org").expect("urls"),
            turn_secret: None,
            turn_credential_ttl_s: 3600,
        },
        ..Default::default()
    };
    let err = ringwire_server::Server::start(config)
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("turn_secret"), "{err}");
}

#[tokio::test]
async fn coturn_accepts_welcome_credentials_and_refuses_wrong_or_expired_ones() {
    let (Some(turnserver), Some(uclient)) = (
        find_program("turnserver"),
        find_program("turnutils_uclient"),
    ) else {
        eprintln!(
            "SKIPPED coturn_accepts_welcome_credentials_and_refuses_wrong_or_expired_ones: \
             turnserver/turnutils_uclient not installed (apt-get install coturn)"
        );
        return;
    };
    let coturn = Coturn::start(&turnserver);
    let port = coturn.port;
    let (server, token) = server_with(coturn.ice_config()).await;
    let mut client = Client::connect(&server, &token).await;
    let w = client.welcome.clone();
    let turn = check_shape(&w.ice_servers, w.ice_expires_ms, client.device);
    let username = turn.username().expect("username").to_owned();
    let password = turn.credential().expect("credential").to_owned();

    let check = move |tcp: bool, u: String, p: String| {
        let uclient = uclient.clone();
        tokio::task::spawn_blocking(move || coturn_allows(&uclient, port, tcp, &u, &p))
    };
    assert!(
        check(false, username.clone(), password.clone())
            .await
            .expect("uclient"),
        "coturn refused the welcome credentials over UDP"
    );
    assert!(
        check(true, username.clone(), password.clone())
            .await
            .expect("uclient"),
        "coturn refused the welcome credentials over TCP"
    );
    assert!(
        !check(false, username.clone(), "d3JvbmcgcGFzc3dvcmQ=".into())
            .await
            .expect("uclient"),
        "coturn accepted a wrong password"
    );
    let expired = turn_username(unix_s() - 60, client.device);
    let expired_password = turn_password(&TurnSecret::new(SECRET), &expired);
    assert!(
        !check(false, expired, expired_password)
            .await
            .expect("uclient"),
        "coturn accepted an expired username"
    );

    // The refreshed credentials work too.
    let (servers, expires_ms) = refreshed(&mut client).await;
    let fresh = check_shape(&servers, expires_ms, client.device);
    assert!(
        check(
            false,
            fresh.username().expect("u").to_owned(),
            fresh.credential().expect("c").to_owned()
        )
        .await
        .expect("uclient"),
        "coturn refused the refreshed credentials"
    );
    server.shutdown().await;
    drop(coturn);
}
