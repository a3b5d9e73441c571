//! State shared between the standalone [`super::SignalingClient`]'s handles and its task: the
//! pure protocol session ([`ClientSession`]: phase, outbox, known calls, ping measurements)
//! behind one mutex, held only for short, non-async sections, and a `Notify` that wakes the
//! task when an app thread queued something for an open connection. (The engine thread owns
//! its session outright, in its `Device`.)

use std::sync::{Mutex, MutexGuard, PoisonError};

use ringwire_core::session::{ClientSession, SessionConfig};
use ringwire_core::CoreError;
use ringwire_proto::ClientMessage;
use tokio::sync::Notify;

use crate::error::EngineError;

#[derive(Debug)]
pub(crate) struct Shared {
    session: Mutex<ClientSession>,
    /// Signalled when a message was queued for the open connection.
    pub(crate) wake: Notify,
}

impl Shared {
    pub(crate) fn new(config: SessionConfig, nonce_seed: u64) -> Shared {
        Shared {
            session: Mutex::new(ClientSession::new(config, nonce_seed)),
            wake: Notify::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ClientSession> {
        // Every critical section leaves the session consistent, so a panic elsewhere while
        // holding the lock does not make it unusable.
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The send rules of [`super::SignalingClient::send`], which are the session's.
    pub(crate) fn send(&self, message: ClientMessage) -> Result<(), EngineError> {
        self.hand_over(message).map_err(|e| match e {
            CoreError::SignalingDown => EngineError::SignalingDown,
            CoreError::SignalingStopped => EngineError::Closed,
            CoreError::NotSendable(why) => EngineError::NotSendable(why),
            other => EngineError::Core(other),
        })
    }

    /// Hands the session a message, and wakes the task if it goes out now.
    fn hand_over(&self, message: ClientMessage) -> Result<(), CoreError> {
        let mut session = self.lock();
        session.send(message)?;
        let up = session.is_up();
        drop(session);
        if up {
            self.wake.notify_one();
        }
        Ok(())
    }
}
