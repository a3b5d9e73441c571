//! The call record as the router reports it: [`CallEvent`]s are emitted by the pure router and
//! applied in order by the store, which folds them into one [`CallRecord`] per call. Applying an
//! event twice changes nothing, so a replay after a crash cannot duplicate or corrupt a record.

use ringwire_proto::{CallId, DeviceId, EndReason, UserName};
use serde::Serialize;

/// How a callee device learned about a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// It was connected at invite time and got `incoming` at once.
    Socket,
    /// It was offline at invite time and got `incoming` when it connected while the call rang.
    Replay,
    /// It was offline at invite time and has not connected since (a push target).
    Offline,
    /// It was offline at invite time, was sent a VoIP push, and connected while the call rang.
    Push,
}

impl Reach {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Socket => "socket",
            Reach::Replay => "replay",
            Reach::Offline => "offline",
            Reach::Push => "push",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Reach> {
        [Reach::Socket, Reach::Replay, Reach::Offline, Reach::Push]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// What a push is for: part of the push payload's vocabulary, kept in the record too.
pub use ringwire_proto::PushKind;

/// How one push ended. Stored per device and call, and the `outcome` label of
/// `ringwire_push_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PushOutcome {
    /// The push service accepted it (APNs 200, FCM 200).
    Sent,
    /// The token is no longer valid (APNs 410 Unregistered, FCM 404 UNREGISTERED); deleted.
    Unregistered,
    /// The push service refused the token (APNs 400 BadDeviceToken / DeviceTokenNotForTopic);
    /// deleted.
    BadToken,
    /// Refused for another reason (other 4xx, FCM 400 INVALID_ARGUMENT, transport errors,
    /// a payload over the limit).
    Failed,
    /// The service kept asking to back off (429, 5xx) until the ring deadline passed.
    Expired,
    /// The device has a token for a push service this server is not configured for, or none is
    /// configured at all.
    PushUnavailable,
    /// The device never registered a token for this kind of push.
    NoToken,
}

impl PushOutcome {
    /// Every outcome, for exhaustive tests.
    pub const ALL: &'static [PushOutcome] = &[
        PushOutcome::Sent,
        PushOutcome::Unregistered,
        PushOutcome::BadToken,
        PushOutcome::Failed,
        PushOutcome::Expired,
        PushOutcome::PushUnavailable,
        PushOutcome::NoToken,
    ];

    /// The stored spelling (also the metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            PushOutcome::Sent => "sent",
            PushOutcome::Unregistered => "unregistered",
            PushOutcome::BadToken => "bad_token",
            PushOutcome::Failed => "failed",
            PushOutcome::Expired => "expired",
            PushOutcome::PushUnavailable => "push_unavailable",
            PushOutcome::NoToken => "no_token",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<PushOutcome> {
        PushOutcome::ALL.iter().copied().find(|o| o.as_str() == s)
    }
}

/// A fact about a call, in the order the router decided it. Times are UNIX milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallEvent {
    /// The invite was accepted by the router.
    Started {
        call_id: CallId,
        caller_user: UserName,
        caller_device: DeviceId,
        callee_user: UserName,
        invited_at_ms: u64,
        ring_deadline_ms: u64,
    },
    /// A callee device was targeted (`Offline`) or sent `incoming` (`Socket`, `Replay`).
    /// A later event for the same device updates how it was reached.
    DeviceReached {
        call_id: CallId,
        device_id: DeviceId,
        via: Reach,
        at_ms: u64,
    },
    /// A callee device said `ringing`. The first one sets the call's first-ring time.
    DeviceRang {
        call_id: CallId,
        device_id: DeviceId,
        at_ms: u64,
    },
    /// The call was accepted on `device_id` (first accept wins; there is at most one).
    Accepted {
        call_id: CallId,
        device_id: DeviceId,
        at_ms: u64,
    },
    /// The call ended. Only the first `Ended` for a call is stored.
    Ended {
        call_id: CallId,
        reason: EndReason,
        by_device: Option<DeviceId>,
        at_ms: u64,
    },
    /// A push to a callee device finished (the driver reported the result). The last outcome
    /// of each kind is kept.
    Pushed {
        call_id: CallId,
        device_id: DeviceId,
        kind: PushKind,
        outcome: PushOutcome,
        at_ms: u64,
    },
}

impl CallEvent {
    /// The call this event belongs to.
    pub fn call_id(&self) -> CallId {
        match self {
            CallEvent::Started { call_id, .. }
            | CallEvent::DeviceReached { call_id, .. }
            | CallEvent::DeviceRang { call_id, .. }
            | CallEvent::Accepted { call_id, .. }
            | CallEvent::Ended { call_id, .. }
            | CallEvent::Pushed { call_id, .. } => *call_id,
        }
    }
}

/// Where a call stands, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Invited, nobody accepted yet.
    Ringing,
    /// Accepted, not ended.
    Active,
    /// Over; `end_reason` says why.
    Ended,
}

/// One callee device's part in a call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallDeviceRecord {
    pub device_id: DeviceId,
    pub reached_via: Reach,
    pub reached_at_ms: u64,
    pub rang_at_ms: Option<u64>,
    /// How the incoming-call push to this device ended, if one was due (it was offline).
    pub push_outcome: Option<PushOutcome>,
    /// How the missed-call push to this device ended, if one was due.
    pub missed_call_push_outcome: Option<PushOutcome>,
}

/// One call, as the history API returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    pub call_id: CallId,
    pub caller_user: UserName,
    pub caller_device: DeviceId,
    pub callee_user: UserName,
    pub state: CallState,
    pub invited_at_ms: u64,
    pub ring_deadline_ms: u64,
    pub first_ring_at_ms: Option<u64>,
    pub accepted_at_ms: Option<u64>,
    pub answered_device: Option<DeviceId>,
    pub ended_at_ms: Option<u64>,
    pub end_reason: Option<EndReason>,
    pub ended_by_device: Option<DeviceId>,
    /// Callee devices, in the order they were reached.
    pub devices: Vec<CallDeviceRecord>,
}

impl CallRecord {
    /// The record a `Started` event creates; `None` for every other event.
    pub fn started(event: &CallEvent) -> Option<CallRecord> {
        let CallEvent::Started {
            call_id,
            caller_user,
            caller_device,
            callee_user,
            invited_at_ms,
            ring_deadline_ms,
        } = event
        else {
            return None;
        };
        Some(CallRecord {
            call_id: *call_id,
            caller_user: caller_user.clone(),
            caller_device: *caller_device,
            callee_user: callee_user.clone(),
            state: CallState::Ringing,
            invited_at_ms: *invited_at_ms,
            ring_deadline_ms: *ring_deadline_ms,
            first_ring_at_ms: None,
            accepted_at_ms: None,
            answered_device: None,
            ended_at_ms: None,
            end_reason: None,
            ended_by_device: None,
            devices: Vec::new(),
        })
    }

    /// Folds one event into the record: the rules every store applies (the SQL store's
    /// statements in `ringwire-server`'s `store/calls.rs` are checked against this fold on
    /// random event streams). First facts win, so applying an event twice, or a stale event
    /// late, changes nothing:
    ///
    /// - `Started` again: nothing (the record exists);
    /// - `DeviceReached`: a new device is added with its reach time; a known one only upgrades
    ///   `offline` to `socket`/`replay`/`push`, and `replay` to `push`;
    /// - `DeviceRang`: the device's and the call's first ring time, once;
    /// - `Accepted`: only for a call still ringing and never accepted;
    /// - `Ended`: only for a call not yet ended;
    /// - `Pushed`: the last outcome of each push kind, for a known device.
    ///
    /// Events of another call are ignored.
    pub fn apply(&mut self, event: &CallEvent) {
        if event.call_id() != self.call_id {
            return;
        }
        match event {
            CallEvent::Started { .. } => {}
            CallEvent::DeviceReached {
                device_id,
                via,
                at_ms,
                ..
            } => match self.device_mut(*device_id) {
                Some(d) => {
                    let upgrade = (d.reached_via == Reach::Offline && *via != Reach::Offline)
                        || (d.reached_via == Reach::Replay && *via == Reach::Push);
                    if upgrade {
                        d.reached_via = *via;
                    }
                }
                None => self.devices.push(CallDeviceRecord {
                    device_id: *device_id,
                    reached_via: *via,
                    reached_at_ms: *at_ms,
                    rang_at_ms: None,
                    push_outcome: None,
                    missed_call_push_outcome: None,
                }),
            },
            CallEvent::DeviceRang {
                device_id, at_ms, ..
            } => {
                if let Some(d) = self.device_mut(*device_id) {
                    d.rang_at_ms.get_or_insert(*at_ms);
                }
                self.first_ring_at_ms.get_or_insert(*at_ms);
            }
            CallEvent::Accepted {
                device_id, at_ms, ..
            } => {
                if self.state == CallState::Ringing && self.accepted_at_ms.is_none() {
                    self.accepted_at_ms = Some(*at_ms);
                    self.answered_device = Some(*device_id);
                    self.state = CallState::Active;
                }
            }
            CallEvent::Ended {
                reason,
                by_device,
                at_ms,
                ..
            } => {
                if self.state != CallState::Ended {
                    self.ended_at_ms = Some(*at_ms);
                    self.end_reason = Some(*reason);
                    self.ended_by_device = *by_device;
                    self.state = CallState::Ended;
                }
            }
            CallEvent::Pushed {
                device_id,
                kind,
                outcome,
                ..
            } => {
                if let Some(d) = self.device_mut(*device_id) {
                    match kind {
                        PushKind::Invite => d.push_outcome = Some(*outcome),
                        PushKind::MissedCall => d.missed_call_push_outcome = Some(*outcome),
                    }
                }
            }
        }
    }

    fn device_mut(&mut self, device_id: DeviceId) -> Option<&mut CallDeviceRecord> {
        self.devices.iter_mut().find(|d| d.device_id == device_id)
    }
}
