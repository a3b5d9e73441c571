//! The JSON bridge between a WebView UI and the native engine (`docs/bridge.md`).
//!
//! The UI sends commands (`{"id":1,"cmd":"answer","call_id":"…"}`) and gets one response per
//! command (`{"type":"response","id":1,"ok":true,"result":…}`) plus a stream of events
//! (`{"type":"event","seq":7,"event":"ended",…}`). The call never depends on the UI: the
//! engine runs it, events go into a bounded [`journal`] whether or not a UI is listening, and a
//! UI that wakes up asks for a `snapshot` (the truth: live calls, signaling state, recently
//! ended calls) and `events_since` its last sequence number.
//!
//! The bridge does no IO of its own. The host (an iOS or Android shell, or
//! `ringwire bridge-host`) makes a [`BridgeEvents`] first and gives it to the engine as its
//! listener (directly, or from its own listener on the engine thread), then wraps the engine in
//! a [`Bridge`], hands it each command string with [`Bridge::handle`], and attaches the UI's
//! transport as a sink. Events must reach [`BridgeEvents`] on the engine thread, before the
//! engine answers its next request: that is what makes a snapshot agree with the journal (a
//! call missing from the engine's list is already in `recent_ended`).

pub mod command;
pub mod event;
pub mod journal;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use ringwire_core::CallSnapshot;
use ringwire_engine::{Engine, EngineEvent, EngineListener};
use ringwire_proto::CallId;
use serde_json::{json, Map, Value};

pub use command::{Command, Request};
pub use event::BridgeEvent;
pub use journal::{Journal, DEFAULT_CAPACITY};

use crate::BridgeError;

/// Where events go while a UI is attached. It must not block: a sleeping UI's transport drops,
/// the journal keeps.
pub type Sink = Arc<dyn Fn(String) + Send + Sync>;

/// Ended calls the snapshot still lists, so a UI that slept through a whole call learns how it
/// ended.
const RECENT_ENDED: usize = 8;

/// The bridge over one engine.
pub struct Bridge {
    engine: Engine,
    events: Arc<BridgeEvents>,
}

/// The event side of the bridge: the journal, the signaling state, the recently ended calls and
/// the attached UI. It is the engine's listener (or is fed by it, on the engine thread).
pub struct BridgeEvents {
    inner: Mutex<Inner>,
}

struct Inner {
    journal: Journal,
    signaling_connected: bool,
    recent_ended: VecDeque<BridgeEvent>,
    sink: Option<(u64, Sink)>,
    next_sink: u64,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("engine", &self.engine)
            .finish()
    }
}

impl std::fmt::Debug for BridgeEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeEvents")
            .field("last_seq", &self.lock().journal.last_seq())
            .finish()
    }
}

impl EngineListener for BridgeEvents {
    fn on_event(&self, event: EngineEvent) {
        self.on_engine_event(&event);
    }
}

impl BridgeEvents {
    /// A journal of [`DEFAULT_CAPACITY`] events.
    pub fn new() -> Arc<BridgeEvents> {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    pub fn with_capacity(capacity: usize) -> Arc<BridgeEvents> {
        Arc::new(BridgeEvents {
            inner: Mutex::new(Inner {
                journal: Journal::new(capacity),
                signaling_connected: false,
                recent_ended: VecDeque::new(),
                sink: None,
                next_sink: 1,
            }),
        })
    }

    /// Journals an engine event and forwards it to the attached UI, if any.
    pub fn on_engine_event(&self, event: &EngineEvent) {
        let Some(event) = BridgeEvent::from_engine(event) else {
            return;
        };
        let (wire, sink) = {
            let mut inner = self.lock();
            match &event {
                BridgeEvent::Signaling { connected, .. } => inner.signaling_connected = *connected,
                BridgeEvent::Ended { .. } => {
                    if inner.recent_ended.len() == RECENT_ENDED {
                        inner.recent_ended.pop_front();
                    }
                    inner.recent_ended.push_back(event.clone());
                }
                _ => {}
            }
            let seq = inner.journal.push(event.clone());
            (
                event_wire(seq, &event),
                inner.sink.as_ref().map(|(_, s)| s.clone()),
            )
        };
        if let Some(sink) = sink {
            sink(wire);
        }
    }

    /// Attaches the UI's transport (replacing any earlier one) and returns its id for
    /// [`detach`](BridgeEvents::detach).
    pub fn attach(&self, sink: Sink) -> u64 {
        let mut inner = self.lock();
        let id = inner.next_sink;
        inner.next_sink += 1;
        inner.sink = Some((id, sink));
        id
    }

    /// Detaches the transport `id` (a no-op if another one replaced it since).
    pub fn detach(&self, id: u64) {
        let mut inner = self.lock();
        if inner
            .sink
            .as_ref()
            .is_some_and(|(current, _)| *current == id)
        {
            inner.sink = None;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the journal half-written (every update
        // is one push), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Bridge {
    /// Wraps `engine`, whose events reach `events` (see the module docs).
    pub fn new(engine: Engine, events: Arc<BridgeEvents>) -> Bridge {
        Bridge { engine, events }
    }

    /// The engine, for the host's own platform integration (CallKit actions).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The event side, to attach and detach the UI's transport.
    pub fn events(&self) -> &BridgeEvents {
        &self.events
    }

    /// Runs one command from the UI and returns the response to send back.
    pub fn handle(&self, text: &str) -> String {
        let response = match command::parse(text) {
            Ok(Request { id, command }) => match self.run(command) {
                Ok(result) => json!({"type": "response", "id": id, "ok": true, "result": result}),
                Err(error) => error_wire(Some(id), &error),
            },
            Err((id, error)) => error_wire(id, &error),
        };
        response.to_string()
    }

    /// Stops the engine (hanging up its calls).
    pub fn shutdown(self) {
        self.engine.shutdown();
    }

    fn run(&self, command: Command) -> Result<Value, BridgeError> {
        let engine_err = |e: ringwire_engine::EngineError| BridgeError::Engine {
            detail: e.to_string(),
        };
        match command {
            Command::StartCall { user } => {
                let call_id = self.engine.start_call(user.as_str()).map_err(engine_err)?;
                Ok(json!({"call_id": call_id.to_string()}))
            }
            Command::Answer { call_id } => {
                self.known(call_id)?;
                self.engine.answer(call_id).map_err(engine_err)?;
                Ok(Value::Null)
            }
            Command::Decline { call_id } | Command::End { call_id } => {
                self.known(call_id)?;
                self.engine.end(call_id).map_err(engine_err)?;
                Ok(Value::Null)
            }
            Command::Mute { call_id, muted } => {
                self.known(call_id)?;
                self.engine.set_muted(call_id, muted).map_err(engine_err)?;
                Ok(Value::Null)
            }
            Command::Hold { call_id, held } => {
                self.known(call_id)?;
                self.engine.set_held(call_id, held).map_err(engine_err)?;
                Ok(Value::Null)
            }
            Command::Dtmf { call_id, digits } => {
                self.known(call_id)?;
                self.engine
                    .send_dtmf(call_id, &digits)
                    .map_err(engine_err)?;
                Ok(Value::Null)
            }
            Command::PeerCall { to, call_id } => {
                let call_id = self
                    .engine
                    .start_peer_call(to.as_str(), call_id)
                    .map_err(engine_err)?;
                Ok(json!({"call_id": call_id.to_string()}))
            }
            Command::ExpectPeerCall {
                call_id,
                from,
                display_name,
            } => {
                self.engine
                    .expect_peer_call(call_id, from.as_str(), display_name.as_deref())
                    .map_err(engine_err)?;
                Ok(Value::Null)
            }
            Command::PeerSignal { call_id, signal } => {
                self.engine
                    .handle_peer_signal(call_id, signal)
                    .map_err(engine_err)?;
                Ok(Value::Null)
            }
            Command::Snapshot => self.snapshot(),
            Command::EventsSince { seq } => {
                let since = self.events.lock().journal.since(seq);
                let events: Vec<Value> = since
                    .events
                    .iter()
                    .map(|(s, e)| event_value(*s, e))
                    .collect();
                Ok(json!({"events": events, "truncated": since.truncated, "seq": since.last_seq}))
            }
        }
    }

    /// The truth now. The sequence number is read before the engine is asked, so an event
    /// racing the snapshot is at worst delivered again, never lost; the ended calls and the
    /// signaling state are read after, so every call the engine no longer lists is in
    /// `recent_ended` (its `ended` event reached the journal before the engine answered).
    fn snapshot(&self) -> Result<Value, BridgeError> {
        let seq = self.events.lock().journal.last_seq();
        let calls = self.calls()?;
        let (connected, ended) = {
            let inner = self.events.lock();
            (
                inner.signaling_connected,
                inner.recent_ended.iter().cloned().collect::<Vec<_>>(),
            )
        };
        Ok(json!({
            "seq": seq,
            "signaling": {"connected": connected},
            "calls": calls,
            "recent_ended": ended,
        }))
    }

    fn calls(&self) -> Result<Vec<CallSnapshot>, BridgeError> {
        self.engine.snapshot().map_err(|e| BridgeError::Engine {
            detail: e.to_string(),
        })
    }

    fn known(&self, call_id: CallId) -> Result<(), BridgeError> {
        if self.calls()?.iter().any(|c| c.call_id == call_id) {
            Ok(())
        } else {
            Err(BridgeError::UnknownCall {
                call_id: call_id.to_string(),
            })
        }
    }
}

fn event_value(seq: u64, event: &BridgeEvent) -> Value {
    let mut object = match serde_json::to_value(event) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    object.insert("type".into(), "event".into());
    object.insert("seq".into(), seq.into());
    Value::Object(object)
}

fn event_wire(seq: u64, event: &BridgeEvent) -> String {
    event_value(seq, event).to_string()
}

fn error_wire(id: Option<u64>, error: &BridgeError) -> Value {
    json!({
        "type": "response",
        "id": id,
        "ok": false,
        "error": {"code": error.code(), "message": error.to_string()},
    })
}
