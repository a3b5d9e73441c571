//! The hub: the task that owns the [`Router`] and carries out its outputs. Connections send it
//! [`HubCommand`]s; it delivers [`Outbound`] frames to each device's connection, hands call
//! events to the record writer, hands pushes to the push gateway (whose outcomes come back as
//! router inputs), and sleeps until the router's next deadline.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ringwire_proto::{CallId, DeviceId, DisplayName, ErrorMessage, ServerMessage, UserName};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use crate::clock::unix_ms;
use crate::metrics::Metrics;
use crate::push::PushGateway;
use crate::record::{CallEvent, CallRecord};
use crate::router::{ConnId, Input, Output, Router, RouterStats};
use crate::writer::RecordWriter;

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
pub struct ConnLink {
    pub tx: mpsc::Sender<Outbound>,
    /// Notified when the connection cannot keep up and must be dropped.
    pub kill: Arc<Notify>,
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
    /// Close the device's connection (its token was revoked).
    Kick {
        device: DeviceId,
        error: ErrorMessage,
        code: u16,
    },
}

/// A cheap handle to the hub task.
#[derive(Clone, Debug)]
pub struct HubHandle {
    tx: mpsc::Sender<HubCommand>,
}

impl HubHandle {
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
}

/// Starts the hub with calls restored from the store. It stops when every handle is dropped.
pub fn spawn_hub(
    mut router: Router,
    restored: Vec<CallRecord>,
    metrics: Arc<Metrics>,
    writer: RecordWriter,
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
    };
    let now = unix_ms();
    for record in restored {
        router.handle_input(now, Input::Restore(record));
    }
    hub.drain(&mut router);
    let task = tokio::spawn(hub.run(router, rx, push_rx));
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
}

impl Hub {
    async fn run(
        mut self,
        mut router: Router,
        mut rx: mpsc::Receiver<HubCommand>,
        mut push_rx: mpsc::UnboundedReceiver<Input>,
    ) {
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
                }
                router.handle_input(now, input);
            }
            HubCommand::Stats(reply) => {
                let _ = reply.send(router.stats());
            }
            HubCommand::Kick {
                device,
                error,
                code,
            } => {
                if let Some((_, link)) = self.links.get(&device) {
                    deliver(link, Outbound::Close(error, code), device);
                }
            }
        }
    }

    fn drain(&mut self, router: &mut Router) {
        while let Some(output) = router.poll_output() {
            match output {
                Output::Send { to, msg } => {
                    if let Some((_, link)) = self.links.get(&to) {
                        deliver(link, Outbound::Message(msg), to);
                    }
                }
                Output::Close {
                    conn,
                    device,
                    error,
                } => {
                    if let Some(link) = self.replaced.remove(&conn) {
                        deliver(&link, Outbound::Close(error, CLOSE_REPLACED), device);
                    }
                }
                Output::Record(event) => {
                    match &event {
                        CallEvent::Started { .. } => self.metrics.call_started(),
                        CallEvent::Ended { reason, .. } => self.metrics.call_ended(reason.as_str()),
                        _ => {}
                    }
                    self.writer.write(event);
                }
                Output::Push(req) => self.push.dispatch(req, self.push_tx.clone()),
            }
        }
    }
}

fn deliver(link: &ConnLink, frame: Outbound, device: DeviceId) {
    match link.tx.try_send(frame) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(device_id = %device, "connection too slow to keep up; dropping it");
            link.kill.notify_one();
        }
        // The connection task already ended; its Disconnected is on the way.
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}
