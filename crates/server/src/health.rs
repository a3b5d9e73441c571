//! The store's health, checked in the background: `/healthz` answers from the last check at
//! once, so it keeps answering quickly while the database pool is busy with a burst of work,
//! and still reports a store that stopped answering within about a second.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::unix_ms;
use crate::store::Store;

/// How often the store is pinged.
const CHECK_EVERY: Duration = Duration::from_millis(500);
/// A ping slower than this counts as a failure.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// A result older than this is not trusted (the checker is stuck): `/healthz` pings itself.
pub const STALE_AFTER_MS: u64 = 3_000;

/// The last health check.
#[derive(Debug, Default)]
pub struct Health {
    ok: AtomicBool,
    checked_at_ms: AtomicU64,
}

impl Health {
    /// The last result, if it is recent.
    pub fn recent(&self) -> Option<bool> {
        let at = self.checked_at_ms.load(Ordering::Relaxed);
        (unix_ms().saturating_sub(at) <= STALE_AFTER_MS).then(|| self.ok.load(Ordering::Relaxed))
    }

    fn set(&self, ok: bool) {
        self.ok.store(ok, Ordering::Relaxed);
        self.checked_at_ms.store(unix_ms(), Ordering::Relaxed);
    }
}

/// Pings the store every [`CHECK_EVERY`] until shutdown.
pub fn spawn_checker(
    store: Store,
    health: Arc<Health>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = crate::listener::shutting_down(&mut shutdown) => return,
            }
            let ok = matches!(
                tokio::time::timeout(PING_TIMEOUT, store.ping()).await,
                Ok(Ok(()))
            );
            if !ok && health.recent() != Some(false) {
                tracing::error!("health check: store unreachable");
            }
            health.set(ok);
        }
    })
}
