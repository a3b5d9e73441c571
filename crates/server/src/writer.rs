//! The call-record writer: one task that applies the router's [`CallEvent`]s to the store in
//! the order they were decided, so routing never waits for the database. Transient database
//! failures are retried with backoff; the queue is drained before the server exits.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::record::CallEvent;
use crate::store::{Store, StoreError};

const MAX_ATTEMPTS: u32 = 8;

/// Sends events to the writer task. Dropping every clone lets the task drain and finish.
#[derive(Clone, Debug)]
pub struct RecordWriter {
    tx: mpsc::UnboundedSender<CallEvent>,
}

impl RecordWriter {
    /// Starts the writer task.
    pub fn spawn(store: Store, metrics: Arc<Metrics>) -> (RecordWriter, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(store, metrics, rx));
        (RecordWriter { tx }, task)
    }

    /// Queues an event. Never blocks.
    pub fn write(&self, event: CallEvent) {
        if self.tx.send(event).is_err() {
            tracing::error!("call-record writer has stopped; an event was not stored");
        }
    }
}

async fn run(store: Store, metrics: Arc<Metrics>, mut rx: mpsc::UnboundedReceiver<CallEvent>) {
    while let Some(event) = rx.recv().await {
        apply_with_retry(&store, &metrics, &event).await;
    }
    tracing::debug!("call-record writer drained");
}

async fn apply_with_retry(store: &Store, metrics: &Metrics, event: &CallEvent) {
    let mut backoff = Duration::from_millis(50);
    for attempt in 1..=MAX_ATTEMPTS {
        match store.apply(event).await {
            Ok(()) => return,
            Err(e @ StoreError::Database(_)) if attempt < MAX_ATTEMPTS => {
                metrics.store_write_failed();
                tracing::warn!(call_id = %event.call_id(), attempt, error = %e, "call-record write failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                metrics.store_write_failed();
                tracing::error!(call_id = %event.call_id(), error = %e, ?event, "call-record write abandoned");
                return;
            }
        }
    }
}
