//! Fuzzes the in-band control decoder: what a peer device sends over the `ringwire-control`
//! data channel. It must never panic, and whatever it accepts must re-encode to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwire_core::inband::InbandMessage;

fuzz_target!(|data: &[u8]| {
    if let Some(message) = InbandMessage::decode(data) {
        let again = InbandMessage::decode(&message.encode());
        assert_eq!(again, Some(message), "accepted message does not round-trip");
    }
});
