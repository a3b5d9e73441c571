//! The wire protocol of `/v1/docs`: JSON text frames. The server parses untrusted frames into a
//! checked [`Request`] or a [`BadFrame`] it can answer; the client parses the server's frames
//! into [`Inbound`]. Both sides build frames here, so the vocabulary exists once.
//!
//! - request: `{"id": n, "op": "set"|"update"|"add"|"get"|"delete"|"delete_collection"|"list"|
//!   "listen"|"unlisten", "path": "...", "data": {...}, "listener": n}` (`data` for set, update
//!   and add; `listener` for unlisten instead of `path`);
//! - answer: `{"id": n, "ok": ...}` or `{"id": n, "error": {"code": "...", "message": "..."}}`
//!   (`id` is null when the frame's id could not be read);
//! - push: `{"listen": l, "snapshot": {...}}` (document listener), `{"listen": l, "changes":
//!   [...]}` (collection listener), `{"listen": l, "error": {...}}` (the listener ended).
//!
//! A `listen` is answered `{"listener": l}` before any push for `l`; after the answer to an
//! `unlisten`, no push for that listener follows.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::doc::{DocChange, DocData, DocSnapshot, Document};
use crate::error::{DocStoreError, ErrorCode};
use crate::path::{AnyPath, CollectionPath, DocPath};

/// Largest frame the server reads: 64 KiB of data with room for the path and the envelope.
pub const MAX_FRAME_BYTES: usize = 80 * 1024;

/// A checked request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Request {
    /// Create or replace a document.
    Set { path: DocPath, data: DocData },
    /// Merge top-level fields into an existing document.
    Update { path: DocPath, data: DocData },
    /// Create a document with a random id.
    Add {
        collection: CollectionPath,
        data: DocData,
    },
    /// Read a document.
    Get { path: DocPath },
    /// Delete a document.
    Delete { path: DocPath },
    /// Delete every document of a collection.
    DeleteCollection { collection: CollectionPath },
    /// Read a collection's documents in creation order.
    List { collection: CollectionPath },
    /// Start a listener on a document or a collection.
    Listen { path: AnyPath },
    /// Stop a listener.
    Unlisten { listener: u64 },
}

/// A frame the server cannot carry out, with the id to answer to if it could be read.
#[derive(Debug)]
pub struct BadFrame {
    /// The request id, if the frame had a readable one.
    pub id: Option<u64>,
    /// What is wrong.
    pub error: DocStoreError,
}

/// Answer to set and update.
#[derive(Debug, Serialize, Deserialize)]
pub struct WriteOk {
    pub update_time: u64,
}

/// Answer to add.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddOk {
    pub id: String,
    pub path: DocPath,
    pub update_time: u64,
}

/// Answer to delete.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeleteOk {
    pub existed: bool,
}

/// Answer to delete_collection.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeleteCollectionOk {
    pub deleted: u64,
}

/// Answer to list.
#[derive(Debug, Serialize, Deserialize)]
pub struct ListOk {
    pub docs: Vec<Document>,
}

/// Answer to listen.
#[derive(Debug, Serialize, Deserialize)]
pub struct ListenOk {
    pub listener: u64,
}

/// The `error` object of answers and pushes.
#[derive(Debug, Serialize, Deserialize)]
pub struct WireError {
    pub code: ErrorCode,
    pub message: String,
}

impl From<&DocStoreError> for WireError {
    fn from(error: &DocStoreError) -> Self {
        Self {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

impl Request {
    /// Parses an untrusted text frame.
    pub fn parse(text: &str) -> Result<(u64, Self), BadFrame> {
        if text.len() > MAX_FRAME_BYTES {
            #[derive(Deserialize)]
            struct IdOnly {
                id: Option<u64>,
            }
            let id = serde_json::from_str::<IdOnly>(text).ok().and_then(|f| f.id);
            let error = DocStoreError::FrameTooLarge {
                size: text.len(),
                limit: MAX_FRAME_BYTES,
            };
            return Err(BadFrame { id, error });
        }
        let malformed = |id, why: String| BadFrame {
            id,
            error: DocStoreError::MalformedFrame(why),
        };
        let frame: Map<String, Value> = match serde_json::from_str(text) {
            Ok(Value::Object(frame)) => frame,
            Ok(_) => return Err(malformed(None, "a frame must be a JSON object".into())),
            Err(e) => return Err(malformed(None, format!("not JSON ({e})"))),
        };
        let Some(id) = frame.get("id").and_then(Value::as_u64) else {
            return Err(malformed(
                None,
                "`id` must be a non-negative integer".into(),
            ));
        };
        let Some(op) = frame.get("op").and_then(Value::as_str) else {
            return Err(malformed(Some(id), "`op` must be a string".into()));
        };
        Self::parse_op(op, &frame)
            .map(|request| (id, request))
            .map_err(|error| BadFrame {
                id: Some(id),
                error,
            })
    }

    fn parse_op(op: &str, frame: &Map<String, Value>) -> Result<Self, DocStoreError> {
        let path = || match frame.get("path") {
            Some(Value::String(path)) => Ok(path.as_str()),
            _ => Err(DocStoreError::MalformedFrame(format!(
                "`{op}` needs a string `path`"
            ))),
        };
        let data = || match frame.get("data") {
            Some(data) => DocData::new(data.clone()),
            None => Err(DocStoreError::MalformedFrame(format!(
                "`{op}` needs `data`, an object"
            ))),
        };
        Ok(match op {
            "set" => Self::Set {
                path: DocPath::parse(path()?)?,
                data: data()?,
            },
            "update" => Self::Update {
                path: DocPath::parse(path()?)?,
                data: data()?,
            },
            "add" => Self::Add {
                collection: CollectionPath::parse(path()?)?,
                data: data()?,
            },
            "get" => Self::Get {
                path: DocPath::parse(path()?)?,
            },
            "delete" => Self::Delete {
                path: DocPath::parse(path()?)?,
            },
            "delete_collection" => Self::DeleteCollection {
                collection: CollectionPath::parse(path()?)?,
            },
            "list" => Self::List {
                collection: CollectionPath::parse(path()?)?,
            },
            "listen" => Self::Listen {
                path: AnyPath::parse(path()?)?,
            },
            "unlisten" => match frame.get("listener").and_then(Value::as_u64) {
                Some(listener) => Self::Unlisten { listener },
                None => {
                    return Err(DocStoreError::MalformedFrame(
                        "`unlisten` needs `listener`, the id a `listen` answered with".into(),
                    ))
                }
            },
            other => return Err(DocStoreError::UnknownOp(other.chars().take(64).collect())),
        })
    }

    /// The request as a frame with `id`.
    pub fn to_frame(&self, id: u64) -> String {
        let (op, path, data) = match self {
            Self::Set { path, data } => ("set", path.as_str(), Some(data)),
            Self::Update { path, data } => ("update", path.as_str(), Some(data)),
            Self::Add { collection, data } => ("add", collection.as_str(), Some(data)),
            Self::Get { path } => ("get", path.as_str(), None),
            Self::Delete { path } => ("delete", path.as_str(), None),
            Self::DeleteCollection { collection } => {
                ("delete_collection", collection.as_str(), None)
            }
            Self::List { collection } => ("list", collection.as_str(), None),
            Self::Listen {
                path: AnyPath::Doc(path),
            } => ("listen", path.as_str(), None),
            Self::Listen {
                path: AnyPath::Collection(path),
            } => ("listen", path.as_str(), None),
            Self::Unlisten { listener } => {
                return json!({"id": id, "op": "unlisten", "listener": listener}).to_string()
            }
        };
        match data {
            Some(data) => json!({"id": id, "op": op, "path": path, "data": data.fields()}),
            None => json!({"id": id, "op": op, "path": path}),
        }
        .to_string()
    }
}

/// `{"id": id, "ok": ok}`.
pub fn ok_frame(id: u64, ok: impl Serialize) -> String {
    json!({"id": id, "ok": ok}).to_string()
}

/// `{"id": id, "error": {...}}`.
pub fn error_frame(id: Option<u64>, error: &DocStoreError) -> String {
    json!({"id": id, "error": WireError::from(error)}).to_string()
}

/// A document listener's push.
pub fn snapshot_push(listener: u64, snapshot: &DocSnapshot) -> String {
    json!({"listen": listener, "snapshot": snapshot}).to_string()
}

/// A collection listener's push.
pub fn changes_push(listener: u64, changes: &[DocChange]) -> String {
    json!({"listen": listener, "changes": changes}).to_string()
}

/// The last push of a listener that ended on an error.
pub fn listener_error_push(listener: u64, error: &DocStoreError) -> String {
    json!({"listen": listener, "error": WireError::from(error)}).to_string()
}

/// A frame from the server, as the client reads it.
#[derive(Debug)]
pub enum Inbound {
    /// The answer to request `id`: its `ok` value, or the error.
    Answer {
        id: u64,
        result: Result<Value, DocStoreError>,
    },
    /// A frame the server could not read (its answer has no id).
    Unattributed { error: DocStoreError },
    /// A document listener's snapshot.
    Snapshot {
        listener: u64,
        snapshot: DocSnapshot,
    },
    /// A collection listener's changes.
    Changes {
        listener: u64,
        changes: Vec<DocChange>,
    },
    /// A listener ended on an error.
    ListenerEnded { listener: u64, error: DocStoreError },
}

impl Inbound {
    /// Parses a frame from the server.
    pub fn parse(text: &str) -> Result<Self, DocStoreError> {
        #[derive(Deserialize)]
        struct Frame {
            id: Option<u64>,
            #[serde(default)]
            ok: Value,
            error: Option<WireError>,
            listen: Option<u64>,
            snapshot: Option<DocSnapshot>,
            changes: Option<Vec<DocChange>>,
        }
        let frame: Frame = serde_json::from_str(text)
            .map_err(|e| DocStoreError::Protocol(format!("unreadable frame ({e})")))?;
        let remote = |e: WireError| DocStoreError::Remote {
            code: e.code,
            message: e.message,
        };
        Ok(match frame {
            Frame {
                listen: Some(listener),
                snapshot: Some(snapshot),
                ..
            } => Self::Snapshot { listener, snapshot },
            Frame {
                listen: Some(listener),
                changes: Some(changes),
                ..
            } => Self::Changes { listener, changes },
            Frame {
                listen: Some(listener),
                error: Some(error),
                ..
            } => Self::ListenerEnded {
                listener,
                error: remote(error),
            },
            Frame {
                listen: None,
                id: Some(id),
                error,
                ok,
                ..
            } => Self::Answer {
                id,
                result: error.map_or(Ok(ok), |e| Err(remote(e))),
            },
            Frame {
                listen: None,
                id: None,
                error: Some(error),
                ..
            } => Self::Unattributed {
                error: remote(error),
            },
            _ => return Err(DocStoreError::Protocol("a frame of no known shape".into())),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn requests_round_trip_through_frames() {
        let data = DocData::new(json!({"type": "offer", "sdp": "v=0"})).unwrap();
        let path = DocPath::parse("calls/abc").unwrap();
        let requests = [
            Request::Set {
                path: path.clone(),
                data: data.clone(),
            },
            Request::Update {
                path: path.clone(),
                data: data.clone(),
            },
            Request::Add {
                collection: path.collection("offerCandidates").unwrap(),
                data,
            },
            Request::Get { path: path.clone() },
            Request::Delete { path: path.clone() },
            Request::DeleteCollection {
                collection: path.parent(),
            },
            Request::List {
                collection: path.parent(),
            },
            Request::Listen {
                path: AnyPath::Doc(path),
            },
            Request::Unlisten { listener: 9 },
        ];
        for (id, request) in requests.into_iter().enumerate() {
            let id = id as u64;
            assert_eq!(
                Request::parse(&request.to_frame(id)).unwrap(),
                (id, request)
            );
        }
    }

    #[test]
    fn bad_frames_get_codes_and_ids_where_readable() {
        let code = |text: &str| {
            let bad = Request::parse(text).unwrap_err();
            (bad.id, bad.error.code())
        };
        assert_eq!(code("{"), (None, ErrorCode::MalformedFrame));
        assert_eq!(code("[1]"), (None, ErrorCode::MalformedFrame));
        assert_eq!(
            code(r#"{"id":-1,"op":"get"}"#),
            (None, ErrorCode::MalformedFrame)
        );
        assert_eq!(code(r#"{"id":1}"#), (Some(1), ErrorCode::MalformedFrame));
        assert_eq!(
            code(r#"{"id":2,"op":"drop"}"#),
            (Some(2), ErrorCode::UnknownOp)
        );
        assert_eq!(
            code(r#"{"id":3,"op":"get","path":"calls"}"#),
            (Some(3), ErrorCode::InvalidPath)
        );
        assert_eq!(
            code(r#"{"id":4,"op":"set","path":"a/b","data":1}"#),
            (Some(4), ErrorCode::InvalidData)
        );
        assert_eq!(
            code(r#"{"id":5,"op":"set","path":"a/b"}"#),
            (Some(5), ErrorCode::MalformedFrame)
        );
        let big = format!(
            r#"{{"id":6,"op":"set","path":"a/b","data":{{"s":"{}"}}}}"#,
            "x".repeat(MAX_FRAME_BYTES)
        );
        assert_eq!(code(&big), (Some(6), ErrorCode::FrameTooLarge));
    }
}
