//! Who needs a push, decided by the router; how a push is sent is the driver's business
//! (`crate::push`). When a call starts ringing, every callee device that is not connected gets
//! an incoming-call push; when a call ends unanswered, every callee device that is still not
//! connected gets a missed-call push. The driver reports each push's outcome back as
//! [`super::Input::PushResult`], and the router writes it into the call record — so the record
//! says, per device, whether the push went out and whether the device then came.

use ringwire_proto::{CallId, DeviceId, DisplayName, PushPayload, UserName};

use super::call::{Phase, Role};
use super::{Output, Router};
use crate::record::{CallEvent, PushKind, PushOutcome, Reach};

/// One push the driver must send. Carries everything the payload needs, so the phone can
/// report the call to CallKit at once, before it has a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushRequest {
    pub call_id: CallId,
    /// The callee device to wake.
    pub device: DeviceId,
    pub kind: PushKind,
    pub from_user: UserName,
    pub from_display_name: Option<DisplayName>,
    pub from_device: DeviceId,
    /// When the call stops (or stopped) ringing, UNIX ms; an incoming-call push is useless
    /// after it, so the driver never retries past it.
    pub ring_deadline_ms: u64,
}

impl PushRequest {
    /// What the push carries (the driver serializes it for APNs or FCM).
    pub fn payload(&self) -> PushPayload {
        PushPayload {
            kind: self.kind,
            call_id: self.call_id,
            from_user: self.from_user.clone(),
            from_display_name: self.from_display_name.clone(),
            from_device: self.from_device,
            ring_deadline_ms: self.ring_deadline_ms,
            // The driver stamps each try as it sends it; the router has no clock.
            sent_at_ms: None,
        }
    }
}

impl Router {
    /// Asks for an incoming-call push to each callee device of a call that is not connected.
    pub(super) fn push_invites(&mut self, call_id: CallId) {
        let requests: Vec<PushRequest> = match self.calls.get(&call_id) {
            Some(call) => call
                .members
                .iter()
                .filter(|(d, m)| {
                    m.role == Role::Callee && !m.dropped && !self.presence.contains_key(d)
                })
                .map(|(d, _)| request(call, *d, PushKind::Invite))
                .collect(),
            None => return,
        };
        for req in requests {
            tracing::debug!(call_id = %call_id, device_id = %req.device, "incoming-call push due");
            self.out.push_back(Output::Push(req));
        }
    }

    /// A ringing call taken back after a restart: asks again for the incoming-call push of
    /// every callee device that was a push target (reached `offline` or `push`) and is not
    /// connected. The first push may never have gone out (the server died with it in flight),
    /// and a phone woken by it may have been frozen again since; nobody else will wake it
    /// before the ring deadline, which is also the push's expiry. Devices whose token the push
    /// service refused, or that have none, are not asked again.
    pub(super) fn push_invites_after_restart(&mut self, call_id: CallId) {
        let requests: Vec<PushRequest> = match self.calls.get(&call_id) {
            Some(call) if call.phase == Phase::Ringing => call
                .members
                .iter()
                .filter(|(d, m)| {
                    m.role == Role::Callee
                        && !m.dropped
                        && matches!(m.reach, Reach::Offline | Reach::Push)
                        && !m.invite_push.is_some_and(token_gone)
                        && !self.presence.contains_key(d)
                })
                .map(|(d, _)| request(call, *d, PushKind::Invite))
                .collect(),
            _ => return,
        };
        for req in requests {
            tracing::info!(call_id = %call_id, device_id = %req.device, "incoming-call push again after a restart");
            self.out.push_back(Output::Push(req));
        }
    }

    /// Asks for a missed-call push to each callee device that did not hear the call end over its
    /// socket. Called once, when a call ends `no_answer`.
    pub(super) fn push_missed_call(&mut self, call_id: CallId) {
        let requests: Vec<PushRequest> = match self.calls.get(&call_id) {
            Some(call) => call
                .members
                .iter()
                .filter(|(d, m)| {
                    m.role == Role::Callee && !m.dropped && !self.presence.contains_key(d)
                })
                .map(|(d, _)| request(call, *d, PushKind::MissedCall))
                .collect(),
            None => return,
        };
        for req in requests {
            tracing::debug!(call_id = %call_id, device_id = %req.device, "missed-call push due");
            self.out.push_back(Output::Push(req));
        }
    }

    /// The driver finished a push: record the outcome. A device that connected while its
    /// incoming-call push was still in flight was most likely woken by it: it counts as reached
    /// by push once the push service confirms.
    pub(super) fn on_push_result(
        &mut self,
        now_ms: u64,
        call_id: CallId,
        device: DeviceId,
        kind: PushKind,
        outcome: PushOutcome,
    ) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            // Forgotten long ago; nothing left to record into.
            return;
        };
        let ringing = call.phase == Phase::Ringing;
        let Some(member) = call.members.get_mut(&device) else {
            return;
        };
        let mut upgrade = false;
        if kind == PushKind::Invite {
            member.invite_push = Some(outcome);
            upgrade = outcome == PushOutcome::Sent && member.reach == Reach::Replay && ringing;
            if upgrade {
                member.reach = Reach::Push;
            }
        }
        tracing::info!(call_id = %call_id, device_id = %device, kind = kind.as_str(), outcome = outcome.as_str(), "push finished");
        self.record(CallEvent::Pushed {
            call_id,
            device_id: device,
            kind,
            outcome,
            at_ms: now_ms,
        });
        if upgrade {
            self.record(CallEvent::DeviceReached {
                call_id,
                device_id: device,
                via: Reach::Push,
                at_ms: now_ms,
            });
        }
    }
}

/// Outcomes after which pushing the device again cannot work: its token is gone or was never
/// there, or the push service for it is not configured.
fn token_gone(outcome: PushOutcome) -> bool {
    matches!(
        outcome,
        PushOutcome::Unregistered
            | PushOutcome::BadToken
            | PushOutcome::NoToken
            | PushOutcome::PushUnavailable
    )
}

fn request(call: &super::call::Call, device: DeviceId, kind: PushKind) -> PushRequest {
    PushRequest {
        call_id: call.id,
        device,
        kind,
        from_user: call.caller_user.clone(),
        from_display_name: call.caller_display_name.clone(),
        from_device: call.caller_device,
        ring_deadline_ms: call.ring_deadline_ms,
    }
}
