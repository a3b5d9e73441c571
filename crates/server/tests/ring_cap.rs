//! Defect 3 of issue 23: a flood of invites must not lock a user out. The number of calls that
//! may ring one user at once is capped (`too_many_calls` for the rest), and a device that
//! connects while many calls ring for it is brought up to date without overflowing its queue.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use common::*;
use ringwire_proto::{CallId, ErrorCode, ServerMessage};

#[tokio::test]
async fn sixty_callers_cannot_lock_out_the_callee() {
    let server = TestServer::start_with(|c| c.max_devices_per_user = 100).await;
    server.add_user("mallory").await;
    server.add_user("victim").await;
    let (_, victim_token) = server.add_device("victim").await;
    let mut callers = Vec::new();
    for _ in 0..60 {
        let (_, token) = server.add_device("mallory").await;
        callers.push(Client::connect(&server, &token).await);
    }
    // 60 devices x 5 invites, all to the victim, who is offline.
    let mut ringing = 0;
    let mut refused = 0;
    for caller in &mut callers {
        for _ in 0..5 {
            caller.send(&invite(CallId::random(), "victim")).await;
        }
        for _ in 0..5 {
            match caller.recv().await {
                ServerMessage::Calling { .. } => ringing += 1,
                ServerMessage::Error(e) if e.code == ErrorCode::TooManyCalls => refused += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    let cap = server.config.max_ringing_calls_per_user;
    assert_eq!(ringing, cap, "at most {cap} calls ring one user");
    assert_eq!(refused, 300 - cap);

    // The victim's device connects, hears every ringing call, and stays connected.
    let mut victim = Client::connect(&server, &victim_token).await;
    for _ in 0..cap {
        assert!(matches!(victim.recv().await, ServerMessage::Incoming(_)));
    }
    victim.ping(1).await;
    // The same again after a reconnect.
    drop(victim);
    let mut victim = Client::connect(&server, &victim_token).await;
    for _ in 0..cap {
        assert!(matches!(victim.recv().await, ServerMessage::Incoming(_)));
    }
    victim.ping(2).await;
    let history = server.history(&victim_token).await;
    assert_eq!(
        history["calls"].as_array().unwrap().len(),
        cap,
        "refused invites leave no record"
    );
    server.shutdown().await;
}
