//! Document and collection paths, parsed from untrusted text into types that cannot be invalid,
//! and Firestore-style random document ids.
//!
//! Firestore's data model: a path is slash-separated segments; an even number of segments names
//! a document (`calls/abc`, `calls/abc/offerCandidates/x1`), an odd number a collection (`calls`,
//! `calls/abc/offerCandidates`). Segments here are 1–128 bytes of `[A-Za-z0-9_-]` and a path has
//! at most 8 of them: stricter than Firestore, so that every path is also a safe Redis key
//! suffix and URL segment.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DocStoreError;

/// Most segments in one path.
pub const MAX_SEGMENTS: usize = 8;
/// Longest segment, in bytes.
pub const MAX_SEGMENT_BYTES: usize = 128;
/// Length of the ids `add` makes, as Firestore's.
pub const AUTO_ID_LEN: usize = 20;

/// The path of a document: an even number of valid segments.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DocPath(String);

/// The path of a collection: an odd number of valid segments.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CollectionPath(String);

/// A valid path of either kind: what `listen` takes, since Firestore listens to both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyPath {
    /// A document.
    Doc(DocPath),
    /// A collection.
    Collection(CollectionPath),
}

impl AnyPath {
    /// Parses a path; the number of segments says which kind it is.
    pub fn parse(path: &str) -> Result<Self, DocStoreError> {
        let segments = check_segments(path)?;
        Ok(if segments % 2 == 0 {
            Self::Doc(DocPath(path.to_owned()))
        } else {
            Self::Collection(CollectionPath(path.to_owned()))
        })
    }
}

impl DocPath {
    /// Parses a document path.
    pub fn parse(path: &str) -> Result<Self, DocStoreError> {
        match AnyPath::parse(path)? {
            AnyPath::Doc(doc) => Ok(doc),
            AnyPath::Collection(_) => Err(invalid(
                path,
                "this names a collection (odd number of segments) where a document is needed",
            )),
        }
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The document's id: its last segment.
    pub fn id(&self) -> &str {
        last_segment(&self.0)
    }

    /// The collection the document is in.
    pub fn parent(&self) -> CollectionPath {
        // Invariant: a document path has at least two segments, so it has a slash.
        let cut = self.0.rfind('/').unwrap_or(0);
        CollectionPath(self.0[..cut].to_owned())
    }

    /// A subcollection of this document.
    pub fn collection(&self, id: &str) -> Result<CollectionPath, DocStoreError> {
        CollectionPath::parse(&format!("{}/{id}", self.0))
    }
}

impl CollectionPath {
    /// Parses a collection path.
    pub fn parse(path: &str) -> Result<Self, DocStoreError> {
        match AnyPath::parse(path)? {
            AnyPath::Collection(collection) => Ok(collection),
            AnyPath::Doc(_) => Err(invalid(
                path,
                "this names a document (even number of segments) where a collection is needed",
            )),
        }
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The collection's id: its last segment.
    pub fn id(&self) -> &str {
        last_segment(&self.0)
    }

    /// The document this collection belongs to, or `None` for a root collection.
    pub fn parent(&self) -> Option<DocPath> {
        self.0
            .rfind('/')
            .map(|cut| DocPath(self.0[..cut].to_owned()))
    }

    /// The document `id` in this collection.
    pub fn doc(&self, id: &str) -> Result<DocPath, DocStoreError> {
        DocPath::parse(&format!("{}/{id}", self.0))
    }

    /// A new document in this collection with a random 20-character id, as `add` makes.
    pub fn new_doc(&self) -> Result<DocPath, DocStoreError> {
        self.doc(&auto_id()?)
    }
}

/// A random document id: 20 characters of `[A-Za-z0-9]`, as Firestore's client SDK makes.
pub fn auto_id() -> Result<String, DocStoreError> {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // Bytes at or above 248 (= 4 * 62) are redrawn so every character is equally likely.
    let mut id = String::with_capacity(AUTO_ID_LEN);
    let mut buf = [0u8; 32];
    while id.len() < AUTO_ID_LEN {
        getrandom::fill(&mut buf).map_err(DocStoreError::Random)?;
        for byte in buf.iter().filter(|b| **b < 248) {
            if id.len() < AUTO_ID_LEN {
                id.push(char::from(ALPHABET[usize::from(*byte) % 62]));
            }
        }
    }
    Ok(id)
}

/// Checks every segment and the segment count; returns the count.
fn check_segments(path: &str) -> Result<usize, DocStoreError> {
    if path.is_empty() {
        return Err(invalid(path, "the path is empty"));
    }
    let mut count = 0;
    for segment in path.split('/') {
        count += 1;
        if count > MAX_SEGMENTS {
            return Err(invalid(path, "more than 8 segments"));
        }
        if segment.is_empty() {
            return Err(invalid(
                path,
                "an empty segment (leading, trailing or double slash)",
            ));
        }
        if segment.len() > MAX_SEGMENT_BYTES {
            return Err(invalid(path, "a segment longer than 128 bytes"));
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(invalid(
                path,
                "a segment has a character outside A-Z a-z 0-9 _ -",
            ));
        }
    }
    Ok(count)
}

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn invalid(path: &str, reason: &'static str) -> DocStoreError {
    // Bound what goes back into an error message: the path is untrusted and may be huge.
    let shown: String = path.chars().take(200).collect();
    DocStoreError::InvalidPath {
        path: shown,
        reason,
    }
}

macro_rules! string_conversions {
    ($ty:ident) => {
        impl TryFrom<String> for $ty {
            type Error = DocStoreError;
            fn try_from(path: String) -> Result<Self, DocStoreError> {
                Self::parse(&path)
            }
        }

        impl From<$ty> for String {
            fn from(path: $ty) -> String {
                path.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($ty), self.0)
            }
        }
    };
}

string_conversions!(DocPath);
string_conversions!(CollectionPath);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parity_decides_the_kind() {
        assert!(matches!(
            AnyPath::parse("calls").unwrap(),
            AnyPath::Collection(_)
        ));
        assert!(matches!(
            AnyPath::parse("calls/abc").unwrap(),
            AnyPath::Doc(_)
        ));
        let doc = DocPath::parse("calls/abc/offerCandidates/x1").unwrap();
        assert_eq!(doc.id(), "x1");
        assert_eq!(doc.parent().as_str(), "calls/abc/offerCandidates");
        assert_eq!(doc.parent().parent().unwrap().as_str(), "calls/abc");
        assert_eq!(CollectionPath::parse("calls").unwrap().parent(), None);
    }

    #[test]
    fn bad_paths_are_refused() {
        let long = "a".repeat(129);
        let too_many = ["a"; 9].join("/");
        for bad in [
            "",
            "/calls",
            "calls/",
            "calls//x",
            "calls/a b",
            "calls/ä",
            "c/../d",
            &long,
            &too_many,
        ] {
            assert!(AnyPath::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(DocPath::parse("calls").is_err());
        assert!(CollectionPath::parse("calls/abc").is_err());
        assert!(AnyPath::parse(&"a".repeat(128)).is_ok());
        assert!(AnyPath::parse(&["a"; 8].join("/")).is_ok());
    }

    #[test]
    fn auto_ids_look_like_firestore_ids() {
        let a = auto_id().unwrap();
        let b = auto_id().unwrap();
        assert_eq!(a.len(), AUTO_ID_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
