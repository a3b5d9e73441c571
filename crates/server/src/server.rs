//! Assembles and runs the server: opens the store, restores calls that were ringing or active
//! when the last process stopped, starts the record writer, the hub and the timeline writer,
//! serves HTTP through
//! our own accept loop ([`crate::listener`]), and on shutdown closes every connection with
//! `shutting_down`, lets the hub stop, drains the record writer, and closes the store — so no
//! decided call event is lost. Every step of the shutdown is bounded: a stalled client cannot
//! hold it up (the whole sequence normally takes well under a second).

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::unix_ms;
use crate::cluster::{Cluster, LeaderParts};
use crate::config::{DatabaseLocation, ServerConfig};
use crate::connection::ConnContext;
use crate::error::ServerError;
use crate::health::{self, Health};
use crate::http::{routes, AppState};
use crate::hub::{spawn_hub, wait_stopped};
use crate::last_seen::LastSeen;
use crate::listener;
use crate::metrics::Metrics;
use crate::push::{PushGateway, PushSettings};
use crate::reclaim;
use crate::revocation::{self, Revocations};
use crate::store::{hash_token, Store};
use crate::timelines::TimelineWriter;
use crate::writer::RecordWriter;
use ringwire_router::Router;

/// How long shutdown waits for connections to say goodbye (each is bounded well below this).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
/// How long shutdown waits for the last-seen writer (the hub's own waits are in `hub`).
const HUB_TIMEOUT: Duration = Duration::from_millis(500);
/// How long shutdown waits for the timeline writer to finish its queue.
const WRITER_TIMEOUT: Duration = Duration::from_secs(10);

/// Who routes the calls: this process's own hub, or the cluster.
#[derive(Debug)]
enum Routing {
    Single {
        hub_task: JoinHandle<()>,
        writer_task: JoinHandle<()>,
    },
    Cluster(Box<Cluster>),
}

impl Routing {
    /// Stops routing once the connections are gone, without losing a decided call event.
    async fn stop(self) {
        match self {
            Routing::Single {
                hub_task,
                writer_task,
            } => {
                // The hub stops when the last handle (held by connections and routes) is gone.
                wait_stopped(hub_task, writer_task).await;
            }
            Routing::Cluster(cluster) => cluster.leave().await,
        }
    }
}

/// The calls to resume ([`Store::calls_to_resume`]), saying how many were still open.
async fn restore_calls(
    store: &Store,
    router: &Router,
) -> Result<Vec<ringwire_router::record::CallRecord>, ServerError> {
    let restored = store
        .calls_to_resume(unix_ms(), router.config().ended_retention_ms)
        .await?;
    let open = restored.iter().filter(|c| c.ended_at_ms.is_none()).count();
    if open > 0 {
        tracing::info!(
            calls = open,
            "resuming calls that were open when the server stopped"
        );
    }
    Ok(restored)
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<(), ServerError>>,
    metrics: Arc<Metrics>,
}

/// Opens the configured store (creating the data directory for SQLite).
pub async fn open_store(config: &ServerConfig) -> Result<Store, ServerError> {
    Ok(match config.database() {
        DatabaseLocation::DataDir(dir) => Store::open_data_dir(&dir).await?,
        DatabaseLocation::Url(url) => Store::open(&url).await?,
    })
}

impl Server {
    /// Starts serving; returns once the listener is bound.
    pub async fn start(config: ServerConfig) -> Result<Server, ServerError> {
        config.validate()?;
        // Keys are read before anything else starts, so a wrong path stops the server at once.
        let push_settings =
            PushSettings::load(&config).map_err(|e| ServerError::Config(e.to_string()))?;
        let ice = Arc::new(config.ice_settings()?);
        let cluster_settings = config.cluster_settings()?;
        let store = open_store(&config).await?;
        let metrics = Arc::new(Metrics::default());
        let push = PushGateway::new(push_settings, store.clone(), metrics.clone())
            .map_err(|e| ServerError::Config(e.to_string()))?;
        push.log_status();
        let (hub, routing) = match cluster_settings {
            None => {
                let router = Router::new(config.router());
                let restored = restore_calls(&store, &router).await?;
                let (writer, committed, writer_task) =
                    RecordWriter::spawn(store.clone(), metrics.clone());
                let (hub, hub_task) =
                    spawn_hub(router, restored, metrics.clone(), writer, committed, push);
                (
                    hub,
                    Routing::Single {
                        hub_task,
                        writer_task,
                    },
                )
            }
            Some(settings) => {
                let parts = LeaderParts {
                    store: store.clone(),
                    metrics: metrics.clone(),
                    push,
                    router: config.router(),
                };
                let cluster = Cluster::join(settings, parts).await?;
                (cluster.hub.clone(), Routing::Cluster(Box::new(cluster)))
            }
        };
        let cluster_status = match &routing {
            Routing::Cluster(c) => Some(c.status.clone()),
            Routing::Single { .. } => None,
        };
        let (timelines, timelines_task) = TimelineWriter::spawn(store.clone(), metrics.clone());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let revocations = Arc::new(Revocations::default());
        let watcher =
            revocation::spawn_watcher(store.clone(), revocations.clone(), shutdown_rx.clone());
        let health = Arc::new(Health::default());
        let checker = health::spawn_checker(store.clone(), health.clone(), shutdown_rx.clone());
        let (last_seen, last_seen_task) = LastSeen::spawn(store.clone());
        let reclaimer = reclaim::spawn_reclaimer(metrics.clone(), shutdown_rx.clone());
        let state = AppState {
            conn: ConnContext {
                hub,
                store: store.clone(),
                metrics: metrics.clone(),
                shutdown: shutdown_rx.clone(),
                revocations,
                last_seen,
                ring_timeout_ms: config.ring_timeout_secs * 1000,
                max_messages_per_sec: config.max_messages_per_sec,
                ice: ice.clone(),
                timelines,
            },
            admin_token_hash: config.admin_token.as_deref().map(hash_token),
            cluster: cluster_status,
            health,
            max_devices_per_user: config.max_devices_per_user,
            next_conn: Arc::new(AtomicU64::new(1)),
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(ServerError::Serve)?;
        let limit = listener::effective_connection_limit(config.max_connections);
        if limit < config.max_connections {
            tracing::info!(
                configured = config.max_connections,
                limit,
                "max_connections capped below the open-file limit"
            );
        }
        tracing::info!(%addr, store = store.backend(), admin_api = config.admin_token.is_some(), max_connections = limit, ice_servers = config.ice.servers.len(), turn_credentials = config.ice.turn_secret.is_some(), "ringwire server listening");
        let app = routes(state);
        let header_timeout = Duration::from_secs(config.http_header_timeout_secs);
        let server_metrics = metrics.clone();
        let task = tokio::spawn(async move {
            listener::serve(
                listener,
                app,
                limit,
                header_timeout,
                metrics.clone(),
                shutdown_rx,
            )
            .await;
            // Every connection, HTTP or WebSocket, has the shutdown signal and closes within a
            // bounded time; wait for the sockets to be gone.
            let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
            while (metrics.open_tcp() > 0 || metrics.open_connections() > 0)
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let _ = watcher.await;
            let _ = checker.await;
            if let Some(reclaimer) = reclaimer {
                let _ = reclaimer.await;
            }
            routing.stop().await;
            // Its handles went with the connections and routes; what is queued is written
            // (the answers go nowhere, and the devices upload again and hear already_stored).
            if tokio::time::timeout(WRITER_TIMEOUT, timelines_task)
                .await
                .is_err()
            {
                tracing::warn!("timeline writer did not drain in time");
            }
            if tokio::time::timeout(HUB_TIMEOUT, last_seen_task)
                .await
                .is_err()
            {
                tracing::warn!("last-seen writer did not finish in time");
            }
            store.close().await;
            tracing::info!("ringwire server stopped");
            Ok(())
        });
        Ok(Server {
            addr,
            shutdown,
            task,
            metrics: server_metrics,
        })
    }

    /// The server's metrics (for tests and embedding).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Asks the server to stop and waits until it has.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        let _ = self.shutdown.send(true);
        self.wait().await
    }

    /// Waits until the server stops (after [`Server::shutdown`] or a fatal error).
    pub async fn wait(self) -> Result<(), ServerError> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(ServerError::Serve(std::io::Error::other(e))),
        }
    }

    /// A handle that can trigger shutdown from elsewhere (a signal handler).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }
}

/// Triggers a graceful shutdown.
#[derive(Clone, Debug)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    /// Starts the shutdown; idempotent.
    pub fn trigger(&self) {
        let _ = self.0.send(true);
    }
}
