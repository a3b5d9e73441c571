//! One conformance suite for the store, run against a real SQLite file and a real PostgreSQL
//! server. Every PostgreSQL test creates its own `rw_test_<random hex>` database through the
//! admin URL (`RINGWIRE_TEST_PG_URL`, default [`crate::testing::DEFAULT_PG_URL`]) and drops it afterwards, even
//! when the test fails. An unreachable server fails the PostgreSQL tests unless
//! `RINGWIRE_SKIP_PG=1` is set.

use std::panic::AssertUnwindSafe;

use super::*;
use crate::testing::PgTestDatabase;
use futures_util::FutureExt;

mod suite;

/// A store on a fresh SQLite file in a temporary directory (removed on drop).
struct SqliteTestDb {
    _dir: tempfile::TempDir,
    url: String,
    store: Store,
}

impl SqliteTestDb {
    async fn create() -> SqliteTestDb {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let store = Store::open_data_dir(dir.path())
            .await
            .expect("open a SQLite store in a temporary directory");
        let path = dir.path().join(SQLITE_FILE_NAME);
        let url = format!(
            "sqlite://{}",
            percent_encode_path(path.to_str().expect("temporary path is UTF-8"))
        );
        SqliteTestDb {
            _dir: dir,
            url,
            store,
        }
    }
}

/// A store on a fresh PostgreSQL database.
struct PgTestDb {
    db: PgTestDatabase,
    url: String,
    store: Store,
}

impl PgTestDb {
    /// `None` when `RINGWIRE_SKIP_PG=1`; panics with instructions when PostgreSQL is unreachable.
    async fn create() -> Option<PgTestDb> {
        let db = PgTestDatabase::create().await?;
        let url = db.url.clone();
        let store = match Store::open(&url).await {
            Ok(store) => store,
            Err(e) => {
                db.destroy().await;
                panic!("could not open the store on {url}: {e}");
            }
        };
        assert_eq!(store.backend(), "postgres");
        Some(PgTestDb { db, url, store })
    }

    /// Closes the store and drops the database.
    async fn destroy(self) {
        self.store.close().await;
        self.db.destroy().await;
    }
}

/// Runs `test` on a fresh PostgreSQL database and drops the database even if `test` panics.
macro_rules! with_pg {
    (|$db:ident| $body:expr) => {{
        let Some($db) = PgTestDb::create().await else {
            return;
        };
        let outcome = AssertUnwindSafe(async { $body }).catch_unwind().await;
        $db.destroy().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }};
}

/// Generates `sqlite::NAME` and `postgres::NAME` tests for each `suite::NAME(&Store)`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let db = SqliteTestDb::create().await;
                    assert_eq!(db.store.backend(), "sqlite");
                    suite::$name(&db.store).await;
                    db.store.close().await;
                }
            )*

            #[tokio::test]
            async fn reopen_keeps_everything() {
                let db = SqliteTestDb::create().await;
                suite::reopen_keeps_everything(&db.store, &db.url).await;
            }
        }

        mod postgres {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    with_pg!(|db| suite::$name(&db.store).await);
                }
            )*

            #[tokio::test]
            async fn reopen_keeps_everything() {
                with_pg!(|db| suite::reopen_keeps_everything(&db.store, &db.url).await);
            }
        }
    };
}

conformance!(
    users_add_get_list,
    duplicate_user_is_rejected,
    devices_and_tokens,
    only_token_hash_is_stored,
    push_registrations,
    call_lifecycle,
    push_outcomes_are_recorded,
    ended_is_final,
    unknown_call_events_are_ignored,
    history_by_user,
    open_and_recently_ended,
    corrupt_values_are_reported,
    concurrent_writers,
    many_devices_are_written_in_one_group,
    device_cap_and_revocations,
    store_and_fold_agree_on_random_event_streams,
    timelines_are_stored_once_per_device,
    a_timeline_must_match_the_device_role,
    timelines_are_listed_by_invite_time,
    corrupt_timelines_are_reported,
);

/// The pool is open whole from the start (after the switch to WAL, which needs the database to
/// itself), and keeps its connections.
#[tokio::test]
async fn sqlite_opens_every_connection_at_start() {
    let db = SqliteTestDb::create().await;
    // Connections go back to the pool in tasks of their own: give them a moment.
    let mut idle = 0;
    for _ in 0..100 {
        idle = db.store.pool().num_idle();
        if idle == SQLITE_CONNECTIONS as usize {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(idle, SQLITE_CONNECTIONS as usize);
    assert_eq!(db.store.pool().size(), SQLITE_CONNECTIONS);
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(db.store.pool())
        .await
        .expect("journal mode");
    assert_eq!(journal, "wal");
    db.store.close().await;
}

#[tokio::test]
async fn sqlite_open_data_dir_sets_up_the_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    // A nested directory that does not exist yet, with characters that need URL escaping.
    let data = dir.path().join("data dir").join("a?b#c%d");
    let store = Store::open_data_dir(&data).await.expect("open data dir");
    assert!(data.join(SQLITE_FILE_NAME).is_file());
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .expect("journal mode");
    assert_eq!(journal, "wal");
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.pool())
        .await
        .expect("foreign keys");
    assert_eq!(foreign_keys, 1);
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(store.pool())
        .await
        .expect("busy timeout");
    assert_eq!(busy, 5000);
    store.close().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
        };
        assert_eq!(mode(&data), 0o700, "the data directory is private");
        assert_eq!(
            mode(&data.join(SQLITE_FILE_NAME)),
            0o600,
            "the database is private"
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn an_existing_world_readable_database_is_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join(SQLITE_FILE_NAME);
    std::fs::write(&file, b"").expect("file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let store = Store::open_data_dir(dir.path()).await.expect("open");
    store.close().await;
    let mode = std::fs::metadata(&file)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[tokio::test]
async fn unsupported_urls_are_rejected_without_leaking_passwords() {
    for url in [
        "mysql://root:hunter2@db/ringwire",
        "ringwire.db",
        "sqlite::memory:",
    ] {
        let err = Store::open(url).await.expect_err(url);
        assert!(matches!(err, StoreError::InvalidUrl(_)), "{url}: {err:?}");
        let text = err.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("use sqlite://PATH or postgres://"), "{text}");
    }
}
