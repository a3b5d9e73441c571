//! `bench latency`: mouth-to-ear delay on loopback, from a sample entering the sender's capture
//! path to it leaving the receiver's playout path. A train of 60 ms chirps goes one way through
//! a call; each chirp is found in what was played by cross-correlation, and a match weaker than
//! a normalised correlation of 0.5 is rejected, not counted. Native: the engines' device edges,
//! taped with one clock. Chromium: one page, two peer connections, one AudioContext recording
//! what entered the sending track beside what the receiving track played.

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use serde_json::json;

use super::report::Series;
use super::signal::{self, Echo, Stream};
use super::{chromium, pair, BenchResult, Metric, Options};
use ringwire_testkit::Lab;

pub async fn run(options: &Options) -> anyhow::Result<BenchResult> {
    let chirps = if options.quick { 5 } else { 30 };
    let clip = signal::chirp_train(chirps);
    let lab = Lab::start(&[("alice", 1), ("bob", 1)]).await?;
    let (url, a, b) = (
        lab.ws_url.clone(),
        lab.token("alice", 0)?,
        lab.token("bob", 0)?,
    );
    let native_clip = Arc::new(clip.clone());
    let native = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<Echo>> {
        let run = pair::run(
            &url,
            a,
            b,
            "bob",
            native_clip,
            Duration::from_secs(1),
            Duration::from_secs(1),
        )?;
        let t0 = run.play_at;
        Ok(signal::echoes(
            &Stream::from_frames(&run.sent, t0),
            &Stream::from_frames(&run.played, t0),
        ))
    })
    .await
    .map_err(|e| anyhow!("latency thread: {e}"))??;
    lab.stop().await?;

    let browser = if options.chromium {
        let dir = tempfile::tempdir()?;
        let (send, out) = (dir.path().join("chirps.wav"), dir.path().join("out.wav"));
        signal::write_pcm(&send, &clip)?;
        chromium::run(
            "pair",
            &json!({"send_wav": send, "out_wav": out, "map_url": null, "lead_ms": 1000, "tail_ms": 1000}),
        )
        .await?;
        let channels = signal::read_wav(&out)?;
        anyhow::ensure!(
            channels.len() == 2,
            "the Chromium recording is not 2-channel"
        );
        let mut channels = channels.into_iter();
        let (sent, played) = (
            channels.next().unwrap_or_default(),
            channels.next().unwrap_or_default(),
        );
        Some(signal::echoes(
            &Stream::continuous(sent),
            &Stream::continuous(played),
        ))
    } else {
        None
    };

    tracing::debug!(?native, "native echoes");
    let ours = signal::accepted(&native);
    let theirs = browser.as_deref().map(signal::accepted);
    anyhow::ensure!(
        !ours.is_empty(),
        "no native chirp was found in the playout ({native:?})"
    );
    let mut result = BenchResult::new("latency");
    let stat = |v: &[f64], p: Option<f64>| match p {
        Some(p) => signal::percentile(v, p),
        None => signal::mean(v),
    };
    for (name, p) in [
        ("mouth-to-ear p50", Some(50.0)),
        ("mouth-to-ear p95", Some(95.0)),
        ("mouth-to-ear mean", None),
    ] {
        let value = stat(&ours, p).ok_or_else(|| anyhow!("no measurement"))?;
        let base = theirs.as_deref().and_then(|t| stat(t, p));
        result.results.push(Metric::new(name, "ms", value).vs(base));
    }
    result.results.push(
        Metric::new("chirps measured", "count", ours.len() as f64)
            .vs(theirs.as_ref().map(|t| t.len() as f64)),
    );
    result.notes.push(format!(
        "{chirps} chirps per stack, 20 ms Opus frames both; rejected (correlation < {}): native {}, Chromium {}",
        signal::MIN_CORRELATION,
        native.len() - ours.len(),
        browser
            .as_ref()
            .zip(theirs.as_ref())
            .map_or("skipped".to_string(), |(b, t)| (b.len() - t.len()).to_string())
    ));
    result.series.push(Series::new("ringwire", ours));
    if let Some(t) = theirs {
        result.series.push(Series::new("chromium", t));
    }
    Ok(result)
}
