//! Devices coming and going, and calls coming back after a restart. A device that connects
//! hears about every call it is part of — `incoming` for calls still ringing (this is how a
//! phone woken by a push finds its call), `accepted` for its live call, and the `ended` it
//! missed while offline. A participant that drops out of a live call gets a grace period to
//! come back before the call ends as `connection_lost`.

use std::collections::BTreeSet;

use ringwire_proto::{
    CallId, DeviceId, DisplayName, EndReason, ErrorCode, ErrorMessage, ServerMessage, UserName,
};

use super::call::{Call, Ending, Member, Phase, Role};
use super::timers::Timer;
use super::{ConnId, Output, Presence, Router};
use crate::record::{CallEvent, CallRecord, CallState, PushOutcome, Reach};
use crate::sorted::SortedMap;

impl Router {
    pub(super) fn on_connected(
        &mut self,
        now_ms: u64,
        conn: ConnId,
        device: DeviceId,
        user: UserName,
        display_name: Option<DisplayName>,
        known_calls: &[CallId],
    ) {
        let presence = Presence {
            conn,
            user: user.clone(),
            display_name,
        };
        if let Some(old) = self.presence.insert(device, presence) {
            if old.conn != conn {
                let why = "another connection authenticated as this device; this one is closed";
                self.out.push_back(Output::Close {
                    conn: old.conn,
                    device,
                    error: ErrorMessage::new(ErrorCode::Replaced, why),
                });
            }
        }
        let known: BTreeSet<CallId> = known_calls.iter().copied().collect();

        // Ringing calls for this user that this device is not yet part of: a device that was
        // added, or that the server could not know about, joins the ringing.
        let joinable: Vec<CallId> = self
            .ringing_by_callee
            .get(&user)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default();
        for call_id in joinable {
            let Some(call) = self.calls.get_mut(&call_id) else {
                continue;
            };
            if call.members.contains_key(&device) || call.caller_device == device {
                continue;
            }
            call.members
                .insert(device, Member::new(Role::Callee, Reach::Replay));
            self.index_member(call_id, device);
            self.record(CallEvent::DeviceReached {
                call_id,
                device_id: device,
                via: Reach::Replay,
                at_ms: now_ms,
            });
        }

        let mine: Vec<CallId> = self
            .by_device
            .get(&device)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default();
        // Live calls and the calls the device asked about always; ended calls it was not told
        // about only while the resync budget lasts (the rest on a later connect), so a resync
        // never overflows the connection's outbound queue.
        let (live, ended): (Vec<CallId>, Vec<CallId>) = mine
            .iter()
            .partition(|id| self.calls.get(id).is_some_and(Call::is_live));
        let (asked, untold): (Vec<CallId>, Vec<CallId>) =
            ended.into_iter().partition(|id| known.contains(id));
        let mut sent = 0usize;
        for call_id in live.iter().chain(&asked) {
            sent += usize::from(self.resync(now_ms, device, *call_id, known.contains(call_id)));
        }
        sent += known.iter().filter(|id| !mine.contains(id)).count();
        for call_id in untold {
            if sent >= self.config.max_resync {
                tracing::debug!(device_id = %device, "resync budget spent; older ended calls are told on a later connect");
                break;
            }
            sent += usize::from(self.resync(now_ms, device, call_id, false));
        }
        for call_id in known.iter().filter(|id| !mine.contains(id)) {
            let (code, why) = if self.calls.contains_key(call_id) {
                (
                    ErrorCode::NotAParticipant,
                    "this device is not a participant of that call",
                )
            } else {
                (
                    ErrorCode::UnknownCall,
                    "no such call: it never existed or ended long ago; end it locally",
                )
            };
            let err = ErrorMessage::new(code, why)
                .with_call(Some(*call_id))
                .with_ref_type("hello");
            self.error(device, err);
        }
    }

    /// Brings a (re)connected member up to date on one call; returns whether it sent anything.
    fn resync(&mut self, now_ms: u64, device: DeviceId, call_id: CallId, explicit: bool) -> bool {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return false;
        };
        let Some(member) = call.members.get_mut(&device) else {
            return false;
        };
        member.lost_since_ms = None;
        let upgrade = member.reach == Reach::Offline && call.phase == Phase::Ringing;
        // Woken by a push the service accepted, or came by itself (the push may still be in
        // flight; `on_push_result` upgrades it then).
        let via = if member.invite_push == Some(PushOutcome::Sent) {
            Reach::Push
        } else {
            Reach::Replay
        };
        if upgrade {
            member.reach = via;
        }
        let notice = call.notice_for(device, explicit);
        let caller_waiting = device == call.caller_device && call.phase == Phase::Ringing;
        // A caller coming back to a call that still rings hears `calling` again.
        let notice = match notice {
            None if caller_waiting => self.calling_notice(call_id),
            other => other,
        };
        if upgrade {
            self.record(CallEvent::DeviceReached {
                call_id,
                device_id: device,
                via,
                at_ms: now_ms,
            });
        }
        let Some(msg) = notice else {
            return false;
        };
        let is_final = matches!(msg, ServerMessage::Ended { .. });
        let sent = self.send(device, msg);
        if sent && is_final {
            self.mark_told(call_id, device);
        }
        sent
    }

    pub(super) fn on_disconnected(&mut self, now_ms: u64, conn: ConnId, device: DeviceId) {
        match self.presence.get(&device) {
            Some(p) if p.conn == conn => {}
            // A replaced connection closing: the device is still here.
            _ => return,
        }
        self.presence.remove(&device);
        self.admitted.remove(&device);
        let mine: Vec<CallId> = self
            .by_device
            .get(&device)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default();
        let deadline = now_ms + self.config.reconnect_grace_ms;
        for call_id in mine {
            let Some(call) = self.calls.get_mut(&call_id) else {
                continue;
            };
            if !call.is_live() || !call.is_essential(device) {
                continue;
            }
            if let Some(m) = call.members.get_mut(&device) {
                m.lost_since_ms = Some(now_ms);
                tracing::info!(call_id = %call_id, device_id = %device, "participant disconnected; waiting for it to come back");
                self.timers.set(deadline, Timer::ReconnectGrace(call_id));
            }
        }
        // A storm of connections leaves the presence tables at its size otherwise.
        self.compact();
    }

    /// Takes back a call found in the store at start-up.
    pub(super) fn on_restore(&mut self, now_ms: u64, record: CallRecord) {
        if self.calls.contains_key(&record.call_id) {
            return;
        }
        let call_id = record.call_id;
        let mut members = SortedMap::default();
        let mut caller = Member::new(Role::Caller, Reach::Socket);
        let ended = record.state == CallState::Ended;
        caller.told_final = ended;
        members.insert(record.caller_device, caller);
        for d in &record.devices {
            let mut m = Member::new(Role::Callee, d.reached_via);
            m.rang = d.rang_at_ms.is_some();
            m.invite_push = d.push_outcome;
            m.told_final = ended;
            if let Some(answered) = record.answered_device {
                m.dropped = d.device_id != answered;
            }
            members.insert(d.device_id, m);
        }
        let phase = match (record.state, record.answered_device, record.accepted_at_ms) {
            (CallState::Ended, answered, _) => Phase::Ended(Ending {
                reason: record.end_reason.unwrap_or(EndReason::ConnectionLost),
                by_device: record.ended_by_device,
                replaced_by: None,
                answered,
            }),
            (CallState::Active, Some(device), Some(accepted_at_ms)) => Phase::Active {
                device,
                accepted_at_ms,
            },
            // An active record without its answering device cannot be resumed honestly.
            (CallState::Active, _, _) | (CallState::Ringing, _, _) => Phase::Ringing,
        };
        let call = Call {
            id: call_id,
            caller_user: record.caller_user.clone(),
            caller_display_name: None,
            caller_device: record.caller_device,
            callee_user: record.callee_user.clone(),
            ring_deadline_ms: record.ring_deadline_ms,
            phase,
            members,
        };
        let live = call.is_live();
        let ringing = call.phase == Phase::Ringing;
        let broken_active = record.state == CallState::Active && ringing;
        for device in call.members.keys() {
            self.index_member(call_id, *device);
        }
        if !live {
            let forget_at = record.ended_at_ms.unwrap_or(now_ms) + self.config.ended_retention_ms;
            self.calls.insert(call_id, call);
            self.timers
                .set(forget_at.max(now_ms), Timer::Forget(call_id));
            return;
        }
        tracing::info!(call_id = %call_id, phase = call.phase.name(), "resuming call after restart");
        self.index_live(call_id, &record.caller_user, &record.callee_user);
        if !ringing {
            self.unindex_ringing(call_id, &record.callee_user);
        }
        let essentials: Vec<DeviceId> = call
            .members
            .keys()
            .copied()
            .filter(|d| call.is_essential(*d))
            .collect();
        self.calls.insert(call_id, call);
        if broken_active {
            return self.end_call(now_ms, call_id, EndReason::ConnectionLost, None, None);
        }
        if ringing && record.ring_deadline_ms <= now_ms {
            return self.end_call(now_ms, call_id, EndReason::NoAnswer, None, None);
        }
        if ringing {
            self.timers
                .set(record.ring_deadline_ms, Timer::RingTimeout(call_id));
            self.push_invites_after_restart(call_id);
        }
        // Nobody is connected right after a restart: every participant gets the grace period.
        if let Some(call) = self.calls.get_mut(&call_id) {
            for device in essentials {
                if let Some(m) = call.members.get_mut(&device) {
                    m.lost_since_ms = Some(now_ms);
                }
            }
        }
        self.timers.set(
            now_ms + self.config.reconnect_grace_ms,
            Timer::ReconnectGrace(call_id),
        );
    }
}
