//! The leader's side: once this node wins the election it restores the calls from the store
//! (exactly as a restarted single server does), runs the one [`Router`] of the cluster in an
//! ordinary hub, and feeds it the inputs every node's port sends. A connection held by another
//! node is a [`RemoteLink`] in the hub, so the hub carries out the router's outputs unchanged:
//! frames for remote connections go out on their node's subject.
//!
//! It also drops the devices of a node whose lease ran out (as the hub would for connections
//! that closed), and announces itself every second so ports that missed the takeover find it.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::StreamExt;
use ringwire_proto::DeviceId;
use ringwire_router::{ConnId, Input, Router, RouterConfig};
use tokio::sync::{mpsc, watch, Notify};

use super::election::Leadership;
use super::lease::{Leases, LEASE, RENEW_EVERY};
use super::order::{InputOrder, Step};
use super::wire::{Ack, Envelope, LeaderAnnounce, LocalConn, NodeFrame, NodeInput, Subjects};
use super::ClusterStatus;
use crate::hub::{spawn_hub, wait_stopped, ConnLink, HubCommand, HubHandle, Outbound};
use crate::metrics::Metrics;
use crate::push::PushGateway;
use crate::store::Store;
use crate::writer::{Fence, RecordWriter};

/// Frames queued for NATS before the leader drops them (NATS itself buffers far more).
const FRAME_QUEUE: usize = 65_536;

/// A connection another node holds, as the hub reaches it.
#[derive(Clone, Debug)]
pub struct RemoteLink {
    node: Arc<str>,
    conn: LocalConn,
    out: mpsc::Sender<(Arc<str>, NodeFrame)>,
}

impl RemoteLink {
    /// Queues `frame` for the node that holds the connection.
    pub fn deliver(&self, frame: Outbound, device: DeviceId) {
        let conn = self.conn;
        let frame = match frame {
            Outbound::Message(msg) => NodeFrame::Deliver { conn, device, msg },
            Outbound::Close(error, code) => NodeFrame::Close {
                conn,
                device,
                error,
                code,
            },
        };
        if self.out.try_send((self.node.clone(), frame)).is_err() {
            tracing::warn!(device_id = %device, node = %self.node, "frames for another node piled up; dropped one");
        }
    }
}

/// What a leader needs besides its election.
#[derive(Clone, Debug)]
pub struct LeaderContext {
    pub client: async_nats::Client,
    pub subjects: Subjects,
    pub cluster: String,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub push: PushGateway,
    pub router: RouterConfig,
    pub leases: Leases,
    pub status: Arc<ClusterStatus>,
}

/// Per node: where its inputs are, and its connections.
#[derive(Debug, Default)]
struct NodeState {
    order: InputOrder,
    conns: HashMap<LocalConn, (ConnId, DeviceId)>,
}

/// Leads until the election is lost (the lock session failed), a write is fenced, or `stop`
/// says the node is leaving; returns whether it left. A leaving leader lets its hub stop and
/// its writer drain before the lock goes, so the next leader reads every record.
pub async fn lead(
    mut leadership: Leadership,
    ctx: LeaderContext,
    mut stop: watch::Receiver<bool>,
) -> bool {
    let epoch = leadership.epoch;
    let me = ctx.status.node.clone();
    let mut sub = match ctx.client.subscribe(ctx.subjects.router()).await {
        Ok(sub) => sub,
        Err(e) => {
            tracing::error!(error = %e, "leader cannot subscribe to router inputs; giving up the lead");
            return false;
        }
    };
    let restored = loop {
        match ctx
            .store
            .calls_to_resume(crate::clock::unix_ms(), ctx.router.ended_retention_ms)
            .await
        {
            Ok(calls) => break calls,
            Err(e) => {
                tracing::warn!(error = %e, "leader cannot read the calls yet; retrying");
                tokio::time::sleep(RENEW_EVERY).await;
            }
        }
    };
    let open = restored.iter().filter(|c| c.ended_at_ms.is_none()).count();
    let lost = Arc::new(Notify::new());
    let fence = Fence {
        cluster: ctx.cluster.clone(),
        epoch,
        lost: lost.clone(),
    };
    let (writer, committed, writer_task) =
        RecordWriter::spawn_fenced(ctx.store.clone(), ctx.metrics.clone(), Some(fence));
    let (hub, hub_task) = spawn_hub(
        Router::new(ctx.router.clone()),
        restored,
        ctx.metrics.clone(),
        writer,
        committed,
        ctx.push.clone(),
    );
    let (frames_tx, frames_rx) = mpsc::channel(FRAME_QUEUE);
    let publisher = tokio::spawn(publish_frames(
        ctx.client.clone(),
        ctx.subjects.clone(),
        frames_rx,
    ));
    ctx.status.became_leader(epoch);
    tracing::info!(epoch, calls = open, "this node now leads the cluster");

    let (acks, acks_rx) = mpsc::unbounded_channel();
    let ack_task = tokio::spawn(publish_acks(ctx.client.clone(), acks_rx));
    let mut leader = Leader {
        ctx: &ctx,
        hub,
        acks,
        frames: frames_tx,
        epoch,
        nodes: HashMap::new(),
        next_conn: 1,
    };
    leader.announce().await;
    let mut tick = tokio::time::interval(RENEW_EVERY);
    let mut nats_down_since = None;
    // One check of the lock session for the whole term: a future made afresh in each turn of
    // the loop would restart its wait with every input, and never check under load.
    let mut session_lost = Box::pin(leadership.lost());
    let leaving = loop {
        tokio::select! {
            Some(msg) = sub.next() => match serde_json::from_slice::<Envelope>(&msg.payload) {
                Ok(envelope) => leader.take(envelope).await,
                Err(e) => tracing::warn!(error = %e, "unreadable router input from a node"),
            },
            _ = tick.tick() => {
                // A leader cut off from NATS leads nobody: the ports cannot reach it. Stand
                // down, so a node that can takes over (a short blip, such as a NATS restart,
                // is ridden out).
                if ctx.client.connection_state() == async_nats::connection::State::Connected {
                    nats_down_since = None;
                } else if nats_down_since.get_or_insert_with(tokio::time::Instant::now).elapsed() > LEASE {
                    tracing::error!("cut off from NATS for {LEASE:?}; standing down as leader");
                    break false;
                }
                leader.announce().await;
                leader.drop_dead_nodes(&me).await;
                let stats = leader.hub.stats().await;
                ctx.status.calls_owned.store((stats.calls_ringing + stats.calls_active) as u64, Ordering::Relaxed);
            }
            _ = &mut session_lost => break false,
            _ = lost.notified() => break false,
            _ = stop.changed() => break true,
        }
    };
    drop(session_lost);
    ctx.status.lost_leadership();
    let _ = sub.unsubscribe().await;
    if leaving {
        drop(leader);
        wait_stopped(hub_task, writer_task).await;
        publisher.abort();
        ack_task.abort();
        drop(leadership);
        tracing::info!(epoch, "handed the cluster lead over");
        return true;
    }
    tracing::error!(
        epoch,
        "this node lost the cluster lead; another node takes the calls over"
    );
    hub_task.abort();
    writer_task.abort();
    publisher.abort();
    ack_task.abort();
    false
}

/// An acknowledgement waiting for its barrier: published once the barrier answers.
type PendingAck = (tokio::sync::oneshot::Receiver<()>, String, Vec<u8>);

/// Publishes acknowledgements in the order they were made, each once it is durable; one the
/// hub dropped (a deposed leader's) ends the task, so nothing after it is acknowledged.
async fn publish_acks(client: async_nats::Client, mut rx: mpsc::UnboundedReceiver<PendingAck>) {
    while let Some((durable, subject, body)) = rx.recv().await {
        if durable.await.is_err() {
            return;
        }
        if let Err(e) = client.publish(subject, body.into()).await {
            tracing::warn!(error = %e, "cannot acknowledge a node's input");
        }
    }
}

async fn publish_frames(
    client: async_nats::Client,
    subjects: Subjects,
    mut rx: mpsc::Receiver<(Arc<str>, NodeFrame)>,
) {
    while let Some((node, frame)) = rx.recv().await {
        let Ok(body) = serde_json::to_vec(&frame) else {
            continue;
        };
        if let Err(e) = client.publish(subjects.node(&node), body.into()).await {
            tracing::warn!(error = %e, %node, "cannot send a frame to a node");
        }
    }
}

struct Leader<'a> {
    ctx: &'a LeaderContext,
    hub: HubHandle,
    acks: mpsc::UnboundedSender<PendingAck>,
    frames: mpsc::Sender<(Arc<str>, NodeFrame)>,
    epoch: u64,
    nodes: HashMap<String, NodeState>,
    next_conn: ConnId,
}

impl Leader<'_> {
    async fn announce(&self) {
        let announce = LeaderAnnounce {
            node: self.ctx.status.node.clone(),
            epoch: self.epoch,
        };
        if let Ok(body) = serde_json::to_vec(&announce) {
            if let Err(e) = self
                .ctx
                .client
                .publish(self.ctx.subjects.leader(), body.into())
                .await
            {
                tracing::warn!(error = %e, "cannot announce the leader");
            }
        }
    }

    /// Takes one input in its node's order (go-back-N: a gap waits for the resend).
    async fn take(&mut self, envelope: Envelope) {
        let Envelope {
            node,
            incarnation,
            session,
            seq,
            input,
        } = envelope;
        if self
            .nodes
            .get(&node)
            .is_some_and(|s| s.order.restarted(incarnation))
        {
            tracing::info!(%node, "node restarted; its old connections are gone");
            self.forget_node(&node).await;
        }
        let state = self.nodes.entry(node.clone()).or_default();
        match state.order.step(incarnation, session, seq) {
            Step::Take => {}
            Step::Repeat(last) => return self.ack(&node, session, last, None, None).await,
            Step::Wait | Step::Stale => return,
        }
        let (mut admitted, mut stats) = (None, None);
        match input {
            NodeInput::Connected {
                conn,
                device,
                user,
                display_name,
                known_calls,
            } => {
                // A re-announced connection the router already knows is not a new one (it
                // would replace, and so close, itself).
                if let std::collections::hash_map::Entry::Vacant(slot) = state.conns.entry(conn) {
                    let global = self.next_conn;
                    self.next_conn += 1;
                    slot.insert((global, device));
                    let link = ConnLink::Remote(RemoteLink {
                        node: Arc::from(node.as_str()),
                        conn,
                        out: self.frames.clone(),
                    });
                    let cmd = HubCommand::Connect {
                        conn: global,
                        device,
                        user,
                        display_name,
                        known_calls,
                        link,
                    };
                    self.hub.send(cmd).await;
                }
            }
            NodeInput::Disconnected { conn, device } => {
                if let Some((global, _)) = state.conns.remove(&conn) {
                    let input = Input::Disconnected {
                        conn: global,
                        device,
                    };
                    self.hub.send(HubCommand::Input(input)).await;
                }
            }
            NodeInput::Admit { from, call_id } => {
                admitted = Some(self.hub.admit_invite(from, call_id).await);
            }
            NodeInput::Invite {
                from,
                invite,
                callee_devices,
            } => {
                let input = Input::Invite {
                    from,
                    invite,
                    callee_devices,
                };
                self.hub.send(HubCommand::Input(input)).await;
            }
            NodeInput::Message { from, msg } => {
                self.hub
                    .send(HubCommand::Input(Input::Message { from, msg }))
                    .await;
            }
            NodeInput::Stats => stats = Some(self.hub.stats().await),
        }
        self.ack(&node, session, seq, admitted, stats).await;
    }

    /// Acknowledges input `seq` once everything the router decided so far is durable and
    /// carried out (a [`HubCommand::Barrier`]): a leader deposed before its records commit
    /// never acknowledges, so the node sends the input again to the next leader.
    async fn ack(
        &self,
        node: &str,
        session: u64,
        seq: u64,
        admitted: Option<bool>,
        stats: Option<ringwire_router::RouterStats>,
    ) {
        let ack = Ack {
            session,
            seq,
            epoch: self.epoch,
            admitted,
            stats,
        };
        let Ok(body) = serde_json::to_vec(&ack) else {
            return;
        };
        let (done, durable) = tokio::sync::oneshot::channel();
        if !self.hub.send(HubCommand::Barrier(done)).await {
            return;
        }
        // In order, so an answer (an admission) always meets the input it answers.
        let _ = self.acks.send((durable, self.ctx.subjects.ack(node), body));
    }

    /// The devices of a node whose lease ran out are gone, as if their connections closed.
    async fn drop_dead_nodes(&mut self, me: &str) {
        let dead: Vec<String> = self
            .nodes
            .keys()
            .filter(|n| n.as_str() != me && !self.ctx.leases.is_alive(n))
            .cloned()
            .collect();
        for node in dead {
            tracing::warn!(%node, "node's lease ran out; its devices are gone");
            self.forget_node(&node).await;
        }
    }

    /// Every connection of `node` closes, as far as the router knows.
    async fn forget_node(&mut self, node: &str) {
        let Some(state) = self.nodes.remove(node) else {
            return;
        };
        for (global, device) in state.conns.into_values() {
            let input = Input::Disconnected {
                conn: global,
                device,
            };
            self.hub.send(HubCommand::Input(input)).await;
        }
    }
}
