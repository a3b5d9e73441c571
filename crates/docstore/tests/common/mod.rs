//! The docstore tests' lab: a real Redis (RINGWIRE_TEST_REDIS_URL, default
//! redis://127.0.0.1:6379) under a random key prefix per test, an in-process server on it, raw
//! WebSocket connections for hostile frames, and bounded waits. Every key under the prefix is
//! deleted when the lab is dropped, even if the test failed.
//!
//! Without Redis the tests fail (they do not skip): ./scripts/test starts one.

#![allow(clippy::unwrap_used, dead_code)]

use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use ringwire_docstore::{DocClient, Server, ServerConfig, Store};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any one awaited event may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn redis_url() -> String {
    std::env::var("RINGWIRE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A fresh prefix: `t-<name>-<random>`.
pub fn prefix(name: &str) -> String {
    let id = ringwire_docstore::path::auto_id().unwrap();
    let name: String = name.chars().take(30).collect();
    format!("t-{name}-{}", &id[..12])
}

/// Fails the test (never skips it) when Redis is not there.
pub async fn store(prefix: &str) -> Store {
    let url = redis_url();
    match Store::connect(&url, prefix).await {
        Ok(store) => store,
        Err(e) => panic!(
            "the docstore tests need a real Redis at {url} (RINGWIRE_TEST_REDIS_URL), and it is \
             not reachable: {e}. Start one (./scripts/test does: `redis-server --daemonize yes`) \
             or point RINGWIRE_TEST_REDIS_URL at one."
        ),
    }
}

/// A store under a random prefix, purged on drop.
pub struct Lab {
    pub store: Store,
    pub prefix: String,
    pub server: Option<Server>,
}

impl Lab {
    /// A store with no server.
    pub async fn store_only(name: &str) -> Self {
        let prefix = prefix(name);
        Self {
            store: store(&prefix).await,
            prefix,
            server: None,
        }
    }

    /// A store and a server on it with the default limits.
    pub async fn start(name: &str) -> Self {
        Self::start_with(name, |_| {}).await
    }

    /// A store and a server on it, its config adjusted by `adjust`.
    pub async fn start_with(name: &str, adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        let mut lab = Self::store_only(name).await;
        let mut config = ServerConfig::new(lab.store.clone());
        adjust(&mut config);
        let server = Server::start("127.0.0.1:0".parse().unwrap(), config)
            .await
            .unwrap();
        lab.server = Some(server);
        lab
    }

    pub fn url(&self) -> String {
        self.server.as_ref().expect("this lab has no server").url()
    }

    pub async fn client(&self) -> DocClient {
        within("connecting", DocClient::connect(&self.url()))
            .await
            .unwrap()
    }

    pub async fn raw(&self) -> Raw {
        Raw::connect(&self.url()).await
    }

    /// How many listener connections of this store Redis has open.
    pub async fn listener_connections(&self) -> usize {
        listener_connections(&self.store).await
    }

    /// Waits until Redis has `n` listener connections of this store open.
    pub async fn wait_for_listener_connections(&self, n: usize) {
        wait_for_listener_connections(&self.store, n).await;
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Stop serving first, so no listener writes while the keys go.
        drop(self.server.take());
        purge_blocking(&self.prefix);
    }
}

/// Deletes every key under `prefix`, synchronously (from `Drop`, also after a panic).
pub fn purge_blocking(prefix: &str) {
    let Ok(client) = redis::Client::open(redis_url()) else {
        return;
    };
    let Ok(mut conn) = client.get_connection() else {
        return;
    };
    let mut cursor = 0u64;
    loop {
        let Ok((next, keys)): redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(500)
            .query(&mut conn)
        else {
            return;
        };
        if !keys.is_empty() {
            let _: redis::RedisResult<u64> = redis::cmd("DEL").arg(&keys).query(&mut conn);
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}

/// Keys left under `prefix`.
pub async fn keys_under(prefix: &str) -> Vec<String> {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// How many connections named as `store`'s listener connections Redis has.
pub async fn listener_connections(store: &Store) -> usize {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut conn)
        .await
        .unwrap();
    let name = format!("name={}", store.listener_client_name());
    list.lines()
        .filter(|line| line.split(' ').any(|field| field == name))
        .count()
}

/// Polls Redis's client list until `store` has `n` listener connections open; Redis reports
/// no event for a closed client, so this asks every few milliseconds, up to [`WAIT`].
pub async fn wait_for_listener_connections(store: &Store, n: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let open = listener_connections(store).await;
        if open == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{open} listener connections to Redis open after {WAIT:?}, not {n}: a leak"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Awaits `future`, failing the test if it takes longer than [`WAIT`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

/// A raw WebSocket connection, for frames a correct client never sends.
pub struct Raw {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Raw {
    pub async fn connect(url: &str) -> Self {
        let (socket, _) = within("a raw connection", tokio_tungstenite::connect_async(url))
            .await
            .unwrap();
        Self { socket }
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        let text: String = text.into();
        self.socket.send(Message::text(text)).await.unwrap();
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.socket.send(Message::binary(bytes)).await.unwrap();
    }

    /// The next text frame, as JSON; `None` if the connection closed.
    pub async fn next(&mut self) -> Option<Value> {
        within("a frame from the server", async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Message::Text(text))) => {
                        return Some(serde_json::from_str(&text).unwrap())
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                    Some(Ok(_)) => continue,
                }
            }
        })
        .await
    }

    /// The next frame, which must be there.
    pub async fn expect(&mut self) -> Value {
        self.next().await.expect("the server closed the connection")
    }

    /// Sends a request and returns its answer, asserting no other frame comes first.
    pub async fn call(&mut self, request: Value) -> Value {
        let id = request["id"].clone();
        self.send_text(request.to_string()).await;
        let answer = self.expect().await;
        assert_eq!(
            answer["id"], id,
            "expected the answer to {id}, got {answer}"
        );
        answer
    }
}

/// The `error.code` of an answer, or a panic showing the answer.
pub fn code(answer: &Value) -> &str {
    answer["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error, got {answer}"))
}
