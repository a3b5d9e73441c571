//! Candidate gathering with real components on loopback: the real server, two real engines,
//! and a real coturn (Debian's `turnserver`, started with a generated `use-auth-secret`
//! config and TURN REST credentials by the launcher shared with `crates/turn/tests`).
//!
//! - relay-only calls connect through coturn over UDP, TCP and TLS, audio both ways, and the
//!   call summary names the selected pair relay/relay with the relay's transport;
//! - a STUN server that never answers does not hold up a host-candidate call;
//! - wrong TURN credentials end a relay-only call with a reason that says so, not a hang;
//! - with nothing configured on the devices, the ICE servers and TURN REST credentials the
//!   server hands out in `welcome` carry a relay-only call through coturn.

mod common;

#[allow(dead_code, unused_imports, clippy::unwrap_used)]
#[path = "../../turn/tests/support/mod.rs"]
mod turn_support;

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{TestServer, WAIT};
use ringwire_core::{CallEndReason, CallSummary, CandidateType, RelayTransport, Report};
use ringwire_engine::{
    AudioDevices, Engine, EngineConfig, EngineEvent, EngineListener, IceServerConfig,
    IceTransportPolicy,
};
use ringwire_media::device::{NullSink, ToneSource};
use turn_support::Coturn;

struct Events(Mutex<mpsc::Sender<EngineEvent>>);

impl EngineListener for Events {
    fn on_event(&self, event: EngineEvent) {
        let _ = self.0.lock().expect("lock").send(event);
    }
}

struct Phone {
    engine: Engine,
    events: mpsc::Receiver<EngineEvent>,
}

impl Phone {
    /// The next report `pick` returns something for, skipping others; panics after `limit`.
    fn wait<T>(&self, what: &str, limit: Duration, pick: impl Fn(&Report) -> Option<T>) -> T {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.events.recv_timeout(left) {
                Ok(EngineEvent::Report(report)) => {
                    if let Some(found) = pick(&report) {
                        return found;
                    }
                }
                Ok(_) => continue,
                Err(_) => panic!("no {what} within {limit:?}"),
            }
        }
    }

    fn signaling_up(&self) {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.events.recv_timeout(left) {
                Ok(EngineEvent::SignalingConnected { .. }) => return,
                Ok(_) => continue,
                Err(_) => panic!("signaling did not come up"),
            }
        }
    }

    fn ended(&self) -> (CallEndReason, CallSummary) {
        self.wait("end of the call", WAIT, |r| match r {
            Report::Ended {
                reason, summary, ..
            } => Some((reason.clone(), (**summary).clone())),
            _ => None,
        })
    }
}

fn phone(
    server: &TestServer,
    token: &str,
    hz: f64,
    ice_servers: Vec<IceServerConfig>,
    policy: IceTransportPolicy,
    tls_roots: Vec<Vec<u8>>,
) -> Phone {
    let (tx, events) = mpsc::channel();
    let mut config = EngineConfig::new(
        common::config(server.ws_url(), token),
        AudioDevices {
            source: Box::new(ToneSource::new(hz, 8000).expect("tone")),
            sink: Box::new(NullSink::default()),
        },
    );
    config.bind = vec!["127.0.0.1".parse().expect("address")];
    config.allow_loopback = true;
    config.ice_servers = ice_servers;
    config.turn_tls_roots = tls_roots;
    config.agent.peer.ice_transport_policy = policy;
    // Bounds a call that cannot connect (the engine's connect timeout).
    config.agent.media_timeout = Duration::from_secs(10);
    let engine = Engine::new(config, Arc::new(Events(Mutex::new(tx)))).expect("engine starts");
    let phone = Phone { engine, events };
    phone.signaling_up();
    phone
}

/// Alice and Bob, both with `ice`, under `policy`.
async fn pair(
    ice: impl Fn() -> Vec<IceServerConfig>,
    policy: IceTransportPolicy,
) -> (TestServer, Phone, Phone) {
    pair_trusting(ice, policy, Vec::new()).await
}

/// [`pair`], with extra TLS roots for `turns:`.
async fn pair_trusting(
    ice: impl Fn() -> Vec<IceServerConfig>,
    policy: IceTransportPolicy,
    tls_roots: Vec<Vec<u8>>,
) -> (TestServer, Phone, Phone) {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let (_, alice_token) = server.add_device("alice").await;
    let (_, bob_token) = server.add_device("bob").await;
    let (a, b) = (ice(), ice());
    let server_ref = &server;
    let alice = phone(
        server_ref,
        &alice_token,
        440.0,
        a,
        policy,
        tls_roots.clone(),
    );
    let bob = phone(server_ref, &bob_token, 1000.0, b, policy, tls_roots);
    (server, alice, bob)
}

fn turn(coturn: &Coturn, url: String, id: &str, password: Option<&str>) -> IceServerConfig {
    let credentials = coturn.credentials(id, 3600);
    IceServerConfig {
        urls: vec![url],
        username: Some(credentials.username),
        credential: Some(password.map_or(credentials.password, str::to_owned)),
    }
}

/// Alice calls Bob, Bob answers, both hear audio for a while (long enough for a stats
/// report naming the selected pair), Alice hangs up. Returns both summaries.
fn talk(alice: &Phone, bob: &Phone) -> (CallSummary, CallSummary) {
    let call = alice.engine.start_call("bob").expect("call placed");
    let incoming = bob.wait("incoming call", WAIT, |r| match r {
        Report::IncomingCall { call_id, .. } => Some(*call_id),
        _ => None,
    });
    assert_eq!(incoming, call);
    bob.engine.answer(call).expect("answer");
    for (who, phone) in [("alice", alice), ("bob", bob)] {
        phone.wait(&format!("first audio at {who}"), WAIT, |r| {
            matches!(r, Report::FirstAudio { .. }).then_some(())
        });
    }
    std::thread::sleep(Duration::from_millis(2500));
    alice.engine.end(call).expect("hang up");
    let (_, a) = alice.ended();
    let (_, b) = bob.ended();
    for (who, s) in [("alice", &a), ("bob", &b)] {
        assert!(s.frames_sent > 50, "{who} sent {} frames", s.frames_sent);
        assert!(
            s.frames_decoded > 50,
            "{who} decoded {} frames",
            s.frames_decoded
        );
    }
    (a, b)
}

fn assert_relayed(summary: &CallSummary, transport: RelayTransport) {
    let pair = summary.selected_pair.expect("a selected pair is reported");
    assert_eq!(
        (pair.local, pair.remote),
        (CandidateType::Relay, CandidateType::Relay)
    );
    assert_eq!(pair.protocol, "udp");
    assert_eq!(pair.relay_transport, Some(transport));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_call_connects_through_coturn_over_udp() {
    let Some(coturn) = Coturn::start() else {
        return;
    };
    let url = format!("turn:{}?transport=udp", coturn.addr());
    let (_server, alice, bob) = pair(
        || vec![turn(&coturn, url.clone(), "device", None)],
        IceTransportPolicy::Relay,
    )
    .await;
    let (a, b) = tokio::task::spawn_blocking(move || talk(&alice, &bob))
        .await
        .expect("join");
    assert_relayed(&a, RelayTransport::Udp);
    assert_relayed(&b, RelayTransport::Udp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_call_connects_through_coturn_over_tcp() {
    let Some(coturn) = Coturn::start() else {
        return;
    };
    let url = format!("turn:{}?transport=tcp", coturn.addr());
    let (_server, alice, bob) = pair(
        || vec![turn(&coturn, url.clone(), "device", None)],
        IceTransportPolicy::Relay,
    )
    .await;
    let (a, b) = tokio::task::spawn_blocking(move || talk(&alice, &bob))
        .await
        .expect("join");
    assert_relayed(&a, RelayTransport::Tcp);
    assert_relayed(&b, RelayTransport::Tcp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_call_connects_through_coturn_over_tls() {
    let Some(coturn) = Coturn::start_with_tls() else {
        return;
    };
    let tls = coturn.tls_addr().expect("TLS port");
    let url = format!("turns:{tls}?transport=tcp");
    let cert = coturn.tls_cert_der().expect("certificate");
    let (_server, alice, bob) = pair_trusting(
        || vec![turn(&coturn, url.clone(), "device", None)],
        IceTransportPolicy::Relay,
        vec![cert.clone()],
    )
    .await;
    let (a, b) = tokio::task::spawn_blocking(move || talk(&alice, &bob))
        .await
        .expect("join");
    assert_relayed(&a, RelayTransport::Tls);
    assert_relayed(&b, RelayTransport::Tls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stun_server_that_never_answers_does_not_hold_up_a_host_call() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let url = format!("stun:{}", silent.local_addr().expect("address"));
    let (_server, alice, bob) = pair(
        || {
            vec![IceServerConfig {
                urls: vec![url.clone()],
                ..IceServerConfig::default()
            }]
        },
        IceTransportPolicy::All,
    )
    .await;
    let (a, _) = tokio::task::spawn_blocking(move || talk(&alice, &bob))
        .await
        .expect("join");
    let pair = a.selected_pair.expect("a selected pair is reported");
    assert_eq!(pair.local, CandidateType::Host);
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_turn_credentials_end_a_relay_only_call_with_the_reason() {
    let Some(coturn) = Coturn::start() else {
        return;
    };
    let url = format!("turn:{}?transport=udp", coturn.addr());
    let (_server, alice, _bob) = pair(
        || {
            vec![turn(
                &coturn,
                url.clone(),
                "device",
                Some("not-the-password"),
            )]
        },
        IceTransportPolicy::Relay,
    )
    .await;
    let (reason, summary) = tokio::task::spawn_blocking(move || {
        alice.engine.start_call("bob").expect("call placed");
        alice.ended()
    })
    .await
    .expect("join");
    let CallEndReason::Failed { detail, .. } = &reason else {
        panic!("expected a failed call, got {reason:?}");
    };
    assert!(
        detail.contains("TURN authentication failed"),
        "end reason: {detail}"
    );
    assert!(summary
        .gathering_failures
        .iter()
        .any(|f| f.contains("TURN authentication failed")));
}

/// The deployment path end to end: the server is configured with coturn and its shared
/// secret (`[ice]`), the engines with no ICE servers at all. Each device's `welcome` carries a
/// TURN URL and REST credentials minted for it; a relay-only call connects through coturn with
/// them, audio both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_only_call_uses_the_credentials_from_welcome() {
    let Some(coturn) = Coturn::start() else {
        return;
    };
    let url = format!("turn:{}?transport=udp", coturn.addr());
    let secret = coturn.secret();
    let server = TestServer::start_with(|config| {
        config.set("ice.servers", &url).expect("ice.servers");
        config
            .set("ice.turn_secret", secret)
            .expect("ice.turn_secret");
    })
    .await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let (_, alice_token) = server.add_device("alice").await;
    let (_, bob_token) = server.add_device("bob").await;
    let alice = phone(
        &server,
        &alice_token,
        440.0,
        Vec::new(),
        IceTransportPolicy::Relay,
        Vec::new(),
    );
    let bob = phone(
        &server,
        &bob_token,
        1000.0,
        Vec::new(),
        IceTransportPolicy::Relay,
        Vec::new(),
    );
    let from_server = alice.engine.ice_servers().expect("ice servers");
    assert!(
        from_server
            .iter()
            .any(|s| s.username().is_some_and(|u| u.contains(':'))),
        "welcome carried TURN REST credentials: {from_server:?}"
    );
    let (a, b) = tokio::task::spawn_blocking(move || talk(&alice, &bob))
        .await
        .expect("join");
    assert_relayed(&a, RelayTransport::Udp);
    assert_relayed(&b, RelayTransport::Udp);
    drop(server);
}
