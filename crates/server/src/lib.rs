//! The ringwire signaling server.
//!
//! The call router itself — a pure state machine, the call records it emits and the fold
//! that turns them into one record per call — is the `ringwire-router` crate; this crate is
//! its driver:
//!
//! - [`store`]: persistence with sqlx (SQLite by default, PostgreSQL by URL);
//! - [`push`]: the push gateway (APNs, FCM) that wakes offline devices;
//! - [`ice`]: the ICE servers and TURN credentials each device gets (pure, time passed in);
//! - the driver: [`hub`] owns the router and carries out its outputs, [`connection`] serves
//!   one WebSocket, [`writer`] applies call events to the store in order, [`timelines`] stores
//!   the call timelines devices upload, [`http`] is the axum surface, and [`server`] assembles
//!   them with graceful shutdown;
//! - [`cluster`]: several such servers as one (`--cluster`): a leader elected on PostgreSQL runs
//!   the one router; every node's connections reach it through a port over NATS;
//! - [`analytics`]: those timelines as Prometheus metrics, the admin's figures and call
//!   drill-downs, drawn by the dashboard at `/admin/` ([`dashboard`]).

pub mod admin;
pub mod analytics;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod conn_io;
pub mod connection;
pub mod counted_io;
pub mod dashboard;
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
pub mod reclaim;
pub mod revocation;
pub mod server;
pub mod store;
pub mod testing;
pub mod timelines;
pub mod web;
pub mod writer;

pub use config::ServerConfig;
pub use error::ServerError;
pub use server::Server;
