//! What an app embeds next to the engine: the [`uniffi`] bindings (Swift, Kotlin, Python:
//! `docs/bindings.md`) and the JSON [`bridge`], the protocol a WebView UI uses to drive a
//! native [`ringwire_engine::Engine`], so the call lives in native code that the OS keeps
//! running while the WebView is suspended (`docs/bridge.md`). The bindings export the bridge
//! too, for hybrid apps.

pub mod bridge;
mod error;
pub mod uniffi;

pub use error::BridgeError;

// The crate's UniFFI scaffolding (`UniFfiTag`, buffer helpers, the contract version) must sit
// at the crate root. `::uniffi` is the crate, `self::uniffi` our module of exports. The
// namespace names the Python module and the Swift module `ringwire`.
::uniffi::setup_scaffolding!("ringwire");
