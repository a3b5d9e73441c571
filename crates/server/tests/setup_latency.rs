//! Measures what making call records durable before clients are told costs the call set-up:
//! invite → `calling` at the caller, invite → `incoming` at the callee, accept → `accepted` at
//! the caller, over 200 calls on each store. Prints the figures (`--nocapture`); asserts only a
//! loose bound, since a shared CI machine is noisy.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use std::time::{Duration, Instant};

use common::*;
use ringwire_proto::{CallId, ClientMessage, ServerMessage};
use ringwire_server::testing::PgTestDatabase;

const CALLS: usize = 200;

fn summary(name: &str, mut v: Vec<Duration>) -> Duration {
    v.sort();
    let p = |q: usize| v[(v.len() * q / 100).min(v.len() - 1)];
    eprintln!(
        "  {name}: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        p(50).as_secs_f64() * 1e3,
        p(95).as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3
    );
    p(50)
}

async fn measure(server: TestServer, label: &str) {
    server.add_user("alice").await;
    server.add_user("bob").await;
    let (_, alice) = server.add_device("alice").await;
    let (_, bob) = server.add_device("bob").await;
    let mut alice = Client::connect(&server, &alice).await;
    let mut bob = Client::connect(&server, &bob).await;
    let (mut calling, mut incoming, mut accepted) = (vec![], vec![], vec![]);
    for _ in 0..CALLS {
        let call = CallId::random();
        let t0 = Instant::now();
        alice.send(&invite(call, "bob")).await;
        assert!(matches!(bob.recv().await, ServerMessage::Incoming(_)));
        incoming.push(t0.elapsed());
        assert!(matches!(alice.recv().await, ServerMessage::Calling { .. }));
        calling.push(t0.elapsed());
        let t1 = Instant::now();
        bob.send(&ClientMessage::Accept { call_id: call }).await;
        assert!(matches!(alice.recv().await, ServerMessage::Accepted { .. }));
        accepted.push(t1.elapsed());
        bob.recv().await;
        alice.send(&ClientMessage::hangup(call)).await;
        alice.expect_ended(call).await;
        bob.expect_ended(call).await;
    }
    eprintln!("set-up latency, {label}, {CALLS} calls:");
    summary("invite -> incoming", incoming);
    summary("invite -> calling", calling);
    let p50 = summary("accept -> accepted", accepted);
    assert!(
        p50 < Duration::from_millis(250),
        "{label}: accept p50 {p50:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn setup_latency_sqlite() {
    let server = TestServer::start_with(|c| {
        c.invite_burst = 1000;
        c.max_messages_per_sec = 10_000;
    })
    .await;
    measure(server, "sqlite").await;
}

#[tokio::test]
async fn setup_latency_postgres() {
    let Some(db) = PgTestDatabase::create().await else {
        return;
    };
    let url = db.url.clone();
    let server = TestServer::start_with(|c| {
        c.database_url = Some(url);
        c.invite_burst = 1000;
        c.max_messages_per_sec = 10_000;
    })
    .await;
    measure(server, "postgres").await;
    db.destroy().await;
}
