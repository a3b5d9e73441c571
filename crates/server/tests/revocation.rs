//! Defect 1 of issue 23: a revocation must reach a device whatever state its connection is in —
//! between the WebSocket upgrade and `hello`, after `hello`, and when the revocation was made by
//! another process editing the store (`ringwire device revoke`), not by the admin API.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use ringwire_proto::{encode, CallId, ClientMessage, ErrorCode, ServerMessage};
use ringwire_server::store::Store;
use tokio_tungstenite::tungstenite::Message;

async fn revoke_by_admin(server: &TestServer, device: ringwire_proto::DeviceId) {
    let resp = server
        .http
        .delete(server.url(&format!("/v1/admin/devices/{device}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
}

/// What `ringwire device revoke` does: a second process opens the same store and revokes.
async fn revoke_offline(server: &TestServer, device: ringwire_proto::DeviceId) {
    let store = Store::open_data_dir(&server.config.data_dir).await.unwrap();
    assert!(store.revoke_device(device).await.unwrap());
    store.close().await;
}

async fn hello(ws: &mut Ws) {
    let hello = ClientMessage::Hello {
        versions: vec![1],
        client: None,
        calls: vec![],
    };
    // The server may already have closed the socket; that is an acceptable outcome too.
    let _ = ws.send(Message::Text(encode(&hello).into())).await;
}

async fn expect_unauthorized_close(ws: &mut Ws) {
    let (before, code) = expect_close(ws).await;
    assert!(
        !before
            .iter()
            .any(|m| matches!(m, ServerMessage::Welcome(_))),
        "a revoked device must never be welcomed: {before:?}"
    );
    assert!(
        before
            .iter()
            .any(|m| matches!(m, ServerMessage::Error(e) if e.code == ErrorCode::Unauthorized)),
        "expected error unauthorized, got {before:?}"
    );
    assert_eq!(code, Some(4401));
}

#[tokio::test]
async fn a_device_revoked_by_the_admin_between_upgrade_and_hello_is_closed() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let (alice_id, alice) = server.add_device("alice").await;
    let (_, bob) = server.add_device("bob").await;
    let mut bob = Client::connect(&server, &bob).await;
    let mut ws = open(&server, Some(&alice)).await;
    revoke_by_admin(&server, alice_id).await;
    // The kick reaches the connection although it has not said hello.
    tokio::time::sleep(Duration::from_millis(300)).await;
    hello(&mut ws).await;
    expect_unauthorized_close(&mut ws).await;
    bob.expect_silence(300).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_device_revoked_in_the_store_before_hello_is_refused_at_hello() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    let (alice_id, alice) = server.add_device("alice").await;
    let mut ws = open(&server, Some(&alice)).await;
    revoke_offline(&server, alice_id).await;
    hello(&mut ws).await;
    expect_unauthorized_close(&mut ws).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_connected_device_revoked_in_the_store_cannot_call_and_is_disconnected() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    server.add_user("carol").await;
    let (alice_id, alice) = server.add_device("alice").await;
    let (carol_id, carol) = server.add_device("carol").await;
    let (_, bob) = server.add_device("bob").await;
    let mut alice = Client::connect(&server, &alice).await;
    let mut carol = Client::connect(&server, &carol).await;
    let mut bob = Client::connect(&server, &bob).await;

    // An invite right after an offline revoke is refused, and rings nobody.
    revoke_offline(&server, alice_id).await;
    alice.send(&invite(CallId::random(), "bob")).await;
    expect_unauthorized_close(&mut alice.ws).await;
    bob.expect_silence(300).await;

    // A connected device that does nothing is closed by the server's revocation poll.
    let started = tokio::time::Instant::now();
    revoke_offline(&server, carol_id).await;
    expect_unauthorized_close(&mut carol.ws).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    bob.ping(1).await;
    server.shutdown().await;
}
