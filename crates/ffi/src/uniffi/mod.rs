//! The UniFFI bindings: the engine as Swift, Kotlin and Python see it (`docs/bindings.md`).
//!
//! This module only adapts types (STYLE.md 12): the objects, the listener, the events, one flat
//! [`RingwireError`], and a few records whose foreign shape differs on purpose (`types.rs`
//! says which and why). Records and enums the app sees exactly as the engine defines them
//! derive their UniFFI form on the engine's own type, behind the `uniffi` feature of
//! `ringwire-core`, `ringwire-proto` and `ringwire-media`, and are re-exported here; each is
//! defined once. Without that feature (which only this crate turns on) those crates know
//! nothing of UniFFI, and `ringwire-engine` never does. Nothing here decides anything about a
//! call.
//!
//! In the generated bindings each of those crates is a module of its own next to `ringwire`
//! (`ringwire_core`, `ringwire_proto`, `ringwire_media`; docs/bindings.md).
//!
//! - [`Engine`]: one device's call engine, built from an [`EngineConfig`], reporting to an
//!   [`EngineListener`] the app implements.
//! - [`HostAudioDevice`]: the audio device the app's OS audio callback drives.
//! - [`Bridge`]: the JSON bridge for hybrid apps, whose WebView UI speaks `docs/bridge.md`.
//!
//! Threading: every method may be called from any thread and returns without waiting on the
//! network. Listener callbacks arrive on the engine thread and must return quickly; calling
//! the engine from inside one is refused with [`RingwireError::CalledFromListener`] rather than
//! deadlocking (the engine thread would be waiting for itself).

mod audio;
mod bridge;
mod engine;
mod error;
mod listener;
mod peer;
mod types;

pub use audio::HostAudioDevice;
pub use bridge::{Bridge, BridgeSink};
pub use engine::{AudioChoice, Engine, EngineConfig, IceServer};
pub use error::RingwireError;
pub use listener::{EngineEvent, EngineListener};
pub use peer::{call_id_for_channel, peer_signal_from_json, peer_signal_to_json, PeerSignal};
pub use types::{CallEndReason, CallSummary, SelectedPair};

// The engine's own types, exported as they are (their UniFFI derives live with them).
pub use ringwire_core::{
    AppState, CallKitEndReason, CallSnapshot, CallState, Direction, PushCall, QualityChange,
    QualityFigures,
};
pub use ringwire_media::device::HostAudioStats;
pub use ringwire_media::{CallQuality, FrameSources};
pub use ringwire_proto::{
    CallId, DeviceId, DevicePlatform, DisplayName, EndReason, QualityAction, QualityCause,
    QualityVerdict as Verdict, UserName,
};
