//! ringwire signaling protocol v1: the messages a device and the server exchange over a
//! WebSocket, their JSON codec, and validation.
//!
//! Every frame is one JSON object with a `type` field. A device opens with [`ClientMessage::Hello`]
//! listing the versions it speaks; the server answers [`ServerMessage::Welcome`] with the version
//! both will use. Decoding is "parse, don't validate": [`decode_client`] and [`decode_server`]
//! either return a message whose ids, names and sizes are already valid, or a [`ProtoError`]
//! that maps to a wire [`ErrorCode`]. Unknown fields are ignored so newer peers can add fields
//! (except inside the events of a [`CallTimeline`], where a misspelt field would silently go
//! missing from the figures); unknown `type`s are rejected.
//!
//! This crate does no IO and reads no clock. The full specification is `docs/protocol.md`.
//!
//! With the `uniffi` feature (on only when `ringwire-ffi` is in the build) the types the
//! bindings export derive their UniFFI form here, so each is defined once: [`EndReason`], the
//! quality words ([`QualityVerdict`] is `Verdict` there), [`DevicePlatform`], and the ids and
//! names, which cross as strings. Without it the crate knows nothing of UniFFI.

mod codec;
mod error;
mod ice;
mod ids;
mod message;
mod peer_signal;
mod push;
mod push_payload;
mod reason;
mod timeline;

pub use codec::{decode_client, decode_peer_signal, decode_server, encode};
pub use error::{ErrorCode, ProtoError};
pub use ice::{
    IceHost, IceScheme, IceServer, IceTransport, IceUrl, MAX_ICE_CREDENTIAL_BYTES, MAX_ICE_SERVERS,
    MAX_ICE_URLS, MAX_ICE_URL_BYTES,
};
pub use ids::{CallId, DeviceId, DisplayName, UserName};
pub use message::{
    Candidate, ClientMessage, ErrorMessage, IceServers, Incoming, Invite, Relay, RelayKind, Sdp,
    ServerMessage, Welcome,
};
pub use peer_signal::PeerSignal;
pub use push::{
    PushPlatform, PushToken, MAX_APNS_TOKEN_BYTES, MAX_FCM_TOKEN_BYTES, MIN_APNS_TOKEN_BYTES,
};
pub use push_payload::{
    PushKind, PushPayload, APNS_MAX_PAYLOAD, FCM_MAX_DATA, MISSED_CALL_TITLE, PUSH_PAYLOAD_VERSION,
};
pub use reason::{EndReason, HangupReason};
pub use timeline::{
    AppState, CallDirection, CallTimeline, DevicePlatform, QualityAction, QualityCause,
    QualityVerdict, TimelineEndReason, TimelineEvent, TimelineEventKind, MAX_TIMELINE_EVENTS,
};

/// The protocol versions this crate speaks, highest first.
pub const SUPPORTED_VERSIONS: &[u32] = &[1];

/// Frames larger than this are rejected with [`ErrorCode::FrameTooLarge`].
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Upper bound on an SDP blob inside a frame; leaves room for the envelope.
pub const MAX_SDP_BYTES: usize = 60 * 1024;

/// Upper bound on one ICE candidate line.
pub const MAX_CANDIDATE_BYTES: usize = 1024;

// The crate's UniFFI scaffolding: its types form the `ringwire_proto` module of the bindings.
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();

/// Upper bound on the number of call ids a device may list in `hello.calls`.
pub const MAX_HELLO_CALLS: usize = 32;

/// Picks the highest version both sides speak, or `None` when there is none.
pub fn negotiate_version(offered: &[u32]) -> Option<u32> {
    SUPPORTED_VERSIONS
        .iter()
        .copied()
        .find(|v| offered.contains(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_highest_common_version() {
        assert_eq!(negotiate_version(&[1, 2, 3]), Some(1));
        assert_eq!(negotiate_version(&[2]), None);
        assert_eq!(negotiate_version(&[]), None);
    }
}
