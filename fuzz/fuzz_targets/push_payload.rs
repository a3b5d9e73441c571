//! Fuzzes `PushPayload::parse`: what the phone's engine reads from an APNs VoIP push or an FCM
//! data message before it reports a call to the OS.
//!
//! Checks, for any bytes:
//! - the parser never panics;
//! - on `Err(e)`: it is a `PushPayload` error with a non-empty message;
//! - on `Ok(p)`: the gateway's writers rebuild it (`to_apns`, `to_fcm_data`) into payloads that
//!   parse to the same fields (FCM may shorten only the display name).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwire_proto::{ProtoError, PushPayload};

fuzz_target!(|data: &[u8]| {
    match PushPayload::parse(data) {
        Ok(p) => {
            let apns = p.to_apns().expect("a parsed payload fits APNs again");
            assert_eq!(PushPayload::parse(&apns).expect("APNs form reads back"), p);
            let data = p.to_fcm_data().expect("a parsed payload fits FCM");
            let fcm = serde_json::to_vec(&data).expect("a string map serializes");
            let back = PushPayload::parse(&fcm).expect("FCM form reads back");
            assert_eq!(
                PushPayload { from_display_name: None, ..back },
                PushPayload { from_display_name: None, ..p }
            );
        }
        Err(e) => {
            assert!(matches!(e, ProtoError::PushPayload(_)), "{e:?}");
            assert!(!e.to_string().is_empty());
        }
    }
});
