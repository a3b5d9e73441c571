//! One conformance suite for the store, run against a real SQLite file and a real PostgreSQL
//! server. Every PostgreSQL test creates its own `rw_test_<random hex>` database through the
//! admin URL (`RINGWIRE_TEST_PG_URL`, default [`DEFAULT_PG_URL`]) and drops it afterwards, even
//! when the test fails. An unreachable server fails the PostgreSQL tests unless
//! `RINGWIRE_SKIP_PG=1` is set.

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

use super::*;

mod suite;

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

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

/// A store on a fresh PostgreSQL database, plus the admin connection that created it.
struct PgTestDb {
    admin: PgConnection,
    name: String,
    url: String,
    store: Store,
}

impl PgTestDb {
    /// `None` (after printing a skip line) when `RINGWIRE_SKIP_PG=1`; panics with instructions
    /// when the server cannot be reached.
    async fn create() -> Option<PgTestDb> {
        if std::env::var("RINGWIRE_SKIP_PG").as_deref() == Ok("1") {
            eprintln!("skipping PostgreSQL store test because RINGWIRE_SKIP_PG=1");
            return None;
        }
        let admin_url =
            std::env::var("RINGWIRE_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
        let admin_options: PgConnectOptions = admin_url.parse().unwrap_or_else(|e| {
            panic!("RINGWIRE_TEST_PG_URL={admin_url:?} is not a PostgreSQL URL: {e}")
        });
        let mut admin = admin_options.connect().await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin_url} ({e}).\nStart it (for example \
                 `pg_ctlcluster 15 main start` or `service postgresql start`), point \
                 RINGWIRE_TEST_PG_URL at a server whose user may CREATE DATABASE, or set \
                 RINGWIRE_SKIP_PG=1 to skip the PostgreSQL store tests."
            )
        });
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("operating system random number generator");
        let name = format!("rw_test_{}", hex::encode(bytes));
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "could not create test database {name} on {admin_url}: {e}; the user needs \
                     the CREATEDB privilege"
                )
            });
        let url = admin_options.database(&name).to_url_lossy().to_string();
        let store = match Store::open(&url).await {
            Ok(store) => store,
            Err(e) => {
                drop_pg_database(&mut admin, &name).await;
                panic!("could not open the store on {name}: {e}");
            }
        };
        assert_eq!(store.backend(), "postgres");
        Some(PgTestDb {
            admin,
            name,
            url,
            store,
        })
    }

    /// Closes the store and drops the database (best effort: failures are only printed).
    async fn destroy(mut self) {
        self.store.close().await;
        drop_pg_database(&mut self.admin, &self.name).await;
        let _ = self.admin.close().await;
    }
}

async fn drop_pg_database(admin: &mut PgConnection, name: &str) {
    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    if let Err(e) = sqlx::raw_sql(AssertSqlSafe(sql)).execute(admin).await {
        eprintln!("warning: could not drop test database {name}: {e}");
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
    call_lifecycle,
    ended_is_final,
    unknown_call_events_are_ignored,
    history_by_user,
    open_and_recently_ended,
    corrupt_values_are_reported,
    concurrent_writers,
);

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
