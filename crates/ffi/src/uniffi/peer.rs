//! Peer mode as the bindings see it: [`PeerSignal`], the message an app's own signaling channel
//! carries between the engine and a standard WebRTC peer, and its JSON form
//! ([`peer_signal_from_json`], [`peer_signal_to_json`]) for channels that carry text. The
//! engine hands outgoing ones to the listener as `EngineEvent::PeerSignal`; the app feeds
//! incoming ones to `Engine::handle_peer_signal`. docs/peer-mode.md has the flow.
//!
//! An adapter on purpose, not `ringwire_proto::PeerSignal` itself: the foreign shape keeps the
//! SDP as a plain string and the candidate's fields flat in its variant, and what the app
//! hands in goes through the protocol's own decoder, so it is refused with the protocol's
//! limits and an `InvalidArgument` saying why (a lifted `Sdp` or `Candidate` could only fail
//! as an internal error).

use ringwire_proto::{Candidate, EndReason, Sdp};

use super::RingwireError;

/// One peer-mode signaling message.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum PeerSignal {
    /// An SDP offer (`RTCSessionDescription` of type `offer`): a new call, or a renegotiation
    /// (ICE restart) of one in progress.
    Offer { sdp: String },
    /// The SDP answer; for a new call it means the callee picked up.
    Answer { sdp: String },
    /// One trickled ICE candidate, as `RTCIceCandidate.toJSON()` gives it.
    Candidate {
        candidate: String,
        sdp_mid: Option<String>,
        sdp_m_line_index: Option<u16>,
        username_fragment: Option<String>,
    },
    /// No more candidates for this ICE generation.
    EndOfCandidates,
    /// The sender ended the call; `reason` is absent when it did not say.
    Bye { reason: Option<EndReason> },
}

impl TryFrom<PeerSignal> for ringwire_proto::PeerSignal {
    type Error = RingwireError;

    fn try_from(signal: PeerSignal) -> Result<Self, RingwireError> {
        let sdp = |text: String| {
            Sdp::try_from(text).map_err(|e| RingwireError::InvalidArgument(format!("sdp: {e}")))
        };
        Ok(match signal {
            PeerSignal::Offer { sdp: text } => {
                ringwire_proto::PeerSignal::Offer { sdp: sdp(text)? }
            }
            PeerSignal::Answer { sdp: text } => {
                ringwire_proto::PeerSignal::Answer { sdp: sdp(text)? }
            }
            PeerSignal::Candidate {
                candidate,
                sdp_mid,
                sdp_m_line_index,
                username_fragment,
            } => {
                // Through the wire decoder, so the limits are the protocol's own.
                let json = serde_json::json!({
                    "type": "candidate",
                    "candidate": candidate,
                    "sdp_mid": sdp_mid,
                    "sdp_m_line_index": sdp_m_line_index,
                    "username_fragment": username_fragment,
                });
                ringwire_proto::decode_peer_signal(&json.to_string())
                    .map_err(|e| RingwireError::InvalidArgument(e.to_string()))?
            }
            PeerSignal::EndOfCandidates => ringwire_proto::PeerSignal::EndOfCandidates,
            PeerSignal::Bye { reason } => ringwire_proto::PeerSignal::Bye { reason },
        })
    }
}

impl From<&ringwire_proto::PeerSignal> for PeerSignal {
    fn from(signal: &ringwire_proto::PeerSignal) -> Self {
        match signal {
            ringwire_proto::PeerSignal::Offer { sdp } => PeerSignal::Offer {
                sdp: sdp.as_str().to_owned(),
            },
            ringwire_proto::PeerSignal::Answer { sdp } => PeerSignal::Answer {
                sdp: sdp.as_str().to_owned(),
            },
            ringwire_proto::PeerSignal::Candidate(Candidate {
                candidate,
                sdp_mid,
                sdp_m_line_index,
                username_fragment,
            }) => PeerSignal::Candidate {
                candidate: candidate.clone(),
                sdp_mid: sdp_mid.clone(),
                sdp_m_line_index: *sdp_m_line_index,
                username_fragment: username_fragment.clone(),
            },
            ringwire_proto::PeerSignal::EndOfCandidates => PeerSignal::EndOfCandidates,
            ringwire_proto::PeerSignal::Bye { reason } => PeerSignal::Bye { reason: *reason },
        }
    }
}

/// Reads one peer-mode message in its JSON form (`{"type":"offer","sdp":…}`, a candidate with
/// the browser's or the snake_case field names, `{"type":"bye"}`); refused with the reason.
#[uniffi::export]
pub fn peer_signal_from_json(json: String) -> Result<PeerSignal, RingwireError> {
    ringwire_proto::decode_peer_signal(&json)
        .map(|s| PeerSignal::from(&s))
        .map_err(|e| RingwireError::InvalidArgument(e.to_string()))
}

/// The call id both ends of a channel derive from the channel's own id for the call (a Firestore
/// document id, a room name): FNV-1a, 128 bits, as 32 lowercase hex digits. Pass it to
/// `start_peer_call` and `expect_peer_call` on both sides.
#[uniffi::export]
pub fn call_id_for_channel(channel_id: String) -> String {
    ringwire_proto::CallId::from_channel_id(&channel_id).to_string()
}

/// The JSON form of a peer-mode message, for a channel that carries text.
#[uniffi::export]
pub fn peer_signal_to_json(signal: PeerSignal) -> Result<String, RingwireError> {
    let signal = ringwire_proto::PeerSignal::try_from(signal)?;
    Ok(ringwire_proto::encode(&signal))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn json_round_trips_and_refuses_what_the_protocol_refuses() {
        let candidate = r#"{"type":"candidate","candidate":"candidate:1 1 udp 1 10.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}"#;
        let signal = peer_signal_from_json(candidate.into()).unwrap();
        assert!(matches!(&signal, PeerSignal::Candidate { sdp_mid: Some(m), .. } if m == "0"));
        let back = peer_signal_to_json(signal).unwrap();
        assert_eq!(
            back,
            r#"{"type":"candidate","candidate":"candidate:1 1 udp 1 10.0.0.1 9 typ host","sdp_mid":"0","sdp_m_line_index":0}"#
        );
        let bye = peer_signal_to_json(PeerSignal::Bye {
            reason: Some(EndReason::Declined),
        })
        .unwrap();
        assert_eq!(bye, r#"{"type":"bye","reason":"declined"}"#);
        assert!(peer_signal_from_json(r#"{"type":"offer","sdp":""}"#.into()).is_err());
        assert!(peer_signal_to_json(PeerSignal::Offer { sdp: String::new() }).is_err());
        assert!(peer_signal_to_json(PeerSignal::Candidate {
            candidate: "x".repeat(5000),
            sdp_mid: None,
            sdp_m_line_index: None,
            username_fragment: None,
        })
        .is_err());
    }
}
