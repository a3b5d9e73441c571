//! `bench quality`: PESQ-WB of speech sent through a call under loss and jitter. Both stacks'
//! media goes through the same impairment relay ([`super::relay`], only RTP impaired): native
//! engines reach it through the signaling proxy that rewrites their candidates, the Chromium
//! page through the relay's `/map`. Each condition runs with several seeds, each seed with a
//! different speech clip (voice and text), and reports the mean and spread.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use serde_json::json;

use super::impair::{condition, LinkConfig, Loss};
use super::relay::Relay;
use super::report::Series;
use super::sigproxy::SignalingProxy;
use super::timed::concatenated;
use super::{chromium, pair, pesq, signal, BenchResult, Metric, Options};
use ringwire_testkit::Lab;

fn conditions(quick: bool) -> Vec<LinkConfig> {
    let loss = |loss| condition(loss, Duration::ZERO);
    let jitter = |ms| condition(Loss::None, Duration::from_millis(ms));
    if quick {
        return vec![loss(Loss::None), loss(Loss::bursty(0.1, 3.0))];
    }
    vec![
        loss(Loss::None),
        loss(Loss::Random(0.05)),
        loss(Loss::Random(0.10)),
        loss(Loss::Random(0.20)),
        loss(Loss::Random(0.30)),
        loss(Loss::bursty(0.10, 3.0)),
        loss(Loss::bursty(0.20, 3.0)),
        jitter(30),
        jitter(100),
    ]
}

/// Scores of one condition on one stack.
#[derive(Debug, Default)]
struct Scores {
    pesq: Vec<f64>,
    loss_seen: Vec<f64>,
}

pub async fn run(options: &Options) -> anyhow::Result<BenchResult> {
    let seeds: u64 = if options.quick { 1 } else { 3 };
    let temp = tempfile::tempdir()?;
    let dir = match &options.keep {
        Some(keep) => {
            std::fs::create_dir_all(keep)?;
            keep.clone()
        }
        None => temp.path().to_path_buf(),
    };
    let python = pesq::python().await?;
    let mut clips = Vec::new();
    for i in 0..pesq::clip_count().min(seeds as usize) {
        clips.push(pesq::speech(&dir, i).await?);
    }
    let relay = Arc::new(Relay::start().await?);
    let lab = Lab::start(&[("alice", 1), ("bob", 1)]).await?;
    let proxy = SignalingProxy::start(lab.ws_url.clone(), relay.clone()).await?;

    let mut result = BenchResult::new("quality");
    let (mut ours_curve, mut theirs_curve) = (Vec::new(), Vec::new());
    for (c, condition) in conditions(options.quick).into_iter().enumerate() {
        let (mut ours, mut theirs) = (Scores::default(), Scores::default());
        for seed in 0..seeds {
            let name = |stack: &str| dir.join(format!("{stack}-c{c}-s{seed}.wav"));
            let clip = &clips[seed as usize % clips.len()];
            relay.set(condition, seed + 1);
            let degraded = name("ringwire");
            native(&lab, proxy.url(), clip, &degraded).await?;
            ours.pesq.push(pesq::score(&python, clip, &degraded).await?);
            ours.loss_seen.push(loss_seen(&relay)?);
            if options.chromium {
                relay.set(condition, seed + 1);
                let degraded = name("chromium");
                browser(&relay, clip, &degraded).await?;
                theirs
                    .pesq
                    .push(pesq::score(&python, clip, &degraded).await?);
                theirs.loss_seen.push(loss_seen(&relay)?);
            }
        }
        let label = condition.label();
        let mean = |v: &[f64]| signal::mean(v);
        let ours_mean = mean(&ours.pesq).ok_or_else(|| anyhow!("no native score"))?;
        let theirs_mean = mean(&theirs.pesq);
        result
            .results
            .push(Metric::new(format!("PESQ-WB, {label}"), "MOS-LQO", ours_mean).vs(theirs_mean));
        let describe = |s: &Scores| {
            format!(
                "{:.2} ± {:.2} (n={}, RTP loss seen {:.1}%)",
                mean(&s.pesq).unwrap_or(f64::NAN),
                signal::spread(&s.pesq).unwrap_or(0.0),
                s.pesq.len(),
                mean(&s.loss_seen).unwrap_or(0.0) * 100.0
            )
        };
        result.notes.push(format!(
            "{label}: ringwire {}; Chromium {}",
            describe(&ours),
            if options.chromium {
                describe(&theirs)
            } else {
                "skipped".into()
            }
        ));
        let x = match condition.loss {
            Loss::Random(p) if condition.jitter.is_zero() => Some(p * 100.0),
            Loss::None if condition.jitter.is_zero() => Some(0.0),
            _ => None,
        };
        if let Some(x) = x {
            ours_curve.push([x, ours_mean]);
            if let Some(t) = theirs_mean {
                theirs_curve.push([x, t]);
            }
        }
    }
    drop(proxy);
    lab.stop().await?;
    result.series.push(Series::xy("ringwire", ours_curve));
    if options.chromium {
        result.series.push(Series::xy("chromium", theirs_curve));
    }
    result.notes.push(format!(
        "{seeds} seed(s) per condition, speech from espeak-ng ({} voices), only RTP impaired",
        clips.len()
    ));
    Ok(result)
}

/// The share of RTP the relay dropped in the last run; an error if no media went through it.
fn loss_seen(relay: &Relay) -> anyhow::Result<f64> {
    let s = relay.stats();
    let total = s.rtp_forwarded + s.rtp_dropped;
    anyhow::ensure!(
        total > 100,
        "only {total} RTP packets went through the relay"
    );
    Ok(s.rtp_dropped as f64 / total as f64)
}

async fn native(lab: &Lab, url: &str, clip: &Path, degraded: &Path) -> anyhow::Result<()> {
    let samples: Vec<i16> = signal::read_wav(clip)?
        .into_iter()
        .next()
        .context("empty clip")?
        .iter()
        .map(|s| (s * 32768.0) as i16)
        .collect();
    let (url, a, b) = (
        url.to_string(),
        lab.token("alice", 0)?,
        lab.token("bob", 0)?,
    );
    let run = tokio::task::spawn_blocking(move || {
        pair::run(
            &url,
            a,
            b,
            "bob",
            Arc::new(samples),
            Duration::from_millis(500),
            Duration::from_millis(1500),
        )
    })
    .await
    .map_err(|e| anyhow!("quality thread: {e}"))??;
    signal::write_pcm(degraded, &concatenated(&run.played))
}

async fn browser(relay: &Relay, clip: &Path, degraded: &Path) -> anyhow::Result<()> {
    let out = degraded.with_extension("stereo.wav");
    chromium::run(
        "pair",
        &json!({"send_wav": clip, "out_wav": out, "map_url": relay.map_url(), "lead_ms": 500, "tail_ms": 1500}),
    )
    .await?;
    let channels = signal::read_wav(&out)?;
    let received = channels
        .get(1)
        .ok_or_else(|| anyhow!("the Chromium recording has no second channel"))?;
    signal::write_wav(degraded, &[received])
}
