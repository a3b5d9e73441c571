//! CPU time and memory of a process, read from /proc: the figures behind "% of a core" and
//! "bytes per call". PSS (proportional set size) counts shared pages once across processes,
//! so it is fair to a multi-process browser; RSS is kept beside it.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    pub at: Instant,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    pub pss_bytes: u64,
    pub rss_bytes: u64,
}

/// Clock ticks per second for /proc/PID/stat (`getconf CLK_TCK`; 100 on Linux everywhere
/// this runs, read rather than assumed).
pub fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime from the text of /proc/PID/stat (the command name may hold spaces and
/// parentheses, so fields are counted after the last `)`).
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the man page, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `Key:   123 kB` line of smaps_rollup or status, in bytes.
pub fn parse_kb(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

pub fn read(pid: u32) -> anyhow::Result<Reading> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("process {pid} is gone"))?;
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    Ok(Reading {
        at: Instant::now(),
        cpu_ticks: parse_cpu_ticks(&stat).ok_or_else(|| anyhow!("unreadable /proc/{pid}/stat"))?,
        pss_bytes: parse_kb(&rollup, "Pss").unwrap_or(0),
        rss_bytes: parse_kb(&rollup, "Rss").unwrap_or(0),
    })
}

/// CPU use of `pid` over `window` as % of one core, and its memory at the end.
pub async fn measure(pid: u32, window: Duration) -> anyhow::Result<(f64, Reading)> {
    let first = read(pid)?;
    tokio::time::sleep(window).await;
    let last = read(pid)?;
    let seconds = last.at.duration_since(first.at).as_secs_f64();
    let cpu = (last.cpu_ticks - first.cpu_ticks) as f64 / ticks_per_second() / seconds * 100.0;
    Ok((cpu, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_and_rollup_parse() {
        let stat = "1234 (ring wire (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("garbage"), None);
        let rollup = "Rss:               10240 kB\nPss:                5120 kB\n";
        assert_eq!(parse_kb(rollup, "Pss"), Some(5120 * 1024));
        assert_eq!(parse_kb(rollup, "Rss"), Some(10240 * 1024));
        assert_eq!(parse_kb(rollup, "Swap"), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let r = read(std::process::id()).expect("own /proc");
        assert!(r.rss_bytes > 0 && r.pss_bytes > 0);
    }
}
