//! Who leads the cluster: a PostgreSQL advisory lock, held on a connection of its own, and an
//! epoch bumped by each new holder (the fencing token the record writer checks).
//!
//! Why this is safe:
//! - **One holder.** PostgreSQL grants a session-level advisory lock to one session at a time;
//!   every other node waits inside `pg_advisory_lock`.
//! - **A dead holder lets go.** The lock dies with its session. A killed process's socket is
//!   closed by its kernel at once; a vanished host is noticed by the other nodes' lease watch
//!   (its NATS lease runs out), and one of them ends the old session with
//!   `pg_terminate_backend` ([`terminate_stale`]).
//! - **A deposed holder cannot write.** The new holder bumps the epoch in `cluster_leader`
//!   before it reads any call; every call-record transaction of a leader checks the epoch it
//!   was elected at under a share lock on that row ([`crate::store::Store::apply_all_fenced`]).
//!   A write that began before the takeover finishes first and is read by the new leader; any
//!   later one is refused. Since clients are told nothing before their records commit, nothing
//!   a deposed leader decides after the takeover ever reaches a client.

use std::time::Duration;

use sqlx::postgres::PgConnection;
use sqlx::Connection;

use crate::clock::unix_ms;
use crate::error::ServerError;

/// How often the leader checks that its lock session is still alive.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// A won election: the lock-holding session and the epoch it was won at.
#[derive(Debug)]
pub struct Leadership {
    session: PgConnection,
    pub epoch: u64,
}

fn db_error(what: &str, e: sqlx::Error) -> ServerError {
    ServerError::Cluster(format!("{what}: {e}; check that PostgreSQL is reachable"))
}

/// The advisory-lock key of one cluster (FNV-1a of its prefix), so clusters can share a
/// database.
pub fn lock_key(cluster: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in cluster.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Waits until this node holds the cluster's lock, then takes the next epoch.
pub async fn campaign(url: &str, cluster: &str, node: &str) -> Result<Leadership, ServerError> {
    let mut session = PgConnection::connect(url)
        .await
        .map_err(|e| db_error("cannot connect for the leader election", e))?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(lock_key(cluster))
        .execute(&mut session)
        .await
        .map_err(|e| db_error("leader election failed", e))?;
    let epoch: i64 = sqlx::query_scalar(
        "INSERT INTO cluster_leader (cluster, epoch, node, pid, since_ms) \
         VALUES ($1, 1, $2, pg_backend_pid(), $3) \
         ON CONFLICT (cluster) DO UPDATE SET epoch = cluster_leader.epoch + 1, \
         node = EXCLUDED.node, pid = EXCLUDED.pid, since_ms = EXCLUDED.since_ms \
         RETURNING epoch",
    )
    .bind(cluster)
    .bind(node)
    .bind(i64::try_from(unix_ms()).unwrap_or(i64::MAX))
    .fetch_one(&mut session)
    .await
    .map_err(|e| db_error("could not record the new leader", e))?;
    Ok(Leadership {
        session,
        epoch: epoch.max(0) as u64,
    })
}

impl Leadership {
    /// Returns when the lock session has failed (the lock is then gone).
    pub async fn lost(&mut self) {
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            let alive = tokio::time::timeout(CHECK_EVERY * 3, self.session.ping()).await;
            if !matches!(alive, Ok(Ok(()))) {
                tracing::error!("lost the leader lock's database session");
                return;
            }
        }
    }
}

/// Ends the lock session of `node` if it still leads `cluster` (its lease has run out: the
/// host is gone without closing its socket). Safe even if the node is alive: the epoch fence
/// stops it from writing once another node has taken over.
pub async fn terminate_stale(url: &str, cluster: &str, node: &str) -> Result<bool, ServerError> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(|e| db_error("cannot connect to end a stale leader", e))?;
    let ended: Option<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid::int) FROM cluster_leader \
         WHERE cluster = $1 AND node = $2",
    )
    .bind(cluster)
    .bind(node)
    .fetch_optional(&mut conn)
    .await
    .map_err(|e| db_error("could not end a stale leader's session", e))?;
    let _ = conn.close().await;
    Ok(ended.unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_differ_per_cluster_and_are_stable() {
        assert_eq!(lock_key("ringwire"), lock_key("ringwire"));
        assert_ne!(lock_key("ringwire"), lock_key("ringwire2"));
    }
}
