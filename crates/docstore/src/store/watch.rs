//! Listeners' reading of the change logs: [`DocWatch`] and [`CollectionWatch`] follow one log
//! each with `XREAD BLOCK` on a connection of their own, from the change number their first
//! snapshot was taken at.
//!
//! Entry ids are the log's change numbers (`n-0`), so each entry read must be the one after the
//! last: anything else means `MAXLEN` trimmed entries this listener had not read, and it ends
//! with [`DocStoreError::FellBehind`] rather than deliver a history with a hole in it.

use std::collections::VecDeque;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::streams::{StreamReadOptions, StreamReadReply};
use redis::AsyncCommands;

use super::scripts::{document, text};
use crate::doc::{ChangeKind, DocChange, DocSnapshot};
use crate::error::DocStoreError;
use crate::path::{CollectionPath, DocPath};

/// How long one `XREAD` blocks before it asks again. Bounded so that a Redis that stopped
/// answering is noticed (the connection's response timeout is a little longer).
pub(super) const BLOCK: Duration = Duration::from_secs(10);

/// Entries read per `XREAD`.
const BATCH: usize = 256;

/// Follows one document's changes: one [`DocSnapshot`] per write, in order.
#[derive(Debug)]
pub struct DocWatch {
    log: LogReader,
    path: DocPath,
    pending: VecDeque<DocChange>,
}

impl DocWatch {
    pub(super) fn new(conn: MultiplexedConnection, path: DocPath, key: String, last: u64) -> Self {
        Self {
            log: LogReader { conn, key, last },
            path,
            pending: VecDeque::new(),
        }
    }

    /// The document after the next change, waiting for one. An error ends the watch.
    ///
    /// Cancel safety: not cancel-safe; a dropped call may lose the entries it was reading.
    pub async fn next(&mut self) -> Result<DocSnapshot, DocStoreError> {
        loop {
            if let Some(change) = self.pending.pop_front() {
                let doc = (change.kind != ChangeKind::Removed).then_some(change.doc);
                return Ok(DocSnapshot {
                    path: self.path.clone(),
                    doc,
                });
            }
            self.pending
                .extend(self.log.read(self.path.as_str()).await?);
        }
    }
}

/// Follows one collection's changes: batches of [`DocChange`]s, in order.
#[derive(Debug)]
pub struct CollectionWatch {
    log: LogReader,
    path: CollectionPath,
}

impl CollectionWatch {
    pub(super) fn new(
        conn: MultiplexedConnection,
        path: CollectionPath,
        key: String,
        last: u64,
    ) -> Self {
        Self {
            log: LogReader { conn, key, last },
            path,
        }
    }

    /// The next changes (at least one), waiting for some. An error ends the watch.
    ///
    /// Cancel safety: not cancel-safe; a dropped call may lose the entries it was reading.
    pub async fn next(&mut self) -> Result<Vec<DocChange>, DocStoreError> {
        loop {
            let changes = self.log.read(self.path.as_str()).await?;
            if !changes.is_empty() {
                return Ok(changes);
            }
        }
    }
}

/// One change log and the number of its last change read.
struct LogReader {
    conn: MultiplexedConnection,
    key: String,
    last: u64,
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("key", &self.key)
            .field("last", &self.last)
            .finish()
    }
}

impl LogReader {
    /// Blocks up to [`BLOCK`] for entries after the last one read; may return none.
    async fn read(&mut self, watched: &str) -> Result<Vec<DocChange>, DocStoreError> {
        let options = StreamReadOptions::default()
            .count(BATCH)
            .block(usize::try_from(BLOCK.as_millis()).unwrap_or(usize::MAX));
        let after = format!("{}-0", self.last);
        let reply: Option<StreamReadReply> = self
            .conn
            .xread_options(&[&self.key], &[&after], &options)
            .await?;
        let mut changes = Vec::new();
        for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
            let n = entry
                .id
                .strip_suffix("-0")
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| corrupt(&self.key, "an entry id that is not a change number"))?;
            if n != self.last + 1 {
                return Err(DocStoreError::FellBehind {
                    path: watched.to_owned(),
                });
            }
            self.last = n;
            let field = |name: &str| -> Result<String, DocStoreError> {
                entry
                    .map
                    .get(name)
                    .map(text)
                    .transpose()?
                    .flatten()
                    .ok_or_else(|| corrupt(&self.key, "an entry without all its fields"))
            };
            let kind = ChangeKind::parse(&field("kind")?)
                .ok_or_else(|| corrupt(&self.key, "an entry of an unknown kind"))?;
            let path = DocPath::parse(&field("path")?)?;
            let doc = document(path, &field("data")?, &field("ctime")?, &field("utime")?)?;
            changes.push(DocChange { kind, doc });
        }
        Ok(changes)
    }
}

fn corrupt(key: &str, what: &str) -> DocStoreError {
    DocStoreError::Corrupt(format!("the change log {key} has {what}"))
}
