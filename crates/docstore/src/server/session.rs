//! One WebSocket connection: reads request frames in order and answers each, and runs the
//! connection's listeners, each a task that forwards its watch's snapshots or changes as pushes.
//!
//! Requests are carried out one at a time in arrival order, so one client's writes land in the
//! order it sent them. A `listen` is the exception: its task answers it once the first snapshot
//! is read, then pushes that snapshot, through the same queue, so the answer always comes first.
//! Every frame out goes through one bounded queue to one writer: a client that does not read
//! slows its own listeners, never the server.
//!
//! The session owns its listener tasks: `unlisten`, the connection closing, or a server shutdown
//! aborts them, which drops their Redis connections.

use std::collections::HashMap;

use axum::extract::ws::{Message, WebSocket};
use futures_util::{SinkExt, Stream, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::ServerConfig;
use crate::doc::{ChangeKind, DocChange, DocSnapshot};
use crate::error::DocStoreError;
use crate::path::AnyPath;
use crate::protocol::{
    changes_push, error_frame, listener_error_push, ok_frame, snapshot_push, AddOk,
    DeleteCollectionOk, DeleteOk, ListOk, ListenOk, Request, WriteOk,
};
use crate::store::{CollectionWatch, DocWatch, Store};

/// Frames queued for the writer before senders wait.
const OUTGOING_QUEUE: usize = 256;

/// A frame from the client, as the session sees it.
#[derive(Debug)]
pub(super) enum ClientFrame {
    /// A text frame: a request.
    Text(String),
    /// A binary frame, which the protocol does not use.
    Binary,
    /// Ping or pong, answered by the WebSocket layer.
    Control,
    /// The client closed, or the connection failed.
    Closed,
}

/// Serves one upgraded WebSocket until the client closes it or the server shuts down.
pub(super) async fn serve_socket(
    socket: WebSocket,
    config: &ServerConfig,
    shutdown: watch::Receiver<bool>,
) {
    let (mut sink, stream) = socket.split();
    let (out, mut queue) = mpsc::channel::<String>(OUTGOING_QUEUE);
    let writer = async move {
        while let Some(frame) = queue.recv().await {
            if sink.send(Message::Text(frame.into())).await.is_err() {
                return;
            }
        }
        // Every sender is gone (the session ended and its listeners were aborted): say goodbye.
        let _ = sink.close().await;
    };
    let frames = stream.map(|message| match message {
        Ok(Message::Text(text)) => ClientFrame::Text(text.as_str().to_owned()),
        Ok(Message::Binary(_)) => ClientFrame::Binary,
        Ok(Message::Ping(_) | Message::Pong(_)) => ClientFrame::Control,
        Ok(Message::Close(_)) | Err(_) => ClientFrame::Closed,
    });
    let session = run(config, frames, out, shutdown);
    tokio::join!(session, writer);
}

/// Reads frames until the stream ends, a close, or shutdown; answers go to `out`.
pub(super) async fn run<S>(
    config: &ServerConfig,
    mut frames: S,
    out: mpsc::Sender<String>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: Stream<Item = ClientFrame> + Unpin,
{
    let mut session = Session {
        store: config.store.clone(),
        out: out.clone(),
        listeners: HashMap::new(),
        next_listener: 1,
        max_listeners: config.max_listeners,
    };
    loop {
        let frame = tokio::select! {
            frame = frames.next() => frame,
            // A shutdown, or the server dropped.
            _ = shutdown.wait_for(|stopped| *stopped) => break,
        };
        let answer = match frame {
            Some(ClientFrame::Text(text)) => session.handle(&text).await,
            Some(ClientFrame::Binary) => Some(error_frame(
                None,
                &DocStoreError::MalformedFrame(
                    "binary frames are not read: send JSON text frames".into(),
                ),
            )),
            Some(ClientFrame::Control) => None,
            Some(ClientFrame::Closed) | None => break,
        };
        if let Some(answer) = answer {
            if out.send(answer).await.is_err() {
                break;
            }
        }
    }
}

struct Session {
    store: Store,
    out: mpsc::Sender<String>,
    listeners: HashMap<u64, JoinHandle<()>>,
    next_listener: u64,
    max_listeners: usize,
}

impl Drop for Session {
    fn drop(&mut self) {
        for (_, task) in self.listeners.drain() {
            task.abort();
        }
    }
}

impl Session {
    /// Carries out one request; returns its answer, or `None` if a listener task will answer.
    async fn handle(&mut self, text: &str) -> Option<String> {
        let (id, request) = match Request::parse(text) {
            Ok(parsed) => parsed,
            Err(bad) => {
                tracing::debug!(code = ?bad.error.code(), "refused a frame: {}", bad.error);
                return Some(error_frame(bad.id, &bad.error));
            }
        };
        let store = &self.store;
        let result = match request {
            Request::Set { path, data } => store
                .set(&path, &data)
                .await
                .map(|t| ok_frame(id, WriteOk { update_time: t })),
            Request::Update { path, data } => store
                .update(&path, &data)
                .await
                .map(|t| ok_frame(id, WriteOk { update_time: t })),
            Request::Add { collection, data } => {
                store
                    .add(&collection, &data)
                    .await
                    .map(|(path, update_time)| {
                        ok_frame(
                            id,
                            AddOk {
                                id: path.id().to_owned(),
                                path,
                                update_time,
                            },
                        )
                    })
            }
            Request::Get { path } => store
                .get(&path)
                .await
                .map(|doc| ok_frame(id, DocSnapshot { path, doc })),
            Request::Delete { path } => store
                .delete(&path)
                .await
                .map(|existed| ok_frame(id, DeleteOk { existed })),
            Request::DeleteCollection { collection } => store
                .delete_collection(&collection)
                .await
                .map(|deleted| ok_frame(id, DeleteCollectionOk { deleted })),
            Request::List { collection } => store
                .list(&collection)
                .await
                .map(|docs| ok_frame(id, ListOk { docs })),
            Request::Listen { path } => match self.listen(id, path) {
                Ok(()) => return None,
                Err(e) => Err(e),
            },
            Request::Unlisten { listener } => {
                self.unlisten(listener).map(|()| ok_frame(id, Value::Null))
            }
        };
        Some(result.unwrap_or_else(|error| {
            if matches!(error, DocStoreError::Redis(_) | DocStoreError::Corrupt(_)) {
                tracing::warn!("request {id} failed: {error}");
            }
            error_frame(Some(id), &error)
        }))
    }

    fn listen(&mut self, request: u64, path: AnyPath) -> Result<(), DocStoreError> {
        // Listeners that ended on their own (an error) no longer count.
        self.listeners.retain(|_, task| !task.is_finished());
        if self.listeners.len() >= self.max_listeners {
            return Err(DocStoreError::TooManyListeners {
                limit: self.max_listeners,
            });
        }
        let listener = self.next_listener;
        self.next_listener += 1;
        let (store, out) = (self.store.clone(), self.out.clone());
        let task = tokio::spawn(run_listener(store, path, request, listener, out));
        self.listeners.insert(listener, task);
        Ok(())
    }

    fn unlisten(&mut self, listener: u64) -> Result<(), DocStoreError> {
        match self.listeners.remove(&listener) {
            Some(task) if !task.is_finished() => {
                task.abort();
                Ok(())
            }
            _ => Err(DocStoreError::UnknownListener { listener }),
        }
    }
}

/// One listener: answers the `listen` request, pushes the first snapshot, then every change,
/// until an error (pushed as the last frame) or an abort. A failed send means the connection is
/// going away, and ends it quietly.
async fn run_listener(
    store: Store,
    path: AnyPath,
    request: u64,
    listener: u64,
    out: mpsc::Sender<String>,
) {
    let started = match path {
        AnyPath::Doc(path) => store
            .watch_doc(&path)
            .await
            .map(|(snapshot, watch)| (snapshot_push(listener, &snapshot), Watch::Doc(watch))),
        AnyPath::Collection(path) => store.watch_collection(&path).await.map(|(docs, watch)| {
            // A collection listener starts with every document as added, in creation order.
            let added: Vec<_> = docs
                .into_iter()
                .map(|doc| DocChange {
                    kind: ChangeKind::Added,
                    doc,
                })
                .collect();
            (changes_push(listener, &added), Watch::Collection(watch))
        }),
    };
    let (first_push, mut watch) = match started {
        Ok(started) => started,
        Err(e) => {
            let _ = out.send(error_frame(Some(request), &e)).await;
            return;
        }
    };
    for frame in [ok_frame(request, ListenOk { listener }), first_push] {
        if out.send(frame).await.is_err() {
            return;
        }
    }
    let error = loop {
        match watch.next_push(listener).await {
            Ok(push) => {
                if out.send(push).await.is_err() {
                    return;
                }
            }
            Err(e) => break e,
        }
    };
    tracing::info!("listener {listener} ended: {error}");
    let _ = out.send(listener_error_push(listener, &error)).await;
}

/// A listener's watch, of either kind.
enum Watch {
    Doc(DocWatch),
    Collection(CollectionWatch),
}

impl Watch {
    /// The push for the next change(s).
    async fn next_push(&mut self, listener: u64) -> Result<String, DocStoreError> {
        match self {
            Self::Doc(watch) => Ok(snapshot_push(listener, &watch.next().await?)),
            Self::Collection(watch) => Ok(changes_push(listener, &watch.next().await?)),
        }
    }
}
