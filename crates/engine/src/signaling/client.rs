//! The standalone [`super::SignalingClient`]'s task: the same [`Link`] and [`Transport`] the
//! engine thread runs, over a `ClientSession` of its own (behind [`Shared`]'s mutex, so the
//! handles can send and read it), its events passed on as [`SignalingEvent`]s. It stops for
//! good on shutdown, on a refusal (unauthorized, unsupported version, replaced), or when
//! nobody listens to its events any more.
//!
//! [`Transport`]: super::transport::Transport

use std::sync::Arc;
use std::time::{Duration, Instant};

use ringwire_core::session::SessionEvent;
use tokio::sync::{mpsc, watch};

use super::link::{Link, LinkEvent};
use super::state::Shared;
use super::transport::Report;
use super::SignalingEvent;
use crate::driver::unix_ms_now;
use crate::error::EngineError;

/// How long a shutdown waits for the close to be carried out.
const FINISH_TIMEOUT: Duration = Duration::from_secs(2);

/// The task and what it owns.
#[derive(Debug)]
pub(crate) struct Task {
    pub(crate) shared: Arc<Shared>,
    pub(crate) link: Link,
    pub(crate) reports: mpsc::UnboundedReceiver<Report>,
    pub(crate) events: mpsc::UnboundedSender<SignalingEvent>,
}

/// What the app's handles say besides sending.
pub(crate) struct Signals {
    /// `true` asks the task to stop; closed when every handle is gone.
    pub(crate) stop: watch::Receiver<bool>,
    /// `false` while paused.
    pub(crate) online: watch::Receiver<bool>,
    /// Bumped on a network change.
    pub(crate) network: watch::Receiver<u64>,
}

impl Task {
    /// Runs until shutdown or a refusal; marks the session stopped and tells `done`.
    pub(crate) async fn run(mut self, mut signals: Signals, done: watch::Sender<bool>) {
        let fatal = self.drive(&mut signals).await;
        self.link.shutdown(&mut *self.shared.lock());
        match fatal {
            Some(error) => {
                tracing::error!(%error, "signaling stopped");
                let _ = self.events.send(SignalingEvent::Fatal(error));
            }
            None => tracing::info!("signaling stopped"),
        }
        self.link.finish(FINISH_TIMEOUT).await;
        let _ = done.send(true);
    }

    /// Hands the link and the session what happens, until the end; returns the refusal that
    /// ended it, if any.
    async fn drive(&mut self, signals: &mut Signals) -> Option<EngineError> {
        loop {
            match self.deliver_events() {
                Ok(()) => {}
                Err(end) => return end,
            }
            self.link.flush(&mut *self.shared.lock());
            let deadline = self.shared.lock().poll_timeout();
            let event = tokio::select! {
                biased;
                () = stopped(&mut signals.stop) => return None,
                online = changed(&mut signals.online) => {
                    if online {
                        self.link.resume();
                        None
                    } else {
                        self.link.pause(&mut *self.shared.lock(), Instant::now())
                    }
                }
                _ = changed(&mut signals.network) => {
                    self.link.network_changed(&mut *self.shared.lock(), Instant::now())
                }
                report = self.reports.recv() => match report {
                    Some(report) => {
                        self.link.handle_report(&mut *self.shared.lock(), Instant::now(), report)
                    }
                    None => return None,
                },
                () = self.shared.wake.notified() => None,
                () = sleep_until(deadline) => {
                    let unix_ms = i64::try_from(unix_ms_now()).unwrap_or(i64::MAX);
                    self.shared.lock().handle_timeout(Instant::now(), unix_ms);
                    None
                }
            };
            if let Some(Err(end)) = event.map(|event| self.emit_link(event)) {
                return end;
            }
        }
    }

    /// Passes the session's events on; `Err` when the task must end (with the refusal, if
    /// that is why).
    fn deliver_events(&mut self) -> Result<(), Option<EngineError>> {
        loop {
            let Some(event) = self.shared.lock().poll_event() else {
                return Ok(());
            };
            match event {
                SessionEvent::Connected(welcome) => {
                    tracing::info!(user = %welcome.user, device = %welcome.device_id, version = welcome.version, "signaling connected");
                    self.link.connected();
                    self.emit(SignalingEvent::Connected(welcome))?;
                }
                SessionEvent::Message(message) => self.emit(SignalingEvent::Message(message))?,
                SessionEvent::Ended(end) => {
                    if let Some(event) = self.link.session_ended(end) {
                        self.emit_link(event)?;
                    }
                }
            }
        }
    }

    /// Passes a link event on; `Err` when the task must end (with the refusal, if that is
    /// why).
    fn emit_link(&mut self, event: LinkEvent) -> Result<(), Option<EngineError>> {
        match event {
            LinkEvent::Disconnected { reason, retry_in } => {
                self.emit(SignalingEvent::Disconnected { reason, retry_in })
            }
            LinkEvent::Paused => self.emit(SignalingEvent::Paused),
            LinkEvent::Fatal(error) => Err(Some(error)),
        }
    }

    /// Sends an event; `Err(None)` when nobody listens any more.
    fn emit(&self, event: SignalingEvent) -> Result<(), Option<EngineError>> {
        if self.events.send(event).is_err() {
            tracing::info!("signaling events receiver dropped; stopping");
            return Err(None);
        }
        Ok(())
    }
}

/// Resolves when shutdown was asked for or every client handle is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The next value of `watch`; never when every handle is gone (`stopped` covers that).
async fn changed<T: Clone>(watch: &mut watch::Receiver<T>) -> T {
    if watch.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
    watch.borrow_and_update().clone()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}
