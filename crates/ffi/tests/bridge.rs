//! The bridge over a real engine, against a real server on loopback, with the UI attached and
//! detached the way a WebView comes and goes: commands, events, the snapshot after a "sleep",
//! the journal, decline, and refusals of bad commands.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringwire_core::Report;
use ringwire_engine::{AudioDevices, Engine, EngineEvent, EngineListener};
use ringwire_ffi::bridge::{Bridge, BridgeEvents};
use ringwire_media::device::{NullSink, ToneSource};
use ringwire_testkit::{engine_config, Lab};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);

struct Forward(mpsc::Sender<EngineEvent>);

impl EngineListener for Forward {
    fn on_event(&self, event: EngineEvent) {
        let _ = self.0.send(event);
    }
}

fn engine(lab: &Lab, token: &str, hz: f64, listener: Arc<dyn EngineListener>) -> Engine {
    let audio = AudioDevices {
        source: Box::new(ToneSource::new(hz, 8000).expect("tone")),
        sink: Box::new(NullSink::default()),
    };
    Engine::new(
        engine_config(&lab.ws_url, token.to_owned(), audio),
        listener,
    )
    .expect("engine starts")
}

/// The UI's side of the bridge: what the attached sink received.
struct Ui {
    rx: mpsc::Receiver<String>,
}

impl Ui {
    fn attach(events: &BridgeEvents) -> (Ui, u64) {
        let (tx, rx) = mpsc::channel();
        let id = events.attach(Arc::new(move |text: String| {
            let _ = tx.send(text);
        }));
        (Ui { rx }, id)
    }

    /// Waits for the event `kind`, returning it.
    fn event(&self, kind: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let text = self
                .rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {kind} event"));
            let v: Value = serde_json::from_str(&text).expect("events are JSON");
            assert_eq!(v["type"], "event");
            if v["event"] == kind {
                return v;
            }
        }
    }
}

fn cmd(bridge: &Bridge, text: &str) -> Value {
    serde_json::from_str(&bridge.handle(text)).expect("responses are JSON")
}

fn ok(bridge: &Bridge, text: &str) -> Value {
    let r = cmd(bridge, text);
    assert_eq!(r["ok"], true, "{text} -> {r}");
    r["result"].clone()
}

fn wait_report(rx: &mpsc::Receiver<EngineEvent>, what: impl Fn(&Report) -> bool) -> Report {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left).expect("engine event") {
            EngineEvent::Report(r) if what(&r) => return r,
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ui_drives_a_call_sleeps_through_its_end_and_catches_up() {
    let lab = Lab::start(&[("alice", 1), ("bob", 1)]).await.expect("lab");
    let tokens = [
        lab.token("alice", 0).expect("alice"),
        lab.token("bob", 0).expect("bob"),
    ];

    // The UI is there from the start, so it hears the first signaling event.
    let events = BridgeEvents::new();
    let (ui, attachment) = Ui::attach(&events);
    let alice = engine(&lab, &tokens[0], 440.0, events.clone());
    let (bob_tx, bob_events) = mpsc::channel();
    let bob = engine(&lab, &tokens[1], 660.0, Arc::new(Forward(bob_tx)));
    let bridge = Bridge::new(alice, events);
    ui.event("signaling");

    tokio::task::spawn_blocking(move || {
        // Place a call; bob answers; it connects.
        let call_id = ok(&bridge, r#"{"id":1,"cmd":"start_call","user":"bob"}"#)["call_id"]
            .as_str()
            .expect("call id")
            .to_owned();
        let incoming = wait_report(&bob_events, |r| matches!(r, Report::IncomingCall { .. }));
        bob.answer(incoming.call_id().expect("id")).expect("answer");
        assert_eq!(ui.event("outgoing")["call_id"], call_id.as_str());
        ui.event("answered");
        ui.event("connected");
        // Bob's side connects on its own schedule; a hangup before it would truthfully say
        // the call never had media (media_failed), which is not what this test is about.
        wait_report(&bob_events, |r| matches!(r, Report::Connected { .. }));

        // Mute and hold show in the snapshot.
        ok(
            &bridge,
            &format!(r#"{{"id":2,"cmd":"mute","call_id":"{call_id}","muted":true}}"#),
        );
        ok(
            &bridge,
            &format!(r#"{{"id":3,"cmd":"hold","call_id":"{call_id}","held":true}}"#),
        );
        let snap = ok(&bridge, r#"{"id":4,"cmd":"snapshot"}"#);
        assert_eq!(snap["calls"][0]["state"], "active");
        assert_eq!(snap["calls"][0]["muted"], true);
        assert_eq!(snap["calls"][0]["held"], true);
        assert_eq!(snap["signaling"]["connected"], true);
        let seen = snap["seq"].as_u64().expect("seq");

        // The UI goes to sleep; the far end hangs up meanwhile.
        bridge.events().detach(attachment);
        bob.end(incoming.call_id().expect("id")).expect("end");
        let deadline = Instant::now() + WAIT;
        let snap = loop {
            let snap = ok(&bridge, r#"{"id":5,"cmd":"snapshot"}"#);
            if snap["calls"].as_array().is_some_and(|c| c.is_empty()) {
                break snap;
            }
            assert!(Instant::now() < deadline, "the call did not end");
            std::thread::sleep(Duration::from_millis(20));
        };
        // Awake again: the snapshot says how the call ended, the journal what happened.
        let ended = &snap["recent_ended"][0];
        assert_eq!(ended["call_id"], call_id.as_str());
        assert_eq!(ended["reason"], "hangup");
        assert_eq!(ended["callkit_reason"], "remoteEnded");
        let missed = ok(
            &bridge,
            &format!(r#"{{"id":6,"cmd":"events_since","seq":{seen}}}"#),
        );
        assert_eq!(missed["truncated"], false);
        let kinds: Vec<&str> = missed["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter_map(|e| e["event"].as_str())
            .collect();
        assert!(kinds.contains(&"ended"), "missed events: {kinds:?}");
        assert!(missed["events"]
            .as_array()
            .expect("events")
            .iter()
            .all(|e| e["seq"].as_u64() > Some(seen)));

        // Refusals carry a code and the request id; the bridge keeps working.
        let unknown = cmd(
            &bridge,
            &format!(r#"{{"id":7,"cmd":"answer","call_id":"{call_id}"}}"#),
        );
        assert_eq!(
            (unknown["id"].as_u64(), unknown["error"]["code"].as_str()),
            (Some(7), Some("unknown_call"))
        );
        let bad = cmd(&bridge, r#"{"cmd":"snapshot"}"#);
        assert_eq!(bad["error"]["code"], "malformed_json");
        let bad = cmd(&bridge, r#"{"id":8,"cmd":"start_call","user":"Bob!"}"#);
        assert_eq!(bad["error"]["code"], "invalid_field");

        // A call to the bridged device, declined from the UI.
        let (ui, _) = Ui::attach(bridge.events());
        let bob_call = bob.start_call("alice").expect("bob calls");
        let incoming = ui.event("incoming");
        assert_eq!(incoming["call_id"], bob_call.to_string().as_str());
        assert_eq!(incoming["from_user"], "bob");
        ok(
            &bridge,
            &format!(r#"{{"id":9,"cmd":"decline","call_id":"{bob_call}"}}"#),
        );
        let ended = wait_report(&bob_events, |r| {
            matches!(r, Report::Ended { .. }) && r.call_id() == Some(bob_call)
        });
        let Report::Ended { reason, .. } = ended else {
            unreachable!()
        };
        assert_eq!(
            reason.as_protocol().map(|r| r.to_string()),
            Some("declined".into())
        );
        assert_eq!(ui.event("ended")["reason"], "declined");

        bob.shutdown();
        bridge.shutdown();
    })
    .await
    .expect("test body");
    lab.stop().await.expect("shutdown");
}
