//! The lab every caller of a whole ringwire used to write for itself: a real server on an
//! ephemeral loopback port with a temporary store ([`Lab`], and for integration tests the
//! admin-API-driven [`TestServer`] behind the `test-server` feature), users and devices
//! provisioned before it starts, real engines on 127.0.0.1 ([`Phone`], [`engine_config`]),
//! their events stamped on one clock ([`events`]), and where the `ringwire` binary is
//! ([`ringwire_exe`]). The demo, the benchmarks and the engine's and server's tests share it.

pub mod events;
mod exe;
mod lab;
#[cfg(feature = "test-server")]
pub mod server;

pub use events::{wait_for, ChannelListener, Stamped};
pub use exe::{built_beside_me, ringwire_exe};
pub use lab::{engine_config, provision, Lab, LabUser, Phone};
#[cfg(feature = "test-server")]
pub use server::{TestServer, ADMIN};
