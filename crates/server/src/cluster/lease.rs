//! Node leases in a JetStream key-value bucket: every node renews its key every
//! [`RENEW_EVERY`], and a node whose key has not changed for [`LEASE`] is gone. The bucket's
//! own `max_age` removes a dead node's key soon after. A node that stops cleanly deletes its
//! key, so the others see it leave at once.
//!
//! Every node watches the bucket: the leader to drop the devices of a node that died, the
//! others to notice a leader that vanished without closing its database session, and all of
//! them for the "nodes seen" metric.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::kv;
use futures_util::StreamExt;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::ServerError;

/// How often a node renews its lease.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How long a lease lasts without renewal.
pub const LEASE: Duration = Duration::from_secs(5);

/// The cluster's view of which nodes are alive.
#[derive(Clone, Debug)]
pub struct Leases {
    kv: kv::Store,
    me: String,
    seen: Arc<Mutex<HashMap<String, Instant>>>,
}

fn nats_error(what: &str, e: impl std::fmt::Display) -> ServerError {
    ServerError::Cluster(format!(
        "{what}: {e}; check that NATS with JetStream is reachable"
    ))
}

impl Leases {
    /// Opens (or creates) the bucket and starts renewing this node's lease and watching the
    /// others'. The tasks stop with the returned handles.
    pub async fn start(
        js: &async_nats::jetstream::Context,
        bucket: &str,
        me: &str,
    ) -> Result<(Leases, Vec<JoinHandle<()>>), ServerError> {
        let kv = match js.get_key_value(bucket).await {
            Ok(kv) => kv,
            Err(_) => js
                .create_key_value(kv::Config {
                    bucket: bucket.to_owned(),
                    history: 1,
                    // Twice the lease: a dead node's key disappears soon after it is judged gone.
                    max_age: LEASE * 2,
                    ..Default::default()
                })
                .await
                .map_err(|e| nats_error("cannot create the node lease bucket", e))?,
        };
        let leases = Leases {
            kv,
            me: me.to_owned(),
            seen: Arc::default(),
        };
        leases.renew().await?;
        let renew = {
            let leases = leases.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(RENEW_EVERY);
                loop {
                    tick.tick().await;
                    if let Err(e) = leases.renew().await {
                        tracing::warn!(error = %e, "could not renew this node's lease");
                    }
                }
            })
        };
        let watch = {
            let leases = leases.clone();
            tokio::spawn(async move { leases.watch().await })
        };
        Ok((leases, vec![renew, watch]))
    }

    async fn renew(&self) -> Result<(), ServerError> {
        let stamp = crate::clock::unix_ms().to_string();
        self.kv
            .put(&self.me, stamp.into_bytes().into())
            .await
            .map_err(|e| nats_error("cannot renew the node lease", e))?;
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.me.clone(), Instant::now());
        Ok(())
    }

    /// Follows the bucket for good, starting again after NATS comes back.
    async fn watch(&self) {
        loop {
            match self.kv.watch_all().await {
                Ok(mut updates) => {
                    while let Some(update) = updates.next().await {
                        let Ok(entry) = update else { break };
                        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                        match entry.operation {
                            kv::Operation::Put => {
                                seen.insert(entry.key, Instant::now());
                            }
                            kv::Operation::Delete | kv::Operation::Purge => {
                                seen.remove(&entry.key);
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot watch node leases; retrying"),
            }
            tokio::time::sleep(RENEW_EVERY).await;
        }
    }

    /// Whether `node` renewed its lease within [`LEASE`].
    pub fn is_alive(&self, node: &str) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(node).is_some_and(|at| at.elapsed() < LEASE)
    }

    /// The nodes whose lease is current, this one included.
    pub fn alive(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut nodes: Vec<String> = seen
            .iter()
            .filter(|(_, at)| at.elapsed() < LEASE)
            .map(|(n, _)| n.clone())
            .collect();
        nodes.sort();
        nodes
    }

    /// Gives this node's lease up (a clean stop).
    pub async fn release(&self) {
        if let Err(e) = self.kv.delete(&self.me).await {
            tracing::warn!(error = %e, "could not release this node's lease");
        }
    }
}
