//! The agent's own timers, beside each connection's: ringing that outlived the server's
//! deadline, answered calls whose media never came (or never came back), and the periodic
//! quality report.

use std::time::Instant;

use ringwire_proto::{CallId, ClientMessage, EndReason};
use tracing::info;

use super::Agent;
use crate::report::{CallEndReason, Report};

impl Agent {
    pub(super) fn run_call_timers(&mut self, now: Instant) {
        self.expire_ringing(now);

        let media_lost: Vec<CallId> = self
            .calls
            .values()
            .filter(|c| c.media_deadline.is_some_and(|d| now >= d))
            .map(|c| c.id)
            .collect();
        for call_id in media_lost {
            info!(%call_id, "media did not (re)connect in time");
            // Said as `media_failed` whether the media never came or never came back: the
            // server records it and the far end hears why, instead of a plain hangup.
            self.signal(ClientMessage::media_failed_hangup(call_id));
            self.end_call(
                now,
                call_id,
                CallEndReason::protocol(EndReason::MediaFailed),
                false,
            );
        }

        let interval = self.config.quality_interval;
        let mut reports = Vec::new();
        let mut windows = Vec::new();
        for call in self.calls.values_mut() {
            if call.next_quality.is_some_and(|t| now >= t) {
                call.next_quality = Some(now + interval);
                windows.push(call.id);
                // No report before the first audio packet: an unknown quality is not a good one.
                if let Some(quality) = call
                    .audio
                    .as_ref()
                    .and_then(|audio| super::audio::quality_of(call, audio))
                {
                    reports.push(Report::Quality {
                        call_id: call.id,
                        quality,
                    });
                }
            }
        }
        for report in reports {
            self.report(report);
        }
        for call_id in windows {
            self.judge_quality(now, call_id);
        }
    }
}
