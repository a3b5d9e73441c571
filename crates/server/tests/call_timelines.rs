//! Call timelines over real WebSockets against the real server: a device uploads what it saw of
//! a call that happened on this server, the server validates it as untrusted input, stores it
//! beside the call record and answers `timeline_stored`; bad uploads get clear errors and store
//! nothing; the metrics and the admin's analytics endpoint turn stored timelines into figures.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use common::*;
use ringwire_proto::{CallId, ClientMessage, ErrorCode, ServerMessage, MAX_FRAME_BYTES};
use serde_json::{json, Value};

/// Alice (a caller device and a second device that takes no part), Bob and Carol.
struct People {
    alice: Client,
    alice_other: Client,
    bob: Client,
    carol: Client,
    bob_token: String,
}

async fn people(server: &TestServer) -> People {
    for u in ["alice", "bob", "carol"] {
        server.add_user(u).await;
    }
    let alice = server.add_device("alice").await.1;
    let alice_other = server.add_device("alice").await.1;
    let bob = server.add_device("bob").await.1;
    let carol = server.add_device("carol").await.1;
    People {
        alice: Client::connect(server, &alice).await,
        alice_other: Client::connect(server, &alice_other).await,
        bob: Client::connect(server, &bob).await,
        carol: Client::connect(server, &carol).await,
        bob_token: bob,
    }
}

/// How a test call goes after `incoming`.
enum Outcome {
    /// Bob accepts, then the caller hangs up.
    Answered,
    /// Bob declines.
    Declined,
}

/// `from` calls `to` for real; returns once both have heard `ended`.
async fn call(from: &mut Client, to: &mut Client, callee: &str, outcome: Outcome) -> CallId {
    let call = CallId::random();
    from.send(&invite(call, callee)).await;
    assert!(matches!(from.recv().await, ServerMessage::Calling { call_id, .. } if call_id == call));
    assert!(matches!(to.recv().await, ServerMessage::Incoming(i) if i.call_id == call));
    to.send(&ClientMessage::Ringing { call_id: call }).await;
    assert!(matches!(from.recv().await, ServerMessage::Ringing { .. }));
    match outcome {
        Outcome::Answered => {
            to.send(&ClientMessage::Accept { call_id: call }).await;
            assert!(matches!(from.recv().await, ServerMessage::Accepted { .. }));
            assert!(matches!(to.recv().await, ServerMessage::Accepted { .. }));
            from.send(&ClientMessage::hangup(call)).await;
        }
        Outcome::Declined => to.send(&ClientMessage::Decline { call_id: call }).await,
    }
    from.expect_ended(call).await;
    to.expect_ended(call).await;
    call
}

fn frame(call: CallId, platform: &str, direction: &str, events: Value) -> String {
    json!({
        "type": "call_timeline",
        "call_id": call.to_string(),
        "platform": platform,
        "direction": direction,
        "events": events,
    })
    .to_string()
}

/// A short, valid set of events.
fn events() -> Value {
    json!([
        {"at_ms": 1_000, "kind": "ringing_shown"},
        {"at_ms": 9_000, "kind": "ended", "reason": "hangup", "ended_locally": false},
    ])
}

/// Sends `text` and returns the answer.
async fn upload(client: &mut Client, text: &str) -> ServerMessage {
    client.send_text(text).await;
    client.recv().await
}

/// Sends `text` and checks it is refused with `code`, naming the call when `call` is given.
async fn refused(client: &mut Client, text: &str, code: ErrorCode, call: Option<CallId>) -> String {
    match upload(client, text).await {
        ServerMessage::Error(e) => {
            assert_eq!(e.code, code, "{e:?}");
            assert_eq!(e.call_id, call, "{e:?}");
            if code != ErrorCode::FrameTooLarge {
                assert_eq!(e.ref_type.as_deref(), Some("call_timeline"), "{e:?}");
            }
            e.message
        }
        other => panic!("expected error {code}, got {other:?}"),
    }
}

async fn admin_get(server: &TestServer, path: &str) -> Value {
    let resp = server
        .http
        .get(server.url(path))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.unwrap()
}

async fn stored(server: &TestServer, call: CallId) -> Vec<Value> {
    let body = admin_get(server, &format!("/v1/admin/calls/{call}/timelines")).await;
    body["timelines"].as_array().unwrap().clone()
}

/// The value of one exact metric line (name with labels), or `None` when it is absent.
async fn metric(server: &TestServer, name_and_labels: &str) -> Option<f64> {
    let text = server.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_ends_of_a_call_store_their_timelines_and_hear_timeline_stored() {
    let server = TestServer::start().await;
    let mut p = people(&server).await;
    let c = call(&mut p.alice, &mut p.bob, "bob", Outcome::Answered).await;

    let caller = frame(c, "android", "outgoing", events());
    assert_eq!(
        upload(&mut p.alice, &caller).await,
        ServerMessage::TimelineStored { call_id: c }
    );
    let callee_events = json!([
        {"at_ms": 500, "kind": "push_received", "sent_at_ms": 200},
        {"at_ms": 540, "kind": "reported_to_os"},
        {"at_ms": 2_000, "kind": "answered", "from_lock_screen": true},
        {"at_ms": 2_300, "kind": "first_audio"},
        {"at_ms": 9_000, "kind": "ended", "reason": "hangup", "ended_locally": false},
    ]);
    let callee = frame(c, "ios", "incoming", callee_events.clone());
    assert_eq!(
        upload(&mut p.bob, &callee).await,
        ServerMessage::TimelineStored { call_id: c }
    );

    // Stored beside the call record, exactly as uploaded.
    let body = admin_get(&server, &format!("/v1/admin/calls/{c}/timelines")).await;
    assert_eq!(body["call"]["call_id"], c.to_string());
    assert_eq!(body["call"]["end_reason"], "hangup");
    let timelines = body["timelines"].as_array().unwrap();
    assert_eq!(timelines.len(), 2);
    let bob = timelines
        .iter()
        .find(|t| t["device_id"] == p.bob.device.to_string())
        .unwrap();
    assert_eq!(bob["platform"], "ios");
    assert_eq!(bob["direction"], "incoming");
    assert_eq!(bob["events"], callee_events);
    assert!(
        bob["uploaded_at_ms"].as_u64().unwrap() >= body["call"]["invited_at_ms"].as_u64().unwrap()
    );

    // The metrics moved, by platform.
    let stored_ios = r#"ringwire_timelines_stored_total{platform="ios"}"#;
    assert_eq!(metric(&server, stored_ios).await, Some(1.0));
    assert_eq!(
        metric(
            &server,
            r#"ringwire_timelines_stored_total{platform="android"}"#
        )
        .await,
        Some(1.0)
    );
    assert_eq!(
        metric(
            &server,
            r#"ringwire_lock_screen_answers_with_audio_total{platform="ios"}"#
        )
        .await,
        Some(1.0)
    );
    assert_eq!(
        metric(
            &server,
            r#"ringwire_push_delivery_seconds_count{platform="ios"}"#
        )
        .await,
        Some(1.0)
    );
    assert_eq!(
        metric(
            &server,
            r#"ringwire_push_delivery_seconds_bucket{platform="ios",le="0.5"}"#
        )
        .await,
        Some(1.0)
    );
    assert_eq!(
        metric(
            &server,
            r#"ringwire_messages_sent_total{type="timeline_stored"}"#
        )
        .await,
        Some(2.0)
    );
    // The device's own history is untouched by the upload.
    let history = server.history(&p.bob_token).await;
    assert_eq!(history["calls"][0]["call_id"], c.to_string());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_get_clear_errors_and_store_nothing() {
    let server = TestServer::start().await;
    let mut p = people(&server).await;
    let c = call(&mut p.alice, &mut p.bob, "bob", Outcome::Answered).await;

    // Oversized: refused before it is read; the connection stays open.
    let pad = "x".repeat(MAX_FRAME_BYTES);
    let big = frame(
        c,
        "ios",
        "outgoing",
        json!([{"at_ms": 1, "kind": "first_audio", "pad": pad}]),
    );
    refused(&mut p.alice, &big, ErrorCode::FrameTooLarge, None).await;
    p.alice.ping(1).await;

    // A call nobody made.
    let unknown = CallId::random();
    let msg = refused(
        &mut p.alice,
        &frame(unknown, "ios", "outgoing", events()),
        ErrorCode::UnknownCall,
        Some(unknown),
    )
    .await;
    assert!(msg.contains("drop"), "{msg}");

    // Another user's call, and another device of the caller's own user.
    for (who, direction) in [(&mut p.carol, "incoming"), (&mut p.alice_other, "outgoing")] {
        refused(
            who,
            &frame(c, "web", direction, events()),
            ErrorCode::NotAParticipant,
            Some(c),
        )
        .await;
    }

    // The wrong side of the call.
    let msg = refused(
        &mut p.bob,
        &frame(c, "ios", "outgoing", events()),
        ErrorCode::InvalidField,
        Some(c),
    )
    .await;
    assert!(msg.contains("\"incoming\""), "{msg}");

    // Too many events, out of order, a typo in an event, none at all.
    let many: Vec<Value> = (0..129)
        .map(|i| json!({"at_ms": i, "kind": "app_state", "state": "foreground"}))
        .collect();
    let msg = refused(
        &mut p.alice,
        &frame(c, "ios", "outgoing", Value::Array(many)),
        ErrorCode::InvalidField,
        Some(c),
    )
    .await;
    assert!(msg.contains("129 events"), "{msg}");
    let backwards = json!([
        {"at_ms": 5_000, "kind": "media_connected"},
        {"at_ms": 4_000, "kind": "first_audio"},
    ]);
    let msg = refused(
        &mut p.alice,
        &frame(c, "ios", "outgoing", backwards),
        ErrorCode::InvalidField,
        Some(c),
    )
    .await;
    assert!(msg.contains("out of order"), "{msg}");
    let typo = json!([{"at_ms": 1, "kind": "answered", "from_lock_screen": true, "locked": true}]);
    refused(
        &mut p.bob,
        &frame(c, "ios", "incoming", typo),
        ErrorCode::InvalidField,
        Some(c),
    )
    .await;
    refused(
        &mut p.alice,
        &frame(c, "ios", "outgoing", json!([])),
        ErrorCode::InvalidField,
        Some(c),
    )
    .await;
    assert!(stored(&server, c).await.is_empty(), "nothing was stored");

    // A replay: the first upload stays as it was; the device hears already_stored.
    let first = frame(c, "ios", "outgoing", events());
    assert_eq!(
        upload(&mut p.alice, &first).await,
        ServerMessage::TimelineStored { call_id: c }
    );
    let second = frame(
        c,
        "android",
        "outgoing",
        json!([{"at_ms": 7, "kind": "first_audio"}]),
    );
    refused(&mut p.alice, &second, ErrorCode::AlreadyStored, Some(c)).await;
    let kept = stored(&server, c).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["platform"], "ios");
    assert_eq!(kept[0]["events"], events());

    // Every refusal is counted, by platform and code.
    for (labels, n) in [
        (r#"platform="ios",code="unknown_call""#, 1.0),
        (r#"platform="web",code="not_a_participant""#, 2.0),
        (r#"platform="ios",code="invalid_field""#, 5.0),
        (r#"platform="android",code="already_stored""#, 1.0),
    ] {
        let name = format!("ringwire_timelines_refused_total{{{labels}}}");
        assert_eq!(metric(&server, &name).await, Some(n), "{name}");
    }
    assert_eq!(
        metric(
            &server,
            r#"ringwire_timelines_stored_total{platform="ios"}"#
        )
        .await,
        Some(1.0)
    );
    // Every connection is still open and in order.
    p.alice.ping(2).await;
    p.bob.ping(3).await;
    p.carol.ping(4).await;
    server.shutdown().await;
}

/// The hand-made set: four real calls, six timelines, every figure known by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analytics_endpoint_computes_each_figure_from_the_stored_timelines() {
    let server = TestServer::start().await;
    let mut p = people(&server).await;
    let from = now_ms();

    // A: answered from the lock screen (iOS), audio after 0.5 s; the caller is on Android.
    let a = call(&mut p.alice, &mut p.bob, "bob", Outcome::Answered).await;
    let uploads = [
        (
            &mut p.bob,
            frame(
                a,
                "ios",
                "incoming",
                json!([
                    {"at_ms": 1_300, "kind": "push_received", "sent_at_ms": 1_000},
                    {"at_ms": 1_340, "kind": "reported_to_os"},
                    {"at_ms": 1_350, "kind": "app_state", "state": "locked"},
                    {"at_ms": 1_350, "kind": "ringing_shown"},
                    {"at_ms": 4_000, "kind": "answered", "from_lock_screen": true},
                    {"at_ms": 4_050, "kind": "audio_session_activated"},
                    {"at_ms": 4_100, "kind": "media_connected"},
                    {"at_ms": 4_500, "kind": "first_audio"},
                    {"at_ms": 4_500, "kind": "quality", "verdict": "good"},
                    {"at_ms": 10_500, "kind": "quality", "verdict": "poor", "cause": "network_loss", "action": "added_redundancy"},
                    {"at_ms": 14_500, "kind": "quality", "verdict": "good"},
                    {"at_ms": 20_500, "kind": "ended", "reason": "hangup", "ended_locally": false},
                ]),
            ),
        ),
        (
            &mut p.alice,
            frame(
                a,
                "android",
                "outgoing",
                json!([
                    {"at_ms": 1_000, "kind": "ringing_shown"},
                    {"at_ms": 4_100, "kind": "media_connected"},
                    {"at_ms": 4_300, "kind": "first_audio"},
                    {"at_ms": 4_300, "kind": "quality", "verdict": "good"},
                    {"at_ms": 20_500, "kind": "ended", "reason": "hangup", "ended_locally": true},
                ]),
            ),
        ),
    ];
    for (client, text) in uploads {
        assert!(matches!(
            upload(client, &text).await,
            ServerMessage::TimelineStored { .. }
        ));
    }

    // B: answered from the lock screen (iOS), audio only after 3 s, media failed.
    let b = call(&mut p.alice, &mut p.bob, "bob", Outcome::Answered).await;
    let text = frame(
        b,
        "ios",
        "incoming",
        json!([
            {"at_ms": 2_000, "kind": "push_received", "sent_at_ms": 1_000},
            {"at_ms": 2_100, "kind": "reported_to_os"},
            {"at_ms": 5_000, "kind": "answered", "from_lock_screen": true},
            {"at_ms": 8_000, "kind": "first_audio"},
            {"at_ms": 8_000, "kind": "quality", "verdict": "poor", "cause": "jitter"},
            {"at_ms": 10_000, "kind": "ended", "reason": "media_failed", "ended_locally": true},
        ]),
    );
    assert!(matches!(
        upload(&mut p.bob, &text).await,
        ServerMessage::TimelineStored { .. }
    ));

    // C: declined; the callee is on Android, the caller in a browser.
    let c = call(&mut p.alice, &mut p.bob, "bob", Outcome::Declined).await;
    let uploads = [
        (
            &mut p.bob,
            frame(
                c,
                "android",
                "incoming",
                json!([
                    {"at_ms": 100, "kind": "ringing_shown"},
                    {"at_ms": 3_000, "kind": "ended", "reason": "declined", "ended_locally": true},
                ]),
            ),
        ),
        (
            &mut p.alice,
            frame(
                c,
                "web",
                "outgoing",
                json!([
                    {"at_ms": 0, "kind": "ringing_shown"},
                    {"at_ms": 3_000, "kind": "ended", "reason": "declined", "ended_locally": false},
                ]),
            ),
        ),
    ];
    for (client, text) in uploads {
        assert!(matches!(
            upload(client, &text).await,
            ServerMessage::TimelineStored { .. }
        ));
    }

    // D: Carol calls Bob on a desktop softphone, answered in the foreground, connection lost.
    let d = call(&mut p.carol, &mut p.bob, "bob", Outcome::Answered).await;
    let text = frame(
        d,
        "native",
        "incoming",
        json!([
            {"at_ms": 0, "kind": "ringing_shown"},
            {"at_ms": 1_000, "kind": "answered", "from_lock_screen": false},
            {"at_ms": 1_200, "kind": "first_audio"},
            {"at_ms": 5_000, "kind": "ended", "reason": "connection_lost", "ended_locally": false},
        ]),
    );
    assert!(matches!(
        upload(&mut p.bob, &text).await,
        ServerMessage::TimelineStored { .. }
    ));
    let to = now_ms() + 1;

    let report = admin_get(&server, &format!("/v1/admin/analytics?from={from}&to={to}")).await;
    assert_eq!(
        (report["from_ms"].as_u64(), report["to_ms"].as_u64()),
        (Some(from), Some(to))
    );
    let total = &report["total"];
    assert_eq!(total["calls"], 4);
    assert_eq!(total["timelines"], 6);
    assert_eq!(
        total["push_delivery_ms"],
        json!({"samples": 2, "p50": 300, "p95": 1000})
    );
    assert_eq!(
        total["time_to_report_ms"],
        json!({"samples": 2, "p50": 40, "p95": 100})
    );
    assert_eq!(
        total["lock_screen_answers"],
        json!({"attempted": 2, "succeeded": 1, "rate": 0.5})
    );
    assert_eq!(
        total["accept_to_first_audio_ms"],
        json!({"samples": 3, "p50": 500, "p95": 3000})
    );
    assert_eq!(
        total["ended"],
        json!({"connection_lost": 1, "media_failed": 1, "failed": 0})
    );
    assert_eq!(
        total["call_time_s"],
        json!({"good": 28.2, "fair": 0.0, "poor": 6.0})
    );
    assert_eq!(total["poor_share"], json!(6_000.0 / 34_200.0));

    let platforms = &report["platforms"];
    let ios = &platforms["ios"];
    assert_eq!(
        (ios["calls"].as_u64(), ios["timelines"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(ios["push_delivery_ms"]["p95"], 1000);
    assert_eq!(ios["lock_screen_answers"]["rate"], 0.5);
    assert_eq!(
        ios["accept_to_first_audio_ms"],
        json!({"samples": 2, "p50": 500, "p95": 3000})
    );
    assert_eq!(ios["ended"]["media_failed"], 1);
    assert_eq!(ios["poor_share"], json!(6_000.0 / 18_000.0));
    // Unknowns are null, never 0.
    let android = &platforms["android"];
    assert_eq!(
        (android["calls"].as_u64(), android["timelines"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(
        android["push_delivery_ms"],
        json!({"samples": 0, "p50": null, "p95": null})
    );
    assert_eq!(android["time_to_report_ms"]["p50"], Value::Null);
    assert_eq!(
        android["lock_screen_answers"],
        json!({"attempted": 0, "succeeded": 0, "rate": null})
    );
    assert_eq!(android["accept_to_first_audio_ms"]["p95"], Value::Null);
    assert_eq!(
        android["poor_share"],
        json!(0.0),
        "16.2 s of good and none poor is known"
    );
    let web = &platforms["web"];
    assert_eq!(web["calls"], 1);
    assert_eq!(web["poor_share"], Value::Null);
    assert_eq!(
        web["call_time_s"],
        json!({"good": 0.0, "fair": 0.0, "poor": 0.0})
    );
    let native = &platforms["native"];
    assert_eq!(
        native["accept_to_first_audio_ms"],
        json!({"samples": 1, "p50": 200, "p95": 200})
    );
    assert_eq!(native["ended"]["connection_lost"], 1);
    assert_eq!(native["lock_screen_answers"]["rate"], Value::Null);
    assert_eq!(platforms.as_object().unwrap().len(), 4);

    // The same figures per bucket: one bucket of the whole range, and an empty range.
    let span = (to - from).max(1_000);
    let bucketed = admin_get(
        &server,
        &format!("/v1/admin/analytics?from={from}&to={to}&bucket_ms={span}"),
    )
    .await;
    assert_eq!(bucketed["bucket_ms"], span);
    assert_eq!(bucketed["series"].as_array().unwrap().len(), 1);
    assert_eq!(bucketed["series"][0]["total"], report["total"]);
    let before = admin_get(
        &server,
        &format!("/v1/admin/analytics?from={}&to={from}", from - 60_000),
    )
    .await;
    assert_eq!(before["total"]["calls"], 0);
    assert_eq!(before["total"]["push_delivery_ms"]["p50"], Value::Null);
    assert_eq!(before["total"]["lock_screen_answers"]["rate"], Value::Null);
    assert_eq!(before["platforms"], json!({}));

    // The recent calls, newest first, each with who uploaded what.
    let listed = admin_get(&server, &format!("/v1/admin/calls?from={from}&to={to}")).await;
    let calls = listed["calls"].as_array().unwrap();
    let ids: Vec<&str> = calls
        .iter()
        .map(|c| c["call_id"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = [d, c, b, a].iter().map(|id| id.to_string()).collect();
    assert_eq!(ids, expected);
    let counts: Vec<usize> = calls
        .iter()
        .map(|c| c["timelines"].as_array().unwrap().len())
        .collect();
    assert_eq!(counts, vec![1, 2, 1, 2]);
    assert_eq!(calls[1]["end_reason"], "declined");
    let page = admin_get(
        &server,
        &format!("/v1/admin/calls?from={from}&to={to}&limit=3"),
    )
    .await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let rest = admin_get(
        &server,
        &format!("/v1/admin/calls?from={from}&to={to}&limit=3&cursor={cursor}"),
    )
    .await;
    assert_eq!(rest["calls"][0]["call_id"], a.to_string());
    assert_eq!(rest["next_cursor"], Value::Null);

    // The metrics agree.
    for (line, value) in [
        (r#"ringwire_timelines_stored_total{platform="ios"}"#, 2.0),
        (
            r#"ringwire_timelines_stored_total{platform="android"}"#,
            2.0,
        ),
        (r#"ringwire_timelines_stored_total{platform="web"}"#, 1.0),
        (r#"ringwire_timelines_stored_total{platform="native"}"#, 1.0),
        (r#"ringwire_lock_screen_answers_total{platform="ios"}"#, 2.0),
        (
            r#"ringwire_lock_screen_answers_with_audio_total{platform="ios"}"#,
            1.0,
        ),
        (r#"ringwire_push_delivery_seconds_sum{platform="ios"}"#, 1.3),
        (
            r#"ringwire_push_to_report_seconds_count{platform="ios"}"#,
            2.0,
        ),
        (
            r#"ringwire_accept_to_first_audio_seconds_bucket{platform="ios",le="0.5"}"#,
            1.0,
        ),
        (
            r#"ringwire_accept_to_first_audio_seconds_bucket{platform="ios",le="5"}"#,
            2.0,
        ),
        (
            r#"ringwire_accept_to_first_audio_seconds_count{platform="native"}"#,
            1.0,
        ),
        (
            r#"ringwire_timeline_ends_total{platform="native",reason="connection_lost"}"#,
            1.0,
        ),
        (
            r#"ringwire_timeline_ends_total{platform="ios",reason="media_failed"}"#,
            1.0,
        ),
        (
            r#"ringwire_call_quality_seconds_total{platform="ios",verdict="poor"}"#,
            6.0,
        ),
        (
            r#"ringwire_call_quality_seconds_total{platform="ios",verdict="good"}"#,
            12.0,
        ),
        (
            r#"ringwire_call_quality_seconds_total{platform="android",verdict="good"}"#,
            16.2,
        ),
    ] {
        assert_eq!(metric(&server, line).await, Some(value), "{line}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analytics_need_the_admin_token() {
    let server = TestServer::start().await;
    server.add_user("alice").await;
    let (_, device_token) = server.add_device("alice").await;
    let call = CallId::random();
    for path in [
        "/v1/admin/analytics".to_owned(),
        "/v1/admin/calls".to_owned(),
        format!("/v1/admin/calls/{call}/timelines"),
    ] {
        for token in [None, Some("wrong"), Some(device_token.as_str())] {
            let mut req = server.http.get(server.url(&path));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 401, "{path} with {token:?}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized");
        }
    }
    // The token in the query string is not a way in.
    let resp = server
        .http
        .get(server.url(&format!("/v1/admin/analytics?token={ADMIN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // Bad parameters are named.
    for (path, code, status) in [
        ("/v1/admin/analytics?from=10&to=5", "invalid_field", 400),
        ("/v1/admin/analytics?from=abc", "invalid_field", 400),
        (
            "/v1/admin/analytics?from=0&to=100000000&bucket_ms=1000",
            "invalid_field",
            400,
        ),
        ("/v1/admin/analytics?bucket_ms=10", "invalid_field", 400),
        ("/v1/admin/calls?cursor=nope", "invalid_field", 400),
        ("/v1/admin/calls/NOPE/timelines", "invalid_field", 400),
    ] {
        let resp = server
            .http
            .get(server.url(path))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{path}");
    }
    let resp = server
        .http
        .get(server.url(&format!("/v1/admin/calls/{call}/timelines")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);

    // The dashboard's page is public and strict; its data is not.
    let page = server.http.get(server.url("/admin/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("/admin/admin.js"));
    let js = server
        .http
        .get(server.url("/admin/admin.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    server.shutdown().await;

    // A server without an admin token has no analytics at all.
    let server = TestServer::start_with(|c| c.admin_token = None).await;
    let resp = server
        .http
        .get(server.url("/v1/admin/analytics"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "admin_disabled");
    server.shutdown().await;
}
