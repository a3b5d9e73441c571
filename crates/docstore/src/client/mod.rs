//! The Rust client of a docstore server: [`DocClient`] speaks `/v1/docs` over a WebSocket.
//!
//! One driver task owns the socket: handles send it requests, it matches answers to them by id
//! and routes pushes to listeners by listener id. It registers a listener when it reads the
//! `listen` answer, before it reads the next frame, so no push can arrive for a listener it does
//! not know yet (the server answers `listen` before pushing). When the last handle and the last
//! listener are dropped, the driver closes the socket.
//!
//! Only `ws://` (no TLS): the store is a stand-in for tests and demos on one machine.

mod listener;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use crate::doc::{DocChange, DocData, DocSnapshot, Document};
use crate::error::DocStoreError;
use crate::path::{AnyPath, CollectionPath, DocPath};
use crate::protocol::{
    AddOk, DeleteCollectionOk, DeleteOk, Inbound, ListOk, ListenOk, Request, WriteOk,
};

pub use listener::{CollectionListener, DocListener, Listener};

/// A connection to a docstore server. Cheap to clone; clones share the connection.
///
/// Requests wait as long as the server takes: wrap them in a timeout where that matters.
#[derive(Debug, Clone)]
pub struct DocClient {
    commands: mpsc::UnboundedSender<Command>,
    ids: Arc<AtomicU64>,
}

type Reply = oneshot::Sender<Result<Value, DocStoreError>>;

/// What handles ask the driver.
#[derive(Debug)]
enum Command {
    /// Send a request and route its answer to `reply` (and, for `listen`, its pushes to `sink`).
    Request {
        id: u64,
        frame: String,
        reply: Reply,
        sink: Option<Sink>,
    },
    /// A listener was dropped: stop routing to it and tell the server.
    Unlisten { listener: u64 },
}

/// Where a listener's pushes go.
#[derive(Debug)]
enum Sink {
    Doc(mpsc::UnboundedSender<Result<DocSnapshot, DocStoreError>>),
    Collection(mpsc::UnboundedSender<Result<Vec<DocChange>, DocStoreError>>),
}

impl Sink {
    fn fail(&self, error: DocStoreError) {
        // A listener that is gone needs no news.
        match self {
            Self::Doc(tx) => drop(tx.send(Err(error))),
            Self::Collection(tx) => drop(tx.send(Err(error))),
        }
    }
}

impl DocClient {
    /// Connects to `url`, such as `ws://127.0.0.1:8787/v1/docs`.
    pub async fn connect(url: &str) -> Result<Self, DocStoreError> {
        // TCP_NODELAY: requests are small frames that each wait for an answer.
        let (socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .map_err(|source| DocStoreError::Connect {
                url: url.to_owned(),
                source: Box::new(source),
            })?;
        let (commands, queue) = mpsc::unbounded_channel();
        let ids = Arc::new(AtomicU64::new(1));
        tokio::spawn(drive(socket, queue, ids.clone()));
        Ok(Self { commands, ids })
    }

    /// Creates or replaces the document at `path`; returns its update time.
    pub async fn set(&self, path: &str, data: Value) -> Result<u64, DocStoreError> {
        let request = Request::Set {
            path: DocPath::parse(path)?,
            data: DocData::new(data)?,
        };
        Ok(self.call::<WriteOk>(request).await?.update_time)
    }

    /// Merges `data`'s top-level fields into the existing document at `path`; a `not_found`
    /// error if there is none. Returns its update time.
    pub async fn update(&self, path: &str, data: Value) -> Result<u64, DocStoreError> {
        let request = Request::Update {
            path: DocPath::parse(path)?,
            data: DocData::new(data)?,
        };
        Ok(self.call::<WriteOk>(request).await?.update_time)
    }

    /// Creates a document with a random id in `collection`; returns its path.
    pub async fn add(&self, collection: &str, data: Value) -> Result<DocPath, DocStoreError> {
        let collection = CollectionPath::parse(collection)?;
        let request = Request::Add {
            collection,
            data: DocData::new(data)?,
        };
        Ok(self.call::<AddOk>(request).await?.path)
    }

    /// The document at `path`, or `None`.
    pub async fn get(&self, path: &str) -> Result<Option<Document>, DocStoreError> {
        let request = Request::Get {
            path: DocPath::parse(path)?,
        };
        Ok(self.call::<DocSnapshot>(request).await?.doc)
    }

    /// Deletes the document at `path` (not its subcollections); returns whether it existed.
    pub async fn delete(&self, path: &str) -> Result<bool, DocStoreError> {
        let request = Request::Delete {
            path: DocPath::parse(path)?,
        };
        Ok(self.call::<DeleteOk>(request).await?.existed)
    }

    /// Deletes every document of `collection`; returns how many. A cleanup convenience that
    /// Firestore's client SDK does not have.
    pub async fn delete_collection(&self, collection: &str) -> Result<u64, DocStoreError> {
        let request = Request::DeleteCollection {
            collection: CollectionPath::parse(collection)?,
        };
        Ok(self.call::<DeleteCollectionOk>(request).await?.deleted)
    }

    /// The documents of `collection`, in creation order.
    pub async fn list(&self, collection: &str) -> Result<Vec<Document>, DocStoreError> {
        let request = Request::List {
            collection: CollectionPath::parse(collection)?,
        };
        Ok(self.call::<ListOk>(request).await?.docs)
    }

    /// Listens to the document at `path`: the first [`DocListener::next`] is its current
    /// snapshot, then one per change. Dropping the listener unsubscribes.
    pub async fn listen_doc(&self, path: &str) -> Result<DocListener, DocStoreError> {
        let path = AnyPath::Doc(DocPath::parse(path)?);
        let (tx, rx) = mpsc::unbounded_channel();
        let listener = self.listen(path, Sink::Doc(tx)).await?;
        Ok(Listener::new(listener, rx, self.commands.clone()))
    }

    /// Listens to `collection`: the first [`CollectionListener::next`] is every document as
    /// `Added` in creation order (possibly none), then the changes as they happen. Dropping the
    /// listener unsubscribes.
    pub async fn listen_collection(
        &self,
        collection: &str,
    ) -> Result<CollectionListener, DocStoreError> {
        let path = AnyPath::Collection(CollectionPath::parse(collection)?);
        let (tx, rx) = mpsc::unbounded_channel();
        let listener = self.listen(path, Sink::Collection(tx)).await?;
        Ok(Listener::new(listener, rx, self.commands.clone()))
    }

    async fn listen(&self, path: AnyPath, sink: Sink) -> Result<u64, DocStoreError> {
        let answer = self.send(Request::Listen { path }, Some(sink)).await?;
        Ok(parse_ok::<ListenOk>(answer)?.listener)
    }

    async fn call<T: DeserializeOwned>(&self, request: Request) -> Result<T, DocStoreError> {
        parse_ok(self.send(request, None).await?)
    }

    async fn send(&self, request: Request, sink: Option<Sink>) -> Result<Value, DocStoreError> {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let frame = request.to_frame(id);
        self.commands
            .send(Command::Request {
                id,
                frame,
                reply,
                sink,
            })
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

fn parse_ok<T: DeserializeOwned>(ok: Value) -> Result<T, DocStoreError> {
    serde_json::from_value(ok).map_err(|e| DocStoreError::Protocol(format!("an answer: {e}")))
}

fn closed() -> DocStoreError {
    DocStoreError::Disconnected("the client's connection task ended".into())
}

/// A request waiting for its answer.
struct Pending {
    /// `None` for the driver's own `unlisten` requests, whose answers nobody awaits.
    reply: Option<Reply>,
    sink: Option<Sink>,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The driver: owns the socket until it closes or every handle is gone.
async fn drive(
    mut socket: Socket,
    mut commands: mpsc::UnboundedReceiver<Command>,
    ids: Arc<AtomicU64>,
) {
    let mut pending: HashMap<u64, Pending> = HashMap::new();
    let mut listeners: HashMap<u64, Sink> = HashMap::new();
    let reason = loop {
        tokio::select! {
            command = commands.recv() => {
                let (id, frame, entry) = match command {
                    None => {
                        // Every handle and listener is gone.
                        let _ = socket.close(None).await;
                        return;
                    }
                    Some(Command::Request { id, frame, reply, sink }) => {
                        (id, frame, Pending { reply: Some(reply), sink })
                    }
                    Some(Command::Unlisten { listener }) => {
                        listeners.remove(&listener);
                        let id = ids.fetch_add(1, Ordering::Relaxed);
                        let frame = Request::Unlisten { listener }.to_frame(id);
                        (id, frame, Pending { reply: None, sink: None })
                    }
                };
                if let Err(e) = socket.send(Message::text(frame)).await {
                    let reason = format!("sending failed: {e}");
                    if let Some(reply) = entry.reply {
                        let _ = reply.send(Err(DocStoreError::Disconnected(reason.clone())));
                    }
                    break reason;
                }
                pending.insert(id, entry);
            }
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if let Err(e) = route(&text, &mut pending, &mut listeners, &ids, &mut socket).await {
                        break e;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    break format!("the server closed the connection ({frame:?})");
                }
                Some(Ok(_)) => {} // ping, pong, binary: nothing to route
                Some(Err(e)) => break format!("reading failed: {e}"),
                None => break "the connection ended".to_owned(),
            },
        }
    };
    tracing::debug!("docstore client connection ended: {reason}");
    for (_, entry) in pending.drain() {
        if let Some(reply) = entry.reply {
            let _ = reply.send(Err(DocStoreError::Disconnected(reason.clone())));
        }
    }
    for (_, sink) in listeners.drain() {
        sink.fail(DocStoreError::Disconnected(reason.clone()));
    }
}

/// Routes one frame from the server. An error means the connection is unusable.
async fn route(
    text: &str,
    pending: &mut HashMap<u64, Pending>,
    listeners: &mut HashMap<u64, Sink>,
    ids: &AtomicU64,
    socket: &mut Socket,
) -> Result<(), String> {
    let inbound = Inbound::parse(text).map_err(|e| e.to_string())?;
    match inbound {
        Inbound::Answer { id, result } => {
            let Some(Pending { reply, sink }) = pending.remove(&id) else {
                return Ok(()); // an answer to nothing we asked: ignore it
            };
            // A successful listen: route its pushes from the very next frame on.
            let mut result = result;
            if let (Some(sink), Ok(ok)) = (sink, &result) {
                match serde_json::from_value::<ListenOk>(ok.clone()) {
                    Ok(ListenOk { listener }) => {
                        let caller_gone = reply.as_ref().is_none_or(oneshot::Sender::is_closed);
                        if caller_gone {
                            // Whoever asked stopped waiting: nobody will drop a listener.
                            let id = ids.fetch_add(1, Ordering::Relaxed);
                            let frame = Request::Unlisten { listener }.to_frame(id);
                            socket
                                .send(Message::text(frame))
                                .await
                                .map_err(|e| e.to_string())?;
                            pending.insert(
                                id,
                                Pending {
                                    reply: None,
                                    sink: None,
                                },
                            );
                        } else {
                            listeners.insert(listener, sink);
                        }
                    }
                    Err(e) => {
                        result = Err(DocStoreError::Protocol(format!("a listen answer: {e}")))
                    }
                }
            }
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        }
        Inbound::Unattributed { error } => {
            // Every request this client sends has an id: this is the server's complaint about a
            // frame it could not read, which a correct client never sends.
            tracing::warn!("the docstore server refused a frame: {error}");
        }
        Inbound::Snapshot { listener, snapshot } => match listeners.get(&listener) {
            Some(Sink::Doc(tx)) => {
                let _ = tx.send(Ok(snapshot));
            }
            Some(sink) => {
                sink.fail(DocStoreError::Protocol(
                    "a snapshot for a collection listener".into(),
                ));
                listeners.remove(&listener);
            }
            None => {} // unsubscribed meanwhile
        },
        Inbound::Changes { listener, changes } => match listeners.get(&listener) {
            Some(Sink::Collection(tx)) => {
                let _ = tx.send(Ok(changes));
            }
            Some(sink) => {
                sink.fail(DocStoreError::Protocol(
                    "changes for a document listener".into(),
                ));
                listeners.remove(&listener);
            }
            None => {}
        },
        Inbound::ListenerEnded { listener, error } => {
            if let Some(sink) = listeners.remove(&listener) {
                sink.fail(error);
            }
        }
    }
    Ok(())
}
