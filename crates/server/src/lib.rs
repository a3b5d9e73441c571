//! The ringwire signaling server.
//!
//! - [`router`]: the call router, a pure state machine (no IO, time passed in);
//! - [`record`]: the call-record events the router emits and the records they fold into;
//! - [`store`]: persistence with sqlx (SQLite by default, PostgreSQL by URL).

pub mod record;
pub mod router;
pub mod store;
