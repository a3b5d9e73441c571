//! Documents as the store and its listeners hand them out: checked document data
//! ([`DocData`]), a stored [`Document`], a document listener's [`DocSnapshot`] and a collection
//! listener's [`DocChange`], with their JSON shapes on the wire.
//!
//! Times are not clocks: `create_time` and `update_time` are values of one server-wide counter
//! that every write increments, so they order writes across all documents of a prefix.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::DocStoreError;
use crate::path::DocPath;

/// A document's fields: a JSON object.
pub type Fields = Map<String, Value>;

/// Largest document data, serialized as compact JSON: 64 KiB, room for a 60 KiB SDP.
pub const MAX_DATA_BYTES: usize = 64 * 1024;

/// Document data that passed the rules: a JSON object of at most [`MAX_DATA_BYTES`] serialized.
#[derive(Debug, Clone, PartialEq)]
pub struct DocData {
    fields: Fields,
    /// Each field as (name as a JSON string, value as JSON text): how the store keeps it.
    encoded: Vec<(String, String)>,
    size: usize,
}

impl DocData {
    /// Checks `value` is a JSON object within the size limit.
    pub fn new(value: Value) -> Result<Self, DocStoreError> {
        match value {
            Value::Object(fields) => Self::from_fields(fields),
            other => Err(DocStoreError::InvalidData(format!(
                "got {}, not an object",
                kind_of(&other)
            ))),
        }
    }

    /// Checks `fields` are within the size limit.
    pub fn from_fields(fields: Fields) -> Result<Self, DocStoreError> {
        let encode = |text: serde_json::Result<String>| {
            text.map_err(|e| DocStoreError::InvalidData(e.to_string()))
        };
        let encoded = fields
            .iter()
            .map(|(name, value)| {
                Ok((
                    encode(serde_json::to_string(name))?,
                    encode(serde_json::to_string(value))?,
                ))
            })
            .collect::<Result<Vec<_>, DocStoreError>>()?;
        let size = serialized_size(
            encoded
                .iter()
                .map(|(name, value)| (name.len(), value.len())),
        );
        if size > MAX_DATA_BYTES {
            return Err(DocStoreError::DataTooLarge { size });
        }
        Ok(Self {
            fields,
            encoded,
            size,
        })
    }

    /// The fields.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// The fields, owned.
    pub fn into_fields(self) -> Fields {
        self.fields
    }

    /// The size of the data as compact JSON, in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Each field as (name as a JSON string, value as JSON text).
    pub(crate) fn encoded(&self) -> &[(String, String)] {
        &self.encoded
    }
}

/// The length of compact JSON `{name:value,...}` from the lengths of each encoded name and
/// value. The store's update script counts the same way (`store/lua/write.lua`).
fn serialized_size(fields: impl Iterator<Item = (usize, usize)>) -> usize {
    let (mut size, mut count) = (2, 0);
    for (name, value) in fields {
        size += name + 1 + value;
        count += 1;
    }
    size + count.max(1) - 1
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A document that exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "WireDoc", try_from = "WireDoc")]
pub struct Document {
    /// Where it is.
    pub path: DocPath,
    /// Its fields.
    pub data: Fields,
    /// The write that created it.
    pub create_time: u64,
    /// The last write that changed it.
    pub update_time: u64,
}

impl Document {
    /// The document's id: the last segment of its path.
    pub fn id(&self) -> &str {
        self.path.id()
    }
}

/// What a document listener delivers: the document as of one write, or its absence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "WireDoc", try_from = "WireDoc")]
pub struct DocSnapshot {
    /// The document's path.
    pub path: DocPath,
    /// The document, or `None` if it does not exist (never created, or deleted).
    pub doc: Option<Document>,
}

impl DocSnapshot {
    /// Whether the document exists.
    pub fn exists(&self) -> bool {
        self.doc.is_some()
    }

    /// The document's fields, if it exists.
    pub fn data(&self) -> Option<&Fields> {
        self.doc.as_ref().map(|doc| &doc.data)
    }
}

/// How a collection changed, as Firestore's `DocumentChange.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// A document was created.
    Added,
    /// An existing document was replaced or updated.
    Modified,
    /// A document was deleted.
    Removed,
}

impl ChangeKind {
    /// The name on the wire and in Redis.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Modified => "modified",
            Self::Removed => "removed",
        }
    }

    /// Parses the name on the wire and in Redis.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "added" => Some(Self::Added),
            "modified" => Some(Self::Modified),
            "removed" => Some(Self::Removed),
            _ => None,
        }
    }
}

/// One change to a collection. For `Removed`, `doc` is the document as it was last written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "WireChange", try_from = "WireChange")]
pub struct DocChange {
    /// What happened.
    pub kind: ChangeKind,
    /// The document after the change (before it, for a removal).
    pub doc: Document,
}

/// The one JSON shape of a document on the wire, for documents and snapshots alike:
/// `{"path", "id", "exists", "data", "create_time", "update_time"}` (`data` and the times are
/// null when the document does not exist).
#[derive(Serialize, Deserialize)]
struct WireDoc {
    path: DocPath,
    id: String,
    exists: bool,
    data: Option<Fields>,
    create_time: Option<u64>,
    update_time: Option<u64>,
}

/// A change on the wire: `{"type", "id", "path", "data", "create_time", "update_time"}`.
#[derive(Serialize, Deserialize)]
struct WireChange {
    #[serde(rename = "type")]
    kind: ChangeKind,
    id: String,
    path: DocPath,
    data: Fields,
    create_time: u64,
    update_time: u64,
}

impl From<Document> for WireDoc {
    fn from(doc: Document) -> Self {
        Self {
            id: doc.id().to_owned(),
            path: doc.path,
            exists: true,
            data: Some(doc.data),
            create_time: Some(doc.create_time),
            update_time: Some(doc.update_time),
        }
    }
}

impl From<DocSnapshot> for WireDoc {
    fn from(snapshot: DocSnapshot) -> Self {
        match snapshot.doc {
            Some(doc) => doc.into(),
            None => Self {
                id: snapshot.path.id().to_owned(),
                path: snapshot.path,
                exists: false,
                data: None,
                create_time: None,
                update_time: None,
            },
        }
    }
}

impl TryFrom<WireDoc> for DocSnapshot {
    type Error = DocStoreError;
    fn try_from(wire: WireDoc) -> Result<Self, DocStoreError> {
        let doc = match (wire.exists, wire.data, wire.create_time, wire.update_time) {
            (false, _, _, _) => None,
            (true, Some(data), Some(create_time), Some(update_time)) => Some(Document {
                path: wire.path.clone(),
                data,
                create_time,
                update_time,
            }),
            (true, _, _, _) => {
                return Err(DocStoreError::Protocol(
                    "an existing document without data or times".into(),
                ))
            }
        };
        Ok(Self {
            path: wire.path,
            doc,
        })
    }
}

impl TryFrom<WireDoc> for Document {
    type Error = DocStoreError;
    fn try_from(wire: WireDoc) -> Result<Self, DocStoreError> {
        DocSnapshot::try_from(wire)?
            .doc
            .ok_or_else(|| DocStoreError::Protocol("a missing document where one was due".into()))
    }
}

impl From<DocChange> for WireChange {
    fn from(change: DocChange) -> Self {
        Self {
            kind: change.kind,
            id: change.doc.id().to_owned(),
            path: change.doc.path,
            data: change.doc.data,
            create_time: change.doc.create_time,
            update_time: change.doc.update_time,
        }
    }
}

impl TryFrom<WireChange> for DocChange {
    type Error = DocStoreError;
    fn try_from(wire: WireChange) -> Result<Self, DocStoreError> {
        Ok(Self {
            kind: wire.kind,
            doc: Document {
                path: wire.path,
                data: wire.data,
                create_time: wire.create_time,
                update_time: wire.update_time,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    #[test]
    fn data_must_be_an_object_of_at_most_64_kib() {
        assert!(DocData::new(json!({"sdp": "v=0"})).is_ok());
        assert!(matches!(
            DocData::new(json!([1])),
            Err(DocStoreError::InvalidData(_))
        ));
        // {"s":"…"} is 8 bytes of overhead.
        let exact = json!({"s": "x".repeat(MAX_DATA_BYTES - 8)});
        assert_eq!(DocData::new(exact).unwrap().size(), MAX_DATA_BYTES);
        let over = json!({"s": "x".repeat(MAX_DATA_BYTES - 7)});
        assert!(matches!(
            DocData::new(over),
            Err(DocStoreError::DataTooLarge { size }) if size == MAX_DATA_BYTES + 1
        ));
    }

    #[test]
    fn the_size_is_that_of_compact_json() {
        for value in [
            json!({}),
            json!({"a": 1}),
            json!({"sdp": "v=0\r\n", "type": "offer", "n": [1, 2.5, null], "é\"": {"x": true}}),
        ] {
            let data = DocData::new(value.clone()).unwrap();
            assert_eq!(data.size(), value.to_string().len(), "{value}");
        }
    }

    #[test]
    fn snapshots_round_trip_through_the_wire_shape() {
        let path = DocPath::parse("calls/abc").unwrap();
        let missing = DocSnapshot {
            path: path.clone(),
            doc: None,
        };
        let text = serde_json::to_string(&missing).unwrap();
        assert_eq!(serde_json::from_str::<DocSnapshot>(&text).unwrap(), missing);
        let present = DocSnapshot {
            path: path.clone(),
            doc: Some(Document {
                path,
                data: json!({"a": 1}).as_object().unwrap().clone(),
                create_time: 3,
                update_time: 7,
            }),
        };
        let value = serde_json::to_value(&present).unwrap();
        assert_eq!(value["id"], "abc");
        assert_eq!(value["exists"], true);
        assert_eq!(
            serde_json::from_value::<DocSnapshot>(value).unwrap(),
            present
        );
    }
}
