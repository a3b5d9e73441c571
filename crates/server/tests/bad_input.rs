//! Untrusted input over real sockets: unauthorized connections, handshake violations, malformed
//! and oversized frames, floods, replaced connections, revoked tokens, and HTTP API misuse. Each
//! gets a clear error code; the connection survives where that is safe.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use common::*;
use futures_util::SinkExt;
use ringwire_proto::{CallId, ClientMessage, ErrorCode, ServerMessage, MAX_FRAME_BYTES};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_without_a_valid_token_gets_unauthorized_and_4401() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    let (_, token) = server.add_device("alice").await;
    for presented in [
        None,
        Some("rw_nonsense"),
        Some(&*format!("rw_{}", "0".repeat(64))),
    ] {
        let mut ws = open(&server, presented).await;
        let (msgs, code) = expect_close(&mut ws).await;
        assert_eq!(code, Some(4401), "{presented:?}");
        match msgs.as_slice() {
            [ServerMessage::Error(e)] => assert_eq!(e.code, ErrorCode::Unauthorized),
            other => panic!("{other:?}"),
        }
    }
    // The query-string form works for browsers.
    let url = format!("ws://{}/v1/ws?token={token}", server.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::Text(r#"{"type":"hello","versions":[1]}"#.into()))
        .await
        .unwrap();
    assert!(matches!(
        next_message(&mut ws).await,
        Some(ServerMessage::Welcome(_))
    ));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_is_enforced() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    let (_, token) = server.add_device("alice").await;

    let mut ws = open(&server, Some(&token)).await;
    ws.send(Message::Text(r#"{"type":"ping","nonce":1}"#.into()))
        .await
        .unwrap();
    let (msgs, code) = expect_close(&mut ws).await;
    assert_eq!(code, Some(4400));
    assert!(matches!(&msgs[..], [ServerMessage::Error(e)] if e.code == ErrorCode::HelloRequired));

    let mut ws = open(&server, Some(&token)).await;
    ws.send(Message::Text(r#"{"type":"hello","versions":[7,8]}"#.into()))
        .await
        .unwrap();
    let (msgs, code) = expect_close(&mut ws).await;
    assert_eq!(code, Some(4406));
    assert!(
        matches!(&msgs[..], [ServerMessage::Error(e)] if e.code == ErrorCode::UnsupportedVersion)
    );

    let mut ws = open(&server, Some(&token)).await;
    ws.send(Message::Text("{nope".into())).await.unwrap();
    let (msgs, code) = expect_close(&mut ws).await;
    assert_eq!(code, Some(4400));
    assert!(matches!(&msgs[..], [ServerMessage::Error(e)] if e.code == ErrorCode::MalformedJson));

    let calls: Vec<String> = (0..33)
        .map(|_| format!("\"{}\"", CallId::random()))
        .collect();
    let mut ws = open(&server, Some(&token)).await;
    ws.send(Message::Text(
        format!(
            r#"{{"type":"hello","versions":[1],"calls":[{}]}}"#,
            calls.join(",")
        )
        .into(),
    ))
    .await
    .unwrap();
    let (msgs, code) = expect_close(&mut ws).await;
    assert_eq!(code, Some(4400));
    assert!(matches!(&msgs[..], [ServerMessage::Error(e)] if e.code == ErrorCode::InvalidField));

    // A second hello is refused but the connection stays.
    let mut c = Client::connect(&server, &token).await;
    c.send_text(r#"{"type":"hello","versions":[1]}"#).await;
    assert_eq!(c.expect_error().await.code, ErrorCode::HelloRequired);
    c.ping(5).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_typed_errors_and_the_connection_stays_open() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    let (_, token) = server.add_device("alice").await;
    let mut c = Client::connect(&server, &token).await;
    let id = CallId::random();
    let cases: Vec<(String, ErrorCode, Option<&str>)> = vec![
        ("this is not json".into(), ErrorCode::MalformedJson, None),
        ("[1,2,3]".into(), ErrorCode::MalformedJson, None),
        (
            r#"{"type":"teleport"}"#.into(),
            ErrorCode::UnknownType,
            None,
        ),
        (r#"{"call_id":"x"}"#.into(), ErrorCode::MissingField, None),
        (
            r#"{"type":"accept"}"#.into(),
            ErrorCode::MissingField,
            Some("accept"),
        ),
        (
            r#"{"type":"accept","call_id":"XYZ"}"#.into(),
            ErrorCode::InvalidId,
            Some("accept"),
        ),
        (
            format!(r#"{{"type":"invite","call_id":"{id}","to_user":"Not Valid"}}"#),
            ErrorCode::InvalidField,
            Some("invite"),
        ),
        (
            format!(
                r#"{{"type":"accept","call_id":"{id}","pad":"{}"}}"#,
                "x".repeat(MAX_FRAME_BYTES)
            ),
            ErrorCode::FrameTooLarge,
            None,
        ),
        (
            format!(r#"{{"type":"accept","call_id":"{id}"}}"#),
            ErrorCode::UnknownCall,
            Some("accept"),
        ),
        (
            format!(r#"{{"type":"invite","call_id":"{id}","to_user":"ghost"}}"#),
            ErrorCode::UserNotFound,
            Some("invite"),
        ),
        (
            format!(r#"{{"type":"invite","call_id":"{id}","to_user":"alice"}}"#),
            ErrorCode::CannotCallSelf,
            Some("invite"),
        ),
    ];
    for (n, (frame, code, ref_type)) in cases.into_iter().enumerate() {
        c.send_text(&frame).await;
        let err = c.expect_error().await;
        assert_eq!(err.code, code, "case {n}: {}", err.message);
        assert_eq!(err.ref_type.as_deref(), ref_type, "case {n}");
        assert!(!err.message.is_empty());
        c.ping(n as u64).await;
    }
    c.ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(c.expect_error().await.code, ErrorCode::MalformedJson);
    c.ping(99).await;

    let metrics = server.metrics().await;
    assert!(
        metrics.contains("ringwire_errors_total{code=\"frame_too_large\"} 1"),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_one_mebibyte_closes_the_connection_with_1009() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    let (_, token) = server.add_device("alice").await;
    let mut c = Client::connect(&server, &token).await;
    let huge = format!(
        r#"{{"type":"ping","nonce":1,"pad":"{}"}}"#,
        "x".repeat(2 << 20)
    );
    let _ = c.ws.send(Message::Text(huge.into())).await;
    let (_, code) = expect_close(&mut c.ws).await;
    // The server sends close 1009, but it stops reading with most of the frame unread, so TCP
    // may reset the connection before the client reads the close frame: either is a close.
    assert!(matches!(code, Some(1009) | None), "closed with {code:?}");
    // The server is fine and the device can come back.
    let mut again = Client::connect(&server, &token).await;
    again.ping(1).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_are_rate_limited_without_closing_the_connection() {
    let server = TestServer::start_with(|c| {
        c.invite_burst = 2;
        c.invite_refill_secs = 60;
        c.max_messages_per_sec = 10;
    })
    .await;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let (_, token) = server.add_device("alice").await;
    let mut c = Client::connect(&server, &token).await;
    // Invites: the third within the window is refused with a retry hint.
    for _ in 0..2 {
        c.send(&invite(CallId::random(), "bob")).await;
        assert!(matches!(c.recv().await, ServerMessage::Ended { .. })); // bob has no devices: unavailable
    }
    c.send(&invite(CallId::random(), "bob")).await;
    let err = c.expect_error().await;
    assert_eq!(err.code, ErrorCode::RateLimited);
    assert!(err.retry_after_ms.unwrap() > 0);
    // Message flood: 100 pings at once; the burst (20) is served, the rest dropped with one error.
    for n in 0..100 {
        c.send(&ClientMessage::Ping { nonce: n }).await;
    }
    let mut pongs = 0;
    let mut errors = 0;
    loop {
        match tokio::time::timeout(
            std::time::Duration::from_millis(500),
            next_message(&mut c.ws),
        )
        .await
        {
            Ok(Some(ServerMessage::Pong { .. })) => pongs += 1,
            Ok(Some(ServerMessage::Error(e))) => {
                assert_eq!(e.code, ErrorCode::RateLimited);
                errors += 1
            }
            Ok(other) => panic!("{other:?}"),
            Err(_) => break,
        }
    }
    assert!((17..=25).contains(&pongs), "pongs {pongs}"); // the burst, plus a few refilled
    assert_eq!(errors, 1);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    c.ping(1000).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_replaces_the_first_with_4409() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    let (_, token) = server.add_device("alice").await;
    let mut first = Client::connect(&server, &token).await;
    let mut second = Client::connect(&server, &token).await;
    let (msgs, code) = expect_close(&mut first.ws).await;
    assert_eq!(code, Some(4409));
    assert!(matches!(&msgs[..], [ServerMessage::Error(e)] if e.code == ErrorCode::Replaced));
    second.ping(1).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_device_disconnects_it_and_refuses_its_token() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    let (id, token) = server.add_device("alice").await;
    let mut c = Client::connect(&server, &token).await;
    let resp = server
        .http
        .delete(server.url(&format!("/v1/admin/devices/{id}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (msgs, code) = expect_close(&mut c.ws).await;
    assert_eq!(code, Some(4401));
    assert!(matches!(&msgs[..], [ServerMessage::Error(e)] if e.code == ErrorCode::Unauthorized));
    let mut ws = open(&server, Some(&token)).await;
    assert_eq!(expect_close(&mut ws).await.1, Some(4401));
    let again = server
        .http
        .delete(server.url(&format!("/v1/admin/devices/{id}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    server.shutdown().await;
}

async fn error_of(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    (status, body["error"]["code"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_api_checks_tokens_and_input() {
    let server = TestServer::start().await;
    let http = &server.http;
    server.add_user("alice").await;
    server.add_user("bob").await;
    let (_, alice) = server.add_device("alice").await;

    let url = server.url("/v1/admin/users");
    assert_eq!(
        error_of(
            http.post(&url)
                .json(&serde_json::json!({"name": "x"}))
                .send()
                .await
                .unwrap()
        )
        .await,
        (401, "unauthorized".into())
    );
    assert_eq!(
        error_of(
            http.post(&url)
                .bearer_auth("wrong-token-wrong-token")
                .json(&serde_json::json!({"name": "x"}))
                .send()
                .await
                .unwrap()
        )
        .await,
        (401, "unauthorized".into())
    );
    assert_eq!(
        error_of(
            http.post(&url)
                .bearer_auth(ADMIN)
                .json(&serde_json::json!({"name": "alice"}))
                .send()
                .await
                .unwrap()
        )
        .await,
        (409, "user_exists".into())
    );
    assert_eq!(
        error_of(
            http.post(&url)
                .bearer_auth(ADMIN)
                .json(&serde_json::json!({"name": "No Spaces"}))
                .send()
                .await
                .unwrap()
        )
        .await,
        (400, "invalid_field".into())
    );
    assert_eq!(
        error_of(
            http.post(&url)
                .bearer_auth(ADMIN)
                .body("{not json")
                .send()
                .await
                .unwrap()
        )
        .await,
        (400, "malformed_json".into())
    );
    assert_eq!(
        error_of(
            http.post(&url)
                .bearer_auth(ADMIN)
                .json(&serde_json::json!({"name": "x", "admin": true}))
                .send()
                .await
                .unwrap()
        )
        .await,
        (400, "malformed_json".into())
    );
    let devices = server.url("/v1/admin/users/ghost/devices");
    assert_eq!(
        error_of(http.post(&devices).bearer_auth(ADMIN).send().await.unwrap()).await,
        (404, "user_not_found".into())
    );
    let listed: Value = http
        .get(&url)
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["users"].as_array().unwrap().len(), 2);

    let calls = server.url("/v1/calls");
    assert_eq!(
        error_of(http.get(&calls).send().await.unwrap()).await,
        (401, "unauthorized".into())
    );
    assert_eq!(
        error_of(
            http.get(&calls)
                .bearer_auth("rw_bogus")
                .send()
                .await
                .unwrap()
        )
        .await,
        (401, "unauthorized".into())
    );
    assert_eq!(
        error_of(
            http.get(format!("{calls}?user=bob"))
                .bearer_auth(&alice)
                .send()
                .await
                .unwrap()
        )
        .await,
        (403, "forbidden".into())
    );
    let own = http
        .get(format!("{calls}?user=alice"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    let admin_view = http
        .get(format!("{calls}?user=bob"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(admin_view.status(), 200);

    let health: Value = http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["store"], "sqlite");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_is_off_without_an_admin_token() {
    let server = TestServer::start_with(|c| c.admin_token = None).await;
    let resp = server
        .http
        .get(server.url("/v1/admin/users"))
        .bearer_auth("anything-anything")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(resp).await, (403, "admin_disabled".into()));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_connected_devices_and_closes_with_1001() {
    let mut server = TestServer::start().await;
    server.add_user("alice").await;
    let (_, token) = server.add_device("alice").await;
    let mut c = Client::connect(&server, &token).await;
    let stop = tokio::spawn(async move {
        server.stop().await;
        server
    });
    let (msgs, code) = expect_close(&mut c.ws).await;
    assert_eq!(code, Some(1001));
    assert!(matches!(&msgs[..], [ServerMessage::Error(e)] if e.code == ErrorCode::ShuttingDown));
    stop.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_client_is_served_with_a_strict_policy_and_nothing_else_leaks() {
    let server = TestServer::start().await;
    let page = server.http.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert!(page.text().await.unwrap().contains("/app.js"));

    for (path, kind) in [("/app.js", "text/javascript"), ("/app.css", "text/css")] {
        let asset = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(asset.status(), 200, "{path}");
        assert!(asset.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
    }
    // Only the embedded files exist: no directory to walk out of.
    for path in [
        "/../Cargo.toml",
        "/dist/app.js",
        "/app.js.map",
        "/%2e%2e/etc/passwd",
    ] {
        let resp = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
    }
    server.shutdown().await;
}
