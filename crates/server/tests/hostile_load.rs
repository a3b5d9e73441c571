//! Hostile load (issue 23), all at once, on loopback, bounded in time:
//!
//! - 5,000 half-open HTTP connections (a request head that never ends);
//! - 500 WebSockets that never read (the devices of the user being flooded);
//! - one user rung 1,000 times from 100 devices (10 invites each, all at once);
//! - ordinary calls between two other users, back to back.
//!
//! During and after it the ordinary calls connect, `/healthz` keeps answering quickly, the
//! half-open connections are closed by the header timeout, memory comes back down once the
//! load ends, and the store holds exactly the calls that rang — nothing for refused invites.
//! The figures are printed (`--nocapture`).

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ringwire_proto::{CallId, ClientMessage, ErrorCode, ServerMessage};
use ringwire_server::store::Store;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const HALF_OPEN: usize = 5_000;
const NON_READERS: usize = 500;
const RING_DEVICES: usize = 100;
const INVITES_EACH: usize = 10;

/// Resident memory of this process (server and clients), in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Polls `/healthz` every 100 ms until `stop`; returns each answer's latency (a failure counts
/// as 10 s).
async fn watch_health(server_url: String, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let mut took = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let started = tokio::time::Instant::now();
        let ok = tokio::time::timeout(Duration::from_secs(10), http.get(&server_url).send())
            .await
            .is_ok_and(|r| r.is_ok_and(|r| r.status() == 200));
        took.push(if ok {
            started.elapsed()
        } else {
            Duration::from_secs(10)
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    took
}

/// Ordinary calls from alice to bob until `stop`; returns each call's set-up time (invite to
/// `accepted` at the caller).
async fn ordinary_calls(
    mut alice: Client,
    mut bob: Client,
    stop: Arc<AtomicBool>,
) -> Vec<Duration> {
    let mut setups = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let call = CallId::random();
        let started = tokio::time::Instant::now();
        alice.send(&invite(call, "bob")).await;
        match alice.recv().await {
            ServerMessage::Calling { .. } => {}
            ServerMessage::Error(e) if e.code == ErrorCode::RateLimited => {
                tokio::time::sleep(Duration::from_millis(e.retry_after_ms.unwrap_or(500))).await;
                continue;
            }
            other => panic!("ordinary call: {other:?}"),
        }
        assert!(matches!(bob.recv().await, ServerMessage::Incoming(_)));
        bob.send(&ClientMessage::Accept { call_id: call }).await;
        assert!(matches!(alice.recv().await, ServerMessage::Accepted { .. }));
        setups.push(started.elapsed());
        assert!(matches!(bob.recv().await, ServerMessage::Accepted { .. }));
        alice.send(&ClientMessage::Hangup { call_id: call }).await;
        alice.expect_ended(call).await;
        bob.expect_ended(call).await;
    }
    setups
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_holds_under_hostile_load() {
    let server = TestServer::start_with(|c| {
        c.max_devices_per_user = NON_READERS + RING_DEVICES;
        c.invite_refill_secs = 1;
        c.http_header_timeout_secs = 5;
    })
    .await;
    for u in ["alice", "bob", "mallory", "victim"] {
        server.add_user(u).await;
    }
    let (_, alice) = server.add_device("alice").await;
    let (_, bob) = server.add_device("bob").await;
    let mut victim_tokens = Vec::new();
    for _ in 0..NON_READERS {
        victim_tokens.push(server.add_device("victim").await.1);
    }
    let mut mallory_tokens = Vec::new();
    for _ in 0..RING_DEVICES {
        mallory_tokens.push(server.add_device("mallory").await.1);
    }
    let alice = Client::connect(&server, &alice).await;
    let bob = Client::connect(&server, &bob).await;
    let rss_start = rss_kib();
    let load_started = tokio::time::Instant::now();

    let stop = Arc::new(AtomicBool::new(false));
    let health = tokio::spawn(watch_health(server.url("/healthz"), stop.clone()));
    let calls = tokio::spawn(ordinary_calls(alice, bob, stop.clone()));

    // 500 devices of the victim that never read after their welcome.
    let mut non_readers = Vec::new();
    for token in &victim_tokens {
        non_readers.push(Client::connect(&server, token).await);
    }
    // 5,000 half-open HTTP connections.
    let mut half_open = Vec::new();
    for _ in 0..HALF_OPEN {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        half_open.push(tcp);
    }
    // 1,000 invites to the victim from 100 devices, 10 each, all at once.
    let mut callers = Vec::new();
    for token in &mallory_tokens {
        callers.push(Client::connect(&server, token).await);
    }
    for caller in &mut callers {
        for _ in 0..INVITES_EACH {
            caller.send(&invite(CallId::random(), "victim")).await;
        }
    }
    let (mut rang, mut capped, mut limited) = (0usize, 0usize, 0usize);
    let mut rang_ids = Vec::new();
    for caller in &mut callers {
        for _ in 0..INVITES_EACH {
            match caller.recv().await {
                ServerMessage::Calling { call_id, .. } => {
                    rang += 1;
                    rang_ids.push(call_id);
                }
                ServerMessage::Error(e) if e.code == ErrorCode::TooManyCalls => capped += 1,
                ServerMessage::Error(e) if e.code == ErrorCode::RateLimited => limited += 1,
                other => panic!("flood invite: {other:?}"),
            }
        }
    }
    let peak_tcp = server.metrics().await;
    // Hold the load until the header timeout has closed the half-open connections.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let open_after_timeout = metric(&server.metrics().await, "ringwire_tcp_connections ");
    stop.store(true, Ordering::Relaxed);
    let load_took = load_started.elapsed();
    let setups = calls.await.unwrap();
    let mut health = health.await.unwrap();

    // The load ends.
    for caller in &mut callers {
        caller.ws.close(None).await.ok();
    }
    drop(callers);
    drop(non_readers);
    drop(half_open);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_end = rss_kib();

    let store = Store::open_data_dir(&server.config.data_dir).await.unwrap();
    let victim_calls = store
        .calls_of_user(&"victim".parse().unwrap(), 200, None)
        .await
        .unwrap();
    let ordinary = store
        .calls_of_user(&"bob".parse().unwrap(), 200, None)
        .await
        .unwrap();
    store.close().await;

    health.sort();
    let mut sorted_setups = setups.clone();
    sorted_setups.sort();
    eprintln!(
        "hostile load: {HALF_OPEN} half-open HTTP, {NON_READERS} non-reading WebSockets, \
         {} invites from {RING_DEVICES} devices ({rang} rang, {capped} too_many_calls, {limited} \
         rate_limited), {} ordinary calls in {load_took:?}",
        RING_DEVICES * INVITES_EACH,
        setups.len()
    );
    eprintln!(
        "  ordinary call set-up: p50 {:?}, p95 {:?}, max {:?}",
        percentile(&sorted_setups, 50),
        percentile(&sorted_setups, 95),
        sorted_setups.last().copied().unwrap_or_default()
    );
    eprintln!(
        "  /healthz: {} polls, p50 {:?}, p95 {:?}, max {:?}",
        health.len(),
        percentile(&health, 50),
        percentile(&health, 95),
        health.last().copied().unwrap_or_default()
    );
    eprintln!(
        "  TCP connections at the peak: {}, after the header timeout: {open_after_timeout}",
        metric(&peak_tcp, "ringwire_tcp_connections ")
    );
    eprintln!(
        "  RSS (this process: server and clients): {rss_start} KiB before, {rss_end} KiB after"
    );

    let cap = server.config.max_ringing_calls_per_user;
    assert_eq!(rang, cap);
    assert_eq!(rang + capped + limited, RING_DEVICES * INVITES_EACH);
    assert!(setups.len() >= 5, "ordinary calls kept connecting");
    assert!(
        percentile(&health, 95) < Duration::from_millis(100),
        "/healthz p95 {:?}",
        percentile(&health, 95)
    );
    assert!(
        health.last().copied().unwrap_or_default() < Duration::from_secs(1),
        "/healthz max {:?}",
        health.last()
    );
    assert!(
        open_after_timeout < 1000,
        "half-open connections were not closed: {open_after_timeout} open"
    );
    // Only the calls that rang, and the ordinary calls, are in the store.
    assert_eq!(victim_calls.len(), cap);
    assert!(victim_calls.iter().all(|c| rang_ids.contains(&c.call_id)));
    assert!(victim_calls.iter().all(|c| c.devices.len() == NON_READERS));
    assert_eq!(ordinary.len(), setups.len());
    assert!(
        rss_end <= rss_start + rss_start / 5 + 16 * 1024,
        "memory did not come back: {rss_start} KiB -> {rss_end} KiB"
    );
    server.shutdown().await;
}

fn metric(text: &str, line_prefix: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
