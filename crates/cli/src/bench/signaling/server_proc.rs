//! The server under test as a child process: `ringwire serve` started from this same
//! executable, so its memory and CPU time can be read from `/proc/PID` apart from the bench's
//! own clients. Owns starting it (and waiting until it listens), reading its RSS, PSS and CPU
//! time, and stopping it: SIGTERM, then SIGKILL. The child is killed when this handle is
//! dropped, so an error anywhere in the bench leaves no server behind.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

/// How long the server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a SIGTERM'd server may take to close its connections and drain its writer (its own
/// drain timeouts add up to about 20 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(25);

/// A running `ringwire serve` child.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    log: PathBuf,
}

/// The server's memory, from `/proc/PID/status` and `/proc/PID/smaps_rollup`.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_bytes: u64,
    /// Proportional set size; `None` where the kernel has no `smaps_rollup`.
    pub pss_bytes: Option<u64>,
}

impl ServerProcess {
    /// Starts `ringwire serve` on a free loopback port with its store in `data_dir`, its log
    /// in `log`, and `env` added to its environment; returns once it accepts TCP connections.
    pub async fn start(
        data_dir: &Path,
        log: &Path,
        env: &[(&str, String)],
    ) -> anyhow::Result<ServerProcess> {
        let exe = std::env::current_exe().context("finding the ringwire executable")?;
        let addr = free_port()?;
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(exe);
        command
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data")
            .arg(data_dir)
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
        let rss_kb = status_kb(&status, "VmRSS").context("no VmRSS in /proc/PID/status")?;
        let pss_kb = std::fs::read_to_string(format!("/proc/{}/smaps_rollup", self.pid))
            .ok()
            .and_then(|text| status_kb(&text, "Pss"));
        Ok(Memory {
            rss_bytes: rss_kb * 1024,
            pss_bytes: pss_kb.map(|kb| kb * 1024),
        })
    }

    /// CPU time (user + system, every thread) the server has used so far.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .context("reading the server's /proc/PID/stat")?;
        let ticks = stat_cpu_ticks(&stat).context("unexpected /proc/PID/stat format")?;
        let per_second = rustix::param::clock_ticks_per_second().max(1);
        Ok(Duration::from_secs_f64(ticks as f64 / per_second as f64))
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

/// The value in kB of a `Key:   123 kB` line, as in `/proc/PID/status` and `smaps_rollup`.
pub fn status_kb(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, rest) = line.split_once(':')?;
        if k.trim() != key {
            return None;
        }
        let mut words = rest.split_whitespace();
        let value = words.next()?.parse().ok()?;
        matches!(words.next(), Some("kB") | None).then_some(value)
    })
}

/// utime + stime, in clock ticks, from `/proc/PID/stat`. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn stat_cpu_ticks(text: &str) -> Option<u64> {
    let (_, after_comm) = text.rsplit_once(')')?;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // After the name come field 3 (state) onwards; utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kb_lines_from_status_and_smaps_rollup() {
        let status = "Name:\tringwire\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(status_kb(status, "VmRSS"), Some(12345));
        assert_eq!(status_kb(status, "Threads"), Some(3));
        assert_eq!(status_kb(status, "VmSwap"), None);
        let rollup = "55d0-7ffe ---p 00000000 00:00 0  [rollup]\nRss:  2048 kB\nPss:  1500 kB\n\
                      Pss_Anon:  1000 kB\n";
        assert_eq!(status_kb(rollup, "Pss"), Some(1500));
        assert_eq!(status_kb(rollup, "Pss_Anon"), Some(1000));
        assert_eq!(status_kb("VmRSS: lots kB\n", "VmRSS"), None);
    }

    #[test]
    fn reads_cpu_ticks_even_with_parentheses_in_the_name() {
        let stat = "4242 (ring wire) (x)) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    170 30 0 0 20 0 3 0 100 1000000 300 18446744073709551615";
        assert_eq!(stat_cpu_ticks(stat), Some(200));
        assert_eq!(stat_cpu_ticks("4242 (x) S 1 2"), None);
        assert_eq!(stat_cpu_ticks("garbage"), None);
    }
}
