//! Last-seen times, written in batches: a device connecting or disconnecting only queues its id
//! here, and one task writes what queued up once a second in a single transaction. Thousands of
//! connections coming and going then cost a few transactions, not one write (and one pooled
//! database connection waiting on SQLite's write lock) each. Best effort: when the queue is full
//! an update is dropped, and last-seen is at most a second or so behind.

use std::collections::HashMap;
use std::time::Duration;

use ringwire_proto::DeviceId;
use tokio::sync::mpsc;

use crate::clock::unix_ms;
use crate::store::Store;

/// Updates queued at most; more are dropped until the next flush.
const QUEUE: usize = 16_384;
/// How often queued updates are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Queues last-seen updates. Dropping every clone flushes what is queued and stops the task.
#[derive(Clone, Debug)]
pub struct LastSeen {
    tx: mpsc::Sender<(DeviceId, u64)>,
}

impl LastSeen {
    /// Starts the writer task.
    pub fn spawn(store: Store) -> (LastSeen, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (LastSeen { tx }, tokio::spawn(run(store, rx)))
    }

    /// The device was seen now.
    pub fn touch(&self, device: DeviceId) {
        let _ = self.tx.try_send((device, unix_ms()));
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<(DeviceId, u64)>) {
    let mut pending: HashMap<DeviceId, u64> = HashMap::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            seen = rx.recv() => match seen {
                Some((device, at)) => {
                    let t = pending.entry(device).or_insert(at);
                    *t = (*t).max(at);
                }
                None => break,
            },
            _ = tick.tick() => flush(&store, &mut pending).await,
        }
    }
    flush(&store, &mut pending).await;
}

async fn flush(store: &Store, pending: &mut HashMap<DeviceId, u64>) {
    if pending.is_empty() {
        return;
    }
    let batch: Vec<(DeviceId, u64)> = pending.drain().collect();
    if let Err(e) = store.touch_devices(&batch).await {
        tracing::warn!(error = %e, devices = batch.len(), "could not update last-seen times");
    }
}
