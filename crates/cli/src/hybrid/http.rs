//! The bridge host's HTTP surface: the hybrid page (`/`), the bridge WebSocket (`/bridge`), and
//! the simulated platform's call list and lock-screen actions (`/platform/...`).

use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt};
use ringwire_proto::CallId;
use serde_json::json;

use super::Host;

const INDEX_HTML: &[u8] = include_bytes!("../../../../web/dist/hybrid/index.html");
const HYBRID_JS: &[u8] = include_bytes!("../../../../web/dist/hybrid/hybrid.js");
const APP_CSS: &[u8] = include_bytes!("../../../../web/dist/app.css");

/// Same-origin only; the bridge WebSocket is same-origin too.
const CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   style-src 'self'; script-src 'self'; frame-ancestors 'none'";

/// Frames queued for a page; a suspended page stops reading, and the journal covers the rest.
const PAGE_QUEUE: usize = 256;
/// A bridge command is small (`ringwire_ffi::bridge::command::MAX_COMMAND_BYTES`).
const MAX_FRAME: usize = 64 * 1024;

pub(super) fn routes(host: Host) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/hybrid.js",
            get(|| async { asset(HYBRID_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/app.css",
            get(|| async { asset(APP_CSS, "text/css; charset=utf-8") }),
        )
        .route("/bridge", get(bridge_socket))
        .route("/platform/calls", get(platform_calls))
        .route("/platform/answer/{call_id}", post(platform_answer))
        .route("/platform/end/{call_id}", post(platform_end))
        .with_state(host)
}

fn asset(body: &'static [u8], content_type: &'static str) -> Response {
    ringwire_server::web::asset(body, content_type, CSP)
}

async fn bridge_socket(ws: WebSocketUpgrade, State(host): State<Host>) -> Response {
    ws.max_message_size(MAX_FRAME)
        .on_upgrade(move |socket| page_session(socket, host))
}

/// One page attached to the bridge: its commands in, responses and live events out.
async fn page_session(socket: WebSocket, host: Host) {
    let (mut to_page, mut from_page) = socket.split();
    let (out, mut out_rx) = tokio::sync::mpsc::channel::<String>(PAGE_QUEUE);
    let live = out.clone();
    let attachment = host.bridge.events().attach(Arc::new(move |text| {
        // Never block the engine's event loop on a page that stopped reading.
        let _ = live.try_send(text);
    }));
    let writer = tokio::spawn(async move {
        while let Some(text) = out_rx.recv().await {
            if to_page.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(message)) = from_page.next().await {
        let text = match message {
            Message::Text(text) => text.to_string(),
            Message::Binary(_) => json!({"type":"response","id":null,"ok":false,
                       "error":{"code":"malformed_json","message":"send text frames"}})
            .to_string(),
            Message::Close(_) => break,
            _ => continue,
        };
        let bridge = host.bridge.clone();
        // Engine calls wait for the engine thread: keep them off the async workers.
        let response = tokio::task::spawn_blocking(move || bridge.handle(&text)).await;
        let Ok(response) = response else { break };
        if out.send(response).await.is_err() {
            break;
        }
    }
    host.bridge.events().detach(attachment);
    writer.abort();
}

async fn platform_calls(State(host): State<Host>) -> Response {
    Json(host.platform.calls()).into_response()
}

/// CallKit's answer action, as if the user slid "answer" on the lock screen.
async fn platform_answer(State(host): State<Host>, Path(call_id): Path<String>) -> Response {
    platform_action(host, call_id, |engine, id| engine.answer(id)).await
}

/// CallKit's end action (the red button, or decline on the lock screen).
async fn platform_end(State(host): State<Host>, Path(call_id): Path<String>) -> Response {
    platform_action(host, call_id, |engine, id| engine.end(id)).await
}

async fn platform_action(
    host: Host,
    call_id: String,
    action: fn(&ringwire_engine::Engine, CallId) -> Result<(), ringwire_engine::EngineError>,
) -> Response {
    let Ok(id) = call_id.parse::<CallId>() else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            "a call id is 32 lowercase hex digits",
        );
    };
    let bridge = host.bridge.clone();
    let done = tokio::task::spawn_blocking(move || action(bridge.engine(), id)).await;
    match done {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => error(StatusCode::CONFLICT, "engine", &e.to_string()),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "action task failed",
        ),
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}
