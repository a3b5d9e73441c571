//! `bench setup`: how fast a call connects. N calls in a row between two devices through one
//! server on loopback, native engines and then two tabs of the browser client in Chromium:
//! invite→ringing (the caller learns the callee's phone rings) and accept→first audio (from
//! the callee's answer to the first audible sample the caller plays; also the callee hearing
//! the caller). The callee lets each call ring 300 ms, as a person would, so pre-connect can
//! finish: with it, the answer only releases media that is already flowing.

use std::time::{Duration, Instant};

use anyhow::anyhow;
use ringwire_core::Report;
use ringwire_engine::{AudioDevices, EngineEvent};
use ringwire_media::device::ToneSource;
use serde_json::json;

use super::timed::FirstSound;
use super::{chromium, signal, BenchResult, Metric, Options};
use ringwire_testkit::{Lab, Phone};

const RING_BEFORE_ANSWER: Duration = Duration::from_millis(300);
const WAIT: Duration = Duration::from_secs(10);

#[derive(Default, Debug)]
struct Samples {
    ringing: Vec<f64>,
    first_audio: Vec<f64>,
    callee_hears: Vec<f64>,
}

pub async fn run(options: &Options) -> anyhow::Result<BenchResult> {
    let calls = if options.quick { 3 } else { 30 };
    let lab = Lab::start(&[("alice", 1), ("bob", 1), ("carol", 1), ("dave", 1)]).await?;
    let (url, alice, bob) = (
        lab.ws_url.clone(),
        lab.token("alice", 0)?,
        lab.token("bob", 0)?,
    );
    let native = tokio::task::spawn_blocking(move || native(&url, alice, bob, calls))
        .await
        .map_err(|e| anyhow!("setup thread: {e}"))??;
    let browser = if options.chromium {
        Some(browser(&lab, calls).await?)
    } else {
        None
    };
    lab.stop().await?;

    let mut result = BenchResult::new("setup");
    let b = browser.as_ref();
    for (name, ours, theirs) in [
        ("invite→ringing", &native.ringing, b.map(|s| &s.ringing)),
        (
            "accept→first audio",
            &native.first_audio,
            b.map(|s| &s.first_audio),
        ),
        (
            "accept→callee hears",
            &native.callee_hears,
            b.map(|s| &s.callee_hears),
        ),
    ] {
        for p in [50.0, 95.0] {
            let ours = signal::percentile(ours, p)
                .ok_or_else(|| anyhow!("no native {name} measurement"))?;
            let theirs = theirs.and_then(|t| signal::percentile(t, p));
            result
                .results
                .push(Metric::new(format!("{name} p{p:.0}"), "ms", ours).vs(theirs));
        }
    }
    result.notes.push(format!(
        "{calls} calls each; native: {} of {calls} measured, Chromium: {}",
        native.first_audio.len(),
        browser.as_ref().map_or("skipped".to_string(), |b| format!(
            "{} of {calls} measured",
            b.first_audio.len()
        ))
    ));
    Ok(result)
}

fn ms(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

fn native(url: &str, alice: String, bob: String, calls: usize) -> anyhow::Result<Samples> {
    let (caller_ear, callee_ear) = (FirstSound::default(), FirstSound::default());
    let device = |hz: f64, ear: &FirstSound| -> anyhow::Result<AudioDevices> {
        Ok(AudioDevices {
            source: Box::new(ToneSource::new(hz, 8000)?),
            sink: Box::new(ear.clone()),
        })
    };
    let mut caller = Phone::start(url, alice, device(440.0, &caller_ear)?)?;
    let mut callee = Phone::start(url, bob, device(660.0, &callee_ear)?)?;
    let mut samples = Samples::default();
    for _ in 0..calls {
        caller_ear.arm();
        callee_ear.arm();
        let invite = Instant::now();
        let call_id = caller.engine.start_call("bob")?;
        let (_, ringing) = caller
            .wait(WAIT, |e| {
                matches!(e, EngineEvent::Report(Report::RemoteRinging { .. })).then_some(())
            })
            .ok_or_else(|| anyhow!("the callee never rang"))?;
        let incoming = callee.incoming(WAIT)?;
        std::thread::sleep(RING_BEFORE_ANSWER);
        let accept = Instant::now();
        callee.engine.answer(incoming)?;
        let deadline = accept + WAIT;
        while (caller_ear.heard().is_none() || callee_ear.heard().is_none())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        samples.ringing.push(ms(invite, ringing));
        if let Some(t) = caller_ear.heard() {
            samples.first_audio.push(ms(accept, t));
        }
        if let Some(t) = callee_ear.heard() {
            samples.callee_hears.push(ms(accept, t));
        }
        caller.engine.end(call_id)?;
        for phone in [&mut caller, &mut callee] {
            phone
                .wait(WAIT, |e| {
                    matches!(e, EngineEvent::Report(Report::Ended { .. })).then_some(())
                })
                .ok_or_else(|| anyhow!("a call did not end"))?;
            phone.forget();
        }
    }
    caller.engine.shutdown();
    callee.engine.shutdown();
    Ok(samples)
}

async fn browser(lab: &Lab, calls: usize) -> anyhow::Result<Samples> {
    let dir = tempfile::tempdir()?;
    let tone = dir.path().join("tone.wav");
    let samples: Vec<i16> = (0..signal::RATE * 4)
        .map(|i| {
            let t = i as f64 / signal::RATE as f64;
            (0.5 * 32767.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
        })
        .collect();
    signal::write_pcm(&tone, &samples)?;
    let out = chromium::run(
        "setup",
        &json!({
            "server": lab.http_url,
            "caller_token": lab.token("carol", 0)?,
            "callee_token": lab.token("dave", 0)?,
            "callee_user": "dave",
            "calls": calls,
            "tone_wav": tone,
        }),
    )
    .await?;
    Ok(Samples {
        // From the moment the page sends `invite` (the browser client opens the microphone
        // first, which the native engine does not do before inviting).
        ringing: chromium::numbers(&out, "invite_sent_to_ringing_ms"),
        first_audio: chromium::numbers(&out, "accept_to_first_audio_ms"),
        callee_hears: chromium::numbers(&out, "accept_to_callee_hears_ms"),
    })
}
