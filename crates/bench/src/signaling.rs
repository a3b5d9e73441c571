//! `bench signaling`: how many idle device connections one server process holds and what each
//! costs it in memory, and how many full call cycles per second it routes. The server is the
//! real `ringwire serve`, run as a child process ([`server_proc`]) so `/proc` shows its
//! memory and CPU apart from the load; the load is bare protocol-v1 WebSocket clients in this
//! process ([`load`]). There is no Chromium baseline: Chromium has no signaling server, so
//! every Chromium column is empty.
//!
//! Order: provision users and devices straight into a fresh SQLite store, start the server,
//! read its memory with no connections, connect idle devices in growing stages (memory after
//! each), read idle CPU, then run caller/callee pairs through invite → incoming → ringing,
//! accept → accepted → hangup → ended for a fixed window while the idle devices stay
//! connected, and stop the server.
//!
//! With `--nodes N` (N > 1) the same pieces measure a cluster instead ([`cluster`]): N nodes on
//! one PostgreSQL store and NATS, the idle devices held by client worker processes ([`fleet`])
//! spread over the nodes, caller and callee of every pair on different nodes, and one single
//! server measured the same way in the same run as the baseline.

mod cluster;
pub mod fleet;
mod load;
mod server_proc;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use ringwire_proto::UserName;
use ringwire_server::store::Store;

use self::load::{IdleFleet, PairStats};
use self::server_proc::{Memory, Role, ServerProcess};
use super::signal;
use super::{BenchResult, Metric, Options};

/// Connections per loopback source address: well under the ~28k ephemeral ports Linux hands
/// out per (source, destination) address pair, so a run leaves room for TIME_WAIT leftovers.
const PER_SOURCE: usize = 10_000;
/// File descriptors kept beyond the sockets (store, log, runtime, stdio).
const FD_SPARE: u64 = 1024;
/// A RAM-backed directory for the store, if the machine has it.
const TMPFS: &str = "/dev/shm";
const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

/// How big a run is.
#[derive(Debug, Clone)]
struct Plan {
    /// Idle connections to reach, cumulative: each stage adds to the previous one.
    stages: Vec<usize>,
    /// Caller/callee device pairs running call cycles.
    pairs: usize,
    /// How long the pairs run.
    window: Duration,
    /// Quiet time after a stage connected, before its memory is read.
    settle: Duration,
    /// How long idle CPU is measured.
    cpu_window: Duration,
    /// Handshakes in flight at once.
    in_flight: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                stages: vec![500],
                pairs: 20,
                window: Duration::from_secs(3),
                settle: Duration::from_secs(2),
                cpu_window: Duration::from_secs(2),
                in_flight: 200,
            }
        } else {
            Plan {
                stages: vec![10_000, 25_000, 50_000],
                pairs: 200,
                window: Duration::from_secs(20),
                settle: Duration::from_secs(3),
                cpu_window: Duration::from_secs(5),
                in_flight: 200,
            }
        }
    }

    fn max_idle(&self) -> usize {
        self.stages.iter().copied().max().unwrap_or(0)
    }

    /// Descriptors each process needs: one socket per connection, plus spare.
    /// The open-file limit to ask for: room for every connection in this process beside
    /// [`FD_SPARE`], and in the server beside its own reserve
    /// (`ringwire_server::listener::connections_within`, raised by the shortfall until it fits).
    fn fds_needed(&self) -> u64 {
        let connections = (self.max_idle() + 2 * self.pairs) as u64;
        let mut limit = connections + FD_SPARE;
        loop {
            let room = ringwire_server::listener::connections_within(limit);
            if room >= connections {
                return limit;
            }
            limit += connections - room;
        }
    }

    /// Shrinks the stages to what `fd_limit` allows (see [`idle_room`]); says so if it had to.
    fn fit(&mut self, fd_limit: u64) -> Option<String> {
        let room = idle_room(fd_limit, self.pairs);
        if self.max_idle() <= room {
            return None;
        }
        let wanted = self.max_idle();
        self.stages.retain(|s| *s < room);
        self.stages.push(room);
        Some(format!(
            "the open-file limit ({fd_limit}; above the hard limit only with CAP_SYS_RESOURCE) \
             caps each process, the server included: at most {room} idle connections, not \
             {wanted}"
        ))
    }
}

/// Idle connections one server, and one client process, can hold beside `pairs` call pairs
/// under an open-file limit of `fd_limit`: the client keeps [`FD_SPARE`] free, and the server
/// keeps its own reserve and refuses connections beyond the rest
/// (`ringwire_server::listener::connections_within`), so a plan past that measures refusals.
pub(super) fn idle_room(fd_limit: u64, pairs: usize) -> usize {
    let client = fd_limit.saturating_sub(FD_SPARE);
    let server = ringwire_server::listener::connections_within(fd_limit);
    client.min(server).saturating_sub(2 * pairs as u64) as usize
}

/// One stage of idle connections, measured.
#[derive(Debug, Clone)]
struct Stage {
    target: usize,
    held: usize,
    failed: usize,
    lost: usize,
    connect_secs: f64,
    memory: Memory,
    first_error: Option<String>,
}

/// The devices the bench connects as.
#[derive(Debug)]
struct Devices {
    idle: Vec<String>,
    pairs: Vec<PairDevices>,
    users: usize,
    took: Duration,
}

#[derive(Debug)]
struct PairDevices {
    caller: String,
    callee: String,
    callee_user: UserName,
}

pub async fn run(options: &Options) -> anyhow::Result<BenchResult> {
    if options.nodes > 1 {
        return cluster::run(options).await;
    }
    let mut plan = Plan::new(options.quick);
    let mut result = BenchResult::new("signaling");
    let fd_limit = raise_fd_limit(plan.fds_needed());
    if let Some(why) = plan.fit(fd_limit) {
        result.notes.push(why);
    }
    let dir = temp_dir()?;
    let data = dir.path().join("data");
    let devices = provision(&data, plan.max_idle(), plan.pairs).await?;
    let mut server = ServerProcess::start(
        Role::Single { data_dir: &data },
        &dir.path().join("server.log"),
        &server_env(),
    )
    .await?;
    let measured = measure(&mut server, &plan, &devices, &mut result).await;
    let stopped = server.stop().await;
    measured?;
    stopped?;
    describe(&plan, &devices, fd_limit, dir.path(), &mut result);
    Ok(result)
}

/// A temporary directory for stores and logs, on tmpfs where there is one: provisioning tens of
/// thousands of devices one transaction each would otherwise take minutes of disk syncs, and
/// the figures are meant to be the server's, not this machine's disk's.
fn temp_dir() -> anyhow::Result<tempfile::TempDir> {
    let tmpfs = Path::new(TMPFS);
    let mut builder = tempfile::Builder::new();
    builder.prefix("ringwire-bench-signaling-");
    if tmpfs.is_dir() {
        builder.tempdir_in(tmpfs)
    } else {
        builder.tempdir()
    }
    .context("creating a temporary directory")
}

/// The environment every server under test runs with.
fn server_env() -> [(&'static str, String); 4] {
    [
        ("RINGWIRE_ADMIN_TOKEN", admin_token()),
        // Each pair invites as fast as the server answers; the production limits (5 invites
        // in a burst per device, 100 messages/s per connection) would measure the limiter.
        ("RINGWIRE_INVITE_BURST", "1000000".to_owned()),
        ("RINGWIRE_INVITE_REFILL_SECS", "0".to_owned()),
        ("RINGWIRE_MAX_MESSAGES_PER_SEC", "100000".to_owned()),
    ]
}

/// Everything the server is measured doing; the caller stops the server whatever happens.
async fn measure(
    server: &mut ServerProcess,
    plan: &Plan,
    devices: &Devices,
    result: &mut BenchResult,
) -> anyhow::Result<()> {
    let addr = server.addr();
    // Let the freshly started server finish its start-up allocations.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let empty = server.memory()?;

    let mut fleet = IdleFleet::default();
    let mut stages: Vec<Stage> = Vec::new();
    for &target in &plan.stages {
        let from = stages.last().map_or(0, |s| s.target);
        let batch: Vec<(SocketAddr, IpAddr, String)> = (from..target)
            .map(|i| (addr, source_address(i), devices.idle[i].clone()))
            .collect();
        let started = Instant::now();
        let (failed, first_error) = fleet.connect(batch, plan.in_flight).await;
        let connect_secs = started.elapsed().as_secs_f64();
        server.check_alive()?;
        tokio::time::sleep(plan.settle).await;
        let lost = fleet.lost();
        let stage = Stage {
            target,
            held: fleet.held().saturating_sub(lost),
            failed: stages.last().map_or(0, |s| s.failed) + failed,
            lost,
            connect_secs,
            memory: server.memory()?,
            first_error,
        };
        let complete = stage.failed == 0 && stage.lost == 0;
        stages.push(stage);
        if !complete {
            break;
        }
    }
    let cpu_idle = cpu_percent(server, plan.cpu_window).await?;
    idle_metrics(&stages, empty, cpu_idle, plan, result);

    let used = stages.last().map_or(0, |s| s.target);
    let setups = setups(std::slice::from_ref(server), plan, devices, used).await;
    fleet.close().await;
    setups_metrics(&setups?, plan, result);
    Ok(())
}

/// The server's CPU use over `window`, in percent of one core.
async fn cpu_percent(server: &ServerProcess, window: Duration) -> anyhow::Result<f64> {
    let (cpu, wall) = (server.cpu_time()?, Instant::now());
    tokio::time::sleep(window).await;
    Ok(percent_of_core(
        server.cpu_time()?.saturating_sub(cpu),
        wall.elapsed(),
    ))
}

fn percent_of_core(cpu: Duration, wall: Duration) -> f64 {
    if wall.is_zero() {
        return 0.0;
    }
    cpu.as_secs_f64() / wall.as_secs_f64() * 100.0
}

fn idle_metrics(stages: &[Stage], empty: Memory, cpu: f64, plan: &Plan, result: &mut BenchResult) {
    // The largest stage in which every connection came up and stayed up; else the last one.
    let best = stages
        .iter()
        .rev()
        .find(|s| s.failed == 0 && s.lost == 0)
        .or(stages.last());
    let (held, with) = best.map_or((0, empty), |s| (s.held, s.memory));
    let per_conn =
        |total: u64, base: u64| (held > 0).then(|| total.saturating_sub(base) as f64 / held as f64);
    let per_rss = per_conn(with.rss_bytes, empty.rss_bytes).unwrap_or(0.0);
    let failed = stages.last().map_or(0, |s| s.failed + s.lost);
    result.results.extend([
        Metric::new("idle connections held", "connections", held as f64),
        Metric::new("idle connect failures", "connections", failed as f64),
        Metric::new("memory per idle connection", "KB", per_rss / KIB),
        Metric::new(
            "server RSS idle, 0 connections",
            "MB",
            empty.rss_bytes as f64 / MIB,
        ),
        Metric::new(
            "server RSS with idle connections",
            "MB",
            with.rss_bytes as f64 / MIB,
        ),
        Metric::new("server CPU while idle", "% of a core", cpu),
    ]);
    let pss = match (empty.pss_bytes, with.pss_bytes) {
        (Some(a), Some(b)) => per_conn(b, a)
            .map(|p| format!("; by PSS {:.0} bytes ({:.2} KB)", p, p / KIB))
            .unwrap_or_default(),
        _ => String::new(),
    };
    result.notes.push(format!(
        "memory per idle connection = (server VmRSS with {held} idle connections − VmRSS with \
         none) / {held} = {per_rss:.0} bytes{pss}; KB = 1024 bytes, MB = 1024 KB"
    ));
    let shown: Vec<String> = stages
        .iter()
        .map(|s| {
            let mut text = format!(
                "{} held of {} in {:.1} s ({:.0}/s), RSS {:.1} MB",
                s.held,
                s.target,
                s.connect_secs,
                (s.target - stages_before(stages, s)) as f64 / s.connect_secs.max(1e-9),
                s.memory.rss_bytes as f64 / MIB
            );
            text.push_str(&connect_failures(
                ", ",
                s.failed,
                s.lost,
                s.first_error.as_deref(),
            ));
            text
        })
        .collect();
    result.notes.push(format!(
        "idle stages (each adds connections, {} handshakes in flight, RSS read {:.0} s after \
         the stage connected): {}",
        plan.in_flight,
        plan.settle.as_secs_f64(),
        shown.join("; ")
    ));
    result.notes.push(format!(
        "server CPU while idle: utime+stime from /proc/PID/stat over {:.0} s with every idle \
         connection open (the server pings each every 20 s; this process answers)",
        plan.cpu_window.as_secs_f64()
    ));
}

/// `sep` and the failed and dropped idle connections with the first error, when there were
/// any; empty otherwise.
pub(super) fn connect_failures(
    sep: &str,
    failed: usize,
    lost: usize,
    first_error: Option<&str>,
) -> String {
    if failed + lost == 0 {
        return String::new();
    }
    format!(
        "{sep}{failed} failed to connect, {lost} dropped while idle (first error: {})",
        first_error.unwrap_or("none")
    )
}

/// How many connections the stages before `stage` had reached.
fn stages_before(stages: &[Stage], stage: &Stage) -> usize {
    stages
        .iter()
        .take_while(|s| s.target < stage.target)
        .last()
        .map_or(0, |s| s.target)
}

/// What the pairs did together.
#[derive(Debug)]
struct Setups {
    pairs_connected: usize,
    pairs_failed: usize,
    completed: u64,
    failed: u64,
    latencies_ms: Vec<f64>,
    cpu: f64,
    first_error: Option<String>,
}

/// Connects the pairs (source addresses after the idle ones) and runs them all for the window.
/// With several servers (cluster nodes), pair `i`'s caller connects to server `i` and its callee
/// to the next one round the list, so every invite crosses from one node to another. The CPU
/// figure is the servers' together.
async fn setups(
    servers: &[ServerProcess],
    plan: &Plan,
    devices: &Devices,
    idle_used: usize,
) -> anyhow::Result<Setups> {
    anyhow::ensure!(!servers.is_empty(), "call setups need a server");
    let n = servers.len();
    let mut ready = Vec::new();
    let mut first_error = None;
    for (i, pair) in devices.pairs.iter().enumerate() {
        let source = source_address(idle_used + 2 * i);
        let (caller_at, callee_at) = (servers[i % n].addr(), servers[(i + 1) % n].addr());
        let connected = async {
            let caller = load::connect(caller_at, source, &pair.caller).await?;
            let callee = load::connect(callee_at, source, &pair.callee).await?;
            anyhow::Ok((caller, callee))
        };
        match connected.await {
            Ok((caller, callee)) => ready.push((caller, callee, pair.callee_user.clone())),
            Err(e) => {
                first_error.get_or_insert_with(|| format!("connecting a pair: {e:#}"));
            }
        }
    }
    let pairs_connected = ready.len();
    let deadline = Instant::now() + plan.window;
    let cpu_before = (cpu_time(servers)?, Instant::now());
    let mut tasks = tokio::task::JoinSet::new();
    for (caller, callee, user) in ready {
        tasks.spawn(load::run_pair(caller, callee, user, deadline));
    }
    tokio::time::sleep_until(deadline.into()).await;
    let cpu = percent_of_core(
        cpu_time(servers)?.saturating_sub(cpu_before.0),
        cpu_before.1.elapsed(),
    );
    let mut all = Setups {
        pairs_connected,
        pairs_failed: devices.pairs.len() - pairs_connected,
        completed: 0,
        failed: 0,
        latencies_ms: Vec::new(),
        cpu,
        first_error,
    };
    while let Some(done) = tasks.join_next().await {
        let stats: PairStats = done.context("a pair's task failed")?;
        all.completed += stats.completed;
        all.failed += stats.failed;
        all.latencies_ms.extend(stats.invite_to_incoming_ms);
        if all.first_error.is_none() {
            all.first_error = stats.first_error;
        }
    }
    Ok(all)
}

/// The servers' CPU time together.
fn cpu_time(servers: &[ServerProcess]) -> anyhow::Result<Duration> {
    servers.iter().map(ServerProcess::cpu_time).sum()
}

impl Setups {
    /// Completed setups per second of `window`.
    fn rate(&self, window: Duration) -> f64 {
        self.completed as f64 / window.as_secs_f64()
    }

    /// The invite→incoming latency at `p` percent, in ms (NaN without samples).
    fn latency_ms(&self, p: f64) -> f64 {
        signal::percentile(&self.latencies_ms, p).unwrap_or(f64::NAN)
    }
}

fn setups_metrics(s: &Setups, plan: &Plan, result: &mut BenchResult) {
    let window = plan.window.as_secs_f64();
    result.results.extend([
        Metric::new("call setups per second", "calls/s", s.rate(plan.window)),
        Metric::new("invite→incoming p50", "ms", s.latency_ms(50.0)),
        Metric::new("invite→incoming p99", "ms", s.latency_ms(99.0)),
        Metric::new("call setup failures", "calls", s.failed as f64),
        Metric::new("server CPU during setups", "% of a core", s.cpu),
    ]);
    let mut note = format!(
        "call setups: {} caller/callee pairs (each user has one device), all at once for {:.0} s; \
         a setup is invite → calling + incoming → ringing, accept → accepted → hangup → ended \
         on both devices; {} completed, {} failed, invite→incoming over {} samples, timed in \
         this process (includes its own scheduling); every pair starts its next call as soon as \
         one ends, so the server runs flat out and the latency includes queueing behind the \
         other pairs' messages; the idle connections stay open meanwhile",
        s.pairs_connected,
        window,
        s.completed,
        s.failed,
        s.latencies_ms.len()
    );
    if s.pairs_failed > 0 {
        note.push_str(&format!("; {} pairs could not connect", s.pairs_failed));
    }
    if let Some(e) = &s.first_error {
        note.push_str(&format!("; first failure: {e}"));
    }
    result.notes.push(note);
}

/// Notes on the set-up that qualify every figure.
fn describe(plan: &Plan, devices: &Devices, fd_limit: u64, dir: &Path, result: &mut BenchResult) {
    let sources = source_address((plan.max_idle() + 2 * plan.pairs).saturating_sub(1));
    result.notes.push(format!(
        "server: `ringwire serve` as a child process of this one (same build), SQLite store in a \
         temporary directory under {}, info logging to a file; invite and per-connection message limits lifted so the \
         pairs measure routing, not the flood limits; provisioned {} users and {} devices \
         straight into the store before it started in {:.1} s",
        dir.parent().unwrap_or(dir).display(),
        devices.users,
        devices.idle.len() + 2 * devices.pairs.len(),
        devices.took.as_secs_f64()
    ));
    result.notes.push(format!(
        "clients: this process, over 127.0.0.2–{sources} ({PER_SOURCE} sockets per source \
         address) to one listening port; open-file limit {fd_limit} for both processes; both \
         share this machine's {} CPU cores",
        std::thread::available_parallelism().map_or(1, usize::from)
    ));
    if cfg!(debug_assertions) {
        result.notes.push(
            "unoptimized (debug) build: run the release build for representative figures"
                .to_owned(),
        );
    }
}

/// The loopback address the `i`-th client socket connects from.
fn source_address(i: usize) -> IpAddr {
    // 127.0.0.2 upwards: 127.0.0.1 is left to everything else on the machine.
    let n = u32::try_from(i / PER_SOURCE).unwrap_or(u32::MAX);
    IpAddr::V4(Ipv4Addr::from(
        u32::from(Ipv4Addr::new(127, 0, 0, 2)).saturating_add(n),
    ))
}

/// Writes the users and devices into a fresh SQLite store in `data`: see [`provision_into`].
async fn provision(data: &Path, idle: usize, pairs: usize) -> anyhow::Result<Devices> {
    let store = Store::open_data_dir(data)
        .await
        .context("creating the store")?;
    // SQLite has one writer at a time: one user after another.
    let devices = provision_into(&store, idle, pairs, 1).await;
    store.close().await;
    devices
}

/// Writes the users and devices into `store` through its own functions (tokens minted and
/// hashed as the admin API does): `idle` devices two to a user (a phone and a laptop), and
/// `pairs` callers and callees, one device each; `parallel` users at once.
async fn provision_into(
    store: &Store,
    idle: usize,
    pairs: usize,
    parallel: usize,
) -> anyhow::Result<Devices> {
    use futures_util::{StreamExt, TryStreamExt};
    let started = Instant::now();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let idle_users = idle.div_ceil(2);
    let idle_tokens: Vec<Vec<String>> = futures_util::stream::iter(0..idle_users)
        .map(|u| {
            let labels: &[&str] = if 2 * u + 1 < idle {
                &["phone", "laptop"]
            } else {
                &["phone"]
            };
            add_user(store, format!("idle-{u}"), labels, now)
        })
        .buffered(parallel.max(1))
        .map_ok(|(_, tokens)| tokens)
        .try_collect()
        .await
        .context("provisioning the idle devices")?;
    let pair_devices: Vec<PairDevices> = futures_util::stream::iter(0..pairs)
        .map(|i| async move {
            let (_, caller) = add_user(store, format!("caller-{i}"), &["phone"], now).await?;
            let (callee_user, callee) =
                add_user(store, format!("callee-{i}"), &["phone"], now).await?;
            anyhow::Ok(PairDevices {
                caller: caller.concat(),
                callee: callee.concat(),
                callee_user,
            })
        })
        .buffered(parallel.max(1))
        .try_collect()
        .await
        .context("provisioning the pairs")?;
    Ok(Devices {
        idle: idle_tokens.into_iter().flatten().collect(),
        pairs: pair_devices,
        users: idle_users + 2 * pairs,
        took: started.elapsed(),
    })
}

/// Adds user `name` with one device per label; the user and the devices' tokens.
async fn add_user(
    store: &Store,
    name: String,
    labels: &[&str],
    now: u64,
) -> anyhow::Result<(UserName, Vec<String>)> {
    let name: UserName = name.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    store.add_user(&name, None, now).await?;
    let mut tokens = Vec::with_capacity(labels.len());
    for label in labels {
        let (_, token) = store
            .add_device(&name, Some(label), now, usize::MAX)
            .await?;
        tokens.push(token.as_str().to_owned());
    }
    Ok((name, tokens))
}

/// Raises this process's open-file limit (the server child inherits it) to `want` if it can:
/// above the hard limit when privileged, else up to the hard limit. Returns the limit in force.
fn raise_fd_limit(want: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    let soft = now.current.unwrap_or(u64::MAX);
    if soft >= want {
        return soft;
    }
    let raised = Rlimit {
        current: Some(want),
        maximum: Some(now.maximum.map_or(want, |hard| hard.max(want))),
    };
    if setrlimit(Resource::Nofile, raised).is_ok() {
        return want;
    }
    let hard = now.maximum.unwrap_or(u64::MAX);
    let to_hard = Rlimit {
        current: Some(hard.min(want)),
        maximum: now.maximum,
    };
    if setrlimit(Resource::Nofile, to_hard).is_ok() {
        return hard.min(want);
    }
    soft
}

/// An admin token nobody can guess: the bench never uses the admin API, but runs the server
/// with it on, as deployed.
fn admin_token() -> String {
    format!("bench-{}", ringwire_proto::CallId::random())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_fill_one_address_then_move_on() {
        assert_eq!(source_address(0).to_string(), "127.0.0.2");
        assert_eq!(source_address(PER_SOURCE - 1).to_string(), "127.0.0.2");
        assert_eq!(source_address(PER_SOURCE).to_string(), "127.0.0.3");
        assert_eq!(source_address(5 * PER_SOURCE + 3).to_string(), "127.0.0.7");
    }

    #[test]
    fn a_low_fd_limit_shrinks_the_stages() {
        let mut plan = Plan::new(false);
        assert_eq!(plan.fit(1_000_000), None);
        let needed = plan.fds_needed();
        assert_eq!(plan.fit(needed), None, "what it asks for is enough");
        assert!(
            needed >= 50_000 * 10 / 9,
            "the server keeps a tenth: {needed}"
        );
        assert_eq!(plan.stages, vec![10_000, 25_000, 50_000]);
        let why = plan.fit(20_000).expect("shrunk");
        // The server keeps 2,000 of 20,000 in reserve, more than this process's spare: the
        // room is what the server accepts, less the pairs.
        let room = 18_000 - 2 * plan.pairs;
        assert_eq!(idle_room(20_000, plan.pairs), room);
        assert_eq!(plan.stages, vec![10_000, room]);
        assert!(why.contains("20000"), "{why}");
        // Under a small limit the client's spare is what binds.
        assert_eq!(idle_room(5_000, 0), 5_000 - FD_SPARE as usize);
    }

    #[test]
    fn cpu_percent_is_of_one_core() {
        let p = percent_of_core(Duration::from_millis(500), Duration::from_secs(2));
        assert!((p - 25.0).abs() < 1e-9);
        assert_eq!(percent_of_core(Duration::from_secs(1), Duration::ZERO), 0.0);
    }
}
