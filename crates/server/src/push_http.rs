//! `PUT` / `DELETE /v1/devices/self/push`: a device registers or clears its push tokens over
//! HTTP, authenticated by its own device token — for apps that get a new push token while they
//! have no signaling connection (the WebSocket message `push_token` does the same). The body is
//! the `push_token` message without `type`, validated by the same rules.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use ringwire_proto::{DeviceId, PushPlatform, PushToken};
use serde::Deserialize;

use crate::http::{bearer, ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushBody {
    platform: String,
    voip_token: Option<String>,
    alert_token: Option<String>,
}

async fn device_of(st: &AppState, headers: &HeaderMap) -> Result<DeviceId, ApiError> {
    let unauthorized = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send this device's token as Authorization: Bearer <token>",
        )
    };
    let token = bearer(headers).ok_or_else(unauthorized)?;
    let (device, _) = st
        .conn
        .store
        .authenticate(token)
        .await?
        .ok_or_else(unauthorized)?;
    Ok(device.device_id)
}

/// `PUT /v1/devices/self/push` `{"platform":"apns"|"fcm"|"none","voip_token":…,"alert_token":…}`
/// → `204`.
pub async fn put_push(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let device = device_of(&st, &headers).await?;
    let req: PushBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("request body: {e}"),
        )
    })?;
    let platform = PushPlatform::parse(&req.platform).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            "platform must be \"apns\", \"fcm\" or \"none\"",
        )
    })?;
    let registration = PushToken::new(platform, req.voip_token, req.alert_token)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.code().as_str(), e.to_string()))?;
    st.conn.store.register_push(device, &registration).await?;
    tracing::info!(device_id = %device, platform = %platform, "push token registered over HTTP");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /v1/devices/self/push` → `204`: no more pushes to this device.
pub async fn delete_push(
    State(st): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let device = device_of(&st, &headers).await?;
    st.conn
        .store
        .set_push_tokens(device, None, None, None)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
