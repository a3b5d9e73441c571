//! The HTTP surface: `/healthz`, `/metrics`, the WebSocket endpoint `/v1/ws`, call history
//! `/v1/calls`, the admin API under `/v1/admin` (its analytics in `analytics/http.rs`), the
//! browser client at `/` (`web.rs`) and the dashboard at `/admin/` (`dashboard.rs`). Errors are
//! JSON: `{"error": {"code": "...", "message": "..."}}`. Described in `docs/http.md`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use crate::admin::{self, AdminError};
use crate::connection::{self, Auth, ConnContext};
use crate::store::{hash_token, HistoryCursor, StoreError};

/// Largest WebSocket message accepted before the connection is closed (1009).
pub const MAX_WS_MESSAGE: usize = 1 << 20;
/// Each connection's WebSocket read buffer starts this small and grows only for a large message:
/// protocol messages are a few hundred bytes, and tungstenite's default 128 KiB per connection
/// was almost all of an idle connection's memory (`ringwire bench signaling`: 154 KB → see
/// bench/results).
const WS_READ_BUFFER: usize = 4 * 1024;
/// Frames are flushed once this much is queued; small, because messages are.
const WS_WRITE_BUFFER: usize = 4 * 1024;
/// Largest HTTP request body.
pub const MAX_BODY: usize = 64 * 1024;
/// Most history entries per page.
pub const MAX_HISTORY_PAGE: u32 = 200;

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    pub conn: ConnContext,
    pub admin_token_hash: Option<String>,
    /// This node's view of its cluster, when clustered.
    pub cluster: Option<Arc<crate::cluster::ClusterStatus>>,
    pub health: Arc<crate::health::Health>,
    pub max_devices_per_user: usize,
    pub next_conn: Arc<AtomicU64>,
}

/// The application's routes.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/ws", get(websocket))
        .route("/v1/calls", get(history))
        .route(
            "/v1/devices/self/push",
            put(crate::push_http::put_push).delete(crate::push_http::delete_push),
        )
        .route("/v1/admin/users", post(create_user).get(list_users))
        .route(
            "/v1/admin/users/{name}/devices",
            post(create_device).get(list_devices),
        )
        .route("/v1/admin/devices/{id}", delete(revoke_device))
        .route(
            "/v1/admin/analytics",
            get(crate::analytics::http::analytics),
        )
        .route("/v1/admin/calls", get(crate::analytics::http::recent_calls))
        .route(
            "/v1/admin/calls/{id}/timelines",
            get(crate::analytics::http::call_timelines),
        )
        .merge(crate::web::routes())
        .merge(crate::dashboard::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(crate::listener::request_timeout))
        .with_state(state)
}

/// A JSON error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; retry later",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let status = match e {
            AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
            AdminError::UserExists(_) | AdminError::TooManyDevices { .. } => StatusCode::CONFLICT,
            AdminError::UserNotFound(_) | AdminError::DeviceNotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Store(ref s) => return ApiError::internal(s),
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(e)
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("request body: {e}"),
        )
    })
}

impl AppState {
    fn is_admin(&self, headers: &HeaderMap) -> bool {
        match (&self.admin_token_hash, bearer(headers)) {
            (Some(hash), Some(token)) => hash_token(token) == *hash,
            _ => false,
        }
    }

    pub(crate) fn require_admin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.admin_token_hash.is_none() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_disabled",
                "the admin API is off; set admin_token in the config or RINGWIRE_ADMIN_TOKEN to enable it",
            ));
        }
        if self.is_admin(headers) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send the admin token as Authorization: Bearer <token>",
            ))
        }
    }
}

async fn healthz(State(st): State<AppState>) -> Response {
    let ok = match st.health.recent() {
        Some(ok) => Ok(ok),
        None => st.conn.store.ping().await.map(|()| true),
    };
    match ok {
        Ok(true) => {
            let mut body = json!({"status": "ok", "store": st.conn.store.backend()});
            if let Some(cluster) = &st.cluster {
                body["cluster"] = json!({
                    "node": cluster.node,
                    "leader": cluster.leader(),
                    "is_leader": cluster.is_leader(),
                    "nodes_seen": cluster.nodes_seen(),
                });
            }
            Json(body).into_response()
        }
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "store": st.conn.store.backend()})),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: store unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "store": st.conn.store.backend()})),
            )
                .into_response()
        }
    }
}

async fn metrics(State(st): State<AppState>) -> Response {
    let stats = st.conn.hub.stats().await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        {
            let mut text = st.conn.metrics.render(stats);
            if let Some(cluster) = &st.cluster {
                text.push_str(&cluster.render());
            }
            text
        },
    )
        .into_response()
}

async fn websocket(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let token = bearer(&headers)
        .map(str::to_owned)
        .or_else(|| query.get("token").cloned());
    let auth = match token {
        None => Auth::Refused(
            "missing device token: send Authorization: Bearer <token> or ?token=<token>",
        ),
        Some(t) => match st.conn.store.authenticate(&t).await {
            Ok(Some(found)) => Auth::Device(Box::new(found)),
            Ok(None) => Auth::Refused("unknown or revoked device token"),
            Err(e) => return ApiError::internal(e).into_response(),
        },
    };
    let conn = st.next_conn.fetch_add(1, Ordering::Relaxed);
    let ctx = st.conn.clone();
    ws.max_message_size(MAX_WS_MESSAGE)
        .max_frame_size(MAX_WS_MESSAGE)
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(WS_WRITE_BUFFER)
        .on_upgrade(move |socket| connection::serve(socket, auth, ctx, conn))
}

/// A history page holds at most this many callee-device entries in all (at least one call),
/// so a call with many devices cannot make a page huge.
pub const MAX_HISTORY_PAGE_DEVICES: usize = 1000;

#[derive(Deserialize)]
struct HistoryQuery {
    user: Option<String>,
    limit: Option<u32>,
    before: Option<u64>,
    cursor: Option<String>,
}

async fn history(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HistoryQuery>,
) -> Result<Response, ApiError> {
    let unauthorized = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send a device token (or the admin token) as Authorization: Bearer <token>",
        )
    };
    let user = if st.is_admin(&headers) {
        let name = q.user.as_deref().ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "missing_field",
                "the admin must name a user: ?user=NAME",
            )
        })?;
        admin::parse_user(name)?
    } else {
        let token = bearer(&headers).ok_or_else(unauthorized)?;
        let (_, me) = st
            .conn
            .store
            .authenticate(token)
            .await?
            .ok_or_else(unauthorized)?;
        if let Some(name) = q.user.as_deref() {
            if name != me.name.as_str() {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "a device may read only its own user's history",
                ));
            }
        }
        me.name
    };
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_HISTORY_PAGE);
    let before = match (q.cursor.as_deref(), q.before) {
        (Some(text), _) => Some(HistoryCursor::parse(text).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                "cursor must be a next_cursor value from an earlier page",
            )
        })?),
        (None, Some(ms)) => Some(HistoryCursor {
            invited_at_ms: ms,
            call_id: None,
        }),
        (None, None) => None,
    };
    let mut calls = st
        .conn
        .store
        .calls_of_user_page(&user, limit, before)
        .await?;
    let full = calls.len() == limit as usize;
    // Keep the page small in bytes too: stop once its calls list too many devices.
    let mut devices = 0;
    let keep = calls
        .iter()
        .position(|c| {
            devices += c.devices.len();
            devices > MAX_HISTORY_PAGE_DEVICES
        })
        .map_or(calls.len(), |over| over.max(1));
    let trimmed = keep < calls.len();
    calls.truncate(keep);
    let last = (full || trimmed).then(|| calls.last()).flatten();
    let next_cursor = last.map(|c| {
        HistoryCursor {
            invited_at_ms: c.invited_at_ms,
            call_id: Some(c.call_id),
        }
        .encode()
    });
    let next_before = last.map(|c| c.invited_at_ms);
    Ok(Json(json!({
        "user": user,
        "calls": calls,
        "next_cursor": next_cursor,
        "next_before": next_before,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    display_name: Option<String>,
}

async fn create_user(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    st.require_admin(&headers)?;
    let req: NewUser = parse_body(&body)?;
    let user = admin::add_user(&st.conn.store, &req.name, req.display_name.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(user)).into_response())
}

async fn list_users(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    st.require_admin(&headers)?;
    let users = st.conn.store.list_users().await?;
    Ok(Json(json!({"users": users})).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewDeviceReq {
    label: Option<String>,
}

async fn create_device(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    st.require_admin(&headers)?;
    let req: NewDeviceReq = if body.is_empty() {
        NewDeviceReq::default()
    } else {
        parse_body(&body)?
    };
    let created = admin::add_device(
        &st.conn.store,
        &name,
        req.label.as_deref(),
        st.max_devices_per_user,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn list_devices(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    st.require_admin(&headers)?;
    let devices = admin::list_devices(&st.conn.store, &name).await?;
    Ok(Json(json!({"devices": devices})).into_response())
}

async fn revoke_device(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    st.require_admin(&headers)?;
    let device = admin::revoke_device(&st.conn.store, &id).await?;
    // After the commit: a connection that registered before this sees the notice, one that
    // registers after it sees the revocation when it says hello.
    st.conn.revocations.revoke(device);
    Ok(StatusCode::NO_CONTENT.into_response())
}
