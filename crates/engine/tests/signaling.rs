//! The signaling client against the real ringwire server on loopback: handshake, call
//! messages both ways, resume with `hello.calls`, reconnect across a server restart with a
//! queued hangup, fatal refusal of a bad token, relays refused while down, pause and resume,
//! and shutdown.

mod common;

use std::time::Duration;

use common::*;
use ringwire_engine::{EngineError, SignalingEvent};
use ringwire_proto::{
    CallId, Candidate, ClientMessage, DeviceId, EndReason, ErrorCode, ServerMessage,
};

fn candidate(call_id: CallId, to_device: DeviceId) -> ClientMessage {
    ClientMessage::Candidate {
        call_id,
        to_device,
        candidate: Candidate {
            candidate: "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
            username_fragment: None,
        },
    }
}

#[tokio::test]
async fn connects_and_reports_the_welcome_and_ping_measurements() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    let (device, token) = server.add_device("alice").await;
    let (alice, welcome) = Engine::connect(&server, &token).await;
    assert_eq!(welcome.user.as_str(), "alice");
    assert_eq!(welcome.device_id, device);
    assert_eq!(welcome.version, 1);
    assert!(alice.client.is_connected());
    // The first application ping goes out right after the welcome; its pong fills these in.
    tokio::time::timeout(WAIT, async {
        while alice.client.rtt().is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("a pong arrives");
    let offset = alice
        .client
        .server_offset_ms()
        .expect("offset with the rtt");
    // Same machine, same clock: the estimate is off by at most the round trip.
    let rtt_ms = i64::try_from(alice.client.rtt().expect("rtt").as_millis()).expect("small");
    assert!(
        offset.abs() <= rtt_ms + 2,
        "offset {offset} ms, rtt {rtt_ms} ms"
    );
    // The client named itself in hello; the server counted one connected device.
    assert_eq!(server.metric("ringwire_connected_devices").await, 1);
}

#[tokio::test]
async fn an_invite_reaches_the_callee_and_actions_flow_back() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let (alice_device, alice_token) = server.add_device("alice").await;
    let (bob_device, bob_token) = server.add_device("bob").await;
    let (mut alice, _) = Engine::connect(&server, &alice_token).await;
    let (mut bob, _) = Engine::connect(&server, &bob_token).await;

    let call = CallId::random();
    alice.client.send(invite(call, "bob")).expect("connected");
    match alice.message().await {
        ServerMessage::Calling {
            call_id,
            devices_online,
            ..
        } => assert_eq!((call_id, devices_online), (call, 1)),
        other => panic!("expected calling, got {other:?}"),
    }
    match bob.message().await {
        ServerMessage::Incoming(incoming) => {
            assert_eq!(incoming.call_id, call);
            assert_eq!(incoming.from_user.as_str(), "alice");
            assert_eq!(incoming.from_device, alice_device);
            assert!(!incoming.replayed);
        }
        other => panic!("expected incoming, got {other:?}"),
    }
    // A relay while connected is delivered.
    bob.client
        .send(candidate(call, alice_device))
        .expect("connected");
    match alice.message().await {
        ServerMessage::Candidate {
            call_id,
            from_device,
            ..
        } => assert_eq!((call_id, from_device), (call, bob_device)),
        other => panic!("expected candidate, got {other:?}"),
    }
    bob.client
        .send(ClientMessage::Decline { call_id: call })
        .expect("connected");
    for engine in [&mut alice, &mut bob] {
        match engine.message().await {
            ServerMessage::Ended {
                call_id, reason, ..
            } => assert_eq!((call_id, reason), (call, EndReason::Declined)),
            other => panic!("expected ended, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn known_calls_go_out_in_hello_on_reconnect() {
    let mut server = TestServer::start().await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let (_, alice_token) = server.add_device("alice").await;
    let (_, bob_token) = server.add_device("bob").await;
    let (mut alice, _) = Engine::connect(&server, &alice_token).await;
    let (mut bob, _) = Engine::connect(&server, &bob_token).await;

    // A call rings and is cancelled; Bob is told once.
    let call = CallId::random();
    alice.client.send(invite(call, "bob")).expect("connected");
    alice.message().await;
    assert!(matches!(bob.message().await, ServerMessage::Incoming(_)));
    alice
        .client
        .send(ClientMessage::Cancel { call_id: call })
        .expect("connected");
    match bob.message().await {
        ServerMessage::Ended {
            call_id, reason, ..
        } => assert_eq!((call_id, reason), (call, EndReason::Cancelled)),
        other => panic!("expected ended, got {other:?}"),
    }

    // Bob's app still shows that call, and one the server never heard of.
    let unknown = CallId::random();
    bob.client.set_known_calls(vec![call, unknown]);
    server.stop().await;
    bob.disconnected().await;
    server.start_again().await;
    bob.connected().await;
    // After a restart the server reports an ended call only to a device that lists it in
    // hello.calls (protocol 4.8), so this proves the list went out.
    match bob.message().await {
        ServerMessage::Ended {
            call_id, reason, ..
        } => assert_eq!((call_id, reason), (call, EndReason::Cancelled)),
        other => panic!("expected ended for the known call, got {other:?}"),
    }
    match bob.message().await {
        ServerMessage::Error(error) => {
            assert_eq!(error.code, ErrorCode::UnknownCall);
            assert_eq!(error.call_id, Some(unknown));
            assert_eq!(error.ref_type.as_deref(), Some("hello"));
        }
        other => panic!("expected unknown_call for the listed id, got {other:?}"),
    }
}

#[tokio::test]
async fn reconnects_after_a_server_restart_and_flushes_a_queued_hangup() {
    let mut server = TestServer::start().await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let (alice_device, alice_token) = server.add_device("alice").await;
    let (bob_device, bob_token) = server.add_device("bob").await;
    let (mut alice, _) = Engine::connect(&server, &alice_token).await;
    let (mut bob, _) = Engine::connect(&server, &bob_token).await;

    let call = CallId::random();
    alice.client.send(invite(call, "bob")).expect("connected");
    alice.message().await;
    bob.message().await;
    bob.client
        .send(ClientMessage::Accept { call_id: call })
        .expect("connected");
    for engine in [&mut alice, &mut bob] {
        match engine.message().await {
            ServerMessage::Accepted { call_id, device_id } => {
                assert_eq!((call_id, device_id), (call, bob_device))
            }
            other => panic!("expected accepted, got {other:?}"),
        }
    }

    server.stop().await;
    let (reason, retry_in) = alice.disconnected().await;
    assert!(reason.contains("1001"), "{reason}");
    assert!(retry_in <= Duration::from_millis(400), "{retry_in:?}");
    bob.disconnected().await;
    assert!(!alice.client.is_connected());

    // While down: the hangup waits, a relay is refused.
    alice
        .client
        .send(ClientMessage::hangup(call))
        .expect("call control is queued while down");
    assert_eq!(
        alice.client.send(candidate(call, bob_device)),
        Err(EngineError::SignalingDown)
    );
    // Let the clients fail at least one attempt against the closed port.
    match alice.next().await {
        SignalingEvent::Disconnected { retry_in, .. } => {
            assert!(retry_in <= Duration::from_millis(400), "{retry_in:?}")
        }
        other => panic!("expected a failed attempt, got {other:?}"),
    }

    server.start_again().await;
    alice.connected().await;
    bob.connected().await;
    assert!(alice.client.is_connected());
    // The queued hangup went out after the welcome and ended the resumed call for both.
    let is_resync = |m: &ServerMessage| matches!(m, ServerMessage::Accepted { call_id, .. } if *call_id == call);
    for engine in [&mut alice, &mut bob] {
        let ended = engine
            .message_where(|m| matches!(m, ServerMessage::Ended { .. }), is_resync)
            .await;
        match ended {
            ServerMessage::Ended {
                call_id,
                reason,
                device_id,
                ..
            } => assert_eq!(
                (call_id, reason, device_id),
                (call, EndReason::Hangup, Some(alice_device))
            ),
            other => unreachable!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn a_bad_token_is_fatal_and_the_client_stops_trying() {
    let server = TestServer::start().await;
    let token = format!("rw_{}", "0".repeat(64));
    let mut engine = Engine::spawn(config(server.ws_url(), &token));
    match engine.next().await {
        SignalingEvent::Fatal(error) => assert_eq!(error, EngineError::Unauthorized),
        other => panic!("expected Fatal(unauthorized), got {other:?}"),
    }
    // The task has ended: the channel closes with nothing after Fatal, so there can be no
    // further attempt.
    engine.ends(|_| false).await;
    assert_eq!(
        server.metric("ringwire_websocket_connections_total").await,
        1
    );
    assert!(!engine.client.is_connected());
    assert_eq!(
        engine.client.send(ClientMessage::hangup(CallId::random())),
        Err(EngineError::Closed)
    );
}

#[tokio::test]
async fn relays_and_pings_are_refused_while_down_and_call_control_waits() {
    // A port with nothing listening: every attempt fails.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let mut engine = Engine::spawn(config(format!("ws://127.0.0.1:{port}/v1/ws"), "rw_x"));
    let (reason, _) = engine.disconnected().await;
    assert!(reason.contains("connect failed"), "{reason}");
    assert!(!engine.client.is_connected());
    let call = CallId::random();
    let peer = DeviceId::random();
    assert_eq!(
        engine.client.send(candidate(call, peer)),
        Err(EngineError::SignalingDown)
    );
    assert_eq!(
        engine.client.send(ClientMessage::Ping { nonce: 1 }),
        Err(EngineError::SignalingDown)
    );
    assert_eq!(engine.client.send(ClientMessage::hangup(call)), Ok(()));
    assert!(matches!(
        engine.client.send(ClientMessage::Hello {
            versions: vec![1],
            client: None,
            calls: vec![]
        }),
        Err(EngineError::NotSendable(_))
    ));
    // It keeps trying, with delays inside the backoff bounds.
    for _ in 0..3 {
        let (_, retry_in) = engine.disconnected().await;
        assert!(retry_in <= Duration::from_millis(400), "{retry_in:?}");
    }
    engine.client.shutdown().await;
    engine
        .ends(|e| matches!(e, SignalingEvent::Disconnected { .. }))
        .await;
}

#[tokio::test]
async fn shutdown_closes_the_connection_and_ends_the_task() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    let (_, token) = server.add_device("alice").await;
    let (mut alice, _) = Engine::connect(&server, &token).await;
    let other_handle = alice.client.clone();
    assert_eq!(server.metric("ringwire_websocket_connections").await, 1);

    alice.client.shutdown().await;
    assert!(!alice.client.is_connected());
    // No Disconnected, no Fatal: the channel just closes.
    alice.ends(|_| false).await;
    assert_eq!(
        other_handle.send(ClientMessage::hangup(CallId::random())),
        Err(EngineError::Closed)
    );
    // Idempotent from any handle.
    other_handle.shutdown().await;
    server
        .metric_when("ringwire_websocket_connections", |n| n == 0)
        .await;
    assert_eq!(
        server.metric("ringwire_websocket_connections_total").await,
        1
    );
}

#[tokio::test]
async fn dropping_every_handle_stops_the_task() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    let (_, token) = server.add_device("alice").await;
    let (alice, _) = Engine::connect(&server, &token).await;
    let mut events = alice.events;
    drop(alice.client);
    tokio::time::timeout(WAIT, async { while events.recv().await.is_some() {} })
        .await
        .expect("the task ends");
    server
        .metric_when("ringwire_websocket_connections", |n| n == 0)
        .await;
}

#[tokio::test]
async fn pause_writes_what_was_sent_closes_cleanly_and_resume_reconnects_at_once() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let (_, alice_token) = server.add_device("alice").await;
    let (_, bob_token) = server.add_device("bob").await;
    let (mut alice, _) = Engine::connect(&server, &alice_token).await;
    let (mut bob, _) = Engine::connect(&server, &bob_token).await;
    let call_id = CallId::random();
    alice.client.send(invite(call_id, "bob")).expect("invite");
    bob.message_where(|m| matches!(m, ServerMessage::Incoming(_)), |_| true)
        .await;

    // The decline is sent, and the app goes idle at once: the decline still reaches the server
    // ahead of the close.
    bob.client
        .send(ClientMessage::Decline { call_id })
        .expect("decline");
    bob.client.pause();
    assert!(bob.client.is_paused());
    loop {
        match bob.next().await {
            SignalingEvent::Paused => break,
            SignalingEvent::Message(_) => continue,
            other => panic!("expected Paused, got {other:?}"),
        }
    }
    let ended = alice
        .message_where(|m| matches!(m, ServerMessage::Ended { .. }), |_| true)
        .await;
    assert!(
        matches!(
            ended,
            ServerMessage::Ended {
                reason: EndReason::Declined,
                ..
            }
        ),
        "{ended:?}"
    );
    server
        .metric_when("ringwire_connected_devices", |n| n == 1)
        .await;
    // No reconnect behind the app's back, and call control waits for the next connection.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!bob.client.is_connected());
    assert_eq!(server.metric("ringwire_connected_devices").await, 1);

    bob.client.resume();
    let welcome = tokio::time::timeout(Duration::from_millis(2_000), bob.connected())
        .await
        .expect("resume connects at once, not after a backoff");
    assert_eq!(welcome.user.as_str(), "bob");
    assert!(!bob.client.is_paused());
    server
        .metric_when("ringwire_connected_devices", |n| n == 2)
        .await;
}
