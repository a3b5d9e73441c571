//! What nodes say to each other over NATS, and on which subjects. Every message is JSON (the
//! protocol's own messages ride inside unchanged), so a capture with `nats sub` reads like the
//! WebSocket traffic it carries.
//!
//! Subjects, under the cluster's prefix `P`:
//! - `P.router`: inputs for the router, from every node's port to the leader;
//! - `P.ack.<node>`: the leader's acknowledgement of each input, back to the node that sent it;
//! - `P.node.<node>`: frames for connections held by `<node>`, from the leader;
//! - `P.leader`: the leader announcing itself after it has taken over the calls.

use ringwire_proto::{CallId, ClientMessage, DeviceId, DisplayName, ErrorMessage, Invite};
use ringwire_proto::{ServerMessage, UserName};
use serde::{Deserialize, Serialize};

/// A node's connection id, as the node numbers them (the leader maps it to its own).
pub type LocalConn = u64;

/// One router input from a node, numbered so the leader can acknowledge it and drop repeats.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub node: String,
    /// When the node's process started (UNIX ms): a node restarted under the same name has a
    /// new one, and the leader forgets the old process's connections.
    pub incarnation: u64,
    /// The node's numbering: a node starts a new one (from 1) for each new leader.
    pub session: u64,
    /// Increases by one per input within a session; a resend keeps its number.
    pub seq: u64,
    pub input: NodeInput,
}

/// What a node reports to the leader.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeInput {
    /// A device finished `hello` here (also re-sent for every held device after a takeover).
    Connected {
        conn: LocalConn,
        device: DeviceId,
        user: UserName,
        display_name: Option<DisplayName>,
        known_calls: Vec<CallId>,
    },
    Disconnected {
        conn: LocalConn,
        device: DeviceId,
    },
    /// Take an invite token for `from` before the callee lookup; the ack says whether to go on.
    Admit {
        from: DeviceId,
        call_id: CallId,
    },
    Invite {
        from: DeviceId,
        invite: Invite,
        callee_devices: Option<Vec<DeviceId>>,
    },
    Message {
        from: DeviceId,
        msg: ClientMessage,
    },
    /// The router's counts, in the ack.
    Stats,
}

/// The leader's answer to one input.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ack {
    pub session: u64,
    /// Every input of the session up to this one is taken (cumulative).
    pub seq: u64,
    /// The leader's epoch: a node that sees a new one re-announces its devices.
    pub epoch: u64,
    /// For `Admit`: whether the invite may go on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admitted: Option<bool>,
    /// For `Stats`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<ringwire_router::RouterStats>,
}

/// A frame for one connection a node holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeFrame {
    Deliver {
        conn: LocalConn,
        device: DeviceId,
        msg: ServerMessage,
    },
    /// Send `error`, then close with `code`.
    Close {
        conn: LocalConn,
        device: DeviceId,
        error: ErrorMessage,
        code: u16,
    },
}

/// The leader's announcement.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LeaderAnnounce {
    pub node: String,
    pub epoch: u64,
}

/// The subjects of one cluster.
#[derive(Clone, Debug)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    pub fn new(prefix: &str) -> Subjects {
        Subjects {
            prefix: prefix.to_owned(),
        }
    }
    pub fn router(&self) -> String {
        format!("{}.router", self.prefix)
    }
    pub fn ack(&self, node: &str) -> String {
        format!("{}.ack.{node}", self.prefix)
    }
    pub fn node(&self, node: &str) -> String {
        format!("{}.node.{node}", self.prefix)
    }
    pub fn leader(&self) -> String {
        format!("{}.leader", self.prefix)
    }
    /// The JetStream key-value bucket of node leases (bucket names allow no dots).
    pub fn lease_bucket(&self) -> String {
        format!("{}_nodes", self.prefix.replace(['.', '*', '>'], "_"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_round_trip_with_protocol_messages_inside() {
        let text = r#"{"node":"n1","incarnation":5,"session":1,"seq":7,"input":{"kind":"message","from":"0123456789abcdef0123456789abcdef","msg":{"type":"accept","call_id":"00000000000000000000000000000001"}}}"#;
        let env: Envelope = serde_json::from_str(text).expect("parses");
        assert_eq!(env.seq, 7);
        let again: Envelope =
            serde_json::from_str(&serde_json::to_string(&env).expect("encodes")).expect("parses");
        assert!(matches!(
            again.input,
            NodeInput::Message {
                msg: ClientMessage::Accept { .. },
                ..
            }
        ));
    }

    #[test]
    fn bucket_names_have_no_dots() {
        assert_eq!(Subjects::new("rw.t1").lease_bucket(), "rw_t1_nodes");
    }
}
