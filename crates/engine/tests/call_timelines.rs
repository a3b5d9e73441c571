//! Call analytics end to end: two real engines make a call through a real server over loopback,
//! the callee answering with its screen locked; when it ends each uploads its timeline, the
//! server stores both beside the call record (one per device), what it stored is the call as it
//! happened (answered, media, first audio, the end — in order, on each device's clock), and the
//! analytics endpoint counts a lock-screen answer that had audio.

use std::time::Duration;

use ringwire_core::Report;
use ringwire_engine::{AppState, AudioDevices, EngineEvent};
use ringwire_media::device::{NullSink, ToneSource};
use ringwire_proto::{CallDirection, DevicePlatform};
use ringwire_testkit::{Lab, LabUser, Phone};

const WAIT: Duration = Duration::from_secs(15);
const ADMIN: &str = "timelines-test-admin-token";

fn tone(hz: f64) -> AudioDevices {
    AudioDevices {
        source: Box::new(ToneSource::new(hz, 8000).expect("tone")),
        sink: Box::new(NullSink::default()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_devices_upload_their_timelines_and_the_server_keeps_one_each() {
    let devices = ["phone"];
    let users = [
        LabUser {
            name: "alice",
            display_name: None,
            devices: &devices,
        },
        LabUser {
            name: "bob",
            display_name: None,
            devices: &devices,
        },
    ];
    let lab = Lab::start_with(&users, |config| {
        config.admin_token = Some(ADMIN.to_owned());
    })
    .await
    .expect("lab");
    let alice_token = lab.token("alice", 0).expect("token");
    let bob_token = lab.token("bob", 0).expect("token");
    let ws = lab.ws_url.clone();
    let (call_id, alice, bob) = tokio::task::spawn_blocking(move || {
        let mut alice = Phone::start(&ws, alice_token, tone(440.0)).expect("alice");
        let mut bob = Phone::start(&ws, bob_token, tone(880.0)).expect("bob");
        let call_id = alice.engine.start_call("bob").expect("call");
        let incoming = bob.incoming(WAIT).expect("rings");
        assert_eq!(incoming, call_id);
        // Bob's phone is locked: the answer comes through the OS's call screen.
        bob.engine
            .set_app_state(AppState::Locked)
            .expect("app state");
        bob.engine.answer(call_id).expect("answer");
        alice
            .wait(WAIT, |e| {
                matches!(e, EngineEvent::Report(Report::FirstAudio { .. })).then_some(())
            })
            .expect("alice hears bob");
        std::thread::sleep(Duration::from_secs(1));
        alice.engine.end(call_id).expect("hang up");
        for phone in [&mut alice, &mut bob] {
            phone
                .wait(WAIT, |e| {
                    matches!(e, EngineEvent::Report(Report::Ended { .. })).then_some(())
                })
                .expect("ended");
        }
        (call_id, alice, bob)
    })
    .await
    .expect("call thread");

    let store = lab.open_store().await.expect("store");
    let deadline = tokio::time::Instant::now() + WAIT;
    let stored = loop {
        let stored = store.timelines_of_call(call_id).await.expect("read");
        if stored.len() == 2 || tokio::time::Instant::now() > deadline {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(stored.len(), 2, "one timeline per device: {stored:?}");
    for entry in &stored {
        let timeline = &entry.timeline;
        assert_eq!(timeline.platform(), DevicePlatform::Native);
        let kinds: Vec<&str> = timeline.events().iter().map(|e| e.kind.name()).collect();
        for kind in [
            "reported_to_os",
            "answered",
            "audio_session_activated",
            "media_connected",
            "first_audio",
            "ended",
        ] {
            assert!(kinds.contains(&kind), "{kind} missing: {kinds:?}");
        }
        let at = |name: &str| {
            timeline
                .events()
                .iter()
                .find(|e| e.kind.name() == name)
                .map(|e| e.at_ms)
                .unwrap_or(0)
        };
        assert!(at("answered") <= at("first_audio") && at("first_audio") <= at("ended"));
    }
    let directions: Vec<CallDirection> = stored.iter().map(|e| e.timeline.direction()).collect();
    assert!(
        directions.contains(&CallDirection::Outgoing)
            && directions.contains(&CallDirection::Incoming)
    );
    let answered_locked = stored.iter().any(|entry| {
        entry.timeline.events().iter().any(|e| {
            matches!(
                e.kind,
                ringwire_proto::TimelineEventKind::Answered {
                    from_lock_screen: true
                }
            )
        })
    });
    assert!(answered_locked, "bob's answer came from the lock screen");

    let to = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        + 60_000;
    let url = format!("{}/v1/admin/analytics?from=0&to={to}", lab.http_url);
    let figures: serde_json::Value = reqwest::Client::new()
        .get(&url)
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("analytics")
        .json()
        .await
        .expect("json");
    let lock = &figures["total"]["lock_screen_answers"];
    assert_eq!(lock["attempted"], 1, "{figures:#}");
    assert_eq!(lock["succeeded"], 1, "audio within 2 s: {figures:#}");
    assert_eq!(figures["total"]["calls"], 1, "{figures:#}");
    drop((alice, bob));
    lab.stop().await.expect("stop");
}
