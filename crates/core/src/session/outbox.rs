//! What happens to an outgoing message depends on its kind and on whether the connection is up.
//! Call-control messages sent while disconnected wait in a bounded queue (oldest dropped first)
//! and go out right after the next `welcome`; relays and pings are refused instead, because a
//! stale SDP or candidate is worse than none (the call core redoes them with an ICE restart).

use std::collections::VecDeque;

use ringwire_proto::ClientMessage;

/// How many call-control messages wait while disconnected.
pub const OUTBOX_CAPACITY: usize = 64;

/// How an outgoing message is treated while disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `invite`, `ringing`, `accept`, `decline`, `busy`, `cancel`, `hangup`: queued.
    CallControl,
    /// `offer`, `answer`, `candidate`, `ping`: refused while disconnected.
    Ephemeral,
    /// `hello`: only the session sends it, on every (re)connect.
    Hello,
}

pub fn kind(message: &ClientMessage) -> Kind {
    if message.is_call_action() {
        Kind::CallControl
    } else if matches!(message, ClientMessage::Hello { .. }) {
        Kind::Hello
    } else {
        // Relays, ping, and any type a later protocol version adds: not worth replaying.
        Kind::Ephemeral
    }
}

/// Messages waiting for the socket. While connected it is the writer's queue (unbounded: the
/// writer drains it at once); while disconnected it holds only call-control messages, at most
/// [`OUTBOX_CAPACITY`].
#[derive(Debug, Default)]
pub struct Outbox {
    queue: VecDeque<ClientMessage>,
}

impl Outbox {
    /// Queues a message for the live connection.
    pub fn push(&mut self, message: ClientMessage) {
        self.queue.push_back(message);
    }

    /// Queues a call-control message while disconnected; returns the oldest message if it had
    /// to make room.
    pub fn push_offline(&mut self, message: ClientMessage) -> Option<ClientMessage> {
        let dropped = if self.queue.len() >= OUTBOX_CAPACITY {
            self.queue.pop_front()
        } else {
            None
        };
        self.queue.push_back(message);
        dropped
    }

    /// The connection went down with messages still unwritten: keep the call-control ones
    /// (the newest [`OUTBOX_CAPACITY`]) and return what was dropped.
    pub fn keep_for_offline(&mut self) -> Vec<ClientMessage> {
        let mut dropped = Vec::new();
        let mut kept = VecDeque::with_capacity(self.queue.len());
        for message in self.queue.drain(..) {
            if kind(&message) == Kind::CallControl {
                kept.push_back(message);
            } else {
                dropped.push(message);
            }
        }
        while kept.len() > OUTBOX_CAPACITY {
            dropped.extend(kept.pop_front());
        }
        self.queue = kept;
        dropped
    }

    /// Puts `messages` (oldest first) before everything queued.
    pub fn push_front_all(&mut self, messages: Vec<ClientMessage>) {
        for message in messages.into_iter().rev() {
            self.queue.push_front(message);
        }
    }

    /// Everything queued, oldest first.
    pub fn take(&mut self) -> VecDeque<ClientMessage> {
        std::mem::take(&mut self.queue)
    }

    /// Drops everything (the client stopped).
    pub fn clear(&mut self) -> usize {
        let n = self.queue.len();
        self.queue.clear();
        n
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringwire_proto::{CallId, DeviceId, Sdp};

    fn hangup(n: u8) -> ClientMessage {
        ClientMessage::hangup(CallId::from_bytes([n; 16]))
    }

    fn offer() -> ClientMessage {
        ClientMessage::Offer {
            call_id: CallId::from_bytes([1; 16]),
            to_device: DeviceId::from_bytes([2; 16]),
            sdp: Sdp::try_from("v=0\r\n".to_owned()).expect("valid sdp"),
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(kind(&hangup(1)), Kind::CallControl);
        let id = CallId::from_bytes([1; 16]);
        for m in [
            ClientMessage::Ringing { call_id: id },
            ClientMessage::Accept { call_id: id },
            ClientMessage::Decline { call_id: id },
            ClientMessage::Busy { call_id: id },
            ClientMessage::Cancel { call_id: id },
            ClientMessage::Invite(ringwire_proto::Invite {
                call_id: id,
                to_user: "bob".parse().expect("name"),
            }),
        ] {
            assert_eq!(kind(&m), Kind::CallControl, "{m:?}");
        }
        assert_eq!(kind(&offer()), Kind::Ephemeral);
        assert_eq!(kind(&ClientMessage::Ping { nonce: 1 }), Kind::Ephemeral);
        let hello = ClientMessage::Hello {
            versions: vec![1],
            client: None,
            calls: vec![],
        };
        assert_eq!(kind(&hello), Kind::Hello);
    }

    #[test]
    fn offline_queue_drops_the_oldest_when_full() {
        let mut outbox = Outbox::default();
        for n in 0..OUTBOX_CAPACITY as u8 {
            assert_eq!(outbox.push_offline(hangup(n)), None);
        }
        assert_eq!(outbox.push_offline(hangup(200)), Some(hangup(0)));
        let all = outbox.take();
        assert_eq!(all.len(), OUTBOX_CAPACITY);
        assert_eq!(all.front(), Some(&hangup(1)));
        assert_eq!(all.back(), Some(&hangup(200)));
    }

    #[test]
    fn going_offline_keeps_call_control_in_order_and_drops_relays() {
        let mut outbox = Outbox::default();
        outbox.push(hangup(1));
        outbox.push(offer());
        outbox.push(ClientMessage::Ping { nonce: 3 });
        outbox.push(hangup(2));
        outbox.push_front_all(vec![hangup(7), hangup(8)]);
        let dropped = outbox.keep_for_offline();
        assert_eq!(dropped, vec![offer(), ClientMessage::Ping { nonce: 3 }]);
        assert_eq!(
            Vec::from(outbox.take()),
            vec![hangup(7), hangup(8), hangup(1), hangup(2)]
        );
    }

    #[test]
    fn going_offline_trims_to_capacity_keeping_the_newest() {
        let mut outbox = Outbox::default();
        for n in 0..(OUTBOX_CAPACITY as u8 + 3) {
            outbox.push(hangup(n));
        }
        let dropped = outbox.keep_for_offline();
        assert_eq!(dropped, vec![hangup(0), hangup(1), hangup(2)]);
        assert_eq!(outbox.len(), OUTBOX_CAPACITY);
        assert_eq!(outbox.clear(), OUTBOX_CAPACITY);
    }
}
