//! What an app embeds next to the engine. Today that is the JSON [`bridge`]: the protocol a
//! WebView UI uses to drive a native [`ringwire_engine::Engine`], so the call lives in native
//! code that the OS keeps running while the WebView is suspended. The UniFFI bindings for
//! Swift, Kotlin and Python will live here too.

pub mod bridge;
mod error;

pub use error::BridgeError;
