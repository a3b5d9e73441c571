//! ringwire's call engine, sans-IO: no sockets, threads or clock reads; drivers feed it
//! datagrams, signaling messages and time, and act on what it returns.
//!
//! Layers, bottom up:
//!
//! - [`peer`]: one WebRTC connection to one remote device ([`peer::PeerConnection`], on
//!   str0m): offer/answer in ringwire_proto's types, trickle ICE with early-candidate buffering,
//!   Opus audio with a media hold for pre-connect while ringing, an in-band control channel,
//!   stats. Its module docs hold the drive contract (`handle_*` / `poll_output` until
//!   `Timeout`).
//!
//! Errors of every layer are one type, [`CoreError`].

mod error;
pub mod peer;

pub use error::CoreError;
