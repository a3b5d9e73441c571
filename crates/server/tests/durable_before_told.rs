//! Defect 5 of issue 23: what a client has been told is already durable. The moment a client
//! reads `calling`, `incoming`, `accepted` or `ended`, the store (read by a second process's
//! handle, as a restarted server would) already holds that state. Run on SQLite and on
//! PostgreSQL. (`crash_consistency.rs` kills a real server process to prove the consequence.)

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use common::*;
use ringwire_proto::{CallId, ClientMessage, ServerMessage};
use ringwire_router::record::CallState;
use ringwire_server::store::Store;
use ringwire_server::testing::PgTestDatabase;

async fn state(store: &Store, call: CallId) -> Option<CallState> {
    store.call(call).await.unwrap().map(|c| c.state)
}

async fn every_notice_is_durable_when_it_arrives(server: TestServer, store: Store) {
    server.add_user("alice").await;
    server.add_user("bob").await;
    let (_, alice) = server.add_device("alice").await;
    let (_, bob) = server.add_device("bob").await;
    let mut alice = Client::connect(&server, &alice).await;
    let mut bob = Client::connect(&server, &bob).await;
    for round in 0..15 {
        let call = CallId::random();
        alice.send(&invite(call, "bob")).await;
        assert!(matches!(alice.recv().await, ServerMessage::Calling { .. }));
        assert_eq!(state(&store, call).await, Some(CallState::Ringing));
        assert!(matches!(bob.recv().await, ServerMessage::Incoming(_)));
        if round % 3 == 0 {
            bob.send(&ClientMessage::Decline { call_id: call }).await;
        } else {
            bob.send(&ClientMessage::Accept { call_id: call }).await;
            assert!(matches!(alice.recv().await, ServerMessage::Accepted { .. }));
            assert_eq!(state(&store, call).await, Some(CallState::Active));
            bob.recv().await;
            alice.send(&ClientMessage::hangup(call)).await;
        }
        bob.expect_ended(call).await;
        assert_eq!(state(&store, call).await, Some(CallState::Ended));
        alice.expect_ended(call).await;
    }
    store.close().await;
    server.shutdown().await;
}

#[tokio::test]
async fn every_notice_is_durable_when_it_arrives_sqlite() {
    let server = TestServer::start_with(|c| c.invite_burst = 100).await;
    let store = Store::open_data_dir(&server.config.data_dir).await.unwrap();
    every_notice_is_durable_when_it_arrives(server, store).await;
}

#[tokio::test]
async fn every_notice_is_durable_when_it_arrives_postgres() {
    let Some(db) = PgTestDatabase::create().await else {
        return;
    };
    let url = db.url.clone();
    let server = TestServer::start_with(|c| {
        c.database_url = Some(url.clone());
        c.invite_burst = 100;
    })
    .await;
    let store = Store::open(&url).await.unwrap();
    every_notice_is_durable_when_it_arrives(server, store).await;
    db.destroy().await;
}
