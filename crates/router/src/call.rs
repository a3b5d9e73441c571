//! One call as the router sees it: who takes part, which phase it is in, and what each device
//! must be told. Phase changes go through [`Call::set_phase`], the single place that logs
//! `from -> to`; what a device hears about the call is decided only by [`Call::notice_for`].

use ringwire_proto::{CallId, DeviceId, DisplayName, EndReason, Incoming, ServerMessage, UserName};

use crate::record::{PushOutcome, Reach};
use crate::sorted::SortedMap;

/// Where a call stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Invited; callee devices ring until `ring_deadline_ms`.
    Ringing,
    /// Accepted on `device`.
    Active {
        device: DeviceId,
        accepted_at_ms: u64,
    },
    /// Over. Kept for a while so devices that connect late learn how it ended.
    Ended(Ending),
}

impl Phase {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Phase::Ringing => "ringing",
            Phase::Active { .. } => "active",
            Phase::Ended(_) => "ended",
        }
    }
}

/// How and why a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ending {
    pub(crate) reason: EndReason,
    pub(crate) by_device: Option<DeviceId>,
    pub(crate) replaced_by: Option<CallId>,
    /// The device that had accepted, if the call was ever accepted.
    pub(crate) answered: Option<DeviceId>,
}

/// A device's part in a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Caller,
    Callee,
}

#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub(crate) role: Role,
    pub(crate) reach: Reach,
    pub(crate) rang: bool,
    /// A callee device that is out of the call because another device accepted.
    pub(crate) dropped: bool,
    /// The device has been sent its final notice (`ended`, or `answered_elsewhere` if dropped).
    pub(crate) told_final: bool,
    /// When its connection was lost while it mattered to the call (caller, or the answering
    /// device); cleared when it reconnects.
    pub(crate) lost_since_ms: Option<u64>,
    /// How its incoming-call push ended, once the driver reported it.
    pub(crate) invite_push: Option<PushOutcome>,
}

impl Member {
    pub(crate) fn new(role: Role, reach: Reach) -> Self {
        Member {
            role,
            reach,
            rang: false,
            dropped: false,
            told_final: false,
            lost_since_ms: None,
            invite_push: None,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Call {
    pub(crate) id: CallId,
    pub(crate) caller_user: UserName,
    pub(crate) caller_display_name: Option<DisplayName>,
    pub(crate) caller_device: DeviceId,
    pub(crate) callee_user: UserName,
    pub(crate) ring_deadline_ms: u64,
    pub(crate) phase: Phase,
    pub(crate) members: SortedMap<DeviceId, Member>,
}

impl Call {
    /// The single place phases change. Returns false (and changes nothing) for a transition out
    /// of `Ended`, which is final.
    pub(crate) fn set_phase(&mut self, to: Phase, why: &str) -> bool {
        if matches!(self.phase, Phase::Ended(_)) {
            tracing::debug!(call_id = %self.id, to = to.name(), why, "ignored transition out of ended");
            return false;
        }
        tracing::info!(call_id = %self.id, from = self.phase.name(), to = to.name(), why, "call transition");
        if matches!(to, Phase::Ended(_)) {
            // Its members are final now, and it is kept for minutes.
            self.members.shrink_to_fit();
        }
        self.phase = to;
        true
    }

    pub(crate) fn is_live(&self) -> bool {
        !matches!(self.phase, Phase::Ended(_))
    }

    pub(crate) fn answered_device(&self) -> Option<DeviceId> {
        match &self.phase {
            Phase::Active { device, .. } => Some(*device),
            Phase::Ended(e) => e.answered,
            Phase::Ringing => None,
        }
    }

    /// Devices whose connection matters to a live call: the caller, and once accepted, the
    /// answering device.
    pub(crate) fn is_essential(&self, device: DeviceId) -> bool {
        device == self.caller_device
            || matches!(self.phase, Phase::Active { device: d, .. } if d == device)
    }

    /// A device that may send relays for and act on this call right now.
    pub(crate) fn is_active_member(&self, device: DeviceId) -> bool {
        self.members.get(&device).is_some_and(|m| !m.dropped) && self.is_live()
    }

    /// The devices a relay from `from` may go to.
    pub(crate) fn may_relay(&self, from: DeviceId, to: DeviceId) -> bool {
        if !self.is_active_member(from) || !self.is_active_member(to) || from == to {
            return false;
        }
        // Only caller <-> callee device pairs; callee devices never talk to each other.
        from == self.caller_device || to == self.caller_device
    }

    /// The `ended` a device gets: the caller and the device that acted hear the reason itself;
    /// the callee's other devices hear `declined_elsewhere` when one of them declined or was busy.
    pub(crate) fn ended_for(&self, device: DeviceId, ending: &Ending) -> ServerMessage {
        let role = self.members.get(&device).map(|m| m.role);
        let reason = match ending.reason {
            EndReason::Declined | EndReason::Busy
                if role == Some(Role::Callee) && ending.by_device != Some(device) =>
            {
                EndReason::DeclinedElsewhere
            }
            r => r,
        };
        ServerMessage::Ended {
            call_id: self.id,
            reason,
            device_id: ending.by_device,
            replaced_by: ending.replaced_by,
        }
    }

    pub(crate) fn answered_elsewhere(&self, answered: DeviceId) -> ServerMessage {
        ServerMessage::Ended {
            call_id: self.id,
            reason: EndReason::AnsweredElsewhere,
            device_id: Some(answered),
            replaced_by: None,
        }
    }

    pub(crate) fn incoming(&self, replayed: bool) -> ServerMessage {
        ServerMessage::Incoming(Incoming {
            call_id: self.id,
            from_user: self.caller_user.clone(),
            from_display_name: self.caller_display_name.clone(),
            from_device: self.caller_device,
            ring_deadline_ms: self.ring_deadline_ms,
            replayed,
        })
    }

    /// What a (re)connecting member should hear to learn the call's current state, if
    /// anything. `explicit` is true when the device asked about this call in `hello.calls`;
    /// then it hears the final notice again even if it was told before.
    pub(crate) fn notice_for(&self, device: DeviceId, explicit: bool) -> Option<ServerMessage> {
        let member = self.members.get(&device)?;
        let untold = !member.told_final || explicit;
        if member.dropped {
            let answered = self.answered_device()?;
            return untold.then(|| self.answered_elsewhere(answered));
        }
        match &self.phase {
            Phase::Ringing => (member.role == Role::Callee).then(|| self.incoming(true)),
            Phase::Active {
                device: answered, ..
            } => Some(ServerMessage::Accepted {
                call_id: self.id,
                device_id: *answered,
            }),
            Phase::Ended(ending) => untold.then(|| self.ended_for(device, ending)),
        }
    }
}
