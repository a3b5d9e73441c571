//! What devices do to a call once it exists: ringing, accept (first wins), decline and busy,
//! cancel, hangup, and the offer/answer/candidate relays between the caller's device and one
//! callee device.

use ringwire_proto::{CallId, DeviceId, EndReason, ErrorCode, HangupReason, Relay, ServerMessage};

use super::call::{Phase, Role};
use super::Router;
use crate::record::CallEvent;

/// What a device may do with a call it named.
enum Standing {
    /// A current member of a live call.
    Member(Role, Phase),
    /// The call is over for this device (ended, or answered elsewhere); it was told again.
    Over,
    /// Refused with an error.
    Refused,
}

impl Router {
    /// Checks that `from` may act on `call_id`. A device acting on a call that is over for it
    /// hears the final notice again (when `retell`), so a confused client converges to the truth.
    fn standing(
        &mut self,
        from: DeviceId,
        call_id: CallId,
        ref_type: &str,
        retell: bool,
    ) -> Standing {
        let Some(call) = self.calls.get(&call_id) else {
            let why = "no such call: it never existed or ended long ago; end it locally";
            self.refuse(from, ErrorCode::UnknownCall, call_id, ref_type, why);
            return Standing::Refused;
        };
        let Some(member) = call.members.get(&from) else {
            let why = "this device is not a participant of that call";
            self.refuse(from, ErrorCode::NotAParticipant, call_id, ref_type, why);
            return Standing::Refused;
        };
        if member.dropped || !call.is_live() {
            if retell {
                if let Some(notice) = call.notice_for(from, true) {
                    self.send(from, notice);
                }
                self.mark_told(call_id, from);
            }
            return Standing::Over;
        }
        Standing::Member(member.role, call.phase.clone())
    }

    pub(super) fn on_ringing(&mut self, now_ms: u64, from: DeviceId, call_id: CallId) {
        match self.standing(from, call_id, "ringing", false) {
            Standing::Member(Role::Callee, Phase::Ringing) => {}
            Standing::Member(Role::Caller, _) => {
                let why = "only a callee device can ring";
                return self.refuse(from, ErrorCode::InvalidState, call_id, "ringing", why);
            }
            // Late `ringing` after accept or end: harmless, nothing to do.
            _ => return,
        }
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let Some(member) = call.members.get_mut(&from) else {
            return;
        };
        if member.rang {
            return;
        }
        member.rang = true;
        let caller = call.caller_device;
        self.record(CallEvent::DeviceRang {
            call_id,
            device_id: from,
            at_ms: now_ms,
        });
        self.send(
            caller,
            ServerMessage::Ringing {
                call_id,
                device_id: from,
            },
        );
    }

    pub(super) fn on_accept(&mut self, now_ms: u64, from: DeviceId, call_id: CallId) {
        match self.standing(from, call_id, "accept", true) {
            Standing::Member(Role::Callee, Phase::Ringing) => {}
            Standing::Member(Role::Callee, Phase::Active { device, .. }) if device == from => {
                // A repeated accept from the winner: confirm again.
                self.send(
                    from,
                    ServerMessage::Accepted {
                        call_id,
                        device_id: from,
                    },
                );
                return;
            }
            Standing::Member(Role::Caller, _) => {
                let why = "the caller cannot accept its own call";
                return self.refuse(from, ErrorCode::InvalidState, call_id, "accept", why);
            }
            _ => return,
        }
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let phase = Phase::Active {
            device: from,
            accepted_at_ms: now_ms,
        };
        if !call.set_phase(phase, "accept") {
            return;
        }
        let caller = call.caller_device;
        let callee_user = call.callee_user.clone();
        let mut losers = Vec::new();
        for (device, member) in call.members.iter_mut() {
            if member.role == Role::Callee && *device != from {
                member.dropped = true;
                losers.push(*device);
            }
        }
        let elsewhere = call.answered_elsewhere(from);
        self.unindex_ringing(call_id, &callee_user);
        self.record(CallEvent::Accepted {
            call_id,
            device_id: from,
            at_ms: now_ms,
        });
        let accepted = ServerMessage::Accepted {
            call_id,
            device_id: from,
        };
        self.send(caller, accepted.clone());
        self.send(from, accepted);
        for device in losers {
            if self.send(device, elsewhere.clone()) {
                self.mark_told(call_id, device);
            }
        }
    }

    /// `decline` and `busy`: while ringing they end the call; on an accepted call they mean
    /// hangup.
    pub(super) fn on_refuse(
        &mut self,
        now_ms: u64,
        from: DeviceId,
        call_id: CallId,
        reason: EndReason,
        ref_type: &str,
    ) {
        match self.standing(from, call_id, ref_type, true) {
            Standing::Member(Role::Callee, Phase::Ringing) => {
                self.end_call(now_ms, call_id, reason, Some(from), None)
            }
            Standing::Member(_, Phase::Active { .. }) => {
                self.end_call(now_ms, call_id, EndReason::Hangup, Some(from), None)
            }
            Standing::Member(Role::Caller, _) => {
                let why = "the caller cannot decline its own call; send cancel";
                self.refuse(from, ErrorCode::InvalidState, call_id, ref_type, why)
            }
            _ => {}
        }
    }

    pub(super) fn on_cancel(&mut self, now_ms: u64, from: DeviceId, call_id: CallId) {
        match self.standing(from, call_id, "cancel", true) {
            Standing::Member(Role::Caller, Phase::Ringing) => {
                self.end_call(now_ms, call_id, EndReason::Cancelled, Some(from), None)
            }
            Standing::Member(_, Phase::Active { .. }) => {
                self.end_call(now_ms, call_id, EndReason::Hangup, Some(from), None)
            }
            Standing::Member(Role::Callee, _) => {
                let why = "only the caller can cancel; a callee device sends decline";
                self.refuse(from, ErrorCode::InvalidState, call_id, "cancel", why)
            }
            _ => {}
        }
    }

    /// `hangup` ends an accepted call; before accept it means cancel (caller) or decline
    /// (callee), so a client can always send hangup to get out.
    pub(super) fn on_hangup(
        &mut self,
        now_ms: u64,
        from: DeviceId,
        call_id: CallId,
        why: Option<HangupReason>,
    ) {
        let reason = match self.standing(from, call_id, "hangup", true) {
            // A device that gave up on the media says so, and the record keeps it: a call
            // nobody heard is not a call that ended normally.
            Standing::Member(_, Phase::Active { .. }) => {
                why.map_or(EndReason::Hangup, HangupReason::end_reason)
            }
            Standing::Member(Role::Caller, Phase::Ringing) => EndReason::Cancelled,
            Standing::Member(Role::Callee, Phase::Ringing) => EndReason::Declined,
            _ => return,
        };
        self.end_call(now_ms, call_id, reason, Some(from), None);
    }

    pub(super) fn on_relay(&mut self, from: DeviceId, relay: Relay) {
        let call_id = relay.call_id;
        let kind = match &relay.kind {
            ringwire_proto::RelayKind::Offer(_) => "offer",
            ringwire_proto::RelayKind::Answer(_) => "answer",
            ringwire_proto::RelayKind::Candidate(_) => "candidate",
        };
        if !matches!(
            self.standing(from, call_id, kind, false),
            Standing::Member(..)
        ) {
            // Late relays for a finished call are normal (trickle ICE); drop them quietly.
            return;
        }
        let to = relay.peer;
        let allowed = self
            .calls
            .get(&call_id)
            .is_some_and(|c| c.may_relay(from, to));
        if !allowed {
            let why = "the target device is not your peer in this call (relays go between the caller's device and one ringing or answering callee device)";
            return self.refuse(from, ErrorCode::NotAParticipant, call_id, kind, why);
        }
        if !self.presence.contains_key(&to) {
            let why = "the peer device is not connected right now; retry after it reconnects (ICE restart)";
            return self.refuse(from, ErrorCode::PeerUnavailable, call_id, kind, why);
        }
        self.send(
            to,
            ServerMessage::from_relay(Relay {
                peer: from,
                ..relay
            }),
        );
    }
}
