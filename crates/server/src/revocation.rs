//! Revocation that reaches every live connection of a device, whether or not it has said
//! `hello` yet.
//!
//! Each WebSocket registers here as soon as its token is accepted at the upgrade, and stays
//! registered until it closes. [`Revocations::revoke`] wakes every registered connection of the
//! device, which then closes itself with `unauthorized` (4401). Two more checks close the
//! remaining gaps:
//!
//! - the connection re-checks the device against the store when `hello` arrives, so a revoke that
//!   committed before the connection registered is still seen (a revoke notifies after its
//!   commit; a connection checks after it registered — one of the two always sees the other);
//! - [`spawn_watcher`] polls the store for devices revoked by another process (`ringwire device
//!   revoke` edits the store offline) and revokes them here, every [`WATCH_EVERY`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringwire_proto::DeviceId;
use tokio::sync::{watch, Notify};

use crate::store::Store;
use ringwire_router::ConnId;

/// How often the store is polled for revocations made outside this server.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);
/// Revocation times are compared with this much slack, for a clock skew between the process
/// that revoked and this server (PostgreSQL shared by several hosts).
const CLOCK_SLACK_MS: u64 = 60_000;

/// Each device's live connections, with the signal that closes each.
type ByDevice = HashMap<DeviceId, Vec<(ConnId, Arc<Notify>)>>;

/// The live connections of every device, for revocation.
#[derive(Debug, Default)]
pub struct Revocations {
    conns: Mutex<ByDevice>,
}

/// One connection's registration; dropping it unregisters.
#[derive(Debug)]
pub struct Registration {
    owner: Arc<Revocations>,
    device: DeviceId,
    conn: ConnId,
    /// Notified when the device is revoked.
    pub revoked: Arc<Notify>,
}

impl Revocations {
    /// Registers connection `conn` of `device`.
    pub fn register(self: &Arc<Self>, device: DeviceId, conn: ConnId) -> Registration {
        let revoked = Arc::new(Notify::new());
        self.lock()
            .entry(device)
            .or_default()
            .push((conn, revoked.clone()));
        Registration {
            owner: self.clone(),
            device,
            conn,
            revoked,
        }
    }

    /// Wakes every live connection of `device` so it closes; returns how many there were.
    pub fn revoke(&self, device: DeviceId) -> usize {
        let conns = self.lock();
        let Some(list) = conns.get(&device) else {
            return 0;
        };
        for (_, notify) in list {
            // `notify_one` stores a permit, so a connection busy elsewhere still sees it.
            notify.notify_one();
        }
        list.len()
    }

    /// Connections registered right now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    /// Whether no connection is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ByDevice> {
        // A poisoned lock only means another thread panicked while holding it; the map is
        // still consistent (every operation is a single insert or remove).
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut conns = self.owner.lock();
        if let Some(list) = conns.get_mut(&self.device) {
            list.retain(|(c, _)| *c != self.conn);
            if list.is_empty() {
                conns.remove(&self.device);
                if conns.capacity() > 64 && conns.len() * 4 <= conns.capacity() {
                    conns.shrink_to_fit();
                }
            }
        }
    }
}

/// Polls the store for devices revoked since the last look (by any process) and revokes them
/// here. Stops when `shutdown` turns true.
pub fn spawn_watcher(
    store: Store,
    revocations: Arc<Revocations>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut watermark = match store.latest_revocation_ms().await {
            Ok(ms) => ms,
            Err(e) => {
                tracing::warn!(error = %e, "revocation watcher: could not read the store; starting from now");
                crate::clock::unix_ms()
            }
        };
        let mut tick = tokio::time::interval(WATCH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = crate::listener::shutting_down(&mut shutdown) => return,
            }
            match store
                .revoked_since(watermark.saturating_sub(CLOCK_SLACK_MS))
                .await
            {
                Ok(revoked) => {
                    for (device, at_ms) in revoked {
                        watermark = watermark.max(at_ms);
                        if revocations.revoke(device) > 0 {
                            tracing::info!(device_id = %device, "device revoked in the store; closing its connections");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "revocation watcher: store query failed"),
            }
        }
    })
}
