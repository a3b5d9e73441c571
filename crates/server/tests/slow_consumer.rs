//! Defect 2 of issue 23: a client that stops reading must be dropped (`too_slow`, counted in the
//! metrics) instead of blocking its connection task inside a socket write forever, and a
//! shutdown with such a client must still be quick and lose no call record.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use std::time::Duration;

use common::*;
use ringwire_proto::{CallId, ClientMessage, Sdp, ServerMessage};

/// Alice calls Bob and Bob accepts; returns the call id.
async fn active_call(alice: &mut Client, bob: &mut Client) -> CallId {
    let call = CallId::random();
    alice.send(&invite(call, "bob")).await;
    assert!(matches!(alice.recv().await, ServerMessage::Calling { .. }));
    assert!(matches!(bob.recv().await, ServerMessage::Incoming(_)));
    bob.send(&ClientMessage::Accept { call_id: call }).await;
    assert!(matches!(alice.recv().await, ServerMessage::Accepted { .. }));
    assert!(matches!(bob.recv().await, ServerMessage::Accepted { .. }));
    call
}

/// A 60 KB SDP, the largest kind of frame a client relays.
fn big_offer(call_id: CallId, to_device: ringwire_proto::DeviceId) -> ClientMessage {
    let mut sdp = String::from("v=0\r\n");
    while sdp.len() < 58_000 {
        sdp.push_str("a=x-padding:0123456789abcdef0123456789abcdef0123456789abcdef\r\n");
    }
    ClientMessage::Offer {
        call_id,
        to_device,
        sdp: Sdp::try_from(sdp).unwrap(),
    }
}

fn metric(text: &str, line_prefix: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Relays big offers from `from` to `to` until `done` holds or `limit` passes.
async fn flood_until(
    server: &TestServer,
    from: &mut Client,
    call: CallId,
    to: ringwire_proto::DeviceId,
    limit: Duration,
    done: impl Fn(&str) -> bool,
) -> Duration {
    let started = tokio::time::Instant::now();
    let offer = big_offer(call, to);
    loop {
        // 50 a second: under the flood limit, ~3 MB/s towards a client that reads nothing.
        for _ in 0..10 {
            from.send(&offer).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if done(&server.metrics().await) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "the stalled client was not dropped within {limit:?}:\n{}",
            server.metrics().await
        );
    }
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_as_too_slow() {
    let server = TestServer::start().await;
    let mut cast = cast(&server).await;
    let call = active_call(&mut cast.alice, &mut cast.bob1).await;
    // bob1 stops reading from here on.
    let bob1 = cast.bob1.device;
    let took = flood_until(
        &server,
        &mut cast.alice,
        call,
        bob1,
        Duration::from_secs(30),
        |m| metric(m, "ringwire_errors_total{code=\"too_slow\"} ") >= 1,
    )
    .await;
    eprintln!("stalled client dropped after {took:?} of flooding");
    // Its connection is gone (the router saw it leave), and the server still serves others.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while metric(&server.metrics().await, "ringwire_connected_devices ") != 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "bob1 still counted as connected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cast.carol.ping(7).await;
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_with_a_stalled_client_is_quick_and_keeps_every_record() {
    let mut server = TestServer::start().await;
    let mut cast = cast(&server).await;
    let call = active_call(&mut cast.alice, &mut cast.bob1).await;
    let bob1 = cast.bob1.device;
    // Stall bob1 until the server cannot write to it, but not long enough to be dropped.
    let offer = big_offer(call, bob1);
    for _ in 0..150 {
        cast.alice.send(&offer).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A second call that ends (alice is busy): its record must survive the shutdown.
    let second = CallId::random();
    cast.carol.send(&invite(second, "alice")).await;
    assert_eq!(
        cast.carol.expect_ended(second).await,
        ringwire_proto::EndReason::Busy
    );

    let started = std::time::Instant::now();
    server.stop().await;
    let took = started.elapsed();
    eprintln!("shutdown with a stalled client took {took:?}");
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");

    server.restart().await;
    let history = server.history(&cast.tokens.carol).await;
    let calls = history["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{history}");
    assert_eq!(calls[0]["call_id"], second.to_string());
    assert_eq!(calls[0]["state"], "ended");
    let history = server.history(&cast.tokens.alice).await;
    assert!(
        history["calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["call_id"] == call.to_string()),
        "{history}"
    );
    server.shutdown().await;
}

/// The server process, when this binary is started as one (for the SIGTERM test).
#[test]
#[ignore = "the SIGTERM test's server process; started by the test itself"]
fn child_server() {
    common::process::child_main();
}

#[tokio::test]
async fn sigterm_with_a_stalled_client_exits_within_two_seconds_and_keeps_every_record() {
    use common::process::{self, StoreAt};
    let dir = tempfile::tempdir().unwrap();
    let at = StoreAt::Dir(dir.path().join("data"));
    let port = process::free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let mut child = process::spawn_server(&at, port, &[]);
    let http = reqwest::Client::new();
    process::wait_ready(&http, port).await;
    let mut tokens = Vec::new();
    for user in ["alice", "bob"] {
        process::admin(
            &http,
            port,
            "/v1/admin/users",
            serde_json::json!({ "name": user }),
        )
        .await;
        let path = format!("/v1/admin/users/{user}/devices");
        let device = process::admin(&http, port, &path, serde_json::json!({})).await;
        tokens.push(device["token"].as_str().unwrap().to_owned());
    }
    let mut alice = Client::connect_at(addr, &tokens[0], vec![]).await;
    let mut bob = Client::connect_at(addr, &tokens[1], vec![]).await;
    let call = active_call(&mut alice, &mut bob).await;
    // Bob stops reading; Alice fills his socket.
    let offer = big_offer(call, bob.device);
    for _ in 0..150 {
        alice.send(&offer).await;
    }
    alice.send(&ClientMessage::hangup(call)).await;
    alice.expect_ended(call).await;

    let started = std::time::Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap();
    let took = started.elapsed();
    eprintln!("SIGTERM with a stalled client: exited after {took:?} ({status:?})");
    assert!(took < Duration::from_secs(2), "exit took {took:?}");
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "a graceful exit, not death by signal: {status:?}"
    );
    drop(bob);

    let store = ringwire_server::store::Store::open_data_dir(&dir.path().join("data"))
        .await
        .unwrap();
    let record = store.call(call).await.unwrap().expect("the call's record");
    assert_eq!(record.state, ringwire_router::record::CallState::Ended);
    assert_eq!(record.end_reason, Some(ringwire_proto::EndReason::Hangup));
    store.close().await;
}
