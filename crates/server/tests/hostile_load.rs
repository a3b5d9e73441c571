//! Hostile load (issue 23), all at once, on loopback, bounded in time:
//!
//! - 5,000 half-open HTTP connections (a request head that never ends);
//! - 500 WebSockets that never read (the devices of the user being flooded);
//! - one user rung 1,000 times from 100 devices (10 invites each, all at once);
//! - ordinary calls between two other users, back to back.
//!
//! During and after it the ordinary calls connect, `/healthz` keeps answering quickly, the
//! half-open connections are closed by the header timeout, memory comes back down once the
//! load (and the calls it started) has ended, and the store holds exactly the calls that rang —
//! nothing for refused invites.
//! The server runs as its own process (see `common/process.rs`), so its memory, its open files
//! and its answers are measured from outside, as an operator would. The figures are printed
//! (`--nocapture`).

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::process;
use common::*;
use ringwire_proto::{CallId, ClientMessage, ErrorCode, ServerMessage};
use ringwire_server::store::Store;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const HALF_OPEN: usize = 5_000;
const NON_READERS: usize = 500;
const RING_DEVICES: usize = 100;
const INVITES_EACH: usize = 10;
/// How long one flood invite's answer may take before the test calls it lost.
const FLOOD_ANSWER_WAIT: Duration = Duration::from_secs(60);
/// How much of its starting RSS the server may hold once the load is over: the 20 %.
/// Measured here: 112-115 % (from 20 MB; the file-backed part, about 17 MB of the test
/// binary's pages, hardly moves; the anonymous part goes from 3.2 to about 5.5 MB). What
/// brought it down from 124-126 %, each measured on its own (reclaim.rs, store/mod.rs, the
/// router's sorted.rs): glibc's per-thread caches cut to one chunk per size (they pinned a
/// page each after a trim: 116-121 % → 112-115 %); statements generated for a 500-device call
/// no longer kept in every connection's statement cache; the SQLite pool opened whole at
/// start; the router's per-call and per-device collections in single vectors instead of
/// B-tree nodes. What stays is live: the flood's 16
/// ended calls with 500 members each, kept 10 minutes for devices that connect late (about
/// 2 % of the start), and SQLite's connections. mimalloc instead of glibc was measured (an
/// earlier session) to leave as much as glibc with its default caches.
const RSS_AFTER_LOAD_PCT: u64 = 120;

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Polls `/healthz` every 100 ms on a fresh connection, from its own thread (as a load
/// balancer would, untouched by this process's load), until `stop`; returns each answer's
/// latency (a failure counts as 10 s).
fn watch_health(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> Vec<Duration> {
    use std::io::{Read, Write};
    let mut took = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let started = std::time::Instant::now();
        let answer = (|| {
            let mut tcp = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
            tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
            tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
            let mut reply = String::new();
            tcp.read_to_string(&mut reply)?;
            Ok::<bool, std::io::Error>(reply.starts_with("HTTP/1.1 200"))
        })();
        took.push(if answer.unwrap_or(false) {
            started.elapsed()
        } else {
            Duration::from_secs(10)
        });
        std::thread::sleep(Duration::from_millis(100));
    }
    took
}

/// One ordinary call from alice to bob: invite, accept, hang up; its set-up time (invite to
/// `accepted` at the caller), or `None` when the invite was rate limited (after the wait).
async fn ordinary_call(alice: &mut Client, bob: &mut Client) -> Option<Duration> {
    let call = CallId::random();
    let started = tokio::time::Instant::now();
    alice.send(&invite(call, "bob")).await;
    match alice.recv().await {
        ServerMessage::Calling { .. } => {}
        ServerMessage::Error(e) if e.code == ErrorCode::RateLimited => {
            tokio::time::sleep(Duration::from_millis(e.retry_after_ms.unwrap_or(500))).await;
            return None;
        }
        other => panic!("ordinary call: {other:?}"),
    }
    assert!(matches!(bob.recv().await, ServerMessage::Incoming(_)));
    bob.send(&ClientMessage::Accept { call_id: call }).await;
    assert!(matches!(alice.recv().await, ServerMessage::Accepted { .. }));
    let setup = started.elapsed();
    assert!(matches!(bob.recv().await, ServerMessage::Accepted { .. }));
    alice.send(&ClientMessage::hangup(call)).await;
    alice.expect_ended(call).await;
    bob.expect_ended(call).await;
    Some(setup)
}

/// Ordinary calls from alice to bob until `stop`; returns each call's set-up time.
async fn ordinary_calls(
    mut alice: Client,
    mut bob: Client,
    stop: Arc<AtomicBool>,
) -> Vec<Duration> {
    let mut setups = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        setups.extend(ordinary_call(&mut alice, &mut bob).await);
    }
    setups
}

/// The server process, when this binary is started as one.
#[test]
#[ignore = "the hostile-load test's server process; started by the test itself"]
fn child_server() {
    process::child_main();
}

async fn metrics(http: &reqwest::Client, addr: std::net::SocketAddr) -> String {
    http.get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_holds_under_hostile_load() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = process::free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let max_devices = (NON_READERS + RING_DEVICES).to_string();
    let mut child = process::spawn_server(
        &process::StoreAt::Dir(data.clone()),
        port,
        &[
            ("RINGWIRE_MAX_DEVICES_PER_USER", max_devices.as_str()),
            ("RINGWIRE_INVITE_REFILL_SECS", "1"),
            ("RINGWIRE_HTTP_HEADER_TIMEOUT_SECS", "5"),
            // The flood's calls ring out while the test runs, so "after the load" can mean
            // after everything the load started has ended.
            ("RINGWIRE_RING_TIMEOUT_SECS", "15"),
        ],
    );
    let http = reqwest::Client::new();
    process::wait_ready(&http, port).await;
    for u in ["alice", "bob", "mallory", "victim"] {
        process::admin(&http, port, "/v1/admin/users", json!({ "name": u })).await;
    }
    let device = |user: &'static str| {
        let http = http.clone();
        async move {
            let path = format!("/v1/admin/users/{user}/devices");
            process::admin(&http, port, &path, json!({})).await["token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let alice = device("alice").await;
    let bob = device("bob").await;
    let mut victim_tokens = Vec::new();
    for _ in 0..NON_READERS {
        victim_tokens.push(device("victim").await);
    }
    let mut mallory_tokens = Vec::new();
    for _ in 0..RING_DEVICES {
        mallory_tokens.push(device("mallory").await);
    }
    let mut alice = Client::connect_at(addr, &alice, vec![]).await;
    let mut bob = Client::connect_at(addr, &bob, vec![]).await;
    // "Start" is a server that has already carried ordinary calls, as any running server has
    // (its store connections, threads and caches are warm): what is compared afterwards is
    // what the hostile load itself left behind.
    for _ in 0..5 {
        ordinary_call(&mut alice, &mut bob).await;
    }
    metrics(&http, addr).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_start = process::rss_kib(child.id());
    // The server runs as `ringwire serve` does: with glibc's thread caches cut (reclaim.rs).
    let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
    assert!(
        environ
            .split(|b| *b == 0)
            .any(|var| var.starts_with(b"GLIBC_TUNABLES=")
                && String::from_utf8_lossy(var).contains(ringwire_server::reclaim::MALLOC_TUNABLE)),
        "the server did not restart itself with {}",
        ringwire_server::reclaim::MALLOC_TUNABLE
    );
    let breakdown_start = process::memory_breakdown(child.id());
    let load_started = tokio::time::Instant::now();

    let stop = Arc::new(AtomicBool::new(false));
    let health = {
        let stop = stop.clone();
        std::thread::spawn(move || watch_health(addr, stop))
    };
    let calls = tokio::spawn(ordinary_calls(alice, bob, stop.clone()));

    // 500 devices of the victim that never read after their welcome.
    let mut non_readers = Vec::new();
    for token in &victim_tokens {
        non_readers.push(Client::connect_at(addr, token, vec![]).await);
    }
    // 5,000 half-open HTTP connections.
    let mut half_open = Vec::new();
    for _ in 0..HALF_OPEN {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        half_open.push(tcp);
    }
    let peak = metrics(&http, addr).await;
    let rss_peak = process::rss_kib(child.id());
    // 1,000 invites to the victim from 100 devices, 10 each, all at once.
    let mut callers = Vec::new();
    for token in &mallory_tokens {
        callers.push(Client::connect_at(addr, token, vec![]).await);
    }
    for caller in &mut callers {
        for _ in 0..INVITES_EACH {
            caller.send(&invite(CallId::random(), "victim")).await;
        }
    }
    // Every invite is owed an answer; how soon is not what this checks. The answers to rung
    // invites wait for their records to be durable (group commits of the whole flood), and a
    // disk shared with other work can hold one commit for seconds (CI: more than 5 s).
    let flood_sent = tokio::time::Instant::now();
    let (mut rang, mut capped, mut limited) = (0usize, 0usize, 0usize);
    let mut rang_ids = Vec::new();
    for caller in &mut callers {
        for _ in 0..INVITES_EACH {
            match caller.recv_within(FLOOD_ANSWER_WAIT).await {
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
    let flood_answered = flood_sent.elapsed();
    // Hold the load until the header timeout has closed the half-open connections.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let open_after_timeout = metric(&metrics(&http, addr).await, "ringwire_tcp_connections ");
    stop.store(true, Ordering::Relaxed);
    let load_took = load_started.elapsed();
    let setups = calls.await.unwrap();
    let mut health = health.join().unwrap();

    // The load ends.
    for caller in &mut callers {
        caller.ws.close(None).await.ok();
    }
    drop(callers);
    drop(non_readers);
    drop(half_open);
    // The load is over once the calls it started have rung out (ring timeout 15 s).
    let ringing = || async {
        metric(
            &metrics(&http, addr).await,
            "ringwire_calls{state=\"ringing\"} ",
        )
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while ringing().await > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(ringing().await, 0, "the flood's calls never rang out");
    // The server hands freed memory back (reclaim.rs: at once when connections drop, and every
    // 10 s): give it one period.
    let settled = tokio::time::Instant::now() + Duration::from_secs(12);
    let mut rss_end = process::rss_kib(child.id());
    while rss_end > rss_start * RSS_AFTER_LOAD_PCT / 100 && tokio::time::Instant::now() < settled {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_end = process::rss_kib(child.id());
    }
    // More bursts of half-open connections: each one's memory must come back as well, and
    // the level must not creep up from burst to burst.
    let mut rss_bursts = Vec::new();
    for _ in 0..3 {
        let mut half_open = Vec::new();
        for _ in 0..HALF_OPEN {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
            half_open.push(tcp);
        }
        tokio::time::sleep(Duration::from_secs(6)).await;
        drop(half_open);
        // The reclaimer trims within a second or two of the connections going (on a loaded
        // machine, later); wait for it, at most two full trim periods (a trim can come while
        // the last of them are still closing, and then the next is the periodic one).
        let level = rss_bursts.last().copied().unwrap_or(rss_end).max(rss_end);
        let settled = tokio::time::Instant::now() + Duration::from_secs(22);
        let mut rss = process::rss_kib(child.id());
        while rss > level + level / 10 && tokio::time::Instant::now() < settled {
            tokio::time::sleep(Duration::from_millis(250)).await;
            rss = process::rss_kib(child.id());
        }
        rss_bursts.push(rss);
    }
    let breakdown_end = process::memory_breakdown(child.id());
    let commits = metrics(&http, addr).await;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    let store = Store::open_data_dir(&data).await.unwrap();
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
         rate_limited; all answered in {flood_answered:?}), {} ordinary calls in {load_took:?}",
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
        metric(&peak, "ringwire_tcp_connections ")
    );
    eprintln!(
        "  server RSS: {rss_start} KiB before, {rss_peak} KiB at the peak, {rss_end} KiB after; \
         after each of 3 more bursts of {HALF_OPEN} half-open connections: {rss_bursts:?} KiB"
    );
    eprintln!("  before: {breakdown_start}; after the last burst: {breakdown_end}");
    let n = metric(&commits, "ringwire_record_commits_total ").max(1);
    eprintln!(
        "  call-record commits: {n}, mean {} us",
        metric(&commits, "ringwire_record_commit_microseconds_total ") / n
    );

    let cap = ringwire_server::ServerConfig::default().max_ringing_calls_per_user;
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
    assert_eq!(
        ordinary.len(),
        setups.len() + 5,
        "the ordinary calls and the 5 warm-up calls"
    );
    assert!(
        rss_bursts[2] <= rss_bursts[1] + rss_bursts[1] / 10,
        "memory keeps growing from burst to burst: {rss_end} KiB, then {rss_bursts:?} KiB"
    );
    // Memory comes back down once the load is over: glibc's free pages are handed back
    // (before that, RSS stayed at the peak, about 7x the start). What stays is mostly live
    // (see RSS_AFTER_LOAD_PCT).
    for (when, rss) in [
        ("after the load", rss_end),
        ("after the last burst", rss_bursts[2]),
    ] {
        assert!(
            rss <= rss_start * RSS_AFTER_LOAD_PCT / 100,
            "{when}: {rss} KiB, more than {RSS_AFTER_LOAD_PCT}% of the {rss_start} KiB at the start"
        );
    }
    // Starvation, not speed: under this load the slowest ordinary call measured 1.2-4.9 s here
    // (median 4-16 ms); a call that needs more than 20 s means invites are being starved.
    assert!(
        sorted_setups.last().copied().unwrap_or_default() < Duration::from_secs(20),
        "an ordinary call took {:?} to connect",
        sorted_setups.last()
    );
}

fn metric(text: &str, line_prefix: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(line_prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
