//! The lock-screen path: a VoIP push (PushKit) or high-priority FCM message woke the app, maybe
//! from terminated, before it has a socket. [`Agent::handle_push`] returns at once with what the
//! app must report to the OS (iOS kills an app that returns from the push handler without
//! reporting a call), registers the call so the next `hello` names it, and leaves the rest to
//! signaling: the server replays `incoming` (the call still rings: `ringing` and pre-connect
//! follow) or says how it ended (the app ends the call it reported, with the right CallKit
//! reason). A push that arrives after the ring deadline is a ghost: reported, then ended as
//! unanswered at once.

use std::time::{Duration, Instant};

use ringwire_proto::EndReason;
use tracing::info;

use super::Agent;
use crate::call::Call;
use crate::push::{self, PushCall};
use crate::report::{CallEndReason, Direction};
use crate::{CallState, CoreError};

impl Agent {
    /// Handles a push payload. `now_unix_ms` is the device's wall clock, to judge the ring
    /// deadline before the server's clock offset is known.
    pub fn handle_push(
        &mut self,
        now: Instant,
        now_unix_ms: u64,
        payload: &[u8],
    ) -> Result<PushCall, CoreError> {
        let push = push::parse(payload)?;
        let call_id = push.call_id;
        let _span = tracing::info_span!("call", %call_id).entered();
        let mut answer = PushCall {
            call_id,
            from_user: push.from_user.clone(),
            from_display_name: push.from_display_name.clone(),
            from_device: push.from_device,
            ring_deadline_ms: push.ring_deadline_ms,
            already_known: false,
        };
        if self.calls.contains_key(&call_id) {
            answer.already_known = true;
            return Ok(answer);
        }
        let mut call = Call::new(
            call_id,
            Direction::Incoming,
            push.from_user,
            CallState::Ringing,
            now,
        );
        call.remote_device = Some(push.from_device);
        call.awaiting_server = true;
        // The app reports the call to the OS from our answer, before its push handler returns.
        let state = super::timeline::wire_app_state(self.app_state);
        for kind in [
            ringwire_proto::TimelineEventKind::PushReceived {
                sent_at_ms: push.sent_at_ms,
            },
            ringwire_proto::TimelineEventKind::AppState { state },
            ringwire_proto::TimelineEventKind::ReportedToOs {},
            ringwire_proto::TimelineEventKind::RingingShown {},
        ] {
            call.note(now, kind);
        }
        let left = Duration::from_millis(push.ring_deadline_ms.saturating_sub(now_unix_ms));
        call.ring_deadline = Some(now + left + self.config.ring_grace);
        self.calls.insert(call_id, call);
        self.advance(now);
        if self.ended_recently(call_id) || now_unix_ms > push.ring_deadline_ms {
            // Reported by the app from our answer, and over already: end it at once so the
            // app can tell the OS (a late push after the caller gave up).
            info!("push for a call that is already over");
            self.end_call(
                now,
                call_id,
                CallEndReason::protocol(EndReason::NoAnswer),
                false,
            );
        } else {
            info!("incoming call reported from a push; waiting for the server");
            // The relay pre-connects while the woken phone waits for the server.
            self.start_gathering(now, call_id);
            self.drain(now);
        }
        Ok(answer)
    }
}
