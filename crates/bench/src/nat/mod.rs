//! `ringwire bench nat`: calls across real NATs. A [`lab::Lab`] of network namespaces holds
//! the signaling server and coturn on its "internet" and one home network per side of each
//! cell; native softphones (`ringwire answer` and `ringwire call`, the shipped binary) run
//! inside the homes and call each other with a tone each way. Every call counts only when both
//! reports say `ok` and each side heard the other's tone in its recording. Per cell it prints
//! the calls that connected, the selected candidate pairs, and accept→first audio; `--json`
//! adds every call's outcome (the NAT-lab test asserts on those).

mod calls;
mod coturn;
mod failures;
pub mod lab;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use self::calls::{CallOutcome, Side};
use self::lab::{Lab, NetKind};
use super::report::{BenchResult, Metric};
use super::Options;

/// One cell of the matrix: who calls whom, from which kinds of network, and the paths the
/// issue says the call must connect through.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    pub caller: NetKind,
    pub callee: NetKind,
    /// Acceptable selected pairs as the caller reports them (`local/remote`, then the relay
    /// transport when local is a relay): a pair label must start with one of these. A direct
    /// path's local candidate is the host candidate it is sent from (behind a NAT too); its
    /// remote is the peer's server-reflexive address or one learnt from its checks.
    pub expect: &'static [&'static str],
}

impl Cell {
    pub fn name(&self) -> String {
        format!("{} → {}", self.caller.label(), self.callee.label())
    }
}

/// The matrix (issue 16).
pub const CELLS: &[Cell] = &[
    // Two home routers: hole punching, no relay.
    Cell {
        caller: NetKind::Cone,
        callee: NetKind::Cone,
        expect: &["host/srflx", "host/prflx"],
    },
    // A symmetric NAT's mapping towards the peer is not the one its STUN server saw: a relay,
    // or a peer-reflexive candidate when the cone's filtering lets the checks in.
    Cell {
        caller: NetKind::Symmetric,
        callee: NetKind::Cone,
        expect: &["relay/", "host/relay", "host/prflx"],
    },
    Cell {
        caller: NetKind::Symmetric,
        callee: NetKind::Symmetric,
        expect: &["relay/", "host/relay"],
    },
    // Only TCP leaves: TURN over TCP (or TLS).
    Cell {
        caller: NetKind::TcpOnly,
        callee: NetKind::Cone,
        expect: &[
            "relay/srflx (relay over tcp)",
            "relay/prflx (relay over tcp)",
            "relay/relay (relay over tcp)",
            "relay/srflx (relay over tls)",
            "relay/prflx (relay over tls)",
            "relay/relay (relay over tls)",
        ],
    },
    // Global IPv6 addresses behind stateful firewalls: direct, both sides punching.
    Cell {
        caller: NetKind::Ipv6Firewall,
        callee: NetKind::Ipv6Firewall,
        expect: &["host/host", "host/prflx", "host/srflx"],
    },
    // Apple's app-review network: the IPv4 peer is reached through the relay, whose address
    // DNS64 synthesised.
    Cell {
        caller: NetKind::Nat64,
        callee: NetKind::Cone,
        expect: &["relay/", "host/relay"],
    },
];

/// `bench nat` options beyond the shared ones.
#[derive(Debug, Clone)]
pub struct NatOptions {
    /// Calls per cell.
    pub calls: usize,
    /// Calls run at once in a cell.
    pub parallel: usize,
    /// Handover calls (one after another: one device moves).
    pub handovers: usize,
    /// Calls whose direct path dies silently mid-call (one after another, 35 s each).
    pub path_deaths: usize,
    /// Run the failure scenarios (about 35 s: calls that cannot connect end by themselves).
    pub failures: bool,
    /// Calls between Chromium and a native softphone, in each direction, one at a time.
    pub browser_calls: usize,
    /// Calls between two Chromiums per cell, one at a time (the browsers' own baseline
    /// through the same NATs and coturn).
    pub browser_pair_calls: usize,
}

impl NatOptions {
    pub fn new(options: &Options) -> NatOptions {
        let calls = options.calls.unwrap_or(if options.quick { 2 } else { 20 });
        NatOptions {
            calls,
            parallel: calls.clamp(1, 10),
            handovers: options.handovers.unwrap_or(calls),
            path_deaths: options
                .path_deaths
                .unwrap_or(if options.quick { 1 } else { 5 }),
            failures: true,
            browser_calls: options.browser_calls.unwrap_or(calls),
            browser_pair_calls: options.browser_pair_calls.unwrap_or(if options.quick {
                1
            } else {
                5
            }),
        }
    }
}

/// Runs every cell and returns the table (plus every call's outcome in `detail`).
pub async fn run(options: &Options, nat: NatOptions) -> anyhow::Result<BenchResult> {
    let temp = tempfile::tempdir().context("temporary directory")?;
    // `--keep DIR`: configs, logs and recordings stay there for a look afterwards.
    let dir_path = match &options.keep {
        Some(keep) => {
            std::fs::create_dir_all(keep).context("--keep directory")?;
            keep.clone()
        }
        None => temp.path().to_path_buf(),
    };
    let dir = &dir_path;
    let mut lab = Lab::new(dir)?;
    let inet = lab.inet();
    let turn = coturn::Coturn::start(&lab, &inet, dir).await?;
    // One pair per parallel slot of each cell, one for the browser cell, one for handovers.
    let pairs_needed = CELLS.len() * nat.parallel + 2;
    let server = calls::LabServer::start(&lab, &inet, dir, &turn, pairs_needed).await?;
    let mut result = BenchResult::new("nat");
    let mut cells_detail = Vec::new();
    // RINGWIRE_LAB_CELLS=0,3 runs only those cells (by index), for looking into one.
    let only: Option<Vec<usize>> = std::env::var("RINGWIRE_LAB_CELLS")
        .ok()
        .map(|v| v.split(',').filter_map(|i| i.trim().parse().ok()).collect());
    for (index, cell) in CELLS.iter().enumerate() {
        if only.as_ref().is_some_and(|o| !o.contains(&index)) {
            continue;
        }
        let caller_net = lab.add_network(cell.caller)?;
        let callee_net = lab.add_network(cell.callee)?;
        let batches = Batches {
            server: &server,
            first_pair: index * nat.parallel,
            label: format!("cell{index}"),
        };
        let outcomes = batches
            .run(&lab, dir, &caller_net, &callee_net, &nat)
            .await?;
        let summary = summarise(&outcomes);
        push_metrics(&mut result, cell, &summary);
        if options.keep.is_some() || summary.connected < outcomes.len() {
            for o in outcomes.iter().filter(|o| !o.ok()) {
                result
                    .notes
                    .push(format!("{}: call failed: {}", cell.name(), o.why()));
            }
        }
        // The same cell between two browser clients: what Chromium's own WebRTC makes of the
        // same networks and the same coturn.
        let mut browsers = Vec::new();
        if options.chromium {
            let pair = server.pair(index * nat.parallel)?;
            for i in 0..nat.browser_pair_calls {
                let work = dir.join(format!("cell{index}-chromium{i}"));
                std::fs::create_dir_all(&work)?;
                let caller = Side::new(&caller_net, pair.caller_token.clone(), &work, "caller");
                let callee = Side::new(&callee_net, pair.callee_token.clone(), &work, "callee");
                browsers.push(
                    calls::run_browsers_call(
                        &lab,
                        server.port,
                        caller,
                        callee,
                        pair.callee_user.clone(),
                    )
                    .await,
                );
            }
            push_browser_pair_metrics(&mut result, cell, &browsers);
        }
        cells_detail.push(json!({
            "cell": cell.name(),
            "caller_network": cell.caller.label(),
            "callee_network": cell.callee.label(),
            "expected_pairs": cell.expect,
            "calls": outcomes.len(),
            "connected": summary.connected,
            "pairs": summary.pairs,
            "outcomes": outcomes.iter().map(CallOutcome::to_json).collect::<Vec<_>>(),
            "chromium_pairs": {
                "calls": browsers.len(),
                "connected": browsers.iter().filter(|o| o.ok()).count(),
                "outcomes": browsers.iter().map(CallOutcome::to_json).collect::<Vec<_>>(),
            },
        }));
    }
    if options.chromium && nat.browser_calls > 0 {
        let cell =
            run_browser_cell(&mut lab, &server, dir, nat.browser_calls, pairs_needed - 2).await?;
        let name = text(&cell, "cell");
        result.results.push(Metric::new(
            format!("{name}: calls connected, audio both ways"),
            "calls",
            cell["connected"].as_f64().unwrap_or(0.0),
        ));
        result.notes.push(format!(
            "{name}: selected pairs (caller's view): {}",
            cell["pairs"]
        ));
        for o in cell["outcomes"].as_array().into_iter().flatten() {
            if o["ok"] != Value::Bool(true) {
                result.notes.push(format!("{name}: call failed: {o}"));
            }
        }
        cells_detail.push(cell);
    }
    let handover = run_handovers(&mut lab, &server, dir, nat.handovers, pairs_needed - 1).await?;
    push_handover_metrics(&mut result, &handover);
    // Sequential after the handovers, so the same pair of users.
    let path_deaths =
        run_path_deaths(&mut lab, &server, dir, nat.path_deaths, pairs_needed - 1).await?;
    push_handover_metrics(&mut result, &path_deaths);
    let baseline = run_no_ice_baseline(&mut lab, dir, &nat, &mut result).await?;
    let failures = if nat.failures {
        failures::run(&mut lab, &turn, dir, &mut result).await?
    } else {
        Value::Array(Vec::new())
    };
    result.notes.push(format!(
        "{} calls per cell, {} at once; a call counts when both softphones report ok and each \
         heard the other's tone (440/660 Hz) in its recording; accept→first audio is the \
         callee's, which answered after ringing 1.2 s (pre-connect runs meanwhile)",
        nat.calls, nat.parallel
    ));
    result.notes.push(
        "TURN allocation: the caller's, from the call's start to the relay candidate; \
         Chromium↔Chromium rows: the browser client on both sides, one call at a time"
            .to_string(),
    );
    result.detail = Some(json!({
        "cells": cells_detail,
        "handover": handover.to_json(),
        "path_deaths": path_deaths.to_json(),
        "no_ice_baseline": baseline,
        "failures": failures,
    }));
    server.stop().await;
    drop(turn);
    drop(lab);
    Ok(result)
}

/// A cell's calls, `parallel` at a time, each pair of users in its own slot.
struct Batches<'a> {
    server: &'a calls::LabServer,
    /// The server's pair of users for slot 0.
    first_pair: usize,
    /// Names the calls' work directories.
    label: String,
}

impl Batches<'_> {
    async fn run(
        &self,
        lab: &Lab,
        dir: &std::path::Path,
        caller_net: &lab::Network,
        callee_net: &lab::Network,
        nat: &NatOptions,
    ) -> anyhow::Result<Vec<CallOutcome>> {
        let mut outcomes = Vec::new();
        let mut done = 0;
        while done < nat.calls {
            let batch = (nat.calls - done).min(nat.parallel);
            let mut running = Vec::new();
            for slot in 0..batch {
                let pair = self.server.pair(self.first_pair + slot)?;
                let work = dir.join(format!("{}-call{}", self.label, done + slot));
                std::fs::create_dir_all(&work)?;
                let caller = Side::new(caller_net, pair.caller_token.clone(), &work, "caller");
                let callee = Side::new(callee_net, pair.callee_token.clone(), &work, "callee");
                running.push(calls::run_call(
                    lab,
                    self.server.port,
                    caller,
                    callee,
                    pair.callee_user.clone(),
                ));
            }
            outcomes.extend(futures_util::future::join_all(running).await);
            done += batch;
        }
        Ok(outcomes)
    }
}

/// The same run's baseline for "candidates never delay the offer": calls in the same batches,
/// through a server that hands out no ICE servers at all (host candidates only, as before STUN
/// and TURN existed), between two phones on one home network behind a cone NAT (host
/// candidates can connect only there). Its invite→ringing sits beside the cells'.
async fn run_no_ice_baseline(
    lab: &mut Lab,
    dir: &std::path::Path,
    nat: &NatOptions,
    result: &mut BenchResult,
) -> anyhow::Result<Value> {
    let inet = lab.inet();
    let setup = calls::ServerSetup {
        name: "no-ice",
        port: calls::SERVER_PORT + 20,
        ice_servers: String::new(),
        turn_secret: None,
        pairs: nat.parallel,
    };
    let server = calls::LabServer::start_with(lab, &inet, dir, setup).await?;
    let home = lab.add_network(NetKind::Cone)?;
    let batches = Batches {
        server: &server,
        first_pair: 0,
        label: "no-ice".into(),
    };
    let outcomes = batches.run(lab, dir, &home, &home, nat).await;
    server.stop().await;
    let outcomes = outcomes?;
    let summary = summarise(&outcomes);
    let name = format!(
        "one home behind a {}, without STUN/TURN (baseline)",
        NetKind::Cone.label()
    );
    let mut sorted = summary.invite_to_ringing.clone();
    sorted.sort_by(f64::total_cmp);
    if let (Some(p50), Some(p95)) = (percentile(&sorted, 0.5), percentile(&sorted, 0.95)) {
        result.results.push(Metric::new(
            format!("{name}: invite→ringing p50"),
            "ms",
            p50,
        ));
        result.results.push(Metric::new(
            format!("{name}: invite→ringing p95"),
            "ms",
            p95,
        ));
    }
    Ok(json!({
        "cell": name,
        "calls": outcomes.len(),
        "connected": summary.connected,
        "pairs": summary.pairs,
        "invite_to_ringing_ms": summary.invite_to_ringing,
    }))
}

/// The browser cell: Chromium (the browser client, as a WebView app's page) behind a cone NAT
/// and a native softphone behind a symmetric NAT, calling each other in both directions.
async fn run_browser_cell(
    lab: &mut Lab,
    server: &calls::LabServer,
    dir: &std::path::Path,
    count: usize,
    pair_index: usize,
) -> anyhow::Result<Value> {
    let browser_net = lab.add_network(NetKind::Cone)?;
    let native_net = lab.add_network(NetKind::Symmetric)?;
    let pair = server.pair(pair_index)?.clone();
    let mut outcomes = Vec::new();
    for i in 0..count * 2 {
        let browser_calls = i % 2 == 0;
        let work = dir.join(format!("browser-{i}"));
        std::fs::create_dir_all(&work)?;
        // The browser and the native phone swap the pair's two users with the direction.
        let (browser_token, native_token, callee_user) = if browser_calls {
            (
                &pair.caller_token,
                &pair.callee_token,
                pair.callee_user.clone(),
            )
        } else {
            (
                &pair.callee_token,
                &pair.caller_token,
                pair.callee_user.clone(),
            )
        };
        let browser = Side::new(&browser_net, browser_token.clone(), &work, "browser");
        let native = Side::new(&native_net, native_token.clone(), &work, "native");
        let outcome = calls::run_browser_call(
            lab,
            server.port,
            browser,
            native,
            browser_calls,
            callee_user,
        )
        .await;
        outcomes.push((browser_calls, outcome));
    }
    let name = format!(
        "Chromium behind {} ↔ native behind {}",
        NetKind::Cone.label(),
        NetKind::Symmetric.label()
    );
    let connected = outcomes.iter().filter(|(_, o)| o.ok()).count();
    let mut pairs: BTreeMap<String, usize> = BTreeMap::new();
    for (_, o) in outcomes.iter().filter(|(_, o)| o.ok()) {
        *pairs.entry(o.pair_label()).or_insert(0) += 1;
    }
    Ok(json!({
        "cell": name,
        "caller_network": "both directions",
        "callee_network": "both directions",
        "expected_pairs": ["host/", "srflx/", "prflx/", "relay/"],
        "calls": outcomes.len(),
        "connected": connected,
        "pairs": pairs,
        "outcomes": outcomes.iter().map(|(browser_calls, o)| {
            let mut v = o.to_json();
            v["caller_is"] = json!(if *browser_calls { "chromium" } else { "native" });
            v
        }).collect::<Vec<_>>(),
    }))
}

/// Calls during which the caller's network changes under it: a handover (a device on a home
/// network, cone NAT, "Wi-Fi", moves mid-call to a carrier-grade NAT, symmetric, "mobile data",
/// and back on the next call), or a direct path that dies silently. The far end stays at home
/// behind its own cone NAT.
struct Handover {
    /// What happened, for the table.
    name: String,
    /// The same for `--json`.
    event: Value,
    outcomes: Vec<CallOutcome>,
    /// Whether each call survived: both reports ok and audio still flowing both ways at the
    /// end (no more than 1 s of silence closing either recording).
    survived: Vec<bool>,
    /// Longest audio gap heard by the far end, per call that survived.
    far_gaps: Vec<f64>,
    /// And by the device whose network changed.
    near_gaps: Vec<f64>,
}

impl Handover {
    fn new(name: String, event: Value) -> Handover {
        Handover {
            name,
            event,
            outcomes: Vec::new(),
            survived: Vec::new(),
            far_gaps: Vec::new(),
            near_gaps: Vec::new(),
        }
    }

    fn add(
        &mut self,
        (outcome, far, near): (CallOutcome, Option<calls::Gaps>, Option<calls::Gaps>),
    ) {
        let flowing = |g: Option<calls::Gaps>| g.is_some_and(|g| g.tail_ms <= 1000.0);
        let survived = outcome.ok() && flowing(far) && flowing(near);
        if survived {
            self.far_gaps.extend(far.map(|g| g.longest_ms));
            self.near_gaps.extend(near.map(|g| g.longest_ms));
        }
        self.survived.push(survived);
        self.outcomes.push(outcome);
    }

    fn to_json(&self) -> Value {
        let mut v = json!({
            "far_end": NetKind::Cone.label(),
            "calls": self.outcomes.len(),
            "survived": self.survived,
            "far_gaps_ms": self.far_gaps,
            "near_gaps_ms": self.near_gaps,
            "outcomes": self.outcomes.iter().map(CallOutcome::to_json).collect::<Vec<_>>(),
        });
        if let (Value::Object(v), Value::Object(event)) = (&mut v, &self.event) {
            v.extend(event.clone());
        }
        v
    }
}

async fn run_handovers(
    lab: &mut Lab,
    server: &calls::LabServer,
    dir: &std::path::Path,
    count: usize,
    pair_index: usize,
) -> anyhow::Result<Handover> {
    let mut handover = Handover::new(
        format!(
            "handover {} → {}",
            NetKind::Cone.label(),
            NetKind::Symmetric.label()
        ),
        json!({"from": NetKind::Cone.label(), "to": NetKind::Symmetric.label()}),
    );
    if count == 0 {
        return Ok(handover);
    }
    let home = lab.add_network(NetKind::Cone)?;
    let mobile = lab.add_network_for(&home, NetKind::Symmetric)?;
    let far = lab.add_network(NetKind::Cone)?;
    for i in 0..count {
        let (from, to) = if i % 2 == 0 {
            (&home, &mobile)
        } else {
            (&mobile, &home)
        };
        let call = MidCallRun {
            server,
            pair_index,
            work: dir.join(format!("handover-{i}")),
        };
        handover.add(
            call.run(lab, from, calls::MidCall::MoveTo(to), &far)
                .await?,
        );
    }
    Ok(handover)
}

/// Calls between two homes behind cone NATs (a direct path) whose direct path dies mid-call
/// with no interface event ([`Lab::cut_direct_paths`] at the caller): the engine must notice
/// the silence and an ICE restart move the call to the relay.
async fn run_path_deaths(
    lab: &mut Lab,
    server: &calls::LabServer,
    dir: &std::path::Path,
    count: usize,
    pair_index: usize,
) -> anyhow::Result<Handover> {
    let mut deaths = Handover::new(
        format!(
            "direct path dies silently ({} ↔ {})",
            NetKind::Cone.label(),
            NetKind::Cone.label()
        ),
        json!({"event": "direct path cut at the caller, TURN still reachable"}),
    );
    for i in 0..count {
        // A fresh pair of homes each time: the cut stays in force.
        let home = lab.add_network(NetKind::Cone)?;
        let far = lab.add_network(NetKind::Cone)?;
        let call = MidCallRun {
            server,
            pair_index,
            work: dir.join(format!("path-death-{i}")),
        };
        deaths.add(
            call.run(lab, &home, calls::MidCall::CutDirectPath, &far)
                .await?,
        );
    }
    Ok(deaths)
}

/// One call with a mid-call event, between the server's pair `pair_index` of users.
struct MidCallRun<'a> {
    server: &'a calls::LabServer,
    pair_index: usize,
    work: std::path::PathBuf,
}

impl MidCallRun<'_> {
    async fn run(
        &self,
        lab: &Lab,
        from: &lab::Network,
        event: calls::MidCall<'_>,
        far: &lab::Network,
    ) -> anyhow::Result<(CallOutcome, Option<calls::Gaps>, Option<calls::Gaps>)> {
        let pair = self.server.pair(self.pair_index)?;
        std::fs::create_dir_all(&self.work)?;
        let caller = Side::new(from, pair.caller_token.clone(), &self.work, "caller");
        let callee = Side::new(far, pair.callee_token.clone(), &self.work, "callee");
        Ok(calls::run_handover_call(
            lab,
            self.server.port,
            caller,
            event,
            callee,
            pair.callee_user.clone(),
        )
        .await)
    }
}

fn push_handover_metrics(result: &mut BenchResult, handover: &Handover) {
    if handover.outcomes.is_empty() {
        return;
    }
    let name = &handover.name;
    let survived = handover.survived.iter().filter(|s| **s).count();
    result.results.push(Metric::new(
        format!("{name}: calls that survived, audio both ways at the end"),
        "calls",
        survived as f64,
    ));
    for (side, gaps) in [
        ("far end", &handover.far_gaps),
        ("device whose network changed", &handover.near_gaps),
    ] {
        let mut sorted = gaps.clone();
        sorted.sort_by(f64::total_cmp);
        if let (Some(p50), Some(p95)) = (percentile(&sorted, 0.5), percentile(&sorted, 0.95)) {
            result.results.push(Metric::new(
                format!("{name}: longest audio gap at the {side} p50"),
                "ms",
                p50,
            ));
            result.results.push(Metric::new(
                format!("{name}: longest audio gap at the {side} p95"),
                "ms",
                p95,
            ));
        }
    }
    for (o, _) in handover
        .outcomes
        .iter()
        .zip(&handover.survived)
        .filter(|(_, s)| !**s)
    {
        result
            .notes
            .push(format!("{name}: call did not survive: {}", o.why()));
    }
}

/// What one cell's calls add up to.
struct CellSummary {
    connected: usize,
    /// Selected pair (caller's view) → calls.
    pairs: BTreeMap<String, usize>,
    accept_to_audio: Vec<f64>,
    invite_to_ringing: Vec<f64>,
    /// The callers' TURN allocation times by transport.
    allocations: BTreeMap<String, Vec<f64>>,
}

fn summarise(outcomes: &[CallOutcome]) -> CellSummary {
    let mut pairs = BTreeMap::new();
    let mut accept_to_audio = Vec::new();
    let mut invite_to_ringing = Vec::new();
    let mut allocations: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut connected = 0;
    for o in outcomes {
        if o.ok() {
            connected += 1;
            *pairs.entry(o.pair_label()).or_insert(0) += 1;
            if let Some(ms) = o.accept_to_first_audio_ms() {
                accept_to_audio.push(ms);
            }
            if let Some(ms) = o.invite_to_ringing_ms() {
                invite_to_ringing.push(ms);
            }
            for (transport, ms) in o.turn_allocation_ms() {
                allocations.entry(transport).or_default().push(ms);
            }
        }
    }
    CellSummary {
        connected,
        pairs,
        accept_to_audio,
        invite_to_ringing,
        allocations,
    }
}

/// The Chromium↔Chromium rows of a cell: calls connected, and the pairs Chromium chose.
fn push_browser_pair_metrics(result: &mut BenchResult, cell: &Cell, outcomes: &[CallOutcome]) {
    let name = format!("Chromium↔Chromium {}", cell.name());
    let summary = summarise(outcomes);
    result.results.push(Metric::new(
        format!("{name}: calls connected, audio both ways"),
        "calls",
        summary.connected as f64,
    ));
    result.notes.push(format!(
        "{name}: {}/{} connected; selected pairs (caller's view): {:?}",
        summary.connected,
        outcomes.len(),
        summary.pairs
    ));
    for o in outcomes.iter().filter(|o| !o.ok()) {
        result
            .notes
            .push(format!("{name}: call failed: {}", o.why()));
    }
}

fn push_metrics(result: &mut BenchResult, cell: &Cell, summary: &CellSummary) {
    let name = cell.name();
    result.results.push(Metric::new(
        format!("{name}: calls connected, audio both ways"),
        "calls",
        summary.connected as f64,
    ));
    let allocation_rows: Vec<(String, &Vec<f64>)> = summary
        .allocations
        .iter()
        .map(|(transport, v)| (format!("TURN allocation over {transport}"), v))
        .collect();
    let rows = [
        ("accept→first audio".to_string(), &summary.accept_to_audio),
        ("invite→ringing".to_string(), &summary.invite_to_ringing),
    ];
    for (what, values) in rows.into_iter().chain(allocation_rows) {
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        if let (Some(p50), Some(p95)) = (percentile(&sorted, 0.5), percentile(&sorted, 0.95)) {
            result
                .results
                .push(Metric::new(format!("{name}: {what} p50"), "ms", p50));
            result
                .results
                .push(Metric::new(format!("{name}: {what} p95"), "ms", p95));
        }
    }
    let pairs = summary
        .pairs
        .iter()
        .map(|(p, n)| format!("{p} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    result.notes.push(format!(
        "{name}: selected pairs (caller's local/remote, relay transport): {}",
        if pairs.is_empty() { "none" } else { &pairs }
    ));
}

fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(i).copied()
}

/// A JSON value's field as text, for messages.
fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "?".into(),
    }
}

/// How long a softphone may take from start to its report, at most: connect, ring 1.2 s,
/// talk, hang up, with room for a relay that is slow to allocate.
const CALL_DEADLINE: Duration = Duration::from_secs(45);
