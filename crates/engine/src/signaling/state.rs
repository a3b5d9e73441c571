//! State shared between the [`super::SignalingClient`] handles and the connection task: the
//! connection phase, the outbox, the calls to list in `hello`, and the last ping measurements.
//! One mutex, held only for short, non-async sections; a `Notify` wakes the writer.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ringwire_proto::{CallId, ClientMessage};
use tokio::sync::Notify;

use crate::error::EngineError;
use ringwire_core::session::{kind, Kind, Outbox};

/// Where the connection task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Phase {
    /// Connecting, handshaking, or waiting to retry.
    #[default]
    Down,
    /// `welcome` received; the writer drains the outbox.
    Up,
    /// The task has ended (shutdown or fatal error).
    Stopped,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) phase: Phase,
    pub(crate) outbox: Outbox,
    pub(crate) known_calls: Vec<CallId>,
    pub(crate) rtt: Option<Duration>,
    pub(crate) server_offset_ms: Option<i64>,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Signalled when the outbox gains a message while connected.
    pub(crate) wake: Notify,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent, so a panic elsewhere while holding
        // the lock does not make it unusable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The send rules of [`super::SignalingClient::send`].
    pub(crate) fn send(&self, message: ClientMessage) -> Result<(), EngineError> {
        let kind = kind(&message);
        if kind == Kind::Hello {
            return Err(EngineError::NotSendable(
                "hello is sent by the signaling client itself on every (re)connect; use set_known_calls for hello.calls",
            ));
        }
        let mut state = self.lock();
        match (state.phase, kind) {
            (Phase::Stopped, _) => Err(EngineError::Closed),
            (Phase::Up, _) => {
                state.outbox.push(message);
                drop(state);
                self.wake.notify_one();
                Ok(())
            }
            (Phase::Down, Kind::CallControl) => {
                tracing::debug!(
                    r#type = message.type_name(),
                    call_id = ?message.call_id(),
                    "signaling down; queued until the next welcome"
                );
                if let Some(old) = state.outbox.push_offline(message) {
                    tracing::warn!(
                        r#type = old.type_name(),
                        call_id = ?old.call_id(),
                        "signaling outbox full while disconnected; dropped the oldest message"
                    );
                }
                Ok(())
            }
            (Phase::Down, _) => Err(EngineError::SignalingDown),
        }
    }

    /// The connection completed its handshake.
    pub(crate) fn set_up(&self) {
        self.lock().phase = Phase::Up;
        // Flush whatever was queued while down.
        self.wake.notify_one();
    }

    /// The connection was lost: keep only what may wait for the next one.
    pub(crate) fn set_down(&self) {
        let mut state = self.lock();
        state.phase = Phase::Down;
        for message in state.outbox.keep_for_offline() {
            tracing::debug!(
                r#type = message.type_name(),
                call_id = ?message.call_id(),
                "connection lost before this message was written; dropped"
            );
        }
    }

    /// The task ended: refuse further sends.
    pub(crate) fn set_stopped(&self) {
        let mut state = self.lock();
        state.phase = Phase::Stopped;
        let dropped = state.outbox.clear();
        if dropped > 0 {
            tracing::warn!(
                messages = dropped,
                "signaling client stopped with unsent messages"
            );
        }
    }

    /// Puts messages that could not be written back at the front of the queue, in order, so
    /// the call-control ones among them survive into the next connection.
    pub(crate) fn requeue(&self, unsent: Vec<ClientMessage>) {
        self.lock().outbox.push_front_all(unsent);
    }

    /// Takes the queued messages if the connection is up.
    pub(crate) fn take_for_writing(&self) -> Vec<ClientMessage> {
        let mut state = self.lock();
        if state.phase == Phase::Up {
            state.outbox.take().into()
        } else {
            Vec::new()
        }
    }
}
