//! Fuzzes the DTMF receiver: RFC 4733 telephone-event packets (RTP timestamp and payload) as a
//! peer sends them, in any order. It must never panic, must not report a key for a packet
//! of the event it reported last (duplicates, later reports of the same press), and whatever
//! report it parses must re-encode to the bytes it read (the reserved bit aside).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwire_media::dtmf::{DtmfReceiver, TelephoneEvent};

fuzz_target!(|data: &[u8]| {
    let mut receiver = DtmfReceiver::new();
    let mut last_key_start = None;
    // Each packet: a 4-byte timestamp, a length byte, then that many payload bytes.
    let mut rest = data;
    while rest.len() >= 5 {
        let timestamp = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let len = usize::from(rest[4]).min(rest.len() - 5);
        let payload = &rest[5..5 + len];
        rest = &rest[5 + len..];
        if let Some(report) = TelephoneEvent::parse(payload) {
            // The reserved bit (0x40) is dropped on parse and written as zero.
            let expected = [payload[0], payload[1] & !0x40, payload[2], payload[3]];
            assert_eq!(report.encode(), expected, "report does not round-trip");
        }
        if receiver.receive(timestamp, payload).is_some() {
            assert_ne!(last_key_start, Some(timestamp), "one press reported twice");
            last_key_start = Some(timestamp);
        }
    }
});
