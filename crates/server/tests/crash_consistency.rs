//! Crash consistency (issue 23): a real server process is killed with SIGKILL at seeded random
//! points while scripted call flows run against it, restarted on the same store, and checked:
//!
//! - every call a client heard anything about has exactly one record;
//! - a call a client saw end is `ended` in the store, and never comes back (no `incoming`,
//!   `calling` or `accepted` for it after the restart);
//! - a call a client saw accepted is not `ringing` in the store.
//!
//! Both stores: SQLite (a data directory) and PostgreSQL (a fresh database). The server process
//! is `ringwire serve` when `RINGWIRE_SERVE_BIN` names that binary; otherwise this test binary
//! re-runs itself as the server (`child_server`, which calls `Server::start` exactly as
//! `ringwire serve` does; see `common/process.rs`). The seed is `RINGWIRE_CRASH_SEED` (default
//! fixed); the time budget per store is `RINGWIRE_CRASH_SECS` (default 100; the two stores run
//! in parallel, so the test takes about 100 s: some 1,500 flows on SQLite and 600 on PostgreSQL
//! on a shared 2-core machine).

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ringwire_netem::SeededRng;
use ringwire_proto::{
    decode_server, encode, CallId, ClientMessage, EndReason, Invite, ServerMessage,
};
use ringwire_router::record::CallState;
use ringwire_server::store::Store;
use ringwire_server::testing::PgTestDatabase;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

mod common;

use common::process::{self, admin, free_port, spawn_server, wait_ready, StoreAt};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The server process, when this binary is started as one (see the module docs).
#[test]
#[ignore = "the crash test's server process; started by the crash tests themselves"]
fn child_server() {
    process::child_main();
}

/// Flows run back to back: lift the per-device invite and message limits.
const CHILD_ENV: [(&str, &str); 3] = [
    ("RINGWIRE_INVITE_BURST", "100000"),
    ("RINGWIRE_INVITE_REFILL_SECS", "1"),
    ("RINGWIRE_MAX_MESSAGES_PER_SEC", "100000"),
];

async fn connect(port: u16, token: &str, calls: Vec<CallId>) -> Option<Ws> {
    let mut req = format!("ws://127.0.0.1:{port}/v1/ws")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.ok()?;
    let hello = ClientMessage::Hello {
        versions: vec![1],
        client: None,
        calls,
    };
    ws.send(Message::Text(encode(&hello).into())).await.ok()?;
    match next(&mut ws, 5000).await? {
        ServerMessage::Welcome(_) => Some(ws),
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// The next message; `None` when the connection closed or nothing came in `ms`.
async fn next(ws: &mut Ws, ms: u64) -> Option<ServerMessage> {
    loop {
        match tokio::time::timeout(Duration::from_millis(ms), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(decode_server(t.as_str()).unwrap()),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            _ => return None,
        }
    }
}

async fn send(ws: &mut Ws, msg: &ClientMessage) -> bool {
    ws.send(Message::Text(encode(msg).into())).await.is_ok()
}

/// What the clients heard about one call.
#[derive(Default, Debug)]
struct Heard {
    any: bool,
    accepted: bool,
    ended: Option<EndReason>,
}

fn note(heard: &mut HashMap<CallId, Heard>, msg: &ServerMessage) {
    let (call, accepted, ended) = match msg {
        ServerMessage::Calling { call_id, .. } => (*call_id, false, None),
        ServerMessage::Incoming(i) => (i.call_id, false, None),
        ServerMessage::Accepted { call_id, .. } => (*call_id, true, None),
        ServerMessage::Ended {
            call_id, reason, ..
        } => (*call_id, false, Some(*reason)),
        _ => return,
    };
    let h = heard.entry(call).or_default();
    h.any = true;
    h.accepted |= accepted;
    if ended.is_some() {
        h.ended = ended;
    }
}

/// Waits for a message about `call` of the wanted kind on `ws`, noting everything heard.
async fn expect(
    ws: &mut Ws,
    heard: &mut HashMap<CallId, Heard>,
    call: CallId,
    want: fn(&ServerMessage) -> bool,
) -> bool {
    loop {
        let Some(msg) = next(ws, 3000).await else {
            return false;
        };
        note(heard, &msg);
        if want(&msg) && msg_call(&msg) == Some(call) {
            return true;
        }
    }
}

fn msg_call(msg: &ServerMessage) -> Option<CallId> {
    match msg {
        ServerMessage::Calling { call_id, .. }
        | ServerMessage::Accepted { call_id, .. }
        | ServerMessage::Ended { call_id, .. } => Some(*call_id),
        ServerMessage::Incoming(i) => Some(i.call_id),
        _ => None,
    }
}

/// One scripted call; returns false when the server went away mid-flow.
async fn flow(
    alice: &mut Ws,
    bob: &mut Ws,
    heard: &mut HashMap<CallId, Heard>,
    script: u64,
) -> bool {
    let call = CallId::random();
    heard.entry(call).or_default();
    let invite = ClientMessage::Invite(Invite {
        call_id: call,
        to_user: "bob".parse().unwrap(),
    });
    let calling = |m: &ServerMessage| matches!(m, ServerMessage::Calling { .. });
    let incoming = |m: &ServerMessage| matches!(m, ServerMessage::Incoming(_));
    let accepted = |m: &ServerMessage| matches!(m, ServerMessage::Accepted { .. });
    let ended = |m: &ServerMessage| matches!(m, ServerMessage::Ended { .. });
    if !send(alice, &invite).await
        || !expect(alice, heard, call, calling).await
        || !expect(bob, heard, call, incoming).await
    {
        return false;
    }
    let ok = match script {
        // Bob accepts; then alice (0) or bob (1) hangs up.
        0 | 1 => {
            send(bob, &ClientMessage::Accept { call_id: call }).await
                && expect(alice, heard, call, accepted).await
                && expect(bob, heard, call, accepted).await
                && send(
                    if script == 0 { &mut *alice } else { &mut *bob },
                    &ClientMessage::hangup(call),
                )
                .await
        }
        2 => send(bob, &ClientMessage::Decline { call_id: call }).await,
        _ => send(alice, &ClientMessage::Cancel { call_id: call }).await,
    };
    ok && expect(alice, heard, call, ended).await && expect(bob, heard, call, ended).await
}

/// Checks the store and the restarted server against what the clients heard, and clears the
/// calls left open by the crash so the next round starts clean.
async fn verify(
    store: &Store,
    port: u16,
    tokens: &(String, String),
    heard: &HashMap<CallId, Heard>,
) {
    for (call, h) in heard.iter().filter(|(_, h)| h.any) {
        let record = store.call(*call).await.unwrap();
        let Some(record) = record else {
            panic!("call {call} was heard of ({h:?}) but has no record");
        };
        if h.ended.is_some() {
            assert_eq!(
                record.state,
                CallState::Ended,
                "call {call}: {h:?}, {record:?}"
            );
        }
        if h.accepted {
            assert_ne!(
                record.state,
                CallState::Ringing,
                "call {call}: {h:?}, {record:?}"
            );
        }
    }
    let calls: Vec<CallId> = heard.keys().copied().take(32).collect();
    let (Some(mut alice), Some(mut bob)) = (
        connect(port, &tokens.0, calls.clone()).await,
        connect(port, &tokens.1, calls).await,
    ) else {
        panic!("could not reconnect after the restart");
    };
    for (ws, is_alice) in [(&mut alice, true), (&mut bob, false)] {
        while let Some(msg) = next(ws, 300).await {
            let Some(call) = msg_call(&msg) else { continue };
            let came_back = !matches!(msg, ServerMessage::Ended { .. });
            if let Some(h) = heard.get(&call) {
                assert!(
                    !(came_back && h.ended.is_some()),
                    "call {call} ended ({h:?}) but came back after the crash: {msg:?}"
                );
            }
            // Clean up calls the crash left open.
            let cleanup = match (&msg, is_alice) {
                (ServerMessage::Incoming(_), false) => {
                    Some(ClientMessage::Decline { call_id: call })
                }
                (ServerMessage::Accepted { .. } | ServerMessage::Calling { .. }, _) => {
                    Some(ClientMessage::hangup(call))
                }
                _ => None,
            };
            if let Some(m) = cleanup {
                send(ws, &m).await;
            }
        }
    }
}

async fn crash_rounds(at: StoreAt, label: &str) {
    let seed: u64 = std::env::var("RINGWIRE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_2323);
    let budget = Duration::from_secs(
        std::env::var("RINGWIRE_CRASH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(100),
    );
    let mut rng = SeededRng::new(seed);
    let http = reqwest::Client::new();
    let mut port = free_port();
    let mut child = spawn_server(&at, port, &CHILD_ENV);
    wait_ready(&http, port).await;
    admin(&http, port, "/v1/admin/users", json!({"name": "alice"})).await;
    admin(&http, port, "/v1/admin/users", json!({"name": "bob"})).await;
    let a = admin(&http, port, "/v1/admin/users/alice/devices", json!({})).await;
    let b = admin(&http, port, "/v1/admin/users/bob/devices", json!({})).await;
    let tokens = (
        a["token"].as_str().unwrap().to_owned(),
        b["token"].as_str().unwrap().to_owned(),
    );
    let store = match &at {
        StoreAt::Dir(dir) => Store::open_data_dir(dir).await.unwrap(),
        StoreAt::Url(url) => Store::open(url).await.unwrap(),
    };
    let started = tokio::time::Instant::now();
    let (mut flows, mut kills, mut complete) = (0u64, 0u64, 0u64);
    while started.elapsed() < budget {
        let mut heard = HashMap::new();
        let (Some(mut alice), Some(mut bob)) = (
            connect(port, &tokens.0, vec![]).await,
            connect(port, &tokens.1, vec![]).await,
        ) else {
            panic!("could not connect");
        };
        // Kill somewhere in the next ~8 flows' worth of time.
        let kill_after = Duration::from_micros(rng.below(120_000));
        let pid = child.id();
        let killer = tokio::spawn(async move {
            tokio::time::sleep(kill_after).await;
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        });
        loop {
            flows += 1;
            if !flow(&mut alice, &mut bob, &mut heard, rng.below(4)).await {
                break;
            }
            complete += 1;
        }
        killer.await.unwrap();
        let _ = child.wait();
        kills += 1;
        drop((alice, bob));
        port = free_port();
        child = spawn_server(&at, port, &CHILD_ENV);
        wait_ready(&http, port).await;
        verify(&store, port, &tokens, &heard).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    store.close().await;
    eprintln!(
        "crash consistency ({label}, seed {seed:#x}): {flows} scripted flows, {complete} \
         completed, {kills} kill -9s, every check held"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_servers_never_undo_what_clients_saw_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    crash_rounds(StoreAt::Dir(dir.path().join("data")), "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_servers_never_undo_what_clients_saw_postgres() {
    let Some(db) = PgTestDatabase::create().await else {
        return;
    };
    crash_rounds(StoreAt::Url(db.url.clone()), "postgres").await;
    db.destroy().await;
}
