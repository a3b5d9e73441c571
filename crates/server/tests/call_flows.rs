//! Whole call flows over real WebSockets against the real server on loopback.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use common::*;
use ringwire_proto::{CallId, Candidate, ClientMessage, EndReason, ErrorCode, Sdp, ServerMessage};

fn sdp(tag: &str) -> Sdp {
    Sdp::try_from(format!("v=0\r\no=- {tag} 1 IN IP4 127.0.0.1\r\ns=-\r\n")).unwrap()
}

fn expect_incoming(msg: ServerMessage, call: CallId) -> ringwire_proto::Incoming {
    match msg {
        ServerMessage::Incoming(i) if i.call_id == call => i,
        other => panic!("expected incoming for {call}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_device_callee_first_accept_wins_then_hangup_is_recorded() {
    let server = TestServer::start().await;
    let mut c = cast(&server).await;
    let call = CallId::random();

    c.alice.send(&invite(call, "bob")).await;
    match c.alice.recv().await {
        ServerMessage::Calling {
            call_id,
            devices_online,
            devices_offline,
            ..
        } => {
            assert_eq!((call_id, devices_online, devices_offline), (call, 2, 0));
        }
        other => panic!("{other:?}"),
    }
    let inc1 = expect_incoming(c.bob1.recv().await, call);
    let inc2 = expect_incoming(c.bob2.recv().await, call);
    assert_eq!(inc1.from_device, c.alice.device);
    assert_eq!(inc1.from_user.as_str(), "alice");
    assert_eq!(
        inc1.from_display_name.as_ref().map(|d| d.as_str()),
        Some("ALICE")
    );
    assert!(!inc2.replayed);

    // Both ring and pre-connect: offer from each callee device, answer and candidates back.
    for bob in [&mut c.bob1, &mut c.bob2] {
        bob.send(&ClientMessage::Ringing { call_id: call }).await;
    }
    let mut rang = vec![];
    for _ in 0..2 {
        match c.alice.recv().await {
            ServerMessage::Ringing { call_id, device_id } if call_id == call => {
                rang.push(device_id)
            }
            other => panic!("{other:?}"),
        }
    }
    rang.sort();
    let mut expected = vec![c.bob1.device, c.bob2.device];
    expected.sort();
    assert_eq!(rang, expected);
    c.bob1
        .send(&ClientMessage::Offer {
            call_id: call,
            to_device: c.alice.device,
            sdp: sdp("b1"),
        })
        .await;
    assert_eq!(
        c.alice.recv().await,
        ServerMessage::Offer {
            call_id: call,
            from_device: c.bob1.device,
            sdp: sdp("b1")
        }
    );
    c.alice
        .send(&ClientMessage::Answer {
            call_id: call,
            to_device: c.bob1.device,
            sdp: sdp("a"),
        })
        .await;
    assert_eq!(
        c.bob1.recv().await,
        ServerMessage::Answer {
            call_id: call,
            from_device: c.alice.device,
            sdp: sdp("a")
        }
    );
    let cand = Candidate {
        candidate: "candidate:1 1 udp 2122260223 127.0.0.1 40000 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
        username_fragment: None,
    };
    c.alice
        .send(&ClientMessage::Candidate {
            call_id: call,
            to_device: c.bob1.device,
            candidate: cand.clone(),
        })
        .await;
    assert_eq!(
        c.bob1.recv().await,
        ServerMessage::Candidate {
            call_id: call,
            from_device: c.alice.device,
            candidate: cand
        }
    );

    // B1 accepts: the caller and B1 hear accepted, B2 stops ringing with answered_elsewhere.
    c.bob1.send(&ClientMessage::Accept { call_id: call }).await;
    let accepted = ServerMessage::Accepted {
        call_id: call,
        device_id: c.bob1.device,
    };
    assert_eq!(c.alice.recv().await, accepted);
    assert_eq!(c.bob1.recv().await, accepted);
    assert_eq!(
        c.bob2.expect_ended(call).await,
        EndReason::AnsweredElsewhere
    );

    // B2's accept racing in afterwards loses.
    c.bob2.send(&ClientMessage::Accept { call_id: call }).await;
    assert_eq!(
        c.bob2.expect_ended(call).await,
        EndReason::AnsweredElsewhere
    );

    c.alice.send(&ClientMessage::hangup(call)).await;
    assert_eq!(c.bob1.expect_ended(call).await, EndReason::Hangup);
    assert_eq!(c.alice.expect_ended(call).await, EndReason::Hangup);
    c.bob2.expect_silence(200).await;

    // The record, as both users see it.
    let history = server
        .history_when(&c.tokens.bob1, |c| c["state"] == "ended")
        .await;
    let rec = &history["calls"][0];
    assert_eq!(history["calls"].as_array().unwrap().len(), 1);
    assert_eq!(rec["call_id"], call.to_string());
    assert_eq!(rec["caller_user"], "alice");
    assert_eq!(rec["callee_user"], "bob");
    assert_eq!(rec["state"], "ended");
    assert_eq!(rec["end_reason"], "hangup");
    assert_eq!(rec["answered_device"], c.bob1.device.to_string());
    assert_eq!(rec["ended_by_device"], c.alice.device.to_string());
    let t = |k: &str| {
        rec[k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} missing in {rec}"))
    };
    assert!(t("invited_at_ms") <= t("first_ring_at_ms"));
    assert!(t("first_ring_at_ms") <= t("accepted_at_ms"));
    assert!(t("accepted_at_ms") <= t("ended_at_ms"));
    let devices = rec["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2);
    assert!(devices
        .iter()
        .all(|d| d["reached_via"] == "socket" && d["rang_at_ms"].is_u64()));
    assert_eq!(
        server.history(&c.tokens.alice).await["calls"][0]["call_id"],
        call.to_string()
    );
    assert!(server.history(&c.tokens.carol).await["calls"]
        .as_array()
        .unwrap()
        .is_empty());

    let metrics = server.metrics().await;
    assert!(
        metrics.contains("ringwire_calls_ended_total{reason=\"hangup\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ringwire_connected_devices 4"),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_ends_for_the_caller_and_declined_elsewhere_for_other_devices() {
    let server = TestServer::start().await;
    let mut c = cast(&server).await;
    let call = CallId::random();
    c.ring_bob(call).await;
    c.bob2.send(&ClientMessage::Decline { call_id: call }).await;
    assert_eq!(c.alice.expect_ended(call).await, EndReason::Declined);
    assert_eq!(c.bob2.expect_ended(call).await, EndReason::Declined);
    assert_eq!(
        c.bob1.expect_ended(call).await,
        EndReason::DeclinedElsewhere
    );
    let rec = &server.last_ended_call(&c.tokens.alice).await;
    assert_eq!(rec["end_reason"], "declined");
    assert_eq!(rec["ended_by_device"], c.bob2.device.to_string());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_from_a_device_and_busy_detected_by_the_server() {
    let server = TestServer::start().await;
    let mut c = cast(&server).await;
    // A device says busy.
    let first = CallId::random();
    c.ring_bob(first).await;
    c.bob1.send(&ClientMessage::Busy { call_id: first }).await;
    assert_eq!(c.alice.expect_ended(first).await, EndReason::Busy);
    assert_eq!(
        c.bob2.expect_ended(first).await,
        EndReason::DeclinedElsewhere
    );
    c.bob1.expect_ended(first).await;

    // Bob is in a call with Alice; Carol calling Bob is busy without ringing Bob.
    let talk = CallId::random();
    c.ring_bob(talk).await;
    c.bob1.send(&ClientMessage::Accept { call_id: talk }).await;
    c.alice.recv().await;
    c.bob1.recv().await;
    c.bob2.recv().await;
    let second = CallId::random();
    c.carol.send(&invite(second, "bob")).await;
    assert_eq!(c.carol.expect_ended(second).await, EndReason::Busy);
    c.bob1.expect_silence(200).await;
    c.bob2.expect_silence(50).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_every_device_including_one_that_connects_later() {
    let server = TestServer::start().await;
    let mut c = cast(&server).await;
    drop(c.bob2); // Bob's tablet is offline (a push target)
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let call = CallId::random();
    c.alice.send(&invite(call, "bob")).await;
    match c.alice.recv().await {
        ServerMessage::Calling {
            devices_online,
            devices_offline,
            ..
        } => assert_eq!((devices_online, devices_offline), (1, 1)),
        other => panic!("{other:?}"),
    }
    c.bob1.recv().await;
    c.alice.send(&ClientMessage::Cancel { call_id: call }).await;
    assert_eq!(c.bob1.expect_ended(call).await, EndReason::Cancelled);
    assert_eq!(c.alice.expect_ended(call).await, EndReason::Cancelled);
    // The tablet wakes (push) having reported the call; it learns the call is over.
    let mut bob2 = Client::connect_with_calls(&server, &c.tokens.bob2, vec![call]).await;
    assert_eq!(bob2.expect_ended(call).await, EndReason::Cancelled);
    let rec = &server.last_ended_call(&c.tokens.alice).await;
    assert_eq!(rec["end_reason"], "cancelled");
    let vias: Vec<_> = rec["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["reached_via"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        vias.contains(&"offline".to_owned()) && vias.contains(&"socket".to_owned()),
        "{vias:?}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_timeout_ends_as_no_answer() {
    let server = TestServer::start_with(|c| c.ring_timeout_secs = 1).await;
    let mut c = cast(&server).await;
    let call = CallId::random();
    c.ring_bob(call).await;
    assert_eq!(c.alice.expect_ended(call).await, EndReason::NoAnswer);
    assert_eq!(c.bob1.expect_ended(call).await, EndReason::NoAnswer);
    assert_eq!(c.bob2.expect_ended(call).await, EndReason::NoAnswer);
    let rec = &server.last_ended_call(&c.tokens.alice).await;
    assert_eq!(rec["end_reason"], "no_answer");
    let duration = rec["ended_at_ms"].as_u64().unwrap() - rec["invited_at_ms"].as_u64().unwrap();
    assert!((1000..3000).contains(&duration), "rang for {duration} ms");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_woken_by_push_finds_its_ringing_call_and_answers() {
    let server = TestServer::start().await;
    let mut c = cast(&server).await;
    drop(c.bob1);
    drop(c.bob2);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let call = CallId::random();
    c.alice.send(&invite(call, "bob")).await;
    c.alice.recv().await;
    let mut bob2 = Client::connect_with_calls(&server, &c.tokens.bob2, vec![call]).await;
    let inc = expect_incoming(bob2.recv().await, call);
    assert!(inc.replayed);
    bob2.send(&ClientMessage::Accept { call_id: call }).await;
    assert_eq!(
        c.alice.recv().await,
        ServerMessage::Accepted {
            call_id: call,
            device_id: bob2.device
        }
    );
    // Bob's phone, connecting after the accept, hears answered_elsewhere instead of ringing.
    let mut bob1 = Client::connect(&server, &c.tokens.bob1).await;
    assert_eq!(bob1.expect_ended(call).await, EndReason::AnsweredElsewhere);
    let history = server
        .history_when(&c.tokens.alice, |c| c["state"] == "active")
        .await;
    let via = |d: ringwire_proto::DeviceId| {
        history["calls"][0]["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["device_id"] == d.to_string())
            .unwrap()["reached_via"]
            .clone()
    };
    assert_eq!(via(bob2.device), "replay", "woken by push, then replayed");
    assert_eq!(
        via(bob1.device),
        "offline",
        "never rang: it connected after the accept"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glare_resolves_into_one_call() {
    let server = TestServer::start().await;
    let mut c = cast(&server).await;
    let low = CallId::from_bytes([0x10; 16]);
    let high = CallId::from_bytes([0xf0; 16]);
    c.alice.send(&invite(low, "carol")).await;
    c.alice.recv().await;
    expect_incoming(c.carol.recv().await, low);
    c.carol.send(&invite(high, "alice")).await;
    // Alice's call loses to Carol's higher id; Alice now rings for Carol's call.
    match c.alice.recv().await {
        ServerMessage::Ended {
            call_id,
            reason,
            replaced_by,
            ..
        } => {
            assert_eq!(
                (call_id, reason, replaced_by),
                (low, EndReason::Glare, Some(high))
            );
        }
        other => panic!("{other:?}"),
    }
    expect_incoming(c.alice.recv().await, high);
    assert_eq!(c.carol.expect_ended(low).await, EndReason::Glare);
    assert!(
        matches!(c.carol.recv().await, ServerMessage::Calling { call_id, .. } if call_id == high)
    );
    c.alice.send(&ClientMessage::Accept { call_id: high }).await;
    assert!(
        matches!(c.carol.recv().await, ServerMessage::Accepted { call_id, .. } if call_id == high)
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_from_non_participants_are_refused() {
    let server = TestServer::start().await;
    let mut c = cast(&server).await;
    let call = CallId::random();
    c.ring_bob(call).await;
    c.carol
        .send(&ClientMessage::Offer {
            call_id: call,
            to_device: c.alice.device,
            sdp: sdp("evil"),
        })
        .await;
    let err = c.carol.expect_error().await;
    assert_eq!(err.code, ErrorCode::NotAParticipant);
    assert_eq!(err.call_id, Some(call));
    c.carol.send(&ClientMessage::hangup(call)).await;
    assert_eq!(
        c.carol.expect_error().await.code,
        ErrorCode::NotAParticipant
    );
    // Nothing reached the participants, and the call still rings.
    c.alice.expect_silence(200).await;
    c.bob1.send(&ClientMessage::Accept { call_id: call }).await;
    assert!(matches!(
        c.alice.recv().await,
        ServerMessage::Accepted { .. }
    ));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_survives_a_participant_reconnecting_within_the_grace_period() {
    let server = TestServer::start_with(|c| c.reconnect_grace_secs = 1).await;
    let mut c = cast(&server).await;
    let call = CallId::random();
    c.alice.send(&invite(call, "carol")).await;
    c.alice.recv().await;
    c.carol.recv().await;
    c.carol.send(&ClientMessage::Accept { call_id: call }).await;
    c.alice.recv().await;
    c.carol.recv().await;
    drop(c.carol);
    let mut carol = Client::connect(&server, &c.tokens.carol).await;
    assert_eq!(
        carol.recv().await,
        ServerMessage::Accepted {
            call_id: call,
            device_id: carol.device
        }
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    c.alice.ping(1).await; // still no `ended`
                           // Now Carol's phone dies for good: after the grace period Alice hears connection_lost.
    drop(carol);
    assert_eq!(c.alice.expect_ended(call).await, EndReason::ConnectionLost);
    server.shutdown().await;
}
