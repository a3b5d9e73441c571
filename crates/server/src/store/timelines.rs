//! Call timelines uploaded by devices (`call_timeline`), stored beside the call record: one per
//! device and call, checked against the record before it is written, and read back per call,
//! per time range (the analytics) and as a summary for lists of calls.

use std::collections::HashMap;

use futures_util::TryStreamExt;
use ringwire_proto::{
    CallDirection, CallId, CallTimeline, DeviceId, DevicePlatform, TimelineEvent,
};
use serde::Serialize;
use sqlx::any::AnyRow;

use super::row::Cols;
use super::{ms_to_db, Store, StoreError};

/// What became of an upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimelineOutcome {
    /// Written.
    Stored,
    /// No call record with this id.
    UnknownCall,
    /// The device is neither the call's caller device nor one of its callee devices.
    NotAParticipant,
    /// The device's role in the call is the other direction (a caller device cannot have an
    /// incoming timeline of its own call).
    WrongDirection { expected: CallDirection },
    /// This device already stored a timeline for the call; nothing changed.
    AlreadyStored,
}

/// A timeline as stored, with who uploaded it and when, and when its call was invited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoredTimeline {
    pub device_id: DeviceId,
    /// Server clock.
    pub uploaded_at_ms: u64,
    /// The call's invite time (server clock), from its record.
    pub invited_at_ms: u64,
    #[serde(flatten)]
    pub timeline: CallTimeline,
}

/// Which device uploaded a timeline for a call, and as what (for lists of calls).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TimelineSummary {
    pub device_id: DeviceId,
    pub platform: DevicePlatform,
    pub direction: CallDirection,
}

/// The columns every timeline read selects (the call's invite time comes from `calls`).
macro_rules! timeline_select {
    ($where:literal) => {
        concat!(
            "SELECT t.call_id, t.device_id, t.platform, t.direction, t.uploaded_at, t.events, \
                    c.invited_at \
             FROM call_timelines t JOIN calls c ON c.id = t.call_id ",
            $where
        )
    };
}

/// Most calls whose summaries one query reads (one parameter each).
const MAX_SUMMARY_CALLS: usize = 500;

impl Store {
    /// Stores `device`'s timeline if the call exists, the device took part in it in the
    /// direction it says, and it has not stored one before. The device's role comes from the
    /// call record: the caller device, or any callee device the call reached (also one that
    /// was offline throughout: a phone woken by a push after the call ended still saw the push).
    pub async fn store_timeline(
        &self,
        device: DeviceId,
        timeline: &CallTimeline,
        uploaded_at_ms: u64,
    ) -> Result<TimelineOutcome, StoreError> {
        let call_id = timeline.call_id().to_string();
        let device_text = device.to_string();
        // Calls are never deleted and their devices only grow, so the role read here still
        // holds when the row is inserted; the primary key settles concurrent uploads.
        let caller: Option<String> =
            sqlx::query_scalar("SELECT caller_device FROM calls WHERE id = $1")
                .bind(call_id.clone())
                .fetch_optional(&self.pool)
                .await?;
        let Some(caller) = caller else {
            return Ok(TimelineOutcome::UnknownCall);
        };
        let role = if caller == device_text {
            CallDirection::Outgoing
        } else if sqlx::query(
            "SELECT device_id FROM call_devices WHERE call_id = $1 AND device_id = $2",
        )
        .bind(call_id.clone())
        .bind(device_text.clone())
        .fetch_optional(&self.pool)
        .await?
        .is_some()
        {
            CallDirection::Incoming
        } else {
            return Ok(TimelineOutcome::NotAParticipant);
        };
        if role != timeline.direction() {
            return Ok(TimelineOutcome::WrongDirection { expected: role });
        }
        // `events` of a valid timeline always serialize.
        let events = serde_json::to_string(timeline.events())
            .map_err(|e| StoreError::Corrupt(format!("call_timelines.events: {e}")))?;
        let done = sqlx::query(
            "INSERT INTO call_timelines \
                 (call_id, device_id, platform, direction, uploaded_at, events) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (call_id, device_id) DO NOTHING",
        )
        .bind(call_id)
        .bind(device_text)
        .bind(timeline.platform().as_str())
        .bind(timeline.direction().as_str())
        .bind(ms_to_db(uploaded_at_ms))
        .bind(events)
        .execute(&self.pool)
        .await?;
        Ok(if done.rows_affected() == 0 {
            TimelineOutcome::AlreadyStored
        } else {
            TimelineOutcome::Stored
        })
    }

    /// Every timeline stored for one call, in upload order.
    pub async fn timelines_of_call(&self, call: CallId) -> Result<Vec<StoredTimeline>, StoreError> {
        let rows = sqlx::query(timeline_select!(
            "WHERE t.call_id = $1 ORDER BY t.uploaded_at, t.device_id"
        ))
        .bind(call.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(timeline_from_row).collect()
    }

    /// Hands `visit` every timeline of the calls invited in `[from_ms, to_ms)`, oldest call
    /// first, one at a time (a month of timelines is never held in memory at once).
    pub async fn for_each_timeline_in_range(
        &self,
        from_ms: u64,
        to_ms: u64,
        mut visit: impl FnMut(StoredTimeline),
    ) -> Result<(), StoreError> {
        let mut rows = sqlx::query(timeline_select!(
            "WHERE c.invited_at >= $1 AND c.invited_at < $2 \
             ORDER BY c.invited_at, t.call_id, t.device_id"
        ))
        .bind(ms_to_db(from_ms))
        .bind(ms_to_db(to_ms))
        .fetch(&self.pool);
        while let Some(row) = rows.try_next().await? {
            visit(timeline_from_row(&row)?);
        }
        Ok(())
    }

    /// Who uploaded timelines for each of `calls`, in upload order.
    pub async fn timeline_summaries(
        &self,
        calls: &[CallId],
    ) -> Result<HashMap<CallId, Vec<TimelineSummary>>, StoreError> {
        let mut out: HashMap<CallId, Vec<TimelineSummary>> = HashMap::new();
        for chunk in calls.chunks(MAX_SUMMARY_CALLS) {
            // Only placeholders are generated; every value is bound.
            let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT call_id, device_id, platform, direction FROM call_timelines \
                 WHERE call_id IN ({}) ORDER BY call_id, uploaded_at, device_id",
                params.join(", ")
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .persistent(super::cache_generated_statement(chunk.len()));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&self.pool).await? {
                let c = Cols::new(&row, "call_timelines");
                let call: CallId = c.valid("call_id", "call id")?;
                out.entry(call).or_default().push(TimelineSummary {
                    device_id: c.valid("device_id", "device id")?,
                    platform: c.parsed("platform", "platform", DevicePlatform::parse)?,
                    direction: c.parsed("direction", "direction", CallDirection::parse)?,
                });
            }
        }
        Ok(out)
    }
}

fn timeline_from_row(row: &AnyRow) -> Result<StoredTimeline, StoreError> {
    let c = Cols::new(row, "call_timelines");
    let call_id: CallId = c.valid("call_id", "call id")?;
    let platform = c.parsed("platform", "platform", DevicePlatform::parse)?;
    let direction = c.parsed("direction", "direction", CallDirection::parse)?;
    let events = c.parsed("events", "list of timeline events", |text| {
        serde_json::from_str::<Vec<TimelineEvent>>(text).ok()
    })?;
    let timeline = CallTimeline::new(call_id, platform, direction, events)
        .map_err(|e| StoreError::Corrupt(format!("call_timelines.events {e}")))?;
    Ok(StoredTimeline {
        device_id: c.valid("device_id", "device id")?,
        uploaded_at_ms: c.ms("uploaded_at")?,
        invited_at_ms: Cols::new(row, "calls").ms("invited_at")?,
        timeline,
    })
}
