//! The hub: the task that owns the [`Router`] and carries out its outputs. Connections send it
//! [`HubCommand`]s; it delivers [`Outbound`] frames to each device's connection, hands call
//! events to the record writer, hands pushes to the push gateway (whose outcomes come back as
//! router inputs), and sleeps until the router's next deadline.
//!
//! **Durable before told.** What one router step decides is carried out as one batch. A batch
//! that records call events is held until the record writer reports them committed; only then
//! are its frames delivered and its pushes sent, so a crash can never undo what a client was
//! told. Batches are released strictly in order, so a batch with nothing to record (a relay)
//! waits behind an earlier one that is still being written, and goes out at once otherwise.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use ringwire_proto::{CallId, DeviceId, DisplayName, ErrorMessage, ServerMessage, UserName};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;

use crate::clock::unix_ms;
use crate::metrics::Metrics;
use crate::push::PushGateway;
use crate::writer::RecordWriter;
use ringwire_router::record::{CallEvent, CallRecord};
use ringwire_router::PushRequest;
use ringwire_router::{ConnId, Input, Output, Router, RouterStats};

/// WebSocket close code sent with `error replaced`.
pub const CLOSE_REPLACED: u16 = 4409;

/// Frames queued for one connection before it counts as too slow and is dropped.
pub const OUTBOUND_QUEUE: usize = 256;

/// What the hub sends to a connection task.
#[derive(Debug)]
pub enum Outbound {
    /// A message to send.
    Message(ServerMessage),
    /// Send this error, then close with this code.
    Close(ErrorMessage, u16),
}

/// How the hub reaches one connection.
#[derive(Debug, Clone)]
pub enum ConnLink {
    /// A connection of this process.
    Local {
        tx: mpsc::Sender<Outbound>,
        /// Notified when the connection cannot keep up and must be dropped.
        kill: Arc<Notify>,
    },
    /// A connection another node of the cluster holds (docs/cluster.md).
    Remote(crate::cluster::RemoteLink),
}

/// What a connection tells the hub.
#[derive(Debug)]
pub enum HubCommand {
    Connect {
        conn: ConnId,
        device: DeviceId,
        user: UserName,
        display_name: Option<DisplayName>,
        known_calls: Vec<CallId>,
        link: ConnLink,
    },
    Input(Input),
    Stats(oneshot::Sender<RouterStats>),
    /// Take an invite token for `from` before the callee is looked up; the answer says whether
    /// to go on (a refusal was already sent to the device).
    AdmitInvite {
        from: DeviceId,
        call_id: CallId,
        reply: oneshot::Sender<bool>,
    },
    /// Answers once everything decided before it is durable and carried out (a cluster leader
    /// acknowledges a node's input only then: a leader deposed before its records commit
    /// never acknowledges, so the node sends the input again to the next one). Dropped
    /// unanswered if the hub stops first.
    Barrier(oneshot::Sender<()>),
}

/// A cheap handle to the hub task.
#[derive(Clone, Debug)]
pub struct HubHandle {
    tx: mpsc::Sender<HubCommand>,
}

impl HubHandle {
    /// A handle whose commands go to `tx` (a cluster node's port stands in for the hub).
    pub(crate) fn from_sender(tx: mpsc::Sender<HubCommand>) -> HubHandle {
        HubHandle { tx }
    }

    /// Sends a command; returns false if the hub has stopped (the server is shutting down).
    pub async fn send(&self, cmd: HubCommand) -> bool {
        self.tx.send(cmd).await.is_ok()
    }

    /// The router's current counts (zeros if the hub has stopped).
    pub async fn stats(&self) -> RouterStats {
        let (tx, rx) = oneshot::channel();
        if !self.send(HubCommand::Stats(tx)).await {
            return RouterStats::default();
        }
        rx.await.unwrap_or_default()
    }

    /// Whether `from` may send this invite now (the router's invite limit); false also when the
    /// hub has stopped.
    pub async fn admit_invite(&self, from: DeviceId, call_id: CallId) -> bool {
        let (reply, rx) = oneshot::channel();
        let cmd = HubCommand::AdmitInvite {
            from,
            call_id,
            reply,
        };
        self.send(cmd).await && rx.await.unwrap_or(false)
    }
}

/// One thing a router step decided that reaches outside: a frame for a connection, or a push.
#[derive(Debug)]
enum Effect {
    Deliver(ConnLink, Outbound, DeviceId),
    Push(PushRequest),
    Notify(oneshot::Sender<()>),
}

/// The effects of one router step, released once every record up to `seq` is committed.
#[derive(Debug)]
struct Batch {
    seq: u64,
    effects: Vec<Effect>,
}

/// How long a hub whose handles are gone may take to stop.
const HUB_STOP: Duration = Duration::from_millis(500);
/// How long its record writer may take to drain once the hub has stopped.
const WRITER_DRAIN: Duration = Duration::from_secs(10);

/// Waits, bounded, for a hub whose every handle is dropped to stop, then for its record
/// writer (which the hub's end lets go) to write what is queued, so no decided event is lost.
pub async fn wait_stopped(hub_task: JoinHandle<()>, writer_task: JoinHandle<()>) {
    if tokio::time::timeout(HUB_STOP, hub_task).await.is_err() {
        tracing::warn!("hub did not stop in time");
    }
    if tokio::time::timeout(WRITER_DRAIN, writer_task)
        .await
        .is_err()
    {
        tracing::error!("call-record writer did not drain in time; some events may be lost");
    }
}

/// Starts the hub with calls restored from the store. `committed` is the record writer's
/// report of the last batch it made durable. The hub stops when every handle is dropped.
pub fn spawn_hub(
    mut router: Router,
    restored: Vec<CallRecord>,
    metrics: Arc<Metrics>,
    writer: RecordWriter,
    committed: watch::Receiver<u64>,
    push: PushGateway,
) -> (HubHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(4096);
    let (push_tx, push_rx) = mpsc::unbounded_channel();
    let mut hub = Hub {
        links: HashMap::new(),
        replaced: HashMap::new(),
        metrics,
        writer,
        push,
        push_tx,
        pending: VecDeque::new(),
        last_seq: 0,
    };
    let now = unix_ms();
    for record in restored {
        router.handle_input(now, Input::Restore(record));
    }
    hub.drain(&mut router);
    let task = tokio::spawn(hub.run(router, rx, push_rx, committed));
    (HubHandle { tx }, task)
}

struct Hub {
    links: HashMap<DeviceId, (ConnId, ConnLink)>,
    /// Links of connections the router is about to close because a newer one took over.
    replaced: HashMap<ConnId, ConnLink>,
    metrics: Arc<Metrics>,
    writer: RecordWriter,
    push: PushGateway,
    /// Push tasks report here; the hub keeps one sender, so this never closes while it runs.
    push_tx: mpsc::UnboundedSender<Input>,
    /// Batches waiting for their records to be committed, oldest first.
    pending: VecDeque<Batch>,
    /// The sequence number of the last batch handed to the writer.
    last_seq: u64,
}

impl Hub {
    async fn run(
        mut self,
        mut router: Router,
        mut rx: mpsc::Receiver<HubCommand>,
        mut push_rx: mpsc::UnboundedReceiver<Input>,
        mut committed: watch::Receiver<u64>,
    ) {
        let mut writer_alive = true;
        loop {
            let wait = router
                .poll_timeout()
                .map(|at| Duration::from_millis(at.saturating_sub(unix_ms())))
                .unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.handle(&mut router, cmd),
                    None => break,
                },
                Some(result) = push_rx.recv() => router.handle_input(unix_ms(), result),
                changed = committed.changed(), if writer_alive => {
                    if changed.is_err() {
                        // The writer is gone (it only stops after the hub); nothing more will be
                        // committed, so hold nothing back.
                        writer_alive = false;
                        self.release(u64::MAX);
                    } else {
                        let upto = *committed.borrow_and_update();
                        self.release(upto);
                    }
                    continue;
                }
                _ = tokio::time::sleep(wait) => router.handle_timeout(unix_ms()),
            }
            self.drain(&mut router);
        }
        tracing::debug!("hub stopped");
    }

    fn handle(&mut self, router: &mut Router, cmd: HubCommand) {
        let now = unix_ms();
        match cmd {
            HubCommand::Connect {
                conn,
                device,
                user,
                display_name,
                known_calls,
                link,
            } => {
                if let Some((old_conn, old_link)) = self.links.insert(device, (conn, link)) {
                    self.replaced.insert(old_conn, old_link);
                }
                router.handle_input(
                    now,
                    Input::Connected {
                        conn,
                        device,
                        user,
                        display_name,
                        known_calls,
                    },
                );
            }
            HubCommand::Input(input) => {
                if let Input::Disconnected { conn, device } = &input {
                    self.replaced.remove(conn);
                    if self.links.get(device).is_some_and(|(c, _)| c == conn) {
                        self.links.remove(device);
                    }
                    // What a storm of connections grew is given back once it is over.
                    if self.links.capacity() > 64 && self.links.len() * 4 <= self.links.capacity() {
                        self.links.shrink_to_fit();
                    }
                }
                router.handle_input(now, input);
            }
            HubCommand::Stats(reply) => {
                let _ = reply.send(router.stats());
            }
            HubCommand::Barrier(done) => self.queue(vec![Effect::Notify(done)]),
            HubCommand::AdmitInvite {
                from,
                call_id,
                reply,
            } => {
                let admitted = router.admit_invite(now, from, call_id);
                // The refusal (if any) goes out before the connection reads the answer.
                self.drain(router);
                let _ = reply.send(admitted);
            }
        }
    }

    /// Takes everything the router decided and either carries it out now or holds it until its
    /// records are durable.
    fn drain(&mut self, router: &mut Router) {
        let mut effects = Vec::new();
        let mut events = Vec::new();
        while let Some(output) = router.poll_output() {
            match output {
                Output::Send { to, msg } => {
                    if let Some((_, link)) = self.links.get(&to) {
                        effects.push(Effect::Deliver(link.clone(), Outbound::Message(msg), to));
                    }
                }
                Output::Close {
                    conn,
                    device,
                    error,
                } => {
                    if let Some(link) = self.replaced.remove(&conn) {
                        effects.push(Effect::Deliver(
                            link,
                            Outbound::Close(error, CLOSE_REPLACED),
                            device,
                        ));
                    }
                }
                Output::Record(event) => {
                    match &event {
                        CallEvent::Started { .. } => self.metrics.call_started(),
                        CallEvent::Ended { reason, .. } => self.metrics.call_ended(reason.as_str()),
                        _ => {}
                    }
                    events.push(event);
                }
                Output::Push(req) => effects.push(Effect::Push(req)),
            }
        }
        if !events.is_empty() {
            self.last_seq += 1;
            self.writer.write(self.last_seq, events);
            self.pending.push_back(Batch {
                seq: self.last_seq,
                effects,
            });
        } else {
            self.queue(effects);
        }
    }

    /// Carries out effects that record nothing: now, or behind a batch still being written
    /// (keeping the order).
    fn queue(&mut self, effects: Vec<Effect>) {
        if self.pending.is_empty() {
            self.carry_out(effects);
        } else if !effects.is_empty() {
            self.pending.push_back(Batch {
                seq: self.last_seq,
                effects,
            });
        }
    }

    /// Carries out every held batch whose records are committed (`upto` and before).
    fn release(&mut self, upto: u64) {
        while self.pending.front().is_some_and(|b| b.seq <= upto) {
            if let Some(batch) = self.pending.pop_front() {
                self.carry_out(batch.effects);
            }
        }
        // A flood can queue tens of thousands of batches behind the writer; the queue would
        // keep that capacity (megabytes) for good.
        if self.pending.capacity() > 1024 && self.pending.len() * 4 <= self.pending.capacity() {
            self.pending.shrink_to_fit();
        }
    }

    fn carry_out(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Deliver(link, frame, device) => deliver(&link, frame, device),
                Effect::Push(req) => self.push.dispatch(req, self.push_tx.clone()),
                Effect::Notify(done) => {
                    let _ = done.send(());
                }
            }
        }
    }
}

/// Queues `frame` for the connection, dropping a local one that cannot keep up.
pub(crate) fn deliver(link: &ConnLink, frame: Outbound, device: DeviceId) {
    let (tx, kill) = match link {
        ConnLink::Local { tx, kill } => (tx, kill),
        ConnLink::Remote(remote) => return remote.deliver(frame, device),
    };
    match tx.try_send(frame) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(device_id = %device, "connection too slow to keep up; dropping it");
            kill.notify_one();
        }
        // The connection task already ended; its Disconnected is on the way.
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}
