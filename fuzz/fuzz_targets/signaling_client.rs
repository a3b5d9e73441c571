//! Fuzzes `decode_client`: what the server parses from every device frame.
//!
//! Checks, for any byte string that is valid UTF-8:
//! - the decoder never panics;
//! - on `Ok(msg)`: `encode(&msg)` decodes again to an equal message, encoding is stable
//!   (encode → decode → encode gives the same text), the encoded `type` is `msg.type_name()`,
//!   and the encoded frame fits in `MAX_FRAME_BYTES` (the input did, or it would not decode);
//! - on `Err(e)`: `e.code()` is one of the decode codes and `e.to_string()` is non-empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwire_proto::{decode_client, encode, ErrorCode, MAX_FRAME_BYTES};

const DECODE_CODES: &[ErrorCode] = &[
    ErrorCode::MalformedJson,
    ErrorCode::UnknownType,
    ErrorCode::MissingField,
    ErrorCode::InvalidField,
    ErrorCode::InvalidId,
    ErrorCode::FrameTooLarge,
];

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = std::str::from_utf8(data) else {
        return;
    };
    match decode_client(frame) {
        Ok(msg) => {
            assert!(frame.len() <= MAX_FRAME_BYTES, "decoded an oversized frame");
            let text = encode(&msg);
            assert!(
                text.len() <= MAX_FRAME_BYTES,
                "re-encoded frame is {} bytes (input {} bytes, limit {MAX_FRAME_BYTES})",
                text.len(),
                frame.len()
            );
            let type_tag = format!("\"type\":\"{}\"", msg.type_name());
            assert!(text.contains(&type_tag), "{text}");
            let again = match decode_client(&text) {
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
});
