//! The server restarting: history is intact, ringing calls resume (a push-woken phone still finds
//! its call), active calls resume when their devices come back, and calls whose ring deadline
//! passed while the server was down end as `no_answer`. Run on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use common::*;
use ringwire_proto::{CallId, ClientMessage, EndReason, ServerMessage};
use ringwire_server::testing::PgTestDatabase;

async fn complete_call(
    server: &TestServer,
    caller: &str,
    callee: &str,
    reason_by_hangup: bool,
) -> CallId {
    let mut a = Client::connect(server, caller).await;
    let mut b = Client::connect(server, callee).await;
    let call = CallId::random();
    a.send(&invite(call, "bob")).await;
    a.recv().await;
    b.recv().await;
    if reason_by_hangup {
        b.send(&ClientMessage::Accept { call_id: call }).await;
        a.recv().await;
        b.recv().await;
        b.send(&ClientMessage::hangup(call)).await;
    } else {
        b.send(&ClientMessage::Decline { call_id: call }).await;
    }
    a.expect_ended(call).await;
    b.expect_ended(call).await;
    call
}

async fn history_survives_restarts(mut server: TestServer) {
    server.add_user("alice").await;
    server.add_user("bob").await;
    let (_, alice) = server.add_device("alice").await;
    let (_, bob) = server.add_device("bob").await;
    let first = complete_call(&server, &alice, &bob, true).await;
    let before = server.last_ended_call(&alice).await;
    server.restart().await;
    let second = complete_call(&server, &alice, &bob, false).await;
    let history = server
        .history_when(&alice, |c| {
            c["call_id"] == second.to_string() && c["state"] == "ended"
        })
        .await;
    let calls = history["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["end_reason"], "declined");
    assert_eq!(calls[1]["call_id"], first.to_string());
    assert_eq!(
        calls[1], before,
        "the first record is unchanged by the restart"
    );
    server.shutdown().await;
}

async fn a_ringing_call_resumes_after_a_restart(mut server: TestServer) {
    server.add_user("alice").await;
    server.add_user("bob").await;
    let (_, alice_token) = server.add_device("alice").await;
    let (_, bob_token) = server.add_device("bob").await;
    let mut alice = Client::connect(&server, &alice_token).await;
    let call = CallId::random();
    alice.send(&invite(call, "bob")).await;
    alice.recv().await;
    server.restart().await;
    // Bob's phone, woken by a push, connects to the restarted server and finds the call ringing.
    let mut bob = Client::connect_with_calls(&server, &bob_token, vec![call]).await;
    match bob.recv().await {
        ServerMessage::Incoming(i) => assert_eq!((i.call_id, i.replayed), (call, true)),
        other => panic!("{other:?}"),
    }
    let mut alice = Client::connect(&server, &alice_token).await;
    // The caller coming back hears that its call still rings, and that one device is reachable.
    match alice.recv().await {
        ServerMessage::Calling {
            call_id,
            devices_online,
            ..
        } => assert_eq!((call_id, devices_online), (call, 1)),
        other => panic!("{other:?}"),
    }
    bob.send(&ClientMessage::Accept { call_id: call }).await;
    assert_eq!(
        alice.recv().await,
        ServerMessage::Accepted {
            call_id: call,
            device_id: bob.device
        }
    );
    bob.recv().await;

    // And the accepted call survives another restart once both come back.
    server.restart().await;
    let mut alice = Client::connect(&server, &alice_token).await;
    let mut bob = Client::connect(&server, &bob_token).await;
    assert_eq!(
        alice.recv().await,
        ServerMessage::Accepted {
            call_id: call,
            device_id: bob.device
        }
    );
    assert_eq!(
        bob.recv().await,
        ServerMessage::Accepted {
            call_id: call,
            device_id: bob.device
        }
    );
    alice.send(&ClientMessage::hangup(call)).await;
    assert_eq!(bob.expect_ended(call).await, EndReason::Hangup);
    let rec = server.last_ended_call(&alice_token).await;
    assert_eq!(rec["end_reason"], "hangup");
    assert_eq!(rec["answered_device"], bob.device.to_string());
    assert_eq!(
        server.history(&alice_token).await["calls"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    server.shutdown().await;
}

async fn a_call_whose_deadline_passed_during_downtime_ends_as_no_answer(mut server: TestServer) {
    server.add_user("alice").await;
    server.add_user("bob").await;
    let (_, alice_token) = server.add_device("alice").await;
    let (_, bob_token) = server.add_device("bob").await;
    let mut alice = Client::connect(&server, &alice_token).await;
    let call = CallId::random();
    alice.send(&invite(call, "bob")).await;
    alice.recv().await;
    server.stop().await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    server.restart().await;
    let mut bob = Client::connect_with_calls(&server, &bob_token, vec![call]).await;
    assert_eq!(bob.expect_ended(call).await, EndReason::NoAnswer);
    let rec = server.last_ended_call(&alice_token).await;
    assert_eq!(rec["end_reason"], "no_answer");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_history_survives_restarts() {
    history_survives_restarts(TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_ringing_and_active_calls_resume_after_a_restart() {
    a_ringing_call_resumes_after_a_restart(TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_deadline_passed_during_downtime() {
    let server = TestServer::start_with(|c| c.ring_timeout_secs = 1).await;
    a_call_whose_deadline_passed_during_downtime_ends_as_no_answer(server).await;
}

/// Runs a scenario against a server backed by a fresh PostgreSQL database.
async fn on_postgres<F, Fut>(ring_timeout_secs: u64, scenario: F)
where
    F: FnOnce(TestServer) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(db) = PgTestDatabase::create().await else {
        return;
    };
    let url = db.url.clone();
    let server = TestServer::start_with(|c| {
        c.database_url = Some(url);
        c.ring_timeout_secs = ring_timeout_secs;
    })
    .await;
    let health: serde_json::Value = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["store"], "postgres");
    scenario(server).await;
    db.destroy().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_history_survives_restarts() {
    on_postgres(45, history_survives_restarts).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_ringing_and_active_calls_resume_after_a_restart() {
    on_postgres(45, a_ringing_call_resumes_after_a_restart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deadline_passed_during_downtime() {
    on_postgres(
        1,
        a_call_whose_deadline_passed_during_downtime_ends_as_no_answer,
    )
    .await;
}
