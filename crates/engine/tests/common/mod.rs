//! Shared harness: a real ringwire server on a loopback port with a temporary SQLite data
//! directory (stoppable and restartable on the same port), the admin API over real HTTP, and
//! signaling clients whose events are awaited with timeouts.
#![allow(dead_code)] // each test file uses a different part of the harness

use std::time::Duration;

use ringwire_engine::{SignalingClient, SignalingConfig, SignalingEvent};
use ringwire_proto::{CallId, ClientMessage, ServerMessage, Welcome};
use tokio::sync::mpsc;

pub use ringwire_testkit::TestServer;

/// How long any one expected event may take. Generous: tests assert behaviour, not speed.
pub const WAIT: Duration = Duration::from_secs(15);

/// A config with short backoff so reconnect tests do not idle.
pub fn config(url: String, token: &str) -> SignalingConfig {
    let mut config = SignalingConfig::new(url, token);
    config.client_name = Some("ringwire-engine-tests".into());
    config.backoff_initial = Duration::from_millis(50);
    config.backoff_max = Duration::from_millis(400);
    config
}

/// A signaling client and the receiving end of its events.
pub struct Engine {
    pub client: SignalingClient,
    pub events: mpsc::UnboundedReceiver<SignalingEvent>,
}

impl Engine {
    pub fn spawn(config: SignalingConfig) -> Engine {
        let (tx, events) = mpsc::unbounded_channel();
        let client = SignalingClient::spawn(config, tx).expect("valid configuration");
        Engine { client, events }
    }

    pub async fn connect(server: &TestServer, token: &str) -> (Engine, Welcome) {
        let mut engine = Engine::spawn(config(server.ws_url(), token));
        let welcome = engine.connected().await;
        (engine, welcome)
    }

    /// The next event; panics on timeout or when the task has ended.
    pub async fn next(&mut self) -> SignalingEvent {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("timed out waiting for a signaling event")
            .expect("the signaling task ended unexpectedly")
    }

    /// Waits for `Connected`, passing over failed attempts (`Disconnected`).
    pub async fn connected(&mut self) -> Welcome {
        loop {
            match self.next().await {
                SignalingEvent::Connected(welcome) => return welcome,
                SignalingEvent::Disconnected { .. } => continue,
                other => panic!("expected Connected, got {other:?}"),
            }
        }
    }

    /// Waits for `Disconnected`, passing over server messages (such as `shutting_down`).
    pub async fn disconnected(&mut self) -> (String, Duration) {
        loop {
            match self.next().await {
                SignalingEvent::Disconnected { reason, retry_in } => return (reason, retry_in),
                SignalingEvent::Message(_) => continue,
                other => panic!("expected Disconnected, got {other:?}"),
            }
        }
    }

    /// The next event, which must be a server message.
    pub async fn message(&mut self) -> ServerMessage {
        match self.next().await {
            SignalingEvent::Message(message) => message,
            other => panic!("expected a server message, got {other:?}"),
        }
    }

    /// Messages until one matches; those passed over must satisfy `skippable`.
    pub async fn message_where(
        &mut self,
        wanted: impl Fn(&ServerMessage) -> bool,
        skippable: impl Fn(&ServerMessage) -> bool,
    ) -> ServerMessage {
        loop {
            let message = self.message().await;
            if wanted(&message) {
                return message;
            }
            assert!(skippable(&message), "unexpected message {message:?}");
        }
    }

    /// The event channel closes (the task ended) with no further events than `allowed`.
    pub async fn ends(&mut self, allowed: impl Fn(&SignalingEvent) -> bool) {
        loop {
            match tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("the signaling task did not end")
            {
                None => return,
                Some(event) => assert!(allowed(&event), "unexpected event {event:?}"),
            }
        }
    }
}

pub fn invite(call_id: CallId, to: &str) -> ClientMessage {
    ClientMessage::Invite(ringwire_proto::Invite {
        call_id,
        to_user: to.parse().expect("user name"),
    })
}
