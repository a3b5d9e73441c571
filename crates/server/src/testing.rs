//! Support for tests that run against a real PostgreSQL server: each test gets its own fresh
//! database, created through an admin URL and dropped afterwards. Used by the store's
//! conformance suite and by the server's integration tests.
//!
//! The admin URL is `RINGWIRE_TEST_PG_URL` (default [`DEFAULT_PG_URL`]). An unreachable server
//! is a test failure with instructions, unless `RINGWIRE_SKIP_PG=1` says to skip.

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

/// Where the tests look for PostgreSQL when `RINGWIRE_TEST_PG_URL` is unset.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A freshly created, empty PostgreSQL database.
#[derive(Debug)]
pub struct PgTestDatabase {
    admin: PgConnection,
    name: String,
    /// URL of the new database.
    pub url: String,
}

impl PgTestDatabase {
    /// Creates `rw_test_<random hex>`. `None` (after printing a skip line) when
    /// `RINGWIRE_SKIP_PG=1`; panics with instructions when the server cannot be reached.
    pub async fn create() -> Option<PgTestDatabase> {
        if std::env::var("RINGWIRE_SKIP_PG").as_deref() == Ok("1") {
            eprintln!("skipping PostgreSQL test because RINGWIRE_SKIP_PG=1");
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
                 `pg_ctlcluster 15 main start`; ./scripts/test does this), point \
                 RINGWIRE_TEST_PG_URL at a server whose user may CREATE DATABASE, or set \
                 RINGWIRE_SKIP_PG=1 to skip the PostgreSQL tests."
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
        Some(PgTestDatabase { admin, name, url })
    }

    /// Drops the database (best effort: failures are only printed). Close every pool on it
    /// first, or rely on `WITH (FORCE)`.
    pub async fn destroy(mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut self.admin)
            .await
        {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
        let _ = self.admin.close().await;
    }
}
