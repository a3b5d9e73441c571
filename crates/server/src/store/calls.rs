//! The call record: folding router [`CallEvent`]s into rows (idempotently) and reading calls
//! back for history, recovery after a restart, and late devices.

use std::collections::HashMap;

use ringwire_proto::{CallId, DeviceId, EndReason, UserName};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Transaction};

use super::row::Cols;
use super::{ms_to_db, Store, StoreError};
use ringwire_router::record::{
    CallDeviceRecord, CallEvent, CallRecord, CallState, PushKind, PushOutcome, Reach,
};

/// The `calls` columns every read selects, in one place for all queries.
macro_rules! call_columns {
    () => {
        "id, caller_user, caller_device, callee_user, state, invited_at, ring_deadline, \
         first_ring_at, accepted_at, answered_device, ended_at, end_reason, ended_by_device"
    };
}

/// Generates the two queries of one read: the calls, and the devices of exactly those calls
/// (`$n` parameters are shared, the `WHERE` clause is written once).
macro_rules! call_queries {
    ($where:literal) => {
        (
            concat!("SELECT ", call_columns!(), " FROM calls ", $where),
            concat!(
                "SELECT call_id, device_id, reached_via, reached_at, rang_at, push_outcome, \
                        missed_call_push_outcome FROM call_devices \
                 WHERE call_id IN (SELECT id FROM calls ",
                $where,
                ") ORDER BY call_id, seq"
            ),
        )
    };
}

/// A position in a user's history: just after the call invited at `invited_at_ms` with id
/// `call_id` (without an id: before every call invited at that time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryCursor {
    pub invited_at_ms: u64,
    pub call_id: Option<CallId>,
}

impl HistoryCursor {
    /// The text form used by the HTTP API: `<invited_at_ms>.<call id>`.
    pub fn encode(&self) -> String {
        match self.call_id {
            Some(id) => format!("{}.{id}", self.invited_at_ms),
            None => self.invited_at_ms.to_string(),
        }
    }

    /// Parses [`HistoryCursor::encode`]'s text.
    pub fn parse(text: &str) -> Option<HistoryCursor> {
        let (ms, id) = match text.split_once('.') {
            Some((ms, id)) => (ms, Some(id.parse().ok()?)),
            None => (text, None),
        };
        Some(HistoryCursor {
            invited_at_ms: ms.parse().ok()?,
            call_id: id,
        })
    }
}

/// Which calls a read returns.
enum Filter<'a> {
    One(CallId),
    OfUser {
        user: &'a UserName,
        limit: u32,
        before: Option<HistoryCursor>,
    },
    Open,
    EndedSince(u64),
    /// Every user's calls invited in `[from, to)`, newest first, before `before`.
    Recent {
        from: u64,
        to: u64,
        limit: u32,
        before: Option<HistoryCursor>,
    },
}

impl Filter<'_> {
    /// (calls query, devices query).
    fn sql(&self) -> (&'static str, &'static str) {
        match self {
            Filter::One(_) => call_queries!("WHERE id = $1"),
            Filter::OfUser { .. } => call_queries!(
                "WHERE (caller_user = $1 OR callee_user = $1) \
                   AND (invited_at < $2 OR (invited_at = $2 AND id < $3)) \
                 ORDER BY invited_at DESC, id DESC LIMIT $4"
            ),
            Filter::Open => call_queries!("WHERE ended_at IS NULL ORDER BY invited_at, id"),
            Filter::EndedSince(_) => {
                call_queries!("WHERE ended_at >= $1 ORDER BY ended_at, id")
            }
            Filter::Recent { .. } => call_queries!(
                "WHERE invited_at >= $1 AND invited_at < $2 \
                   AND (invited_at < $3 OR (invited_at = $3 AND id < $4)) \
                 ORDER BY invited_at DESC, id DESC LIMIT $5"
            ),
        }
    }

    fn bind<'q>(&self, query: Query<'q, Any, AnyArguments>) -> Query<'q, Any, AnyArguments> {
        match self {
            Filter::One(id) => query.bind(id.to_string()),
            Filter::OfUser {
                user,
                limit,
                before,
            } => query
                .bind(user.as_str().to_owned())
                .bind(before.map_or(i64::MAX, |c| ms_to_db(c.invited_at_ms)))
                // "" sorts before every id: only strictly earlier invite times.
                .bind(
                    before
                        .and_then(|c| c.call_id)
                        .map_or(String::new(), |id| id.to_string()),
                )
                .bind(i64::from(*limit)),
            Filter::Open => query,
            Filter::EndedSince(since) => query.bind(ms_to_db(*since)),
            Filter::Recent {
                from,
                to,
                limit,
                before,
            } => query
                .bind(ms_to_db(*from))
                .bind(ms_to_db(*to))
                .bind(before.map_or(i64::MAX, |c| ms_to_db(c.invited_at_ms)))
                .bind(
                    before
                        .and_then(|c| c.call_id)
                        .map_or(String::new(), |id| id.to_string()),
                )
                .bind(i64::from(*limit)),
        }
    }
}

fn state_str(state: CallState) -> &'static str {
    match state {
        CallState::Ringing => "ringing",
        CallState::Active => "active",
        CallState::Ended => "ended",
    }
}

fn parse_state(s: &str) -> Option<CallState> {
    [CallState::Ringing, CallState::Active, CallState::Ended]
        .into_iter()
        .find(|st| state_str(*st) == s)
}

fn call_from_row(row: &AnyRow) -> Result<CallRecord, StoreError> {
    let c = Cols::new(row, "calls");
    Ok(CallRecord {
        call_id: c.valid("id", "call id")?,
        caller_user: c.valid("caller_user", "user name")?,
        caller_device: c.valid("caller_device", "device id")?,
        callee_user: c.valid("callee_user", "user name")?,
        state: c.parsed("state", "call state", parse_state)?,
        invited_at_ms: c.ms("invited_at")?,
        ring_deadline_ms: c.ms("ring_deadline")?,
        first_ring_at_ms: c.opt_ms("first_ring_at")?,
        accepted_at_ms: c.opt_ms("accepted_at")?,
        answered_device: c.opt_valid("answered_device", "device id")?,
        ended_at_ms: c.opt_ms("ended_at")?,
        end_reason: c.opt_parsed("end_reason", "end reason", EndReason::parse)?,
        ended_by_device: c.opt_valid("ended_by_device", "device id")?,
        devices: Vec::new(),
    })
}

fn call_device_from_row(row: &AnyRow) -> Result<(CallId, CallDeviceRecord), StoreError> {
    let c = Cols::new(row, "call_devices");
    let call_id = c.valid("call_id", "call id")?;
    let device = CallDeviceRecord {
        device_id: c.valid("device_id", "device id")?,
        reached_via: c.parsed("reached_via", "reach", Reach::parse)?,
        reached_at_ms: c.ms("reached_at")?,
        rang_at_ms: c.opt_ms("rang_at")?,
        push_outcome: c.opt_parsed("push_outcome", "push outcome", PushOutcome::parse)?,
        missed_call_push_outcome: c.opt_parsed(
            "missed_call_push_outcome",
            "push outcome",
            PushOutcome::parse,
        )?,
    };
    Ok((call_id, device))
}

impl Store {
    /// Applies one router event (see [`ringwire_router::record`]) in one transaction, with the
    /// rules of the router crate's pure fold, [`CallRecord::apply`] (a conformance test checks
    /// the two agree on random event streams). Idempotent:
    /// `Started` inserts if absent; `DeviceReached` keeps the first reach time and only upgrades
    /// `offline` to `socket`/`replay`/`push` and `replay` to `push`; `DeviceRang` sets the device's and the call's first ring
    /// time once; `Pushed` overwrites the device's outcome of that kind (the last word wins);
    /// `Accepted` only applies to a call still ringing and never accepted; `Ended`
    /// only applies to a call not yet ended. Events for an unknown call are logged and ignored.
    pub async fn apply(&self, event: &CallEvent) -> Result<(), StoreError> {
        self.apply_all(std::slice::from_ref(event)).await
    }

    /// Applies events in order in one transaction (the record writer's group commit): either
    /// all of them are durable when this returns `Ok`, or none is. Each event has the effect
    /// [`Store::apply`] describes.
    pub async fn apply_all(&self, events: &[CallEvent]) -> Result<(), StoreError> {
        self.apply_all_fenced(events, None).await
    }

    /// [`Store::apply_all`] for a cluster's leader: inside the same transaction, checks that
    /// the cluster `fence.0` is still at the epoch `fence.1` this node was elected with, and
    /// writes nothing ([`StoreError::Fenced`]) otherwise. The check takes a share lock on the
    /// leader row, so a node taking over (which updates that row) waits for this transaction
    /// and then reads what it wrote. PostgreSQL only, as clustering is.
    pub async fn apply_all_fenced(
        &self,
        events: &[CallEvent],
        fence: Option<(&str, u64)>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some((cluster, mine)) = fence {
            let current: Option<i64> =
                sqlx::query_scalar("SELECT epoch FROM cluster_leader WHERE cluster = $1 FOR SHARE")
                    .bind(cluster)
                    .fetch_optional(&mut *tx)
                    .await?;
            let current = current.map_or(0, |e| e.max(0) as u64);
            if current != mine {
                return Err(StoreError::Fenced { mine, current });
            }
        }
        let mut seen = Seen::default();
        let mut rest = events;
        while let Some(event) = rest.first() {
            // A call's fan-out (thousands of `DeviceReached` in a row) goes in a few multi-row
            // statements instead of one statement per device.
            let run = reach_run(rest);
            if run.len() > 1 {
                if let CallEvent::DeviceReached { call_id, .. } = event {
                    if known_call(&mut tx, &mut seen, *call_id, event).await? {
                        reach_many(&mut tx, &mut seen, *call_id, &run).await?;
                    }
                }
                rest = &rest[run.len()..];
                continue;
            }
            apply_one(&mut tx, &mut seen, event).await?;
            rest = &rest[1..];
        }
        tx.commit().await?;
        Ok(())
    }

    /// One call with its callee devices.
    pub async fn call(&self, id: CallId) -> Result<Option<CallRecord>, StoreError> {
        Ok(self.load_calls(Filter::One(id)).await?.pop())
    }

    /// Calls where the user is caller or callee, newest first (`invited_at` descending), at
    /// most `limit`, and, with `before_ms`, only those invited strictly before it (to fetch
    /// the next page pass the last call's `invited_at_ms`).
    pub async fn calls_of_user(
        &self,
        user: &UserName,
        limit: u32,
        before_ms: Option<u64>,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let before = before_ms.map(|invited_at_ms| HistoryCursor {
            invited_at_ms,
            call_id: None,
        });
        self.calls_of_user_page(user, limit, before).await
    }

    /// Like [`Store::calls_of_user`], from an exact position: calls ordered before `before`
    /// (by invite time, then call id, both descending), so calls invited in the same
    /// millisecond are never skipped between pages.
    pub async fn calls_of_user_page(
        &self,
        user: &UserName,
        limit: u32,
        before: Option<HistoryCursor>,
    ) -> Result<Vec<CallRecord>, StoreError> {
        self.load_calls(Filter::OfUser {
            user,
            limit,
            before,
        })
        .await
    }

    /// Calls not yet ended (for recovery after a restart), oldest first.
    pub async fn open_calls(&self) -> Result<Vec<CallRecord>, StoreError> {
        self.load_calls(Filter::Open).await
    }

    /// What a router starting from the store resumes (a restarted server, a cluster's new
    /// leader): the calls not yet ended, then those that ended within `retention_ms` of
    /// `now_ms`, so devices that connect late hear how they ended.
    pub async fn calls_to_resume(
        &self,
        now_ms: u64,
        retention_ms: u64,
    ) -> Result<Vec<CallRecord>, StoreError> {
        let mut calls = self.open_calls().await?;
        calls.extend(
            self.calls_ended_since(now_ms.saturating_sub(retention_ms))
                .await?,
        );
        Ok(calls)
    }

    /// Every user's calls invited in `[from_ms, to_ms)`, newest first (by invite time, then
    /// call id, both descending), at most `limit`, and with `before` only those ordered after
    /// it (the admin's list of recent calls; paging as [`Store::calls_of_user_page`]).
    pub async fn recent_calls(
        &self,
        from_ms: u64,
        to_ms: u64,
        limit: u32,
        before: Option<HistoryCursor>,
    ) -> Result<Vec<CallRecord>, StoreError> {
        self.load_calls(Filter::Recent {
            from: from_ms,
            to: to_ms,
            limit,
            before,
        })
        .await
    }

    /// Calls that ended at or after `since_ms` (so a restarted server can still tell late
    /// devices how a call ended), in the order they ended.
    pub async fn calls_ended_since(&self, since_ms: u64) -> Result<Vec<CallRecord>, StoreError> {
        self.load_calls(Filter::EndedSince(since_ms)).await
    }

    /// Runs both queries of `filter` in one transaction (one consistent snapshot) and attaches
    /// each call's devices.
    async fn load_calls(&self, filter: Filter<'_>) -> Result<Vec<CallRecord>, StoreError> {
        let (calls_sql, devices_sql) = filter.sql();
        let mut tx = self.pool.begin().await?;
        let call_rows = filter
            .bind(sqlx::query(calls_sql))
            .fetch_all(&mut *tx)
            .await?;
        let device_rows = filter
            .bind(sqlx::query(devices_sql))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;

        let mut devices: HashMap<CallId, Vec<CallDeviceRecord>> = HashMap::new();
        for row in &device_rows {
            let (call_id, device) = call_device_from_row(row)?;
            devices.entry(call_id).or_default().push(device);
        }
        call_rows
            .iter()
            .map(|row| {
                let mut call = call_from_row(row)?;
                call.devices = devices.remove(&call.call_id).unwrap_or_default();
                Ok(call)
            })
            .collect()
    }
}

/// What one transaction already knows, so a call with thousands of devices costs one query per
/// device, not a scan per device.
#[derive(Default)]
struct Seen {
    /// Calls known to exist.
    calls: std::collections::HashSet<CallId>,
    /// The next free device sequence number of each call touched.
    next_seq: HashMap<CallId, i64>,
}

async fn apply_one(
    tx: &mut Transaction<'static, Any>,
    seen: &mut Seen,
    event: &CallEvent,
) -> Result<(), StoreError> {
    if let CallEvent::Started {
        call_id,
        caller_user,
        caller_device,
        callee_user,
        invited_at_ms,
        ring_deadline_ms,
    } = event
    {
        sqlx::query(
            "INSERT INTO calls (id, caller_user, caller_device, callee_user, state, \
                                invited_at, ring_deadline) \
             VALUES ($1, $2, $3, $4, 'ringing', $5, $6) ON CONFLICT (id) DO NOTHING",
        )
        .bind(call_id.to_string())
        .bind(caller_user.as_str().to_owned())
        .bind(caller_device.to_string())
        .bind(callee_user.as_str().to_owned())
        .bind(ms_to_db(*invited_at_ms))
        .bind(ms_to_db(*ring_deadline_ms))
        .execute(&mut **tx)
        .await?;
        seen.calls.insert(*call_id);
        return Ok(());
    }
    if known_call(tx, seen, event.call_id(), event).await? {
        apply_to_existing(tx, seen, event).await?;
    }
    Ok(())
}

/// Whether the call exists (a warning is logged for an event about one that was never started).
async fn known_call(
    tx: &mut Transaction<'static, Any>,
    seen: &mut Seen,
    call_id: CallId,
    event: &CallEvent,
) -> Result<bool, StoreError> {
    if seen.calls.contains(&call_id) {
        return Ok(true);
    }
    if !call_exists(tx, call_id).await? {
        tracing::warn!(
            %call_id,
            ?event,
            "call record: ignoring an event for a call that was never started"
        );
        return Ok(false);
    }
    seen.calls.insert(call_id);
    Ok(true)
}

/// Most rows in one multi-row insert (5 parameters each, well under every database's limit).
const MAX_ROWS: usize = 100;

/// The `DeviceReached` events at the start of `events` that can go in one statement: the same
/// call, no device twice (PostgreSQL cannot update one row twice in a statement), at most
/// [`MAX_ROWS`].
fn reach_run(events: &[CallEvent]) -> Vec<(DeviceId, Reach, u64)> {
    let mut run = Vec::new();
    let mut call = None;
    for event in events.iter().take(MAX_ROWS) {
        let CallEvent::DeviceReached {
            call_id,
            device_id,
            via,
            at_ms,
        } = event
        else {
            break;
        };
        if call.is_some_and(|c| c != *call_id) || run.iter().any(|(d, _, _)| d == device_id) {
            break;
        }
        call = Some(*call_id);
        run.push((*device_id, *via, *at_ms));
    }
    run
}

/// Records devices reached for one (existing) call. A device reached for the first time gets
/// the next sequence number of its call (a repeat uses one up too; gaps are harmless, only the
/// order matters); a repeat keeps its first time and only upgrades `offline` to how it was
/// reached, or `replay` to `push` (the push service confirmed after the device connected).
async fn reach_many(
    tx: &mut Transaction<'static, Any>,
    seen: &mut Seen,
    call_id: CallId,
    devices: &[(DeviceId, Reach, u64)],
) -> Result<(), StoreError> {
    let seq = match seen.next_seq.get(&call_id) {
        Some(seq) => *seq,
        None => {
            sqlx::query_scalar::<_, i64>(
                "SELECT COALESCE(MAX(seq), -1) + 1 FROM call_devices WHERE call_id = $1",
            )
            .bind(call_id.to_string())
            .fetch_one(&mut **tx)
            .await?
        }
    };
    let count = i64::try_from(devices.len()).unwrap_or(i64::MAX);
    seen.next_seq.insert(call_id, seq.saturating_add(count));
    // Only placeholders are generated; every value is bound.
    let rows: Vec<String> = (0..devices.len())
        .map(|i| {
            let p = i * 5;
            format!(
                "(${}, ${}, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO call_devices (call_id, device_id, seq, reached_via, reached_at) VALUES {} \
         ON CONFLICT (call_id, device_id) DO UPDATE SET reached_via = excluded.reached_via \
         WHERE (call_devices.reached_via = 'offline' AND excluded.reached_via <> 'offline') \
            OR (call_devices.reached_via = 'replay' AND excluded.reached_via = 'push')",
        rows.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .persistent(super::cache_generated_statement(devices.len()));
    for (i, (device, via, at_ms)) in devices.iter().enumerate() {
        let offset = i64::try_from(i).unwrap_or(i64::MAX);
        query = query
            .bind(call_id.to_string())
            .bind(device.to_string())
            .bind(seq.saturating_add(offset))
            .bind(via.as_str())
            .bind(ms_to_db(*at_ms));
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

async fn call_exists(tx: &mut Transaction<'static, Any>, id: CallId) -> Result<bool, StoreError> {
    Ok(sqlx::query("SELECT id FROM calls WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?
        .is_some())
}

/// Applies every event but `Started` to a call known to exist.
async fn apply_to_existing(
    tx: &mut Transaction<'static, Any>,
    seen: &mut Seen,
    event: &CallEvent,
) -> Result<(), StoreError> {
    match event {
        CallEvent::Started { .. } => {}
        CallEvent::DeviceReached {
            call_id,
            device_id,
            via,
            at_ms,
        } => {
            reach_many(tx, seen, *call_id, &[(*device_id, *via, *at_ms)]).await?;
        }
        CallEvent::DeviceRang {
            call_id,
            device_id,
            at_ms,
        } => {
            let device = sqlx::query(
                "UPDATE call_devices SET rang_at = $3 \
                 WHERE call_id = $1 AND device_id = $2 AND rang_at IS NULL",
            )
            .bind(call_id.to_string())
            .bind(device_id.to_string())
            .bind(ms_to_db(*at_ms))
            .execute(&mut **tx)
            .await?;
            if device.rows_affected() == 0 && !device_reached(tx, *call_id, *device_id).await? {
                tracing::warn!(
                    %call_id,
                    %device_id,
                    "call record: a device rang that was never reached; only the call's first \
                     ring time is recorded"
                );
            }
            sqlx::query(
                "UPDATE calls SET first_ring_at = $2 WHERE id = $1 AND first_ring_at IS NULL",
            )
            .bind(call_id.to_string())
            .bind(ms_to_db(*at_ms))
            .execute(&mut **tx)
            .await?;
        }
        CallEvent::Accepted {
            call_id,
            device_id,
            at_ms,
        } => {
            sqlx::query(
                "UPDATE calls SET accepted_at = $2, answered_device = $3, state = 'active' \
                 WHERE id = $1 AND accepted_at IS NULL AND state = 'ringing'",
            )
            .bind(call_id.to_string())
            .bind(ms_to_db(*at_ms))
            .bind(device_id.to_string())
            .execute(&mut **tx)
            .await?;
        }
        CallEvent::Ended {
            call_id,
            reason,
            by_device,
            at_ms,
        } => {
            sqlx::query(
                "UPDATE calls SET ended_at = $2, end_reason = $3, ended_by_device = $4, \
                                  state = 'ended' \
                 WHERE id = $1 AND state <> 'ended'",
            )
            .bind(call_id.to_string())
            .bind(ms_to_db(*at_ms))
            .bind(reason.as_str())
            .bind(by_device.map(|d| d.to_string()))
            .execute(&mut **tx)
            .await?;
        }
        CallEvent::Pushed {
            call_id,
            device_id,
            kind,
            outcome,
            at_ms: _,
        } => {
            // Two fixed statements rather than a formatted column name: no SQL is ever built
            // from values.
            let sql = match kind {
                PushKind::Invite => {
                    "UPDATE call_devices SET push_outcome = $3 \
                     WHERE call_id = $1 AND device_id = $2"
                }
                PushKind::MissedCall => {
                    "UPDATE call_devices SET missed_call_push_outcome = $3 \
                     WHERE call_id = $1 AND device_id = $2"
                }
            };
            let done = sqlx::query(sql)
                .bind(call_id.to_string())
                .bind(device_id.to_string())
                .bind(outcome.as_str())
                .execute(&mut **tx)
                .await?;
            if done.rows_affected() == 0 {
                tracing::warn!(%call_id, %device_id, "call record: a push outcome for a device that was never reached");
            }
        }
    }
    Ok(())
}

async fn device_reached(
    tx: &mut Transaction<'static, Any>,
    call_id: CallId,
    device_id: DeviceId,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("SELECT device_id FROM call_devices WHERE call_id = $1 AND device_id = $2")
            .bind(call_id.to_string())
            .bind(device_id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .is_some(),
    )
}
