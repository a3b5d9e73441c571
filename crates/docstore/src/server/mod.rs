//! The docstore's HTTP server (axum): the WebSocket endpoint `/v1/docs` (one
//! session per connection, `session.rs`), the browser client at `/firestore-standin.js`, and
//! optionally a directory of pages under `/static/`, so a test page, its client and the store
//! share one origin and need no CORS.

mod files;
mod session;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::error::DocStoreError;
use crate::protocol::MAX_FRAME_BYTES;
use crate::store::Store;

/// The browser client, served at `/firestore-standin.js`.
pub const JS_CLIENT: &str = include_str!("../../js/firestore-standin.js");

/// Default most listeners one connection may hold.
pub const DEFAULT_MAX_LISTENERS: usize = 64;

/// Default most WebSocket connections at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;

/// Largest WebSocket message read at all. Frames between [`MAX_FRAME_BYTES`] and this are
/// answered with `frame_too_large` on a connection that stays open; beyond it the WebSocket
/// layer closes the connection (close code 1009), since it would have to buffer the frame.
const HARD_FRAME_LIMIT: usize = 1024 * 1024;

/// What the server serves.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The store behind `/v1/docs`.
    pub store: Store,
    /// A directory served under `/static/`, if any.
    pub static_dir: Option<PathBuf>,
    /// Most listeners per connection.
    pub max_listeners: usize,
    /// Most WebSocket connections at once.
    pub max_connections: usize,
}

impl ServerConfig {
    /// The default limits and no static directory.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            static_dir: None,
            max_listeners: DEFAULT_MAX_LISTENERS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

#[derive(Clone)]
struct AppState {
    config: Arc<ServerConfig>,
    connections: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
}

/// A running server. [`Server::shutdown`] stops it and waits; dropping it stops it too, without
/// waiting.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<(), DocStoreError>>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free one) and starts serving on the current runtime.
    pub async fn start(addr: SocketAddr, config: ServerConfig) -> Result<Self, DocStoreError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| DocStoreError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| DocStoreError::Bind { addr, source })?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let state = AppState {
            connections: Arc::new(Semaphore::new(config.max_connections)),
            config: Arc::new(config),
            shutdown: shutdown_rx.clone(),
        };
        let app = Router::new()
            .route("/", get(index))
            .route("/v1/docs", get(docs))
            .route("/firestore-standin.js", get(js_client))
            .route("/static/{*path}", get(static_file))
            .with_state(state);
        // Small frames answer small frames: without TCP_NODELAY, a push right behind an answer
        // waits for the peer's delayed ACK (40 ms a write when a listener is on).
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!("TCP_NODELAY not set: {e}");
            }
        });
        let mut stop = shutdown_rx;
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // Either a shutdown or a dropped sender ends the wait.
                    let _ = stop.wait_for(|stopped| *stopped).await;
                })
                .await
                .map_err(DocStoreError::Serve)
        });
        Ok(Self {
            addr,
            shutdown,
            task,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The WebSocket URL of the store: `ws://<addr>/v1/docs`.
    pub fn url(&self) -> String {
        format!("ws://{}/v1/docs", self.addr)
    }

    /// Closes every WebSocket connection (ending their listeners) and stops serving.
    pub async fn shutdown(self) -> Result<(), DocStoreError> {
        let _ = self.shutdown.send(true);
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(DocStoreError::Serve(std::io::Error::other(e))),
        }
    }
}

async fn index() -> &'static str {
    "ringwire-docstore: a Firestore stand-in for tests and demos. WebSocket: /v1/docs; \
     browser client: /firestore-standin.js; pages: /static/\n"
}

async fn docs(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    let Ok(permit) = state.connections.clone().try_acquire_owned() else {
        let message = format!(
            "ringwire-docstore has its maximum of {} connections: close some and retry\n",
            state.config.max_connections
        );
        return (StatusCode::SERVICE_UNAVAILABLE, message).into_response();
    };
    upgrade
        .max_message_size(HARD_FRAME_LIMIT)
        .max_frame_size(HARD_FRAME_LIMIT)
        .on_upgrade(move |socket| async move {
            session::serve_socket(socket, &state.config, state.shutdown).await;
            drop(permit);
        })
}

async fn js_client() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        JS_CLIENT,
    )
        .into_response()
}

async fn static_file(State(state): State<AppState>, Path(path): Path<String>) -> Response {
    match &state.config.static_dir {
        Some(dir) => files::serve(dir, &path).await,
        None => (
            StatusCode::NOT_FOUND,
            "no --static directory is being served\n",
        )
            .into_response(),
    }
}

// MAX_FRAME_BYTES is what sessions answer `frame_too_large` over; the hard limit must be above it.
const _: () = assert!(HARD_FRAME_LIMIT > MAX_FRAME_BYTES);
