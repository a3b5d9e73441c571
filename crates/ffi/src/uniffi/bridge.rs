//! [`Bridge`]: the JSON bridge (`docs/bridge.md`) for hybrid apps. The native shell builds it
//! instead of an [`Engine`](super::Engine), passes each message from the WebView to
//! [`Bridge::handle`] and the answer back, attaches a [`BridgeSink`] that posts events into
//! the WebView while it is awake, and keeps the platform duties (CallKit, audio session,
//! network) on the bridge's own methods. An optional native [`EngineListener`] receives the
//! same events as typed records, for CallKit.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, RwLock};

use ringwire_core::{AppState, PushCall};

use crate::bridge::BridgeEvents;

use super::engine::{platform, push, start, EngineConfig, Platform};
use super::listener::{EngineListener, EngineThread, Forward};
use super::RingwireError;

/// Where bridge events go while a WebView UI is attached: one JSON text per event
/// (`{"type":"event","seq":N,...}`), on the engine thread. Post it to the WebView and return.
#[uniffi::export(foreign)]
pub trait BridgeSink: Send + Sync {
    fn on_message(&self, json: String);
}

/// The JSON bridge over one engine.
#[derive(Debug, uniffi::Object)]
pub struct Bridge {
    /// `None` once shut down.
    inner: RwLock<Option<crate::bridge::Bridge>>,
    events: Arc<BridgeEvents>,
    /// The attached sink's id in `events`.
    sink: Mutex<Option<u64>>,
    thread: EngineThread,
}

#[uniffi::export]
impl Bridge {
    /// Starts an engine for `config` behind a bridge. `listener`, if given, gets every event
    /// as a typed record too (after the bridge journaled it).
    #[uniffi::constructor]
    pub fn new(
        config: EngineConfig,
        listener: Option<Arc<dyn EngineListener>>,
    ) -> Result<Arc<Self>, RingwireError> {
        let events = BridgeEvents::new();
        let thread = EngineThread::default();
        let forward = Forward {
            app: listener,
            bridge: Some(Arc::clone(&events)),
            thread: thread.clone(),
        };
        let engine = start(config, Arc::new(forward))?;
        Ok(Arc::new(Bridge {
            inner: RwLock::new(Some(crate::bridge::Bridge::new(
                engine,
                Arc::clone(&events),
            ))),
            events,
            sink: Mutex::new(None),
            thread,
        }))
    }

    /// Runs one command from the UI (`{"id":1,"cmd":"answer","call_id":"…"}`) and returns the
    /// response to send back. Refusals are responses (`"ok":false`), not errors; this fails
    /// only when called from the engine thread or after shutdown.
    pub fn handle(&self, command: String) -> Result<String, RingwireError> {
        self.with(|b| Ok(b.handle(&command)))
    }

    /// Attaches the UI's transport (replacing any earlier one). Events journaled while no UI
    /// was attached are not replayed: the UI asks for `events_since` when it wakes.
    pub fn attach(&self, sink: Arc<dyn BridgeSink>) {
        let id = self.events.attach(Arc::new(move |json: String| {
            // A sink that throws must not take the engine thread down; the journal keeps the
            // event for the UI's catch-up.
            if catch_unwind(AssertUnwindSafe(|| sink.on_message(json))).is_err() {
                tracing::error!(
                    "the app's BridgeSink failed; the UI will catch up from the journal"
                );
            }
        }));
        *self.sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(id);
    }

    /// Detaches the UI's transport (the WebView is going to sleep); events keep going into the
    /// journal.
    pub fn detach(&self) {
        if let Some(id) = self.sink.lock().unwrap_or_else(|p| p.into_inner()).take() {
            self.events.detach(id);
        }
    }

    /// See [`Engine::audio_session_activated`](super::Engine::audio_session_activated).
    pub fn audio_session_activated(&self) -> Result<(), RingwireError> {
        self.with(|b| platform(b.engine(), Platform::AudioActivated))
    }

    /// See [`Engine::audio_session_deactivated`](super::Engine::audio_session_deactivated).
    pub fn audio_session_deactivated(&self) -> Result<(), RingwireError> {
        self.with(|b| platform(b.engine(), Platform::AudioDeactivated))
    }

    /// See [`Engine::network_changed`](super::Engine::network_changed).
    pub fn network_changed(&self) -> Result<(), RingwireError> {
        self.with(|b| platform(b.engine(), Platform::NetworkChanged))
    }

    /// See [`Engine::set_app_state`](super::Engine::set_app_state). The host calls it from
    /// the OS's lifecycle callbacks: the page cannot, since it is what the OS freezes.
    pub fn set_app_state(&self, state: AppState) -> Result<(), RingwireError> {
        self.with(|b| Ok(b.engine().set_app_state(state)?))
    }

    /// See [`Engine::handle_push`](super::Engine::handle_push): the native shell reports the
    /// call to CallKit from the answer; the UI learns of it from the bridge's events.
    pub fn handle_push(&self, payload: Vec<u8>) -> Result<PushCall, RingwireError> {
        self.with(|b| push(b.engine(), &payload))
    }

    /// Ends every call and stops the engine. Idempotent.
    pub fn shutdown(&self) -> Result<(), RingwireError> {
        self.thread.check()?;
        self.detach();
        let bridge = self.inner.write().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(bridge) = bridge {
            bridge.shutdown();
        }
        Ok(())
    }
}

impl Bridge {
    fn with<T>(
        &self,
        request: impl FnOnce(&crate::bridge::Bridge) -> Result<T, RingwireError>,
    ) -> Result<T, RingwireError> {
        self.thread.check()?;
        // A panic while holding the lock cannot leave the Option half-written.
        let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
        match &*guard {
            Some(bridge) => request(bridge),
            None => Err(RingwireError::Stopped),
        }
    }
}
