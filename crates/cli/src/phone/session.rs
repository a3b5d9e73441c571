//! `ringwire call` and `ringwire answer`: one engine, one call, from the first event to the
//! report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use ringwire_core::{CallState, QualityChange, Report};
use ringwire_engine::{
    AudioDevices, Engine, EngineConfig, EngineEvent, EngineListener, SignalingConfig,
};
use ringwire_media::device::{
    AudioSink, AudioSource, NullSink, SilenceSource, ToneSource, WavSink, WavSource,
};
use ringwire_media::CallQuality;
use ringwire_proto::{CallId, DeviceId};

use super::report::{call_report, heard_hz, print_text, status_line};
use ringwire_testkit::{ChannelListener, Stamped};

/// Options every softphone command shares.
#[derive(Args, Debug, Clone)]
pub struct PhoneArgs {
    /// Server: http(s)://host:port or ws(s)://host:port/v1/ws.
    #[arg(long, env = "RINGWIRE_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// This device's token (from `ringwire device add`).
    #[arg(long, env = "RINGWIRE_TOKEN", hide_env_values = true)]
    pub token: String,
    #[command(flatten)]
    pub media: MediaArgs,
}

/// The audio and report options of every softphone, `ringwire peer` included.
#[derive(Args, Debug, Clone)]
pub struct MediaArgs {
    /// Send a sine tone of this frequency (Hz) as the microphone.
    #[arg(long, conflicts_with = "play")]
    pub tone: Option<f64>,
    /// Send this WAV file as the microphone (any rate, mono or stereo, 16-bit).
    #[arg(long)]
    pub play: Option<PathBuf>,
    /// Record what the far end sends to this WAV file (48 kHz mono).
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Print one JSON call report instead of the status line and text report.
    #[arg(long)]
    pub json: bool,
    /// Send these DTMF keys (0-9 * # A-D, `,` pauses 2 s) once the call is connected.
    #[arg(long, value_name = "DIGITS")]
    pub send_dtmf: Option<String>,
    /// Do not offer 127.0.0.1 as a media candidate (it is offered by default so two
    /// softphones on one machine connect without a network).
    #[arg(long)]
    pub no_loopback: bool,
}

/// `ringwire call USER`.
#[derive(Args, Debug)]
pub struct CallArgs {
    /// The user to call (every device of theirs rings).
    pub user: String,
    #[command(flatten)]
    pub phone: PhoneArgs,
    /// Hang up this many seconds after the call is answered (default: wait for the far end).
    #[arg(long)]
    pub duration: Option<f64>,
}

/// `ringwire answer`.
#[derive(Args, Debug)]
pub struct AnswerArgs {
    #[command(flatten)]
    pub phone: PhoneArgs,
    /// Let the call ring this long before answering, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub accept_after: u64,
    /// Hang up this many seconds after answering (default: wait for the far end).
    #[arg(long)]
    pub duration: Option<f64>,
}

/// The signaling URL for what the user typed.
pub fn ws_url(server: &str) -> anyhow::Result<String> {
    let (scheme, rest) = server.split_once("://").ok_or_else(|| {
        anyhow!("--server {server:?}: expected http://host:port or ws://host:port")
    })?;
    let scheme = match scheme {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => bail!("--server: unsupported scheme {other:?}; use http, https, ws or wss"),
    };
    let rest = rest.trim_end_matches('/');
    let path = if rest.contains('/') { "" } else { "/v1/ws" };
    Ok(format!("{scheme}://{rest}{path}"))
}

/// The microphone and speaker the flags ask for.
pub fn audio_devices(args: &MediaArgs) -> anyhow::Result<AudioDevices> {
    let source: Box<dyn AudioSource> = match (&args.tone, &args.play) {
        (Some(hz), _) => Box::new(ToneSource::new(*hz, 8000).context("--tone")?),
        (None, Some(path)) => {
            Box::new(WavSource::open(path).with_context(|| format!("--play {}", path.display()))?)
        }
        (None, None) => Box::new(SilenceSource),
    };
    let sink: Box<dyn AudioSink> = match &args.record {
        Some(path) => {
            Box::new(WavSink::create(path).with_context(|| format!("--record {}", path.display()))?)
        }
        None => Box::new(NullSink::default()),
    };
    Ok(AudioDevices { source, sink })
}

/// Starts an engine for the flags; events arrive on the returned channel.
pub fn start_engine(
    args: &PhoneArgs,
    name: &'static str,
) -> anyhow::Result<(Engine, mpsc::Receiver<Stamped>)> {
    check_dtmf(&args.media)?;
    let (tx, rx) = mpsc::channel();
    let engine = engine_with_listener(args, Arc::new(ChannelListener::new(name, tx)))?;
    Ok((engine, rx))
}

/// An engine for the flags whose events go to `listener`, on the engine thread.
pub fn engine_with_listener(
    args: &PhoneArgs,
    listener: Arc<dyn EngineListener>,
) -> anyhow::Result<Engine> {
    let signaling = SignalingConfig::new(ws_url(&args.server)?, args.token.clone());
    let mut config = EngineConfig::new(signaling, audio_devices(&args.media)?);
    config.allow_loopback = !args.media.no_loopback;
    // A desktop has no OS callback to forward: the engine watches the interfaces itself, so
    // a call survives moving from one network to another.
    config.watch_interfaces = true;
    Ok(Engine::new(config, listener)?)
}

/// Waits until the server accepted the device (its `welcome`), or fails with what it said.
/// Returns the user and device id the server knows this token as.
fn wait_connected(rx: &mpsc::Receiver<Stamped>) -> anyhow::Result<(String, DeviceId)> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .ok_or_else(|| anyhow!("the server did not answer within 15 s"))?;
        let event = rx
            .recv_timeout(left)
            .map_err(|_| anyhow!("the server did not answer within 15 s"))?;
        match event.event {
            EngineEvent::SignalingConnected { user, device_id } => return Ok((user, device_id)),
            EngineEvent::Fatal { message } => bail!("the server refused this device: {message}"),
            EngineEvent::SignalingDisconnected { reason, .. } => {
                tracing::debug!(%reason, "signaling not up yet; retrying");
            }
            EngineEvent::Report(_)
            | EngineEvent::SignalingPaused
            | EngineEvent::PeerSignal { .. } => {}
        }
    }
}

/// Refuses bad `--send-dtmf` keys before anything starts.
pub fn check_dtmf(args: &MediaArgs) -> anyhow::Result<()> {
    if let Some(digits) = &args.send_dtmf {
        ringwire_media::dtmf::parse_dial_string(digits).context("--send-dtmf")?;
    }
    Ok(())
}

/// What happens when a call runs: the live status line and, at the end, the report.
pub struct CallWatch {
    json: bool,
    /// Print the report on stderr (`ringwire peer`, whose stdout is its signaling channel).
    report_to_stderr: bool,
    call_id: CallId,
    answered_at: Option<Instant>,
    /// When to answer a ringing incoming call (`answer --accept-after`). Waiting inside the
    /// watch, not before it, lets a call that ends while it rings (answered elsewhere,
    /// cancelled) end the softphone at once.
    answer_at: Option<Instant>,
    state: &'static str,
    quality: Option<CallQuality>,
    hang_up_after: Option<Duration>,
    /// Keys to send once connected (`--send-dtmf`), taken when sent.
    dtmf_to_send: Option<String>,
    /// Keys the far end pressed, in order.
    dtmf_received: String,
    /// When the watch started, and every quality verdict change since.
    started: Instant,
    verdicts: Vec<(Duration, QualityChange)>,
}

impl CallWatch {
    /// The watch of `call_id`, starting in `state`; `duration_s` is `--duration`.
    pub fn new(
        args: &MediaArgs,
        call_id: CallId,
        state: &'static str,
        answer_at: Option<Instant>,
        duration_s: Option<f64>,
    ) -> Self {
        CallWatch {
            json: args.json,
            report_to_stderr: false,
            call_id,
            answered_at: None,
            answer_at,
            state,
            quality: None,
            hang_up_after: duration_s.map(Duration::from_secs_f64),
            dtmf_to_send: args.send_dtmf.clone(),
            dtmf_received: String::new(),
            started: Instant::now(),
            verdicts: Vec::new(),
        }
    }

    /// Reports on stderr, leaving stdout to the signaling channel.
    pub fn report_to_stderr(mut self) -> Self {
        self.report_to_stderr = true;
        self
    }

    /// Runs until the call ends; hangs up after `hang_up_after` of talk time if set.
    pub fn run(
        mut self,
        engine: &Engine,
        rx: &mpsc::Receiver<Stamped>,
        record: Option<&std::path::Path>,
    ) -> anyhow::Result<ExitCode> {
        let mut hung_up = false;
        loop {
            let mut wait = Duration::from_millis(250);
            if let Some(at) = self.answer_at {
                wait = wait.min(at.saturating_duration_since(Instant::now()));
            }
            let event = match rx.recv_timeout(wait) {
                Ok(e) => Some(e.event),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the engine stopped"),
            };
            match event {
                Some(EngineEvent::Report(report)) if report.call_id() == Some(self.call_id) => {
                    if matches!(report, Report::Connected { .. }) {
                        if let Some(digits) = self.dtmf_to_send.take() {
                            engine.send_dtmf(self.call_id, &digits)?;
                        }
                    }
                    if let Some(code) = self.on_report(report, record)? {
                        return Ok(code);
                    }
                }
                Some(EngineEvent::Fatal { message }) => bail!("engine stopped: {message}"),
                Some(EngineEvent::SignalingDisconnected { reason, .. }) if !self.json => {
                    eprintln!("\nsignaling lost ({reason}); reconnecting, the call goes on");
                }
                _ => {}
            }
            if self.answer_at.is_some_and(|at| Instant::now() >= at) {
                self.answer_at = None;
                let still_ringing = engine
                    .snapshot()?
                    .iter()
                    .any(|c| c.call_id == self.call_id && c.state == CallState::Ringing);
                if still_ringing {
                    engine.answer(self.call_id)?;
                    self.answered_at = Some(Instant::now());
                    self.state = "connecting";
                }
            }
            let talk = self.answered_at.map(|a| a.elapsed());
            if let (Some(limit), Some(talk)) = (self.hang_up_after, talk) {
                if talk >= limit && !hung_up {
                    hung_up = true;
                    engine.end(self.call_id)?;
                }
            }
            if !self.json {
                status_line(
                    self.state,
                    talk,
                    self.quality.as_ref(),
                    self.verdicts.last().map(|(_, v)| v),
                );
            }
        }
    }

    fn on_report(
        &mut self,
        report: Report,
        record: Option<&std::path::Path>,
    ) -> anyhow::Result<Option<ExitCode>> {
        match report {
            Report::RemoteRinging { .. } => self.state = "ringing",
            Report::Answered { .. } => {
                self.state = "connecting";
                self.answered_at.get_or_insert_with(Instant::now);
            }
            Report::Connected { .. } | Report::Reconnected { .. } => self.state = "active",
            Report::Reconnecting { .. } => self.state = "reconnecting",
            Report::Quality { quality, .. } => self.quality = Some(quality),
            Report::QualityChanged { verdict, .. } => {
                self.verdicts.push((self.started.elapsed(), verdict));
            }
            Report::DtmfReceived { digit, .. } => self.dtmf_received.push(digit),
            Report::Error { message, .. } if !self.json => eprintln!("\nwarning: {message}"),
            ended @ Report::Ended { .. } => {
                // Give the engine a moment to finish the recording before it is read.
                std::thread::sleep(Duration::from_millis(100));
                let heard = record.and_then(heard_hz);
                let report = call_report(&ended, heard, &self.dtmf_received, &self.verdicts);
                match (self.json, self.report_to_stderr) {
                    (true, false) => println!("{report}"),
                    (true, true) => eprintln!("{report}"),
                    (false, false) => print_text(&report, &mut std::io::stdout()),
                    (false, true) => print_text(&report, &mut std::io::stderr()),
                }
                let ok = report["ok"].as_bool() == Some(true);
                return Ok(Some(if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(3)
                }));
            }
            _ => {}
        }
        Ok(None)
    }
}

/// `ringwire call USER`: exit 0 for a good call, 3 when it was never answered or had no media.
pub fn run_call(args: CallArgs) -> anyhow::Result<ExitCode> {
    let (engine, rx) = start_engine(&args.phone, "caller")?;
    wait_connected(&rx)?;
    let call_id = engine.start_call(&args.user)?;
    if !args.phone.media.json {
        eprintln!("calling {} (call {call_id})", args.user);
    }
    let watch = CallWatch::new(&args.phone.media, call_id, "dialing", None, args.duration);
    let code = watch.run(&engine, &rx, args.phone.media.record.as_deref());
    engine.shutdown();
    code
}

/// Says on stderr, once, that the server registered this device (`welcome`) and a call to
/// `user` now rings here: a line for people, or with `--json` one JSON object on its own line
/// (`{"event":"ready",...}`), so stdout keeps only the final report. Scripts wait for it
/// before placing the call (docs/softphone.md).
fn announce_ready(json: bool, user: &str, device_id: DeviceId) {
    if json {
        let event = serde_json::json!({
            "event": "ready",
            "user": user,
            "device_id": device_id.to_string(),
        });
        eprintln!("{event}");
    } else {
        eprintln!("ready: waiting for a call to {user} (device {device_id})");
    }
}

/// `ringwire answer`: waits for one incoming call, answers it, runs it to its end.
pub fn run_answer(args: AnswerArgs) -> anyhow::Result<ExitCode> {
    let (engine, rx) = start_engine(&args.phone, "callee")?;
    let (user, device_id) = wait_connected(&rx)?;
    announce_ready(args.phone.media.json, &user, device_id);
    let call_id = loop {
        let event = rx.recv().map_err(|_| anyhow!("the engine stopped"))?;
        match event.event {
            EngineEvent::Report(Report::IncomingCall {
                call_id, from_user, ..
            }) => {
                if !args.phone.media.json {
                    eprintln!("incoming call from {from_user} (call {call_id})");
                }
                break call_id;
            }
            EngineEvent::Fatal { message } => bail!("engine stopped: {message}"),
            _ => {}
        }
    };
    let answer_at = Instant::now() + Duration::from_millis(args.accept_after);
    let watch = CallWatch::new(
        &args.phone.media,
        call_id,
        "ringing",
        Some(answer_at),
        args.duration,
    );
    let code = watch.run(&engine, &rx, args.phone.media.record.as_deref());
    engine.shutdown();
    code
}

#[cfg(test)]
mod tests {
    use super::ws_url;

    #[test]
    fn server_urls_become_signaling_urls() {
        assert_eq!(
            ws_url("http://127.0.0.1:8080").unwrap(),
            "ws://127.0.0.1:8080/v1/ws"
        );
        assert_eq!(
            ws_url("https://rw.example.com/").unwrap(),
            "wss://rw.example.com/v1/ws"
        );
        assert_eq!(ws_url("ws://h:1/custom/ws").unwrap(), "ws://h:1/custom/ws");
        assert!(ws_url("ftp://h").is_err());
        assert!(ws_url("localhost:8080").is_err());
    }
}
