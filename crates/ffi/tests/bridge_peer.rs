//! Peer mode through the JSON bridge, as a hybrid page keeping its own signaling drives it:
//! two peer-only engines, each behind a bridge, whose `peer_signal` events the "pages" relay to
//! each other as `peer_signal` commands (the JSON passed through untouched). A call is placed,
//! rings, is answered, connects, and is hung up; a malformed message is refused with a code and
//! the call goes on.

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ringwire_engine::{AudioDevices, Engine, EngineConfig};
use ringwire_ffi::bridge::{Bridge, BridgeEvents};
use ringwire_media::device::{NullSink, ToneSource};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(15);

fn peer_only_bridge(hz: f64) -> (Bridge, mpsc::Receiver<Value>) {
    let audio = AudioDevices {
        source: Box::new(ToneSource::new(hz, 8000).expect("tone")),
        sink: Box::new(NullSink::default()),
    };
    let mut config = EngineConfig::peer_only(audio);
    config.bind = vec![std::net::Ipv4Addr::LOCALHOST.into()];
    config.allow_loopback = true;
    let events = BridgeEvents::new();
    let engine = Engine::new(config, events.clone()).expect("engine starts");
    let (tx, rx) = mpsc::channel();
    events.attach(Arc::new(move |text: String| {
        let _ = tx.send(serde_json::from_str(&text).expect("events are JSON"));
    }));
    (Bridge::new(engine, events), rx)
}

fn cmd(bridge: &Bridge, command: Value) -> Value {
    serde_json::from_str(&bridge.handle(&command.to_string())).expect("responses are JSON")
}

/// The two pages: each relays its bridge's `peer_signal` events to the other bridge and keeps
/// every other event.
struct Pages {
    bridges: [Bridge; 2],
    events: [mpsc::Receiver<Value>; 2],
    seen: [Vec<Value>; 2],
}

impl Pages {
    /// Relays until `done` holds for the events seen so far, or fails after WAIT.
    fn run_until(&mut self, what: &str, done: impl Fn(&[Vec<Value>; 2]) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(&self.seen) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:#?}",
                self.seen
            );
            for side in 0..2 {
                while let Ok(event) = self.events[side].recv_timeout(Duration::from_millis(5)) {
                    if event["event"] == "peer_signal" {
                        let relayed = json!({
                            "id": 100, "cmd": "peer_signal",
                            "call_id": event["call_id"], "signal": event["signal"],
                        });
                        let r = cmd(&self.bridges[1 - side], relayed);
                        assert_eq!(r["ok"], true, "{r}");
                    }
                    self.seen[side].push(event);
                }
            }
        }
    }
}

fn has(events: &[Value], kind: &str) -> bool {
    events.iter().any(|e| e["event"] == kind)
}

#[test]
fn a_page_with_its_own_signaling_makes_a_call_through_the_bridge() {
    let (alice, alice_events) = peer_only_bridge(440.0);
    let (bob, bob_events) = peer_only_bridge(880.0);
    let mut pages = Pages {
        bridges: [alice, bob],
        events: [alice_events, bob_events],
        seen: [Vec::new(), Vec::new()],
    };
    let r = cmd(
        &pages.bridges[0],
        json!({"id": 1, "cmd": "peer_call", "to": "bob"}),
    );
    assert_eq!(r["ok"], true, "{r}");
    let call_id = r["result"]["call_id"]
        .as_str()
        .expect("a call id")
        .to_owned();
    pages.run_until("bob's phone to ring", |seen| has(&seen[1], "incoming"));
    let first_out = pages.seen[0]
        .iter()
        .find(|e| e["event"] == "peer_signal")
        .expect("alice's offer");
    assert_eq!(first_out["signal"]["type"], "offer");

    // A page that garbles a message: refused with a code, nothing else changes.
    let r = cmd(
        &pages.bridges[1],
        json!({"id": 2, "cmd": "peer_signal", "call_id": call_id,
               "signal": {"type": "candidate", "candidate": "candidate:1 1 udp 1 1.2.3.4 9 typ host", "sdpMid": "nope"}}),
    );
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(r["error"]["code"], "engine");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("m-line"),
        "{r}"
    );

    let r = cmd(
        &pages.bridges[1],
        json!({"id": 3, "cmd": "answer", "call_id": call_id}),
    );
    assert_eq!(r["ok"], true, "{r}");
    pages.run_until("both to connect", |seen| {
        has(&seen[0], "connected") && has(&seen[1], "connected")
    });
    let r = cmd(
        &pages.bridges[0],
        json!({"id": 4, "cmd": "end", "call_id": call_id}),
    );
    assert_eq!(r["ok"], true, "{r}");
    pages.run_until("both to end", |seen| {
        has(&seen[0], "ended") && has(&seen[1], "ended")
    });
    for side in 0..2 {
        let ended = pages.seen[side]
            .iter()
            .find(|e| e["event"] == "ended")
            .unwrap();
        assert_eq!(ended["reason"], "hangup", "{ended}");
    }
    for bridge in pages.bridges {
        bridge.shutdown();
    }
}
