//! `bench cost`: CPU and memory per active call with 1, 10 and 50 calls at once. The measured
//! side runs in its own process: for ringwire a worker (`ringwire-bench worker`, hidden) holding
//! one engine per call that answers what rings, for Chromium a browser with one page per call.
//! Each is first measured idle (the worker before any engine exists; the browser with one blank
//! page), then with every call connected and carrying Opus both ways; per call = (active −
//! idle) / calls, so the per-call vehicle (an engine, a page) is counted. The calling side
//! runs elsewhere (this process; a second browser) and is not measured.

use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use clap::Args;
use ringwire_core::Report;
use ringwire_engine::{AudioDevices, EngineEvent};
use ringwire_media::device::{NullSink, ToneSource};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::procstat;
use super::{chromium, codec_cost, BenchResult, Metric, Options};
use ringwire_testkit::{Lab, Phone};

const WAIT: Duration = Duration::from_secs(20);

/// What one side measured: idle and active CPU (% of a core) and PSS (bytes).
#[derive(Debug, Clone, Copy)]
struct Cost {
    cpu_per_call: f64,
    pss_per_call: f64,
    rss_per_call: f64,
}

pub async fn run(options: &Options) -> anyhow::Result<BenchResult> {
    let (counts, window): (&[usize], _) = if options.quick {
        (&[1], Duration::from_secs(2))
    } else {
        (&[1, 10, 50], Duration::from_secs(10))
    };
    let mut result = BenchResult::new("cost");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut chromium = options.chromium;
    // The 1-call round's CPU per call on each side, to tell whether a larger round fits.
    let (mut ours_at_one, mut theirs_at_one) = (None, None);
    for &n in counts {
        let ours = native(n, window).await?;
        ours_at_one.get_or_insert(ours.cpu_per_call);
        if let Some(load) = ours_at_one.and_then(|c| overload(c, n, cores)) {
            result.notes.push(format!(
                "{n} calls: ringwire's callers and callees together need about {load:.0} % of a core and this machine has {} %, so the figures are taken on a saturated machine and understate the CPU per call",
                cores * 100
            ));
        }
        let theirs = match (chromium, theirs_at_one.and_then(|c| overload(c, n, cores))) {
            (false, _) => None,
            // Measuring a browser that cannot keep up says nothing about its cost per call and
            // on two cores can take the better part of an hour to fail; skip it and say why.
            (true, Some(load)) => {
                result.notes.push(format!(
                    "{n} calls: no Chromium baseline; at its 1-call cost the two browsers would need about {load:.0} % of a core and this machine has {} %",
                    cores * 100
                ));
                None
            }
            (true, None) => match browser(n, window).await {
                Ok(cost) => {
                    theirs_at_one.get_or_insert(cost.cpu_per_call);
                    Some(cost)
                }
                // Ours still stand; the baseline is missing, and says why.
                Err(error) if n > 1 => {
                    let first_line = format!("{error:#}");
                    let first_line = first_line.lines().next().unwrap_or_default();
                    result.notes.push(format!(
                        "{n} calls and more: no Chromium baseline, it could not run {n} calls on this machine ({first_line})"
                    ));
                    chromium = false;
                    None
                }
                Err(error) => return Err(error),
            },
        };
        result.results.push(
            Metric::new(
                format!("CPU per call, {n} calls"),
                "% of a core",
                ours.cpu_per_call,
            )
            .vs(theirs.map(|t| t.cpu_per_call)),
        );
        result.results.push(
            Metric::new(
                format!("memory (PSS) per call, {n} calls"),
                "MB",
                ours.pss_per_call / 1e6,
            )
            .vs(theirs.map(|t| t.pss_per_call / 1e6)),
        );
        result.notes.push(format!(
            "{n} calls: RSS per call ringwire {:.2} MB, Chromium {}",
            ours.rss_per_call / 1e6,
            theirs.map_or("skipped".into(), |t| format!(
                "{:.2} MB",
                t.rss_per_call / 1e6
            ))
        ));
    }
    result.notes.push(format!(
        "measured over {} s after 3 s of warm-up, Opus 20 ms frames both ways, debug or release as built",
        window.as_secs()
    ));
    // Where the codec's share of that goes (no Chromium baseline: its libopus has no DRED).
    let (metrics, notes) = codec_cost::split(options.quick)?;
    result.results.extend(metrics);
    result.notes.extend(notes);
    Ok(result)
}

/// The CPU (% of a core) that `n` calls need when one call costs `cpu_per_call` on each of its
/// two ends (both ends run on this machine), if that is more than 80 % of `cores`; `None` when
/// the round fits.
fn overload(cpu_per_call: f64, n: usize, cores: usize) -> Option<f64> {
    let load = 2.0 * n as f64 * cpu_per_call;
    (load > 0.8 * 100.0 * cores as f64).then_some(load)
}

fn per_call(idle: (f64, procstat::Reading), active: (f64, procstat::Reading), n: usize) -> Cost {
    let n = n as f64;
    Cost {
        cpu_per_call: (active.0 - idle.0).max(0.0) / n,
        pss_per_call: active.1.pss_bytes.saturating_sub(idle.1.pss_bytes) as f64 / n,
        rss_per_call: active.1.rss_bytes.saturating_sub(idle.1.rss_bytes) as f64 / n,
    }
}

async fn native(n: usize, window: Duration) -> anyhow::Result<Cost> {
    let users: Vec<(String, usize)> = (0..n)
        .flat_map(|i| [(format!("caller{i}"), 1), (format!("callee{i}"), 1)])
        .collect();
    let refs: Vec<(&str, usize)> = users.iter().map(|(u, d)| (u.as_str(), *d)).collect();
    let lab = Lab::start(&refs).await?;
    let callee_tokens: Vec<String> = (0..n)
        .map(|i| lab.token(&format!("callee{i}"), 0))
        .collect::<anyhow::Result<_>>()?;
    let mut worker = tokio::process::Command::new(std::env::current_exe()?)
        .arg("worker")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the bench worker")?;
    let pid = worker.id().ok_or_else(|| anyhow!("the worker exited"))?;
    let mut stdin = worker.stdin.take().ok_or_else(|| anyhow!("worker stdin"))?;
    let mut lines = BufReader::new(
        worker
            .stdout
            .take()
            .ok_or_else(|| anyhow!("worker stdout"))?,
    )
    .lines();
    expect(&mut lines, "started").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = procstat::measure(pid, window).await?;
    let go = json!({"url": lab.ws_url, "tokens": callee_tokens});
    stdin.write_all(format!("{go}\n").as_bytes()).await?;
    expect(&mut lines, "ready").await?;

    let url = lab.ws_url.clone();
    let caller_tokens: Vec<String> = (0..n)
        .map(|i| lab.token(&format!("caller{i}"), 0))
        .collect::<anyhow::Result<_>>()?;
    let callers = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Phone>> {
        let mut phones = Vec::new();
        for (i, token) in caller_tokens.into_iter().enumerate() {
            let audio = AudioDevices {
                source: Box::new(ToneSource::new(440.0, 8000)?),
                sink: Box::new(NullSink::default()),
            };
            let phone = Phone::start(&url, token, audio)?;
            phone.engine.start_call(&format!("callee{i}"))?;
            phones.push(phone);
        }
        for phone in &mut phones {
            phone.connected(WAIT)?;
        }
        Ok(phones)
    })
    .await
    .map_err(|e| anyhow!("cost thread: {e}"))??;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let active = procstat::measure(pid, window).await?;
    drop(stdin);
    let _ = tokio::time::timeout(Duration::from_secs(10), worker.wait()).await;
    tokio::task::spawn_blocking(move || callers.into_iter().for_each(|p| p.engine.shutdown()))
        .await
        .map_err(|e| anyhow!("cost thread: {e}"))?;
    lab.stop().await?;
    Ok(per_call(idle, active, n))
}

async fn expect(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    word: &str,
) -> anyhow::Result<()> {
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .map_err(|_| anyhow!("the bench worker did not say {word:?} in time"))??;
    match line {
        Some(l) if l.trim() == word => Ok(()),
        other => Err(anyhow!(
            "the bench worker said {other:?}, expected {word:?}"
        )),
    }
}

async fn browser(n: usize, window: Duration) -> anyhow::Result<Cost> {
    let out = chromium::run(
        "cost",
        &json!({"calls": n, "seconds": window.as_secs(), "warmup_s": 3}),
    )
    .await?;
    let connected = out.get("connected").and_then(Value::as_u64).unwrap_or(0);
    anyhow::ensure!(
        connected as usize == n,
        "Chromium connected {connected} of {n} calls"
    );
    let side = |key: &str| -> anyhow::Result<(f64, u64, u64)> {
        let v = out
            .get(key)
            .ok_or_else(|| anyhow!("chromium cost: no {key}"))?;
        let num = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        Ok((
            num("cpu_percent"),
            num("pss_bytes") as u64,
            num("rss_bytes") as u64,
        ))
    };
    let (idle, active) = (side("idle")?, side("active")?);
    let n = n as f64;
    Ok(Cost {
        cpu_per_call: (active.0 - idle.0).max(0.0) / n,
        pss_per_call: active.1.saturating_sub(idle.1) as f64 / n,
        rss_per_call: active.2.saturating_sub(idle.2) as f64 / n,
    })
}

/// `ringwire-bench worker`: the measured side of `bench cost`. Says `started`, reads one JSON
/// line `{"url", "tokens"}`, starts one engine per token that answers whatever rings, says
/// `ready`, and runs until stdin closes.
#[derive(Args, Debug)]
pub struct WorkerArgs {}

pub fn worker(_args: WorkerArgs) -> anyhow::Result<std::process::ExitCode> {
    use std::io::BufRead;
    println!("started");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let go: Value = serde_json::from_str(&line).context("worker input")?;
    let url = go["url"]
        .as_str()
        .ok_or_else(|| anyhow!("worker input: url"))?;
    let tokens: Vec<String> = go["tokens"]
        .as_array()
        .ok_or_else(|| anyhow!("worker input: tokens"))?
        .iter()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    let (answer_tx, answer_rx) = mpsc::channel();
    let mut phones = Vec::new();
    for token in tokens {
        let audio = AudioDevices {
            source: Box::new(ToneSource::new(660.0, 8000)?),
            sink: Box::new(NullSink::default()),
        };
        phones.push(Phone::start(url, token, audio)?);
    }
    println!("ready");
    // Answer each phone's incoming call as it arrives, from this thread (never from inside a
    // listener), until stdin closes.
    let phones = std::sync::Arc::new(std::sync::Mutex::new(phones));
    let answering = phones.clone();
    std::thread::spawn(move || loop {
        let Ok(mut list) = answering.lock() else {
            return;
        };
        for phone in list.iter_mut() {
            while let Ok(stamped) = phone.events.try_recv() {
                if let EngineEvent::Report(Report::IncomingCall { call_id, .. }) = stamped.event {
                    let _ = phone.engine.answer(call_id);
                }
            }
        }
        drop(list);
        if answer_rx.recv_timeout(Duration::from_millis(20)).is_ok() {
            return;
        }
    });
    let mut rest = String::new();
    while std::io::stdin().lock().read_line(&mut rest)? > 0 {}
    let _ = answer_tx.send(());
    if let Ok(mut list) = phones.lock() {
        list.drain(..).for_each(|p| p.engine.shutdown());
    }
    Ok(std::process::ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::overload;

    #[test]
    fn a_round_is_too_big_when_both_ends_need_more_than_most_of_the_cores() {
        // Chromium's measured 16.8 % per call: 10 calls need 336 % of a core.
        assert_eq!(overload(16.8, 1, 2), None);
        assert!(overload(16.8, 10, 2).is_some_and(|l| (l - 336.0).abs() < 1e-9));
        assert_eq!(overload(16.8, 10, 8), None);
        // 3.5 % per call: 10 calls fit on two cores, 50 do not.
        assert_eq!(overload(3.5, 10, 2), None);
        assert!(overload(3.5, 50, 2).is_some());
    }
}
