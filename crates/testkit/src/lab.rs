//! A whole ringwire in one process: a real signaling server (ephemeral loopback port,
//! temporary SQLite store, users and devices provisioned before it starts) and real engines on
//! 127.0.0.1, each with its own event channel. The demo and the benchmarks run their calls in
//! it; a benchmark may point engines at a proxy in front of `ws_url` instead.

use std::collections::HashMap;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{anyhow, Context};
use ringwire_engine::{AudioDevices, Engine, EngineConfig, EngineEvent, SignalingConfig};
use ringwire_server::store::Store;
use ringwire_server::{Server, ServerConfig};

use crate::events::{wait_for, ChannelListener, Stamped};

/// A server with provisioned devices.
pub struct Lab {
    server: Option<Server>,
    config: ServerConfig,
    dir: tempfile::TempDir,
    pub ws_url: String,
    pub http_url: String,
    /// Device tokens per user, in the order asked for.
    pub tokens: HashMap<String, Vec<String>>,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab").field("ws_url", &self.ws_url).finish()
    }
}

/// A user to provision: its name, the name its callees see, and one device per label.
#[derive(Debug, Clone, Copy)]
pub struct LabUser<'a> {
    pub name: &'a str,
    pub display_name: Option<&'a str>,
    pub devices: &'a [&'a str],
}

impl Lab {
    /// Starts a server whose store holds `users`, each with that many devices.
    pub async fn start(users: &[(&str, usize)]) -> anyhow::Result<Lab> {
        let labels: Vec<Vec<String>> = users
            .iter()
            .map(|(_, n)| (0..*n).map(|i| format!("lab-{i}")).collect())
            .collect();
        let labels: Vec<Vec<&str>> = labels
            .iter()
            .map(|l| l.iter().map(String::as_str).collect())
            .collect();
        let users: Vec<LabUser> = users
            .iter()
            .zip(&labels)
            .map(|((name, _), devices)| LabUser {
                name,
                display_name: None,
                devices,
            })
            .collect();
        Lab::start_with(&users, |config| {
            // A benchmark places calls back to back from one device; the per-device invite
            // limit (a defence against abuse) would only add waits to the figures.
            config.invite_burst = 1_000_000;
        })
        .await
    }

    /// Starts a server whose store holds `users`, with `adjust` applied to its configuration.
    pub async fn start_with(
        users: &[LabUser<'_>],
        adjust: impl FnOnce(&mut ServerConfig),
    ) -> anyhow::Result<Lab> {
        let dir = tempfile::tempdir().context("temporary directory")?;
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse()?,
            data_dir: dir.path().join("data"),
            ..ServerConfig::default()
        };
        adjust(&mut config);
        let tokens = provision(&config, users).await?;
        let server = Server::start(config.clone()).await?;
        let addr = server.local_addr();
        Ok(Lab {
            server: Some(server),
            config,
            dir,
            ws_url: format!("ws://{addr}/v1/ws"),
            http_url: format!("http://{addr}"),
            tokens,
        })
    }

    /// A temporary directory that lives as long as the lab (recordings, scratch files).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The server's store, opened a second time (SQLite allows it while the server runs).
    pub async fn open_store(&self) -> anyhow::Result<Store> {
        Ok(ringwire_server::server::open_store(&self.config).await?)
    }

    /// The `i`th device token of `user`.
    pub fn token(&self, user: &str, i: usize) -> anyhow::Result<String> {
        self.tokens
            .get(user)
            .and_then(|t| t.get(i))
            .cloned()
            .ok_or_else(|| anyhow!("no device {i} for {user}"))
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(server) = self.server.take() {
            server.shutdown().await?;
        }
        Ok(())
    }
}

/// Adds `users` to the store `config` names, with their devices, before the server starts;
/// returns each user's device tokens in the order of its labels.
pub async fn provision(
    config: &ServerConfig,
    users: &[LabUser<'_>],
) -> anyhow::Result<HashMap<String, Vec<String>>> {
    let store = ringwire_server::server::open_store(config).await?;
    let mut tokens = HashMap::new();
    for user in users {
        ringwire_server::admin::add_user(&store, user.name, user.display_name).await?;
        let mut list = Vec::new();
        for label in user.devices {
            let created =
                ringwire_server::admin::add_device(&store, user.name, Some(label), usize::MAX)
                    .await?;
            list.push(created.token);
        }
        tokens.insert(user.name.to_string(), list);
    }
    store.close().await;
    Ok(tokens)
}

/// An engine configuration on 127.0.0.1 only, signaling through `ws_url` with `token`: what
/// every engine of a lab runs with (loopback candidates allowed, no other interface).
pub fn engine_config(ws_url: &str, token: String, audio: AudioDevices) -> EngineConfig {
    let mut config = EngineConfig::new(SignalingConfig::new(ws_url, token), audio);
    config.bind = vec![std::net::Ipv4Addr::LOCALHOST.into()];
    config.allow_loopback = true;
    config
}

/// One engine and its events.
pub struct Phone {
    pub engine: Engine,
    pub events: mpsc::Receiver<Stamped>,
    pub seen: Vec<Stamped>,
}

impl std::fmt::Debug for Phone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Phone")
            .field("engine", &self.engine)
            .finish()
    }
}

impl Phone {
    /// An engine on 127.0.0.1 signaling through `ws_url`, connected before this returns.
    pub fn start(ws_url: &str, token: String, audio: AudioDevices) -> anyhow::Result<Phone> {
        let (tx, events) = mpsc::channel();
        let engine = Engine::new(
            engine_config(ws_url, token, audio),
            Arc::new(ChannelListener::new("lab", tx)),
        )?;
        let mut phone = Phone {
            engine,
            events,
            seen: Vec::new(),
        };
        phone
            .wait(Duration::from_secs(10), |e| {
                matches!(e, EngineEvent::SignalingConnected { .. }).then_some(())
            })
            .ok_or_else(|| anyhow!("an engine did not connect to the server"))?;
        Ok(phone)
    }

    /// The first event `pick` accepts within `timeout`, and when it arrived.
    pub fn wait<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&EngineEvent) -> Option<T>,
    ) -> Option<(T, std::time::Instant)> {
        wait_for(&self.events, timeout, &mut self.seen, |s| pick(&s.event))
    }

    /// The id of the next incoming call, or an error after `timeout`.
    pub fn incoming(&mut self, timeout: Duration) -> anyhow::Result<ringwire_proto::CallId> {
        self.wait(timeout, |e| match e {
            EngineEvent::Report(ringwire_core::Report::IncomingCall { call_id, .. }) => {
                Some(*call_id)
            }
            _ => None,
        })
        .map(|(id, _)| id)
        .ok_or_else(|| anyhow!("the callee got no incoming call"))
    }

    /// Waits until this engine's call has a media path (`Connected`), or fails after `timeout`.
    pub fn connected(&mut self, timeout: Duration) -> anyhow::Result<()> {
        self.wait(timeout, |e| {
            matches!(
                e,
                EngineEvent::Report(ringwire_core::Report::Connected { .. })
            )
            .then_some(())
        })
        .map(drop)
        .ok_or_else(|| anyhow!("the call did not connect"))
    }

    /// Forgets the events seen so far (they grow with every quality report).
    pub fn forget(&mut self) {
        self.seen.clear();
        while self.events.try_recv().is_ok() {}
    }
}
