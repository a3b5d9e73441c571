//! The analytics endpoints of the admin API (docs/http.md), behind the admin token:
//!
//! - `GET /v1/admin/analytics?from=&to=[&bucket_ms=]`: the figures of the timelines of calls
//!   invited in `[from, to)`, in total and per platform, and with `bucket_ms` per bucket;
//! - `GET /v1/admin/calls?[from=][&to=][&limit=][&cursor=]`: every user's calls, newest first,
//!   each with who uploaded a timeline;
//! - `GET /v1/admin/calls/{call_id}/timelines`: one call's record and every device's timeline.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ringwire_proto::CallId;
use ringwire_router::record::CallRecord;
use serde::Serialize;
use serde_json::json;

use super::report::{Analytics, MAX_BUCKETS};
use crate::clock::unix_ms;
use crate::http::{ApiError, AppState};
use crate::store::{HistoryCursor, TimelineSummary};

/// The range when a request names none: the last day.
const DEFAULT_RANGE_MS: u64 = 24 * 60 * 60 * 1000;
/// Smallest bucket.
const MIN_BUCKET_MS: u64 = 1000;
/// Most calls in one page of `GET /v1/admin/calls`.
pub const MAX_CALLS_PAGE: u32 = 200;

type Params = Query<HashMap<String, String>>;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", message)
}

/// An optional non-negative integer parameter.
fn number(params: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    params
        .get(name)
        .map(|text| {
            text.parse::<u64>().map_err(|_| {
                bad(format!(
                    "{name} must be a non-negative integer, got {text:?}"
                ))
            })
        })
        .transpose()
}

/// `[from, to)` from the parameters: `to` defaults to now, `from` to a day before `to`.
fn range(params: &HashMap<String, String>) -> Result<(u64, u64), ApiError> {
    let to = number(params, "to")?.unwrap_or_else(unix_ms);
    let from = number(params, "from")?.unwrap_or(to.saturating_sub(DEFAULT_RANGE_MS));
    if from >= to {
        return Err(bad(format!(
            "from ({from}) must be before to ({to}); both are UNIX milliseconds"
        )));
    }
    Ok((from, to))
}

/// `GET /v1/admin/analytics`.
pub async fn analytics(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(params): Params,
) -> Result<Response, ApiError> {
    st.require_admin(&headers)?;
    let (from, to) = range(&params)?;
    let bucket_ms = number(&params, "bucket_ms")?;
    if let Some(size) = bucket_ms {
        if size < MIN_BUCKET_MS {
            return Err(bad(format!("bucket_ms must be at least {MIN_BUCKET_MS}")));
        }
        let needed = Analytics::buckets_needed(from, to, size);
        if needed > MAX_BUCKETS {
            return Err(bad(format!(
                "{needed} buckets of {size} ms cover the range; at most {MAX_BUCKETS} are \
                 allowed: pick a larger bucket_ms or a shorter range"
            )));
        }
    }
    let mut analytics = Analytics::new(from, to, bucket_ms);
    st.conn
        .store
        .for_each_timeline_in_range(from, to, |t| analytics.add(&t))
        .await?;
    Ok(Json(analytics.finish()).into_response())
}

/// A call in the admin's list: its record and who uploaded a timeline.
#[derive(Serialize)]
struct ListedCall<'a> {
    #[serde(flatten)]
    call: &'a CallRecord,
    timelines: &'a [TimelineSummary],
}

/// `GET /v1/admin/calls`.
pub async fn recent_calls(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(params): Params,
) -> Result<Response, ApiError> {
    st.require_admin(&headers)?;
    let from = number(&params, "from")?.unwrap_or(0);
    let to = number(&params, "to")?.unwrap_or(u64::MAX);
    if from >= to {
        return Err(bad(format!("from ({from}) must be before to ({to})")));
    }
    let limit = match number(&params, "limit")? {
        None => 50,
        Some(n) => u32::try_from(n)
            .unwrap_or(u32::MAX)
            .clamp(1, MAX_CALLS_PAGE),
    };
    let before = params
        .get("cursor")
        .map(|text| {
            HistoryCursor::parse(text)
                .ok_or_else(|| bad("cursor must be a next_cursor value from an earlier page"))
        })
        .transpose()?;
    let calls = st.conn.store.recent_calls(from, to, limit, before).await?;
    let ids: Vec<CallId> = calls.iter().map(|c| c.call_id).collect();
    let summaries = st.conn.store.timeline_summaries(&ids).await?;
    let next_cursor = (calls.len() == limit as usize)
        .then(|| calls.last())
        .flatten()
        .map(|c| {
            HistoryCursor {
                invited_at_ms: c.invited_at_ms,
                call_id: Some(c.call_id),
            }
            .encode()
        });
    let listed: Vec<ListedCall<'_>> = calls
        .iter()
        .map(|call| ListedCall {
            call,
            timelines: summaries.get(&call.call_id).map_or(&[], Vec::as_slice),
        })
        .collect();
    Ok(Json(json!({"calls": listed, "next_cursor": next_cursor})).into_response())
}

/// `GET /v1/admin/calls/{call_id}/timelines`.
pub async fn call_timelines(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    st.require_admin(&headers)?;
    let call_id: CallId = id
        .parse()
        .map_err(|_| bad("the call id must be 32 lowercase hex digits"))?;
    let Some(call) = st.conn.store.call(call_id).await? else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "call_not_found",
            format!("no call {call_id} in the call record"),
        ));
    };
    let timelines = st.conn.store.timelines_of_call(call_id).await?;
    Ok(Json(json!({"call": call, "timelines": timelines})).into_response())
}
