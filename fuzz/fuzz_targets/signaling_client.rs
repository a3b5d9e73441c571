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
use ringwire_proto::{decode_client, ClientMessage};

#[path = "decode_check.rs"]
mod decode_check;

fuzz_target!(|data: &[u8]| {
    decode_check::check(data, decode_client, ClientMessage::type_name);
});
