//! The agent's side of quality verdicts (`crate::quality`): at every quality tick of an answered
//! call it measures the window that ended (deltas of the receiver's counters, the connection's
//! RTCP figures, the audio clock's ticks), feeds the call's verdict tracker, and reports a change
//! with what the engine did about it: the sender's policy adding redundancy or lowering the
//! bitrate, or, when the path is dying (poor for two windows more with heavy loss or nothing
//! arriving), an ICE restart to move to another path, a relay included.

use std::time::Instant;

use ringwire_proto::CallId;
use tracing::info;

use super::Agent;
use crate::call::verdict::{assess, QualityAction, QualityChange, QualityFigures, Verdict, Window};
use crate::call::WindowBase;
use crate::report::Report;
use ringwire_media::{CallQuality, QualityInputs};

/// Loss (percent) from which a poor path counts as dying, and the windows in a row (once the
/// call is announced poor) after which an ICE restart is tried, once per episode.
const DYING_LOSS_PCT: f64 = 25.0;
const DYING_AFTER_POOR_WINDOWS: u32 = 3;

impl Agent {
    /// One quality window of `call_id` ended at `now`.
    pub(super) fn judge_quality(&mut self, now: Instant, call_id: CallId) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if !call.state.is_answered() || call.held || !self.audio_session_active {
            // Nothing is expected to flow: the window does not count.
            call.quality.base = None;
            return;
        }
        let Some(audio) = call.audio.as_ref() else {
            return;
        };
        let stats = audio.receiver().stats();
        let jitter = stats.jitter;
        let base = WindowBase {
            at: now,
            packets_received: jitter.packets_received,
            lost: jitter.lost,
            played: stats.frames_played,
            concealed: jitter.concealed + stats.fec_unavailable,
            capture_ticks: call.quality.capture_ticks,
        };
        let Some(previous) = call.quality.base.replace(base) else {
            // The first window starts now.
            return;
        };
        let span = now.saturating_duration_since(previous.at);
        let frame_ms = f64::from(audio.frame_ms());
        let received = base.packets_received - previous.packets_received;
        let lost = base.lost - previous.lost;
        let played = base.played - previous.played;
        let concealed = base.concealed - previous.concealed;
        let ticks = base.capture_ticks - previous.capture_ticks;
        let expected_ticks = span.as_secs_f64() * 1000.0 / frame_ms;
        let missed_ticks_pct = if expected_ticks >= 1.0 {
            ((expected_ticks - ticks as f64) / expected_ticks * 100.0).max(0.0)
        } else {
            0.0
        };
        // Each side judges what it hears: the loss on the wire towards it (its own count per
        // stats interval, before RED and FEC repair anything: redundancy hides loss from the
        // ear, not from the path), else the slots it could not fill in this window. The far end's
        // engine judges the other direction.
        let loss_pct = call
            .last_stats
            .as_ref()
            .and_then(|s| s.loss_received)
            .map(|l| f64::from(l) * 100.0)
            .unwrap_or_else(|| {
                if received + lost > 0 {
                    lost as f64 / (received + lost) as f64 * 100.0
                } else {
                    0.0
                }
            });
        let concealment_ratio = if played > 0 {
            concealed as f64 / played as f64
        } else {
            0.0
        };
        let rtt_ms = call
            .last_stats
            .as_ref()
            .and_then(|s| s.rtt)
            .map(|r| r.as_secs_f64() * 1000.0);
        let jitter_ms = call
            .last_stats
            .as_ref()
            .and_then(|s| s.jitter)
            .map_or(jitter.arrival_jitter_ms, |j| j.as_secs_f64() * 1000.0);
        // The E-model over this window alone: a call that recovered is rated as it is now.
        let mos = (received > 0).then(|| {
            CallQuality::estimate(&QualityInputs {
                rtt_ms,
                loss_pct,
                jitter_ms,
                jitter_buffer_ms: f64::from(jitter.current_delay_ms),
                concealment_ratio,
                frame_ms,
            })
            .mos
        });
        let figures = QualityFigures {
            loss_pct,
            rtt_ms,
            jitter_ms,
            concealment_ratio,
            mos,
            packets_received: received,
            missed_ticks_pct,
        };
        let window = Window {
            figures,
            connected: call.chosen_connected(),
            far_end_paused: call.quality.far_end_paused,
        };
        let policy_now = (audio.red_levels(), audio.bitrate_bps());
        let assessed = assess(&window);
        if assessed.0 == Verdict::Good {
            // What the sender did before things went wrong: the baseline of the action.
            call.quality.policy_when_good = Some(policy_now);
        }
        let change = call.quality.tracker.on_window(now, span, assessed);
        let current = call.quality.tracker.current();
        let path_dying = figures.loss_pct >= DYING_LOSS_PCT
            || (window.connected && figures.packets_received == 0);
        if current == Verdict::Good {
            call.quality.poor_windows = 0;
            call.quality.restarted_ice = false;
            call.quality.action = None;
        } else if current == Verdict::Poor && path_dying {
            call.quality.poor_windows += 1;
        } else {
            call.quality.poor_windows = 0;
        }
        let mut action = None;
        if let Some((verdict, _)) = change {
            if verdict != Verdict::Good {
                action = policy_action(call.quality.policy_when_good, policy_now);
            }
        }
        let dying =
            call.quality.poor_windows >= DYING_AFTER_POOR_WINDOWS && !call.quality.restarted_ice;
        let mut report = change;
        if dying {
            call.quality.restarted_ice = true;
            action = Some(QualityAction::RestartedIce);
            if report.is_none() {
                // Same verdict, a new action: say so.
                report = Some((current, assessed.1));
            }
        }
        if let Some(action) = action {
            call.quality.action = Some(action);
        }
        let Some((verdict, cause)) = report else {
            return;
        };
        let action = if verdict == Verdict::Good {
            None
        } else {
            call.quality.action
        };
        info!(%call_id, ?verdict, ?cause, ?action, "quality verdict");
        if dying {
            info!(%call_id, "the path is dying: restarting ICE");
            self.restart_ice_when_possible(call_id);
        }
        self.report(Report::QualityChanged {
            call_id,
            verdict: QualityChange {
                verdict,
                cause,
                action,
                figures,
            },
        });
    }
}

/// What the sender's policy did since the last good window: more redundancy, or a lower
/// bitrate (congestion).
fn policy_action(when_good: Option<(u8, u32)>, now: (u8, u32)) -> Option<QualityAction> {
    let (red_before, bitrate_before) = when_good?;
    if now.0 > red_before {
        Some(QualityAction::AddedRedundancy)
    } else if now.1 < bitrate_before {
        Some(QualityAction::LoweredBitrate)
    } else {
        None
    }
}
