//! The server's side of a connection's protocol rules that come before and beside the router,
//! with no IO: whether the first message is an acceptable `hello` ([`check_hello`]: it must be
//! `hello`, name a version this server speaks, and list at most 32 calls), and the messages
//! a connection answers itself once it is up ([`answer_on_connection`]: `ping` → `pong`, a
//! second `hello` refused). The server's connection task and the simulator's server both apply
//! these, so the simulator's handshake is the server's.

use ringwire_proto::{
    negotiate_version, CallId, ClientMessage, ErrorCode, ErrorMessage, ServerMessage,
    MAX_HELLO_CALLS, SUPPORTED_VERSIONS,
};

/// WebSocket close code for a failed handshake (protocol 3.9).
pub const CLOSE_HANDSHAKE: u16 = 4400;
/// WebSocket close code for no common protocol version (protocol 3.9).
pub const CLOSE_VERSION: u16 = 4406;

/// A `hello` the server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedHello {
    /// The protocol version both sides speak.
    pub version: u32,
    /// The calls the device still shows (`hello.calls`), for the resync.
    pub known_calls: Vec<CallId>,
}

/// Why a connection's first message was refused: send `error`, then close with `close_code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedHello {
    pub error: ErrorMessage,
    pub close_code: u16,
}

/// Checks a connection's first message.
pub fn check_hello(first: ClientMessage) -> Result<AcceptedHello, RefusedHello> {
    let ClientMessage::Hello {
        versions, calls, ..
    } = first
    else {
        return Err(RefusedHello {
            error: ErrorMessage::new(ErrorCode::HelloRequired, "the first message must be hello")
                .with_ref_type(first.type_name()),
            close_code: CLOSE_HANDSHAKE,
        });
    };
    let Some(version) = negotiate_version(&versions) else {
        return Err(RefusedHello {
            error: ErrorMessage::new(
                ErrorCode::UnsupportedVersion,
                format!("no common protocol version; this server speaks {SUPPORTED_VERSIONS:?}"),
            ),
            close_code: CLOSE_VERSION,
        });
    };
    if calls.len() > MAX_HELLO_CALLS {
        return Err(RefusedHello {
            error: ErrorMessage::new(
                ErrorCode::InvalidField,
                format!(
                    "hello.calls lists {} calls; at most {MAX_HELLO_CALLS} are allowed",
                    calls.len()
                ),
            )
            .with_ref_type("hello"),
            close_code: CLOSE_HANDSHAKE,
        });
    }
    Ok(AcceptedHello {
        version,
        known_calls: calls,
    })
}

/// The answer to a message the connection handles itself once up, or `None` for one that goes
/// on to the router (or the store). `now_ms` is the server's clock, for `pong`.
pub fn answer_on_connection(msg: &ClientMessage, now_ms: u64) -> Option<ServerMessage> {
    match msg {
        ClientMessage::Hello { .. } => Some(ServerMessage::Error(
            ErrorMessage::new(
                ErrorCode::HelloRequired,
                "hello was already received on this connection",
            )
            .with_ref_type("hello"),
        )),
        ClientMessage::Ping { nonce } => Some(ServerMessage::Pong {
            nonce: *nonce,
            server_time_ms: now_ms,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(versions: Vec<u32>, calls: usize) -> ClientMessage {
        ClientMessage::Hello {
            versions,
            client: None,
            calls: (0..calls)
                .map(|i| CallId::from_bytes([u8::try_from(i).unwrap_or(0); 16]))
                .collect(),
        }
    }

    #[test]
    fn a_good_hello_agrees_a_version_and_keeps_the_calls() {
        let accepted = check_hello(hello(vec![9, 1], 3)).expect("accepted");
        assert_eq!(accepted.version, 1);
        assert_eq!(accepted.known_calls.len(), 3);
    }

    #[test]
    fn bad_first_messages_are_refused_with_the_protocols_codes() {
        let not_hello = check_hello(ClientMessage::Ping { nonce: 1 }).expect_err("refused");
        assert_eq!(not_hello.error.code, ErrorCode::HelloRequired);
        assert_eq!(not_hello.error.ref_type.as_deref(), Some("ping"));
        assert_eq!(not_hello.close_code, CLOSE_HANDSHAKE);

        let version = check_hello(hello(vec![7], 0)).expect_err("refused");
        assert_eq!(version.error.code, ErrorCode::UnsupportedVersion);
        assert_eq!(version.close_code, CLOSE_VERSION);

        let too_many = check_hello(hello(vec![1], MAX_HELLO_CALLS + 1)).expect_err("refused");
        assert_eq!(too_many.error.code, ErrorCode::InvalidField);
        assert_eq!(too_many.close_code, CLOSE_HANDSHAKE);
        assert!(check_hello(hello(vec![1], MAX_HELLO_CALLS)).is_ok());
    }

    #[test]
    fn a_connection_answers_pings_and_refuses_a_second_hello() {
        assert_eq!(
            answer_on_connection(&ClientMessage::Ping { nonce: 5 }, 42),
            Some(ServerMessage::Pong {
                nonce: 5,
                server_time_ms: 42
            })
        );
        let Some(ServerMessage::Error(e)) = answer_on_connection(&hello(vec![1], 0), 0) else {
            panic!("a second hello is refused");
        };
        assert_eq!(e.code, ErrorCode::HelloRequired);
        let hangup = ClientMessage::Hangup {
            call_id: CallId::from_bytes([1; 16]),
            reason: None,
        };
        assert_eq!(answer_on_connection(&hangup, 0), None);
    }
}
