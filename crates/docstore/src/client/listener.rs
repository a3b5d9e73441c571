//! Listeners of a [`DocClient`](super::DocClient): receivers of one listener's pushes that
//! unsubscribe when dropped.

use tokio::sync::mpsc;

use super::Command;
use crate::doc::{DocChange, DocSnapshot};
use crate::error::DocStoreError;

/// A document listener: yields the current snapshot, then one per change.
pub type DocListener = Listener<DocSnapshot>;

/// A collection listener: yields every existing document as added, then the changes.
pub type CollectionListener = Listener<Vec<DocChange>>;

/// One listener's pushes, in order. Dropping it unsubscribes.
///
/// Pushes wait in an unbounded queue until read: a listener that is never read holds its pushes
/// in memory until it is dropped.
#[derive(Debug)]
pub struct Listener<T> {
    id: u64,
    pushes: mpsc::UnboundedReceiver<Result<T, DocStoreError>>,
    commands: mpsc::UnboundedSender<Command>,
}

impl<T> Listener<T> {
    pub(super) fn new(
        id: u64,
        pushes: mpsc::UnboundedReceiver<Result<T, DocStoreError>>,
        commands: mpsc::UnboundedSender<Command>,
    ) -> Self {
        Self {
            id,
            pushes,
            commands,
        }
    }

    /// The listener id the server gave.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The next push, waiting for it. An error means the listener has ended (the server ended
    /// it, such as [`DocStoreError::FellBehind`], or the connection closed); every later call
    /// fails too.
    pub async fn next(&mut self) -> Result<T, DocStoreError> {
        match self.pushes.recv().await {
            Some(push) => push,
            None => Err(DocStoreError::Disconnected(
                "this listener has ended".into(),
            )),
        }
    }
}

impl<T> Drop for Listener<T> {
    fn drop(&mut self) {
        // The driver may be gone already (connection closed): then there is nothing to stop.
        let _ = self.commands.send(Command::Unlisten { listener: self.id });
    }
}
