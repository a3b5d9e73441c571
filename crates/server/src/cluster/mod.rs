//! Several `ringwire serve` nodes acting as one server (docs/cluster.md). Every node accepts
//! devices; one node at a time — the leader, elected with a PostgreSQL advisory lock
//! ([`election`]) — owns every call and runs the cluster's one pure router in an ordinary hub
//! ([`leader`]). Each node's connections talk to a [`port`] instead of a local hub: it
//! forwards their inputs to the leader over NATS and delivers the leader's frames. Node
//! liveness is a lease in a JetStream key-value bucket ([`lease`]).
//!
//! One router keeps every atomic decision of a single server atomic across the cluster — first
//! accept wins, busy, glare, the ring cap per user — and a takeover is a restart of that router
//! from the store, which the single server already does safely: records are durable before
//! clients hear of them, and the new leader's epoch fences the old one off.

pub mod election;
pub mod leader;
pub mod lease;
pub mod order;
pub mod port;
pub mod wire;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::ServerError;
use crate::hub::HubHandle;
pub use leader::RemoteLink;
use leader::{lead, LeaderContext};
use lease::{Leases, LEASE};
use wire::Subjects;

/// How one node joins its cluster.
#[derive(Clone, Debug)]
pub struct ClusterSettings {
    /// NATS URL, `nats://host:port` (credentials in the URL if the server wants them).
    pub nats_url: String,
    /// Subject prefix and cluster name: nodes with the same prefix and database form one
    /// cluster.
    pub prefix: String,
    /// This node's name, unique in the cluster while it runs.
    pub node: String,
    /// The PostgreSQL URL (the shared store; also the election's).
    pub database_url: String,
}

/// This node's view of the cluster, for metrics and tests.
#[derive(Debug)]
pub struct ClusterStatus {
    pub node: String,
    is_leader: AtomicBool,
    epoch: AtomicU64,
    takeovers: AtomicU64,
    calls_owned: AtomicU64,
    leader: Mutex<Option<String>>,
    leader_heard: Mutex<Option<Instant>>,
    leases: OnceLock<Leases>,
}

impl ClusterStatus {
    fn new(node: String) -> ClusterStatus {
        ClusterStatus {
            node,
            is_leader: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            takeovers: AtomicU64::new(0),
            calls_owned: AtomicU64::new(0),
            leader: Mutex::new(None),
            leader_heard: Mutex::new(None),
            leases: OnceLock::new(),
        }
    }

    fn became_leader(&self, epoch: u64) {
        self.is_leader.store(true, Ordering::Relaxed);
        self.epoch.store(epoch, Ordering::Relaxed);
        self.takeovers.fetch_add(1, Ordering::Relaxed);
    }

    fn lost_leadership(&self) {
        self.is_leader.store(false, Ordering::Relaxed);
        self.calls_owned.store(0, Ordering::Relaxed);
    }

    fn heard_leader(&self, node: &str, epoch: u64) {
        *self.leader.lock().unwrap_or_else(|p| p.into_inner()) = Some(node.to_owned());
        *self.leader_heard.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        self.epoch.fetch_max(epoch, Ordering::Relaxed);
    }

    /// Whether this node leads the cluster now.
    pub fn is_leader(&self) -> bool {
        self.is_leader.load(Ordering::Relaxed)
    }

    /// The leader this node last heard from.
    pub fn leader(&self) -> Option<String> {
        self.leader
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Nodes whose lease is current.
    pub fn nodes_seen(&self) -> Vec<String> {
        self.leases.get().map(Leases::alive).unwrap_or_default()
    }

    /// Prometheus lines for this node's view of the cluster.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut line = |name: &str, kind: &str, help: &str, value: u64| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{node=\"{}\"}} {value}\n",
                self.node
            ));
        };
        line(
            "ringwire_cluster_nodes_seen",
            "gauge",
            "Nodes of the cluster whose lease is current, this one included.",
            self.nodes_seen().len() as u64,
        );
        line(
            "ringwire_cluster_leader",
            "gauge",
            "1 while this node leads the cluster (owns every call and runs the router).",
            u64::from(self.is_leader()),
        );
        line(
            "ringwire_cluster_calls_owned",
            "gauge",
            "Ringing and active calls this node owns (0 unless it leads).",
            self.calls_owned.load(Ordering::Relaxed),
        );
        line(
            "ringwire_cluster_takeovers_total",
            "counter",
            "Times this node took the calls over as the new leader.",
            self.takeovers.load(Ordering::Relaxed),
        );
        line(
            "ringwire_cluster_epoch",
            "gauge",
            "The leader epoch this node last saw (it grows by one per takeover in the cluster).",
            self.epoch.load(Ordering::Relaxed),
        );
        out
    }
}

/// A running cluster membership.
#[derive(Debug)]
pub struct Cluster {
    pub hub: HubHandle,
    pub status: Arc<ClusterStatus>,
    port: JoinHandle<()>,
    election: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
    leases: Leases,
    client: async_nats::Client,
    stop: watch::Sender<bool>,
}

/// What a node's leader term needs from the server.
#[derive(Clone, Debug)]
pub struct LeaderParts {
    pub store: crate::store::Store,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub push: crate::push::PushGateway,
    pub router: ringwire_router::RouterConfig,
}

impl Cluster {
    /// Connects to NATS, takes a lease, starts the port and stands for election.
    pub async fn join(
        settings: ClusterSettings,
        parts: LeaderParts,
    ) -> Result<Cluster, ServerError> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("ringwire {}", settings.node))
            .retry_on_initial_connect()
            .connect(&settings.nats_url)
            .await
            .map_err(|e| {
                ServerError::Cluster(format!(
                    "cannot connect to NATS at {}: {e}; check --cluster and that nats-server runs \
                     with JetStream (-js)",
                    settings.nats_url
                ))
            })?;
        let subjects = Subjects::new(&settings.prefix);
        let js = async_nats::jetstream::new(client.clone());
        let (leases, mut background) =
            Leases::start(&js, &subjects.lease_bucket(), &settings.node).await?;
        let status = Arc::new(ClusterStatus::new(settings.node.clone()));
        let _ = status.leases.set(leases.clone());
        let (hub, port) =
            port::spawn_port(client.clone(), subjects.clone(), status.clone()).await?;
        let (stop, stop_rx) = watch::channel(false);
        let ctx = LeaderContext {
            client: client.clone(),
            subjects,
            cluster: settings.prefix.clone(),
            store: parts.store,
            metrics: parts.metrics,
            push: parts.push,
            router: parts.router,
            leases: leases.clone(),
            status: status.clone(),
        };
        let election = tokio::spawn(stand(settings.clone(), ctx, stop_rx));
        background.push(tokio::spawn(watch_leader(
            settings,
            status.clone(),
            leases.clone(),
        )));
        tracing::info!(node = %status.node, "joined the cluster");
        Ok(Cluster {
            hub,
            status,
            port,
            election,
            background,
            leases,
            client,
            stop,
        })
    }

    /// Leaves the cluster: lets the port stop (once the connections have dropped their hub
    /// handles), hands the lead over after the last record is written, gives the lease back.
    pub async fn leave(self) {
        let Cluster {
            hub,
            status: _,
            port,
            election,
            background,
            leases,
            client,
            stop,
        } = self;
        drop(hub);
        if tokio::time::timeout(Duration::from_millis(500), port)
            .await
            .is_err()
        {
            tracing::warn!("cluster port did not stop in time");
        }
        let _ = stop.send(true);
        if tokio::time::timeout(Duration::from_secs(12), election)
            .await
            .is_err()
        {
            tracing::warn!("leader did not hand over in time");
        }
        leases.release().await;
        for task in background {
            task.abort();
        }
        let _ = client.flush().await;
    }
}

/// Stands for election until stopped; leads whenever elected.
async fn stand(settings: ClusterSettings, ctx: LeaderContext, mut stop: watch::Receiver<bool>) {
    loop {
        // A node that cannot reach NATS could not hear the ports: it does not stand.
        while ctx.client.connection_state() != async_nats::connection::State::Connected {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = stop.changed() => return,
            }
        }
        let campaign = election::campaign(&settings.database_url, &settings.prefix, &settings.node);
        let leadership = tokio::select! {
            won = campaign => won,
            _ = stop.changed() => return,
        };
        match leadership {
            Ok(leadership) => {
                if lead(leadership, ctx.clone(), stop.clone()).await {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot stand for election; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }
}

/// A follower's watch for a leader whose host vanished: no announcement and no lease for
/// [`LEASE`], yet its database session may linger until TCP gives up. End it, so the election
/// moves on (the epoch fence keeps this safe even if the leader was only slow).
async fn watch_leader(settings: ClusterSettings, status: Arc<ClusterStatus>, leases: Leases) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if status.is_leader() {
            continue;
        }
        let Some(leader) = status.leader() else {
            continue;
        };
        let heard = *status
            .leader_heard
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let silent = heard.is_some_and(|at| at.elapsed() > LEASE);
        if silent && leader != status.node && !leases.is_alive(&leader) {
            match election::terminate_stale(&settings.database_url, &settings.prefix, &leader).await
            {
                Ok(true) => tracing::warn!(%leader, "ended a vanished leader's database session"),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "cannot end a vanished leader's session"),
            }
            *status
                .leader_heard
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = None;
        }
    }
}
