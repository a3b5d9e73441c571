//! The UniFFI bindings: the engine as Swift, Kotlin and Python see it (`docs/bindings.md`).
//!
//! This module only adapts types (STYLE.md 12): strings for ids and names, records and enums
//! that mirror the engine's, one flat [`RingwireError`]. Nothing here decides anything about a
//! call; `ringwire-engine` and `ringwire-core` know nothing of UniFFI.
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
mod quality;
mod types;

pub use audio::{HostAudioDevice, HostAudioStats};
pub use bridge::{Bridge, BridgeSink};
pub use engine::{AudioChoice, DevicePlatform, Engine, EngineConfig, IceServer};
pub use error::RingwireError;
pub use listener::{EngineEvent, EngineListener};
pub use peer::{call_id_for_channel, peer_signal_from_json, peer_signal_to_json, PeerSignal};
pub use quality::{QualityAction, QualityCause, QualityFigures, QualityVerdict, Verdict};
pub use types::{
    AppState, CallEndReason, CallKitEndReason, CallQuality, CallSnapshot, CallState, CallSummary,
    Direction, EndReason, PushCall,
};
