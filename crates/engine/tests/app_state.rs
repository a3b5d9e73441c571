//! The app's lifecycle against a real server over loopback: an idle engine whose app leaves the
//! foreground closes its signaling connection cleanly, so the server sees the device offline
//! (and would push it); back in the foreground it connects again.

mod common;

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{invite, TestServer, WAIT};
use ringwire_engine::{AppState, AudioDevices, Engine, EngineConfig, EngineEvent, EngineListener};
use ringwire_media::device::{NullSink, SilenceSource};
use ringwire_proto::{CallId, ServerMessage};

struct Events(Mutex<mpsc::Sender<EngineEvent>>);

impl EngineListener for Events {
    fn on_event(&self, event: EngineEvent) {
        let _ = self.0.lock().expect("lock").send(event);
    }
}

/// The next event `pick` accepts, skipping others; panics after [`WAIT`].
fn wait_for(events: &mpsc::Receiver<EngineEvent>, what: &str, pick: impl Fn(&EngineEvent) -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if pick(&event) => return,
            Ok(_) => continue,
            Err(_) => panic!("no {what} within {WAIT:?}"),
        }
    }
}

fn engine(server: &TestServer, token: &str) -> (Engine, mpsc::Receiver<EngineEvent>) {
    let (tx, rx) = mpsc::channel();
    let mut config = EngineConfig::new(
        common::config(server.ws_url(), token),
        AudioDevices {
            source: Box::new(SilenceSource),
            sink: Box::new(NullSink::default()),
        },
    );
    config.bind = vec!["127.0.0.1".parse().expect("address")];
    config.allow_loopback = true;
    let engine = Engine::new(config, Arc::new(Events(Mutex::new(tx)))).expect("engine starts");
    (engine, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_engine_in_the_background_goes_offline_and_comes_back_in_the_foreground() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let (_, alice_token) = server.add_device("alice").await;
    let (_, bob_token) = server.add_device("bob").await;
    let (mut alice, _) = common::Engine::connect(&server, &alice_token).await;

    let (bob, events) = engine(&server, &bob_token);
    let events = tokio::task::spawn_blocking(move || {
        wait_for(&events, "signaling up", |e| {
            matches!(e, EngineEvent::SignalingConnected { .. })
        });
        events
    })
    .await
    .expect("join");
    server
        .metric_when("ringwire_connected_devices", |n| n == 2)
        .await;

    // No call, the app goes to the background: the engine closes its socket on purpose.
    bob.set_app_state(AppState::Background).expect("app state");
    let events = tokio::task::spawn_blocking(move || {
        wait_for(&events, "signaling paused", |e| {
            matches!(e, EngineEvent::SignalingPaused)
        });
        events
    })
    .await
    .expect("join");
    server
        .metric_when("ringwire_connected_devices", |n| n == 1)
        .await;
    // The server now counts bob's phone as offline: an invite would go to it by push.
    let call_id = CallId::random();
    alice.client.send(invite(call_id, "bob")).expect("invite");
    let calling = alice
        .message_where(|m| matches!(m, ServerMessage::Calling { .. }), |_| false)
        .await;
    assert!(
        matches!(
            calling,
            ServerMessage::Calling {
                devices_online: 0,
                devices_offline: 1,
                ..
            }
        ),
        "{calling:?}"
    );
    alice
        .client
        .send(ringwire_proto::ClientMessage::Cancel { call_id })
        .expect("cancel");
    // It stays offline while the app is idle (no reconnect behind the app's back).
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(server.metric("ringwire_connected_devices").await, 1);

    // Foreground again: connected at once.
    bob.set_app_state(AppState::Foreground).expect("app state");
    tokio::task::spawn_blocking(move || {
        wait_for(&events, "signaling up again", |e| {
            matches!(e, EngineEvent::SignalingConnected { .. })
        });
    })
    .await
    .expect("join");
    server
        .metric_when("ringwire_connected_devices", |n| n == 2)
        .await;
    bob.shutdown();
}
