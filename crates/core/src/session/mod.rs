//! The device side of protocol v1's connection, with no IO, shared by every driver of it: the
//! session itself ([`ClientSession`]: `hello` → `welcome`, resync, pings and their pongs,
//! timeouts, refusals), what happens to a message the agent sends while the connection is down
//! ([`Outbox`]: call control waits in a bounded queue and goes out after the next `welcome`,
//! relays and pings are refused), and when to try again ([`Backoff`]). The engine's thread and
//! the simulator's devices both drive these, so a scenario proven in the simulator ran the
//! session the shipped client runs.

mod backoff;
mod client;
mod outbox;

pub use backoff::Backoff;
pub use client::{ClientSession, Refusal, SessionConfig, SessionEnd, SessionEvent};
pub use outbox::{kind, Kind, Outbox, OUTBOX_CAPACITY};
