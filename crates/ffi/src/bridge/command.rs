//! Commands from the UI: parsing and validation of untrusted JSON. A command is one object
//! `{"id": <u64>, "cmd": "<name>", ...fields}`; the reply carries the same `id`.

use ringwire_media::dtmf::parse_dial_string;
use ringwire_proto::{CallId, PeerSignal, UserName};
use serde::Deserialize;
use serde_json::Value;

use crate::BridgeError;

/// Larger commands are not ours: the biggest is `peer_signal` carrying an SDP (at most
/// `ringwire_proto::MAX_SDP_BYTES`, 60 KiB); the others are about 100 bytes.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;

/// One command, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    StartCall {
        user: UserName,
    },
    Answer {
        call_id: CallId,
    },
    /// Refuse a ringing incoming call.
    Decline {
        call_id: CallId,
    },
    /// Hang up (or cancel an outgoing call that still rings).
    End {
        call_id: CallId,
    },
    Mute {
        call_id: CallId,
        muted: bool,
    },
    Hold {
        call_id: CallId,
        held: bool,
    },
    /// Send DTMF keys (`0`-`9`, `*`, `#`, `A`-`D`; `,` pauses 2 s), checked here.
    Dtmf {
        call_id: CallId,
        digits: String,
    },
    /// Place a peer-mode call over the page's own signaling channel (docs/peer-mode.md).
    PeerCall {
        to: UserName,
        call_id: Option<CallId>,
    },
    /// An incoming peer-mode call the app heard of before its offer: ring now.
    ExpectPeerCall {
        call_id: CallId,
        from: UserName,
        display_name: Option<String>,
    },
    /// One message from the peer of a peer-mode call.
    PeerSignal {
        call_id: CallId,
        signal: PeerSignal,
    },
    /// The whole truth now: calls, signaling state, the latest event sequence number.
    Snapshot,
    /// Events after `seq`, from the bounded journal, for a UI that slept.
    EventsSince {
        seq: u64,
    },
}

/// A command and the id its reply must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: u64,
    pub command: Command,
}

#[derive(Deserialize)]
struct Raw {
    id: u64,
    cmd: String,
    #[serde(flatten)]
    fields: serde_json::Map<String, Value>,
}

/// Parses one command. On failure returns the id when it could be read, so the UI can still
/// match the error to its request.
pub fn parse(text: &str) -> Result<Request, (Option<u64>, BridgeError)> {
    if text.len() > MAX_COMMAND_BYTES {
        return Err((
            None,
            BridgeError::TooLarge {
                len: text.len(),
                max: MAX_COMMAND_BYTES,
            },
        ));
    }
    let raw: Raw = serde_json::from_str(text).map_err(|e| {
        let id = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("id").and_then(Value::as_u64));
        (
            id,
            BridgeError::Malformed {
                detail: e.to_string(),
            },
        )
    })?;
    let id = raw.id;
    command(&raw)
        .map(|command| Request { id, command })
        .map_err(|e| (Some(id), e))
}

fn command(raw: &Raw) -> Result<Command, BridgeError> {
    let call_id = || -> Result<CallId, BridgeError> {
        let text = str_field(raw, "call_id")?;
        text.parse().map_err(|_| BridgeError::InvalidField {
            field: "call_id",
            detail: "expected 32 lowercase hex digits".into(),
        })
    };
    Ok(match raw.cmd.as_str() {
        "start_call" => {
            let user = str_field(raw, "user")?;
            let user = user.parse().map_err(|_| BridgeError::InvalidField {
                field: "user",
                detail: "a user name is 1-64 of a-z 0-9 . _ -".into(),
            })?;
            Command::StartCall { user }
        }
        "answer" => Command::Answer {
            call_id: call_id()?,
        },
        "decline" => Command::Decline {
            call_id: call_id()?,
        },
        "end" => Command::End {
            call_id: call_id()?,
        },
        "mute" => Command::Mute {
            call_id: call_id()?,
            muted: bool_field(raw, "muted")?,
        },
        "hold" => Command::Hold {
            call_id: call_id()?,
            held: bool_field(raw, "held")?,
        },
        "dtmf" => {
            let digits = str_field(raw, "digits")?;
            parse_dial_string(digits).map_err(|e| BridgeError::InvalidField {
                field: "digits",
                detail: e.to_string(),
            })?;
            Command::Dtmf {
                call_id: call_id()?,
                digits: digits.to_string(),
            }
        }
        "peer_call" => Command::PeerCall {
            to: user_field(raw, "to")?,
            call_id: match raw.fields.get("call_id") {
                None | Some(Value::Null) => None,
                Some(_) => Some(call_id()?),
            },
        },
        "expect_peer_call" => Command::ExpectPeerCall {
            call_id: call_id()?,
            from: user_field(raw, "from")?,
            display_name: match raw.fields.get("display_name") {
                None | Some(Value::Null) => None,
                Some(_) => Some(str_field(raw, "display_name")?.to_owned()),
            },
        },
        "peer_signal" => {
            let signal = raw.fields.get("signal").ok_or(BridgeError::InvalidField {
                field: "signal",
                detail: "expected the peer's message, {\"type\": \"offer\", \"sdp\": ...}".into(),
            })?;
            let signal = ringwire_proto::decode_peer_signal(&signal.to_string()).map_err(|e| {
                BridgeError::InvalidField {
                    field: "signal",
                    detail: e.to_string(),
                }
            })?;
            Command::PeerSignal {
                call_id: call_id()?,
                signal,
            }
        }
        "snapshot" => Command::Snapshot,
        "events_since" => Command::EventsSince {
            seq: raw.fields.get("seq").and_then(Value::as_u64).ok_or(
                BridgeError::InvalidField {
                    field: "seq",
                    detail: "expected a non-negative integer".into(),
                },
            )?,
        },
        other => {
            return Err(BridgeError::UnknownCommand {
                cmd: other.chars().take(64).collect(),
            })
        }
    })
}

fn str_field<'a>(raw: &'a Raw, field: &'static str) -> Result<&'a str, BridgeError> {
    raw.fields
        .get(field)
        .and_then(Value::as_str)
        .ok_or(BridgeError::InvalidField {
            field,
            detail: "expected a string".into(),
        })
}

fn user_field(raw: &Raw, field: &'static str) -> Result<UserName, BridgeError> {
    str_field(raw, field)?
        .parse()
        .map_err(|_| BridgeError::InvalidField {
            field,
            detail: "a user name is 1-64 of a-z 0-9 . _ -".into(),
        })
}

fn bool_field(raw: &Raw, field: &'static str) -> Result<bool, BridgeError> {
    raw.fields
        .get(field)
        .and_then(Value::as_bool)
        .ok_or(BridgeError::InvalidField {
            field,
            detail: "expected true or false".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_every_command() {
        let ok = |t: &str| parse(t).map(|r| r.command).map_err(|(_, e)| e.code());
        assert!(matches!(
            ok(r#"{"id":1,"cmd":"start_call","user":"bob"}"#),
            Ok(Command::StartCall { .. })
        ));
        assert!(matches!(
            ok(&format!(r#"{{"id":2,"cmd":"answer","call_id":"{ID}"}}"#)),
            Ok(Command::Answer { .. })
        ));
        assert!(matches!(
            ok(&format!(r#"{{"id":3,"cmd":"decline","call_id":"{ID}"}}"#)),
            Ok(Command::Decline { .. })
        ));
        assert!(matches!(
            ok(&format!(r#"{{"id":4,"cmd":"end","call_id":"{ID}"}}"#)),
            Ok(Command::End { .. })
        ));
        assert!(matches!(
            ok(&format!(
                r#"{{"id":5,"cmd":"mute","call_id":"{ID}","muted":true}}"#
            )),
            Ok(Command::Mute { muted: true, .. })
        ));
        assert!(matches!(
            ok(&format!(
                r#"{{"id":6,"cmd":"hold","call_id":"{ID}","held":false}}"#
            )),
            Ok(Command::Hold { held: false, .. })
        ));
        assert_eq!(
            ok(&format!(
                r#"{{"id":9,"cmd":"dtmf","call_id":"{ID}","digits":"12,#"}}"#
            )),
            Ok(Command::Dtmf {
                call_id: ID.parse().unwrap(),
                digits: "12,#".into()
            })
        );
        assert_eq!(ok(r#"{"id":7,"cmd":"snapshot"}"#), Ok(Command::Snapshot));
        assert_eq!(
            ok(r#"{"id":8,"cmd":"events_since","seq":41}"#),
            Ok(Command::EventsSince { seq: 41 })
        );
    }

    #[test]
    fn parses_the_peer_mode_commands() {
        let ok = |t: &str| parse(t).map(|r| r.command).map_err(|(_, e)| e.code());
        assert_eq!(
            ok(r#"{"id":1,"cmd":"peer_call","to":"bob"}"#),
            Ok(Command::PeerCall {
                to: "bob".parse().unwrap(),
                call_id: None
            })
        );
        assert!(matches!(
            ok(&format!(
                r#"{{"id":2,"cmd":"peer_call","to":"bob","call_id":"{ID}"}}"#
            )),
            Ok(Command::PeerCall {
                call_id: Some(_),
                ..
            })
        ));
        assert!(matches!(
            ok(&format!(
                r#"{{"id":3,"cmd":"expect_peer_call","call_id":"{ID}","from":"alice","display_name":"Alice"}}"#
            )),
            Ok(Command::ExpectPeerCall {
                display_name: Some(_),
                ..
            })
        ));
        // A page passes the browser's objects through: `candidate.toJSON()` plus a type.
        assert!(matches!(
            ok(&format!(
                r#"{{"id":4,"cmd":"peer_signal","call_id":"{ID}","signal":{{"type":"candidate","candidate":"candidate:1 1 udp 1 10.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}}}"#
            )),
            Ok(Command::PeerSignal {
                signal: PeerSignal::Candidate(_),
                ..
            })
        ));
        // An offer of nearly the SDP limit fits in one command.
        let sdp = "a".repeat(ringwire_proto::MAX_SDP_BYTES);
        assert!(matches!(
            ok(&format!(
                r#"{{"id":5,"cmd":"peer_signal","call_id":"{ID}","signal":{{"type":"offer","sdp":"{sdp}"}}}}"#
            )),
            Ok(Command::PeerSignal {
                signal: PeerSignal::Offer { .. },
                ..
            })
        ));
        let err = |t: &str| parse(t).map_err(|(id, e)| (id, e.code())).unwrap_err();
        assert_eq!(
            err(&format!(
                r#"{{"id":6,"cmd":"peer_signal","call_id":"{ID}"}}"#
            )),
            (Some(6), "invalid_field")
        );
        assert_eq!(
            err(&format!(
                r#"{{"id":7,"cmd":"peer_signal","call_id":"{ID}","signal":{{"type":"pranswer","sdp":"x"}}}}"#
            )),
            (Some(7), "invalid_field")
        );
        assert_eq!(
            err(r#"{"id":8,"cmd":"peer_call","to":"Not A Name"}"#),
            (Some(8), "invalid_field")
        );
    }

    #[test]
    fn refuses_bad_input_with_a_code_and_keeps_the_id_when_it_can() {
        let err = |t: &str| parse(t).map_err(|(id, e)| (id, e.code())).unwrap_err();
        assert_eq!(err("nope"), (None, "malformed_json"));
        assert_eq!(err(r#"{"id":9}"#), (Some(9), "malformed_json"));
        assert_eq!(
            err(r#"{"id":-1,"cmd":"snapshot"}"#),
            (None, "malformed_json")
        );
        assert_eq!(
            err(r#"{"id":1,"cmd":"reboot"}"#),
            (Some(1), "unknown_command")
        );
        assert_eq!(
            err(r#"{"id":1,"cmd":"answer","call_id":"XYZ"}"#),
            (Some(1), "invalid_field")
        );
        assert_eq!(
            err(r#"{"id":1,"cmd":"answer"}"#),
            (Some(1), "invalid_field")
        );
        assert_eq!(
            err(r#"{"id":1,"cmd":"start_call","user":"Not A Name"}"#),
            (Some(1), "invalid_field")
        );
        assert_eq!(
            err(&format!(
                r#"{{"id":1,"cmd":"mute","call_id":"{ID}","muted":"yes"}}"#
            )),
            (Some(1), "invalid_field")
        );
        let long = format!("\"{}\"", "1".repeat(300));
        for digits in ["\"\"", "\"12x\"", "12", long.as_str()] {
            assert_eq!(
                err(&format!(
                    r#"{{"id":1,"cmd":"dtmf","call_id":"{ID}","digits":{digits}}}"#
                )),
                (Some(1), "invalid_field"),
                "digits {digits}"
            );
        }
        assert_eq!(
            err(r#"{"id":1,"cmd":"events_since","seq":1.5}"#),
            (Some(1), "invalid_field")
        );
        let huge = format!(
            r#"{{"id":1,"cmd":"snapshot","pad":"{}"}}"#,
            "x".repeat(MAX_COMMAND_BYTES)
        );
        assert_eq!(err(&huge), (None, "too_large"));
    }
}
