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
