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

/// Clock ticks per second, the unit of /proc/PID/stat's CPU times.
pub fn ticks_per_second() -> f64 {
    rustix::param::clock_ticks_per_second().max(1) as f64
}

/// utime + stime, in clock ticks, from `/proc/PID/stat`. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, after_comm) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // After the name come field 3 (state) onwards; utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The value of a `Key:   123 kB` line of `/proc/PID/status` or `smaps_rollup`, in bytes.
pub fn parse_kb(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, rest) = line.split_once(':')?;
        if k.trim() != key {
            return None;
        }
        let mut words = rest.split_whitespace();
        let value: u64 = words.next()?.parse().ok()?;
        matches!(words.next(), Some("kB") | None).then_some(value * 1024)
    })
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
    fn reads_kb_lines_from_status_and_smaps_rollup() {
        let status = "Name:\tringwire\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_kb(status, "VmRSS"), Some(12345 * 1024));
        assert_eq!(parse_kb(status, "VmSwap"), None);
        let rollup = "55d0-7ffe ---p 00000000 00:00 0  [rollup]\nRss:  2048 kB\nPss:  1500 kB\n\
                      Pss_Anon:  1000 kB\n";
        assert_eq!(parse_kb(rollup, "Pss"), Some(1500 * 1024));
        assert_eq!(parse_kb(rollup, "Pss_Anon"), Some(1000 * 1024));
        assert_eq!(parse_kb("VmRSS: lots kB\n", "VmRSS"), None);
    }

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
