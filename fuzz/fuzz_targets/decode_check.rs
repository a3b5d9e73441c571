//! The property both signaling fuzz targets check, for whichever decoder they fuzz: no panic;
//! a decoded message re-encodes within the frame limit, with its own `type`, decodes to itself
//! and encodes stably; an error carries a decode code and a message.

use std::fmt::Debug;

use ringwire_proto::{encode, ErrorCode, ProtoError, MAX_FRAME_BYTES};
use serde::Serialize;

const DECODE_CODES: &[ErrorCode] = &[
    ErrorCode::MalformedJson,
    ErrorCode::UnknownType,
    ErrorCode::MissingField,
    ErrorCode::InvalidField,
    ErrorCode::InvalidId,
    ErrorCode::FrameTooLarge,
];

/// Runs the check on `data` with `decode`; `type_name` is the message's wire `type`.
pub fn check<M: Serialize + PartialEq + Debug>(
    data: &[u8],
    decode: fn(&str) -> Result<M, ProtoError>,
    type_name: fn(&M) -> &'static str,
) {
    let Ok(frame) = std::str::from_utf8(data) else {
        return;
    };
    match decode(frame) {
        Ok(msg) => {
            assert!(frame.len() <= MAX_FRAME_BYTES, "decoded an oversized frame");
            let text = encode(&msg);
            assert!(
                text.len() <= MAX_FRAME_BYTES,
                "re-encoded frame is {} bytes (input {} bytes, limit {MAX_FRAME_BYTES})",
                text.len(),
                frame.len()
            );
            let type_tag = format!("\"type\":\"{}\"", type_name(&msg));
            assert!(text.contains(&type_tag), "{text}");
            let again = match decode(&text) {
                Ok(again) => again,
                Err(e) => panic!("re-encoded frame does not decode: {e}\nframe: {text}"),
            };
            assert_eq!(again, msg, "round trip changed the message; frame: {text}");
            assert_eq!(encode(&again), text, "encoding is not stable");
        }
        Err(e) => {
            let code = e.code();
            assert!(
                DECODE_CODES.contains(&code),
                "unexpected decode code {code}"
            );
            assert!(!e.to_string().is_empty(), "empty error message for {e:?}");
            assert!(!code.as_str().is_empty());
        }
    }
}
