//! The worked example of peer mode over Firestore (docs/peer-mode.md): one call's signaling as
//! the Firebase WebRTC codelab lays it out, so a plain WebRTC page or an unchanged Android app
//! on the other side needs nothing new.
//!
//! - `calls/{id}`: field `offer` holds the caller's latest description and field `answer` the
//!   callee's, each `{type, sdp}` as `RTCSessionDescription.toJSON()` gives it (an ICE restart
//!   writes a new value into the same field; its `type` says offer or answer);
//! - `calls/{id}/offerCandidates` and `calls/{id}/answerCandidates`: one document per trickled
//!   candidate of the caller and of the callee, `candidate.toJSON()` as it is
//!   (`candidate`, `sdpMid`, `sdpMLineIndex`, `usernameFragment`);
//! - field `hangup`, `{by: "caller"|"callee", reason?}`, ends the call (written with update).
//!
//! [`CallChannel`] maps [`PeerSignal`]s onto those documents and back: [`CallChannel::send`]
//! writes what the engine hands out; [`CallChannel::listen`] turns the other side's writes
//! into messages for the engine, each exactly once (a description is passed on when its field
//! changes; a candidate when its document is added). Nothing is rewritten on the way: the SDP
//! and candidate text are what the other side's `RTCPeerConnection` produced.

use std::fmt;

use ringwire_proto::{decode_peer_signal, CallId, EndReason, PeerSignal};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::{ChangeKind, DocClient, DocStoreError};

/// Which end of the call this side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Made the offer; writes `offer` and `offerCandidates`.
    Caller,
    /// Answers; writes `answer` and `answerCandidates`.
    Callee,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Caller => "caller",
            Side::Callee => "callee",
        }
    }

    fn description_field(self) -> &'static str {
        match self {
            Side::Caller => "offer",
            Side::Callee => "answer",
        }
    }

    fn candidates(self) -> &'static str {
        match self {
            Side::Caller => "offerCandidates",
            Side::Callee => "answerCandidates",
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Caller => Side::Callee,
            Side::Callee => Side::Caller,
        }
    }
}

/// The engine's call id for a call document: [`CallId::from_channel_id`] of the document id
/// (FNV-1a, 128 bits), so both sides derive the same id from the document they share.
pub fn call_id_for(doc_id: &str) -> CallId {
    CallId::from_channel_id(doc_id)
}

/// One call's signaling in the store, seen from one side.
pub struct CallChannel {
    client: DocClient,
    doc_id: String,
    side: Side,
    /// Whether the call document was created yet (by this caller's first offer).
    created: tokio::sync::Mutex<bool>,
}

impl fmt::Debug for CallChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallChannel")
            .field("doc_id", &self.doc_id)
            .field("side", &self.side)
            .finish()
    }
}

/// The other side's messages, as they arrive; dropping it stops listening.
#[derive(Debug)]
pub struct Incoming {
    messages: mpsc::UnboundedReceiver<Result<PeerSignal, DocStoreError>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Incoming {
    /// The next message; `None` once both listeners ended. A message the other side wrote in
    /// a shape that is not a peer message comes as an error, and listening goes on.
    pub async fn next(&mut self) -> Option<Result<PeerSignal, DocStoreError>> {
        self.messages.recv().await
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl CallChannel {
    /// The channel of the call document `calls/{doc_id}`, for `side`.
    pub fn new(client: DocClient, doc_id: &str, side: Side) -> CallChannel {
        CallChannel {
            client,
            doc_id: doc_id.to_owned(),
            side,
            created: tokio::sync::Mutex::new(side == Side::Callee),
        }
    }

    /// The engine's id for this call ([`call_id_for`]).
    pub fn call_id(&self) -> CallId {
        call_id_for(&self.doc_id)
    }

    fn call_path(&self) -> String {
        format!("calls/{}", self.doc_id)
    }

    /// Writes one message of the engine for the other side.
    pub async fn send(&self, signal: &PeerSignal) -> Result<(), DocStoreError> {
        match signal {
            PeerSignal::Offer { sdp } | PeerSignal::Answer { sdp } => {
                let value = json!({"type": signal.type_name(), "sdp": sdp.as_str()});
                let mut fields = Map::new();
                fields.insert(self.side.description_field().to_owned(), value);
                let mut created = self.created.lock().await;
                if *created {
                    self.client
                        .update(&self.call_path(), Value::Object(fields))
                        .await?;
                } else {
                    self.client
                        .set(&self.call_path(), Value::Object(fields))
                        .await?;
                    *created = true;
                }
            }
            PeerSignal::Candidate(c) if !c.candidate.is_empty() => {
                // The browser's own field names, so `new RTCIceCandidate(doc.data())` works.
                let mut doc = Map::new();
                doc.insert("candidate".into(), c.candidate.clone().into());
                doc.insert("sdpMid".into(), c.sdp_mid.clone().into());
                doc.insert("sdpMLineIndex".into(), c.sdp_m_line_index.into());
                if let Some(ufrag) = &c.username_fragment {
                    doc.insert("usernameFragment".into(), ufrag.clone().into());
                }
                let collection = format!("{}/{}", self.call_path(), self.side.candidates());
                self.client.add(&collection, Value::Object(doc)).await?;
            }
            // Firestore apps have no use for it: the other side stops when the call does.
            PeerSignal::Candidate(_) | PeerSignal::EndOfCandidates => {}
            PeerSignal::Bye { reason } => {
                let mut hangup = Map::new();
                hangup.insert("by".into(), self.side.name().into());
                if let Some(reason) = reason {
                    hangup.insert("reason".into(), json!(reason));
                }
                let update = self
                    .client
                    .update(&self.call_path(), json!({ "hangup": hangup }))
                    .await;
                match update {
                    // A caller that gives up before its offer was written: nothing to end.
                    Err(DocStoreError::Remote {
                        code: crate::ErrorCode::NotFound,
                        ..
                    }) => {}
                    other => {
                        other?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Listens to the other side's writes: its description field and hangup on the call
    /// document, and its candidates.
    pub async fn listen(&self) -> Result<Incoming, DocStoreError> {
        let (tx, messages) = mpsc::unbounded_channel();
        let mut doc = self.client.listen_doc(&self.call_path()).await?;
        let other = self.side.other();
        let collection = format!("{}/{}", self.call_path(), other.candidates());
        let mut candidates = self.client.listen_collection(&collection).await?;
        let doc_tx = tx.clone();
        let doc_task = tokio::spawn(async move {
            let mut last_description: Option<Value> = None;
            let mut ended = false;
            let mut existed = false;
            loop {
                let snapshot = match doc.next().await {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = doc_tx.send(Err(e));
                        return;
                    }
                };
                let Some(fields) = snapshot.data() else {
                    if existed && !ended {
                        // The call document was deleted under us: the call is over.
                        ended = true;
                        let _ = doc_tx.send(Ok(PeerSignal::Bye { reason: None }));
                    }
                    continue;
                };
                existed = true;
                if let Some(description) = fields.get(other.description_field()) {
                    if last_description.as_ref() != Some(description) {
                        last_description = Some(description.clone());
                        let _ = doc_tx.send(description_signal(description));
                    }
                }
                if let Some(hangup) = fields.get("hangup") {
                    if !ended && hangup.get("by").and_then(Value::as_str) == Some(other.name()) {
                        ended = true;
                        let reason = hangup
                            .get("reason")
                            .and_then(|r| serde_json::from_value::<EndReason>(r.clone()).ok());
                        let _ = doc_tx.send(Ok(PeerSignal::Bye { reason }));
                    }
                }
            }
        });
        let candidate_task = tokio::spawn(async move {
            loop {
                let changes = match candidates.next().await {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                for change in changes {
                    if change.kind != ChangeKind::Added {
                        continue;
                    }
                    let mut fields = change.doc.data.clone();
                    fields.insert("type".into(), "candidate".into());
                    let signal =
                        decode_peer_signal(&Value::Object(fields).to_string()).map_err(|e| {
                            DocStoreError::InvalidData(format!("candidate document: {e}"))
                        });
                    let _ = tx.send(signal);
                }
            }
        });
        Ok(Incoming {
            messages,
            tasks: vec![doc_task, candidate_task],
        })
    }

    /// Deletes the call's documents: the candidates of both sides, then the call document.
    /// The caller does this once the call is over (docs/peer-mode.md).
    pub async fn delete_call(&self) -> Result<(), DocStoreError> {
        for side in [Side::Caller, Side::Callee] {
            let collection = format!("{}/{}", self.call_path(), side.candidates());
            self.client.delete_collection(&collection).await?;
        }
        self.client.delete(&self.call_path()).await?;
        debug!(doc = %self.doc_id, "call documents deleted");
        Ok(())
    }
}

/// An `{type, sdp}` field as the peer message it is.
fn description_signal(value: &Value) -> Result<PeerSignal, DocStoreError> {
    let kind = value.get("type").and_then(Value::as_str);
    if !matches!(kind, Some("offer" | "answer")) {
        return Err(DocStoreError::InvalidData(
            "a description field must be {type: \"offer\"|\"answer\", sdp}".into(),
        ));
    }
    decode_peer_signal(&value.to_string())
        .map_err(|e| DocStoreError::InvalidData(format!("description: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_are_stable_and_distinct() {
        assert_eq!(call_id_for("abc"), call_id_for("abc"));
        assert_ne!(call_id_for("abc"), call_id_for("abd"));
        assert_eq!(
            call_id_for("").to_string(),
            "6c62272e07bb014262b821756295c58d"
        );
    }
}
