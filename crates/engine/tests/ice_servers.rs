//! The engine keeps the ICE servers the server hands out: after `welcome` its list has the
//! server's STUN entry and a TURN entry with this device's REST credentials, and when the
//! server refreshes them (`ice_servers`, at 80% of their lifetime) the list is replaced.

mod common;

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::TestServer;
use ringwire_engine::{AudioDevices, Engine, EngineConfig, EngineEvent, EngineListener};
use ringwire_media::device::{NullSink, SilenceSource};
use ringwire_proto::IceServer;
use ringwire_server::ice::{parse_url_list, IceConfig, TurnSecret};

struct Events(Mutex<mpsc::Sender<EngineEvent>>);

impl EngineListener for Events {
    fn on_event(&self, event: EngineEvent) {
        let _ = self.0.lock().expect("lock").send(event);
    }
}

/// Polls the engine's list until `done` holds; panics after `within`.
async fn wait_list(
    engine: &Engine,
    within: Duration,
    done: impl Fn(&[IceServer]) -> bool,
) -> Vec<IceServer> {
    let deadline = Instant::now() + within;
    loop {
        let list = engine.ice_servers().expect("the engine answers");
        if done(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "ICE servers never became right: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_keeps_the_latest_ice_servers() {
    let server = TestServer::start_with(|c| {
        c.ice = IceConfig {
            servers: parse_url_list("stun:198.18.0.9, turn:198.18.0.9?transport=udp")
                .expect("urls"),
            turn_secret: Some(TurnSecret::new("engine-test-turn-secret-0123")),
            turn_credential_ttl_s: 10,
        }
    })
    .await;
    server.add_user("alice").await;
    let (device, token) = server.add_device("alice").await;
    let (tx, _events) = mpsc::channel();
    let mut config = EngineConfig::new(
        common::config(server.ws_url(), &token),
        AudioDevices {
            source: Box::new(SilenceSource),
            sink: Box::new(NullSink::default()),
        },
    );
    config.bind = vec!["127.0.0.1".parse().expect("address")];
    config.allow_loopback = true;
    let engine = Engine::new(config, Arc::new(Events(Mutex::new(tx)))).expect("engine starts");

    let list = wait_list(&engine, Duration::from_secs(10), |l| l.len() == 2).await;
    assert!(list[0].username().is_none());
    let username = list[1].username().expect("TURN username").to_owned();
    assert!(username.ends_with(&format!(":{device}")), "{username}");

    // The refresh arrives 8 s in and replaces the list.
    let fresh = wait_list(&engine, Duration::from_secs(12), |l| {
        l.get(1).and_then(IceServer::username) != Some(username.as_str())
    })
    .await;
    assert_eq!(fresh.len(), 2);
    assert!(fresh[1]
        .username()
        .expect("username")
        .ends_with(&format!(":{device}")));
    engine.shutdown();
}
