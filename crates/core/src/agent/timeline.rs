//! Call analytics from the device: each call's timeline of the moments that matter on a phone
//! (push received, reported to the OS, ringing shown, answered — from the lock screen or not —,
//! audio session activated, media connected, first audio, every quality verdict, the app states
//! seen, the end), uploaded to the server as `call_timeline` once the call is over.
//!
//! Most moments are the reports the agent makes, so they are noted where reports leave
//! ([`Agent::note_report`]); the others (push, audio session, app state) where they come in. The
//! agent keeps `Instant`s and turns them into UNIX milliseconds with the wall clock the driver
//! gives it ([`Agent::set_wall_clock`]): without one, nothing is uploaded (an unknown time is
//! not a good one). A timeline waits in a bounded queue until the server answers
//! `timeline_stored` (or refuses it for good), and is sent again after each `welcome`: a device
//! that was offline when the call ended uploads it later, and a repeat is harmless (the server
//! answers `already_stored`). Peer-mode calls have no server: their timelines are not kept.

use std::collections::VecDeque;
use std::time::Instant;

use ringwire_proto::{
    CallDirection, CallId, CallTimeline, ClientMessage, TimelineEndReason, TimelineEvent,
    TimelineEventKind, MAX_TIMELINE_EVENTS,
};
use tracing::{debug, info, warn};

use super::{Agent, AppState};
use crate::call::Call;
use crate::report::{CallEndReason, Direction, Report};

/// Timelines waiting for the server's word; the oldest goes first when full.
const PENDING_MAX: usize = 16;

/// The timelines waiting to be stored.
#[derive(Debug, Default)]
pub(super) struct PendingTimelines {
    queue: VecDeque<CallTimeline>,
}

impl Agent {
    /// The device's wall clock now (UNIX ms) at `now`: what turns a call's instants into the
    /// times its timeline carries. Call it at start and whenever the clock may have been set
    /// (once a minute is plenty); without it no timeline is uploaded.
    pub fn set_wall_clock(&mut self, now: Instant, unix_ms: u64) {
        self.advance(now);
        self.wall_clock = Some((now, unix_ms));
    }

    /// Timelines not yet stored by the server.
    pub fn pending_timelines(&self) -> usize {
        self.pending_timelines.queue.len()
    }

    /// Notes what a report says happened, on its call's timeline.
    pub(super) fn note_report(&mut self, report: &Report) {
        let now = self.now;
        // Answered through the OS's call screen (lock screen, banner) rather than from the app on
        // screen: the app was not in the foreground.
        let locked = self.app_state != AppState::Foreground;
        let Some(call) = report.call_id().and_then(|id| self.calls.get_mut(&id)) else {
            return;
        };
        let state = wire_app_state(self.app_state);
        match report {
            Report::IncomingCall { .. } => {
                call.note(now, TimelineEventKind::AppState { state });
                call.note(now, TimelineEventKind::ReportedToOs {});
                call.note(now, TimelineEventKind::RingingShown {});
            }
            Report::OutgoingStarted { .. } => {
                call.note(now, TimelineEventKind::AppState { state });
                call.note(now, TimelineEventKind::ReportedToOs {});
            }
            Report::RemoteRinging { .. } => call.note(now, TimelineEventKind::RingingShown {}),
            Report::Answered { .. } => {
                let from_lock_screen = call.direction == Direction::Incoming
                    && call.answered_from_lock_screen.unwrap_or(locked);
                call.note(now, TimelineEventKind::Answered { from_lock_screen });
            }
            Report::Connected { .. } => call.note(now, TimelineEventKind::MediaConnected {}),
            Report::FirstAudio { .. } => call.note(now, TimelineEventKind::FirstAudio {}),
            Report::QualityChanged { verdict, .. } => call.note(
                now,
                TimelineEventKind::Quality {
                    verdict: verdict.verdict,
                    cause: verdict.cause,
                    action: verdict.action,
                },
            ),
            _ => {}
        }
    }

    /// Notes a moment on every call in progress (the audio session, the app's state).
    pub(super) fn note_all(&mut self, kind: TimelineEventKind) {
        let now = self.now;
        for call in self.calls.values_mut() {
            call.note(now, kind);
        }
    }

    /// The call is over: its timeline, with the end, joins the uploads.
    pub(super) fn finish_timeline(&mut self, call: &mut Call, reason: &CallEndReason, local: bool) {
        if call.is_peer_mode() {
            return;
        }
        let reason = match reason {
            CallEndReason::Protocol { reason } => TimelineEndReason::Protocol(*reason),
            CallEndReason::MediaFailed { .. } => {
                TimelineEndReason::Protocol(ringwire_proto::EndReason::MediaFailed)
            }
            CallEndReason::Failed { .. } => TimelineEndReason::Failed,
        };
        call.note(
            self.now,
            TimelineEventKind::Ended {
                reason,
                ended_locally: local,
            },
        );
        let Some((at, unix_ms)) = self.wall_clock else {
            debug!(call_id = %call.id, "no wall clock: the call's timeline is not uploaded");
            return;
        };
        let to_unix = |instant: Instant| -> u64 {
            if instant >= at {
                unix_ms.saturating_add(instant.duration_since(at).as_millis() as u64)
            } else {
                unix_ms.saturating_sub(at.duration_since(instant).as_millis() as u64)
            }
        };
        let events: Vec<TimelineEvent> = std::mem::take(&mut call.timeline)
            .into_iter()
            .map(|(instant, kind)| TimelineEvent::new(to_unix(instant), kind))
            .collect();
        let direction = match call.direction {
            Direction::Incoming => CallDirection::Incoming,
            Direction::Outgoing => CallDirection::Outgoing,
        };
        match CallTimeline::new(call.id, self.config.platform, direction, events) {
            Ok(timeline) => {
                if self.pending_timelines.queue.len() >= PENDING_MAX {
                    self.pending_timelines.queue.pop_front();
                }
                self.pending_timelines.queue.push_back(timeline.clone());
                if self.signaling_up {
                    self.signal(ClientMessage::CallTimeline(timeline));
                }
            }
            Err(error) => {
                warn!(call_id = %call.id, %error, "call timeline not valid; not uploaded")
            }
        }
    }

    /// After `welcome`: every timeline the server has not stored yet goes (again).
    pub(super) fn resend_timelines(&mut self) {
        let waiting: Vec<CallTimeline> = self.pending_timelines.queue.iter().cloned().collect();
        if !waiting.is_empty() {
            info!(count = waiting.len(), "uploading call timelines");
        }
        for timeline in waiting {
            self.signal(ClientMessage::CallTimeline(timeline));
        }
    }

    /// The server's word on a timeline (stored, or refused for good): it leaves the queue.
    pub(super) fn timeline_settled(&mut self, call_id: CallId) {
        self.pending_timelines
            .queue
            .retain(|timeline| timeline.call_id() != call_id);
    }
}

/// The app's state in the protocol's words.
pub(super) fn wire_app_state(state: AppState) -> ringwire_proto::AppState {
    match state {
        AppState::Foreground => ringwire_proto::AppState::Foreground,
        AppState::Background => ringwire_proto::AppState::Background,
        AppState::Locked => ringwire_proto::AppState::Locked,
        AppState::Suspended => ringwire_proto::AppState::Suspended,
    }
}

impl Call {
    /// Notes one moment, keeping the timeline within what an upload may carry (the end always
    /// fits: the last slot is kept for it).
    pub(crate) fn note(&mut self, at: Instant, kind: TimelineEventKind) {
        let room = MAX_TIMELINE_EVENTS - 1;
        if matches!(kind, TimelineEventKind::Ended { .. }) || self.timeline.len() < room {
            self.timeline.push((at, kind));
        }
    }
}
