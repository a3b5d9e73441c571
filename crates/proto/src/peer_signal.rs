//! Peer mode's signaling messages: what the engine and a standard WebRTC peer exchange over a
//! channel the app already has (Firestore documents, its own server, a pipe). They are the
//! values `RTCSessionDescription` and `RTCIceCandidate` carry, so the peer at the other end needs
//! no ringwire code: an offer or answer is the SDP text as `createOffer`/`createAnswer` produced
//! it, a candidate is `candidate.toJSON()` (the browser's camelCase field names are accepted),
//! and `bye` ends the call. docs/peer-mode.md has the shapes and the call flow.

use serde::{Deserialize, Serialize};

use crate::message::{Candidate, Sdp};
use crate::reason::EndReason;

/// One peer-mode signaling message, as one JSON object tagged by `type`.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PeerSignal {
    /// An SDP offer: a new call when it names no call the receiver has, an ICE restart (or other
    /// renegotiation) on a call in progress.
    Offer { sdp: Sdp },
    /// The SDP answer to the receiver's outstanding offer. For a new call it means the callee
    /// answered: standard WebRTC apps create the answer when their user picks up.
    Answer { sdp: Sdp },
    /// One trickled ICE candidate. An empty `candidate` also means end-of-candidates, as in
    /// `RTCPeerConnection.addIceCandidate`.
    Candidate(Candidate),
    /// The sender has no more candidates for this ICE generation.
    EndOfCandidates,
    /// The sender ended the call: declined, cancelled, or hung up. `reason` is optional; when
    /// absent the receiver infers it from where the call stood (a `bye` to a ringing caller is a
    /// decline, to a ringing callee a cancel, on an answered call a hangup).
    Bye {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "ts", ts(optional))]
        reason: Option<EndReason>,
    },
}

impl PeerSignal {
    /// The `type` values of this message set.
    pub const TYPES: &'static [&'static str] =
        &["offer", "answer", "candidate", "end_of_candidates", "bye"];

    /// The `type` tag, for logs (which never carry SDP or candidate text).
    pub fn type_name(&self) -> &'static str {
        match self {
            PeerSignal::Offer { .. } => "offer",
            PeerSignal::Answer { .. } => "answer",
            PeerSignal::Candidate(_) => "candidate",
            PeerSignal::EndOfCandidates => "end_of_candidates",
            PeerSignal::Bye { .. } => "bye",
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{decode_peer_signal, encode, ProtoError};

    #[test]
    fn shapes_match_the_browser_objects() {
        let offer = decode_peer_signal(r#"{"type":"offer","sdp":"v=0\r\n"}"#).unwrap();
        assert_eq!(offer.type_name(), "offer");
        assert_eq!(encode(&offer), r#"{"type":"offer","sdp":"v=0\r\n"}"#);
        // `{type: 'candidate', ...candidate.toJSON()}` from a page.
        let c = decode_peer_signal(
            r#"{"type":"candidate","candidate":"candidate:1 1 udp 1 10.0.0.1 9 typ host",
                "sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}"#,
        )
        .unwrap();
        let PeerSignal::Candidate(c) = &c else {
            panic!("not a candidate: {c:?}");
        };
        assert_eq!(c.sdp_mid.as_deref(), Some("0"));
        assert_eq!(c.sdp_m_line_index, Some(0));
        assert_eq!(
            encode(&PeerSignal::Bye { reason: None }),
            r#"{"type":"bye"}"#
        );
        assert_eq!(
            decode_peer_signal(r#"{"type":"bye","reason":"declined"}"#).unwrap(),
            PeerSignal::Bye {
                reason: Some(EndReason::Declined)
            }
        );
        assert_eq!(
            decode_peer_signal(r#"{"type":"end_of_candidates"}"#).unwrap(),
            PeerSignal::EndOfCandidates
        );
    }

    #[test]
    fn hostile_messages_get_a_code() {
        let cases = [
            ("[1]", "malformed_json"),
            (r#"{"sdp":"x"}"#, "missing_field"),
            (r#"{"type":"pranswer","sdp":"x"}"#, "unknown_type"),
            (r#"{"type":"offer"}"#, "missing_field"),
            (r#"{"type":"offer","sdp":""}"#, "invalid_field"),
            (r#"{"type":"bye","reason":"because"}"#, "invalid_field"),
        ];
        for (text, code) in cases {
            let error = decode_peer_signal(text).unwrap_err();
            assert_eq!(
                serde_json::to_value(error.code()).unwrap(),
                code,
                "{text}: {error}"
            );
        }
        let huge = format!(
            r#"{{"type":"offer","sdp":"{}"}}"#,
            "a".repeat(crate::MAX_FRAME_BYTES)
        );
        assert!(matches!(
            decode_peer_signal(&huge),
            Err(ProtoError::FrameTooLarge { .. })
        ));
        let long_line = format!(
            r#"{{"type":"candidate","candidate":"{}"}}"#,
            "a".repeat(crate::MAX_CANDIDATE_BYTES + 1)
        );
        assert!(decode_peer_signal(&long_line).is_err());
    }
}
