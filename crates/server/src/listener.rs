//! The HTTP listener: our own accept loop around hyper, so that every TCP connection is
//! bounded in number and in time.
//!
//! - **Connection limit.** Every accepted TCP connection — plain HTTP, half-open, or upgraded to
//!   a WebSocket — holds one permit of a semaphore for as long as its socket is open (the permit
//!   travels inside the IO object, through the WebSocket upgrade). The limit is
//!   `max_connections`, capped below the process's open-file limit (raised to its hard limit
//!   first) with a reserve for the store, push connections and logs: see
//!   [`effective_connection_limit`].
//! - **Load shedding.** A connection over the limit is answered at once with
//!   `503 server_full` and closed (a few at a time; beyond that it is closed unanswered), so
//!   the listener keeps draining its backlog and never runs out of descriptors.
//! - **Timeouts.** A request's head must arrive within the header timeout, which also closes
//!   idle keep-alive connections (hyper starts the timer whenever it waits for a head); a whole
//!   request must be handled within [`REQUEST_TIMEOUT`].
//! - **Shutdown.** On the signal the accept loop stops, and each connection finishes its
//!   request in flight (at most [`SHUTDOWN_GRACE`]) and closes.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::counted_io::CountedIo;
use crate::metrics::Metrics;

/// Longest a whole HTTP request may take (slow bodies included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a connection may take to finish its request in flight after shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);
/// Connections answered `503` at once while over the limit; more are closed unanswered.
const MAX_SHEDDING: usize = 64;
/// Open files kept free for everything that is not a client connection: at least this many…
const MIN_FD_RESERVE: u64 = 64;
/// …or this fraction of the limit, whichever is more.
const FD_RESERVE_DIVISOR: u64 = 10;

const SHED_BODY: &str = r#"{"error":{"code":"server_full","message":"the server is at its connection limit; retry with backoff"}}"#;

/// The connection limit in force: `configured`, but no more than the open-file limit less a
/// reserve. Raises the soft open-file limit to the hard limit first (as servers commonly do).
pub fn effective_connection_limit(configured: usize) -> usize {
    let Some(files) = raise_open_file_limit() else {
        return configured.max(1);
    };
    let by_files = usize::try_from(connections_within(files)).unwrap_or(usize::MAX);
    configured.min(by_files).max(1)
}

/// How many client connections an open-file limit of `files` leaves room for, once the reserve
/// is kept (so a load generator can plan for the server's real cap).
pub fn connections_within(files: u64) -> u64 {
    files.saturating_sub(MIN_FD_RESERVE.max(files / FD_RESERVE_DIVISOR))
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (capped at 2^20); returns the soft limit
/// in force afterwards, if it is finite.
fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    let ceiling = now.maximum.unwrap_or(1 << 20).min(1 << 20);
    if now.current.is_some_and(|cur| cur < ceiling) {
        let raised = Rlimit {
            current: Some(ceiling),
            maximum: now.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!(error = %e, "could not raise the open-file limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// Accepts connections until `shutdown` turns true; each connection is served on its own task
/// (see the module docs). Returns once the accept loop has stopped.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limit: usize,
    header_timeout: Duration,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(limit));
    let shedders = Arc::new(Semaphore::new(MAX_SHEDDING));
    metrics.set_tcp_limit(limit);
    let mut last_accept_warning: Option<tokio::time::Instant> = None;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutting_down(&mut shutdown) => return,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(error) => {
                // Out of descriptors (or another process-wide failure): back off briefly
                // instead of spinning, and say so at most once a second.
                let now = tokio::time::Instant::now();
                if last_accept_warning.is_none_or(|t| now - t >= Duration::from_secs(1)) {
                    last_accept_warning = Some(now);
                    tracing::warn!(%error, "accept failed; backing off");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(error) = tcp.set_nodelay(true) {
            // Signaling frames are small and latency-bound: Nagle would hold them back.
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let io = CountedIo::new(tcp, permit, metrics.clone());
                tokio::spawn(serve_connection(
                    io,
                    app.clone(),
                    header_timeout,
                    shutdown.clone(),
                ));
            }
            Err(_) => {
                metrics.tcp_shed();
                if let Ok(slot) = shedders.clone().try_acquire_owned() {
                    tokio::spawn(shed(tcp, slot));
                }
            }
        }
    }
}

async fn serve_connection(
    io: CountedIo,
    app: axum::Router,
    header_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let conn = builder
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(app))
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        served = conn.as_mut() => {
            if let Err(error) = served {
                tracing::debug!(%error, "HTTP connection ended with an error");
            }
        }
        _ = shutting_down(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
        }
    }
}

/// Resolves once shutdown has begun (or the signal's sender is gone).
pub async fn shutting_down(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, inside: it must not live across an await.
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Answers `503 server_full` and closes, within a second.
async fn shed(mut tcp: TcpStream, _slot: OwnedSemaphorePermit) {
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{SHED_BODY}",
        SHED_BODY.len()
    );
    let answer = async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await?;
        // Read what the client sent until it closes, so the close is not a reset that could
        // discard the response before the client reads it.
        let mut sink = [0u8; 1024];
        while tcp.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

/// Bounds the time one request may take; a request over it gets `408`.
pub async fn request_timeout(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(response) => response,
        Err(_) => crate::http::ApiError::new(
            http::StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request took too long; retry",
        )
        .into_response(),
    }
}
