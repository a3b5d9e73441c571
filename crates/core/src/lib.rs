//! ringwire's call engine, sans-IO (being written; see `peer` for the first layer).

pub mod peer;
