//! One call across the lab: the signaling server in the internet namespace, and two native
//! softphones (this binary's `answer` and `call`) each inside its home network, sending a tone
//! and recording what it hears. The outcome holds both JSON reports and what each side heard.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

use super::coturn::{Coturn, TURN_PORT};
use super::lab::{Lab, Network, TURN_NAME};
use super::{text, CALL_DEADLINE};
use ringwire_testkit::{provision, LabUser};

/// The port the lab's main server listens on (all addresses, both families); the failure
/// scenarios' servers take the next ones.
pub const SERVER_PORT: u16 = 8080;
/// The caller's and the callee's tone: each side checks it heard the other's.
const CALLER_HZ: f64 = 440.0;
const CALLEE_HZ: f64 = 660.0;
/// How close the dominant frequency of a recording must be to the tone sent.
const TONE_TOLERANCE_HZ: f64 = 15.0;

/// A caller and a callee user, one device each.
#[derive(Debug, Clone)]
pub struct Pair {
    pub caller_token: String,
    pub callee_user: String,
    pub callee_token: String,
}

/// How a lab server is configured.
#[derive(Debug, Clone)]
pub struct ServerSetup {
    /// Names its store and log.
    pub name: &'static str,
    pub port: u16,
    /// `RINGWIRE_ICE_SERVERS` (comma-separated URLs); empty for none.
    pub ice_servers: String,
    /// The TURN REST secret it mints credentials with.
    pub turn_secret: Option<String>,
    /// Caller/callee pairs to provision.
    pub pairs: usize,
}

/// coturn's URLs by name (so DNS64 networks resolve them) on `port`: STUN, TURN over UDP
/// and TURN over TCP.
pub fn coturn_urls(port: u16) -> String {
    format!(
        "stun:{TURN_NAME}:{port}, turn:{TURN_NAME}:{port}?transport=udp, \
         turn:{TURN_NAME}:{port}?transport=tcp"
    )
}

/// `ringwire serve` inside the lab, killed on drop.
#[derive(Debug)]
pub struct LabServer {
    child: tokio::process::Child,
    pub port: u16,
    pairs: Vec<Pair>,
    data: PathBuf,
}

impl LabServer {
    /// Provisions `pairs` caller/callee pairs, then starts the server in `ns` with coturn's
    /// addresses as ICE servers (by name, so DNS64 networks resolve them) and its secret.
    pub async fn start(
        lab: &Lab,
        ns: &str,
        dir: &Path,
        turn: &Coturn,
        pairs: usize,
    ) -> anyhow::Result<LabServer> {
        let setup = ServerSetup {
            name: "server",
            port: SERVER_PORT,
            ice_servers: coturn_urls(TURN_PORT),
            turn_secret: Some(turn.secret.clone()),
            pairs,
        };
        LabServer::start_with(lab, ns, dir, setup).await
    }

    /// A server configured as `setup` says, its store and log under `dir/<name>-…`.
    pub async fn start_with(
        lab: &Lab,
        ns: &str,
        dir: &Path,
        setup: ServerSetup,
    ) -> anyhow::Result<LabServer> {
        let pairs = setup.pairs;
        let data = dir.join(format!("{}-data", setup.name));
        // A kept directory (`--keep`) may hold an earlier run's store.
        let _ = std::fs::remove_dir_all(&data);
        let config = ringwire_server::ServerConfig {
            data_dir: data.clone(),
            ..ringwire_server::ServerConfig::default()
        };
        let users: Vec<String> = (0..pairs)
            .flat_map(|i| [format!("nat{i}a"), format!("nat{i}b")])
            .collect();
        let refs: Vec<LabUser> = users
            .iter()
            .map(|name| LabUser {
                name,
                display_name: None,
                devices: &["lab-0"],
            })
            .collect();
        let tokens = provision(&config, &refs).await?;
        let token = |user: &str| -> anyhow::Result<String> {
            tokens
                .get(user)
                .and_then(|t| t.first())
                .cloned()
                .ok_or_else(|| anyhow!("no token for {user}"))
        };
        let pairs = (0..pairs)
            .map(|i| {
                Ok(Pair {
                    caller_token: token(&format!("nat{i}a"))?,
                    callee_user: format!("nat{i}b"),
                    callee_token: token(&format!("nat{i}b"))?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let log = dir.join(format!("{}.log", setup.name));
        let out = std::fs::File::create(&log)?;
        let mut command = lab.command(ns, ringwire_testkit::ringwire_exe()?);
        command
            .args(["serve", "--listen"])
            .arg(format!("[::]:{}", setup.port))
            .arg("--data")
            .arg(&data);
        if !setup.ice_servers.is_empty() {
            command.env("RINGWIRE_ICE_SERVERS", &setup.ice_servers);
        }
        if let Some(secret) = &setup.turn_secret {
            command.env("RINGWIRE_ICE_TURN_SECRET", secret);
        }
        let mut child = command
            // Every device places several calls back to back; the per-device invite limit
            // (an abuse defence) would only add waits.
            .env("RINGWIRE_INVITE_BURST", "1000")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting the server in the lab")?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("ringwire server listening") {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                bail!("the lab's server exited ({status}); its log:\n{text}");
            }
            if Instant::now() > deadline {
                bail!("the lab's server did not start within 20 s; its log:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(LabServer {
            child,
            port: setup.port,
            pairs,
            data,
        })
    }

    pub fn pair(&self, i: usize) -> anyhow::Result<&Pair> {
        self.pairs
            .get(i)
            .ok_or_else(|| anyhow!("the lab provisioned only {} pairs", self.pairs.len()))
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    /// Stops the server and reads back the end reason its store recorded for each call of
    /// `user` (a record is durable before anybody hears of the end, so a kill loses none).
    pub async fn stop_and_read_end_reasons(
        mut self,
        user: &str,
    ) -> anyhow::Result<Vec<Option<ringwire_proto::EndReason>>> {
        let _ = self.child.kill().await;
        let store = ringwire_server::store::Store::open_data_dir(&self.data).await?;
        let user: ringwire_proto::UserName = user.parse().map_err(anyhow::Error::msg)?;
        let calls = store.calls_of_user(&user, 100, None).await;
        store.close().await;
        Ok(calls?.into_iter().map(|c| c.end_reason).collect())
    }
}

/// One softphone of a call.
#[derive(Debug, Clone)]
pub struct Side {
    pub network: Network,
    pub token: String,
    pub record: PathBuf,
    pub name: &'static str,
}

impl Side {
    pub fn new(network: &Network, token: String, dir: &Path, name: &'static str) -> Side {
        Side {
            network: network.clone(),
            token,
            record: dir.join(format!("{name}.wav")),
            name,
        }
    }
}

/// How one call went: each side's report (or why there is none).
#[derive(Debug, Clone)]
pub struct CallOutcome {
    pub caller: Result<Value, String>,
    pub callee: Result<Value, String>,
}

impl CallOutcome {
    /// Both reports `ok` and each side heard the other's tone.
    pub fn ok(&self) -> bool {
        let good = |r: &Result<Value, String>, hz: f64| {
            r.as_ref().is_ok_and(|v| {
                v["ok"] == Value::Bool(true)
                    && v["heard_hz"]
                        .as_f64()
                        .is_some_and(|h| (h - hz).abs() <= TONE_TOLERANCE_HZ)
            })
        };
        good(&self.caller, CALLEE_HZ) && good(&self.callee, CALLER_HZ)
    }

    /// What went wrong, for the notes.
    pub fn why(&self) -> String {
        let side = |name: &str, r: &Result<Value, String>| match r {
            Err(e) => format!("{name}: {e}"),
            Ok(v) => format!(
                "{name}: ok={} end={} heard={} pair={} gathering_failures={}",
                text(v, "ok"),
                text(v, "end_reason"),
                text(v, "heard_hz"),
                text(v, "selected_pair"),
                text(v, "gathering_failures"),
            ),
        };
        format!(
            "{}; {}",
            side("caller", &self.caller),
            side("callee", &self.callee)
        )
    }

    /// The caller's selected pair as `local/remote` (plus `via tcp` for a relay over TCP).
    pub fn pair_label(&self) -> String {
        let Ok(report) = &self.caller else {
            return "none".into();
        };
        let pair = &report["selected_pair"];
        let (Some(local), Some(remote)) = (pair["local"].as_str(), pair["remote"].as_str()) else {
            return "none".into();
        };
        match pair["relay_transport"].as_str() {
            Some(t) => format!("{local}/{remote} (relay over {t})"),
            None => format!("{local}/{remote}"),
        }
    }

    /// The callee's accept→first audio (it pressed accept).
    pub fn accept_to_first_audio_ms(&self) -> Option<f64> {
        self.callee.as_ref().ok()?["accept_to_first_audio_ms"].as_f64()
    }

    /// How long the caller's TURN allocations took, by transport (`udp`, `tcp`, `tls`).
    pub fn turn_allocation_ms(&self) -> Vec<(String, f64)> {
        let Ok(report) = &self.caller else {
            return Vec::new();
        };
        report["turn_allocations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| Some((a["transport"].as_str()?.to_string(), a["ms"].as_f64()?)))
            .collect()
    }

    /// The caller's invite→ringing: what gathering must never delay.
    pub fn invite_to_ringing_ms(&self) -> Option<f64> {
        self.caller.as_ref().ok()?["invite_to_ringing_ms"].as_f64()
    }

    pub fn to_json(&self) -> Value {
        let side = |r: &Result<Value, String>| match r {
            Ok(v) => v.clone(),
            Err(e) => json!({ "error": e }),
        };
        json!({
            "ok": self.ok(),
            "pair": self.pair_label(),
            "caller": side(&self.caller),
            "callee": side(&self.callee),
        })
    }
}

/// Runs one call: the callee's softphone first (it says when the server has registered it),
/// then the caller's; each hangs up or waits as `ringwire call --duration` does.
pub async fn run_call(
    lab: &Lab,
    port: u16,
    caller: Side,
    callee: Side,
    callee_user: String,
) -> CallOutcome {
    run_call_talking(lab, port, caller, callee, callee_user, Some("3")).await
}

/// [`run_call`] with the caller's `--duration` (`None`: the caller never hangs up, so a call
/// that cannot connect must be ended by the engine itself).
pub async fn run_call_talking(
    lab: &Lab,
    port: u16,
    caller: Side,
    callee: Side,
    callee_user: String,
    talk_s: Option<&str>,
) -> CallOutcome {
    let answer = match ready_callee(lab, &callee, port, CALLEE_HZ).await {
        Ok(child) => child,
        Err(not_started) => return not_started,
    };
    let mut args = vec!["call", callee_user.as_str()];
    if let Some(talk) = talk_s {
        args.extend(["--duration", talk]);
    }
    let call = spawn_phone(lab, &caller, port, CALLER_HZ, &args);
    let caller_report = match call {
        Ok(child) => report_of(child).await,
        Err(e) => Err(format!("{e:#}")),
    };
    let callee_report = report_of(answer).await;
    CallOutcome {
        caller: caller_report,
        callee: callee_report,
    }
}

/// Starts `ringwire answer` for `callee` and waits until the server has registered it; on
/// failure, the outcome to report (the caller never started).
async fn ready_callee(
    lab: &Lab,
    callee: &Side,
    port: u16,
    tone: f64,
) -> Result<tokio::process::Child, CallOutcome> {
    let answer = spawn_phone(
        lab,
        callee,
        port,
        tone,
        &["answer", "--accept-after", "1200"],
    )
    .map_err(|e| format!("{e:#}"));
    when_ready(callee, answer, "the callee").await
}

/// Waits for an answering side (softphone or browser) to say it is ready; its outcome as a
/// call that never started otherwise.
async fn when_ready(
    side: &Side,
    started: Result<tokio::process::Child, String>,
    who: &str,
) -> Result<tokio::process::Child, CallOutcome> {
    let not_started = |why: String| CallOutcome {
        caller: Err(format!("not started: {who} never became ready")),
        callee: Err(why),
    };
    let mut child = started.map_err(not_started)?;
    wait_ready(side, &mut child)
        .await
        .map_err(|e| not_started(format!("{e:#}")))?;
    Ok(child)
}

fn spawn_phone(
    lab: &Lab,
    side: &Side,
    port: u16,
    tone: f64,
    command: &[&str],
) -> anyhow::Result<tokio::process::Child> {
    // The softphone's log goes beside its recording (`bench nat --keep DIR` keeps both);
    // RINGWIRE_LAB_LOG sets its filter (default: warnings).
    let log = std::fs::File::create(side.record.with_extension("log"))?;
    let filter = std::env::var("RINGWIRE_LAB_LOG").unwrap_or_else(|_| "warn".into());
    lab.command(&side.network.host, ringwire_testkit::ringwire_exe()?)
        .args(command)
        .arg("--server")
        .arg(side.network.server_url(port))
        .arg("--tone")
        .arg(tone.to_string())
        .arg("--record")
        .arg(&side.record)
        .args(["--json", "--no-loopback"])
        .env("RINGWIRE_TOKEN", &side.token)
        .env("RUST_LOG", filter)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting the {} softphone", side.name))
}

/// Waits for `answer --json`'s `{"event":"ready"}` line in its log.
async fn wait_ready(side: &Side, child: &mut tokio::process::Child) -> anyhow::Result<()> {
    let log = side.record.with_extension("log");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("\"event\":\"ready\"") {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            bail!("the softphone exited ({status}): {}", last_lines(&text));
        }
        if Instant::now() > deadline {
            bail!("no readiness line within 20 s: {}", last_lines(&text));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
}

/// The JSON report a softphone prints last on stdout, or why there is none.
async fn report_of(child: tokio::process::Child) -> Result<Value, String> {
    let output = match tokio::time::timeout(CALL_DEADLINE, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(format!("softphone failed: {e}")),
        Err(_) => return Err(format!("no report within {CALL_DEADLINE:?} (killed)")),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .ok_or_else(|| format!("no report (exit {}); see its log", output.status))
}

/// When the mid-call event happens, counted from the caller's start: after the callee's 1.2 s
/// of ringing and about 3 s of talk.
const HANDOVER_AT: Duration = Duration::from_millis(4500);

/// What happens to the caller's network mid-call.
#[derive(Debug, Clone, Copy)]
pub enum MidCall<'a> {
    /// The caller moves to this network (one of
    /// [`Lab::add_network_for`](super::lab::Lab::add_network_for)): its interfaces change.
    MoveTo(&'a Network),
    /// The direct path dies silently ([`Lab::cut_direct_paths`]); only TURN still gets through.
    CutDirectPath,
}

impl MidCall<'_> {
    /// Talk time: long enough to hear the path come back and keep going (consent freshness
    /// needs about 15 s to call a silent path dead).
    fn talk_seconds(self) -> &'static str {
        match self {
            MidCall::MoveTo(_) => "9",
            MidCall::CutDirectPath => "30",
        }
    }
}

/// One call during which `event` happens to the caller's network: the same two softphones as
/// [`run_call`], the event made mid-call, the outcome plus the longest audio gap each side's
/// recording holds.
pub async fn run_handover_call(
    lab: &Lab,
    port: u16,
    caller: Side,
    event: MidCall<'_>,
    callee: Side,
    callee_user: String,
) -> (CallOutcome, Option<Gaps>, Option<Gaps>) {
    let answer = match ready_callee(lab, &callee, port, CALLEE_HZ).await {
        Ok(child) => child,
        Err(not_started) => return (not_started, None, None),
    };
    let call = spawn_phone(
        lab,
        &caller,
        port,
        CALLER_HZ,
        &["call", &callee_user, "--duration", event.talk_seconds()],
    );
    let caller_report = match call {
        Ok(child) => {
            let report = tokio::spawn(report_of(child));
            tokio::time::sleep(HANDOVER_AT).await;
            let done = match event {
                MidCall::MoveTo(to) => lab.move_device(&caller.network, to),
                MidCall::CutDirectPath => lab.cut_direct_paths(&caller.network),
            };
            let report = report
                .await
                .unwrap_or_else(|e| Err(format!("report task: {e}")));
            match done {
                Ok(()) => report,
                Err(e) => Err(format!("the mid-call event failed: {e:#}")),
            }
        }
        Err(e) => Err(format!("{e:#}")),
    };
    let callee_report = report_of(answer).await;
    let outcome = CallOutcome {
        caller: caller_report,
        callee: callee_report,
    };
    let far_gap = gaps(&callee.record);
    let near_gap = gaps(&caller.record);
    (outcome, far_gap, near_gap)
}

/// What a recording says about audio continuity, in ms.
#[derive(Debug, Clone, Copy)]
pub struct Gaps {
    /// The longest stretch without audible audio after the first audible block.
    pub longest_ms: f64,
    /// Silence at the end of the recording: audio that never came back shows here.
    pub tail_ms: f64,
}

/// Audio continuity of a recording, by 10 ms blocks: a block is audible when its RMS is above
/// a tenth (−20 dB) of the recording's median audible level. Concealment that fades out
/// counts as a gap once it is 20 dB down.
pub fn gaps(path: &Path) -> Option<Gaps> {
    let mut reader = hound::WavReader::open(path).ok()?;
    let rate = reader.spec().sample_rate as usize;
    let samples: Vec<f64> = reader
        .samples::<i16>()
        .filter_map(Result::ok)
        .map(f64::from)
        .collect();
    let block = rate / 100;
    if block == 0 || samples.len() < block * 10 {
        return None;
    }
    let rms: Vec<f64> = samples
        .chunks(block)
        .map(|c| (c.iter().map(|s| s * s).sum::<f64>() / c.len() as f64).sqrt())
        .collect();
    let mut loud: Vec<f64> = rms.iter().copied().filter(|r| *r > 30.0).collect();
    if loud.is_empty() {
        return None;
    }
    loud.sort_by(f64::total_cmp);
    let threshold = loud[loud.len() / 2] / 10.0;
    let audible: Vec<bool> = rms.iter().map(|r| *r >= threshold).collect();
    let first = audible.iter().position(|a| *a)?;
    let (mut longest, mut run) = (0usize, 0usize);
    for a in &audible[first..] {
        if *a {
            run = 0;
        } else {
            run += 1;
            longest = longest.max(run);
        }
    }
    Some(Gaps {
        longest_ms: longest as f64 * 10.0,
        tail_ms: run as f64 * 10.0,
    })
}

/// A call between the browser client (Debian's Chromium driven by playwright-core, inside
/// `browser`'s network) and a native softphone (inside `native`'s network). `browser_calls`
/// says who dials. The browser's result is shaped like a softphone report (`ok`,
/// `heard_hz`, `selected_pair` from `getStats`), so the outcome reads the same.
pub async fn run_browser_call(
    lab: &Lab,
    port: u16,
    browser: Side,
    native: Side,
    browser_calls: bool,
    callee_user: String,
) -> CallOutcome {
    let native_hz = if browser_calls { CALLEE_HZ } else { CALLER_HZ };
    if browser_calls {
        // The browser dials once signed in; the native callee must be registered first.
        let answer = match ready_callee(lab, &native, port, native_hz).await {
            Ok(child) => child,
            Err(not_started) => return not_started,
        };
        let browser_report = match spawn_page(lab, &browser, port, Some(&callee_user)) {
            Ok(page) => report_of(page).await,
            Err(e) => Err(e),
        };
        return CallOutcome {
            caller: browser_report,
            callee: report_of(answer).await,
        };
    }
    let page = match ready_page(lab, &browser, port).await {
        Ok(page) => page,
        Err(not_started) => return not_started,
    };
    let call = spawn_phone(
        lab,
        &native,
        port,
        native_hz,
        &["call", &callee_user, "--duration", "3"],
    );
    let native_report = match call {
        Ok(child) => report_of(child).await,
        Err(e) => Err(format!("{e:#}")),
    };
    CallOutcome {
        caller: native_report,
        callee: report_of(page).await,
    }
}

/// A call between two browser clients, each inside its own network: what two WebView apps
/// (or a web app) get from the same servers, as the baseline for the native cells.
pub async fn run_browsers_call(
    lab: &Lab,
    port: u16,
    caller: Side,
    callee: Side,
    callee_user: String,
) -> CallOutcome {
    let answer = match ready_page(lab, &callee, port).await {
        Ok(page) => page,
        Err(not_started) => return not_started,
    };
    let caller_report = match spawn_page(lab, &caller, port, Some(&callee_user)) {
        Ok(page) => report_of(page).await,
        Err(e) => Err(e),
    };
    CallOutcome {
        caller: caller_report,
        callee: report_of(answer).await,
    }
}

/// A browser client that answers, started and signed in (its readiness line seen).
async fn ready_page(
    lab: &Lab,
    side: &Side,
    port: u16,
) -> Result<tokio::process::Child, CallOutcome> {
    when_ready(side, spawn_page(lab, side, port, None), "the browser").await
}

/// Starts `bench/chromium/run.mjs nat-phone` inside `side`'s network: the browser client
/// dialling `to` (the caller's tone), or answering when `to` is `None` (the callee's).
fn spawn_page(
    lab: &Lab,
    side: &Side,
    port: u16,
    to: Option<&str>,
) -> Result<tokio::process::Child, String> {
    let script = crate::chromium::bench_dir().join("chromium/run.mjs");
    let (role, tone, expect) = match to {
        Some(_) => ("call", CALLER_HZ, CALLEE_HZ),
        None => ("answer", CALLEE_HZ, CALLER_HZ),
    };
    let input = json!({
        "server": side.network.server_url(port),
        "token": side.token,
        "role": role,
        "to": to.unwrap_or_default(),
        "toneHz": tone,
        "expectHz": expect,
        "talkMs": 3000,
        "acceptAfterMs": 1200,
    });
    let log = std::fs::File::create(side.record.with_extension("log"))
        .map_err(|e| format!("browser log: {e}"))?;
    lab.command(&side.network.host, "node")
        .arg(&script)
        .arg("nat-phone")
        .arg(input.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting node (Node.js and web/node_modules): {e}"))
}
