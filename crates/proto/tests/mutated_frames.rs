#![allow(clippy::unwrap_used)]
//! Deterministic "poor man's fuzzing" of the signaling codec, run by plain `cargo test`.
//!
//! Starts from one valid frame per client and per server message type and applies seeded
//! pseudo-random mutations: byte flips, inserted and deleted bytes, splices of two frames,
//! duplicate keys, values replaced by another JSON type, very long strings, deep nesting,
//! awkward numbers and unicode escapes (including lone surrogates). Every mutated frame goes
//! through both `decode_client` and `decode_server`, and:
//!
//! - the decoder must not panic;
//! - every error must carry a decode error code and a non-empty message;
//! - every decoded message must round-trip through `encode` to an equal message, and its
//!   encoding must fit in `MAX_FRAME_BYTES`.
//!
//! The coverage-guided version of this lives in `fuzz/` (cargo-fuzz, nightly).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::panic::{catch_unwind, AssertUnwindSafe};

use ringwire_netem::SeededRng;
use ringwire_proto::{
    decode_client, decode_server, encode, ClientMessage, ErrorCode, ProtoError, PushPayload,
    ServerMessage, MAX_FRAME_BYTES,
};
use serde::Serialize;

/// Number of mutated frames; each is decoded as a client and as a server frame.
const ITERATIONS: usize = 20_000;
const SEED: u64 = 0x5eed_f00d_cafe_b0a7;

const CALL: &str = "abababababababababababababababab";
const DEVICE: &str = "01010101010101010101010101010101";
const OTHER_CALL: &str = "ffffffffffffffffffffffffffffffff";
const ICE_STUN: &str = r#"{"urls":["stun:turn.example.org:3478"]}"#;
const ICE_TURN: &str = r#"{"urls":["turn:turn.example.org:3478?transport=udp","turns:[2001:2::1]:5349?transport=tcp"],"username":"1700000000:01010101010101010101010101010101","credential":"bm90IGEgcmVhbCBwYXNzd29yZA=="}"#;

const DECODE_CODES: &[ErrorCode] = &[
    ErrorCode::MalformedJson,
    ErrorCode::UnknownType,
    ErrorCode::MissingField,
    ErrorCode::InvalidField,
    ErrorCode::InvalidId,
    ErrorCode::FrameTooLarge,
];

/// One valid frame per client message type (the shapes of the codec's unit tests).
fn client_frames() -> Vec<String> {
    let candidate = r#""candidate":"candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host","sdp_mid":"0","sdp_m_line_index":0,"username_fragment":"abcd""#;
    vec![
        format!(
            r#"{{"type":"hello","versions":[1],"client":"ringwire-cli/0.1","calls":["{CALL}"]}}"#
        ),
        format!(r#"{{"type":"invite","call_id":"{CALL}","to_user":"bob"}}"#),
        format!(r#"{{"type":"ringing","call_id":"{CALL}"}}"#),
        format!(r#"{{"type":"accept","call_id":"{CALL}"}}"#),
        format!(r#"{{"type":"decline","call_id":"{CALL}"}}"#),
        format!(r#"{{"type":"busy","call_id":"{CALL}"}}"#),
        format!(r#"{{"type":"cancel","call_id":"{CALL}"}}"#),
        format!(r#"{{"type":"hangup","call_id":"{CALL}"}}"#),
        format!(r#"{{"type":"offer","call_id":"{CALL}","to_device":"{DEVICE}","sdp":"v=0\r\n"}}"#),
        format!(r#"{{"type":"answer","call_id":"{CALL}","to_device":"{DEVICE}","sdp":"v=0\r\n"}}"#),
        format!(r#"{{"type":"candidate","call_id":"{CALL}","to_device":"{DEVICE}",{candidate}}}"#),
        r#"{"type":"ping","nonce":7}"#.to_owned(),
        r#"{"type":"push_token","platform":"apns","voip_token":"A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90","alert_token":"a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"}"#.to_owned(),
        format!(
            r#"{{"type":"call_timeline","call_id":"{CALL}","platform":"ios","direction":"incoming","events":[{{"at_ms":1,"kind":"push_received","sent_at_ms":0}},{{"at_ms":2,"kind":"reported_to_os"}},{{"at_ms":3,"kind":"answered","from_lock_screen":true}},{{"at_ms":4,"kind":"quality","verdict":"poor","cause":"jitter","action":"restarted_ice"}},{{"at_ms":5,"kind":"app_state","state":"locked"}},{{"at_ms":6,"kind":"ended","reason":"hangup","ended_locally":false}}]}}"#
        ),
    ]
}

/// One valid frame per server message type.
fn server_frames() -> Vec<String> {
    let candidate = r#""candidate":"candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd""#;
    vec![
        format!(
            r#"{{"type":"welcome","version":1,"user":"alice","display_name":"Alice","device_id":"{DEVICE}","server_time_ms":1,"ring_timeout_ms":45000,"ice_servers":[{ICE_STUN},{ICE_TURN}],"ice_expires_ms":3600000}}"#
        ),
        format!(
            r#"{{"type":"calling","call_id":"{CALL}","to_user":"alice","devices_online":1,"devices_offline":2,"ring_deadline_ms":9}}"#
        ),
        format!(
            r#"{{"type":"incoming","call_id":"{CALL}","from_user":"alice","from_display_name":"Alice","from_device":"{DEVICE}","ring_deadline_ms":9,"replayed":true}}"#
        ),
        format!(r#"{{"type":"ringing","call_id":"{CALL}","device_id":"{DEVICE}"}}"#),
        format!(r#"{{"type":"accepted","call_id":"{CALL}","device_id":"{DEVICE}"}}"#),
        format!(
            r#"{{"type":"ended","call_id":"{CALL}","reason":"glare","device_id":"{DEVICE}","replaced_by":"{OTHER_CALL}"}}"#
        ),
        format!(
            r#"{{"type":"offer","call_id":"{CALL}","from_device":"{DEVICE}","sdp":"v=0\r\n"}}"#
        ),
        format!(
            r#"{{"type":"answer","call_id":"{CALL}","from_device":"{DEVICE}","sdp":"v=0\r\n"}}"#
        ),
        format!(
            r#"{{"type":"candidate","call_id":"{CALL}","from_device":"{DEVICE}",{candidate}}}"#
        ),
        r#"{"type":"pong","nonce":7,"server_time_ms":3}"#.to_owned(),
        format!(
            r#"{{"type":"error","code":"rate_limited","message":"slow down","call_id":"{CALL}","ref_type":"invite","retry_after_ms":1000}}"#
        ),
        format!(
            r#"{{"type":"ice_servers","ice_servers":[{ICE_TURN},{ICE_STUN}],"ice_expires_ms":7200000}}"#
        ),
        format!(r#"{{"type":"timeline_stored","call_id":"{CALL}"}}"#),
    ]
}

/// The workspace's seeded generator (`ringwire-netem`), so a failing seed fails the same way
/// everywhere.
type Rng = SeededRng;

/// A frame as an ordered list of raw JSON `key` / `value` texts, so mutations can produce
/// things `serde_json::Value` cannot hold (duplicate keys, escaped keys, invalid values).
type Fields = Vec<(String, String)>;

fn fields_of(frame: &str) -> Fields {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(frame).unwrap();
    map.iter()
        .map(|(k, v)| (serde_json::to_string(k).unwrap(), v.to_string()))
        .collect()
}

fn render(fields: &Fields) -> String {
    let len: usize = fields.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(len + 2);
    out.push('{');
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push(':');
        out.push_str(v);
    }
    out.push('}');
    out
}

/// Values of every JSON type, and numbers at the edges of what the fields accept.
const VALUES: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-0",
    "1",
    "-1",
    "1.5",
    "1e2",
    "1e999",
    "-1e999",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
    "0.0000000000000000000000001",
    "\"\"",
    "\" \"",
    "\"x\"",
    "\"1\"",
    "\"abababababababababababababababab\"",
    "\"ABABABABABABABABABABABABABABABAB\"",
    "\"glare\"",
    "\"rate_limited\"",
    "\"hello\"",
    "\"stun:x.org\"",
    "\"turn:x.org?transport=tcp\"",
    "[\"stun:x.org\"]",
    "[{\"urls\":[\"stun:x.org\"]}]",
    "[{\"urls\":[\"turn:x.org\"],\"username\":\"1:d\",\"credential\":\"pw\"}]",
    "[]",
    "[1]",
    "[1,2,3]",
    "[\"abababababababababababababababab\"]",
    "{}",
    "{\"type\":\"ping\"}",
];

/// Escapes that are valid, invalid (lone surrogates, bad hex) or otherwise awkward.
const ESCAPES: &[&str] = &[
    "\\ud800",
    "\\udc00",
    "\\udbff\\udfff",
    "\\ud800\\u0041",
    "\\ud800\\ud800",
    "\\ud83d\\ude00",
    "\\u0000",
    "\\u001f",
    "\\u007f",
    "\\u00e9",
    "\\u2028",
    "\\ufeff",
    "\\uffff",
    "\\u12",
    "\\uzzzz",
    "\\x41",
    "\\",
    "\\\"",
    "\\n",
    "\\/",
];

const TYPES: &[&str] = &[
    "hello",
    "invite",
    "ringing",
    "accept",
    "decline",
    "busy",
    "cancel",
    "hangup",
    "offer",
    "answer",
    "candidate",
    "ping",
    "push_token",
    "call_timeline",
    "welcome",
    "calling",
    "incoming",
    "accepted",
    "ended",
    "pong",
    "error",
    "ice_servers",
    "timeline_stored",
    "",
    "HELLO",
    "teleport",
];

const KEYS: &[&str] = &[
    "type",
    "call_id",
    "to_device",
    "from_device",
    "device_id",
    "sdp",
    "candidate",
    "sdp_mid",
    "sdpMid",
    "sdp_m_line_index",
    "sdpMLineIndex",
    "username_fragment",
    "usernameFragment",
    "versions",
    "calls",
    "client",
    "nonce",
    "code",
    "message",
    "reason",
    "replaced_by",
    "replayed",
    "ice_servers",
    "ice_expires_ms",
    "urls",
    "username",
    "credential",
    "platform",
    "direction",
    "events",
    "future",
    "",
];

/// Lengths around every limit a string field has (names, candidates, SDP, frame).
const SHORT_LENGTHS: &[usize] = &[
    0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1023, 1024, 1025,
];
const LONG_LENGTHS: &[usize] = &[61_439, 61_440, 61_441, 65_536, 70_000];

fn long_string(rng: &mut Rng) -> String {
    let len = if rng.percent(3) {
        *rng.pick(LONG_LENGTHS)
    } else {
        *rng.pick(SHORT_LENGTHS)
    };
    let unit = *rng.pick(&["a", "0", "f", " ", "é", "\\n", "\\u0041", "🐇"]);
    format!("\"{}\"", unit.repeat(len))
}

fn deep_nesting(rng: &mut Rng) -> String {
    let depth = *rng.pick(&[127, 128, 129, 200, 10_000]);
    match rng.index(3) {
        0 => format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        1 => format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth)),
        // Unbalanced: never closed.
        _ => "[".repeat(depth),
    }
}

/// A value of some JSON type, sometimes huge or deeply nested.
fn any_value(rng: &mut Rng) -> String {
    match rng.index(10) {
        0 => long_string(rng),
        1 => deep_nesting(rng),
        2 => format!("\"a{}b\"", rng.pick(ESCAPES)),
        _ => (*rng.pick(VALUES)).to_owned(),
    }
}

/// Escapes one character of a key as `\u00XX` (`"typ\u0065"` is still `"type"`).
fn escape_key_char(rng: &mut Rng, key: &str) -> String {
    let inner = &key[1..key.len() - 1];
    if inner.is_empty() || !inner.is_ascii() {
        return key.to_owned();
    }
    let at = rng.index(inner.len());
    let c = inner.as_bytes()[at];
    format!("\"{}\\u{:04x}{}\"", &inner[..at], c, &inner[at + 1..])
}

fn mutate_fields(rng: &mut Rng, fields: &mut Fields, all: &[Fields]) {
    let n = fields.len();
    match rng.index(10) {
        // Duplicate a key, with the same or another value, before or after the original.
        0 if n > 0 => {
            let (k, v) = fields[rng.index(n)].clone();
            let v = if rng.percent(50) { v } else { any_value(rng) };
            fields.insert(rng.index(n + 1), (k, v));
        }
        // Drop a key.
        1 if n > 0 => {
            fields.remove(rng.index(n));
        }
        // Replace a value with one of another JSON type.
        2 if n > 0 => {
            let i = rng.index(n);
            fields[i].1 = any_value(rng);
        }
        // A very long string.
        3 if n > 0 => {
            let i = rng.index(n);
            fields[i].1 = long_string(rng);
        }
        // Deep nesting.
        4 if n > 0 => {
            let i = rng.index(n);
            fields[i].1 = deep_nesting(rng);
        }
        // Unicode (and broken) escapes inside a string value.
        5 if n > 0 => {
            let i = rng.index(n);
            let esc = rng.pick(ESCAPES);
            let v = &fields[i].1;
            fields[i].1 = if v.len() >= 2 && v.starts_with('"') {
                let at = 1 + rng.index(v.len() - 1);
                if v.is_char_boundary(at) {
                    format!("{}{esc}{}", &v[..at], &v[at..])
                } else {
                    format!("\"{esc}\"")
                }
            } else {
                format!("\"{esc}\"")
            };
        }
        // Another message type (fields of one type under another's tag).
        6 => {
            let t = format!("\"{}\"", rng.pick(TYPES));
            match fields.iter_mut().find(|(k, _)| k == "\"type\"") {
                Some(field) => field.1 = t,
                None => fields.push(("\"type\"".to_owned(), t)),
            }
        }
        // An extra key, known or unknown.
        7 => {
            let k = format!("\"{}\"", rng.pick(KEYS));
            let v = any_value(rng);
            fields.insert(rng.index(n + 1), (k, v));
        }
        // A key spelled with a unicode escape.
        8 if n > 0 => {
            let i = rng.index(n);
            fields[i].0 = escape_key_char(rng, &fields[i].0);
        }
        // Transplant a field from another frame.
        _ => {
            let other = rng.pick(all);
            if !other.is_empty() {
                let f = other[rng.index(other.len())].clone();
                fields.insert(rng.index(n + 1), f);
            }
        }
    }
}

const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b":",
    b",",
    b" ",
    b"0",
    b"-",
    b"e",
    b"null",
    b"\\u",
    b"\xff",
    b"\xc3",
    b"\xe2\x80",
    b"\x00",
    b"\n",
];

fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>, all: &[String]) {
    let len = bytes.len();
    match rng.index(8) {
        // Flip one bit.
        0 if len > 0 => {
            let i = rng.index(len);
            bytes[i] ^= 1 << rng.index(8);
        }
        // Overwrite a byte.
        1 if len > 0 => {
            let i = rng.index(len);
            bytes[i] = rng.next_u64() as u8;
        }
        // Insert a JSON token or random bytes.
        2 => {
            let at = rng.index(len + 1);
            let ins: Vec<u8> = if rng.percent(70) {
                rng.pick(TOKENS).to_vec()
            } else {
                (0..1 + rng.index(8))
                    .map(|_| rng.next_u64() as u8)
                    .collect()
            };
            bytes.splice(at..at, ins);
        }
        // Delete a range.
        3 if len > 0 => {
            let at = rng.index(len);
            let n = 1 + rng.index((len - at).min(16));
            bytes.drain(at..at + n);
        }
        // Splice: this frame's prefix with another frame's suffix.
        4 => {
            let other = rng.pick(all).as_bytes();
            let cut_a = rng.index(len + 1);
            let cut_b = rng.index(other.len() + 1);
            bytes.truncate(cut_a);
            bytes.extend_from_slice(&other[cut_b..]);
        }
        // Truncate.
        5 if len > 0 => bytes.truncate(rng.index(len)),
        // Duplicate a range.
        6 if len > 0 => {
            let at = rng.index(len);
            let n = 1 + rng.index((len - at).min(32));
            let copy = bytes[at..at + n].to_vec();
            bytes.splice(at..at, copy);
        }
        // Pad with whitespace to exactly the frame limit, or one byte over (rarely: slow).
        7 if rng.percent(5) => {
            let target = MAX_FRAME_BYTES + rng.index(2);
            if len < target && len > 0 {
                let pad = vec![b' '; target - len];
                bytes.splice(1..1, pad);
            }
        }
        _ => {
            let i = rng.index(len + 1);
            bytes.insert(i, *rng.pick(b"{}[]\":,"));
        }
    }
}

/// Whole frames that are not built from a seed at all.
fn odd_frame(rng: &mut Rng) -> String {
    match rng.index(6) {
        0 => deep_nesting(rng),
        1 => (*rng.pick(VALUES)).to_owned(),
        2 => String::new(),
        3 => format!("[{}]", rng.pick(&client_frames())),
        4 => "{\"type\":".repeat(rng.index(300)),
        _ => format!("\"{}\"", rng.pick(ESCAPES)),
    }
}

#[derive(Default)]
struct Stats {
    ok: usize,
    errors: BTreeMap<&'static str, usize>,
}

fn check<M>(frame: &str, decode: fn(&str) -> Result<M, ProtoError>, stats: &mut Stats)
where
    M: PartialEq + Debug + Serialize,
{
    match decode(frame) {
        Ok(msg) => {
            stats.ok += 1;
            let text = encode(&msg);
            assert!(
                text.len() <= MAX_FRAME_BYTES,
                "re-encoded frame is {} bytes (input {}, limit {MAX_FRAME_BYTES})",
                text.len(),
                frame.len()
            );
            let again = decode(&text)
                .unwrap_or_else(|e| panic!("re-encoded frame does not decode: {e}\n{text}"));
            assert_eq!(again, msg, "round trip changed the message: {text}");
        }
        Err(e) => {
            let code = e.code();
            assert!(
                DECODE_CODES.contains(&code),
                "unexpected code {code} for {e:?}"
            );
            assert!(!e.to_string().is_empty(), "empty message for {e:?}");
            *stats.errors.entry(code.as_str()).or_default() += 1;
        }
    }
}

fn excerpt(frame: &str) -> String {
    let head: String = frame.chars().take(300).collect();
    if head.len() < frame.len() {
        format!("{head}… ({} bytes)", frame.len())
    } else {
        head
    }
}

#[test]
fn seed_frames_are_valid_and_cover_every_type() {
    let client: Vec<ClientMessage> = client_frames()
        .iter()
        .map(|f| decode_client(f).unwrap())
        .collect();
    let names: Vec<&str> = client.iter().map(ClientMessage::type_name).collect();
    assert_eq!(names, ClientMessage::TYPES);
    let server: Vec<ServerMessage> = server_frames()
        .iter()
        .map(|f| decode_server(f).unwrap())
        .collect();
    let names: Vec<&str> = server.iter().map(ServerMessage::type_name).collect();
    assert_eq!(names, ServerMessage::TYPES);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for depth in [127, 128, 129, 10_000, 60_000] {
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let objects = format!("{}1{}", "{\"a\":".repeat(depth / 5), "}".repeat(depth / 5));
        let in_field = format!(r#"{{"type":"hello","versions":{arrays}}}"#);
        for frame in [&arrays, &objects, &in_field] {
            for e in [
                decode_client(frame).unwrap_err(),
                decode_server(frame).map(|_| ()).unwrap_err(),
            ] {
                assert!(!e.to_string().is_empty());
                assert!(DECODE_CODES.contains(&e.code()), "{e:?}");
            }
        }
    }
    // Past serde_json's recursion limit (128) the JSON parser itself refuses the frame.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(
        decode_client(&deep).unwrap_err().code(),
        ErrorCode::MalformedJson
    );
}

#[test]
fn mutated_frames_never_panic_and_round_trip() {
    let client = client_frames();
    let server = server_frames();
    let all: Vec<String> = client.iter().chain(&server).cloned().collect();
    let all_fields: Vec<Fields> = all.iter().map(|f| fields_of(f)).collect();

    let mut rng = Rng::new(SEED);
    let mut client_stats = Stats::default();
    let mut server_stats = Stats::default();
    for iteration in 0..ITERATIONS {
        let frame = if rng.percent(2) {
            odd_frame(&mut rng)
        } else {
            let seed = rng.index(all.len());
            let mut fields = all_fields[seed].clone();
            let structural = rng.index(3);
            for _ in 0..structural {
                mutate_fields(&mut rng, &mut fields, &all_fields);
            }
            let mut bytes = render(&fields).into_bytes();
            let textual = if structural == 0 {
                1 + rng.index(2)
            } else if rng.percent(60) {
                0
            } else {
                1
            };
            for _ in 0..textual {
                mutate_bytes(&mut rng, &mut bytes, &all);
            }
            match String::from_utf8(bytes) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            }
        };

        let outcome = catch_unwind(AssertUnwindSafe(|| {
            check(&frame, decode_client, &mut client_stats);
            check(&frame, decode_server, &mut server_stats);
        }));
        if outcome.is_err() {
            panic!(
                "iteration {iteration} (seed {SEED:#x}) panicked on frame: {}",
                excerpt(&frame)
            );
        }
    }

    eprintln!(
        "{ITERATIONS} mutated frames: client ok={} errors={:?}; server ok={} errors={:?}",
        client_stats.ok, client_stats.errors, server_stats.ok, server_stats.errors
    );
    // The mutations must reach past the JSON parser: some frames decode, and every decode
    // error class shows up for both directions.
    for stats in [&client_stats, &server_stats] {
        assert!(
            stats.ok > ITERATIONS / 50,
            "only {} frames decoded",
            stats.ok
        );
        for code in DECODE_CODES {
            assert!(
                stats.errors.contains_key(code.as_str()),
                "no mutated frame produced {code}: {:?}",
                stats.errors
            );
        }
    }
}

/// Push payloads are network input for the phone: an APNs or FCM message that claims to come
/// from our gateway. The same mutations must never make `PushPayload::parse` panic, every
/// refusal is a `PushPayload` error that says what is wrong, and whatever parses is rebuilt by
/// the gateway's own writers into payloads that parse to the same fields.
#[test]
fn mutated_push_payloads_never_panic_and_round_trip() {
    let seeds = vec![
        format!(
            r#"{{"ringwire":1,"kind":"invite","call_id":"{CALL}","from_user":"alice","from_display_name":"Alice L.","from_device":"{DEVICE}","ring_deadline_ms":1795420045000,"sent_at_ms":1795420000450}}"#
        ),
        format!(
            r#"{{"ringwire":"1","kind":"invite","call_id":"{CALL}","from_user":"alice","from_device":"{DEVICE}","ring_deadline_ms":"1795420045000","sent_at_ms":"1795420000450"}}"#
        ),
        format!(
            r#"{{"ringwire":1,"kind":"missed_call","call_id":"{CALL}","from_user":"bob","from_device":"{DEVICE}","ring_deadline_ms":1,"aps":{{"alert":{{"title":"Missed call","body":"bob"}},"sound":"default"}}}}"#
        ),
    ];
    for seed in &seeds {
        PushPayload::parse(seed.as_bytes()).unwrap();
    }
    let seed_fields: Vec<Fields> = seeds.iter().map(|f| fields_of(f)).collect();
    let mut rng = Rng::new(SEED ^ 0x9u64);
    let (mut ok, mut refused) = (0usize, 0usize);
    for iteration in 0..ITERATIONS / 4 {
        let mut fields = seed_fields[rng.index(seeds.len())].clone();
        for _ in 0..rng.index(3) {
            mutate_fields(&mut rng, &mut fields, &seed_fields);
        }
        let mut bytes = render(&fields).into_bytes();
        if rng.percent(2) {
            mutate_bytes(&mut rng, &mut bytes, &seeds);
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| match PushPayload::parse(&bytes) {
            Ok(p) => {
                let apns = p.to_apns().unwrap();
                assert_eq!(PushPayload::parse(&apns).unwrap(), p);
                let fcm = serde_json::to_vec(&p.to_fcm_data().unwrap()).unwrap();
                let back = PushPayload::parse(&fcm).unwrap();
                // FCM's smaller limit may have cost display-name bytes, nothing else.
                assert_eq!(
                    PushPayload {
                        from_display_name: None,
                        ..back
                    },
                    PushPayload {
                        from_display_name: None,
                        ..p
                    }
                );
                true
            }
            Err(e) => {
                assert!(matches!(e, ProtoError::PushPayload(_)), "{e:?}");
                assert!(!e.to_string().is_empty());
                false
            }
        }));
        match outcome {
            Ok(true) => ok += 1,
            Ok(false) => refused += 1,
            Err(_) => panic!(
                "iteration {iteration} panicked on push payload: {}",
                excerpt(&String::from_utf8_lossy(&bytes))
            ),
        }
    }
    eprintln!(
        "{} mutated push payloads: {ok} read, {refused} refused",
        ITERATIONS / 4
    );
    assert!(
        ok > ITERATIONS / 200 && refused > ITERATIONS / 20,
        "{ok} read, {refused} refused"
    );
}
