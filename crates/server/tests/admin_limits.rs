//! The "also fix" list of issue 23 over real HTTP: spoofing display names are refused, a user's
//! devices are capped, the history pages with an exact cursor and bounded pages, and a
//! rate-limited invite is refused before any lookup.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use common::*;
use ringwire_proto::{CallId, ClientMessage, ErrorCode, ServerMessage};
use serde_json::json;

#[tokio::test]
async fn display_names_that_could_spoof_a_caller_are_refused() {
    let server = TestServer::start().await;
    for name in [
        "Alice\u{202E}gnp.exe",
        "\u{2067}Bob\u{2069}",
        "\u{200B}\u{200B}",
        "\u{3164}",
    ] {
        let resp = server
            .http
            .post(server.url("/v1/admin/users"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "mallory", "display_name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{name:?}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_field", "{body}");
    }
    let resp = server
        .http
        .post(server.url("/v1/admin/users"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "zoe", "display_name": "Zoë 🐇"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    server.shutdown().await;
}

#[tokio::test]
async fn devices_per_user_are_capped() {
    let server = TestServer::start_with(|c| c.max_devices_per_user = 3).await;
    server.add_user("bob").await;
    for _ in 0..3 {
        server.add_device("bob").await;
    }
    let resp = server
        .http
        .post(server.url("/v1/admin/users/bob/devices"))
        .bearer_auth(ADMIN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_devices", "{body}");
    server.shutdown().await;
}

#[tokio::test]
async fn history_pages_with_an_exact_cursor() {
    let server = TestServer::start_with(|c| c.invite_burst = 100).await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let (_, alice) = server.add_device("alice").await;
    let (_, bob) = server.add_device("bob").await;
    let mut a = Client::connect(&server, &alice).await;
    let _b = Client::connect(&server, &bob).await;
    let mut ids = Vec::new();
    for _ in 0..7 {
        let call = CallId::random();
        a.send(&invite(call, "bob")).await;
        assert!(matches!(a.recv().await, ServerMessage::Calling { .. }));
        a.send(&ClientMessage::Cancel { call_id: call }).await;
        a.expect_ended(call).await;
        ids.push(call.to_string());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = server.url("/v1/calls?limit=3");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page: serde_json::Value = server
            .http
            .get(url)
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for c in page["calls"].as_array().unwrap() {
            seen.push(c["call_id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids, "every call exactly once across the pages");
    let resp = server
        .http
        .get(server.url("/v1/calls?cursor=nonsense"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    server.shutdown().await;
}

#[tokio::test]
async fn a_rate_limited_invite_is_refused_without_a_lookup() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    let (_, alice) = server.add_device("alice").await;
    let mut a = Client::connect(&server, &alice).await;
    // Five invites use the burst (to a user that does not exist: each is looked up).
    for _ in 0..5 {
        a.send(&invite(CallId::random(), "nobody")).await;
        assert_eq!(a.expect_error().await.code, ErrorCode::UserNotFound);
    }
    // The sixth is refused by the limit first: rate_limited, not user_not_found.
    a.send(&invite(CallId::random(), "nobody")).await;
    let err = a.expect_error().await;
    assert_eq!(err.code, ErrorCode::RateLimited);
    assert!(err.retry_after_ms.is_some());
    a.ping(1).await;
    server.shutdown().await;
}
