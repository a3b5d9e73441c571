//! The bindings' `Engine` as a foreign app uses it, without a server (its signaling keeps
//! retrying a closed port): input is refused with `InvalidArgument`, pushes are reported and
//! de-duplicated, a listener calling back into the engine is refused instead of deadlocking,
//! and a shut-down engine says `Stopped`. The full call through the generated Python bindings
//! is `tests/python/test_engine.py`.

use std::sync::{mpsc, Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ringwire_ffi::uniffi::{
    AudioChoice, CallState, Engine, EngineConfig, EngineEvent, EngineListener, RingwireError,
};

/// Sends every event on; on the first one, tries to call the engine from the engine thread.
struct Recorder {
    events: Mutex<mpsc::Sender<EngineEvent>>,
    engine: Mutex<Weak<Engine>>,
    reentrant: Mutex<Option<Result<usize, RingwireError>>>,
}

impl EngineListener for Recorder {
    fn on_event(&self, event: EngineEvent) {
        let engine = self.engine.lock().expect("lock").upgrade();
        let mut reentrant = self.reentrant.lock().expect("lock");
        if let (Some(engine), None) = (engine, reentrant.as_ref()) {
            *reentrant = Some(engine.snapshot().map(|calls| calls.len()));
        }
        let _ = self.events.lock().expect("lock").send(event);
    }
}

fn closed_port() -> u16 {
    // Bound and dropped: nothing listens there for the length of the test.
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr").port()
}

fn config(token: &str) -> EngineConfig {
    EngineConfig {
        server_url: format!("http://127.0.0.1:{}", closed_port()),
        device_token: token.into(),
        audio: AudioChoice::Silence,
        allow_loopback: true,
        auto_audio_session: false,
        ice_servers: Vec::new(),
        peer_ring_timeout_ms: None,
        platform: None,
    }
}

fn push_payload(call_id: &str, deadline_ms: u64) -> Vec<u8> {
    format!(
        r#"{{"ringwire":1,"kind":"invite","call_id":"{call_id}","from_user":"alice","from_device":"{}","ring_deadline_ms":{deadline_ms}}}"#,
        "ab".repeat(16)
    )
    .into_bytes()
}

#[test]
fn an_engine_without_a_server_refuses_bad_input_and_takes_pushes() {
    let (tx, rx) = mpsc::channel();
    let recorder = Arc::new(Recorder {
        events: Mutex::new(tx),
        engine: Mutex::new(Weak::new()),
        reentrant: Mutex::new(None),
    });
    let engine = Engine::new(config("rw_test"), recorder.clone()).expect("engine starts");
    *recorder.engine.lock().expect("lock") = Arc::downgrade(&engine);

    // The server is not there: the engine says so and keeps retrying. The listener tries the
    // engine on the first event after it learned of it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let reentrant = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let event = rx
            .recv_timeout(left)
            .expect("events while the server is down");
        assert!(
            matches!(event, EngineEvent::SignalingDown { .. }),
            "{event:?}"
        );
        if let Some(result) = recorder.reentrant.lock().expect("lock").clone() {
            break result;
        }
    };
    assert_eq!(
        reentrant,
        Err(RingwireError::CalledFromListener),
        "calling the engine from its own thread is refused, not a deadlock"
    );

    assert!(matches!(
        engine.answer("not-a-call".into()),
        Err(RingwireError::InvalidArgument(_))
    ));
    assert!(matches!(
        engine.start_call("Not A User!".into()),
        Err(RingwireError::InvalidArgument(_))
    ));
    assert!(matches!(
        engine.handle_push(b"{\"ringwire\":1,\"kind\":\"missed_call\"}".to_vec()),
        Err(RingwireError::InvalidArgument(_))
    ));
    assert!(matches!(
        engine.handle_push(vec![0xff; 10]),
        Err(RingwireError::InvalidArgument(_))
    ));

    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64;
    let call_id = "0123456789abcdef0123456789abcdef";
    let push = engine
        .handle_push(push_payload(call_id, now_ms + 45_000))
        .expect("a valid push");
    // The record's ids are typed in Rust; the foreign side sees their text.
    assert_eq!(push.call_id.to_string(), call_id);
    assert_eq!(push.from_user.to_string(), "alice");
    assert!(!push.already_known);
    let calls = engine.snapshot().expect("snapshot");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].state, CallState::Ringing);
    let again = engine
        .handle_push(push_payload(call_id, now_ms + 45_000))
        .expect("the same push again");
    assert!(again.already_known, "a repeated push is not a new call");

    engine.shutdown().expect("shutdown");
    engine.shutdown().expect("shutdown is idempotent");
    assert_eq!(engine.snapshot(), Err(RingwireError::Stopped));
}

#[test]
fn a_bad_configuration_is_refused_before_anything_starts() {
    struct Nobody;
    impl EngineListener for Nobody {
        fn on_event(&self, _: EngineEvent) {}
    }
    let mut bad_url = config("rw_test");
    bad_url.server_url = "calls.example".into();
    assert!(matches!(
        Engine::new(bad_url, Arc::new(Nobody)),
        Err(RingwireError::InvalidConfig(_))
    ));
    assert!(matches!(
        Engine::new(config("  "), Arc::new(Nobody)),
        Err(RingwireError::InvalidConfig(_))
    ));
    let mut bad_tone = config("rw_test");
    bad_tone.audio = AudioChoice::Tone { hz: -5.0 };
    assert!(matches!(
        Engine::new(bad_tone, Arc::new(Nobody)),
        Err(RingwireError::InvalidConfig(_))
    ));
}
