//! `ringwire peer`: a softphone in peer mode, whose signaling channel is its own stdin and
//! stdout, one JSON message per line (docs/peer-mode.md): offers, answers, candidates,
//! end-of-candidates and `bye`, in the shapes `RTCSessionDescription` and `RTCIceCandidate`
//! carry. Two of them joined stdout-to-stdin make a call; so does one joined to any other
//! WebRTC stack through a relay that moves those lines. With `--offer` it places the call;
//! otherwise it waits for an offer, rings, and answers after `--accept-after`.
//!
//! stdout carries signaling only: the status line and the report (text, or one JSON object
//! with `--json`) go to stderr, as do refusals of lines that are not messages or do not fit
//! the call (the call goes on).

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use ringwire_core::Report;
use ringwire_engine::{Engine, EngineConfig, EngineEvent, EngineListener, IceServerConfig};
use ringwire_proto::{decode_peer_signal, encode, CallId};
use ringwire_testkit::{ChannelListener, Stamped};

use super::session::{audio_devices, check_dtmf, CallWatch, MediaArgs};

/// `ringwire peer`.
#[derive(Args, Debug)]
pub struct PeerArgs {
    /// Place the call: write the offer first. Without it, wait for an offer on stdin.
    #[arg(long)]
    pub offer: bool,
    #[command(flatten)]
    pub media: MediaArgs,
    /// Let an incoming call ring this long before answering, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub accept_after: u64,
    /// Hang up this many seconds after the call is answered (default: wait for the far end).
    #[arg(long)]
    pub duration: Option<f64>,
    /// A STUN or TURN server to gather candidates from (`stun:host:port`,
    /// `turn:host:port?transport=udp`); repeat for more.
    #[arg(long = "ice-server", value_name = "URL")]
    pub ice_servers: Vec<String>,
    /// The TURN username for `--ice-server` `turn:` URLs.
    #[arg(long, requires = "ice_credential")]
    pub ice_username: Option<String>,
    /// The TURN credential for `--ice-server` `turn:` URLs.
    #[arg(
        long,
        requires = "ice_username",
        hide_env_values = true,
        env = "RINGWIRE_ICE_CREDENTIAL"
    )]
    pub ice_credential: Option<String>,
    /// How long to wait for an offer (or, with `--offer`, for the answer) before giving up, in
    /// seconds.
    #[arg(long, default_value_t = 60.0)]
    pub ring_timeout: f64,
}

/// Hands the engine's outgoing peer messages to the stdout writer, and everything else to the
/// call watch.
struct PeerOut {
    lines: mpsc::Sender<String>,
    rest: ChannelListener,
}

impl EngineListener for PeerOut {
    fn on_event(&self, event: EngineEvent) {
        match event {
            EngineEvent::PeerSignal { signal, .. } => {
                let _ = self.lines.send(encode(&signal));
            }
            other => self.rest.on_event(other),
        }
    }
}

/// `ringwire peer`: exit 0 for a good call, 3 when it was never answered or had no media.
pub fn run_peer(args: PeerArgs) -> anyhow::Result<ExitCode> {
    check_dtmf(&args.media)?;
    let ring_timeout = Duration::try_from_secs_f64(args.ring_timeout)
        .context("--ring-timeout must be a non-negative number of seconds")?;
    let (events_tx, events) = mpsc::channel();
    let (lines_tx, lines) = mpsc::channel::<String>();
    // The engine thread never blocks on a full pipe: lines go out from their own thread.
    let writer = std::thread::spawn(move || {
        let stdout = std::io::stdout();
        for line in lines {
            let mut out = stdout.lock();
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                break;
            }
        }
    });
    let mut config = EngineConfig::peer_only(audio_devices(&args.media)?);
    config.allow_loopback = !args.media.no_loopback;
    config.watch_interfaces = true;
    config.agent.peer_ring_timeout = ring_timeout;
    config.ice_servers = args
        .ice_servers
        .iter()
        .map(|url| IceServerConfig {
            urls: vec![url.clone()],
            username: args.ice_username.clone(),
            credential: args.ice_credential.clone(),
        })
        .collect();
    let listener = PeerOut {
        lines: lines_tx,
        rest: ChannelListener::new("peer", events_tx),
    };
    let engine = Engine::new(config, Arc::new(listener))?;

    // One call per process: every line names it, whoever made it.
    let call_id = CallId::random();
    if args.offer {
        engine.start_peer_call("peer", Some(call_id))?;
        if !args.media.json {
            eprintln!("calling (call {call_id}); offer written to stdout");
        }
    } else if !args.media.json {
        eprintln!("waiting for an offer on stdin (call {call_id})");
    }
    let stdin_closed = read_stdin(&engine, call_id)?;

    let code = if args.offer {
        let watch = CallWatch::new(&args.media, call_id, "ringing", None, args.duration);
        watch
            .report_to_stderr()
            .run(&engine, &events, args.media.record.as_deref())
    } else {
        match wait_incoming(&events, &stdin_closed, ring_timeout)? {
            Some(()) => {
                let answer_at = Instant::now() + Duration::from_millis(args.accept_after);
                let watch = CallWatch::new(
                    &args.media,
                    call_id,
                    "ringing",
                    Some(answer_at),
                    args.duration,
                );
                watch
                    .report_to_stderr()
                    .run(&engine, &events, args.media.record.as_deref())
            }
            None => Ok(ExitCode::from(3)),
        }
    };
    // The engine's last words (a `bye`) go out before the writer stops.
    engine.shutdown();
    let _ = writer.join();
    code
}

/// Feeds stdin's lines to the engine from a thread of their own; the returned receiver gets
/// a value when stdin ends.
fn read_stdin(engine: &Engine, call_id: CallId) -> anyhow::Result<mpsc::Receiver<()>> {
    let (closed_tx, closed) = mpsc::channel();
    let feed = engine.peer_feed();
    std::thread::Builder::new()
        .name("peer-stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            for (n, line) in stdin.lock().lines().enumerate() {
                let Ok(line) = line else { break };
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                let result = decode_peer_signal(line)
                    .map_err(|e| anyhow!("{e}"))
                    .and_then(|signal| Ok(feed.handle_peer_signal(call_id, signal)?));
                if let Err(error) = result {
                    let shown: String = line.chars().take(80).collect();
                    eprintln!("stdin line {}: refused ({error}): {shown}", n + 1);
                }
            }
            let _ = closed_tx.send(());
        })
        .context("cannot start the stdin reader")?;
    Ok(closed)
}

/// Waits for the offer to ring this softphone. `None`: stdin ended, or nothing came in time.
fn wait_incoming(
    events: &mpsc::Receiver<Stamped>,
    stdin_closed: &mpsc::Receiver<()>,
    ring_timeout: Duration,
) -> anyhow::Result<Option<()>> {
    let deadline = Instant::now() + ring_timeout;
    loop {
        if stdin_closed.try_recv().is_ok() {
            eprintln!("stdin ended before an offer arrived");
            return Ok(None);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            eprintln!("no offer within {} s", ring_timeout.as_secs_f64());
            return Ok(None);
        }
        match events.recv_timeout(left.min(Duration::from_millis(100))) {
            Ok(event) => match event.event {
                EngineEvent::Report(Report::IncomingCall { call_id, .. }) => {
                    eprintln!("incoming call (call {call_id})");
                    return Ok(Some(()));
                }
                EngineEvent::Fatal { message } => bail!("engine stopped: {message}"),
                _ => {}
            },
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the engine stopped"),
        }
    }
}
