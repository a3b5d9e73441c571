//! Idle connections held by child processes, so the client side of a cluster run is not
//! capped by one process's open-file limit. Each child is this executable run as the hidden
//! `ringwire-bench signaling-worker`: it reads its [`Job`] as one JSON line on stdin, connects
//! every device to the server the job names for it (an [`IdleFleet`]), reports a [`Count`] as
//! one JSON line on stdout, answers each further `count` line with a fresh [`Count`], and
//! holds the connections until stdin closes. [`FleetProcess`] is the parent's handle.

use std::net::{IpAddr, SocketAddr};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::load::IdleFleet;

/// The subcommand that runs [`worker`].
pub const SUBCOMMAND: &str = "signaling-worker";
/// How long a worker may take to connect its whole share.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a worker may take to answer `count`, and to exit once its stdin closed.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// What one worker connects.
#[derive(Debug, Serialize, Deserialize)]
pub struct Job {
    pub devices: Vec<JobDevice>,
    /// Handshakes in flight at once.
    pub in_flight: usize,
}

/// One device: the server it connects to, from which loopback address, with which token.
#[derive(Debug, Serialize, Deserialize)]
pub struct JobDevice {
    pub server: SocketAddr,
    pub source: IpAddr,
    pub token: String,
}

/// A worker's connections.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Count {
    /// Connections that reached `welcome` and are still open.
    pub held: usize,
    /// Connections that never reached `welcome`.
    pub failed: usize,
    /// Connections that closed after `welcome`.
    pub lost: usize,
    pub first_error: Option<String>,
}

/// A running worker.
#[derive(Debug)]
pub struct FleetProcess {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl FleetProcess {
    /// Starts a worker and hands it `job`; it starts connecting at once.
    pub async fn start(job: &Job) -> anyhow::Result<FleetProcess> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg(SUBCOMMAND)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting a signaling worker")?;
        let mut stdin = child.stdin.take().context("the worker's stdin")?;
        let stdout = child.stdout.take().context("the worker's stdout")?;
        let mut line = serde_json::to_string(job)?;
        line.push('\n');
        stdin
            .write_all(line.as_bytes())
            .await
            .context("handing the worker its job")?;
        Ok(FleetProcess {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// Waits until the worker has tried every device of its job.
    pub async fn connected(&mut self) -> anyhow::Result<Count> {
        self.read(CONNECT_TIMEOUT).await
    }

    /// The worker's connections now.
    pub async fn count(&mut self) -> anyhow::Result<Count> {
        self.stdin
            .write_all(b"count\n")
            .await
            .context("asking the worker")?;
        self.read(ANSWER_TIMEOUT).await
    }

    async fn read(&mut self, within: Duration) -> anyhow::Result<Count> {
        let line = tokio::time::timeout(within, self.lines.next_line())
            .await
            .map_err(|_| anyhow!("the signaling worker did not answer within {within:?}"))?
            .context("reading the worker's answer")?;
        match line {
            Some(line) => {
                serde_json::from_str(&line).with_context(|| format!("the worker's answer {line:?}"))
            }
            None => bail!("the signaling worker exited ({:?})", self.child.try_wait()),
        }
    }

    /// Closes its stdin, so it drops its connections and exits; kills it if it does not.
    pub async fn stop(mut self) {
        drop(self.stdin);
        if tokio::time::timeout(ANSWER_TIMEOUT, self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// `ringwire-bench signaling-worker`: see the module docs.
pub async fn worker() -> anyhow::Result<ExitCode> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let job: Job = match lines.next_line().await? {
        Some(line) => serde_json::from_str(&line).context("the worker's job")?,
        None => return Ok(ExitCode::SUCCESS),
    };
    let devices = job
        .devices
        .into_iter()
        .map(|d| (d.server, d.source, d.token))
        .collect();
    let mut fleet = IdleFleet::default();
    let (failed, first_error) = fleet.connect(devices, job.in_flight).await;
    let count = |fleet: &IdleFleet, first_error: &Option<String>| Count {
        held: fleet.held().saturating_sub(fleet.lost()),
        failed,
        lost: fleet.lost(),
        first_error: first_error.clone(),
    };
    // stdout is line-buffered: each answer leaves with its newline.
    println!("{}", serde_json::to_string(&count(&fleet, &first_error))?);
    while let Some(line) = lines.next_line().await? {
        if line.trim() == "count" {
            println!("{}", serde_json::to_string(&count(&fleet, &first_error))?);
        }
    }
    fleet.close().await;
    Ok(ExitCode::SUCCESS)
}
