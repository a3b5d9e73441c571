//! The session's rules, one at a time, in made-up time.

use std::time::{Duration, Instant};

use ringwire_proto::{
    encode, CallId, ClientMessage, DeviceId, ErrorCode, ErrorMessage, ServerMessage, Welcome,
};

use super::*;
use crate::session::OUTBOX_CAPACITY;

fn config() -> SessionConfig {
    SessionConfig {
        client_name: Some("tests".parse().expect("name")),
        handshake_timeout: Duration::from_secs(10),
        ping_interval: Duration::from_secs(15),
        pong_timeout: Duration::from_secs(10),
    }
}

fn welcome() -> ServerMessage {
    ServerMessage::Welcome(Welcome {
        version: 1,
        user: "me".parse().expect("name"),
        display_name: None,
        device_id: DeviceId::from_bytes([1; 16]),
        server_time_ms: 1_000,
        ring_timeout_ms: 45_000,
        ice_servers: Vec::new(),
        ice_expires_ms: None,
    })
}

fn call(n: u8) -> CallId {
    CallId::from_bytes([n; 16])
}

fn hangup(n: u8) -> ClientMessage {
    ClientMessage::Hangup {
        call_id: call(n),
        reason: None,
    }
}

fn relay(n: u8) -> ClientMessage {
    ClientMessage::Ping {
        nonce: u64::from(n),
    }
}

fn transmitted(session: &mut ClientSession) -> Vec<ClientMessage> {
    std::iter::from_fn(|| session.poll_transmit()).collect()
}

fn events(session: &mut ClientSession) -> Vec<SessionEvent> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

/// A session that has had its `welcome` at `t0`, and its first ping's pong at once (so the
/// next ping is due at `t0 + 15 s`).
fn up(t0: Instant) -> ClientSession {
    let mut s = ClientSession::new(config(), 100);
    s.handle_open(t0);
    transmitted(&mut s);
    s.handle_message(t0, welcome());
    events(&mut s);
    s.handle_timeout(t0, 0);
    s.handle_message(
        t0,
        ServerMessage::Pong {
            nonce: 100,
            server_time_ms: 0,
        },
    );
    assert_eq!(
        transmitted(&mut s),
        vec![ClientMessage::Ping { nonce: 100 }]
    );
    assert!(events(&mut s).is_empty());
    s
}

#[test]
fn hello_goes_first_and_call_control_waits_for_welcome() {
    let t0 = Instant::now();
    let mut s = ClientSession::new(config(), 0);
    s.set_known_calls((0..40).map(call).collect());
    s.send(hangup(1)).expect("queued while down");
    assert_eq!(s.send(relay(1)), Err(CoreError::SignalingDown));
    s.handle_open(t0);
    s.send(hangup(2)).expect("queued while handshaking");
    let out = transmitted(&mut s);
    let [ClientMessage::Hello {
        versions,
        client,
        calls,
    }] = out.as_slice()
    else {
        panic!("only hello before welcome: {out:?}");
    };
    assert_eq!(versions, &ringwire_proto::SUPPORTED_VERSIONS.to_vec());
    assert_eq!(client.as_ref().map(|c| c.as_str()), Some("tests"));
    assert_eq!(calls.len(), MAX_HELLO_CALLS, "hello.calls is capped");
    assert!(!s.is_up());

    s.handle_message(t0, welcome());
    assert!(s.is_up());
    assert!(matches!(
        events(&mut s).as_slice(),
        [SessionEvent::Connected(_)]
    ));
    assert_eq!(transmitted(&mut s), vec![hangup(1), hangup(2)], "in order");
    assert_eq!(s.poll_timeout(), Some(t0), "the first ping is due at once");
    s.send(relay(3)).expect("pings and relays go out when up");
    assert_eq!(transmitted(&mut s), vec![relay(3)]);
}

#[test]
fn hello_is_the_sessions_own() {
    let mut s = up(Instant::now());
    let hello = ClientMessage::Hello {
        versions: vec![1],
        client: None,
        calls: Vec::new(),
    };
    assert!(matches!(s.send(hello), Err(CoreError::NotSendable(_))));
}

#[test]
fn no_welcome_in_time_loses_the_attempt() {
    let t0 = Instant::now();
    let mut s = ClientSession::new(config(), 0);
    s.handle_open(t0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    s.handle_timeout(t0 + Duration::from_secs(9), 0);
    assert!(events(&mut s).is_empty());
    s.handle_timeout(t0 + Duration::from_secs(10), 0);
    let ended = events(&mut s);
    assert!(
        matches!(ended.as_slice(), [SessionEvent::Ended(SessionEnd::Lost(r))] if r.contains("no welcome")),
        "{ended:?}"
    );
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(
        s.poll_transmit(),
        None,
        "nothing goes out on a lost connection"
    );
}

#[test]
fn an_error_before_a_close_is_named_in_the_reason() {
    let t0 = Instant::now();
    let mut s = ClientSession::new(config(), 0);
    s.handle_open(t0);
    s.handle_message(
        t0,
        ServerMessage::Error(ErrorMessage::new(ErrorCode::ShuttingDown, "bye")),
    );
    assert!(events(&mut s).is_empty(), "not fatal by itself");
    s.handle_close(Some(1001), "going away");
    let ended = events(&mut s);
    assert!(
        matches!(ended.as_slice(), [SessionEvent::Ended(SessionEnd::Lost(r))]
            if r.contains("during the handshake (1001)") && r.contains("shutting_down")),
        "{ended:?}"
    );
}

#[test]
fn refusals_stop_the_session_for_good() {
    let t0 = Instant::now();
    for (how, refusal) in [
        ("error unauthorized", Refusal::Unauthorized),
        ("close 4401", Refusal::Unauthorized),
        ("close 4406", Refusal::UnsupportedVersion),
        ("error replaced", Refusal::Replaced),
        ("close 4409", Refusal::Replaced),
    ] {
        let mut s = up(t0);
        s.send(hangup(1)).expect("up");
        match how {
            "error unauthorized" => s.handle_message(
                t0,
                ServerMessage::Error(ErrorMessage::new(ErrorCode::Unauthorized, "no")),
            ),
            "error replaced" => s.handle_message(
                t0,
                ServerMessage::Error(ErrorMessage::new(ErrorCode::Replaced, "no")),
            ),
            close => {
                let code = close.trim_start_matches("close ").parse().expect("code");
                s.handle_close(Some(code), "");
            }
        }
        assert_eq!(
            events(&mut s),
            vec![SessionEvent::Ended(SessionEnd::Refused(refusal))],
            "{how}"
        );
        assert!(s.is_stopped(), "{how}");
        assert_eq!(s.send(hangup(2)), Err(CoreError::SignalingStopped), "{how}");
        s.handle_open(t0);
        assert_eq!(s.poll_transmit(), None, "{how}: no hello after a refusal");
    }
}

#[test]
fn pings_keep_the_connection_and_measure_it() {
    let t0 = Instant::now();
    let mut s = up(t0);
    let ping_at = t0 + Duration::from_secs(15);
    assert_eq!(s.poll_timeout(), Some(ping_at));
    s.handle_timeout(ping_at, 50_000);
    let out = transmitted(&mut s);
    let [ClientMessage::Ping { nonce }] = out.as_slice() else {
        panic!("a ping is due: {out:?}");
    };
    assert_eq!(s.poll_timeout(), Some(ping_at + Duration::from_secs(10)));
    // A pong for another nonce (the app's own ping) is passed on, not taken as ours.
    let other = ServerMessage::Pong {
        nonce: nonce.wrapping_add(7),
        server_time_ms: 1,
    };
    s.handle_message(ping_at, other.clone());
    assert_eq!(events(&mut s), vec![SessionEvent::Message(other)]);
    // Ours: 80 ms round trip; the server's clock reads 50_040 + 1_000 at the middle of it.
    s.handle_message(
        ping_at + Duration::from_millis(80),
        ServerMessage::Pong {
            nonce: *nonce,
            server_time_ms: 51_040,
        },
    );
    assert!(events(&mut s).is_empty(), "our pong is not passed on");
    assert_eq!(s.rtt(), Some(Duration::from_millis(80)));
    assert_eq!(s.server_offset_ms(), Some(1_000));
    assert_eq!(s.poll_timeout(), Some(ping_at + Duration::from_secs(15)));
}

#[test]
fn a_missing_pong_loses_the_connection_and_keeps_only_call_control() {
    let t0 = Instant::now();
    let mut s = up(t0);
    let ping_at = t0 + Duration::from_secs(15);
    s.handle_timeout(ping_at, 0);
    transmitted(&mut s);
    s.send(hangup(1)).expect("up");
    s.send(relay(1)).expect("up");
    s.handle_timeout(ping_at + Duration::from_secs(10), 0);
    let ended = events(&mut s);
    assert!(
        matches!(ended.as_slice(), [SessionEvent::Ended(SessionEnd::Lost(r))] if r.contains("no pong")),
        "{ended:?}"
    );
    // Reconnect: hello, then the hangup that never went out; the relay is stale and gone.
    s.handle_open(ping_at + Duration::from_secs(11));
    s.handle_message(ping_at + Duration::from_secs(11), welcome());
    let out = transmitted(&mut s);
    assert!(matches!(out[0], ClientMessage::Hello { .. }));
    assert_eq!(&out[1..], &[hangup(1)]);
}

#[test]
fn unsent_messages_go_back_in_front_in_order() {
    let t0 = Instant::now();
    let mut s = up(t0);
    for n in 1..=3 {
        s.send(hangup(n)).expect("up");
    }
    let taken = transmitted(&mut s);
    s.send(hangup(4)).expect("up");
    s.handle_unsent(taken[1..].to_vec());
    s.handle_lost("write failed".into());
    events(&mut s);
    s.handle_open(t0);
    s.handle_message(t0, welcome());
    let out = transmitted(&mut s);
    assert_eq!(&out[1..], &[hangup(2), hangup(3), hangup(4)]);
}

#[test]
fn the_outbox_is_bounded_while_down() {
    let mut s = ClientSession::new(config(), 0);
    for n in 0..=OUTBOX_CAPACITY {
        let n = u8::try_from(n).expect("small");
        s.send(hangup(n)).expect("queued");
    }
    s.handle_open(Instant::now());
    s.handle_message(Instant::now(), welcome());
    let out = transmitted(&mut s);
    assert_eq!(out.len(), 1 + OUTBOX_CAPACITY);
    assert_eq!(out[1], hangup(1), "the oldest was dropped");
}

#[test]
fn closing_on_purpose_reports_nothing_and_keeps_call_control() {
    let t0 = Instant::now();
    let mut s = up(t0);
    s.send(hangup(1)).expect("up");
    s.handle_closed_by_us();
    assert!(events(&mut s).is_empty());
    assert!(!s.is_up());
    assert_eq!(s.send(relay(1)), Err(CoreError::SignalingDown));
    s.handle_open(t0);
    s.handle_message(t0, welcome());
    assert_eq!(&transmitted(&mut s)[1..], &[hangup(1)]);
}

#[test]
fn frames_that_do_not_decode_are_skipped_and_the_rest_flows() {
    let t0 = Instant::now();
    let mut s = up(t0);
    s.handle_text(t0, "{\"type\":\"nonsense\"");
    s.handle_text(t0, "\u{0}\u{1}");
    assert!(events(&mut s).is_empty());
    let ended = ServerMessage::Ended {
        call_id: call(1),
        reason: ringwire_proto::EndReason::Hangup,
        device_id: None,
        replaced_by: None,
    };
    s.handle_text(t0, &encode(&ended));
    assert_eq!(events(&mut s), vec![SessionEvent::Message(ended)]);
}

#[test]
fn messages_with_no_connection_are_ignored() {
    let t0 = Instant::now();
    let mut s = ClientSession::new(config(), 0);
    s.handle_message(t0, welcome());
    assert!(!s.is_up());
    assert!(events(&mut s).is_empty());
    s.handle_close(Some(4401), "");
    assert!(!s.is_stopped(), "a close with no connection is stale");
}
