//! The ringwire signaling server.
//!
//! - [`router`]: the call router, a pure state machine (no IO, time passed in);
//! - [`record`]: the call-record events the router emits and the records they fold into;
//! - [`store`]: persistence with sqlx (SQLite by default, PostgreSQL by URL);
//! - [`push`]: the push gateway (APNs, FCM) that wakes offline devices;
//! - [`ice`]: the ICE servers and TURN credentials each device gets (pure, time passed in);
//! - the driver: [`hub`] owns the router and carries out its outputs, [`connection`] serves
//!   one WebSocket, [`writer`] applies call events to the store in order, [`http`] is the axum
//!   surface, and [`server`] assembles them with graceful shutdown.

pub mod admin;
pub mod clock;
pub mod config;
pub mod conn_io;
pub mod connection;
pub mod counted_io;
pub mod error;
pub mod health;
pub mod http;
pub mod hub;
pub mod ice;
pub mod last_seen;
pub mod listener;
pub mod metrics;
pub mod names;
pub mod push;
mod push_http;
pub mod rate_limit;
pub mod reclaim;
pub mod record;
pub mod revocation;
pub mod router;
pub mod server;
pub mod store;
pub mod testing;
pub mod web;
pub mod writer;

pub use config::ServerConfig;
pub use error::ServerError;
pub use server::Server;
