//! The server's persistent state: users, their devices (with the SHA-256 of each device token and
//! the push tokens), the call record folded from the router's [`CallEvent`]s, and the call
//! timelines devices upload beside it. The store owns the database schema (the SQL migrations in
//! `crates/server/migrations`, one set for SQLite and PostgreSQL alike) and is the only code that
//! talks SQL. Every value read back is parsed with its type's own validation, so a hand-edited or
//! damaged row surfaces as [`StoreError::Corrupt`] instead of a panic or an invalid id inside the
//! server.
//!
//! [`CallEvent`]: ringwire_router::record::CallEvent

mod calls;
mod row;
mod timelines;
mod users;

#[cfg(test)]
mod tests;

use std::path::Path;

use ringwire_proto::UserName;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyPool, Executor, Transaction};

pub use calls::HistoryCursor;
pub use timelines::{StoredTimeline, TimelineOutcome, TimelineSummary};
pub use users::{hash_token, DeviceRecord, DeviceToken, PushRegistration, UserRecord};

/// The schema, embedded at compile time from `crates/server/migrations`.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// File name of the SQLite database inside a data directory.
pub const SQLITE_FILE_NAME: &str = "ringwire.db";

/// Whether a statement whose text is generated for `rows` rows (a multi-row insert, an `IN`
/// list) goes into the connection's statement cache. Each distinct row count is a statement of
/// its own, and a long one is a large compiled program (a 500-row insert held about 100 KB per
/// connection): kept in the cache, a flood to a user with hundreds of devices left every pooled
/// connection holding several for good. Short ones, the everyday case, stay cached.
pub(crate) fn cache_generated_statement(rows: usize) -> bool {
    rows <= 8
}

/// The SQLite pool's size: one writer at a time, and readers for the connection storm's token
/// lookups.
const SQLITE_CONNECTIONS: u32 = 4;

/// What can go wrong in the store. Every message says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A user with this name already exists.
    #[error("user \"{0}\" already exists; pick another name")]
    UserExists(UserName),
    /// No user has this name.
    #[error("user \"{0}\" does not exist; add the user first or check the spelling")]
    UserNotFound(UserName),
    /// The user already has the most active devices allowed.
    #[error(
        "user \"{user}\" already has {max} active devices, the most allowed \
         (max_devices_per_user); revoke one first"
    )]
    TooManyDevices { user: UserName, max: usize },
    /// The database URL is not one the store can open (the text never contains a password).
    #[error("cannot open database {0}; use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE")]
    InvalidUrl(String),
    /// The database driver failed (connection lost, disk full, constraint violated, ...).
    #[error("database error: {0}; check that the database is reachable and writable")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error(
        "could not update the database schema: {0}; the database may belong to a newer \
         ringwire version or have been changed by hand"
    )]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The data directory could not be created or used.
    #[error("I/O error: {0}; check that the data directory exists and is writable")]
    Io(#[from] std::io::Error),
    /// A stored value failed to parse; the text names the table and column.
    #[error("corrupt value in the database: {0}; repair or delete that row by hand")]
    Corrupt(String),
    /// A clustered write was refused: another node has taken over as leader since this one was
    /// elected (docs/cluster.md); this node must stop acting as leader.
    #[error(
        "this node is no longer the cluster's leader (elected at epoch {mine}, the store is at \
         {current}); it stops routing calls and another node carries them on"
    )]
    Fenced { mine: u64, current: u64 },
}

/// Which database server is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Handle to the database; cheap to clone (all clones share one connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens by URL: "sqlite://PATH" (created if missing, WAL mode, busy timeout 5 s, foreign
    /// keys on) or "postgres://..." (also "postgresql://..."); runs migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        // Idempotent: sqlx guards the installation with its own `std::sync::Once`.
        sqlx::any::install_default_drivers();
        let (backend, url) = if url.starts_with("sqlite:") {
            if url.contains(":memory:") || url.contains("mode=memory") {
                // Each pooled connection would see its own empty database.
                return Err(StoreError::InvalidUrl(format!(
                    "{url:?} (in-memory SQLite is not supported)"
                )));
            }
            (Backend::Sqlite, sqlite_url_with_create(url))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::InvalidUrl(format!("{:?}", redact_url(url))));
        };

        let mut options = AnyPoolOptions::new();
        if backend == Backend::Sqlite {
            // SQLite has one writer at a time anyway; a few readers are plenty. Once open, a
            // connection stays: nothing is gained by closing one (the health check's ping
            // every 500 ms would keep them all in use anyway).
            options = options
                .max_connections(SQLITE_CONNECTIONS)
                .idle_timeout(None)
                .max_lifetime(None)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        // 256 KiB of page cache a connection (SQLite's default is 2 MiB): the
                        // store's rows are small and the OS caches the file anyway, while a
                        // flood's writes would leave each connection's full cache resident.
                        conn.execute("PRAGMA cache_size = -256").await?;
                        Ok(())
                    })
                });
        }
        let pool = options.connect(&url).await?;
        if backend == Backend::Sqlite {
            // Persistent in the file; set once here, while the pool has its one connection,
            // because switching the journal mode needs the database to itself and cannot wait
            // on the busy timeout.
            pool.execute("PRAGMA journal_mode = WAL").await?;
            // Then every connection is opened now, held at once so each is a new one: the
            // server's memory is what it will be under load, and a burst does not wait on
            // connection set-up.
            let mut opened = Vec::new();
            for _ in 0..SQLITE_CONNECTIONS {
                opened.push(pool.acquire().await?);
            }
        }
        MIGRATOR.run(&pool).await?;
        Ok(Store { pool, backend })
    }

    /// Creates `dir` if missing (mode 0700) and opens `dir/ringwire.db` (SQLite, mode 0600:
    /// call history and push tokens are nobody else's business; SQLite gives its `-wal` and
    /// `-shm` files the database file's mode).
    pub async fn open_data_dir(dir: &Path) -> Result<Store, StoreError> {
        let file = dir.join(SQLITE_FILE_NAME);
        private_files(dir, &file)?;
        let Some(path) = file.to_str() else {
            return Err(StoreError::InvalidUrl(format!(
                "{} (the path is not valid UTF-8)",
                file.display()
            )));
        };
        Store::open(&format!("sqlite://{}", percent_encode_path(path))).await
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Checks that the database answers (for health checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.pool.execute("SELECT 1").await?;
        Ok(())
    }

    /// Waits for in-flight queries and closes every connection. Later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a transaction that is going to write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a read-then-write transaction waits on the busy timeout instead
    /// of failing when another writer committed in between.
    async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// The pool, for raw SQL in tests.
    #[cfg(test)]
    fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Creates the data directory (0700) and the database file (0600) if missing, and takes group
/// and world access away from an existing database file.
fn private_files(dir: &Path, file: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(file)?;
        let mode = std::fs::metadata(file)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        std::fs::create_dir_all(dir)?;
    }
    Ok(())
}

/// Adds `mode=rwc` (create if missing) unless the URL already chooses a mode.
fn sqlite_url_with_create(url: &str) -> String {
    match url.split_once('?') {
        None => format!("{url}?mode=rwc"),
        Some((_, query)) if query.split('&').any(|p| p.starts_with("mode=")) => url.to_owned(),
        Some(_) => format!("{url}&mode=rwc"),
    }
}

/// The URL without any `user:password@` part, for error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Percent-encodes everything in a file path except unreserved characters and `/`, so that
/// `?`, `#`, `%` and spaces survive the URL round trip (sqlx decodes the path again).
fn percent_encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// UNIX milliseconds as stored (BIGINT). Times beyond year 292 million saturate.
fn ms_to_db(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The current time in UNIX milliseconds (only for the one method whose API has no `now_ms`).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn sqlite_urls_get_create_mode() {
        assert_eq!(
            sqlite_url_with_create("sqlite:///a/b.db"),
            "sqlite:///a/b.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url_with_create("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            sqlite_url_with_create("sqlite://a.db?mode=ro"),
            "sqlite://a.db?mode=ro"
        );
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("mysql://root:secret@db/x"), "mysql://***@db/x");
        assert_eq!(redact_url("foo"), "foo");
    }

    #[test]
    fn paths_are_percent_encoded() {
        assert_eq!(
            percent_encode_path("/tmp/a b?#%.db"),
            "/tmp/a%20b%3F%23%25.db"
        );
    }
}
