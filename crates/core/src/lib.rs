//! ringwire's call engine, sans-IO: no sockets, threads or clock reads; drivers feed it
//! datagrams, signaling messages, platform commands, audio frames and time, and act on what it
//! returns.
//!
//! Layers, bottom up:
//!
//! - [`peer`]: one WebRTC connection to one remote device ([`peer::PeerConnection`], on
//!   str0m): offer/answer in ringwire_proto's types, trickle ICE with early-candidate buffering,
//!   Opus audio with a media hold for pre-connect while ringing, an in-band control channel,
//!   stats. Its module docs hold the drive contract (`handle_*` / `poll_output` until
//!   `Timeout`).
//! - [`gather`]: server-reflexive and relay (TURN) candidates per call, on `ringwire-turn`'s
//!   sans-IO clients; the driver owns the sockets and streams.
//! - [`inband`]: the accept/hangup messages that also travel over that control channel.
//! - [`push`]: incoming-call push payloads, parsed for `Agent::handle_push`.
//! - `call`: one call's state ([`CallState`]), its connections and its audio.
//! - [`Agent`]: every call of one device, protocol v1 towards the server, CallKit-shaped
//!   [`Report`]s towards the app ([`report`]).
//! - [`session`]: the device side of the signaling connection ([`session::ClientSession`]).
//! - [`device`]: the [`Device`] the drivers run — the agent, its signaling session and the
//!   audio-session policy glued together once, for the engine and the simulator alike. Start
//!   here.
//!
//! Errors of every layer are one type, [`CoreError`].
//!
//! With the `uniffi` feature (on only when `ringwire-ffi` is in the build) the types the
//! bindings export as they are derive their UniFFI form here, so each is defined once:
//! [`AppState`], [`Direction`], [`CallState`], [`CallSnapshot`], [`CallKitEndReason`],
//! [`QualityChange`] (`QualityVerdict` there), [`QualityFigures`] and [`PushCall`]. Without it
//! the crate knows nothing of UniFFI.

mod agent;
mod call;
pub mod device;
mod error;
pub mod gather;
pub mod inband;
pub mod peer;
pub mod push;
pub mod report;
pub mod session;

pub use agent::{Agent, AgentConfig, AppState, Command, Output, SignalingWanted, PEER_DEVICE};
/// Quality verdicts: thresholds, hysteresis, causes and actions.
pub use call::verdict as quality;
pub use call::verdict::{QualityAction, QualityCause, QualityChange, QualityFigures, Verdict};
pub use call::{CallSnapshot, CallState};
pub use device::{AudioSessionPolicy, Device};
pub use error::CoreError;
pub use gather::{
    CandidateType, IceServer, IceTransportPolicy, RelayTransport, SelectedPair, StreamId,
    TurnAllocation,
};
pub use push::PushCall;
pub use report::{CallEndReason, CallKitEndReason, CallSummary, Direction, MediaFailure, Report};

// The crate's UniFFI scaffolding: its types form the `ringwire_core` module of the bindings.
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();
