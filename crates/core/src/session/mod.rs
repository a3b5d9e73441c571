//! The pure parts of the device side of protocol v1's connection, shared by every driver of
//! it: what happens to a message the agent sends while the connection is down ([`Outbox`]:
//! call control waits in a bounded queue and goes out after the next `welcome`, relays and
//! pings are refused), and when to try again ([`Backoff`]). The engine's WebSocket client and
//! the simulator's devices both use these, so a scenario proven in the simulator ran the same
//! queueing rules the shipped client runs.

mod backoff;
mod outbox;

pub use backoff::Backoff;
pub use outbox::{kind, Kind, Outbox, OUTBOX_CAPACITY};
