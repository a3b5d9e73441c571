//! Clustering (issue 20, docs/cluster.md): three real server processes on loopback ports share
//! one fresh PostgreSQL database and a NATS subject prefix of their own, on the machine's NATS
//! (`RINGWIRE_TEST_NATS_URL`, default nats://127.0.0.1:4222). Devices spread across the nodes
//! must see exactly what one server would show them, through a takeover too.
//!
//! The server processes are this test binary re-run as `ringwire serve` would run (see
//! `common/process.rs`), so `kill -9` is a real crash.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::process::Child;
use std::time::Duration;

use ringwire_proto::{CallId, ClientMessage, EndReason, ServerMessage};
use ringwire_router::record::CallState;
use ringwire_server::store::Store;
use ringwire_server::testing::PgTestDatabase;
use serde_json::json;

mod common;

use common::process::{self, admin, free_port, spawn_server, wait_ready, StoreAt};
use common::{invite, Client};

#[test]
#[ignore = "a cluster node's process; started by the cluster tests themselves"]
fn child_server() {
    process::child_main();
}

fn nats_url() -> String {
    std::env::var("RINGWIRE_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

struct Node {
    port: u16,
    name: String,
    child: Option<Child>,
}

struct Lab {
    db: Option<PgTestDatabase>,
    url: String,
    prefix: String,
    nodes: Vec<Node>,
    http: reqwest::Client,
    store: Store,
    nats: String,
}

impl Lab {
    async fn start(n: usize) -> Option<Lab> {
        Lab::start_on(n, nats_url()).await
    }

    async fn start_on(n: usize, nats: String) -> Option<Lab> {
        let db = PgTestDatabase::create().await?;
        let url = db.url.clone();
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).unwrap();
        let prefix = format!("rwtest_{}", hex::encode(bytes));
        let mut lab = Lab {
            store: Store::open(&url).await.unwrap(),
            db: Some(db),
            url,
            prefix,
            nodes: Vec::new(),
            http: reqwest::Client::new(),
            nats,
        };
        for i in 0..n {
            let node = Node {
                port: free_port(),
                name: format!("node{}", i + 1),
                child: None,
            };
            lab.nodes.push(node);
            lab.boot(i).await;
        }
        lab.wait_leader().await;
        Some(lab)
    }

    async fn boot(&mut self, i: usize) {
        let node = &self.nodes[i];
        let env = [
            ("RINGWIRE_CLUSTER", self.nats.clone()),
            ("RINGWIRE_CLUSTER_PREFIX", self.prefix.clone()),
            ("RINGWIRE_NODE_ID", node.name.clone()),
            ("RINGWIRE_INVITE_BURST", "100000".into()),
            ("RINGWIRE_INVITE_REFILL_SECS", "1".into()),
            ("RINGWIRE_MAX_MESSAGES_PER_SEC", "100000".into()),
            ("RINGWIRE_MAX_RINGING_CALLS_PER_USER", "1000".into()),
        ];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let child = spawn_server(&StoreAt::Url(self.url.clone()), node.port, &env);
        let port = node.port;
        self.nodes[i].child = Some(child);
        wait_ready(&self.http, port).await;
    }

    fn addr(&self, i: usize) -> std::net::SocketAddr {
        format!("127.0.0.1:{}", self.nodes[i].port).parse().unwrap()
    }

    /// The index of the node that leads now, once every live node has heard of it.
    async fn wait_leader(&self) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let mut leaders = Vec::new();
            let mut heard = true;
            for (i, node) in self.nodes.iter().enumerate() {
                if node.child.is_none() {
                    continue;
                }
                let text = self.metrics(i).await.unwrap_or_default();
                if metric(&text, "ringwire_cluster_leader") == Some(1) {
                    leaders.push(i);
                }
                heard &= metric(&text, "ringwire_cluster_epoch").unwrap_or(0) > 0;
            }
            if leaders.len() == 1 && heard {
                return leaders[0];
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no single leader: {leaders:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn metrics(&self, i: usize) -> Option<String> {
        let resp = self
            .http
            .get(format!("http://127.0.0.1:{}/metrics", self.nodes[i].port))
            .timeout(Duration::from_secs(8))
            .send()
            .await
            .ok()?;
        resp.text().await.ok()
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM: the node leaves the cluster gracefully.
    fn terminate(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let pid = child.id().to_string();
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status();
            let _ = child.wait();
        }
    }

    /// Adds `user` with `devices` devices; their tokens.
    async fn user(&self, user: &str, devices: usize) -> Vec<String> {
        let port = self.nodes[0].port;
        admin(&self.http, port, "/v1/admin/users", json!({ "name": user })).await;
        let mut tokens = Vec::new();
        for _ in 0..devices {
            let path = format!("/v1/admin/users/{user}/devices");
            let d = admin(&self.http, port, &path, json!({})).await;
            tokens.push(d["token"].as_str().unwrap().to_owned());
        }
        tokens
    }

    /// Every call's record, polled until `check` holds (records trail the frames slightly).
    async fn record(
        &self,
        call: CallId,
        check: impl Fn(&ringwire_router::record::CallRecord) -> bool,
    ) -> ringwire_router::record::CallRecord {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(record) = self.store.call(call).await.unwrap() {
                if check(&record) {
                    return record;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "record never matched: {record:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn record_count(&self, call: CallId) -> i64 {
        let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls WHERE id = $1")
            .bind(call.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
        pool.close().await;
        n
    }

    async fn finish(mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        self.store.close().await;
        if let Some(db) = self.db.take() {
            db.destroy().await;
        }
    }
}

fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Reads until a message about `call` matching `want`, skipping others.
async fn until(
    client: &mut Client,
    call: CallId,
    want: fn(&ServerMessage) -> bool,
) -> ServerMessage {
    loop {
        let msg = client.recv_within(Duration::from_secs(10)).await;
        let about = match &msg {
            ServerMessage::Calling { call_id, .. }
            | ServerMessage::Accepted { call_id, .. }
            | ServerMessage::Ended { call_id, .. } => Some(*call_id),
            ServerMessage::Incoming(i) => Some(i.call_id),
            _ => None,
        };
        if about == Some(call) && want(&msg) {
            return msg;
        }
    }
}

fn is_incoming(m: &ServerMessage) -> bool {
    matches!(m, ServerMessage::Incoming(_))
}
fn is_accepted(m: &ServerMessage) -> bool {
    matches!(m, ServerMessage::Accepted { .. })
}
fn is_ended(m: &ServerMessage) -> bool {
    matches!(m, ServerMessage::Ended { .. })
}
fn is_calling(m: &ServerMessage) -> bool {
    matches!(m, ServerMessage::Calling { .. })
}

fn ended_reason(m: &ServerMessage) -> Option<EndReason> {
    match m {
        ServerMessage::Ended { reason, .. } => Some(*reason),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_device_rings_on_its_node_and_the_first_accept_wins() {
    let Some(lab) = Lab::start(3).await else {
        return;
    };
    let alice = lab.user("alice", 1).await;
    let bob = lab.user("bob", 2).await;
    let mut a = Client::connect_at(lab.addr(0), &alice[0], vec![]).await;
    let mut b2 = Client::connect_at(lab.addr(1), &bob[0], vec![]).await;
    let mut b3 = Client::connect_at(lab.addr(2), &bob[1], vec![]).await;

    let call = CallId::random();
    a.send(&invite(call, "bob")).await;
    until(&mut a, call, is_calling).await;
    until(&mut b2, call, is_incoming).await;
    until(&mut b3, call, is_incoming).await;
    b3.send(&ClientMessage::Accept { call_id: call }).await;
    until(&mut a, call, is_accepted).await;
    let ended = until(&mut b2, call, is_ended).await;
    assert_eq!(ended_reason(&ended), Some(EndReason::AnsweredElsewhere));
    a.send(&ClientMessage::hangup(call)).await;
    until(&mut b3, call, is_ended).await;

    let record = lab.record(call, |r| r.state == CallState::Ended).await;
    assert_eq!(record.answered_device, Some(b3.device));
    assert_eq!(lab.record_count(call).await, 1);
    // Every node sees the whole cluster.
    for i in 0..3 {
        let text = lab.metrics(i).await.unwrap();
        assert_eq!(
            metric(&text, "ringwire_cluster_nodes_seen"),
            Some(3),
            "{text}"
        );
    }
    lab.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_accepts_on_two_nodes_have_one_winner() {
    let Some(lab) = Lab::start(3).await else {
        return;
    };
    let alice = lab.user("alice", 1).await;
    let bob = lab.user("bob", 2).await;
    let mut a = Client::connect_at(lab.addr(0), &alice[0], vec![]).await;
    let mut b2 = Client::connect_at(lab.addr(1), &bob[0], vec![]).await;
    let mut b3 = Client::connect_at(lab.addr(2), &bob[1], vec![]).await;
    let rounds: usize = std::env::var("RINGWIRE_CLUSTER_RACE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut wins = [0usize; 2];
    for _ in 0..rounds {
        let call = CallId::random();
        a.send(&invite(call, "bob")).await;
        until(&mut a, call, is_calling).await;
        until(&mut b2, call, is_incoming).await;
        until(&mut b3, call, is_incoming).await;
        let accept = ClientMessage::Accept { call_id: call };
        tokio::join!(b2.send(&accept), b3.send(&accept));
        let answered = match until(&mut a, call, is_accepted).await {
            ServerMessage::Accepted { device_id, .. } => device_id,
            _ => unreachable!(),
        };
        // Exactly one of them hears it won; the other hears the call went elsewhere.
        let (winner, loser) = if answered == b2.device {
            wins[0] += 1;
            (&mut b2, &mut b3)
        } else {
            assert_eq!(answered, b3.device);
            wins[1] += 1;
            (&mut b3, &mut b2)
        };
        until(winner, call, is_accepted).await;
        let lost = until(loser, call, |m| {
            is_ended(m) || matches!(m, ServerMessage::Error(_))
        })
        .await;
        assert_eq!(
            ended_reason(&lost),
            Some(EndReason::AnsweredElsewhere),
            "{lost:?}"
        );
        a.send(&ClientMessage::hangup(call)).await;
        until(&mut a, call, is_ended).await;
        until(winner, call, is_ended).await;
    }
    assert_eq!(wins[0] + wins[1], rounds);
    eprintln!(
        "first accept won: node 2 {} times, node 3 {} times",
        wins[0], wins[1]
    );
    lab.finish().await;
}

/// Nodes other than `leader`, in order.
fn others(leader: usize) -> (usize, usize) {
    let rest: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    (rest[0], rest[1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_killed_mid_ring_the_call_rings_on_and_a_moved_device_answers() {
    let Some(mut lab) = Lab::start(3).await else {
        return;
    };
    let leader = lab.wait_leader().await;
    let (x, y) = others(leader);
    let alice = lab.user("alice", 1).await;
    let bob = lab.user("bob", 2).await;
    let mut a = Client::connect_at(lab.addr(x), &alice[0], vec![]).await;
    // One of bob's phones sits on the owner node, the other elsewhere.
    let mut b_owner = Client::connect_at(lab.addr(leader), &bob[0], vec![]).await;
    let mut b_other = Client::connect_at(lab.addr(y), &bob[1], vec![]).await;
    let call = CallId::random();
    a.send(&invite(call, "bob")).await;
    until(&mut a, call, is_calling).await;
    until(&mut b_owner, call, is_incoming).await;
    until(&mut b_other, call, is_incoming).await;
    let ringing = lab.record(call, |r| r.state == CallState::Ringing).await;

    lab.kill(leader);
    drop(b_owner);
    let new_leader = lab.wait_leader().await;
    assert_ne!(new_leader, leader);
    // The phone that was on the dead node reconnects elsewhere and still rings.
    let mut b_moved = Client::connect_at(lab.addr(y), &bob[0], vec![call]).await;
    until(&mut b_moved, call, is_incoming).await;
    b_moved.send(&ClientMessage::Accept { call_id: call }).await;
    until(&mut b_moved, call, is_accepted).await;
    until(&mut a, call, is_accepted).await;
    let elsewhere = until(&mut b_other, call, is_ended).await;
    assert_eq!(ended_reason(&elsewhere), Some(EndReason::AnsweredElsewhere));
    let record = lab.record(call, |r| r.state == CallState::Active).await;
    assert_eq!(record.answered_device, Some(b_moved.device));
    // The takeover kept the ring deadline.
    assert_eq!(record.ring_deadline_ms, ringing.ring_deadline_ms);
    assert_eq!(lab.record_count(call).await, 1);
    let text = lab.metrics(new_leader).await.unwrap();
    assert_eq!(
        metric(&text, "ringwire_cluster_takeovers_total"),
        Some(1),
        "{text}"
    );
    lab.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_killed_mid_call_no_device_ends_early_and_the_hangup_is_recorded_once() {
    let Some(mut lab) = Lab::start(3).await else {
        return;
    };
    let leader = lab.wait_leader().await;
    let (x, y) = others(leader);
    let alice = lab.user("alice", 1).await;
    let bob = lab.user("bob", 1).await;
    let mut a = Client::connect_at(lab.addr(x), &alice[0], vec![]).await;
    let mut b = Client::connect_at(lab.addr(y), &bob[0], vec![]).await;
    let call = CallId::random();
    a.send(&invite(call, "bob")).await;
    until(&mut b, call, is_incoming).await;
    b.send(&ClientMessage::Accept { call_id: call }).await;
    until(&mut a, call, is_accepted).await;
    until(&mut b, call, is_accepted).await;
    lab.record(call, |r| r.state == CallState::Active).await;

    lab.kill(leader);
    lab.wait_leader().await;
    // Neither side hears the call end while the cluster takes it over and settles.
    for client in [&mut a, &mut b] {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while let Ok(msg) = tokio::time::timeout_at(deadline, client.recv()).await {
            assert!(!is_ended(&msg), "a device ended early: {msg:?}");
        }
    }
    // Signaling still works through the new leader: a relayed message arrives, then hangup.
    a.send(&ClientMessage::hangup(call)).await;
    let ended = until(&mut b, call, is_ended).await;
    assert_eq!(ended_reason(&ended), Some(EndReason::Hangup));
    let record = lab.record(call, |r| r.state == CallState::Ended).await;
    assert_eq!(record.end_reason, Some(EndReason::Hangup));
    assert_eq!(record.ended_by_device, Some(a.device));
    assert_eq!(lab.record_count(call).await, 1);
    lab.finish().await;
}

/// Reads what has arrived within `ms`; fails on an `ended` (a call lost).
async fn no_end_within(client: &mut Client, ms: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    while let Ok(Some(msg)) =
        tokio::time::timeout_at(deadline, common::next_message(&mut client.ws)).await
    {
        assert!(!is_ended(&msg), "a call ended: {msg:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_of_every_node_loses_no_call() {
    let Some(mut lab) = Lab::start(3).await else {
        return;
    };
    const CALLS: usize = 50;
    let mut callers = Vec::new();
    let mut callees = Vec::new();
    for i in 0..CALLS {
        let a = lab.user(&format!("caller{i}"), 1).await.remove(0);
        let b = lab.user(&format!("callee{i}"), 1).await.remove(0);
        callers.push(a);
        callees.push(b);
    }
    // Each phone: its token, its node, its connection, its call.
    struct Phone {
        token: String,
        node: usize,
        client: Option<Client>,
        call: CallId,
    }
    let mut phones: Vec<Phone> = Vec::new();
    let mut calls = Vec::new();
    for i in 0..CALLS {
        let call = CallId::random();
        let (na, nb) = (i % 3, (i + 1) % 3);
        let mut a = Client::connect_at(lab.addr(na), &callers[i], vec![]).await;
        let mut b = Client::connect_at(lab.addr(nb), &callees[i], vec![]).await;
        a.send(&invite(call, &format!("callee{i}"))).await;
        until(&mut b, call, is_incoming).await;
        b.send(&ClientMessage::Accept { call_id: call }).await;
        until(&mut a, call, is_accepted).await;
        until(&mut b, call, is_accepted).await;
        phones.push(Phone {
            token: callers[i].clone(),
            node: na,
            client: Some(a),
            call,
        });
        phones.push(Phone {
            token: callees[i].clone(),
            node: nb,
            client: Some(b),
            call,
        });
        calls.push(call);
    }
    for node in 0..3 {
        lab.terminate(node);
        // Its phones reconnect to the next node, as a load balancer would send them.
        for phone in phones.iter_mut().filter(|p| p.node == node) {
            phone.client = None;
            phone.node = (node + 1) % 3;
            let client =
                Client::connect_at(lab.addr(phone.node), &phone.token, vec![phone.call]).await;
            phone.client = Some(client);
        }
        lab.boot(node).await;
        lab.wait_leader().await;
        for phone in phones.iter_mut() {
            if let Some(client) = phone.client.as_mut() {
                no_end_within(client, 20).await;
            }
        }
    }
    // Every call is still up: hang each one up and see it end once, recorded once.
    for pair in phones.chunks_mut(2) {
        let (a, b) = pair.split_at_mut(1);
        let call = a[0].call;
        let caller = a[0].client.as_mut().unwrap();
        caller.send(&ClientMessage::hangup(call)).await;
        let ended = until(b[0].client.as_mut().unwrap(), call, is_ended).await;
        assert_eq!(ended_reason(&ended), Some(EndReason::Hangup), "{ended:?}");
    }
    for call in calls {
        let record = lab.record(call, |r| r.state == CallState::Ended).await;
        assert_eq!(record.end_reason, Some(EndReason::Hangup));
        assert_eq!(lab.record_count(call).await, 1);
    }
    lab.finish().await;
}

/// A NATS server of the test's own (JetStream on, its store in a temporary directory), so the
/// test may stop and restart it.
struct OwnNats {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl OwnNats {
    fn start() -> Option<OwnNats> {
        let Some(bin) = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
        else {
            panic!("nats-server is not installed (Debian package nats-server; ./scripts/test installs it)");
        };
        let mut nats = OwnNats {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        nats.boot(bin);
        Some(nats)
    }

    fn boot(&mut self, bin: &str) {
        let child = std::process::Command::new(bin)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nats-server did not start");
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        std::thread::sleep(Duration::from_millis(500));
        self.boot("/usr/sbin/nats-server");
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_restarted_mid_run_calls_continue_and_new_calls_work() {
    let Some(mut nats) = OwnNats::start() else {
        return;
    };
    let Some(lab) = Lab::start_on(3, nats.url()).await else {
        return;
    };
    let leader = lab.wait_leader().await;
    let (x, y) = others(leader);
    let alice = lab.user("alice", 1).await;
    let bob = lab.user("bob", 1).await;
    let mut a = Client::connect_at(lab.addr(x), &alice[0], vec![]).await;
    let mut b = Client::connect_at(lab.addr(y), &bob[0], vec![]).await;
    let call = CallId::random();
    a.send(&invite(call, "bob")).await;
    until(&mut b, call, is_incoming).await;
    b.send(&ClientMessage::Accept { call_id: call }).await;
    until(&mut a, call, is_accepted).await;

    nats.restart();
    // The call in progress goes on: nobody hears it end.
    no_end_within(&mut a, 3000).await;
    no_end_within(&mut b, 100).await;
    // New calls work within seconds of NATS coming back.
    let started = tokio::time::Instant::now();
    let second = loop {
        let second = CallId::random();
        a.send(&ClientMessage::hangup(call)).await;
        a.send(&invite(second, "bob")).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        let mut rang = false;
        while let Ok(Some(msg)) =
            tokio::time::timeout_at(deadline, common::next_message(&mut b.ws)).await
        {
            if matches!(&msg, ServerMessage::Incoming(i) if i.call_id == second) {
                rang = true;
                break;
            }
        }
        if rang {
            break second;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no new call rang after NATS restarted"
        );
    };
    eprintln!(
        "a new call rang {:?} after NATS restarted",
        started.elapsed()
    );
    b.send(&ClientMessage::Accept { call_id: second }).await;
    until(&mut a, second, is_accepted).await;
    let first = lab.record(call, |r| r.state == CallState::Ended).await;
    assert_eq!(first.end_reason, Some(EndReason::Hangup));
    lab.finish().await;
}
