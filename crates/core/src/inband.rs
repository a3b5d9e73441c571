//! In-band call control: the few messages that also travel over the media connection's
//! `ringwire-control` data channel, so a call still connects and still ends promptly when the
//! signaling path is slow or down (a phone whose WebSocket is reconnecting after a network
//! change, a server restart).
//!
//! Messages are small JSON objects, the same shape as protocol v1 frames so a browser peer can
//! speak them: `{"type":"accept","call_id":"…"}` and `{"type":"hangup","call_id":"…"}`. The
//! channel is reliable and ordered, so there is no ack or resend; the server remains the
//! authority, and the in-band copy only makes things happen sooner.

use ringwire_proto::CallId;
use serde::{Deserialize, Serialize};

/// Larger control messages are not ours: refuse before parsing.
const MAX_INBAND_BYTES: usize = 512;

/// One in-band control message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InbandMessage {
    /// The callee device that sends it accepted the call.
    Accept { call_id: CallId },
    /// The sender hung up.
    Hangup { call_id: CallId },
}

impl InbandMessage {
    /// The call the message is about.
    pub fn call_id(&self) -> CallId {
        match self {
            InbandMessage::Accept { call_id } | InbandMessage::Hangup { call_id } => *call_id,
        }
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing two fixed-shape variants cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a received control message; `None` for anything that is not one of ours
    /// (oversized, not JSON, unknown type): the peer may be newer than us.
    pub fn decode(bytes: &[u8]) -> Option<InbandMessage> {
        if bytes.len() > MAX_INBAND_BYTES {
            return None;
        }
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches_the_protocol_shape() {
        let id: CallId = "0123456789abcdef0123456789abcdef".parse().unwrap();
        let m = InbandMessage::Accept { call_id: id };
        let wire = m.encode();
        assert_eq!(
            std::str::from_utf8(&wire).unwrap(),
            r#"{"type":"accept","call_id":"0123456789abcdef0123456789abcdef"}"#
        );
        assert_eq!(InbandMessage::decode(&wire), Some(m));
        assert_eq!(
            InbandMessage::decode(
                br#"{"type":"hangup","call_id":"0123456789abcdef0123456789abcdef"}"#
            ),
            Some(InbandMessage::Hangup { call_id: id })
        );
    }

    #[test]
    fn garbage_is_ignored() {
        assert_eq!(InbandMessage::decode(b"\xff\x00"), None);
        assert_eq!(InbandMessage::decode(br#"{"type":"dance"}"#), None);
        assert_eq!(
            InbandMessage::decode(br#"{"type":"accept","call_id":"XYZ"}"#),
            None
        );
        assert_eq!(InbandMessage::decode(&[b' '; 600]), None);
    }
}
