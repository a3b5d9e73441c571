//! The document store on Redis: Firestore's operations (`set`, `update`, `add`, `get`,
//! `delete`, `list`, plus `delete_collection`) and its listeners ([`Store::watch_doc`],
//! [`Store::watch_collection`]).
//!
//! Every write is one Lua script that changes the document, the collection's index and appends
//! the change to two change logs (Redis streams): the document's and the collection's. A
//! listener reads the current state and its log's last change number in one script too, then
//! reads the log from there (`XREAD BLOCK`). Both steps being atomic is the whole guarantee: a
//! listener sees every change after its first snapshot exactly once, in write order.
//!
//! `Store` is usable on its own, without the WebSocket server (see `tests/store.rs`).

mod keys;
mod scripts;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncCommands, AsyncConnectionConfig, Value};

use crate::doc::{DocData, DocSnapshot, Document, MAX_DATA_BYTES};
use crate::error::DocStoreError;
use crate::path::{CollectionPath, DocPath};
use keys::Keys;
use scripts::{array, document, number, required, text};

pub use keys::MAX_PREFIX_LEN;
pub use watch::{CollectionWatch, DocWatch};

/// How many entries each change log keeps by default (`XADD MAXLEN ~`). A listener more than
/// this many changes behind gets [`DocStoreError::FellBehind`]. Each entry holds the document,
/// so a log can hold up to this many times 64 KiB.
pub const DEFAULT_LOG_CAP: usize = 2000;

/// Documents deleted per script run by `delete_collection`, so Redis is never held for long.
const DELETE_BATCH: usize = 500;

/// How long a command may take before it fails as unavailable.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A document store under one key prefix of one Redis. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    client: redis::Client,
    conn: ConnectionManager,
    keys: Arc<Keys>,
    log_cap: usize,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The Redis URL may carry a password: show the prefix only.
        f.debug_struct("Store")
            .field("prefix", &self.keys.prefix())
            .field("log_cap", &self.log_cap)
            .finish_non_exhaustive()
    }
}

/// How a write script ended.
#[derive(Debug)]
enum Written {
    /// Done: the document's update time.
    Done { update_time: u64 },
    /// The document exists (`create`).
    Exists,
    /// The document does not exist (`update`, `delete`).
    NotFound,
    /// The merged document would be this many bytes (`update`).
    TooLarge(usize),
}

impl Store {
    /// Connects to Redis at `redis_url` (`redis://host:port[/db]`); every key will be under
    /// `prefix` (1 to 64 of `[A-Za-z0-9_.-]`).
    pub async fn connect(redis_url: &str, prefix: &str) -> Result<Self, DocStoreError> {
        let keys = Keys::new(prefix)?;
        let client = redis::Client::open(redis_url)?;
        // Few quick reconnection attempts: while Redis is down, answers should say so promptly
        // rather than wait out a long backoff.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500))
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let conn = client.get_connection_manager_with_config(config).await?;
        Ok(Self {
            client,
            conn,
            keys: Arc::new(keys),
            log_cap: DEFAULT_LOG_CAP,
        })
    }

    /// Sets how many entries each change log keeps (at least 1; default [`DEFAULT_LOG_CAP`]).
    pub fn with_log_cap(mut self, cap: usize) -> Self {
        self.log_cap = cap.max(1);
        self
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        self.keys.prefix()
    }

    /// Creates or replaces the document; returns its update time.
    pub async fn set(&self, path: &DocPath, data: &DocData) -> Result<u64, DocStoreError> {
        match self.write(path, "set", Some(data)).await? {
            Written::Done { update_time } => Ok(update_time),
            other => Err(unexpected(other)),
        }
    }

    /// Merges `data`'s top-level fields into the existing document (Firestore's `update`,
    /// without dotted field paths) in one atomic step; [`DocStoreError::NotFound`] if it does
    /// not exist, [`DocStoreError::DataTooLarge`] if the merged document would be over 64 KiB.
    pub async fn update(&self, path: &DocPath, data: &DocData) -> Result<u64, DocStoreError> {
        match self.write(path, "update", Some(data)).await? {
            Written::Done { update_time } => Ok(update_time),
            Written::NotFound => Err(DocStoreError::NotFound {
                path: path.to_string(),
            }),
            Written::TooLarge(size) => Err(DocStoreError::DataTooLarge { size }),
            other => Err(unexpected(other)),
        }
    }

    /// Creates a document with a new random id in `collection`; returns its path and update
    /// time.
    pub async fn add(
        &self,
        collection: &CollectionPath,
        data: &DocData,
    ) -> Result<(DocPath, u64), DocStoreError> {
        // 62^20 ids make a collision all but impossible; a few tries cover it anyway.
        for _ in 0..4 {
            let path = collection.new_doc()?;
            match self.write(&path, "create", Some(data)).await? {
                Written::Done { update_time } => return Ok((path, update_time)),
                Written::Exists => continue,
                other => return Err(unexpected(other)),
            }
        }
        Err(DocStoreError::Corrupt(
            "four random ids in a row were taken".into(),
        ))
    }

    /// The document, or `None` if it does not exist.
    pub async fn get(&self, path: &DocPath) -> Result<Option<Document>, DocStoreError> {
        let mut conn = self.conn.clone();
        Ok(self.snapshot_doc(&mut conn, path).await?.0.doc)
    }

    /// Deletes the document; returns whether it existed. Its subcollections stay, as in
    /// Firestore.
    pub async fn delete(&self, path: &DocPath) -> Result<bool, DocStoreError> {
        match self.write(path, "delete", None).await? {
            Written::Done { .. } => Ok(true),
            Written::NotFound => Ok(false),
            other => Err(unexpected(other)),
        }
    }

    /// Deletes every document of the collection (not their subcollections); returns how many.
    ///
    /// A convenience for cleanup that Firestore's client SDK does not have (there, an app deletes
    /// the documents one by one). Listeners see each deletion as a removal.
    pub async fn delete_collection(
        &self,
        collection: &CollectionPath,
    ) -> Result<u64, DocStoreError> {
        let mut conn = self.conn.clone();
        let mut deleted = 0;
        loop {
            let count: u64 = scripts::DELETE_COLLECTION
                .key(self.keys.index(collection))
                .key(self.keys.collection_log(collection))
                .key(self.keys.log_counters())
                .arg(self.keys.docs_of(collection))
                .arg(self.keys.doc_logs_of(collection))
                .arg(collection.as_str())
                .arg(self.log_cap)
                .arg(DELETE_BATCH)
                .invoke_async(&mut conn)
                .await?;
            deleted += count;
            if count < DELETE_BATCH as u64 {
                return Ok(deleted);
            }
        }
    }

    /// The collection's documents, in creation order.
    pub async fn list(&self, collection: &CollectionPath) -> Result<Vec<Document>, DocStoreError> {
        let mut conn = self.conn.clone();
        Ok(self.snapshot_collection(&mut conn, collection).await?.0)
    }

    /// Listens to a document: its current snapshot, and a watch that yields one snapshot per
    /// later change. The watch holds its own Redis connection, closed when it is dropped.
    pub async fn watch_doc(
        &self,
        path: &DocPath,
    ) -> Result<(DocSnapshot, DocWatch), DocStoreError> {
        let mut conn = self.listener_connection().await?;
        let (snapshot, last) = self.snapshot_doc(&mut conn, path).await?;
        let watch = DocWatch::new(conn, path.clone(), self.keys.doc_log(path), last);
        Ok((snapshot, watch))
    }

    /// Listens to a collection: its documents in creation order, and a watch that yields the
    /// later changes in order. The watch holds its own Redis connection, closed when dropped.
    pub async fn watch_collection(
        &self,
        collection: &CollectionPath,
    ) -> Result<(Vec<Document>, CollectionWatch), DocStoreError> {
        let mut conn = self.listener_connection().await?;
        let (docs, last) = self.snapshot_collection(&mut conn, collection).await?;
        let log = self.keys.collection_log(collection);
        Ok((
            docs,
            CollectionWatch::new(conn, collection.clone(), log, last),
        ))
    }

    /// Deletes every key under the prefix (documents, indexes, logs, counters); returns how
    /// many. For tests and demos cleaning up after themselves.
    pub async fn purge(&self) -> Result<u64, DocStoreError> {
        let mut conn = self.conn.clone();
        let mut deleted = 0;
        let mut cursor = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(self.keys.all())
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                deleted += conn.del::<_, u64>(&keys).await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// The name listener connections carry in Redis (`CLIENT LIST`), to see that none is left
    /// behind.
    pub fn listener_client_name(&self) -> String {
        format!("docstore-listener-{}", self.keys.prefix())
    }

    async fn write(
        &self,
        path: &DocPath,
        mode: &str,
        data: Option<&DocData>,
    ) -> Result<Written, DocStoreError> {
        let collection = path.parent();
        let mut call = scripts::WRITE.prepare_invoke();
        call.key(self.keys.doc(path))
            .key(self.keys.index(&collection))
            .key(self.keys.doc_log(path))
            .key(self.keys.collection_log(&collection))
            .key(self.keys.log_counters())
            .key(self.keys.write_counter())
            .arg(mode)
            .arg(path.id())
            .arg(path.as_str())
            .arg(self.log_cap)
            .arg(MAX_DATA_BYTES);
        for (name, value) in data.map(DocData::encoded).unwrap_or_default() {
            call.arg(name).arg(value);
        }
        let reply = array(call.invoke_async(&mut self.conn.clone()).await?)?;
        let outcome = required(reply.first(), "the write's outcome")?;
        Ok(match outcome.as_str() {
            "exists" => Written::Exists,
            "not_found" => Written::NotFound,
            "too_large" => {
                let size = number(&required(reply.get(1), "size")?, "size")?;
                Written::TooLarge(usize::try_from(size).unwrap_or(usize::MAX))
            }
            // {kind, create time, update time}
            _ => Written::Done {
                update_time: number(&required(reply.get(2), "update time")?, "update time")?,
            },
        })
    }

    async fn snapshot_doc(
        &self,
        conn: &mut impl redis::aio::ConnectionLike,
        path: &DocPath,
    ) -> Result<(DocSnapshot, u64), DocStoreError> {
        let reply: Value = scripts::SNAPSHOT_DOC
            .key(self.keys.doc(path))
            .key(self.keys.log_counters())
            .key(self.keys.doc_log(path))
            .invoke_async(conn)
            .await?;
        // {last change number, data, create time, update time}, or just the number.
        let reply = array(reply)?;
        let last = number(&required(reply.first(), "log number")?, "log number")?;
        let doc = match reply.get(1).map(text).transpose()?.flatten() {
            None => None,
            Some(data) => Some(document(
                path.clone(),
                &data,
                &required(reply.get(2), "create time")?,
                &required(reply.get(3), "update time")?,
            )?),
        };
        Ok((
            DocSnapshot {
                path: path.clone(),
                doc,
            },
            last,
        ))
    }

    async fn snapshot_collection(
        &self,
        conn: &mut impl redis::aio::ConnectionLike,
        collection: &CollectionPath,
    ) -> Result<(Vec<Document>, u64), DocStoreError> {
        let reply: Value = scripts::SNAPSHOT_COLLECTION
            .key(self.keys.index(collection))
            .key(self.keys.log_counters())
            .key(self.keys.collection_log(collection))
            .arg(self.keys.docs_of(collection))
            .invoke_async(conn)
            .await?;
        let reply = array(reply)?;
        let last = number(&required(reply.first(), "log number")?, "log number")?;
        let mut docs = Vec::with_capacity(reply.len() / 4);
        for entry in reply.get(1..).unwrap_or_default().chunks(4) {
            let [id, data, ctime, utime] = entry else {
                return Err(DocStoreError::Corrupt(
                    "a collection snapshot entry is cut short".into(),
                ));
            };
            let id = required(Some(id), "document id")?;
            docs.push(document(
                collection.doc(&id)?,
                &required(Some(data), "data")?,
                &required(Some(ctime), "create time")?,
                &required(Some(utime), "update time")?,
            )?);
        }
        Ok((docs, last))
    }

    /// A connection of its own for one listener: its `XREAD BLOCK` would hold up every other
    /// command on a shared one.
    async fn listener_connection(&self) -> Result<MultiplexedConnection, DocStoreError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(watch::BLOCK + RESPONSE_TIMEOUT));
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg(self.listener_client_name())
            .exec_async(&mut conn)
            .await?;
        Ok(conn)
    }
}

fn unexpected(outcome: Written) -> DocStoreError {
    DocStoreError::Corrupt(format!(
        "the write script answered {outcome:?} where it cannot"
    ))
}
