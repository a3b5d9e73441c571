//! The push gateway against stand-ins for APNs, FCM and Google's token endpoint that are real
//! HTTP/2 servers over TLS (see `push_fakes`): every answer the services give, and the whole
//! path through the server — a device registers its token, goes offline, is called, is woken,
//! and the call record says so.
#![allow(clippy::unwrap_used)]

mod common;
mod push_fakes;

use std::sync::Arc;
use std::time::Duration;

use ringwire_proto::{CallId, ClientMessage, DeviceId, PushPlatform, PushToken, ServerMessage};
use ringwire_router::record::{PushKind, PushOutcome};
use ringwire_router::PushRequest;
use ringwire_server::metrics::Metrics;
use ringwire_server::push::{PushGateway, PushSettings};
use ringwire_server::store::Store;
use ringwire_server::ServerConfig;
use serde_json::{json, Value};

use common::{invite, Client, TestServer};
use push_fakes::*;

impl Rig {
    /// A gateway on its own store, with bob's phone registered as `registration`.
    async fn gateway(&self, config: &ServerConfig, registration: Option<PushToken>) -> Gw {
        let store = Store::open_data_dir(&self.dir.path().join("data"))
            .await
            .unwrap();
        let bob = "bob".parse().unwrap();
        if store.user(&bob).await.unwrap().is_none() {
            store.add_user(&bob, None, 1).await.unwrap();
        }
        let (device, _) = store.add_device(&bob, None, 1, usize::MAX).await.unwrap();
        if let Some(r) = registration {
            store.register_push(device.device_id, &r).await.unwrap();
        }
        let metrics = Arc::new(Metrics::default());
        let settings = PushSettings::load(config).unwrap();
        Gw {
            gateway: PushGateway::new(settings, store.clone(), metrics.clone()).unwrap(),
            store,
            device: device.device_id,
            metrics,
        }
    }
}

struct Gw {
    gateway: PushGateway,
    store: Store,
    device: DeviceId,
    metrics: Arc<Metrics>,
}

impl Gw {
    fn request(&self, kind: PushKind, ring_deadline_ms: u64) -> PushRequest {
        PushRequest {
            call_id: CallId::random(),
            device: self.device,
            kind,
            from_user: "alice".parse().unwrap(),
            from_display_name: Some("Alice Liddell".parse().unwrap()),
            from_device: DeviceId::from_bytes([0xa1; 16]),
            ring_deadline_ms,
        }
    }

    async fn invite(&self, ring_ms: u64) -> (PushRequest, PushOutcome) {
        let req = self.request(PushKind::Invite, now_ms() + ring_ms);
        let outcome = self.gateway.deliver(&req).await;
        (req, outcome)
    }

    async fn tokens(&self) -> (Option<String>, Option<String>) {
        match self.store.push_registration(self.device).await.unwrap() {
            Some(r) => (r.voip_token, r.alert_token),
            None => (None, None),
        }
    }
}

fn hex_token(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

fn apns_tokens(voip: Option<String>, alert: Option<String>) -> Option<PushToken> {
    Some(PushToken::new(PushPlatform::Apns, voip, alert).unwrap())
}

fn fcm_token(t: &str) -> Option<PushToken> {
    Some(PushToken::new(PushPlatform::Fcm, Some(t.into()), None).unwrap())
}

// ---- APNs ----

/// Once the gateway has given up, nothing more reaches the service: waits a whole backoff step
/// (250 ms base) after the outcome and checks the fake saw no new request. When each try was
/// *decided* is checked exactly, without the fakes' receipt times, by the unit test
/// `push::retry_tests::no_try_is_decided_at_or_after_the_give_up_time`.
async fn assert_quiet_after_giving_up(seen: impl Fn() -> usize) {
    let before = seen();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        seen(),
        before,
        "a try reached the service after the gateway gave up"
    );
}

#[tokio::test]
async fn apns_voip_push_is_signed_addressed_and_shaped_as_apple_requires() {
    let rig = rig().await;
    let gw = rig
        .gateway(&rig.config(), apns_tokens(Some(hex_token(1)), None))
        .await;
    let (req, outcome) = gw.invite(20_000).await;
    assert_eq!(outcome, PushOutcome::Sent);
    let (_, again) = gw.invite(20_000).await;
    assert_eq!(again, PushOutcome::Sent);

    let seen = rig.apns.seen();
    assert_eq!(seen.len(), 2);
    let first = &seen[0];
    assert_eq!(first.path, format!("/3/device/{}", hex_token(1)));
    assert_eq!(first.header("apns-push-type"), Some("voip"));
    assert_eq!(
        first.header("apns-topic"),
        Some(&format!("{BUNDLE_ID}.voip")[..])
    );
    assert_eq!(first.header("apns-priority"), Some("10"));
    let expiration: u64 = first.header("apns-expiration").unwrap().parse().unwrap();
    assert_eq!(
        expiration,
        req.ring_deadline_ms / 1000,
        "expires at the ring deadline"
    );

    // The provider token, checked here as APNs does: signature, kid, iss, a fresh iat.
    let jwt = first
        .header("authorization")
        .unwrap()
        .strip_prefix("bearer ")
        .unwrap();
    let (header, claims, sig, input) = split_jwt(jwt).unwrap();
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
        &rig.apns_public,
    )
    .verify(input.as_bytes(), &sig)
    .expect("ES256 signature by the team's key");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], KEY_ID);
    assert_eq!(claims["iss"], TEAM_ID);
    assert!(claims["iat"].as_u64().unwrap().abs_diff(now_secs()) < 60);
    assert_eq!(
        seen[1].header("authorization"),
        first.header("authorization"),
        "the provider token is reused, not re-signed per push"
    );

    // What the phone needs to report the call to CallKit at once.
    assert!(first.body.len() <= ringwire_proto::APNS_MAX_PAYLOAD);
    let body = first.json();
    assert_eq!(body["ringwire"], 1);
    assert_eq!(body["kind"], "invite");
    assert_eq!(body["call_id"], req.call_id.to_string());
    assert_eq!(body["from_user"], "alice");
    assert_eq!(body["from_display_name"], "Alice Liddell");
    assert_eq!(body["from_device"], req.from_device.to_string());
    assert_eq!(body["ring_deadline_ms"], req.ring_deadline_ms);
    // When it was sent, for the phone's push-delivery figure (call_timeline).
    let sent_at = body["sent_at_ms"].as_u64().expect("sent_at_ms");
    assert!(sent_at.abs_diff(now_ms()) < 60_000, "{sent_at}");

    // One long-lived HTTP/2 connection carries every push.
    assert!(seen.iter().all(|s| s.conn == 1));
    assert_eq!(rig.apns.connections(), 1);
    assert_eq!(gw.gateway.connections_opened().0, 1);
    assert!(gw
        .metrics
        .render(Default::default())
        .contains("ringwire_push_total{provider=\"apns\",outcome=\"sent\"} 2\n"));
}

#[tokio::test]
async fn a_connection_apns_closes_is_reopened_for_the_next_push() {
    let rig = rig().await;
    let gw = rig
        .gateway(&rig.config(), apns_tokens(Some(hex_token(13)), None))
        .await;
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::Sent);
    rig.apns.close_connections().await;
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::Sent);
    assert_eq!(rig.apns.connections(), 2);
    assert_eq!(gw.gateway.connections_opened().0, 2);
    let seen = rig.apns.seen();
    assert_eq!(seen.last().map(|s| s.conn), Some(2));
}

#[tokio::test]
async fn apns_unregistered_and_bad_device_tokens_are_deleted() {
    let rig = rig().await;
    let config = rig.config();
    let gw = rig
        .gateway(&config, apns_tokens(Some(hex_token(2)), Some(hex_token(3))))
        .await;
    rig.apns.then(apns_reply(410, "Unregistered"));
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::Unregistered);
    assert_eq!(
        gw.tokens().await,
        (None, Some(hex_token(3))),
        "only the dead token goes"
    );

    let gw = rig
        .gateway(&config, apns_tokens(Some(hex_token(4)), None))
        .await;
    rig.apns.then(apns_reply(400, "BadDeviceToken"));
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::BadToken);
    assert_eq!(gw.tokens().await, (None, None));

    let gw = rig
        .gateway(&config, apns_tokens(Some(hex_token(5)), None))
        .await;
    rig.apns.then(apns_reply(400, "DeviceTokenNotForTopic"));
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::BadToken);
    assert_eq!(gw.tokens().await, (None, None));

    // Any other refusal fails the push and keeps the token.
    let gw = rig
        .gateway(&config, apns_tokens(Some(hex_token(6)), None))
        .await;
    rig.apns.then(apns_reply(400, "BadTopic"));
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::Failed);
    assert_eq!(gw.tokens().await, (Some(hex_token(6)), None));
    assert_eq!(rig.apns.seen().len(), 4, "none of these is retried");
}

#[tokio::test]
async fn apns_expired_provider_token_is_renewed_and_retried_once_per_20_minutes() {
    let rig = rig().await;
    let gw = rig
        .gateway(&rig.config(), apns_tokens(Some(hex_token(7)), None))
        .await;
    rig.apns.then(apns_reply(403, "ExpiredProviderToken"));
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::Sent);
    let seen = rig.apns.seen();
    assert_eq!(seen.len(), 2);
    assert_ne!(
        seen[0].header("authorization"),
        seen[1].header("authorization"),
        "the retry carries a newly signed provider token"
    );

    // The renewed token refused too, soon after: Apple throttles providers that renew
    // more often than every 20 minutes, so the push fails instead of renewing again.
    rig.apns.then(apns_reply(403, "ExpiredProviderToken"));
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::Failed);
    let seen = rig.apns.seen();
    assert_eq!(seen.len(), 3, "no second renewal, no retry");
    assert_eq!(
        seen[2].header("authorization"),
        seen[1].header("authorization")
    );
}

#[tokio::test]
async fn apns_429_waits_at_least_retry_after() {
    let rig = rig().await;
    let gw = rig
        .gateway(&rig.config(), apns_tokens(Some(hex_token(8)), None))
        .await;
    rig.apns
        .then(apns_reply(429, "TooManyRequests").retry_after(1));
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::Sent);
    let seen = rig.apns.seen();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[1].at - seen[0].at >= Duration::from_millis(990),
        "retried after {:?}, before Retry-After",
        seen[1].at - seen[0].at
    );
}

#[tokio::test]
async fn apns_5xx_backs_off_and_stops_at_the_ring_deadline() {
    let rig = rig().await;
    let gw = rig
        .gateway(&rig.config(), apns_tokens(Some(hex_token(9)), None))
        .await;
    rig.apns
        .then(apns_reply(500, "InternalServerError"))
        .then(apns_reply(503, "ServiceUnavailable"));
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::Sent);
    assert_eq!(rig.apns.seen().len(), 3);

    rig.apns.always(apns_reply(503, "ServiceUnavailable"));
    let (req, outcome) = gw.invite(700).await;
    assert_eq!(outcome, PushOutcome::Expired);
    let tries: Vec<_> = rig.apns.seen().into_iter().skip(3).collect();
    assert!(
        tries.len() >= 2,
        "backed off and retried: {} tries",
        tries.len()
    );
    assert!(
        now_ms() >= req.ring_deadline_ms - 200,
        "kept trying until close to the deadline"
    );
    assert_quiet_after_giving_up(|| rig.apns.seen().len()).await;
}

#[tokio::test]
async fn apns_missed_call_is_an_ordinary_alert_to_the_alert_token() {
    let rig = rig().await;
    let config = rig.config();
    let gw = rig
        .gateway(
            &config,
            apns_tokens(Some(hex_token(10)), Some(hex_token(11))),
        )
        .await;
    let req = gw.request(PushKind::MissedCall, now_ms() - 1);
    assert_eq!(gw.gateway.deliver(&req).await, PushOutcome::Sent);
    let seen = rig.apns.seen();
    let alert = &seen[0];
    assert_eq!(alert.path, format!("/3/device/{}", hex_token(11)));
    assert_eq!(alert.header("apns-push-type"), Some("alert"));
    assert_eq!(alert.header("apns-topic"), Some(BUNDLE_ID));
    assert_eq!(alert.header("apns-priority"), Some("10"));
    assert_eq!(
        alert.header("apns-collapse-id"),
        Some(&req.call_id.to_string()[..])
    );
    let body = alert.json();
    assert_eq!(body["aps"]["alert"]["title"], "Missed call");
    assert_eq!(body["aps"]["alert"]["body"], "Alice Liddell");
    assert_eq!(body["kind"], "missed_call");

    // A phone that only registered for VoIP pushes cannot get an alert.
    let gw = rig
        .gateway(&config, apns_tokens(Some(hex_token(12)), None))
        .await;
    let req = gw.request(PushKind::MissedCall, now_ms() - 1);
    assert_eq!(gw.gateway.deliver(&req).await, PushOutcome::NoToken);
}

// ---- FCM ----

#[tokio::test]
async fn fcm_call_push_is_high_priority_data_with_the_ring_time_as_ttl_and_one_token_exchange() {
    let rig = rig().await;
    let gw = rig
        .gateway(&rig.config(), fcm_token("fcm:reg-token_1"))
        .await;
    let (req, outcome) = gw.invite(30_000).await;
    assert_eq!(outcome, PushOutcome::Sent);
    let sent = &rig.fcm.seen()[0];
    assert!(sent
        .header("authorization")
        .unwrap()
        .starts_with("Bearer ya29.test-access-token-"));
    let message = &sent.json()["message"];
    assert_eq!(message["token"], "fcm:reg-token_1");
    assert_eq!(message["android"]["priority"], "high");
    let ttl: u64 = message["android"]["ttl"]
        .as_str()
        .unwrap()
        .strip_suffix('s')
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (25..=30).contains(&ttl),
        "ttl {ttl}s is the time left to ring"
    );
    let data = &message["data"];
    assert_eq!(data["call_id"], req.call_id.to_string());
    assert_eq!(data["ring_deadline_ms"], req.ring_deadline_ms.to_string());
    let sent_at: u64 = data["sent_at_ms"].as_str().unwrap().parse().unwrap();
    assert!(sent_at.abs_diff(now_ms()) < 60_000, "{sent_at}");
    assert_eq!(data["from_display_name"], "Alice Liddell");
    assert_eq!(data["ringwire"], "1");
    assert!(data.to_string().len() <= ringwire_proto::FCM_MAX_DATA);

    // Many pushes, one access token: sequential and concurrent.
    gw.invite(30_000).await;
    let pushes = (0..5).map(|_| gw.invite(30_000));
    let outcomes = futures_util::future::join_all(pushes).await;
    assert!(
        outcomes.iter().all(|(_, o)| *o == PushOutcome::Sent),
        "{outcomes:?}"
    );
    assert_eq!(
        rig.token.seen().len(),
        1,
        "one token exchange for every push"
    );
    assert_eq!(gw.gateway.fcm_token_exchanges(), 1);
    assert_eq!(rig.fcm.seen().len(), 7);
    assert_eq!(
        rig.fcm.connections(),
        1,
        "pushes share one HTTP/2 connection"
    );

    // A missed call is a notification, not an urgent data message.
    let req = gw.request(PushKind::MissedCall, now_ms() - 1);
    assert_eq!(gw.gateway.deliver(&req).await, PushOutcome::Sent);
    let missed = &rig.fcm.seen()[7].json()["message"];
    assert_eq!(missed["android"]["priority"], "normal");
    assert_eq!(missed["notification"]["title"], "Missed call");
    assert_eq!(missed["data"]["kind"], "missed_call");
}

#[tokio::test]
async fn fcm_unregistered_token_is_deleted() {
    let rig = rig().await;
    let gw = rig.gateway(&rig.config(), fcm_token("dead-token")).await;
    rig.fcm.then(fcm_error(404, "NOT_FOUND", "UNREGISTERED"));
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::Unregistered);
    assert_eq!(gw.tokens().await, (None, None));
    assert_eq!(rig.fcm.seen().len(), 1);
}

#[tokio::test]
async fn fcm_quota_unavailable_and_internal_back_off_honouring_retry_after() {
    let rig = rig().await;
    let gw = rig.gateway(&rig.config(), fcm_token("busy-token")).await;
    rig.fcm
        .then(fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED").retry_after(1))
        .then(fcm_error(503, "UNAVAILABLE", "UNAVAILABLE"))
        .then(fcm_error(500, "INTERNAL", "INTERNAL"));
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::Sent);
    let seen = rig.fcm.seen();
    assert_eq!(seen.len(), 4);
    assert!(
        seen[1].at - seen[0].at >= Duration::from_millis(990),
        "Retry-After honoured"
    );
    assert_eq!(gw.tokens().await.0.as_deref(), Some("busy-token"));

    rig.fcm.always(fcm_error(503, "UNAVAILABLE", "UNAVAILABLE"));
    let (req, outcome) = gw.invite(500).await;
    assert_eq!(outcome, PushOutcome::Expired);
    assert!(
        now_ms() >= req.ring_deadline_ms - 200,
        "kept trying until close to the deadline"
    );
    assert_quiet_after_giving_up(|| rig.fcm.seen().len()).await;
}

#[tokio::test]
async fn fcm_invalid_argument_fails_and_keeps_the_token() {
    let rig = rig().await;
    let gw = rig.gateway(&rig.config(), fcm_token("odd-token")).await;
    rig.fcm
        .then(fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"));
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::Failed);
    assert_eq!(rig.fcm.seen().len(), 1, "not retried");
    assert_eq!(gw.tokens().await.0.as_deref(), Some("odd-token"));
}

#[tokio::test]
async fn fcm_refused_access_token_is_exchanged_again_once() {
    let rig = rig().await;
    let gw = rig.gateway(&rig.config(), fcm_token("tok")).await;
    rig.fcm
        .then(fcm_error(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"));
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::Sent);
    assert_eq!(rig.token.seen().len(), 2);
    let seen = rig.fcm.seen();
    assert_ne!(
        seen[0].header("authorization"),
        seen[1].header("authorization")
    );
}

// ---- what is not configured or registered ----

#[tokio::test]
async fn missing_providers_and_tokens_are_recorded_as_such() {
    let rig = rig().await;
    let nothing = ServerConfig {
        push_ca_file: rig.config().push_ca_file,
        ..ServerConfig::default()
    };
    let gw = rig
        .gateway(&nothing, apns_tokens(Some(hex_token(1)), None))
        .await;
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::PushUnavailable);

    let mut fcm_only = rig.config();
    fcm_only.apns_team_id = None;
    fcm_only.apns_key_id = None;
    fcm_only.apns_key_path = None;
    fcm_only.apns_bundle_id = None;
    let gw = rig
        .gateway(&fcm_only, apns_tokens(Some(hex_token(1)), None))
        .await;
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::PushUnavailable);

    let gw = rig.gateway(&rig.config(), None).await;
    assert_eq!(gw.invite(20_000).await.1, PushOutcome::NoToken);
    assert!(gw
        .metrics
        .render(Default::default())
        .contains("ringwire_push_total{provider=\"none\",outcome=\"no_token\"} 1\n"));
    assert!(rig.apns.seen().is_empty() && rig.fcm.seen().is_empty());
}

#[tokio::test]
async fn bad_push_settings_stop_the_server_with_the_setting_named() {
    let rig = rig().await;
    let mut half = rig.config();
    half.apns_key_id = None;
    let err = half.validate().unwrap_err().to_string();
    assert!(err.contains("apns_key_id"), "{err}");

    let mut missing = rig.config();
    missing.apns_key_path = Some(rig.dir.path().join("nope.p8"));
    let err = PushSettings::load(&missing).unwrap_err().to_string();
    assert!(err.contains("apns_key_path"), "{err}");

    let mut not_a_key = rig.config();
    not_a_key.apns_key_path = Some(rig.dir.path().join("ca.pem"));
    let err = PushSettings::load(&not_a_key).unwrap_err().to_string();
    assert!(err.contains("apns_key_path"), "{err}");

    let mut plain = rig.config();
    plain.fcm_endpoint = "http://127.0.0.1:1".into();
    let err = PushSettings::load(&plain).unwrap_err().to_string();
    assert!(err.contains("fcm_endpoint"), "{err}");

    let mut bad_team = rig.config();
    bad_team.apns_team_id = Some("team".into());
    let err = PushSettings::load(&bad_team).unwrap_err().to_string();
    assert!(err.contains("apns_team_id"), "{err}");
}

// ---- through the real server ----

async fn put_push(server: &TestServer, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = server
        .http
        .put(server.url("/v1/devices/self/push"))
        .json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn push_tokens_are_registered_over_http_and_the_websocket_with_clear_errors() {
    let rig = rig().await;
    let server = TestServer::start_with(|c| rig.apply(c)).await;
    server.add_user("bob").await;
    let (_, bob) = server.add_device("bob").await;

    let voip = hex_token(0x21);
    let ok = json!({"platform": "apns", "voip_token": voip});
    assert_eq!(put_push(&server, None, ok.clone()).await.0, 401);
    let (status, body) = put_push(
        &server,
        Some(&bob),
        json!({"platform": "apns", "voip_token": "xyz"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_field"))
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("voip_token"));
    let (status, body) = put_push(
        &server,
        Some(&bob),
        json!({"platform": "wns", "voip_token": voip}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_field"))
    );
    let (status, body) = put_push(
        &server,
        Some(&bob),
        json!({"platform": "apns", "token": voip}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("malformed_json"))
    );
    assert_eq!(put_push(&server, Some(&bob), ok).await.0, 204);
    let resp = server
        .http
        .delete(server.url("/v1/devices/self/push"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);

    let mut phone = Client::connect(&server, &bob).await;
    phone
        .send_text(r#"{"type":"push_token","platform":"apns","voip_token":"not-hex"}"#)
        .await;
    let err = phone.expect_error().await;
    assert_eq!(err.code.as_str(), "invalid_field");
    assert_eq!(err.ref_type.as_deref(), Some("push_token"));
    assert!(err.message.contains("voip_token"), "{}", err.message);
    let valid = PushToken::new(PushPlatform::Apns, Some(voip), None).unwrap();
    phone.send(&ClientMessage::PushToken(valid)).await;
    phone.ping(1).await; // processed in order: no error came before the pong
    server.shutdown().await;
}

/// Bob's phone registered an APNs VoIP token and is offline; Alice calls him three times:
/// woken by push, token gone (410), and unanswered (missed-call alert).
#[tokio::test]
async fn an_offline_iphone_is_woken_by_a_voip_push_and_the_record_says_so() {
    let rig = rig().await;
    let server = TestServer::start_with(|c| {
        rig.apply(c);
        c.ring_timeout_secs = 2;
    })
    .await;
    for u in ["alice", "bob"] {
        server.add_user(u).await;
    }
    let (_, alice_token) = server.add_device("alice").await;
    let (bob_device, bob_token) = server.add_device("bob").await;
    let body =
        json!({"platform": "apns", "voip_token": hex_token(0x31), "alert_token": hex_token(0x32)});
    assert_eq!(put_push(&server, Some(&bob_token), body).await.0, 204);
    let mut alice = Client::connect(&server, &alice_token).await;

    // 1. Bob is offline: the fake APNs gets a VoIP push; Bob's phone wakes and connects.
    let call = CallId::random();
    alice.send(&invite(call, "bob")).await;
    let deadline = match alice.recv().await {
        ServerMessage::Calling {
            ring_deadline_ms,
            devices_offline,
            ..
        } => {
            assert_eq!(devices_offline, 1);
            ring_deadline_ms
        }
        other => panic!("expected calling, got {other:?}"),
    };
    let push = wait_for(|| {
        rig.apns
            .seen()
            .into_iter()
            .find(|s| s.json()["call_id"] == call.to_string())
    })
    .await;
    assert_eq!(push.path, format!("/3/device/{}", hex_token(0x31)));
    assert_eq!(push.header("apns-push-type"), Some("voip"));
    assert_eq!(
        push.header("apns-topic"),
        Some(&format!("{BUNDLE_ID}.voip")[..])
    );
    assert_eq!(
        push.header("apns-expiration"),
        Some(&(deadline / 1000).to_string()[..])
    );
    assert_eq!(push.json()["from_user"], "alice");
    assert_eq!(push.json()["from_display_name"], "ALICE");
    assert_eq!(push.json()["ring_deadline_ms"], deadline);
    // The outcome reaches the router before the phone connects (APNs answered first).
    server
        .history_when(&bob_token, |c| c["devices"][0]["push_outcome"] == "sent")
        .await;
    let mut bob = Client::connect_with_calls(&server, &bob_token, vec![call]).await;
    match bob.recv().await {
        ServerMessage::Incoming(i) => assert_eq!((i.call_id, i.replayed), (call, true)),
        other => panic!("expected incoming, got {other:?}"),
    }
    let h = server
        .history_when(&bob_token, |c| c["devices"][0]["reached_via"] == "push")
        .await;
    let device = &h["calls"][0]["devices"][0];
    assert_eq!(device["device_id"], bob_device.to_string());
    assert_eq!(device["push_outcome"], "sent");
    bob.send(&ClientMessage::Decline { call_id: call }).await;
    assert_eq!(alice.expect_ended(call).await.as_str(), "declined");
    drop(bob);

    // 2. APNs says the VoIP token is gone: it is deleted and the record says why.
    rig.apns.then(apns_reply(410, "Unregistered"));
    let call = CallId::random();
    wait_offline(&server, &bob_token).await;
    alice.send(&invite(call, "bob")).await;
    let h = server
        .history_when(&bob_token, |c| {
            c["call_id"] == call.to_string() && c["devices"][0]["push_outcome"] == "unregistered"
        })
        .await;
    assert_eq!(h["calls"][0]["devices"][0]["reached_via"], "offline");
    alice.send(&ClientMessage::Cancel { call_id: call }).await;

    // 3. No VoIP token any more; nobody answers: `no_token`, then a missed-call alert.
    let call = CallId::random();
    alice.send(&invite(call, "bob")).await;
    let h = server
        .history_when(&bob_token, |c| {
            c["call_id"] == call.to_string()
                && c["state"] == "ended"
                && c["devices"][0]["missed_call_push_outcome"] == "sent"
        })
        .await;
    let record = &h["calls"][0];
    assert_eq!(record["end_reason"], "no_answer");
    assert_eq!(record["devices"][0]["push_outcome"], "no_token");
    let alert = rig
        .apns
        .seen()
        .into_iter()
        .find(|s| s.json()["call_id"] == call.to_string())
        .expect("missed-call alert");
    assert_eq!(alert.header("apns-push-type"), Some("alert"));
    assert_eq!(alert.header("apns-topic"), Some(BUNDLE_ID));
    assert_eq!(alert.path, format!("/3/device/{}", hex_token(0x32)));
    assert_eq!(alert.json()["kind"], "missed_call");

    let metrics = server.metrics().await;
    for line in [
        "ringwire_push_total{provider=\"apns\",outcome=\"sent\"} 2",
        "ringwire_push_total{provider=\"apns\",outcome=\"unregistered\"} 1",
        "ringwire_push_total{provider=\"apns\",outcome=\"no_token\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    assert_eq!(
        rig.apns.connections(),
        1,
        "one connection for every push of the run"
    );
    server.shutdown().await;
}

/// The server dies while Bob's offline iPhone rings; the restarted server takes the call back
/// from its store and pushes the phone again (the first push may have died with the old
/// process), expiring with the same ring deadline. The phone then comes, reached by push.
#[tokio::test]
async fn a_ringing_call_restored_after_a_restart_pushes_the_offline_iphone_again() {
    let rig = rig().await;
    let mut server = TestServer::start_with(|c| {
        rig.apply(c);
        c.ring_timeout_secs = 30;
    })
    .await;
    for u in ["alice", "bob"] {
        server.add_user(u).await;
    }
    let (_, alice_token) = server.add_device("alice").await;
    let (_, bob_token) = server.add_device("bob").await;
    let body = json!({"platform": "apns", "voip_token": hex_token(0x41)});
    assert_eq!(put_push(&server, Some(&bob_token), body).await.0, 204);
    let mut alice = Client::connect(&server, &alice_token).await;
    let call = CallId::random();
    alice.send(&invite(call, "bob")).await;
    let deadline = match alice.recv().await {
        ServerMessage::Calling {
            ring_deadline_ms, ..
        } => ring_deadline_ms,
        other => panic!("expected calling, got {other:?}"),
    };
    let pushes_for_call = || {
        rig.apns
            .seen()
            .into_iter()
            .filter(|s| s.json()["call_id"] == call.to_string())
            .collect::<Vec<_>>()
    };
    wait_for(|| (pushes_for_call().len() == 1).then_some(())).await;
    server
        .history_when(&bob_token, |c| c["devices"][0]["push_outcome"] == "sent")
        .await;
    drop(alice);

    server.restart().await;
    let pushes = wait_for(|| {
        let seen = pushes_for_call();
        (seen.len() == 2).then_some(seen)
    })
    .await;
    let again = &pushes[1];
    assert_eq!(again.path, format!("/3/device/{}", hex_token(0x41)));
    assert_eq!(again.header("apns-push-type"), Some("voip"));
    assert_eq!(
        again.header("apns-expiration"),
        Some(&(deadline / 1000).to_string()[..]),
        "the push expires when the call stops ringing"
    );
    assert_eq!(again.json()["ring_deadline_ms"], deadline);
    assert_eq!(again.json()["from_user"], "alice");

    let mut bob = Client::connect_with_calls(&server, &bob_token, vec![call]).await;
    match bob.recv().await {
        ServerMessage::Incoming(i) => assert_eq!((i.call_id, i.replayed), (call, true)),
        other => panic!("expected incoming, got {other:?}"),
    }
    server
        .history_when(&bob_token, |c| {
            c["devices"][0]["reached_via"] == "push" && c["devices"][0]["push_outcome"] == "sent"
        })
        .await;
    server.shutdown().await;
}

/// Polls until `f` finds something (the push runs on its own task).
async fn wait_for<T>(f: impl Fn() -> Option<T>) -> T {
    for _ in 0..250 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting");
}

/// Waits until the server has noticed that the device's socket closed.
async fn wait_offline(server: &TestServer, _token: &str) {
    for _ in 0..250 {
        if server
            .metrics()
            .await
            .contains("ringwire_connected_devices 1\n")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("bob never went offline");
}
