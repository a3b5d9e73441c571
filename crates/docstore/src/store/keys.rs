//! Where everything lives in Redis: every key of a store is `<prefix>:<kind>:<path>`, so one
//! prefix isolates one store (a test, a demo) and `<prefix>:*` finds all of it.
//!
//! - `<p>:doc:<document path>`: hash of each top-level field (its name as a JSON string, with
//!   the quotes, to its value as JSON text) and `ctime`, `utime`;
//! - `<p>:index:<collection path>`: sorted set of document ids, scored by create time, which
//!   gives creation order;
//! - `<p>:dlog:<document path>`, `<p>:clog:<collection path>`: the change logs (streams) that
//!   listeners read, capped by `MAXLEN ~`;
//! - `<p>:logn`: hash of each log's last change number;
//! - `<p>:seq`: the write counter that create and update times come from.

use crate::error::DocStoreError;
use crate::path::{CollectionPath, DocPath};

/// Longest key prefix.
pub const MAX_PREFIX_LEN: usize = 64;

/// The key names of one store.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    /// Checks the prefix: 1 to 64 of `[A-Za-z0-9_.-]`. No `:` (so no prefix is the start of
    /// another's keys) and no glob characters (so `<prefix>:*` matches only this store).
    pub(crate) fn new(prefix: &str) -> Result<Self, DocStoreError> {
        let valid = !prefix.is_empty()
            && prefix.len() <= MAX_PREFIX_LEN
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(DocStoreError::InvalidPrefix(
                prefix.chars().take(100).collect(),
            ));
        }
        Ok(Self {
            prefix: prefix.to_owned(),
        })
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn doc(&self, path: &DocPath) -> String {
        format!("{}:doc:{path}", self.prefix)
    }

    /// The start of the keys of a collection's documents (append an id).
    pub(crate) fn docs_of(&self, collection: &CollectionPath) -> String {
        format!("{}:doc:{collection}/", self.prefix)
    }

    pub(crate) fn index(&self, collection: &CollectionPath) -> String {
        format!("{}:index:{collection}", self.prefix)
    }

    pub(crate) fn doc_log(&self, path: &DocPath) -> String {
        format!("{}:dlog:{path}", self.prefix)
    }

    /// The start of the log keys of a collection's documents (append an id).
    pub(crate) fn doc_logs_of(&self, collection: &CollectionPath) -> String {
        format!("{}:dlog:{collection}/", self.prefix)
    }

    pub(crate) fn collection_log(&self, collection: &CollectionPath) -> String {
        format!("{}:clog:{collection}", self.prefix)
    }

    pub(crate) fn log_counters(&self) -> String {
        format!("{}:logn", self.prefix)
    }

    pub(crate) fn write_counter(&self) -> String {
        format!("{}:seq", self.prefix)
    }

    /// A `SCAN MATCH` pattern for every key of the store.
    pub(crate) fn all(&self) -> String {
        format!("{}:*", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn prefixes_cannot_overlap_or_glob() {
        assert!(Keys::new("test-1.a_b").is_ok());
        for bad in ["", "a:b", "a*", "a?", "a[b]", "a b", &"a".repeat(65)] {
            assert!(Keys::new(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
