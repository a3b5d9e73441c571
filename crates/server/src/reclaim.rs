//! Gives freed memory back to the operating system once a burst of load has passed.
//!
//! glibc's allocator keeps what a process frees inside its arenas (one per worker thread):
//! after a burst of thousands of connections — a flood of half-open requests, say — the
//! server would sit at its peak RSS for good, and an operator cannot tell a retained burst from
//! a leak. When the number of open connections has fallen well below its recent peak, and every
//! 10 s otherwise (freed calls and records do not show in the connection count),
//! `malloc_trim(0)` hands every arena's free pages back. It walks the free lists (a few
//! milliseconds for a large heap), so it runs on a blocking thread. With another allocator (musl, or a global allocator of the embedding program's
//! choosing) there is nothing to do and the task does not run.
//!
//! A trim cannot return a page that holds a chunk glibc counts as in use, and that includes
//! the chunks each thread keeps for quick reuse (its tcache: up to seven per size class, by
//! default): after a burst, the runtime threads' caches hold chunks from all over the heap,
//! each pinning its page. [`reexec_with_malloc_tunables`] lowers that to one per size class.
//! glibc reads its tunables only when a process starts, so `ringwire serve` sets them and
//! executes itself again, once, before any thread exists. Measured in
//! `tests/hostile_load.rs`: memory after the load 116-121 % of the start with glibc's default
//! of seven, 112-115 % with one; `bench signaling` shows no cost (call setups per second
//! 2,201/2,502 with one, 2,199/2,535 with seven, alternating runs).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::metrics::Metrics;

/// How often the connection count is looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Trim at least this often, whatever the connection count did.
const TRIM_AT_LEAST_EVERY: Duration = Duration::from_secs(10);
/// A drop of at least this many connections from the peak triggers a trim…
const MIN_DROP: u64 = 256;
/// …or of this fraction of the peak (1/4), whichever is more.
const DROP_DIVISOR: u64 = 4;

/// Whether a fall from `peak` to `open` connections is worth a trim.
fn dropped_enough(peak: u64, open: u64) -> bool {
    peak.saturating_sub(open) >= MIN_DROP.max(peak / DROP_DIVISOR)
}

/// Watches the open connections until shutdown and trims after load subsides (see the module
/// docs). Returns `None` where the allocator has no trim.
pub fn spawn_reclaimer(
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    if !trim::AVAILABLE {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut peak = metrics.open_tcp();
        let mut last_trim = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = crate::listener::shutting_down(&mut shutdown) => return,
            }
            let open = metrics.open_tcp();
            peak = peak.max(open);
            if !dropped_enough(peak, open) && last_trim.elapsed() < TRIM_AT_LEAST_EVERY {
                continue;
            }
            peak = open;
            last_trim = tokio::time::Instant::now();
            match tokio::task::spawn_blocking(trim::release_free_memory).await {
                Ok(true) => tracing::debug!(connections = open, "freed memory returned"),
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "memory trim failed"),
            }
        }
    }))
}

/// The glibc tunable [`reexec_with_malloc_tunables`] sets (see the module docs).
pub const MALLOC_TUNABLE: &str = "glibc.malloc.tcache_count=1";

/// Executes this program again with [`MALLOC_TUNABLE`] added to `GLIBC_TUNABLES`, unless it
/// is there already or the operator set a `tcache_count` of their own (which also turns this
/// off: `GLIBC_TUNABLES=glibc.malloc.tcache_count=7` keeps glibc's default). Returns only when
/// nothing was done or the exec failed (then the server runs with glibc's defaults, which is
/// safe, and says so). Call it first thing, before any thread or runtime is started; the
/// process keeps its id, arguments and the rest of its environment. Elsewhere than on
/// Linux with glibc it does nothing.
pub fn reexec_with_malloc_tunables() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;

        let current = std::env::var_os("GLIBC_TUNABLES").unwrap_or_default();
        let Some(tunables) = tunables_with_ours(&current.to_string_lossy()) else {
            return;
        };
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(error) => {
                eprintln!("warning: cannot find this program to set {MALLOC_TUNABLE}: {error}");
                return;
            }
        };
        let mut args = std::env::args_os();
        let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
        let error = std::process::Command::new(&exe)
            .arg0(arg0)
            .args(args)
            .env("GLIBC_TUNABLES", tunables)
            .exec();
        eprintln!(
            "warning: could not restart {} with {MALLOC_TUNABLE} ({error}); memory freed after \
             a burst may be handed back more slowly",
            exe.display()
        );
    }
}

/// `GLIBC_TUNABLES` with [`MALLOC_TUNABLE`] added, or `None` when a tcache count is already set.
fn tunables_with_ours(current: &str) -> Option<String> {
    if current
        .split(':')
        .any(|t| t.starts_with("glibc.malloc.tcache_count="))
    {
        return None;
    }
    Some(if current.is_empty() {
        MALLOC_TUNABLE.to_owned()
    } else {
        format!("{current}:{MALLOC_TUNABLE}")
    })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod trim {
    pub const AVAILABLE: bool = true;

    /// Returns whether any memory was released.
    #[allow(unsafe_code)] // the one FFI call of this crate (see Cargo.toml's [lints])
    pub fn release_free_memory() -> bool {
        // SAFETY: malloc_trim only walks and releases the allocator's own free chunks under
        // the arenas' locks; it takes no pointers from us and is safe to call from any thread
        // at any time.
        unsafe { libc::malloc_trim(0) == 1 }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod trim {
    pub const AVAILABLE: bool = false;

    pub fn release_free_memory() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_dip_is_not_worth_a_trim() {
        assert!(!dropped_enough(100, 0), "below the minimum drop");
        assert!(!dropped_enough(10_000, 8_000), "a fifth of the peak");
        assert!(dropped_enough(10_000, 7_500));
        assert!(dropped_enough(600, 300));
        assert!(!dropped_enough(0, 0));
    }

    #[test]
    fn the_tcache_tunable_is_added_once_and_an_operators_own_is_kept() {
        assert_eq!(tunables_with_ours("").as_deref(), Some(MALLOC_TUNABLE));
        assert_eq!(
            tunables_with_ours("glibc.malloc.arena_max=2").as_deref(),
            Some(format!("glibc.malloc.arena_max=2:{MALLOC_TUNABLE}").as_str())
        );
        assert_eq!(tunables_with_ours(MALLOC_TUNABLE), None);
        assert_eq!(
            tunables_with_ours("glibc.malloc.arena_max=2:glibc.malloc.tcache_count=7"),
            None
        );
        // A different tunable that merely starts alike is not ours.
        assert!(tunables_with_ours("glibc.malloc.tcache_count_x=1").is_some());
    }

    #[test]
    fn trimming_is_harmless_while_memory_is_in_use() {
        let kept: Vec<Vec<u8>> = (0..1000).map(|i| vec![i as u8; 4096]).collect();
        drop((0..1000).map(|_| vec![0u8; 4096]).collect::<Vec<_>>());
        let _ = trim::release_free_memory();
        assert!(kept
            .iter()
            .enumerate()
            .all(|(i, v)| v.iter().all(|b| *b == i as u8)));
    }
}
