//! The JSON codec: size check, envelope check (`type` present and known), then typed decoding
//! with serde, turning serde's failures into [`ProtoError`] variants a client can act on.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::ProtoError;
use crate::ids::{INVALID_ID_PREFIX, INVALID_VALUE_PREFIX};
use crate::message::{ClientMessage, ServerMessage};
use crate::peer_signal::PeerSignal;
use crate::MAX_FRAME_BYTES;

/// Decodes one text frame from a device.
pub fn decode_client(frame: &str) -> Result<ClientMessage, ProtoError> {
    decode(frame, ClientMessage::TYPES)
}

/// Decodes one text frame from the server.
pub fn decode_server(frame: &str) -> Result<ServerMessage, ProtoError> {
    decode(frame, ServerMessage::TYPES)
}

/// Decodes one peer-mode signaling message (one line of `ringwire peer`, one message of an
/// app's own channel), with the same limits and error codes as a frame from the server.
pub fn decode_peer_signal(text: &str) -> Result<PeerSignal, ProtoError> {
    decode(text, PeerSignal::TYPES)
}

/// Encodes a message as one text frame.
pub fn encode<T: Serialize>(message: &T) -> String {
    // Our message types contain only strings, integers, and maps with string keys, which
    // serde_json always serializes.
    serde_json::to_string(message).expect("protocol messages always serialize")
}

fn decode<T: DeserializeOwned>(frame: &str, known_types: &[&str]) -> Result<T, ProtoError> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err(ProtoError::FrameTooLarge {
            size: frame.len(),
            limit: MAX_FRAME_BYTES,
        });
    }
    let value: Value =
        serde_json::from_str(frame).map_err(|e| ProtoError::Malformed(e.to_string()))?;
    let Value::Object(map) = &value else {
        return Err(ProtoError::Malformed(format!(
            "expected a JSON object, got {}",
            json_kind(&value)
        )));
    };
    match map.get("type") {
        None => return Err(ProtoError::MissingField("type".into())),
        Some(Value::String(t)) if known_types.contains(&t.as_str()) => {}
        Some(Value::String(t)) => {
            // Echo at most a short prefix: the type is attacker-controlled.
            let shown: String = t.chars().take(64).collect();
            return Err(ProtoError::UnknownType(shown));
        }
        Some(other) => {
            return Err(ProtoError::InvalidField {
                field: "type".into(),
                detail: format!("expected a string, got {}", json_kind(other)),
            })
        }
    }
    serde_path_to_error::deserialize(value).map_err(classify)
}

fn classify(err: serde_path_to_error::Error<serde_json::Error>) -> ProtoError {
    let path = err.path().to_string();
    let detail = err.inner().to_string();
    if let Some(rest) = detail.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default();
        return ProtoError::MissingField(field.to_owned());
    }
    // Tagged enums buffer their content, so serde loses the path; fall back to the message.
    let field = if path == "." || path.is_empty() {
        "(message)".to_owned()
    } else {
        path
    };
    if detail.starts_with(INVALID_ID_PREFIX) {
        ProtoError::InvalidId { field, detail }
    } else if let Some(rest) = detail.strip_prefix(INVALID_VALUE_PREFIX) {
        ProtoError::InvalidField {
            field,
            detail: rest.trim_start_matches(": ").to_owned(),
        }
    } else {
        ProtoError::InvalidField { field, detail }
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ErrorCode, ProtoError};
    use crate::ice::{IceServer, IceUrl};
    use crate::ids::{CallId, DeviceId, DisplayName, UserName};
    use crate::message::{Candidate, ErrorMessage, IceServers, Incoming, Invite, Sdp, Welcome};
    use crate::push::{PushPlatform, PushToken};
    use crate::reason::EndReason;

    fn cid() -> CallId {
        CallId::from_bytes([0xab; 16])
    }
    fn did() -> DeviceId {
        DeviceId::from_bytes([0x01; 16])
    }
    fn sdp() -> Sdp {
        Sdp::try_from("v=0\r\n".to_owned()).unwrap()
    }
    fn cand() -> Candidate {
        Candidate {
            candidate: "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            username_fragment: Some("abcd".into()),
        }
    }

    fn every_client_message() -> Vec<ClientMessage> {
        vec![
            ClientMessage::Hello {
                versions: vec![1],
                client: Some("ringwire-cli/0.1".parse::<DisplayName>().unwrap()),
                calls: vec![cid()],
            },
            ClientMessage::Invite(Invite {
                call_id: cid(),
                to_user: "bob".parse().unwrap(),
            }),
            ClientMessage::Ringing { call_id: cid() },
            ClientMessage::Accept { call_id: cid() },
            ClientMessage::Decline { call_id: cid() },
            ClientMessage::Busy { call_id: cid() },
            ClientMessage::Cancel { call_id: cid() },
            ClientMessage::Hangup {
                call_id: cid(),
                reason: Some(crate::HangupReason::MediaFailed),
            },
            ClientMessage::Offer {
                call_id: cid(),
                to_device: did(),
                sdp: sdp(),
            },
            ClientMessage::Answer {
                call_id: cid(),
                to_device: did(),
                sdp: sdp(),
            },
            ClientMessage::Candidate {
                call_id: cid(),
                to_device: did(),
                candidate: cand(),
            },
            ClientMessage::Ping { nonce: 7 },
            ClientMessage::PushToken(
                PushToken::new(
                    PushPlatform::Apns,
                    Some("ab".repeat(32)),
                    Some("cd".repeat(32)),
                )
                .unwrap(),
            ),
            ClientMessage::CallTimeline(
                crate::CallTimeline::new(
                    cid(),
                    crate::DevicePlatform::Android,
                    crate::CallDirection::Outgoing,
                    vec![crate::TimelineEvent::new(
                        5,
                        crate::TimelineEventKind::FirstAudio {},
                    )],
                )
                .unwrap(),
            ),
        ]
    }

    fn every_server_message() -> Vec<ServerMessage> {
        let user: UserName = "alice".parse().unwrap();
        vec![
            ServerMessage::Welcome(Welcome {
                version: 1,
                user: user.clone(),
                display_name: Some("Alice".parse().unwrap()),
                device_id: did(),
                server_time_ms: 1,
                ring_timeout_ms: 45_000,
                ice_servers: ice(),
                ice_expires_ms: Some(3_600_000),
            }),
            ServerMessage::Calling {
                call_id: cid(),
                to_user: user.clone(),
                devices_online: 1,
                devices_offline: 2,
                ring_deadline_ms: 9,
            },
            ServerMessage::Incoming(Incoming {
                call_id: cid(),
                from_user: user,
                from_display_name: None,
                from_device: did(),
                ring_deadline_ms: 9,
                replayed: true,
            }),
            ServerMessage::Ringing {
                call_id: cid(),
                device_id: did(),
            },
            ServerMessage::Accepted {
                call_id: cid(),
                device_id: did(),
            },
            ServerMessage::Ended {
                call_id: cid(),
                reason: EndReason::Glare,
                device_id: Some(did()),
                replaced_by: Some(CallId::from_bytes([0xff; 16])),
            },
            ServerMessage::Offer {
                call_id: cid(),
                from_device: did(),
                sdp: sdp(),
            },
            ServerMessage::Answer {
                call_id: cid(),
                from_device: did(),
                sdp: sdp(),
            },
            ServerMessage::Candidate {
                call_id: cid(),
                from_device: did(),
                candidate: cand(),
            },
            ServerMessage::Pong {
                nonce: 7,
                server_time_ms: 3,
            },
            ServerMessage::Error(
                ErrorMessage::new(ErrorCode::RateLimited, "slow down")
                    .with_call(Some(cid()))
                    .with_ref_type("invite"),
            ),
            ServerMessage::IceServers(IceServers {
                ice_servers: ice(),
                ice_expires_ms: Some(7_200_000),
            }),
            ServerMessage::TimelineStored { call_id: cid() },
        ]
    }

    fn ice() -> Vec<IceServer> {
        let url = |s: &str| s.parse::<IceUrl>().unwrap();
        vec![
            IceServer::new(vec![url("stun:turn.example.org")], None, None).unwrap(),
            IceServer::new(
                vec![
                    url("turn:turn.example.org:3478?transport=udp"),
                    url("turns:turn.example.org:5349?transport=tcp"),
                ],
                Some(format!("3600:{}", did())),
                Some("bm90IGEgcmVhbCBwYXNzd29yZA==".into()),
            )
            .unwrap(),
        ]
    }

    #[test]
    fn welcome_without_ice_servers_still_decodes() {
        let text = format!(
            r#"{{"type":"welcome","version":1,"user":"alice","device_id":"{}","server_time_ms":1,"ring_timeout_ms":2}}"#,
            did()
        );
        match decode_server(&text).unwrap() {
            ServerMessage::Welcome(w) => {
                assert!(w.ice_servers.is_empty());
                assert_eq!(w.ice_expires_ms, None);
                assert!(!encode(&ServerMessage::Welcome(w)).contains("ice_servers"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ice_servers_are_bounded_and_checked() {
        let server = r#"{"urls":["stun:x.org"]}"#;
        let frame = |list: &str| format!(r#"{{"type":"ice_servers","ice_servers":[{list}]}}"#);
        assert!(decode_server(&frame(server)).is_ok());
        assert!(decode_server(&frame(&[server; 8].join(","))).is_ok());
        for bad in [
            frame(&[server; 9].join(",")),
            frame(r#"{"urls":["turn:x.org"]}"#),
            frame(r#"{"urls":["http://x.org"]}"#),
            frame(r#"{"urls":"stun:x.org"}"#),
            frame(r#"{"urls":[]}"#),
            frame(r#"{"urls":["stun:x.org"],"credential":"pw"}"#),
            r#"{"type":"ice_servers"}"#.to_owned(),
        ] {
            let e = decode_server(&bad).unwrap_err();
            assert!(
                matches!(e.code(), ErrorCode::InvalidField | ErrorCode::MissingField),
                "{bad}: {e:?}"
            );
        }
        let e = decode_server(&frame(r#"{"urls":["turn:x.org"]}"#)).unwrap_err();
        assert!(e.to_string().contains("username"), "{e}");
    }

    #[test]
    fn every_client_message_round_trips_and_has_a_known_type() {
        let all = every_client_message();
        assert_eq!(all.len(), ClientMessage::TYPES.len());
        for msg in all {
            let text = encode(&msg);
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["type"], msg.type_name(), "{text}");
            assert!(ClientMessage::TYPES.contains(&msg.type_name()));
            assert_eq!(decode_client(&text).unwrap(), msg, "{text}");
        }
    }

    #[test]
    fn every_server_message_round_trips_and_has_a_known_type() {
        let all = every_server_message();
        assert_eq!(all.len(), ServerMessage::TYPES.len());
        for msg in all {
            let text = encode(&msg);
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["type"], msg.type_name(), "{text}");
            assert_eq!(decode_server(&text).unwrap(), msg, "{text}");
        }
    }

    #[test]
    fn relays_convert_both_ways() {
        for msg in every_client_message() {
            let original = msg.clone();
            match msg.into_relay() {
                Ok(relay) => {
                    assert_eq!(ClientMessage::from_relay(relay.clone()), original);
                    let delivered = ServerMessage::from_relay(relay.clone());
                    assert_eq!(delivered.into_relay().unwrap(), relay);
                }
                Err(back) => assert_eq!(back, original),
            }
        }
    }

    #[test]
    fn candidate_wire_shape_matches_webrtc_init() {
        let text = encode(&ClientMessage::Candidate {
            call_id: cid(),
            to_device: did(),
            candidate: cand(),
        });
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["sdp_mid"], "0");
        assert_eq!(v["sdp_m_line_index"], 0);
        assert!(v["candidate"].as_str().unwrap().starts_with("candidate:"));
    }

    #[test]
    fn browser_candidate_spellings_are_accepted() {
        let text = format!(
            r#"{{"type":"candidate","call_id":"{}","to_device":"{}","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"uf"}}"#,
            cid(),
            did()
        );
        match decode_client(&text).unwrap() {
            ClientMessage::Candidate { candidate, .. } => {
                assert_eq!(candidate.sdp_mid.as_deref(), Some("0"));
                assert_eq!(candidate.sdp_m_line_index, Some(0));
                assert_eq!(candidate.username_fragment.as_deref(), Some("uf"));
            }
            other => panic!("{other:?}"),
        }
        let long = format!(
            r#"{{"type":"candidate","call_id":"{}","to_device":"{}","candidate":"","sdp_mid":"{}"}}"#,
            cid(),
            did(),
            "m".repeat(65)
        );
        assert_eq!(code_of(&long), ErrorCode::InvalidField);
        // One field in both spellings is refused (protocol.md 5.11); `null` is absent.
        let both = format!(
            r#"{{"type":"candidate","call_id":"{}","to_device":"{}","candidate":"","sdp_mid":"0","sdpMid":"0"}}"#,
            cid(),
            did()
        );
        assert_eq!(code_of(&both), ErrorCode::InvalidField);
        let nulls = format!(
            r#"{{"type":"candidate","call_id":"{}","to_device":"{}","candidate":"","sdpMid":null,"sdp_m_line_index":null,"usernameFragment":null}}"#,
            cid(),
            did()
        );
        match decode_client(&nulls).unwrap() {
            ClientMessage::Candidate { candidate, .. } => {
                assert_eq!(candidate.sdp_mid, None);
                assert_eq!(candidate.sdp_m_line_index, None);
                assert_eq!(candidate.username_fragment, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_relay_holds_only_the_documented_fields_in_snake_case() {
        // As the router relays (protocol.md 6.7): decoded, `to_device` becomes `from_device`,
        // browser spellings become snake_case, unknown and null fields are gone.
        let sender = DeviceId::from_bytes([0x02; 16]);
        let relay = |text: String| {
            let relay = decode_client(&text).unwrap().into_relay().unwrap();
            let out = ServerMessage::from_relay(crate::message::Relay {
                peer: sender,
                ..relay
            });
            serde_json::from_str::<Value>(&encode(&out)).unwrap()
        };
        let candidate = relay(format!(
            r#"{{"type":"candidate","call_id":"{}","to_device":"{}","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"a1b","sdpMLineIndex":null,"usernameFragment":"uf","future":1}}"#,
            cid(),
            did()
        ));
        assert_eq!(
            candidate,
            serde_json::json!({"type":"candidate","call_id":cid().to_string(),"from_device":sender.to_string(),
                "candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdp_mid":"a1b","username_fragment":"uf"})
        );
        let offer = relay(format!(
            r#"{{"type":"offer","call_id":"{}","to_device":"{}","sdp":"v=0\r\n\u0061=x\r\n","extra":{{"a":1}}}}"#,
            cid(),
            did()
        ));
        assert_eq!(
            offer,
            serde_json::json!({"type":"offer","call_id":cid().to_string(),"from_device":sender.to_string(),"sdp":"v=0\r\na=x\r\n"})
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let text = format!(r#"{{"type":"accept","call_id":"{}","future":true}}"#, cid());
        assert_eq!(
            decode_client(&text).unwrap(),
            ClientMessage::Accept { call_id: cid() }
        );
    }

    #[test]
    fn hangup_reason_is_optional_and_closed() {
        let id = "3f9c2a7e5b1d4c8fa0e6b2d9c4f17a35";
        let plain = decode_client(&format!(r#"{{"type":"hangup","call_id":"{id}"}}"#)).unwrap();
        assert!(matches!(plain, ClientMessage::Hangup { reason: None, .. }));
        assert_eq!(
            encode(&plain),
            format!(r#"{{"type":"hangup","call_id":"{id}"}}"#)
        );
        let failed = decode_client(&format!(
            r#"{{"type":"hangup","call_id":"{id}","reason":"media_failed"}}"#
        ))
        .unwrap();
        assert!(matches!(
            failed,
            ClientMessage::Hangup {
                reason: Some(crate::HangupReason::MediaFailed),
                ..
            }
        ));
        // Only the documented reasons: a made-up one is an invalid field, not a silent hangup.
        let made_up = decode_client(&format!(
            r#"{{"type":"hangup","call_id":"{id}","reason":"bored"}}"#
        ));
        assert!(
            matches!(made_up, Err(ProtoError::InvalidField { .. })),
            "{made_up:?}"
        );
    }

    #[test]
    fn hello_defaults_optional_fields() {
        let msg = decode_client(r#"{"type":"hello","versions":[1]}"#).unwrap();
        assert_eq!(
            msg,
            ClientMessage::Hello {
                versions: vec![1],
                client: None,
                calls: vec![]
            }
        );
    }

    fn code_of(frame: &str) -> ErrorCode {
        decode_client(frame).unwrap_err().code()
    }

    #[test]
    fn malformed_frames_are_typed_errors() {
        assert_eq!(code_of("not json"), ErrorCode::MalformedJson);
        assert_eq!(code_of("[1,2]"), ErrorCode::MalformedJson);
        assert_eq!(code_of("\"accept\""), ErrorCode::MalformedJson);
        assert_eq!(code_of(r#"{"type":"accept""#), ErrorCode::MalformedJson);
    }

    #[test]
    fn unknown_and_missing_type() {
        assert_eq!(
            decode_client(r#"{"type":"teleport"}"#),
            Err(ProtoError::UnknownType("teleport".into()))
        );
        assert_eq!(
            decode_client(r#"{"call_id":"x"}"#),
            Err(ProtoError::MissingField("type".into()))
        );
        assert_eq!(code_of(r#"{"type":5}"#), ErrorCode::InvalidField);
        // A server-only type is unknown from a device.
        assert_eq!(code_of(r#"{"type":"welcome"}"#), ErrorCode::UnknownType);
        let long = format!(r#"{{"type":"{}"}}"#, "x".repeat(1000));
        match decode_client(&long) {
            Err(ProtoError::UnknownType(t)) => assert_eq!(t.len(), 64),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_field_names_the_field() {
        assert_eq!(
            decode_client(r#"{"type":"accept"}"#),
            Err(ProtoError::MissingField("call_id".into()))
        );
        let text = format!(r#"{{"type":"invite","call_id":"{}"}}"#, cid());
        assert_eq!(
            decode_client(&text),
            Err(ProtoError::MissingField("to_user".into()))
        );
        let text = format!(
            r#"{{"type":"offer","call_id":"{}","to_device":"{}"}}"#,
            cid(),
            did()
        );
        assert_eq!(
            decode_client(&text),
            Err(ProtoError::MissingField("sdp".into()))
        );
        assert_eq!(
            decode_client(r#"{"type":"hello"}"#),
            Err(ProtoError::MissingField("versions".into()))
        );
    }

    #[test]
    fn bad_ids_are_invalid_id() {
        assert_eq!(
            code_of(r#"{"type":"accept","call_id":"1234"}"#),
            ErrorCode::InvalidId
        );
        let upper = "AB".repeat(16);
        assert_eq!(
            code_of(&format!(r#"{{"type":"accept","call_id":"{upper}"}}"#)),
            ErrorCode::InvalidId
        );
        let text = format!(
            r#"{{"type":"offer","call_id":"{}","to_device":"zz","sdp":"v=0"}}"#,
            cid()
        );
        assert_eq!(code_of(&text), ErrorCode::InvalidId);
        let text = r#"{"type":"hello","versions":[1],"calls":["nope"]}"#;
        assert_eq!(code_of(text), ErrorCode::InvalidId);
    }

    #[test]
    fn wrong_types_and_bad_values_are_invalid_field() {
        assert_eq!(
            code_of(r#"{"type":"accept","call_id":42}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code_of(r#"{"type":"ping","nonce":-1}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code_of(r#"{"type":"hello","versions":"1"}"#),
            ErrorCode::InvalidField
        );
        let text = format!(
            r#"{{"type":"invite","call_id":"{}","to_user":"Bad Name"}}"#,
            cid()
        );
        assert_eq!(code_of(&text), ErrorCode::InvalidField);
        let text = format!(
            r#"{{"type":"offer","call_id":"{}","to_device":"{}","sdp":""}}"#,
            cid(),
            did()
        );
        assert_eq!(code_of(&text), ErrorCode::InvalidField);
        let long = "c".repeat(2000);
        let text = format!(
            r#"{{"type":"candidate","call_id":"{}","to_device":"{}","candidate":"{long}"}}"#,
            cid(),
            did()
        );
        assert_eq!(code_of(&text), ErrorCode::InvalidField);
    }

    #[test]
    fn push_token_is_validated_per_platform() {
        let voip = "AB".repeat(32);
        let text = format!(r#"{{"type":"push_token","platform":"apns","voip_token":"{voip}"}}"#);
        match decode_client(&text).unwrap() {
            ClientMessage::PushToken(t) => {
                assert_eq!(t.platform(), PushPlatform::Apns);
                assert_eq!(t.voip_token(), Some("ab".repeat(32).as_str()));
                assert_eq!(t.alert_token(), None);
            }
            other => panic!("{other:?}"),
        }
        let fcm = r#"{"type":"push_token","platform":"fcm","alert_token":"abc:DEF-1_2.3"}"#;
        assert!(decode_client(fcm).is_ok());
        let none = r#"{"type":"push_token","platform":"none"}"#;
        assert!(decode_client(none).is_ok());
        for (frame, code) in [
            (r#"{"type":"push_token"}"#, ErrorCode::MissingField),
            (
                r#"{"type":"push_token","platform":"wns","voip_token":"ab"}"#,
                ErrorCode::InvalidField,
            ),
            (
                r#"{"type":"push_token","platform":"apns","voip_token":"nothex"}"#,
                ErrorCode::InvalidField,
            ),
            (
                r#"{"type":"push_token","platform":"apns"}"#,
                ErrorCode::InvalidField,
            ),
            (
                r#"{"type":"push_token","platform":"fcm","voip_token":"a b"}"#,
                ErrorCode::InvalidField,
            ),
            (
                r#"{"type":"push_token","platform":"none","alert_token":"abc"}"#,
                ErrorCode::InvalidField,
            ),
            (
                r#"{"type":"push_token","platform":"fcm","voip_token":7}"#,
                ErrorCode::InvalidField,
            ),
        ] {
            assert_eq!(code_of(frame), code, "{frame}");
        }
        let e = decode_client(r#"{"type":"push_token","platform":"apns","alert_token":"zz"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("alert_token"), "{e}");
    }

    #[test]
    fn oversized_frames_are_rejected_before_parsing() {
        let pad = "x".repeat(MAX_FRAME_BYTES);
        let text = format!(r#"{{"type":"ping","nonce":1,"pad":"{pad}"}}"#);
        assert_eq!(
            decode_client(&text),
            Err(ProtoError::FrameTooLarge {
                size: text.len(),
                limit: MAX_FRAME_BYTES
            })
        );
        // Exactly at the limit is fine.
        let fill = MAX_FRAME_BYTES - r#"{"type":"ping","nonce":1,"pad":""}"#.len();
        let text = format!(
            r#"{{"type":"ping","nonce":1,"pad":"{}"}}"#,
            "x".repeat(fill)
        );
        assert_eq!(text.len(), MAX_FRAME_BYTES);
        assert!(decode_client(&text).is_ok());
    }

    #[test]
    fn every_error_has_a_message_that_names_the_problem() {
        let e = decode_client(r#"{"type":"accept"}"#).unwrap_err();
        assert_eq!(e.to_string(), "missing field `call_id`");
        let e = decode_client(r#"{"type":"accept","call_id":"1"}"#).unwrap_err();
        assert!(e.to_string().contains("32 lowercase hex digits"), "{e}");
    }
}
