//! `bench signaling --nodes N`: what a cluster of N `ringwire serve --cluster` nodes holds
//! (docs/cluster.md), and one single server measured the same way in the same run.
//!
//! Order: create a fresh PostgreSQL database, provision users and devices into it through the
//! store (several users at once), start N nodes on it with a NATS subject prefix of their own,
//! wait until exactly one leads and every node sees the others, read each node's memory, have
//! client worker processes ([`fleet`](super::fleet)) connect the idle devices round-robin over
//! the nodes, read the memory again, run the caller/callee pairs with caller and callee on
//! different nodes, stop the nodes and drop the database. Then the baseline: one server on
//! SQLite (the single-server bench's path) holding as many idle connections as each node did,
//! with the same pairs and window.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use futures_util::future::join_all;
use ringwire_server::store::Store;
use ringwire_server::testing::PgTestDatabase;

use super::fleet::{FleetProcess, Job, JobDevice};
use super::server_proc::{Memory, Role, ServerProcess};
use super::{
    idle_room, provision, provision_into, raise_fd_limit, server_env, setups, source_address,
    temp_dir, Devices, Plan, Setups, FD_SPARE, KIB, MIB, PER_SOURCE,
};
use crate::{BenchResult, Metric, Options};

/// Idle connections one client worker process holds at most: under the usual 20,000 open-file
/// cap with room to spare.
const PER_WORKER: usize = 15_000;
/// Users provisioned at once into PostgreSQL (the store's pool has 10 connections).
const PROVISION_PARALLEL: usize = 16;
/// How long the nodes may take to elect a leader and see each other.
const LEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// The NATS server when `RINGWIRE_BENCH_NATS_URL` is unset.
const DEFAULT_NATS: &str = "nats://127.0.0.1:4222";

/// One measured set of servers: a cluster, or the single server.
#[derive(Debug)]
struct Measured {
    /// Each server's name, and which one led.
    names: Vec<String>,
    leader: Option<usize>,
    devices: Devices,
    workers: usize,
    held: usize,
    failed: usize,
    lost: usize,
    first_error: Option<String>,
    connect: Duration,
    empty: Vec<Memory>,
    with: Vec<Memory>,
    setups: Setups,
}

impl Measured {
    /// Sum over the servers of (RSS with the idle connections − RSS with none) / held.
    fn bytes_per_connection(&self) -> f64 {
        let grown: u64 = self
            .empty
            .iter()
            .zip(&self.with)
            .map(|(e, w)| w.rss_bytes.saturating_sub(e.rss_bytes))
            .sum();
        if self.held == 0 {
            return 0.0;
        }
        grown as f64 / self.held as f64
    }
}

pub async fn run(options: &Options) -> anyhow::Result<BenchResult> {
    let nodes = options.nodes;
    let mut plan = Plan::cluster(options.quick);
    let mut result = BenchResult::new("signaling");
    let fd_limit = raise_fd_limit(plan.fds_per_node(nodes).max((PER_WORKER as u64) + FD_SPARE));
    if let Some(why) = plan.fit_nodes(fd_limit, nodes) {
        result.notes.push(why);
    }
    let load_before = load_average();
    let dir = temp_dir()?;
    let cluster = cluster(&plan, nodes, dir.path()).await?;
    // The baseline: one server holding as many idle connections as each node was given.
    let mut single_plan = plan.clone();
    single_plan.stages = vec![plan.max_idle().div_ceil(nodes)];
    let single = single(&single_plan, dir.path()).await?;
    metrics(&plan, nodes, &cluster, &single, &mut result);
    notes(&plan, nodes, &cluster, &single, fd_limit, &mut result);
    if let (Some(before), Some(after)) = (load_before, load_average()) {
        // Everything here shares the machine: other work on it shows in every figure.
        result.notes.push(format!(
            "machine load average (1 min) at the start of the run {before}, at the end {after}"
        ));
    }
    Ok(result)
}

/// The 1-minute load average, from `/proc/loadavg`.
fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    text.split_whitespace().next().map(str::to_owned)
}

impl Plan {
    fn cluster(quick: bool) -> Plan {
        let mut plan = Plan::new(quick);
        // One stage: the idle connections go up through worker processes all at once.
        plan.stages = vec![if quick { 600 } else { 50_000 }];
        plan.settle = Duration::from_secs(if quick { 2 } else { 5 });
        plan
    }

    /// Descriptors each node needs: its share of the idle connections, the pairs, and spare.
    fn fds_per_node(&self, nodes: usize) -> u64 {
        (self.max_idle().div_ceil(nodes.max(1)) + 2 * self.pairs) as u64 + FD_SPARE
    }

    /// Shrinks the idle target to what `fd_limit` allows each node; says so if it had to.
    fn fit_nodes(&mut self, fd_limit: u64, nodes: usize) -> Option<String> {
        let room = idle_room(fd_limit, self.pairs);
        if self.max_idle().div_ceil(nodes.max(1)) <= room {
            return None;
        }
        let wanted = self.max_idle();
        self.stages = vec![room * nodes];
        Some(format!(
            "the open-file limit ({fd_limit}) caps each node at {room} idle connections: {} \
             across {nodes} nodes, not {wanted}",
            room * nodes
        ))
    }
}

/// Provisions into a fresh PostgreSQL database, runs `nodes` nodes on it and measures them;
/// drops the database whatever happens.
async fn cluster(plan: &Plan, nodes: usize, dir: &Path) -> anyhow::Result<Measured> {
    let nats = std::env::var("RINGWIRE_BENCH_NATS_URL").unwrap_or_else(|_| DEFAULT_NATS.into());
    // `create` panics with instructions when PostgreSQL is unreachable: a failed benchmark,
    // not a crashed `bench all`.
    let db = tokio::spawn(PgTestDatabase::create())
        .await
        .map_err(|e| anyhow!("no PostgreSQL database for the cluster: {}", panic_text(e)))?
        .context("RINGWIRE_SKIP_PG=1, and a cluster needs PostgreSQL")?;
    let measured = async {
        let store = Store::open(&db.url)
            .await
            .context("opening the cluster's store")?;
        let devices = provision_into(&store, plan.max_idle(), plan.pairs, PROVISION_PARALLEL).await;
        store.close().await;
        let devices = devices?;
        let prefix = format!(
            "rwbench_{}",
            ringwire_proto::CallId::random()
                .to_string()
                .replace('-', "")
        );
        let env = server_env();
        let names: Vec<String> = (1..=nodes).map(|i| format!("node{i}")).collect();
        let mut servers = Vec::with_capacity(nodes);
        for name in &names {
            let role = Role::Node {
                nats: &nats,
                database: &db.url,
                prefix: &prefix,
                node_id: name,
            };
            let log = dir.join(format!("{name}.log"));
            servers.push(ServerProcess::start(role, &log, &env).await?);
        }
        let measured = async {
            let leader = wait_leader(&servers).await?;
            let mut measured = drive(&mut servers, plan, devices, names).await?;
            measured.leader = Some(leader);
            anyhow::Ok(measured)
        }
        .await;
        let stopped = join_all(servers.into_iter().map(ServerProcess::stop)).await;
        let measured = measured?;
        stopped.into_iter().collect::<anyhow::Result<()>>()?;
        anyhow::Ok(measured)
    }
    .await;
    db.destroy().await;
    measured
}

/// The baseline: one server on SQLite, as the single-server bench runs it.
async fn single(plan: &Plan, dir: &Path) -> anyhow::Result<Measured> {
    let data = dir.join("single");
    let devices = provision(&data, plan.max_idle(), plan.pairs).await?;
    let role = Role::Single { data_dir: &data };
    let server = ServerProcess::start(role, &dir.join("single.log"), &server_env()).await?;
    let mut servers = vec![server];
    let measured = drive(&mut servers, plan, devices, vec!["single".into()]).await;
    let stopped = join_all(servers.into_iter().map(ServerProcess::stop)).await;
    let measured = measured?;
    stopped.into_iter().collect::<anyhow::Result<()>>()?;
    Ok(measured)
}

/// The single leader's index, once exactly one node says it leads (`ringwire_cluster_leader`
/// 1) and every node sees them all and has heard of a leader.
async fn wait_leader(servers: &[ServerProcess]) -> anyhow::Result<usize> {
    let deadline = Instant::now() + LEADER_TIMEOUT;
    loop {
        let mut leaders = Vec::new();
        let mut settled = true;
        for (i, server) in servers.iter().enumerate() {
            let text = server.metrics().await.unwrap_or_default();
            if gauge(&text, "ringwire_cluster_leader") == Some(1) {
                leaders.push(i);
            }
            settled &= gauge(&text, "ringwire_cluster_nodes_seen") == Some(servers.len() as u64)
                && gauge(&text, "ringwire_cluster_epoch").unwrap_or(0) > 0;
        }
        if let ([leader], true) = (leaders.as_slice(), settled) {
            return Ok(*leader);
        }
        if Instant::now() > deadline {
            bail!(
                "the cluster did not settle within {LEADER_TIMEOUT:?}: nodes leading {leaders:?} \
                 (one wanted), every node seeing every other: {settled}"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of metric `name` (labels ignored) in a Prometheus text page.
fn gauge(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.split(['{', ' ']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Reads the servers' memory, has worker processes connect the idle devices round-robin over
/// them, reads it again, and runs the pairs; the workers are stopped whatever happens.
async fn drive(
    servers: &mut [ServerProcess],
    plan: &Plan,
    devices: Devices,
    names: Vec<String>,
) -> anyhow::Result<Measured> {
    // Let freshly started servers finish their start-up allocations.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let empty = memories(servers)?;
    let addrs: Vec<SocketAddr> = servers.iter().map(ServerProcess::addr).collect();
    let jobs = jobs(&addrs, &devices.idle, plan.in_flight);
    let workers = jobs.len();
    let started = Instant::now();
    let mut fleets = Vec::with_capacity(workers);
    for job in &jobs {
        fleets.push(FleetProcess::start(job).await?);
    }
    drop(jobs);
    let measured = async {
        let mut failed = 0;
        let mut first_error = None;
        for count in join_all(fleets.iter_mut().map(FleetProcess::connected)).await {
            let count = count?;
            failed += count.failed;
            first_error = first_error.or(count.first_error);
        }
        let connect = started.elapsed();
        for server in servers.iter_mut() {
            server.check_alive()?;
        }
        tokio::time::sleep(plan.settle).await;
        let (mut held, mut lost) = (0, 0);
        for count in join_all(fleets.iter_mut().map(FleetProcess::count)).await {
            let count = count?;
            held += count.held;
            lost += count.lost;
        }
        let with = memories(servers)?;
        let setups = setups(servers, plan, &devices, devices.idle.len()).await?;
        anyhow::Ok((held, failed, lost, first_error, connect, with, setups))
    }
    .await;
    join_all(fleets.into_iter().map(FleetProcess::stop)).await;
    let (held, failed, lost, first_error, connect, with, setups) = measured?;
    Ok(Measured {
        names,
        leader: None,
        devices,
        workers,
        held,
        failed,
        lost,
        first_error,
        connect,
        empty,
        with,
        setups,
    })
}

fn memories(servers: &[ServerProcess]) -> anyhow::Result<Vec<Memory>> {
    servers.iter().map(ServerProcess::memory).collect()
}

/// The idle devices split over worker processes (at least two, at most [`PER_WORKER`]
/// connections each): device `k` connects to server `k mod n` from [`source_address`]`(k)`.
fn jobs(servers: &[SocketAddr], tokens: &[String], in_flight: usize) -> Vec<Job> {
    let workers = tokens.len().div_ceil(PER_WORKER).max(2);
    let share = tokens.len().div_ceil(workers).max(1);
    tokens
        .chunks(share)
        .enumerate()
        .map(|(w, chunk)| Job {
            devices: chunk
                .iter()
                .enumerate()
                .map(|(i, token)| {
                    let k = w * share + i;
                    JobDevice {
                        server: servers[k % servers.len()],
                        source: source_address(k),
                        token: token.clone(),
                    }
                })
                .collect(),
            in_flight: in_flight.div_ceil(workers),
        })
        .collect()
}

fn metrics(plan: &Plan, nodes: usize, cluster: &Measured, single: &Measured, r: &mut BenchResult) {
    let n = format!("{nodes} nodes");
    let (c, s) = (&cluster.setups, &single.setups);
    r.results.extend([
        Metric::new(
            format!("idle connections held, {n}"),
            "connections",
            cluster.held as f64,
        ),
        Metric::new(
            format!("idle connect failures, {n}"),
            "connections",
            (cluster.failed + cluster.lost) as f64,
        ),
        Metric::new(
            format!("memory per idle connection, {n}"),
            "KB",
            cluster.bytes_per_connection() / KIB,
        ),
    ]);
    for (i, (name, with)) in cluster.names.iter().zip(&cluster.with).enumerate() {
        let role = if cluster.leader == Some(i) {
            " (leader)"
        } else {
            ""
        };
        r.results.push(Metric::new(
            format!("RSS of {name}{role} with idle connections"),
            "MB",
            with.rss_bytes as f64 / MIB,
        ));
    }
    r.results.extend([
        Metric::new(
            format!("call setups per second, {n}, caller and callee on different nodes"),
            "calls/s",
            c.rate(plan.window),
        ),
        Metric::new(
            format!("invite→incoming p50, {n}, cross-node"),
            "ms",
            c.latency_ms(50.0),
        ),
        Metric::new(
            format!("invite→incoming p99, {n}, cross-node"),
            "ms",
            c.latency_ms(99.0),
        ),
        Metric::new(
            format!("call setup failures, {n}"),
            "calls",
            c.failed as f64,
        ),
        Metric::new(
            format!("nodes' CPU during setups, {n} together"),
            "% of a core",
            c.cpu,
        ),
        Metric::new(
            "idle connections held, 1 node",
            "connections",
            single.held as f64,
        ),
        Metric::new(
            "memory per idle connection, 1 node",
            "KB",
            single.bytes_per_connection() / KIB,
        ),
        Metric::new(
            "call setups per second, 1 node",
            "calls/s",
            s.rate(plan.window),
        ),
        Metric::new("invite→incoming p50, 1 node", "ms", s.latency_ms(50.0)),
        Metric::new("invite→incoming p99, 1 node", "ms", s.latency_ms(99.0)),
        Metric::new("call setup failures, 1 node", "calls", s.failed as f64),
        Metric::new("server CPU during setups, 1 node", "% of a core", s.cpu),
        Metric::new(
            format!("call setups per second, {n} ÷ 1 node"),
            "×",
            c.rate(plan.window) / s.rate(plan.window),
        ),
        Metric::new(
            format!("invite→incoming p50, {n} ÷ 1 node"),
            "×",
            c.latency_ms(50.0) / s.latency_ms(50.0),
        ),
        Metric::new(
            format!("invite→incoming p99, {n} ÷ 1 node"),
            "×",
            c.latency_ms(99.0) / s.latency_ms(99.0),
        ),
    ]);
}

fn notes(
    plan: &Plan,
    nodes: usize,
    cluster: &Measured,
    single: &Measured,
    fd_limit: u64,
    r: &mut BenchResult,
) {
    let nats = std::env::var("RINGWIRE_BENCH_NATS_URL").unwrap_or_else(|_| DEFAULT_NATS.into());
    r.notes.push(format!(
        "cluster: {nodes} `ringwire serve --cluster {nats} --cluster-prefix rwbench_… \
         --node-id nodeN` child processes (same build; RINGWIRE_DATABASE_URL, as --database, \
         names one fresh PostgreSQL database, dropped afterwards); {} led; provisioned {} users and {} devices \
         through the store, {PROVISION_PARALLEL} users at once, in {:.1} s; invite and \
         per-connection message limits lifted as for one server",
        cluster
            .leader
            .and_then(|i| cluster.names.get(i))
            .map_or("no node", String::as_str),
        cluster.devices.users,
        cluster.devices.idle.len() + 2 * cluster.devices.pairs.len(),
        cluster.devices.took.as_secs_f64()
    ));
    r.notes.push(idle_note("cluster", cluster, plan));
    let per_node: Vec<String> = cluster
        .names
        .iter()
        .zip(cluster.empty.iter().zip(&cluster.with))
        .map(|(name, (e, w))| {
            format!(
                "{name} {:.1} → {:.1} MB",
                e.rss_bytes as f64 / MIB,
                w.rss_bytes as f64 / MIB
            )
        })
        .collect();
    r.notes.push(format!(
        "memory per idle connection = Σ over the nodes of (VmRSS with the idle connections − \
         VmRSS with none) / connections held = {:.0} bytes; each node holds about 1/{nodes} of \
         the connections, and the leader also keeps every device's presence in its router; \
         RSS by node, none → with: {}; KB = 1024 bytes, MB = 1024 KB",
        cluster.bytes_per_connection(),
        per_node.join(", ")
    ));
    r.notes.push(setups_note(
        &format!(
            "cross-node call setups: pair i's caller on node i mod {nodes}, its callee on the \
             next node, so every invite, accept and hangup crosses NATS to the leader and back"
        ),
        &cluster.setups,
        plan,
    ));
    r.notes.push(format!(
        "baseline, 1 node: `ringwire serve` alone on SQLite in a temporary directory (the \
         single-server bench's path; provisioned in {:.1} s), holding as many idle connections \
         as each node was given ({}), with the same pairs and window, caller and callee on the \
         one server; ratios are {nodes} nodes ÷ 1 node. The stores differ as deployed: the \
         cluster commits its call records to PostgreSQL (on disk, synchronous commit), the one \
         server to SQLite on tmpfs where there is one, so the ratios include that",
        single.devices.took.as_secs_f64(),
        plan.max_idle().div_ceil(nodes)
    ));
    r.notes.push(idle_note("1 node", single, plan));
    r.notes
        .push(setups_note("1-node call setups", &single.setups, plan));
    r.notes.push(format!(
        "clients: the idle connections in {} (cluster) and {} (1 node) `ringwire-bench \
         signaling-worker` processes, at most {PER_WORKER} each, over loopback source addresses \
         from 127.0.0.2 ({PER_SOURCE} sockets each); the pairs in this process; open-file limit \
         {fd_limit} for every process; all share this machine's {} CPU cores",
        cluster.workers,
        single.workers,
        std::thread::available_parallelism().map_or(1, usize::from)
    ));
    if cfg!(debug_assertions) {
        r.notes.push(
            "unoptimized (debug) build: run the release build for representative figures"
                .to_owned(),
        );
    }
}

fn idle_note(what: &str, m: &Measured, plan: &Plan) -> String {
    let mut text = format!(
        "{what}: {} of {} idle connections held, connected in {:.1} s ({:.0}/s, {} handshakes \
         in flight over {} workers), RSS read {:.0} s later",
        m.held,
        m.devices.idle.len(),
        m.connect.as_secs_f64(),
        m.devices.idle.len() as f64 / m.connect.as_secs_f64().max(1e-9),
        plan.in_flight,
        m.workers,
        plan.settle.as_secs_f64()
    );
    text.push_str(&super::connect_failures(
        "; ",
        m.failed,
        m.lost,
        m.first_error.as_deref(),
    ));
    text
}

fn setups_note(what: &str, s: &Setups, plan: &Plan) -> String {
    let mut text = format!(
        "{what}: {} pairs at once for {:.0} s, each cycle invite → incoming → ringing, accept → \
         accepted → hangup → ended on both; {} completed, {} failed, invite→incoming over {} \
         samples timed in this process; CPU is the servers' together",
        s.pairs_connected,
        plan.window.as_secs_f64(),
        s.completed,
        s.failed,
        s.latencies_ms.len()
    );
    if s.pairs_failed > 0 {
        text.push_str(&format!("; {} pairs could not connect", s.pairs_failed));
    }
    if let Some(e) = &s.first_error {
        text.push_str(&format!("; first failure: {e}"));
    }
    text
}

/// What a panicked task said.
fn panic_text(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "it panicked".to_owned()),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_spread_devices_over_workers_and_nodes_round_robin() {
        let servers: Vec<SocketAddr> = (0..3)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 9000 + i)))
            .collect();
        let tokens: Vec<String> = (0..50_000).map(|i| format!("t{i}")).collect();
        let jobs = jobs(&servers, &tokens, 200);
        assert_eq!(jobs.len(), 4);
        assert!(jobs.iter().all(|j| j.devices.len() <= PER_WORKER));
        assert_eq!(jobs.iter().map(|j| j.devices.len()).sum::<usize>(), 50_000);
        let all: Vec<&JobDevice> = jobs.iter().flat_map(|j| &j.devices).collect();
        for (k, d) in all.iter().enumerate() {
            assert_eq!(d.token, format!("t{k}"));
            assert_eq!(d.server, servers[k % 3]);
            assert_eq!(d.source, source_address(k));
        }
        // A small run still uses two workers.
        assert_eq!(jobs_len(&servers, 600), 2);
    }

    fn jobs_len(servers: &[SocketAddr], n: usize) -> usize {
        let tokens: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        jobs(servers, &tokens, 200).len()
    }

    #[test]
    fn each_node_gets_its_share_of_the_fd_budget() {
        let mut plan = Plan::cluster(false);
        assert_eq!(plan.fit_nodes(20_000, 3), None);
        let why = plan.fit_nodes(10_000, 3).expect("shrunk");
        let room = 10_000 - FD_SPARE as usize - 2 * plan.pairs;
        assert_eq!(plan.max_idle(), 3 * room);
        assert!(why.contains("10000"), "{why}");
    }

    #[test]
    fn gauges_are_read_whatever_their_labels() {
        let text = "# HELP ringwire_cluster_leader x\n# TYPE ringwire_cluster_leader gauge\n\
                    ringwire_cluster_leader{node=\"node2\"} 1\nringwire_cluster_leader_x 7\n\
                    ringwire_cluster_epoch{node=\"node2\"} 3\n";
        assert_eq!(gauge(text, "ringwire_cluster_leader"), Some(1));
        assert_eq!(gauge(text, "ringwire_cluster_epoch"), Some(3));
        assert_eq!(gauge(text, "ringwire_cluster_nodes_seen"), None);
    }
}
