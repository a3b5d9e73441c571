//! The call-record writer: one task that applies the router's [`CallEvent`]s to the store in
//! the order they were decided, and reports each batch durable so the hub can release what
//! depends on it (see [`crate::hub`]).
//!
//! Group commit: whatever batches are queued when a transaction starts go into that one
//! transaction (at most [`MAX_GROUP_EVENTS`] events), so the cost of a commit is shared under
//! load and a call with thousands of devices is written in one go. Transient database failures
//! are retried with backoff; if the store stays down the batch is abandoned (logged, counted in
//! `ringwire_store_write_failures_total`) and released anyway, choosing a working call over a
//! complete record. The queue is drained before the server exits.
//!
//! A cluster's leader writes **fenced** ([`Fence`]): each transaction checks that the node is
//! still the leader it was elected as. A refused write is neither retried nor released: the
//! writer reports the loss and stops advancing, so nothing decided after the takeover reaches
//! a client from this node.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::store::{Store, StoreError};
use ringwire_router::record::CallEvent;

const MAX_ATTEMPTS: u32 = 8;
/// Most events written in one transaction.
pub const MAX_GROUP_EVENTS: usize = 10_000;

/// A clustered leader's right to write: the cluster, the epoch it was elected at, and where to
/// report that another node took over.
#[derive(Clone, Debug)]
pub struct Fence {
    pub cluster: String,
    pub epoch: u64,
    pub lost: Arc<Notify>,
}

/// Sends batches to the writer task. Dropping every clone lets the task drain and finish.
#[derive(Clone, Debug)]
pub struct RecordWriter {
    tx: mpsc::UnboundedSender<(u64, Vec<CallEvent>)>,
}

impl RecordWriter {
    /// Starts the writer task; the receiver reports the sequence number of the last batch that
    /// is durable (or abandoned).
    pub fn spawn(
        store: Store,
        metrics: Arc<Metrics>,
    ) -> (RecordWriter, watch::Receiver<u64>, JoinHandle<()>) {
        Self::spawn_fenced(store, metrics, None)
    }

    /// [`RecordWriter::spawn`] for a cluster's leader (see the module docs).
    pub fn spawn_fenced(
        store: Store,
        metrics: Arc<Metrics>,
        fence: Option<Fence>,
    ) -> (RecordWriter, watch::Receiver<u64>, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (committed_tx, committed_rx) = watch::channel(0);
        let task = tokio::spawn(run(store, metrics, rx, committed_tx, fence));
        (RecordWriter { tx }, committed_rx, task)
    }

    /// Queues batch `seq` (sequence numbers increase). Never blocks.
    pub fn write(&self, seq: u64, events: Vec<CallEvent>) {
        if self.tx.send((seq, events)).is_err() {
            tracing::error!("call-record writer has stopped; events were not stored");
        }
    }
}

async fn run(
    store: Store,
    metrics: Arc<Metrics>,
    mut rx: mpsc::UnboundedReceiver<(u64, Vec<CallEvent>)>,
    committed: watch::Sender<u64>,
    fence: Option<Fence>,
) {
    while let Some((mut seq, mut events)) = rx.recv().await {
        while events.len() < MAX_GROUP_EVENTS {
            match rx.try_recv() {
                Ok((next_seq, more)) => {
                    seq = next_seq;
                    events.extend(more);
                }
                Err(_) => break,
            }
        }
        let started = tokio::time::Instant::now();
        if let Err(fenced) = write_with_retry(&store, &metrics, &events, fence.as_ref()).await {
            tracing::error!(error = %fenced, events = events.len(), "call-record write refused");
            if let Some(fence) = &fence {
                fence.lost.notify_one();
            }
            // Hold everything back until the leader is torn down.
            std::future::pending::<()>().await;
        }
        metrics.record_commit(started.elapsed());
        // Nobody listening only means the hub has stopped; the records are written either way.
        let _ = committed.send(seq);
    }
    tracing::debug!("call-record writer drained");
}

/// Writes `events`; `Err` only when the fence refused them (this node is no longer leader).
async fn write_with_retry(
    store: &Store,
    metrics: &Metrics,
    events: &[CallEvent],
    fence: Option<&Fence>,
) -> Result<(), StoreError> {
    let mut backoff = Duration::from_millis(50);
    let fence = fence.map(|f| (f.cluster.as_str(), f.epoch));
    for attempt in 1..=MAX_ATTEMPTS {
        match store.apply_all_fenced(events, fence).await {
            Ok(()) => return Ok(()),
            Err(e @ StoreError::Fenced { .. }) => return Err(e),
            Err(e @ StoreError::Database(_)) if attempt < MAX_ATTEMPTS => {
                metrics.store_write_failed();
                tracing::warn!(events = events.len(), attempt, error = %e, "call-record write failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                metrics.store_write_failed();
                tracing::error!(events = events.len(), error = %e, "call-record write failed; writing the events one by one");
                break;
            }
        }
    }
    // Salvage what can be written: one event per transaction, so one bad event cannot take its
    // neighbours with it.
    for event in events {
        match store
            .apply_all_fenced(std::slice::from_ref(event), fence)
            .await
        {
            Ok(()) => {}
            Err(e @ StoreError::Fenced { .. }) => return Err(e),
            Err(e) => {
                metrics.store_write_failed();
                tracing::error!(call_id = %event.call_id(), error = %e, ?event, "call-record write abandoned");
            }
        }
    }
    Ok(())
}
