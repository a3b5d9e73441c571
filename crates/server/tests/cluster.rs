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
mod push_fakes;

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
    nats: Vec<String>,
    /// Extra `RINGWIRE_*` settings for every node.
    env: Vec<(String, String)>,
}

impl Lab {
    async fn start(n: usize) -> Option<Lab> {
        Lab::start_on(n, nats_url()).await
    }

    async fn start_on(n: usize, nats: String) -> Option<Lab> {
        Lab::start_per_node(vec![nats; n]).await
    }

    /// Node `i` reaches NATS at `nats[i]`.
    async fn start_per_node(nats: Vec<String>) -> Option<Lab> {
        Lab::start_with(nats, Vec::new()).await
    }

    async fn start_with(nats: Vec<String>, env: Vec<(String, String)>) -> Option<Lab> {
        let n = nats.len();
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
            env,
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
            ("RINGWIRE_CLUSTER", self.nats[i].clone()),
            ("RINGWIRE_CLUSTER_PREFIX", self.prefix.clone()),
            ("RINGWIRE_NODE_ID", node.name.clone()),
            ("RINGWIRE_INVITE_BURST", "100000".into()),
            ("RINGWIRE_INVITE_REFILL_SECS", "1".into()),
            ("RINGWIRE_MAX_MESSAGES_PER_SEC", "100000".into()),
            ("RINGWIRE_MAX_RINGING_CALLS_PER_USER", "1000".into()),
        ];
        let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.extend(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
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

    /// The call's one record, once it says the call was hung up.
    async fn hung_up_once(&self, call: CallId) -> ringwire_router::record::CallRecord {
        let record = self.record(call, |r| r.state == CallState::Ended).await;
        assert_eq!(record.end_reason, Some(EndReason::Hangup));
        assert_eq!(self.record_count(call).await, 1);
        record
    }

    /// Node `i` has taken the calls over exactly once.
    async fn took_over_once(&self, i: usize) {
        let text = self.metrics(i).await.unwrap();
        assert_eq!(
            metric(&text, "ringwire_cluster_takeovers_total"),
            Some(1),
            "{text}"
        );
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

/// Alice (on node `from`) calls Bob (one phone, on node `to`); returns once Bob's phone rings.
async fn ringing(lab: &Lab, from: usize, to: usize) -> (Client, Client, CallId) {
    let alice = lab.user("alice", 1).await;
    let bob = lab.user("bob", 1).await;
    let mut a = Client::connect_at(lab.addr(from), &alice[0], vec![]).await;
    let mut b = Client::connect_at(lab.addr(to), &bob[0], vec![]).await;
    let call = CallId::random();
    a.send(&invite(call, "bob")).await;
    until(&mut b, call, is_incoming).await;
    (a, b, call)
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
    // Every node sees the whole cluster, and says so in its health too.
    // (Leases are renewed every second: a node may need that long to see a later one.)
    for i in 0..3 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let text = lab.metrics(i).await.unwrap();
            if metric(&text, "ringwire_cluster_nodes_seen") == Some(3) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{text}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let health: serde_json::Value = lab
            .http
            .get(format!("http://{}/healthz", lab.addr(i)))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["cluster"]["node"], format!("node{}", i + 1));
        assert_eq!(
            health["cluster"]["nodes_seen"].as_array().map(Vec::len),
            Some(3)
        );
        assert!(health["cluster"]["leader"].is_string(), "{health}");
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
    lab.took_over_once(new_leader).await;
    lab.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_killed_mid_call_no_device_ends_early_and_the_hangup_is_recorded_once() {
    let Some(mut lab) = Lab::start(3).await else {
        return;
    };
    let leader = lab.wait_leader().await;
    let (x, y) = others(leader);
    let (mut a, mut b, call) = ringing(&lab, x, y).await;
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
    let record = lab.hung_up_once(call).await;
    assert_eq!(record.ended_by_device, Some(a.device));
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
        lab.hung_up_once(call).await;
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
    let (mut a, mut b, call) = ringing(&lab, x, y).await;
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

fn tone(hz: f64) -> ringwire_engine::AudioDevices {
    ringwire_engine::AudioDevices {
        source: Box::new(ringwire_media::device::ToneSource::new(hz, 8000).expect("tone")),
        sink: Box::new(ringwire_media::device::NullSink::default()),
    }
}

/// Frames decoded so far, from the phone's next quality report.
fn decoded(phone: &mut ringwire_testkit::Phone) -> u64 {
    use ringwire_core::Report;
    use ringwire_engine::EngineEvent;
    phone.forget();
    phone
        .wait(Duration::from_secs(10), |e| match e {
            EngineEvent::Report(Report::Quality { quality, .. }) => Some(quality.sources.decoded),
            _ => None,
        })
        .expect("a quality report")
        .0
}

fn ended(phone: &ringwire_testkit::Phone) -> bool {
    phone.seen.iter().any(|s| {
        matches!(
            s.event,
            ringwire_engine::EngineEvent::Report(ringwire_core::Report::Ended { .. })
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_phones_on_different_nodes_talk_and_keep_talking_when_the_owner_dies() {
    let Some(mut lab) = Lab::start(3).await else {
        return;
    };
    let leader = lab.wait_leader().await;
    let (x, y) = others(leader);
    let alice = lab.user("alice", 1).await;
    let bob = lab.user("bob", 2).await;
    // Bob's second device, a bare protocol client on the owner node, hears who answered.
    let mut b_ws = Client::connect_at(lab.addr(leader), &bob[1], vec![]).await;
    let (ws_x, ws_y) = (
        format!("ws://{}/v1/ws", lab.addr(x)),
        format!("ws://{}/v1/ws", lab.addr(y)),
    );
    let (alice_token, bob_token) = (alice[0].clone(), bob[0].clone());
    let (call, mut a, mut b) = tokio::task::spawn_blocking(move || {
        use ringwire_testkit::Phone;
        let mut a = Phone::start(&ws_x, alice_token, tone(440.0)).expect("alice's phone");
        let mut b = Phone::start(&ws_y, bob_token, tone(880.0)).expect("bob's phone");
        let call = a.engine.start_call("bob").expect("call");
        assert_eq!(b.incoming(Duration::from_secs(15)).expect("rings"), call);
        b.engine.answer(call).expect("answer");
        for phone in [&mut a, &mut b] {
            phone
                .wait(Duration::from_secs(15), |e| {
                    matches!(
                        e,
                        ringwire_engine::EngineEvent::Report(
                            ringwire_core::Report::FirstAudio { .. }
                        )
                    )
                    .then_some(())
                })
                .expect("audio flows both ways");
        }
        (call, a, b)
    })
    .await
    .unwrap();
    let elsewhere = until(&mut b_ws, call, is_ended).await;
    assert_eq!(ended_reason(&elsewhere), Some(EndReason::AnsweredElsewhere));
    lab.record(call, |r| r.state == CallState::Active).await;

    lab.kill(leader);
    let (mut a, mut b) = tokio::task::spawn_blocking(move || {
        let before = (decoded(&mut a), decoded(&mut b));
        std::thread::sleep(Duration::from_secs(3));
        let after = (decoded(&mut a), decoded(&mut b));
        // 3 s is 150 frames of 20 ms; audio never stopped on either side.
        assert!(
            after.0 >= before.0 + 120,
            "alice's audio stalled: {before:?} → {after:?}"
        );
        assert!(
            after.1 >= before.1 + 120,
            "bob's audio stalled: {before:?} → {after:?}"
        );
        assert!(!ended(&a) && !ended(&b), "a phone ended the call early");
        (a, b)
    })
    .await
    .unwrap();
    lab.wait_leader().await;
    let (a, b) = tokio::task::spawn_blocking(move || {
        a.engine.end(call).expect("hang up");
        for phone in [&mut a, &mut b] {
            phone
                .wait(Duration::from_secs(15), |e| {
                    matches!(
                        e,
                        ringwire_engine::EngineEvent::Report(ringwire_core::Report::Ended { .. })
                    )
                    .then_some(())
                })
                .expect("the call ends on both phones");
        }
        (a, b)
    })
    .await
    .unwrap();
    drop((a, b));
    lab.hung_up_once(call).await;
    lab.finish().await;
}

/// A TCP proxy in front of NATS for one node, which the test can cut: every connection through
/// it closes and new ones are refused, as if that node's network to NATS failed.
struct NatsLink {
    url: String,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    kill: tokio::sync::broadcast::Sender<()>,
}

impl NatsLink {
    async fn start(upstream: &str) -> NatsLink {
        let upstream = upstream.trim_start_matches("nats://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("nats://{}", listener.local_addr().unwrap());
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (kill, _) = tokio::sync::broadcast::channel(1);
        let (cut2, kill2) = (cut.clone(), kill.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if cut2.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: refused
                }
                let upstream = upstream.clone();
                let mut killed = kill2.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = killed.recv() => {}
                    }
                });
            }
        });
        NatsLink { url, cut, kill }
    }

    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.kill.send(());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_nats_stands_down_and_another_node_takes_over() {
    let mut links = Vec::new();
    for _ in 0..3 {
        links.push(NatsLink::start(&nats_url()).await);
    }
    let Some(lab) = Lab::start_per_node(links.iter().map(|l| l.url.clone()).collect()).await else {
        return;
    };
    let leader = lab.wait_leader().await;
    let (x, y) = others(leader);
    let (mut a, mut b, call) = ringing(&lab, x, y).await;

    links[leader].cut();
    // The old leader stands down after 5 s without NATS; a connected node takes over.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let new_leader = loop {
        let mut lead = None;
        for i in [x, y] {
            let text = lab.metrics(i).await.unwrap_or_default();
            if metric(&text, "ringwire_cluster_leader") == Some(1) {
                lead = Some(i);
            }
        }
        if let Some(i) = lead {
            break i;
        }
        assert!(tokio::time::Instant::now() < deadline, "no node took over");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let old = lab.metrics(leader).await.unwrap_or_default();
    assert_eq!(metric(&old, "ringwire_cluster_leader"), Some(0), "{old}");
    // The call rang on through the takeover, and the accept wins through the new leader.
    b.send(&ClientMessage::Accept { call_id: call }).await;
    until(&mut a, call, is_accepted).await;
    let record = lab.record(call, |r| r.state == CallState::Active).await;
    assert_eq!(record.answered_device, Some(b.device));
    assert_eq!(lab.record_count(call).await, 1);
    lab.took_over_once(new_leader).await;
    lab.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_offline_device_gets_one_push_whichever_node_the_caller_is_on() {
    let rig = push_fakes::rig().await;
    let Some(lab) = Lab::start_with(vec![nats_url(); 3], rig.env()).await else {
        return;
    };
    let alice = lab.user("alice", 1).await;
    let bob = lab.user("bob", 2).await;
    // Bob's phones register their VoIP tokens through different nodes, then go offline.
    for (i, token) in bob.iter().enumerate() {
        let voip = format!("{:02x}", 0x51 + i).repeat(32);
        let resp = lab
            .http
            .put(format!("http://{}/v1/devices/self/push", lab.addr(i + 1)))
            .bearer_auth(token)
            .json(&json!({ "platform": "apns", "voip_token": voip }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
    }
    for node in 0..3 {
        let mut a = Client::connect_at(lab.addr(node), &alice[0], vec![]).await;
        let call = CallId::random();
        a.send(&invite(call, "bob")).await;
        match until(&mut a, call, is_calling).await {
            ServerMessage::Calling {
                devices_offline, ..
            } => assert_eq!(devices_offline, 2),
            _ => unreachable!(),
        }
        let pushes = || {
            let mut paths: Vec<String> = rig
                .apns
                .seen()
                .into_iter()
                .filter(|s| s.json()["call_id"] == call.to_string())
                .map(|s| s.path)
                .collect();
            paths.sort();
            paths
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while pushes().len() < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "pushes: {:?}",
                pushes()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Nothing more comes: one push per device per call, from the one node that owns it.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let expected: Vec<String> = (0..2)
            .map(|i| format!("/3/device/{}", format!("{:02x}", 0x51 + i).repeat(32)))
            .collect();
        assert_eq!(pushes(), expected);
        a.send(&ClientMessage::Cancel { call_id: call }).await;
        until(&mut a, call, is_ended).await;
    }
    lab.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_lock_session_dies_stands_down_and_the_next_one_fences_it_off() {
    let Some(lab) = Lab::start(3).await else {
        return;
    };
    let leader = lab.wait_leader().await;
    let (x, y) = others(leader);
    let (mut a, mut b, call) = ringing(&lab, x, y).await;

    // The database ends the leader's lock session (a failover of PostgreSQL, an operator).
    let pool = sqlx::PgPool::connect(&lab.url).await.unwrap();
    let ended: bool = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid::int) FROM cluster_leader WHERE cluster = $1",
    )
    .bind(&lab.prefix)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(ended);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let epoch: i64 = sqlx::query_scalar("SELECT epoch FROM cluster_leader WHERE cluster = $1")
            .bind(&lab.prefix)
            .fetch_one(&pool)
            .await
            .unwrap();
        if epoch >= 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "nobody took over");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pool.close().await;
    lab.wait_leader().await;
    // The call rang on, and is answered through the new term.
    b.send(&ClientMessage::Accept { call_id: call }).await;
    until(&mut a, call, is_accepted).await;
    let record = lab.record(call, |r| r.state == CallState::Active).await;
    assert_eq!(record.answered_device, Some(b.device));
    lab.finish().await;
}

#[tokio::test]
async fn a_deposed_leaders_writes_are_refused_by_the_epoch_fence() {
    use ringwire_router::record::CallEvent;
    use ringwire_server::cluster::election;
    use ringwire_server::store::StoreError;
    let Some(db) = PgTestDatabase::create().await else {
        return;
    };
    let store = Store::open(&db.url).await.unwrap();
    let started = |call_id| CallEvent::Started {
        call_id,
        caller_user: "alice".parse().unwrap(),
        caller_device: ringwire_proto::DeviceId::from_bytes([1; 16]),
        callee_user: "bob".parse().unwrap(),
        invited_at_ms: 1,
        ring_deadline_ms: 45_001,
    };
    let first = election::campaign(&db.url, "fence", "a").await.unwrap();
    assert_eq!(first.epoch, 1);
    let (kept, refused) = (CallId::random(), CallId::random());
    store
        .apply_all_fenced(&[started(kept)], Some(("fence", 1)))
        .await
        .unwrap();
    drop(first);
    let second = election::campaign(&db.url, "fence", "b").await.unwrap();
    assert_eq!(second.epoch, 2);
    match store
        .apply_all_fenced(&[started(refused)], Some(("fence", 1)))
        .await
    {
        Err(StoreError::Fenced {
            mine: 1,
            current: 2,
        }) => {}
        other => panic!("expected the fence to refuse, got {other:?}"),
    }
    assert!(store.call(kept).await.unwrap().is_some());
    assert!(
        store.call(refused).await.unwrap().is_none(),
        "nothing of a refused write lands"
    );
    store
        .apply_all_fenced(&[started(refused)], Some(("fence", 2)))
        .await
        .unwrap();
    drop(second);
    store.close().await;
    db.destroy().await;
}
