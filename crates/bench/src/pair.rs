//! One native call that carries a clip one way, for the latency and quality benchmarks: the
//! caller's engine plays the clip into its capture path, the callee's engine plays out what it
//! receives, and both device edges are taped with their times ([`super::timed`]). Fresh engines
//! per run, so no jitter-buffer state carries over from one condition to the next.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use ringwire_core::Report;
use ringwire_engine::{AudioDevices, EngineEvent};
use ringwire_media::device::{NullSink, SilenceSource};

use super::timed::{ClipSource, Tape, TapeSink};
use ringwire_proto::CallId;
use ringwire_testkit::Phone;

const WAIT: Duration = Duration::from_secs(10);

/// What one run taped.
#[derive(Debug)]
pub struct PairRun {
    /// The caller's capture edge.
    pub sent: Vec<(Instant, Vec<i16>)>,
    /// The callee's playout edge.
    pub played: Vec<(Instant, Vec<i16>)>,
    /// When the clip was due to start.
    pub play_at: Instant,
}

/// Places a call from `caller` to `callee_user`, answers it on `callee` and waits until both
/// ends have a media path; the call's id.
pub fn call_answered(
    caller: &mut Phone,
    callee: &mut Phone,
    callee_user: &str,
) -> anyhow::Result<CallId> {
    let call_id = caller.engine.start_call(callee_user)?;
    let incoming = callee.incoming(WAIT)?;
    callee.engine.answer(incoming)?;
    caller.connected(WAIT)?;
    callee.connected(WAIT)?;
    Ok(call_id)
}

/// Calls `callee_user` from `caller_token`'s engine through `ws_url`, answers on
/// `callee_token`'s engine, waits `lead` after both are connected, plays `clip`, keeps taping
/// for `tail` after it ends, and hangs up.
pub fn run(
    ws_url: &str,
    caller_token: String,
    callee_token: String,
    callee_user: &str,
    clip: Arc<Vec<i16>>,
    lead: Duration,
    tail: Duration,
) -> anyhow::Result<PairRun> {
    let clip_time = Duration::from_secs_f64(clip.len() as f64 / 48_000.0);
    let (source, handle) = ClipSource::new(clip);
    let played: Tape = Arc::default();
    let mut caller = Phone::start(
        ws_url,
        caller_token,
        AudioDevices {
            source: Box::new(source),
            sink: Box::new(NullSink::default()),
        },
    )?;
    let mut callee = Phone::start(
        ws_url,
        callee_token,
        AudioDevices {
            source: Box::new(SilenceSource),
            sink: Box::new(TapeSink {
                tape: played.clone(),
            }),
        },
    )?;
    let call_id = call_answered(&mut caller, &mut callee, callee_user)?;
    let play_at = Instant::now() + lead;
    handle.play(play_at);
    std::thread::sleep(lead + clip_time + tail);
    caller.engine.end(call_id)?;
    let _ = caller.wait(WAIT, |e| {
        matches!(e, EngineEvent::Report(Report::Ended { .. })).then_some(())
    });
    caller.engine.shutdown();
    callee.engine.shutdown();
    let sent = std::mem::take(&mut *handle.tape.lock().map_err(|_| anyhow!("tape lock"))?);
    let played = std::mem::take(&mut *played.lock().map_err(|_| anyhow!("tape lock"))?);
    Ok(PairRun {
        sent,
        played,
        play_at,
    })
}
