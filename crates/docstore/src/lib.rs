//! A stand-in for Cloud Firestore, for tests and demos of app-provided signaling (issue 18):
//! the same data model and listener semantics, backed by a real Redis. Not a production
//! database: no queries, transactions, security rules or offline cache.
//!
//! - [`path`]: documents and collections addressed by slash paths, Firestore's model;
//! - [`doc`]: document data (a JSON object of at most 64 KiB), snapshots and changes;
//! - [`store`]: the operations and listeners on Redis, each write one atomic script that also
//!   appends the change to the document's and the collection's change logs (Redis streams);
//! - [`protocol`]: the JSON frames of the WebSocket endpoint `/v1/docs`;
//! - [`server`]: the `ringwire-docstore` server: the endpoint, the browser client
//!   (`js/firestore-standin.js`, shaped like Firebase's modular SDK) and optional static pages;
//! - [`client`]: [`DocClient`], the Rust client;
//! - [`peer`]: peer mode's signaling over these documents, laid out as the Firebase WebRTC
//!   codelab does (`calls/{id}`, `offerCandidates`, `answerCandidates`): the worked example of
//!   docs/peer-mode.md.
//!
//! The listener guarantee, which the signaling built on top relies on: after its first snapshot,
//! a listener gets every change exactly once, in write order, or ends with an error
//! ([`DocStoreError::FellBehind`] if it lagged past what the change log keeps).

pub mod client;
pub mod doc;
pub mod error;
pub mod path;
pub mod peer;
pub mod protocol;
pub mod server;
pub mod store;

pub use client::{CollectionListener, DocClient, DocListener};
pub use doc::{ChangeKind, DocChange, DocData, DocSnapshot, Document, Fields, MAX_DATA_BYTES};
pub use error::{DocStoreError, ErrorCode};
pub use path::{AnyPath, CollectionPath, DocPath};
pub use server::{Server, ServerConfig};
pub use store::Store;
