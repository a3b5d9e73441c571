//! Native calls that carry speech one way for `bench quality`: a caller whose engine plays a
//! clip into its capture path and a callee whose engine's playout is taped ([`native_call`]),
//! or a callee alone that answers a call from a browser ([`native_receiver`]). Besides the tape
//! each run keeps what the benchmark needs from the engines themselves: the sender's socket
//! addresses (to find its direction in the relay's counts), the receiver's quality reports (the
//! jitter buffer's playout delay), and whether the engine restarted ICE or reconnected, which
//! would make a delay figure about something else. Fresh engines per run, so no jitter-buffer
//! state carries over from one run to the next.

use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use ringwire_core::{CallSummary, QualityAction, QualityCause, Report};
use ringwire_engine::{AudioDevices, Engine, EngineEvent};
use ringwire_media::device::{NullSink, SilenceSource};
use ringwire_media::CallQuality;
use ringwire_testkit::{engine_config, ChannelListener, Phone, Stamped};

use super::timed::{ClipSource, Tape, TapeSink};

const WAIT: Duration = Duration::from_secs(10);

/// What one run kept.
#[derive(Debug, Default)]
pub struct Heard {
    /// The receiver's playout edge.
    pub played: Vec<(Instant, Vec<i16>)>,
    /// When the clip was due to start (native sender only).
    pub play_at: Option<Instant>,
    /// The sending engine's media sockets (native sender only).
    pub sender_addrs: Vec<SocketAddr>,
    /// The receiving engine's media sockets.
    pub receiver_addrs: Vec<SocketAddr>,
    /// The receiver's quality reports, as they arrived.
    pub quality: Vec<(Instant, CallQuality)>,
    /// Things that happened to the path during the call (ICE restart, reconnecting).
    pub incidents: Vec<String>,
    /// The receiver's own account of the call once it ended: where each played frame came
    /// from, what the buffer inserted, compressed and stretched.
    pub summary: Option<CallSummary>,
}

/// How a [`native_call`] runs.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// From both sides connected to the clip's start.
    pub lead: Duration,
    /// Taping after the clip ends.
    pub tail: Duration,
    /// The receiver's quality report period (`AgentConfig::quality_interval`); `None`: the
    /// engine's default (2 s).
    pub receiver_quality_interval: Option<Duration>,
}

/// An engine of the lab's kind ([`engine_config`]) with an optional quality period, connected
/// to the server before this returns.
fn phone(
    ws_url: &str,
    token: String,
    audio: AudioDevices,
    quality_interval: Option<Duration>,
) -> anyhow::Result<Phone> {
    let mut config = engine_config(ws_url, token, audio);
    if let Some(interval) = quality_interval {
        config.agent.quality_interval = interval;
    }
    let (tx, events) = mpsc::channel();
    let engine = Engine::new(config, Arc::new(ChannelListener::new("quality", tx)))?;
    let mut phone = Phone {
        engine,
        events,
        seen: Vec::new(),
    };
    phone
        .wait(WAIT, |e| {
            matches!(e, EngineEvent::SignalingConnected { .. }).then_some(())
        })
        .ok_or_else(|| anyhow!("an engine did not connect to the server"))?;
    Ok(phone)
}

/// Keeps what [`Heard`] wants from one receiver event. The incidents come from verdicts, which
/// need a few seconds of a condition: a short call may have had one without a word.
fn note(heard: &mut Heard, event: &Stamped) {
    match &event.event {
        EngineEvent::Report(Report::Quality { quality, .. }) => {
            heard.quality.push((event.at, *quality));
        }
        EngineEvent::Report(Report::QualityChanged { verdict, .. })
            if verdict.action == Some(QualityAction::RestartedIce) =>
        {
            heard.incidents.push("the receiver restarted ICE".into());
        }
        EngineEvent::Report(Report::QualityChanged { verdict, .. })
            if verdict.cause == Some(QualityCause::Cpu) =>
        {
            heard
                .incidents
                .push("the receiver's audio clock missed ticks (verdict cause cpu)".into());
        }
        EngineEvent::Report(Report::Reconnecting { .. }) => {
            heard
                .incidents
                .push("the receiver's path broke (reconnecting)".into());
        }
        EngineEvent::Report(Report::Ended { summary, .. }) => {
            heard.summary = Some((**summary).clone());
        }
        _ => {}
    }
}

/// Calls `callee_user` from `caller_token`'s engine, answers on `callee_token`'s, waits
/// `plan.lead` after both are connected, plays `clip`, keeps taping for `plan.tail` after it
/// ends, and hangs up. `tick` is called about every 20 ms with the time since the clip was due
/// (zero before), to change the network on a schedule.
pub fn native_call(
    ws_url: &str,
    caller_token: String,
    callee_token: String,
    callee_user: &str,
    clip: Arc<Vec<i16>>,
    plan: Plan,
    tick: &mut dyn FnMut(Duration),
) -> anyhow::Result<Heard> {
    let clip_time = Duration::from_secs_f64(clip.len() as f64 / 48_000.0);
    let (source, handle) = ClipSource::new(clip);
    let played: Tape = Arc::default();
    let mut caller = phone(
        ws_url,
        caller_token,
        AudioDevices {
            source: Box::new(source),
            sink: Box::new(NullSink::default()),
        },
        None,
    )?;
    let mut callee = phone(
        ws_url,
        callee_token,
        AudioDevices {
            source: Box::new(SilenceSource),
            sink: Box::new(TapeSink {
                tape: played.clone(),
            }),
        },
        plan.receiver_quality_interval,
    )?;
    let mut heard = Heard {
        sender_addrs: caller.engine.local_addrs().to_vec(),
        receiver_addrs: callee.engine.local_addrs().to_vec(),
        ..Heard::default()
    };
    let call_id = super::pair::call_answered(&mut caller, &mut callee, callee_user)?;
    for event in std::mem::take(&mut callee.seen) {
        note(&mut heard, &event);
    }
    let play_at = Instant::now() + plan.lead;
    handle.play(play_at);
    heard.play_at = Some(play_at);
    let end = play_at + clip_time + plan.tail;
    loop {
        let now = Instant::now();
        tick(now.saturating_duration_since(play_at));
        let Some(left) = end.checked_duration_since(now) else {
            break;
        };
        match callee
            .events
            .recv_timeout(left.min(Duration::from_millis(20)))
        {
            Ok(event) => note(&mut heard, &event),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(anyhow!("the receiving engine stopped mid-call"))
            }
        }
    }
    caller.engine.end(call_id)?;
    let ended =
        |e: &EngineEvent| matches!(e, EngineEvent::Report(Report::Ended { .. })).then_some(());
    let _ = caller.wait(WAIT, ended);
    // The receiver's summary comes with its Ended, and note() keeps it.
    let _ = callee.wait(WAIT, ended);
    for event in std::mem::take(&mut callee.seen) {
        note(&mut heard, &event);
    }
    caller.engine.shutdown();
    callee.engine.shutdown();
    heard.played = std::mem::take(&mut *played.lock().map_err(|_| anyhow!("tape lock"))?);
    Ok(heard)
}

/// A callee alone: starts an engine for `token`, says so on `ready`, answers the first call
/// within `ring_wait`, tapes what it plays until the far end hangs up (at most `talk_limit`).
pub fn native_receiver(
    ws_url: &str,
    token: String,
    ready: tokio::sync::oneshot::Sender<()>,
    ring_wait: Duration,
    talk_limit: Duration,
) -> anyhow::Result<Heard> {
    let played: Tape = Arc::default();
    let mut callee = phone(
        ws_url,
        token,
        AudioDevices {
            source: Box::new(SilenceSource),
            sink: Box::new(TapeSink {
                tape: played.clone(),
            }),
        },
        None,
    )?;
    let mut heard = Heard {
        receiver_addrs: callee.engine.local_addrs().to_vec(),
        ..Heard::default()
    };
    // The browser starts calling once it hears this; a dropped receiver means it gave up.
    ready
        .send(())
        .map_err(|()| anyhow!("nobody waits for the native receiver"))?;
    let incoming = callee
        .incoming(ring_wait)
        .context("waiting for the browser's call")?;
    callee.engine.answer(incoming)?;
    let deadline = Instant::now() + talk_limit;
    let mut ended = false;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match callee.events.recv_timeout(left) {
            Ok(event) => {
                note(&mut heard, &event);
                if matches!(event.event, EngineEvent::Report(Report::Ended { .. })) {
                    ended = true;
                    break;
                }
            }
            Err(_) => break,
        }
    }
    callee.engine.shutdown();
    anyhow::ensure!(
        ended,
        "the browser's call did not end within {talk_limit:?}"
    );
    heard.played = std::mem::take(&mut *played.lock().map_err(|_| anyhow!("tape lock"))?);
    Ok(heard)
}
