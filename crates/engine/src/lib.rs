//! ringwire's driver for the sans-IO call core: [`Engine`] runs one device's calls on a thread
//! of its own, with the UDP sockets, the real clock, the WebSocket signaling client
//! ([`signaling`]) and the audio devices; the app talks to it through CallKit-shaped methods
//! and receives [`EngineEvent`]s. See `docs/engine.md`.

mod api;
mod config;
mod driver;
mod error;
mod ice;
mod net;
pub mod signaling;
mod turn_stream;

pub use api::{Engine, EngineEvent, EngineListener, PeerFeed};
pub use config::{AudioDevices, EngineConfig};
pub use error::EngineError;
pub use ice::IceServerConfig;
pub use ringwire_core::IceTransportPolicy;
pub use ringwire_core::{AppState, PushCall};
pub use signaling::{SignalingClient, SignalingConfig, SignalingEvent};
