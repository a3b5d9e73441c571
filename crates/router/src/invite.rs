//! Starting a call: rate limit, sanity checks, glare, busy, then fan-out to every device of the
//! callee — `incoming` now to connected ones, replay later to the rest.

use ringwire_proto::{
    CallId, DeviceId, EndReason, ErrorCode, ErrorMessage, Invite, ServerMessage, UserName,
};

use super::call::{Call, Member, Phase, Role};
use super::timers::Timer;
use super::Router;
use crate::rate_limit::TokenBucket;
use crate::record::{CallEvent, Reach};
use crate::sorted::{SortedMap, SortedSet};

impl Router {
    pub(super) fn on_invite(
        &mut self,
        now_ms: u64,
        from: DeviceId,
        invite: Invite,
        callee_devices: Option<Vec<DeviceId>>,
    ) {
        let Some(caller) = self.presence.get(&from).cloned() else {
            return;
        };
        let call_id = invite.call_id;
        let pre_admitted = self
            .admitted
            .get_mut(&from)
            .is_some_and(|ids| ids.remove(&call_id));
        if self.admitted.get(&from).is_some_and(SortedSet::is_empty) {
            self.admitted.remove(&from);
        }
        if !pre_admitted && !self.take_invite_token(now_ms, from, call_id) {
            return;
        }
        if self.calls.contains_key(&call_id) {
            let why = "a call with this id already exists; pick a fresh random 128-bit id";
            return self.refuse(from, ErrorCode::DuplicateCall, call_id, "invite", why);
        }
        if invite.to_user == caller.user {
            let why = "you cannot call your own user; your other devices cannot be rung";
            return self.refuse(from, ErrorCode::CannotCallSelf, call_id, "invite", why);
        }
        let Some(callee_devices) = callee_devices else {
            let why = format!("no user named {:?}", invite.to_user.as_str());
            return self.refuse(from, ErrorCode::UserNotFound, call_id, "invite", why);
        };
        let ringing = self
            .ringing_by_callee
            .get(&invite.to_user)
            .map_or(0, SortedSet::len);
        if ringing >= self.config.max_ringing_per_user {
            let why = format!(
                "{:?} already has {ringing} calls ringing, the most allowed; try again later",
                invite.to_user.as_str()
            );
            return self.refuse(from, ErrorCode::TooManyCalls, call_id, "invite", why);
        }

        // Glare: the callee is ringing the caller right now. The higher call id survives.
        if let Some(other) = self.crossing_call(&caller.user, &invite.to_user) {
            if call_id < other {
                tracing::info!(call_id = %call_id, survivor = %other, "glare: new invite loses");
                return self.send_glare_loss(from, call_id, other);
            }
            tracing::info!(call_id = %other, survivor = %call_id, "glare: ringing call loses");
            self.end_call(now_ms, other, EndReason::Glare, None, Some(call_id));
        }
        let busy = self.is_busy(&invite.to_user);

        let ring_deadline_ms = now_ms + self.config.ring_timeout_ms;
        let callees = callee_devices.iter().filter(|_| !busy).map(|device| {
            let reach = if self.presence.contains_key(device) {
                Reach::Socket
            } else {
                Reach::Offline
            };
            (*device, Member::new(Role::Callee, reach))
        });
        let members: SortedMap<DeviceId, Member> =
            std::iter::once((from, Member::new(Role::Caller, Reach::Socket)))
                .chain(callees)
                .collect();
        let call = Call {
            id: call_id,
            caller_user: caller.user.clone(),
            caller_display_name: caller.display_name.clone(),
            caller_device: from,
            callee_user: invite.to_user.clone(),
            ring_deadline_ms,
            phase: Phase::Ringing,
            members,
        };
        tracing::info!(call_id = %call_id, device_id = %from, callee_devices = callee_devices.len(), busy, "invite");
        self.record(CallEvent::Started {
            call_id,
            caller_user: caller.user.clone(),
            caller_device: from,
            callee_user: invite.to_user.clone(),
            invited_at_ms: now_ms,
            ring_deadline_ms,
        });
        let reached: Vec<(DeviceId, Reach)> = call
            .members
            .iter()
            .filter(|(_, m)| m.role == Role::Callee)
            .map(|(d, m)| (*d, m.reach))
            .collect();
        let incoming = call.incoming(false);
        for device in call.members.keys() {
            self.index_member(call_id, *device);
        }
        self.index_live(call_id, &caller.user, &invite.to_user);
        self.calls.insert(call_id, call);

        if busy {
            return self.end_call(now_ms, call_id, EndReason::Busy, None, None);
        }
        if reached.is_empty() {
            return self.end_call(now_ms, call_id, EndReason::Unavailable, None, None);
        }
        if let Some(calling) = self.calling_notice(call_id) {
            self.send(from, calling);
        }
        for (device, via) in reached {
            self.record(CallEvent::DeviceReached {
                call_id,
                device_id: device,
                via,
                at_ms: now_ms,
            });
            if via == Reach::Socket {
                self.send(device, incoming.clone());
            }
        }
        self.push_invites(call_id);
        self.timers
            .set(ring_deadline_ms, Timer::RingTimeout(call_id));
    }

    /// Takes an invite token for `from` ahead of the callee lookup, so a refused invite costs
    /// the driver no query. On refusal the device is sent `rate_limited` and this returns false;
    /// on success the following [`Input::Invite`](super::Input::Invite) for `call_id` does not
    /// take another token. Drain [`Router::poll_output`] afterwards.
    pub fn admit_invite(&mut self, now_ms: u64, from: DeviceId, call_id: CallId) -> bool {
        self.handle_timeout(now_ms);
        if !self.presence.contains_key(&from) || !self.take_invite_token(now_ms, from, call_id) {
            return false;
        }
        let ids = self.admitted.entry(from).or_default();
        // Bounded: a device whose lookups keep failing cannot grow this without limit.
        if ids.len() >= 2 * self.config.invite_burst as usize {
            ids.pop_first();
        }
        ids.insert(call_id);
        true
    }

    /// Takes one token from `from`'s invite bucket; on refusal sends `rate_limited`.
    fn take_invite_token(&mut self, now_ms: u64, from: DeviceId, call_id: CallId) -> bool {
        let (burst, refill) = (self.config.invite_burst, self.config.invite_refill_ms);
        let bucket = self
            .invite_buckets
            .entry(from)
            .or_insert_with(|| TokenBucket::full(burst, now_ms));
        if let Err(wait_ms) = bucket.take(burst, refill, now_ms) {
            let mut err = ErrorMessage::new(
                ErrorCode::RateLimited,
                format!("too many invites from this device; retry in {wait_ms} ms"),
            )
            .with_call(Some(call_id))
            .with_ref_type("invite");
            err.retry_after_ms = Some(wait_ms);
            self.error(from, err);
            return false;
        }
        true
    }

    /// `calling` for the caller: how many callee devices are connected right now.
    pub(super) fn calling_notice(&self, call_id: CallId) -> Option<ServerMessage> {
        let call = self.calls.get(&call_id)?;
        let callees: Vec<DeviceId> = call
            .members
            .iter()
            .filter(|(_, m)| m.role == Role::Callee && !m.dropped)
            .map(|(d, _)| *d)
            .collect();
        let online = callees
            .iter()
            .filter(|d| self.presence.contains_key(d))
            .count();
        Some(ServerMessage::Calling {
            call_id,
            to_user: call.callee_user.clone(),
            devices_online: saturating_u32(online),
            devices_offline: saturating_u32(callees.len() - online),
            ring_deadline_ms: call.ring_deadline_ms,
        })
    }

    /// A ringing call from `callee` to `caller`: the two invites crossed.
    fn crossing_call(&self, caller: &UserName, callee: &UserName) -> Option<CallId> {
        self.ringing_by_callee
            .get(caller)?
            .iter()
            .copied()
            .find(|id| {
                self.calls
                    .get(id)
                    .is_some_and(|c| c.phase == Phase::Ringing && &c.caller_user == callee)
            })
    }

    /// The callee already talks to someone, or is ringing someone else.
    fn is_busy(&self, user: &UserName) -> bool {
        self.live_by_user.get(user).is_some_and(|ids| {
            ids.iter().any(|id| {
                self.calls.get(id).is_some_and(|c| match c.phase {
                    Phase::Active { .. } => true,
                    Phase::Ringing => &c.caller_user == user,
                    Phase::Ended(_) => false,
                })
            })
        })
    }

    fn send_glare_loss(&mut self, to: DeviceId, call_id: CallId, survivor: CallId) {
        self.send(
            to,
            ServerMessage::Ended {
                call_id,
                reason: EndReason::Glare,
                device_id: None,
                replaced_by: Some(survivor),
            },
        );
    }
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
