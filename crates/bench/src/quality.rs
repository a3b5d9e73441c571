//! `bench quality`: PESQ-WB of speech sent through a call under loss and jitter. Both stacks'
//! media goes through the same impairment relay ([`super::relay`], only RTP impaired): native
//! engines reach it through the signaling proxy that rewrites their candidates, the Chromium
//! pages through the relay's `/map`. Each condition runs with five seeds (`--quick`: one), each
//! seed with a different speech clip (voice and text); the figure is the median, the notes give
//! the range and spread.
//!
//! Three rows per loss condition: ringwire ↔ ringwire and Chromium ↔ Chromium (the `pair` page),
//! and native ← Chromium (the browser client calls a native engine, which plays out what
//! Chromium sent with its own defaults), scored against the Chromium pair. The relay counts
//! each direction's RTP, so the bitrate each stack spent per condition comes from one place for
//! both. Last, one call per stack through a loss episode ([`super::recovery`]): how far the
//! playout delay grows and how soon it comes back.
//!
//! A run whose media did not flow (too few RTP packets through the relay, a silent recording)
//! is an error, never a score.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

use super::impair::{condition, LinkConfig, Loss};
use super::recovery::{self, Schedule};
use super::relay::{Relay, Traffic};
use super::report::Series;
use super::sigproxy::SignalingProxy;
use super::speech::{self, Heard, Plan};
use super::timed::concatenated;
use super::{chromium, pesq, signal, BenchResult, Metric, Options};
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

/// Before and after the clip: the receiver settles first (the path is proven and the buffer
/// past its start), and the tail lets the last words play out.
const LEAD: Duration = Duration::from_millis(500);
const TAIL: Duration = Duration::from_millis(1500);

/// One stack's runs of one condition.
#[derive(Debug, Default)]
struct Scores {
    pesq: Vec<f64>,
    loss_seen: Vec<f64>,
    /// RTP payload kb/s of the talking direction, counted by the relay.
    kbps: Vec<f64>,
    packet_rate: Vec<f64>,
    /// The stack's own count of the same (Chromium's getStats `bytesSent`), where it has one.
    own_kbps: Vec<f64>,
    /// The codec the stack sent with (Chromium: the answer's first audio codec), per run.
    own_codecs: Vec<String>,
    /// (packets, payload bytes) per RTP payload type over every run, padded packets, and the
    /// seconds of RTP they span.
    by_type: BTreeMap<u8, (u64, u64)>,
    padded: u64,
    padded_bytes: u64,
    seconds: f64,
}

impl Scores {
    fn push(&mut self, pesq: f64, loss_seen: f64, sent: &Traffic) -> anyhow::Result<()> {
        self.pesq.push(pesq);
        self.loss_seen.push(loss_seen);
        self.kbps.push(
            sent.payload_kbps()
                .ok_or_else(|| anyhow!("the sender's RTP lasted under a second"))?,
        );
        if let Some(rate) = sent.packet_rate() {
            self.packet_rate.push(rate);
        }
        for (pt, (packets, bytes)) in &sent.by_type {
            let count = self.by_type.entry(*pt).or_default();
            count.0 += packets;
            count.1 += bytes;
        }
        self.padded += sent.padded;
        self.padded_bytes += sent.padded_bytes;
        self.seconds += sent
            .last
            .saturating_duration_since(sent.first)
            .as_secs_f64();
        Ok(())
    }

    /// "; by payload type: 111 50/s 38.0 kb/s, 63 22/s 30.1 kb/s; padded 3.0/s 9.2 kb/s" where
    /// the talking direction carried more than one stream (RED, retransmissions) or probes.
    fn by_type(&self) -> String {
        if (self.by_type.len() <= 1 && self.padded == 0) || self.seconds <= 0.0 {
            return String::new();
        }
        let types: Vec<String> = self
            .by_type
            .iter()
            .map(|(pt, (packets, bytes))| {
                format!(
                    "{pt} {:.1}/s {:.1} kb/s",
                    *packets as f64 / self.seconds,
                    *bytes as f64 * 8.0 / self.seconds / 1000.0
                )
            })
            .collect();
        format!(
            "; by payload type (padded included): {}; padded packets (probes, not in the kb/s) \
             {:.1}/s {:.1} kb/s",
            types.join(", "),
            self.padded as f64 / self.seconds,
            self.padded_bytes as f64 * 8.0 / self.seconds / 1000.0
        )
    }

    fn median(&self) -> Option<f64> {
        median(&self.pesq)
    }

    /// "median 3.12 (2.95–3.30, sd 0.13, n=5); 38.4 kb/s RTP payload, 50 packets/s; RTP loss
    /// seen 10.2%".
    fn describe(&self) -> String {
        let mut spread = Vec::new();
        if let (Some(lo), Some(hi), true) = (min(&self.pesq), max(&self.pesq), self.pesq.len() > 1)
        {
            spread.push(format!("{lo:.2}–{hi:.2}"));
        }
        if let Some(sd) = signal::spread(&self.pesq) {
            spread.push(format!("sd {sd:.2}"));
        }
        spread.push(format!("n={}", self.pesq.len()));
        let mut codecs: Vec<&str> = self.own_codecs.iter().map(String::as_str).collect();
        codecs.sort_unstable();
        codecs.dedup();
        let own = median(&self.own_kbps).map_or(String::new(), |k| {
            let sent_with = if codecs.is_empty() {
                String::new()
            } else {
                format!(", sent {}", codecs.join(" and "))
            };
            format!(" (getStats bytesSent: {k:.1} kb/s{sent_with})")
        });
        format!(
            "median {:.2} ({}); {:.1} kb/s RTP payload{own}, {:.0} packets/s{}; RTP loss seen {:.1}%",
            self.median().unwrap_or(f64::NAN),
            spread.join(", "),
            median(&self.kbps).unwrap_or(f64::NAN),
            median(&self.packet_rate).unwrap_or(f64::NAN),
            self.by_type(),
            signal::mean(&self.loss_seen).unwrap_or(0.0) * 100.0
        )
    }

    fn detail(&self) -> Value {
        json!({
            "pesq": self.pesq,
            "rtp_loss_seen": self.loss_seen,
            "payload_kbps": self.kbps,
            "packets_per_s": self.packet_rate,
            "getstats_kbps": self.own_kbps,
            "sent_codecs": self.own_codecs,
            "by_payload_type": self.by_type.iter().map(|(pt, (p, b))| json!({"pt": pt, "packets": p, "payload_bytes": b})).collect::<Vec<_>>(),
            "padded_packets": self.padded,
            "padded_payload_bytes": self.padded_bytes,
            "rtp_seconds": self.seconds,
        })
    }
}

/// The middle value (the mean of the two middle ones for an even count); `None` for no data.
fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

fn min(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::min)
}

fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::max)
}

/// The 1-minute load average: other work on the machine starves audio threads, and the
/// figures should say when it was there.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

pub async fn run(options: &Options) -> anyhow::Result<BenchResult> {
    let started = Instant::now();
    let load_at_start = load_average();
    let seeds: u64 = if options.quick { 1 } else { 5 };
    let schedule = if options.quick {
        Schedule::quick()
    } else {
        Schedule::full()
    };
    let temp = tempfile::tempdir()?;
    let dir = match &options.keep {
        Some(keep) => {
            std::fs::create_dir_all(keep)?;
            keep.clone()
        }
        None => temp.path().to_path_buf(),
    };
    let python = pesq::python().await?;
    // Every clip is made even for one seed: the loss episode's call talks through all of them.
    let mut clips = Vec::new();
    for i in 0..pesq::clip_count() {
        clips.push(pesq::speech(&dir, i).await?);
    }
    anyhow::ensure!(
        seeds as usize <= clips.len(),
        "{seeds} seeds need as many distinct clips, there are {}",
        clips.len()
    );
    let relay = Arc::new(Relay::start().await?);
    let lab = Lab::start(&[("alice", 1), ("bob", 1), ("carol", 1), ("dave", 1)]).await?;
    let proxy = SignalingProxy::start(lab.ws_url.clone(), relay.clone()).await?;

    let mut result = BenchResult::new("quality");
    let mut detail = Vec::new();
    let (mut ours_curve, mut theirs_curve, mut theirs_red_curve) =
        (Vec::new(), Vec::new(), Vec::new());
    for (c, condition) in conditions(options.quick).into_iter().enumerate() {
        let label = condition.label();
        // Loss conditions (the clean path included) also get the native ← Chromium row.
        let from_chromium = options.chromium && condition.jitter.is_zero();
        let (mut ours, mut theirs, mut theirs_red, mut mixed) = (
            Scores::default(),
            Scores::default(),
            Scores::default(),
            Scores::default(),
        );
        for seed in 0..seeds {
            let name = |stack: &str| dir.join(format!("{stack}-c{c}-s{seed}.wav"));
            let clip = &clips[seed as usize];
            let context = |stack: &str| format!("{label}, seed {}, {stack}", seed + 1);

            relay.set(condition, seed + 1);
            let degraded = name("ringwire");
            let heard = native(&lab, proxy.url(), clip, &degraded)
                .await
                .with_context(|| context("ringwire ↔ ringwire"))?;
            let sent = sender(&relay, |t| heard.sender_addrs.contains(&t.from))?;
            let score = pesq::score(&python, clip, &degraded).await?;
            ours.push(score, loss_seen(&relay)?, &sent)?;

            // Chromium as a web app gets it, then as a tuned one (RED preferred) gets it.
            for red_first in [false, true].into_iter().filter(|_| options.chromium) {
                let (stack, scores) = if red_first {
                    ("chromium-red", &mut theirs_red)
                } else {
                    ("chromium", &mut theirs)
                };
                relay.set(condition, seed + 1);
                let degraded = name(stack);
                let page = browser(&relay, clip, &degraded, red_first)
                    .await
                    .with_context(|| context(stack))?;
                // Only the pair page's A sends (B has no track): its direction is the one
                // that carried RTP.
                let sent = sender(&relay, |_| true)?;
                let score = pesq::score(&python, clip, &degraded).await?;
                scores.push(score, loss_seen(&relay)?, &sent)?;
                scores.own_kbps.extend(own_kbps(&page));
                scores.own_codecs.extend(own_codec(&page));
            }

            if from_chromium {
                relay.set(condition, seed + 1);
                let degraded = name("native-from-chromium");
                let (heard, page) = native_from_browser(&lab, &relay, clip, &degraded)
                    .await
                    .with_context(|| context("native ← Chromium"))?;
                let sent = sender(&relay, |t| heard.receiver_addrs.contains(&t.to))?;
                let score = pesq::score(&python, clip, &degraded).await?;
                mixed.push(score, loss_seen(&relay)?, &sent)?;
                mixed.own_kbps.extend(own_kbps(&page));
                mixed.own_codecs.extend(own_codec(&page));
            }
        }
        let ours_median = ours.median().ok_or_else(|| anyhow!("no native score"))?;
        let theirs_median = theirs.median();
        let theirs_red_median = theirs_red.median();
        result.results.push(
            Metric::new(format!("PESQ-WB, {label}"), "MOS-LQO", ours_median).vs(theirs_median),
        );
        result.results.push(
            Metric::new(
                format!("PESQ-WB, {label}, vs Chromium RED first"),
                "MOS-LQO",
                ours_median,
            )
            .vs(theirs_red_median),
        );
        if from_chromium {
            let mixed_median = mixed
                .median()
                .ok_or_else(|| anyhow!("no native ← Chromium score"))?;
            result.results.push(
                Metric::new(
                    format!("PESQ-WB, {label}, native ← Chromium"),
                    "MOS-LQO",
                    mixed_median,
                )
                .vs(theirs_median),
            );
        }
        let chromium = |scores: &Scores| {
            if options.chromium {
                scores.describe()
            } else {
                "skipped".to_string()
            }
        };
        let mut note = format!(
            "{label}: ringwire ↔ ringwire {}; Chromium ↔ Chromium {}; Chromium ↔ Chromium, RED first {}",
            ours.describe(),
            chromium(&theirs),
            chromium(&theirs_red),
        );
        if from_chromium {
            note.push_str(&format!("; native ← Chromium {}", mixed.describe()));
        }
        result.notes.push(note);
        detail.push(json!({
            "condition": label,
            "ringwire": ours.detail(),
            "chromium": theirs.detail(),
            "chromium_red_first": theirs_red.detail(),
            "native_from_chromium": mixed.detail(),
        }));
        let x = match condition.loss {
            Loss::Random(p) if condition.jitter.is_zero() => Some(p * 100.0),
            Loss::None if condition.jitter.is_zero() => Some(0.0),
            _ => None,
        };
        if let Some(x) = x {
            ours_curve.push([x, ours_median]);
            if let Some(t) = theirs_median {
                theirs_curve.push([x, t]);
            }
            if let Some(t) = theirs_red_median {
                theirs_red_curve.push([x, t]);
            }
        }
    }

    let recovery_detail = delay_recovery(
        options,
        &mut result,
        &lab,
        proxy.url(),
        &relay,
        &dir,
        &clips,
        schedule,
    )
    .await
    .context("the loss-episode run")?;

    drop(proxy);
    lab.stop().await?;
    result.series.push(Series::xy("ringwire", ours_curve));
    if options.chromium {
        result.series.push(Series::xy("chromium", theirs_curve));
        result
            .series
            .push(Series::xy("chromium, RED first", theirs_red_curve));
    }
    result.notes.push(format!(
        "{seeds} seed(s) per condition, each with its own espeak-ng clip ({} voices); the figure \
         is the median; only RTP impaired; native ← Chromium: the browser client calls a native \
         engine and sends with Chromium's defaults, its baseline is Chromium ↔ Chromium",
        clips.len()
    ));
    result.notes.push(
        "kb/s: RTP payload of the talking direction as it entered the relay (dropped packets \
         included: the sender spent them), from its first packet to its last, past the RTP \
         header and extensions, without padded packets (bandwidth probes); it includes RED \
         copies and the SRTP tag (10 or 16 B a packet), which getStats bytesSent excludes."
            .to_string(),
    );
    result.notes.push(format!(
        "this run took {:.0} s on {} cores; 1-minute load average {load_at_start} at the start, \
         {} at the end",
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    ));
    result.detail = Some(json!({ "conditions": detail, "delay_recovery": recovery_detail }));
    Ok(result)
}

/// The loss-episode runs and their metrics; returns their samples for the detail.
#[allow(clippy::too_many_arguments)]
async fn delay_recovery(
    options: &Options,
    result: &mut BenchResult,
    lab: &Lab,
    proxy_url: &str,
    relay: &Arc<Relay>,
    dir: &Path,
    clips: &[std::path::PathBuf],
    schedule: Schedule,
) -> anyhow::Result<Value> {
    let mut pcm = Vec::new();
    for clip in clips {
        pcm.push(read_pcm(clip)?);
    }
    // Speech the whole way: a jitter buffer treats a talker differently from silence.
    let talk = schedule.total().as_secs_f64() + 1.5;
    let speech = recovery::long_speech(&pcm, talk)?;
    let ours = recovery::native(
        lab,
        proxy_url,
        Arc::new(speech.clone()),
        relay.clone(),
        schedule,
        1,
    )
    .await
    .context("ringwire ↔ ringwire")?;
    let theirs = if options.chromium {
        Some(
            recovery::chromium(dir, &speech, relay.clone(), schedule, 1)
                .await
                .context("Chromium ↔ Chromium")?,
        )
    } else {
        None
    };
    let r = &ours.recovery;
    let t = theirs.as_ref().map(|t| &t.recovery);
    let episode = format!("{:.0} s of 20% bursty loss", schedule.episode.as_secs_f64());
    result.results.push(
        Metric::new(
            "playout delay, clean path before the loss episode (median)",
            "ms",
            r.clean_ms,
        )
        .vs(t.map(|t| t.clean_ms)),
    );
    result.results.push(
        Metric::new(format!("playout delay, peak in {episode}"), "ms", r.peak_ms)
            .vs(t.map(|t| t.peak_ms)),
    );
    result.results.push(
        Metric::new(
            format!(
                "playout delay, back within {:.0} ms of clean after the episode",
                recovery::TOLERANCE_MS
            ),
            "s",
            r.recovery_s,
        )
        .vs(t.map(|t| t.recovery_s)),
    );
    result.results.push(
        Metric::new(
            format!(
                "playout delay, time above clean + {:.0} ms from the episode on",
                recovery::TOLERANCE_MS
            ),
            "s",
            r.above_s,
        )
        .vs(t.map(|t| t.above_s)),
    );
    let describe = |run: &recovery::Run, period: Duration| {
        let r = &run.recovery;
        let mut s = format!(
            "{} + {} + {} samples every {} ms",
            r.samples[0],
            r.samples[1],
            r.samples[2],
            period.as_millis()
        );
        if !r.recovered {
            s.push_str("; NOT back by the end of the run, the recovery figure is a lower bound");
        }
        for incident in &run.notes {
            s.push_str(&format!("; {incident}"));
        }
        s
    };
    result.notes.push(format!(
        "loss episode: {:.0} s clean, {episode} (mean burst 3), {:.0} s clean; playout delay = \
         ringwire's jitter_buffer_ms from its quality report (period set to {} ms for this run; \
         the default is 2 s), Chromium's Δ jitterBufferDelay / Δ jitterBufferEmittedCount over \
         each getStats interval; ringwire: {}; Chromium: {}",
        schedule.before.as_secs_f64(),
        schedule.after.as_secs_f64(),
        recovery::SAMPLE.as_millis(),
        describe(&ours, recovery::SAMPLE),
        theirs.as_ref().map_or("skipped".to_string(), |t| describe(
            t,
            recovery::CHROMIUM_SAMPLE
        )),
    ));
    Ok(json!({
        "schedule_s": [schedule.before.as_secs_f64(), schedule.episode.as_secs_f64(), schedule.after.as_secs_f64()],
        "ringwire": ours.samples,
        "chromium": theirs.as_ref().map(|t| t.samples.clone()),
    }))
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

/// The talking direction's traffic: of the directions `pick` accepts, the one with the most
/// packets.
fn sender(relay: &Relay, pick: impl Fn(&Traffic) -> bool) -> anyhow::Result<Traffic> {
    relay
        .traffic()
        .into_iter()
        .filter(|t| pick(t))
        .max_by_key(|t| t.packets)
        .ok_or_else(|| anyhow!("no RTP from the sender crossed the relay"))
}

/// The codec Chromium sent with, as the answer put it first (`opus/48000/2`, `red/48000/2`).
fn own_codec(page: &Value) -> Option<String> {
    Some(page.get("negotiated")?.as_str()?.to_owned())
}

/// kb/s of Chromium's own outbound-rtp `bytesSent` between the two counts a page returned.
fn own_kbps(page: &Value) -> Option<f64> {
    let at = |which: &str, key: &str| page.get("sender")?.get(which)?.get(key)?.as_f64();
    let bytes = at("end", "bytesSent")? - at("start", "bytesSent")?;
    let ms = at("end", "t")? - at("start", "t")?;
    (ms >= 1000.0 && bytes >= 0.0).then(|| bytes * 8.0 / ms)
}

fn read_pcm(clip: &Path) -> anyhow::Result<Vec<i16>> {
    Ok(signal::read_wav(clip)?
        .into_iter()
        .next()
        .context("empty clip")?
        .iter()
        .map(|s| (s * 32768.0).clamp(-32768.0, 32767.0) as i16)
        .collect())
}

async fn native(lab: &Lab, url: &str, clip: &Path, degraded: &Path) -> anyhow::Result<Heard> {
    let samples = read_pcm(clip)?;
    let (url, a, b) = (
        url.to_string(),
        lab.token("alice", 0)?,
        lab.token("bob", 0)?,
    );
    let heard = tokio::task::spawn_blocking(move || {
        speech::native_call(
            &url,
            a,
            b,
            "bob",
            Arc::new(samples),
            Plan {
                lead: LEAD,
                tail: TAIL,
                receiver_quality_interval: None,
            },
            &mut |_| {},
        )
    })
    .await
    .map_err(|e| anyhow!("quality thread: {e}"))??;
    keep_heard(degraded, &heard)?;
    Ok(heard)
}

/// Writes what the receiving engine played to `degraded`, and beside it
/// (`<name>.receiver.json`) its quality reports and its end-of-call summary, so a kept run
/// that scored low can be told apart: concealment, inserted frames, compression, a moving
/// delay.
fn keep_heard(degraded: &Path, heard: &Heard) -> anyhow::Result<()> {
    signal::write_pcm(degraded, &concatenated(&heard.played))?;
    let first = heard.played.first().map(|(at, _)| *at);
    let since = |at: Instant| first.map(|f| at.saturating_duration_since(f).as_millis() as u64);
    let account = json!({
        "summary": heard.summary,
        "quality": heard.quality.iter().map(|(at, q)| json!({"ms_since_first_played": since(*at), "quality": q})).collect::<Vec<_>>(),
        "incidents": heard.incidents,
    });
    std::fs::write(
        degraded.with_extension("receiver.json"),
        serde_json::to_string_pretty(&account)?,
    )
    .with_context(|| {
        format!(
            "writing the receiver's account beside {}",
            degraded.display()
        )
    })
}

/// Chromium ↔ Chromium in one page through the relay; `red_first`: both peers prefer RFC 2198
/// RED, so the sender sends it (by default Chromium negotiates RED but sends plain Opus).
async fn browser(
    relay: &Relay,
    clip: &Path,
    degraded: &Path,
    red_first: bool,
) -> anyhow::Result<Value> {
    let out = degraded.with_extension("stereo.wav");
    let page = chromium::run(
        "pair",
        &json!({"send_wav": clip, "out_wav": out, "map_url": relay.map_url(),
                "lead_ms": LEAD.as_millis() as u64, "tail_ms": TAIL.as_millis() as u64,
                "red_first": red_first}),
    )
    .await?;
    let channels = signal::read_wav(&out)?;
    let received = channels
        .get(1)
        .ok_or_else(|| anyhow!("the Chromium recording has no second channel"))?;
    signal::write_wav(degraded, &[received])?;
    Ok(page)
}

/// The browser client (as carol) calls a native engine (dave) that records what it plays. The
/// engine signals straight to the server: the page's shim swaps every candidate, its own and
/// the engine's, for the relay's stand-ins, so both directions cross the relay.
async fn native_from_browser(
    lab: &Lab,
    relay: &Relay,
    clip: &Path,
    degraded: &Path,
) -> anyhow::Result<(Heard, Value)> {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (url, token) = (lab.ws_url.clone(), lab.token("dave", 0)?);
    let receiver = tokio::task::spawn_blocking(move || {
        speech::native_receiver(
            &url,
            token,
            ready_tx,
            Duration::from_secs(40),
            Duration::from_secs(60),
        )
    });
    if ready_rx.await.is_err() {
        // It stopped before it was ready: its own error says why.
        receiver
            .await
            .map_err(|e| anyhow!("receiver thread: {e}"))??;
        bail!("the native receiver stopped before it was ready");
    }
    let page = chromium::run(
        "to-native",
        &json!({
            "server": lab.http_url,
            "token": lab.token("carol", 0)?,
            "callee_user": "dave",
            "map_url": relay.map_url(),
            "send_wav": clip,
            "lead_ms": LEAD.as_millis() as u64,
            "tail_ms": TAIL.as_millis() as u64,
        }),
    )
    .await;
    let heard = receiver
        .await
        .map_err(|e| anyhow!("receiver thread: {e}"))?;
    // The browser's failure explains the receiver's (it never called, or never hung up).
    let page = page?;
    let heard = heard?;
    keep_heard(degraded, &heard)?;
    Ok((heard, page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn the_median_is_the_middle_value() {
        assert_eq!(median(&[3.0, 1.0, 2.0, 5.0, 4.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN, 1.0]), Some(1.0));
    }

    #[test]
    fn chromiums_own_bitrate_comes_from_the_two_counts() {
        let page = json!({"sender": {"start": {"t": 1000.0, "bytesSent": 1000},
                                     "end": {"t": 11000.0, "bytesSent": 41000}}});
        assert_eq!(own_kbps(&page), Some(32.0));
        assert_eq!(
            own_kbps(&json!({"sender": {"start": null, "end": null}})),
            None
        );
        assert_eq!(own_kbps(&json!({})), None);
    }

    #[test]
    fn scores_are_described_with_median_range_and_bitrate() {
        let now = Instant::now();
        let addr: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        let sent = Traffic {
            from: addr,
            to: addr,
            packets: 501,
            wire_bytes: 60_000,
            payload_bytes: 50_000,
            padded: 0,
            padded_bytes: 0,
            by_type: BTreeMap::from([(111, (501, 50_000))]),
            first: now,
            last: now + Duration::from_secs(10),
        };
        let mut s = Scores::default();
        for p in [3.0, 3.4, 3.2] {
            s.push(p, 0.1, &sent).expect("push");
        }
        let text = s.describe();
        assert!(
            text.starts_with("median 3.20 (3.00–3.40, sd 0.20, n=3)"),
            "{text}"
        );
        assert!(
            text.contains("40.0 kb/s RTP payload, 50 packets/s"),
            "{text}"
        );
        assert!(text.contains("RTP loss seen 10.0%"), "{text}");
    }
}
