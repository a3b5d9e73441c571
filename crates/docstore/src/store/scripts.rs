//! The Lua scripts that make each write and each listener's first read atomic, and the reading
//! of their replies. Scripts run whole or not at all in Redis, which is what lets a write and its
//! change-log entries never be seen apart.

use std::sync::LazyLock;

use redis::{Script, Value};

use crate::doc::Document;
use crate::error::DocStoreError;
use crate::path::DocPath;

/// See `lua/write.lua`.
pub(crate) static WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/common.lua"),
        include_str!("lua/write.lua")
    ))
});

/// See `lua/delete_collection.lua`.
pub(crate) static DELETE_COLLECTION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/common.lua"),
        include_str!("lua/delete_collection.lua")
    ))
});

/// See `lua/snapshot_doc.lua`.
pub(crate) static SNAPSHOT_DOC: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/common.lua"),
        include_str!("lua/snapshot_doc.lua")
    ))
});

/// See `lua/snapshot_collection.lua`.
pub(crate) static SNAPSHOT_COLLECTION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(concat!(
        include_str!("lua/common.lua"),
        include_str!("lua/snapshot_collection.lua")
    ))
});

/// A script reply that should be an array.
pub(crate) fn array(value: Value) -> Result<Vec<Value>, DocStoreError> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(DocStoreError::Corrupt(format!(
            "a script replied {other:?}, not an array"
        ))),
    }
}

/// A reply item as text; `None` for nil (Lua's `false`).
pub(crate) fn text(value: &Value) -> Result<Option<String>, DocStoreError> {
    match value {
        Value::Nil => Ok(None),
        Value::Int(n) => Ok(Some(n.to_string())),
        Value::SimpleString(s) => Ok(Some(s.clone())),
        Value::BulkString(bytes) => String::from_utf8(bytes.clone())
            .map(Some)
            .map_err(|_| DocStoreError::Corrupt("a value that is not UTF-8".into())),
        other => Err(DocStoreError::Corrupt(format!(
            "{other:?} where text was due"
        ))),
    }
}

/// A reply item that must be present.
pub(crate) fn required(value: Option<&Value>, what: &str) -> Result<String, DocStoreError> {
    value
        .map(text)
        .transpose()?
        .flatten()
        .ok_or_else(|| DocStoreError::Corrupt(format!("{what} is missing")))
}

/// A counter value.
pub(crate) fn number(text: &str, what: &str) -> Result<u64, DocStoreError> {
    text.parse()
        .map_err(|_| DocStoreError::Corrupt(format!("{what} {text:?} is not a counter value")))
}

/// A document from its stored parts.
pub(crate) fn document(
    path: DocPath,
    data: &str,
    ctime: &str,
    utime: &str,
) -> Result<Document, DocStoreError> {
    let data = match serde_json::from_str(data) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => {
            return Err(DocStoreError::Corrupt(format!(
                "{path} holds data that is not a JSON object"
            )))
        }
    };
    Ok(Document {
        create_time: number(ctime, "create time")?,
        update_time: number(utime, "update time")?,
        path,
        data,
    })
}
