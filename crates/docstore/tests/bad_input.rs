//! Frames a correct client never sends, over a raw WebSocket: each is answered with an error
//! code and the connection keeps working; the listener limit holds; frames too big to read close
//! only their own connection.

#![allow(clippy::unwrap_used)]

mod common;

use common::{code, Lab};
use ringwire_docstore::protocol::MAX_FRAME_BYTES;
use serde_json::{json, Value};

#[tokio::test]
async fn malformed_frames_and_unknown_ops_are_answered_and_the_connection_keeps_working() {
    let lab = Lab::start("badframes").await;
    let mut raw = lab.raw().await;

    // Unreadable frames: answered with a null id.
    for frame in [
        "{",
        "",
        "[]",
        "42",
        r#"{"op":"get","path":"calls/a"}"#,
        r#"{"id":-3,"op":"get"}"#,
        r#"{"id":"7","op":"get"}"#,
    ] {
        raw.send_text(frame).await;
        let answer = raw.expect().await;
        assert_eq!(answer["id"], Value::Null, "{frame:?}: {answer}");
        assert_eq!(code(&answer), "malformed_frame", "{frame:?}");
        assert!(!answer["error"]["message"].as_str().unwrap().is_empty());
    }
    raw.send_binary(vec![0, 1, 2]).await;
    assert_eq!(code(&raw.expect().await), "malformed_frame");

    // Readable id, wrong content: answered to that id.
    let cases = [
        (
            json!({"id": 1, "op": "drop_database", "path": "calls"}),
            "unknown_op",
        ),
        (json!({"id": 2, "op": 5}), "malformed_frame"),
        (json!({"id": 3}), "malformed_frame"),
        (json!({"id": 4, "op": "set", "data": {}}), "malformed_frame"),
        (
            json!({"id": 5, "op": "set", "path": "calls/a"}),
            "malformed_frame",
        ),
        (
            json!({"id": 6, "op": "set", "path": 12, "data": {}}),
            "malformed_frame",
        ),
        (
            json!({"id": 7, "op": "set", "path": "calls/a", "data": "text"}),
            "invalid_data",
        ),
        (
            json!({"id": 8, "op": "set", "path": "calls/a", "data": null}),
            "invalid_data",
        ),
        (
            json!({"id": 9, "op": "set", "path": "calls", "data": {}}),
            "invalid_path",
        ),
        (
            json!({"id": 10, "op": "get", "path": "../etc/passwd"}),
            "invalid_path",
        ),
        (
            json!({"id": 11, "op": "add", "path": "calls/a", "data": {}}),
            "invalid_path",
        ),
        (
            json!({"id": 12, "op": "list", "path": "calls/a"}),
            "invalid_path",
        ),
        (
            json!({"id": 13, "op": "listen", "path": "calls/"}),
            "invalid_path",
        ),
        (json!({"id": 14, "op": "unlisten"}), "malformed_frame"),
        (
            json!({"id": 15, "op": "unlisten", "listener": 99}),
            "unknown_listener",
        ),
        (
            json!({"id": 16, "op": "update", "path": "calls/none", "data": {}}),
            "not_found",
        ),
        (
            json!({"id": 17, "op": "delete_collection", "path": "calls/a"}),
            "invalid_path",
        ),
    ];
    for (request, expected) in cases {
        let answer = raw.call(request.clone()).await;
        assert_eq!(code(&answer), expected, "{request} got {answer}");
    }

    // Still working, and nothing was written by any of it.
    let answer = raw
        .call(json!({"id": 20, "op": "set", "path": "calls/a", "data": {"ok": true}}))
        .await;
    assert!(
        answer["ok"]["update_time"].as_u64().unwrap() > 0,
        "{answer}"
    );
    let answer = raw
        .call(json!({"id": 21, "op": "list", "path": "calls"}))
        .await;
    assert_eq!(
        answer["ok"]["docs"].as_array().unwrap().len(),
        1,
        "{answer}"
    );
    assert_eq!(answer["ok"]["docs"][0]["data"], json!({"ok": true}));
}

#[tokio::test]
async fn oversized_frames_and_data_are_refused_with_codes() {
    let lab = Lab::start("bigframes").await;
    let mut raw = lab.raw().await;

    // Data over 64 KiB in a frame under the frame limit: data_too_large.
    let data = json!({"sdp": "x".repeat(64 * 1024)});
    let answer = raw
        .call(json!({"id": 1, "op": "set", "path": "calls/a", "data": data}))
        .await;
    assert_eq!(code(&answer), "data_too_large", "{answer}");

    // A frame over the frame limit: frame_too_large, answered to its id.
    let data = json!({"sdp": "x".repeat(MAX_FRAME_BYTES)});
    let answer = raw
        .call(json!({"id": 2, "op": "set", "path": "calls/a", "data": data}))
        .await;
    assert_eq!(code(&answer), "frame_too_large", "{answer}");

    // The connection still works, and neither write happened.
    let answer = raw
        .call(json!({"id": 3, "op": "get", "path": "calls/a"}))
        .await;
    assert_eq!(answer["ok"]["exists"], false, "{answer}");

    // A frame too large to read at all closes that connection only.
    raw.send_text("x".repeat(2 * 1024 * 1024)).await;
    assert_eq!(
        raw.next().await,
        None,
        "the server closes a connection sending 2 MiB frames"
    );
    let mut again = lab.raw().await;
    let answer = again
        .call(json!({"id": 1, "op": "get", "path": "calls/a"}))
        .await;
    assert_eq!(answer["ok"]["exists"], false, "{answer}");
}

#[tokio::test]
async fn the_listener_limit_holds_per_connection() {
    let lab = Lab::start_with("limit", |config| config.max_listeners = 8).await;
    let mut raw = lab.raw().await;
    let mut listeners = Vec::new();
    for id in 1..=8u64 {
        let answer = raw
            .call(json!({"id": id, "op": "listen", "path": format!("calls/d{id}")}))
            .await;
        let listener = answer["ok"]["listener"]
            .as_u64()
            .unwrap_or_else(|| panic!("{answer}"));
        let push = raw.expect().await;
        assert_eq!(push["listen"], listener);
        assert_eq!(push["snapshot"]["exists"], false);
        listeners.push(listener);
    }
    let answer = raw
        .call(json!({"id": 9, "op": "listen", "path": "calls"}))
        .await;
    assert_eq!(code(&answer), "too_many_listeners", "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains('8'));

    // Another connection has its own allowance.
    let mut other = lab.raw().await;
    let answer = other
        .call(json!({"id": 1, "op": "listen", "path": "calls"}))
        .await;
    assert!(answer["ok"]["listener"].is_u64(), "{answer}");

    // Unlistening frees a place; a second unlisten of the same id is unknown.
    let answer = raw
        .call(json!({"id": 10, "op": "unlisten", "listener": listeners[0]}))
        .await;
    assert_eq!(answer["ok"], Value::Null, "{answer}");
    let answer = raw
        .call(json!({"id": 11, "op": "unlisten", "listener": listeners[0]}))
        .await;
    assert_eq!(code(&answer), "unknown_listener");
    let answer = raw
        .call(json!({"id": 12, "op": "listen", "path": "calls/d1"}))
        .await;
    assert!(answer["ok"]["listener"].is_u64(), "{answer}");
    raw.expect().await; // its first snapshot

    // After an unlisten's answer, no push for that listener comes; the others keep theirs. The
    // write's answer and the listener's push travel apart, so either may come first.
    for (id, path) in [(13, "calls/d1"), (14, "calls/d2")] {
        raw.send_text(json!({"id": id, "op": "set", "path": path, "data": {"n": id}}).to_string())
            .await;
    }
    let mut frames: Vec<Value> = Vec::new();
    for _ in 0..4 {
        frames.push(raw.expect().await);
    }
    let pushes: Vec<_> = frames
        .iter()
        .filter(|f| f.get("listen").is_some())
        .collect();
    let listener_of = |frame: &Value| frame["listen"].as_u64().unwrap();
    assert_eq!(pushes.len(), 2, "{frames:?}");
    assert!(
        pushes.iter().all(|p| listener_of(p) != listeners[0]),
        "{frames:?}"
    );
    assert!(pushes
        .iter()
        .any(|p| listener_of(p) == listeners[1] && p["snapshot"]["data"]["n"] == 14));
    assert!(pushes
        .iter()
        .any(|p| p["snapshot"]["path"] == "calls/d1" && p["snapshot"]["data"]["n"] == 13));
    let answers: Vec<_> = frames.iter().filter_map(|f| f["id"].as_u64()).collect();
    assert_eq!(
        answers,
        [13, 14],
        "answers come in request order: {frames:?}"
    );
}

#[tokio::test]
async fn connections_over_the_limit_are_refused_until_one_closes() {
    let lab = Lab::start_with("connlimit", |config| config.max_connections = 2).await;
    let first = lab.raw().await;
    let mut second = lab.raw().await;
    let refused = tokio_tungstenite::connect_async(lab.url())
        .await
        .unwrap_err();
    match refused {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status(), 503);
        }
        other => panic!("expected an HTTP 503, got {other}"),
    }
    let answer = second
        .call(json!({"id": 1, "op": "get", "path": "calls/a"}))
        .await;
    assert_eq!(answer["ok"]["exists"], false);
    // A closed connection gives its place back.
    drop(first);
    common::within("a place to free up", async {
        loop {
            if tokio_tungstenite::connect_async(lab.url()).await.is_ok() {
                return;
            }
        }
    })
    .await;
}
