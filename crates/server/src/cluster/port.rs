//! A node's port: what the hub is to a single server, the port is to a clustered node. The
//! node's connections send it their [`HubCommand`]s; it forwards each as a numbered input to
//! the leader and delivers the leader's frames to its own connections.
//!
//! Inputs reach the leader at least once and in order (go-back-N): each carries the port's
//! session and a sequence number, the leader takes them strictly in sequence and acknowledges
//! cumulatively once what it decided is durable, and the port resends what stays
//! unacknowledged for [`RESEND_AFTER`]. When a
//! new leader appears (a higher epoch), the port starts a new session: it first re-announces
//! every device it holds, so the new leader's router knows them again (and resyncs their
//! calls, as after a restart), then resends what the old leader never acknowledged.
//! Frames from the leader are at most once, like a WebSocket: a device that misses one
//! resyncs when it reconnects.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use ringwire_proto::{DeviceId, ErrorCode, ErrorMessage, ServerMessage};
use ringwire_router::{Input, RouterStats};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::wire::{Ack, Envelope, LeaderAnnounce, LocalConn, NodeFrame, NodeInput, Subjects};
use super::ClusterStatus;
use crate::hub::{deliver, ConnLink, HubCommand, HubHandle, Outbound};

/// How long an input may stay unacknowledged before the port sends it (and all after it) again.
pub const RESEND_AFTER: Duration = Duration::from_millis(1000);
/// How long a connection waits for the leader's answer to an invite's admission.
const ANSWER_WAIT: Duration = Duration::from_secs(5);
/// Inputs kept for a leader that does not answer; beyond this the oldest are dropped.
const MAX_UNACKED: usize = 100_000;

/// What the connection waiting on an input wants back.
#[derive(Debug)]
enum Reply {
    None,
    Admit(oneshot::Sender<bool>),
    Stats(oneshot::Sender<RouterStats>),
}

#[derive(Debug)]
struct Pending {
    seq: u64,
    input: NodeInput,
    sent_at: Instant,
    queued_at: Instant,
    reply: Reply,
}

/// A held connection: its link, and its hello for re-announcing it.
#[derive(Debug)]
struct Held {
    device: DeviceId,
    link: ConnLink,
    hello: NodeInput,
}

struct Port {
    client: async_nats::Client,
    subjects: Subjects,
    status: Arc<ClusterStatus>,
    held: BTreeMap<LocalConn, Held>,
    incarnation: u64,
    session: u64,
    next_seq: u64,
    unacked: VecDeque<Pending>,
    epoch: u64,
}

/// Starts the port; returns the handle connections use as their hub. It stops when every
/// handle is dropped.
pub async fn spawn_port(
    client: async_nats::Client,
    subjects: Subjects,
    status: Arc<ClusterStatus>,
) -> Result<(HubHandle, JoinHandle<()>), crate::error::ServerError> {
    let node = status.node.clone();
    let sub = |subject: String| {
        let client = client.clone();
        async move {
            client.subscribe(subject.clone()).await.map_err(|e| {
                crate::error::ServerError::Cluster(format!(
                    "cannot subscribe to {subject}: {e}; check that NATS is reachable"
                ))
            })
        }
    };
    let frames = sub(subjects.node(&node)).await?;
    let acks = sub(subjects.ack(&node)).await?;
    let leaders = sub(subjects.leader()).await?;
    let (tx, rx) = mpsc::channel(4096);
    let port = Port {
        client,
        subjects,
        status,
        held: BTreeMap::new(),
        incarnation: crate::clock::unix_ms(),
        session: 1,
        next_seq: 1,
        unacked: VecDeque::new(),
        epoch: 0,
    };
    let task = tokio::spawn(port.run(rx, frames, acks, leaders));
    Ok((HubHandle::from_sender(tx), task))
}

impl Port {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<HubCommand>,
        mut frames: async_nats::Subscriber,
        mut acks: async_nats::Subscriber,
        mut leaders: async_nats::Subscriber,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd).await,
                    None => break,
                },
                Some(msg) = frames.next() => match serde_json::from_slice::<NodeFrame>(&msg.payload) {
                    Ok(frame) => self.frame(frame),
                    Err(e) => tracing::warn!(error = %e, "unreadable frame from the leader"),
                },
                Some(msg) = acks.next() => match serde_json::from_slice::<Ack>(&msg.payload) {
                    Ok(ack) => self.ack(ack).await,
                    Err(e) => tracing::warn!(error = %e, "unreadable ack from the leader"),
                },
                Some(msg) = leaders.next() => match serde_json::from_slice::<LeaderAnnounce>(&msg.payload) {
                    Ok(announce) => {
                        self.status.heard_leader(&announce.node, announce.epoch);
                        if announce.epoch > self.epoch {
                            self.new_leader(announce.epoch).await;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "unreadable leader announcement"),
                },
                _ = tick.tick() => self.tick().await,
            }
        }
        tracing::debug!("cluster port stopped");
    }

    async fn command(&mut self, cmd: HubCommand) {
        match cmd {
            HubCommand::Connect {
                conn,
                device,
                user,
                display_name,
                known_calls,
                link,
            } => {
                let hello = NodeInput::Connected {
                    conn,
                    device,
                    user,
                    display_name,
                    known_calls,
                };
                self.held.insert(
                    conn,
                    Held {
                        device,
                        link,
                        hello: hello.clone(),
                    },
                );
                self.send(hello, Reply::None).await;
            }
            HubCommand::Input(Input::Disconnected { conn, device }) => {
                self.held.remove(&conn);
                self.send(NodeInput::Disconnected { conn, device }, Reply::None)
                    .await;
            }
            HubCommand::Input(Input::Invite {
                from,
                invite,
                callee_devices,
            }) => {
                let input = NodeInput::Invite {
                    from,
                    invite,
                    callee_devices,
                };
                self.send(input, Reply::None).await;
            }
            HubCommand::Input(Input::Message { from, msg }) => {
                self.send(NodeInput::Message { from, msg }, Reply::None)
                    .await;
            }
            HubCommand::Input(other) => {
                // Restores and push results belong to the leader's own hub.
                tracing::warn!(?other, "input not meant for a cluster port; dropped");
            }
            HubCommand::AdmitInvite {
                from,
                call_id,
                reply,
            } => {
                self.send(NodeInput::Admit { from, call_id }, Reply::Admit(reply))
                    .await;
            }
            HubCommand::Stats(reply) => self.send(NodeInput::Stats, Reply::Stats(reply)).await,
            // Nothing is held back here: what the port forwards is the leader's to make durable.
            HubCommand::Barrier(done) => {
                let _ = done.send(());
            }
        }
    }

    async fn send(&mut self, input: NodeInput, reply: Reply) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.publish(seq, &input).await;
        let now = Instant::now();
        self.unacked.push_back(Pending {
            seq,
            input,
            sent_at: now,
            queued_at: now,
            reply,
        });
        if self.unacked.len() > MAX_UNACKED {
            if let Some(dropped) = self.unacked.pop_front() {
                tracing::error!(
                    seq = dropped.seq,
                    "no leader has answered for too long; dropping the oldest input"
                );
                answer_default(dropped.reply);
            }
        }
    }

    async fn publish(&self, seq: u64, input: &NodeInput) {
        let envelope = Envelope {
            node: self.status.node.clone(),
            incarnation: self.incarnation,
            session: self.session,
            seq,
            input: input.clone(),
        };
        let Ok(body) = serde_json::to_vec(&envelope) else {
            return;
        };
        if let Err(e) = self
            .client
            .publish(self.subjects.router(), body.into())
            .await
        {
            tracing::warn!(error = %e, "cannot reach NATS; the input will be resent");
        }
    }

    fn frame(&mut self, frame: NodeFrame) {
        let (conn, device, out) = match frame {
            NodeFrame::Deliver { conn, device, msg } => (conn, device, Outbound::Message(msg)),
            NodeFrame::Close {
                conn,
                device,
                error,
                code,
            } => (conn, device, Outbound::Close(error, code)),
        };
        match self.held.get(&conn) {
            Some(held) if held.device == device => deliver(&held.link, out, device),
            // Gone already; its Disconnected is on its way to the leader.
            _ => {}
        }
    }

    async fn ack(&mut self, ack: Ack) {
        if ack.epoch > self.epoch {
            // A leader we have not heard announce itself yet: its session starts now.
            self.new_leader(ack.epoch).await;
            return;
        }
        if ack.epoch < self.epoch || ack.session != self.session {
            return;
        }
        while self.unacked.front().is_some_and(|p| p.seq <= ack.seq) {
            let Some(done) = self.unacked.pop_front() else {
                break;
            };
            match done.reply {
                Reply::None => {}
                Reply::Admit(tx) => {
                    let admitted = done.seq == ack.seq && ack.admitted.unwrap_or(false);
                    let _ = tx.send(admitted);
                }
                Reply::Stats(tx) => {
                    let stats = ack
                        .stats
                        .filter(|_| done.seq == ack.seq)
                        .unwrap_or_default();
                    let _ = tx.send(stats);
                }
            }
        }
    }

    /// A new leader: a new session that first re-announces every held device, then carries
    /// what the old leader left unacknowledged.
    async fn new_leader(&mut self, epoch: u64) {
        tracing::info!(
            epoch,
            devices = self.held.len(),
            "new cluster leader; re-announcing this node's devices"
        );
        self.epoch = epoch;
        self.session += 1;
        self.next_seq = 1;
        let old: Vec<Pending> = self.unacked.drain(..).collect();
        let hellos: Vec<NodeInput> = self.held.values().map(|h| h.hello.clone()).collect();
        for hello in hellos {
            self.send(hello, Reply::None).await;
        }
        for pending in old {
            // A hello still unacknowledged was just re-announced (if the device is still here).
            if matches!(pending.input, NodeInput::Connected { .. }) {
                answer_default(pending.reply);
                continue;
            }
            let queued_at = pending.queued_at;
            self.send(pending.input, pending.reply).await;
            if let Some(last) = self.unacked.back_mut() {
                last.queued_at = queued_at;
            }
        }
    }

    async fn tick(&mut self) {
        let now = Instant::now();
        // Connections waiting for an answer get one, even with no leader to give it.
        let mut refused = Vec::new();
        for pending in self.unacked.iter_mut() {
            if now.duration_since(pending.queued_at) >= ANSWER_WAIT {
                let reply = std::mem::replace(&mut pending.reply, Reply::None);
                if let (Reply::Admit(_), NodeInput::Admit { from, call_id }) =
                    (&reply, &pending.input)
                {
                    refused.push((*from, *call_id));
                }
                answer_default(reply);
            }
        }
        // An invite the leader never admitted is refused here, so the caller hears why.
        for (from, call_id) in refused {
            let error = ErrorMessage {
                call_id: Some(call_id),
                ref_type: Some("invite".to_owned()),
                ..ErrorMessage::new(
                    ErrorCode::Internal,
                    "the cluster has no leader right now (a takeover is under way); \
                     send the invite again in a few seconds",
                )
            };
            if let Some(held) = self.held.values().find(|h| h.device == from) {
                deliver(
                    &held.link,
                    Outbound::Message(ServerMessage::Error(error)),
                    from,
                );
            }
        }
        let stale = self
            .unacked
            .front()
            .is_some_and(|p| now.duration_since(p.sent_at) >= RESEND_AFTER);
        if stale {
            tracing::debug!(
                inputs = self.unacked.len(),
                "leader has not acknowledged; resending"
            );
            let batch: Vec<(u64, NodeInput)> = self
                .unacked
                .iter()
                .map(|p| (p.seq, p.input.clone()))
                .collect();
            for (seq, input) in &batch {
                self.publish(*seq, input).await;
            }
            for pending in self.unacked.iter_mut() {
                pending.sent_at = now;
            }
        }
    }
}

fn answer_default(reply: Reply) {
    match reply {
        Reply::None => {}
        Reply::Admit(tx) => {
            let _ = tx.send(false);
        }
        Reply::Stats(tx) => {
            let _ = tx.send(RouterStats::default());
        }
    }
}
