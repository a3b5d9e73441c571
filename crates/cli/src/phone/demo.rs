//! `ringwire demo`: the newcomer's first run. One process holds a real server (ephemeral
//! loopback port, temporary SQLite store) and three real engines — Alice, and Bob with a phone
//! and a tablet — talking over real WebSockets and real UDP. Alice calls Bob, both of Bob's
//! devices ring, the phone answers, the tablet stops ringing (`answered_elsewhere`), a 440 Hz
//! tone goes one way and 880 Hz the other and each is found in the far end's recording, Alice
//! hangs up, and the server's call record is checked. Every check feeds `"ok"`.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use clap::Args;
use ringwire_core::{CallEndReason, Report};
use ringwire_engine::{AudioDevices, Engine, EngineEvent};
use ringwire_media::device::{ToneSource, WavSink};
use ringwire_proto::{CallId, EndReason};
use ringwire_testkit::{engine_config, wait_for, ChannelListener, Lab, LabUser, Stamped};
use serde_json::{json, Value};

use super::report::heard_hz;

const ALICE_HZ: f64 = 440.0;
const BOB_HZ: f64 = 880.0;
/// How far a measured tone may be from the one sent (the analysis resolves ~1 Hz).
const HZ_TOLERANCE: f64 = 15.0;
const WAIT: Duration = Duration::from_secs(10);

/// `ringwire demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Print one JSON object instead of the timeline.
    #[arg(long)]
    pub json: bool,
    /// How long Bob's devices ring before the phone answers, in milliseconds.
    #[arg(long, default_value_t = 600)]
    pub ring_ms: u64,
    /// How long the call talks before Alice hangs up, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub talk_ms: u64,
    /// Keep the recordings in this directory (default: a temporary one, removed at the end).
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

struct Device {
    name: &'static str,
    token: String,
    tone: f64,
}

/// Runs the scenario; the exit code says whether every check passed.
pub async fn run_demo(args: DemoArgs) -> anyhow::Result<std::process::ExitCode> {
    let lab = Lab::start_with(
        &[
            LabUser {
                name: "alice",
                display_name: Some("Alice"),
                devices: &["laptop"],
            },
            LabUser {
                name: "bob",
                display_name: Some("Bob"),
                devices: &["phone", "tablet"],
            },
        ],
        |_| {},
    )
    .await?;
    let devices = vec![
        Device {
            name: "alice",
            token: lab.token("alice", 0)?,
            tone: ALICE_HZ,
        },
        Device {
            name: "bob-phone",
            token: lab.token("bob", 0)?,
            tone: BOB_HZ,
        },
        Device {
            name: "bob-tablet",
            token: lab.token("bob", 1)?,
            tone: BOB_HZ,
        },
    ];
    let url = lab.ws_url.clone();
    let recordings = match &args.keep {
        Some(path) => {
            std::fs::create_dir_all(path)?;
            path.clone()
        }
        None => lab.dir().to_path_buf(),
    };
    let json_mode = args.json;
    let outcome = tokio::task::spawn_blocking(move || scenario(&args, &url, devices, &recordings))
        .await
        .map_err(|e| anyhow!("demo thread failed: {e}"))??;
    // The call record is written a few ms after the end; poll briefly.
    let store = lab.open_store().await?;
    let mut record = None;
    for _ in 0..50 {
        record = store.call(outcome.call_id).await?;
        if record.as_ref().is_some_and(|r| r.end_reason.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store.close().await;
    lab.stop().await?;
    let mut result = outcome.json;
    let record_ok = record
        .as_ref()
        .is_some_and(|r| r.end_reason == Some(EndReason::Hangup) && r.answered_device.is_some());
    result["call_record"] = match &record {
        Some(r) => json!({
            "end_reason": r.end_reason,
            "answered_device": r.answered_device.map(|d| d.to_string()),
            "devices_reached": r.devices.len(),
        }),
        None => Value::Null,
    };
    result["checks"]["call_record_says_hangup"] = json!(record_ok);
    let ok = result["checks"]
        .as_object()
        .is_some_and(|c| c.values().all(|v| v == &Value::Bool(true)));
    result["ok"] = json!(ok);
    if json_mode {
        println!("{result}");
    } else {
        print_summary(&outcome.timeline, &result);
    }
    Ok(if ok {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

struct Outcome {
    call_id: CallId,
    json: Value,
    timeline: Vec<(f64, &'static str, String)>,
}

fn start(
    device: &Device,
    url: &str,
    recording: &Path,
    tx: mpsc::Sender<Stamped>,
) -> anyhow::Result<Engine> {
    let audio = AudioDevices {
        source: Box::new(ToneSource::new(device.tone, 8000)?),
        sink: Box::new(WavSink::create(recording)?),
    };
    Ok(Engine::new(
        engine_config(url, device.token.clone(), audio),
        Arc::new(ChannelListener::new(device.name, tx)),
    )?)
}

fn scenario(
    args: &DemoArgs,
    url: &str,
    devices: Vec<Device>,
    dir: &Path,
) -> anyhow::Result<Outcome> {
    let (tx, rx) = mpsc::channel();
    let mut seen: Vec<Stamped> = Vec::new();
    let path = |name: &str| dir.join(format!("{name}.wav"));
    let alice = start(&devices[0], url, &path("alice"), tx.clone())?;
    let phone = start(&devices[1], url, &path("bob-phone"), tx.clone())?;
    let tablet = start(&devices[2], url, &path("bob-tablet"), tx)?;
    let mut connected = 0;
    while connected < 3 {
        wait_for(&rx, WAIT, &mut seen, |e| {
            matches!(e.event, EngineEvent::SignalingConnected { .. }).then_some(())
        })
        .ok_or_else(|| anyhow!("the engines did not all connect to the server"))?;
        connected += 1;
    }
    let t0 = Instant::now();
    let call_id = alice.start_call("bob")?;
    let is = |from: &'static str, pick: fn(&Report) -> bool| {
        move |e: &Stamped| match &e.event {
            EngineEvent::Report(r) if e.from == from && pick(r) => Some(()),
            _ => None,
        }
    };
    let (_, ringing_at) = wait_for(
        &rx,
        WAIT,
        &mut seen,
        is("alice", |r| matches!(r, Report::RemoteRinging { .. })),
    )
    .ok_or_else(|| anyhow!("Bob's devices never rang"))?;
    std::thread::sleep(Duration::from_millis(args.ring_ms));
    let accept_at = Instant::now();
    phone.answer(call_id)?;
    let (_, first_audio_at) = wait_for(
        &rx,
        WAIT,
        &mut seen,
        is("alice", |r| matches!(r, Report::FirstAudio { .. })),
    )
    .ok_or_else(|| anyhow!("Alice never heard Bob"))?;
    std::thread::sleep(Duration::from_millis(args.talk_ms));
    alice.end(call_id)?;
    wait_for(
        &rx,
        WAIT,
        &mut seen,
        is("bob-phone", |r| matches!(r, Report::Ended { .. })),
    )
    .ok_or_else(|| anyhow!("Bob's phone never heard the hangup"))?;
    // Stop the engines so the recordings are complete, then collect what is left.
    alice.shutdown();
    phone.shutdown();
    tablet.shutdown();
    while let Ok(event) = rx.try_recv() {
        seen.push(event);
    }

    let end_of = |from: &str| {
        seen.iter().find_map(|e| match &e.event {
            EngineEvent::Report(Report::Ended { reason, .. }) if e.from == from => {
                Some(reason.clone())
            }
            _ => None,
        })
    };
    let reason_str = |r: &Option<CallEndReason>| {
        r.as_ref()
            .and_then(|r| r.as_protocol())
            .map(|p| p.to_string())
    };
    let tablet_end = end_of("bob-tablet");
    let alice_end = end_of("alice");
    let phone_end = end_of("bob-phone");
    let caller_heard = heard_hz(&path("alice"));
    let callee_heard = heard_hz(&path("bob-phone"));
    let near = |hz: Option<f64>, want: f64| hz.is_some_and(|h| (h - want).abs() <= HZ_TOLERANCE);
    let ms = |d: Duration| (d.as_secs_f64() * 10_000.0).round() / 10.0;
    let checks = json!({
        "both_bob_devices_rang": seen.iter().filter(|e| matches!(e.event, EngineEvent::Report(Report::IncomingCall { .. }))).count() == 2,
        "tablet_stopped_with_answered_elsewhere": tablet_end.as_ref().and_then(|r| r.as_protocol()) == Some(EndReason::AnsweredElsewhere),
        "caller_heard_880": near(caller_heard, BOB_HZ),
        "callee_heard_440": near(callee_heard, ALICE_HZ),
        "caller_ended_hangup": alice_end.as_ref().and_then(|r| r.as_protocol()) == Some(EndReason::Hangup),
        "callee_ended_hangup": phone_end.as_ref().and_then(|r| r.as_protocol()) == Some(EndReason::Hangup),
    });
    let json = json!({
        "ok": false,
        "call_id": call_id.to_string(),
        "invite_to_ringing_ms": ms(ringing_at - t0),
        "accept_to_first_audio_ms": ms(first_audio_at.saturating_duration_since(accept_at)),
        "caller_heard_hz": caller_heard,
        "callee_heard_hz": callee_heard,
        "other_device_end_reason": reason_str(&tablet_end),
        "caller_end_reason": reason_str(&alice_end),
        "callee_end_reason": reason_str(&phone_end),
        "checks": checks,
    });
    let mut timeline: Vec<(f64, &'static str, String)> = seen
        .iter()
        .filter(|e| e.at >= t0)
        .filter_map(|e| match &e.event {
            EngineEvent::Report(Report::Quality { .. }) => None,
            EngineEvent::Report(r) => Some((ms(e.at - t0), e.from, describe(r))),
            _ => None,
        })
        .collect();
    timeline.push((
        ms(accept_at - t0),
        "bob-phone",
        "user presses answer".into(),
    ));
    timeline.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(Outcome {
        call_id,
        json,
        timeline,
    })
}

fn describe(report: &Report) -> String {
    match report {
        Report::IncomingCall { from_user, .. } => format!("rings: incoming call from {from_user}"),
        Report::OutgoingStarted { to_user, .. } => format!("calls {to_user}"),
        Report::RemoteRinging { .. } => "hears ringback (a callee device rings)".into(),
        Report::Answered { .. } => "answered; media released".into(),
        Report::Connected { .. } => "connected".into(),
        Report::FirstAudio { .. } => "first audio played".into(),
        Report::Reconnecting { .. } => "reconnecting".into(),
        Report::Reconnected { .. } => "reconnected".into(),
        Report::DtmfReceived { digit, .. } => format!("hears DTMF key {digit}"),
        Report::Quality { .. } => "quality".into(),
        Report::QualityChanged { verdict, .. } => format!(
            "quality {}",
            serde_json::json!(verdict.verdict).as_str().unwrap_or("?")
        ),
        Report::Ended {
            reason,
            ended_locally,
            ..
        } => format!(
            "ended: {}{}",
            reason
                .as_protocol()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "failed".into()),
            if *ended_locally { " (here)" } else { "" }
        ),
        Report::Error { message, .. } => format!("error: {message}"),
    }
}

fn print_summary(timeline: &[(f64, &'static str, String)], result: &Value) {
    println!("ringwire demo: Alice calls Bob (phone + tablet), all on this machine\n");
    for (ms, who, what) in timeline {
        println!("  {ms:>8.1} ms  {who:<11} {what}");
    }
    println!();
    println!(
        "  invite → ringing:        {} ms",
        result["invite_to_ringing_ms"]
    );
    println!(
        "  accept → first audio:    {} ms",
        result["accept_to_first_audio_ms"]
    );
    println!(
        "  Alice heard:             {} Hz (Bob sends 880)",
        fmt_hz(&result["caller_heard_hz"])
    );
    println!(
        "  Bob heard:               {} Hz (Alice sends 440)",
        fmt_hz(&result["callee_heard_hz"])
    );
    println!(
        "  tablet ended with:       {}",
        result["other_device_end_reason"]
    );
    println!("  server call record:      {}", result["call_record"]);
    println!();
    if let Some(checks) = result["checks"].as_object() {
        for (name, passed) in checks {
            println!(
                "  [{}] {name}",
                if passed == &Value::Bool(true) {
                    "ok"
                } else {
                    "FAIL"
                }
            );
        }
    }
    println!(
        "\n{}",
        if result["ok"] == Value::Bool(true) {
            "every check passed"
        } else {
            "SOME CHECKS FAILED"
        }
    );
}

fn fmt_hz(v: &Value) -> String {
    v.as_f64()
        .map(|h| format!("{h:.0}"))
        .unwrap_or_else(|| "nothing".into())
}
