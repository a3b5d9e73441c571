//! The server under test as a child process: `ringwire serve` started from this same
//! executable, so its memory and CPU time can be read from `/proc/PID` apart from the bench's
//! own clients. Owns starting it (and waiting until it listens) as a single server or as one
//! node of a cluster, reading its RSS, PSS, CPU time and `/metrics`, and stopping it: SIGTERM,
//! then SIGKILL. The child is killed when this handle is dropped, so an error anywhere in the
//! bench leaves no server behind.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::procstat;

/// How long the server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a SIGTERM'd server may take to close its connections and drain its writer (its own
/// drain timeouts add up to about 20 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(25);
/// How long `/metrics` may take to answer.
const METRICS_TIMEOUT: Duration = Duration::from_secs(8);

/// A running `ringwire serve` child.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    log: PathBuf,
}

/// Where the server keeps its state, and whether it runs alone or as a cluster node.
#[derive(Debug, Clone, Copy)]
pub enum Role<'a> {
    /// One server, its SQLite store in this data directory (`--data`).
    Single { data_dir: &'a Path },
    /// One node of a cluster (`--cluster NATS --cluster-prefix P --node-id N`, and the
    /// database URL as `RINGWIRE_DATABASE_URL`).
    Node {
        nats: &'a str,
        database: &'a str,
        prefix: &'a str,
        node_id: &'a str,
    },
}

/// The server's memory, from `/proc/PID/status` and `/proc/PID/smaps_rollup`.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_bytes: u64,
    /// Proportional set size; `None` where the kernel has no `smaps_rollup`.
    pub pss_bytes: Option<u64>,
}

impl ServerProcess {
    /// Starts `ringwire serve` on a free loopback port in `role`, its log in `log`, and `env`
    /// added to its environment; returns once it accepts TCP connections.
    pub async fn start(
        role: Role<'_>,
        log: &Path,
        env: &[(&str, String)],
    ) -> anyhow::Result<ServerProcess> {
        let exe = ringwire_testkit::ringwire_exe()?;
        let addr = free_port()?;
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(exe);
        command.arg("serve").arg("--listen").arg(addr.to_string());
        match role {
            Role::Single { data_dir } => {
                command.arg("--data").arg(data_dir);
            }
            Role::Node {
                nats,
                database,
                prefix,
                node_id,
            } => {
                command
                    .args(["--cluster", nats, "--cluster-prefix", prefix])
                    .args(["--node-id", node_id])
                    // `--database`'s setting, out of `ps`: the URL may hold a password.
                    .env("RINGWIRE_DATABASE_URL", database);
            }
        }
        command
            // The server's documented default log level, whatever the bench was started with.
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // A file, not a pipe: nobody reads a pipe while the bench runs, and a full pipe
            // would stall the server's logging and with it the server.
            .stderr(log_file)
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().context("starting `ringwire serve`")?;
        let pid = child
            .id()
            .context("the server exited before its pid was read")?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "`ringwire serve` exited at start ({status}); its log ends:\n{}",
                    log_tail(log)
                );
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "`ringwire serve` did not listen on {addr} within {START_TIMEOUT:?}; its \
                     log ends:\n{}",
                    log_tail(log)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(ServerProcess {
            child,
            pid,
            addr,
            log: log.to_path_buf(),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's `/metrics` text (a bare HTTP/1.0 GET: the bench needs no HTTP client).
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let fetch = async {
            let mut tcp = tokio::net::TcpStream::connect(self.addr).await?;
            let request = format!(
                "GET /metrics HTTP/1.0\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.addr
            );
            tcp.write_all(request.as_bytes()).await?;
            let mut response = String::new();
            tcp.read_to_string(&mut response).await?;
            anyhow::Ok(response)
        };
        let response = tokio::time::timeout(METRICS_TIMEOUT, fetch)
            .await
            .context("no /metrics answer in time")?
            .context("reading /metrics")?;
        match response.split_once("\r\n\r\n") {
            Some((head, body))
                if head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200") =>
            {
                Ok(body.to_owned())
            }
            _ => bail!(
                "/metrics answered {:?}",
                response.lines().next().unwrap_or_default()
            ),
        }
    }

    /// Fails with the log's tail if the server has exited (a crash mid-bench explains itself).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the server exited during the bench ({status}); its log ends:\n{}",
                log_tail(&self.log)
            );
        }
        Ok(())
    }

    /// Resident and proportional memory now.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .context("reading the server's /proc/PID/status")?;
        let rss_bytes =
            procstat::parse_kb(&status, "VmRSS").context("no VmRSS in /proc/PID/status")?;
        let pss_bytes = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", self.pid))
            .ok()
            .and_then(|text| procstat::parse_kb(&text, "Pss"));
        Ok(Memory {
            rss_bytes,
            pss_bytes,
        })
    }

    /// CPU time (user + system, every thread) the server has used so far.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .context("reading the server's /proc/PID/stat")?;
        let ticks = procstat::parse_cpu_ticks(&stat).context("unexpected /proc/PID/stat format")?;
        Ok(Duration::from_secs_f64(
            ticks as f64 / procstat::ticks_per_second(),
        ))
    }

    /// SIGTERM, so the server closes its connections and drains its record writer as in
    /// production; SIGKILL if it has not exited in time.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        let pid = i32::try_from(self.pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            // Fails only if the process is already gone, which `wait` below then reports.
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                status.context("waiting for the server to exit")?;
                Ok(())
            }
            Err(_) => {
                self.child.kill().await.context("killing the server")?;
                bail!("the server did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed it")
            }
        }
    }
}

/// A loopback address with a port nothing listens on right now. The port is released before
/// the server binds it; another process could take it in between, which start() then reports.
fn free_port() -> anyhow::Result<SocketAddr> {
    let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(probe.local_addr()?)
}

/// The last lines of the server's log, for error messages.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}
