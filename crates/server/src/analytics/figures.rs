//! One device's timeline reduced to the figures an operator looks at. Pure: the Prometheus
//! metrics (at upload) and the analytics endpoint (from the store) both use
//! [`TimelineFigures::of`], so the two always agree on what a timeline means.
//!
//! The rules, each figure taken from the first event of its kind:
//! - **push delivery**: `push_received.at_ms − push_received.sent_at_ms`. The two times come
//!   from different clocks (the device's and the server's), so the figure is off by the device's
//!   clock offset; a negative difference is a clock that is certainly wrong and gives no figure.
//! - **time to report**: `push_received` → the first `reported_to_os` after it.
//! - **lock-screen answer**: an `answered` with `from_lock_screen: true`; it succeeded when a
//!   `first_audio` follows within [`LOCK_SCREEN_AUDIO_WITHIN_MS`] of it.
//! - **accept → first audio**: `answered` → the first `first_audio` after it.
//! - **end**: the reason of the first `ended`.
//! - **time in each verdict**: a `quality` verdict holds from its event until the next `quality`
//!   event or the end of the call (the first `ended`, else the last event), whichever is first.

use ringwire_proto::{
    CallTimeline, QualityVerdict, TimelineEndReason, TimelineEvent, TimelineEventKind,
};

/// An answer from the lock screen succeeds when audio plays within this long.
pub const LOCK_SCREEN_AUDIO_WITHIN_MS: u64 = 2000;

/// The figures of one timeline; `None` where the timeline does not tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimelineFigures {
    pub push_delivery_ms: Option<u64>,
    pub push_to_report_ms: Option<u64>,
    /// `Some(with_audio)` for an answer from the lock screen.
    pub lock_screen_answer: Option<bool>,
    pub accept_to_first_audio_ms: Option<u64>,
    pub end: Option<TimelineEndReason>,
    /// Milliseconds spent in each verdict, indexed like [`QualityVerdict::ALL`].
    pub verdict_ms: [u64; 3],
}

impl TimelineFigures {
    /// The figures of `timeline`.
    pub fn of(timeline: &CallTimeline) -> TimelineFigures {
        let events = timeline.events();
        let first = |from: usize, want: fn(&TimelineEventKind) -> bool| {
            events
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, e)| want(&e.kind))
        };
        let mut figures = TimelineFigures::default();

        if let Some((i, push)) = first(0, |k| matches!(k, TimelineEventKind::PushReceived { .. })) {
            if let TimelineEventKind::PushReceived {
                sent_at_ms: Some(sent),
            } = push.kind
            {
                figures.push_delivery_ms = push.at_ms.checked_sub(sent);
            }
            figures.push_to_report_ms =
                first(i + 1, |k| matches!(k, TimelineEventKind::ReportedToOs {}))
                    .map(|(_, e)| e.at_ms - push.at_ms);
        }

        if let Some((i, answered)) = first(0, |k| matches!(k, TimelineEventKind::Answered { .. })) {
            let audio = first(i + 1, |k| matches!(k, TimelineEventKind::FirstAudio {}))
                .map(|(_, e)| e.at_ms - answered.at_ms);
            figures.accept_to_first_audio_ms = audio;
            if let TimelineEventKind::Answered {
                from_lock_screen: true,
            } = answered.kind
            {
                figures.lock_screen_answer =
                    Some(audio.is_some_and(|ms| ms <= LOCK_SCREEN_AUDIO_WITHIN_MS));
            }
        }

        let ended = first(0, |k| matches!(k, TimelineEventKind::Ended { .. }));
        if let Some((
            _,
            TimelineEvent {
                kind: TimelineEventKind::Ended { reason, .. },
                ..
            },
        )) = ended
        {
            figures.end = Some(*reason);
        }
        let end_at = ended
            .map(|(_, e)| e.at_ms)
            .or(events.last().map(|e| e.at_ms))
            .unwrap_or_default();
        figures.verdict_ms = verdict_time(events, end_at);
        figures
    }
}

/// The index of `verdict` in [`QualityVerdict::ALL`] (and in `verdict_ms`).
pub fn verdict_index(verdict: QualityVerdict) -> usize {
    QualityVerdict::ALL
        .iter()
        .position(|v| *v == verdict)
        .unwrap_or_default()
}

fn verdict_time(events: &[TimelineEvent], end_at: u64) -> [u64; 3] {
    let mut held = [0u64; 3];
    let mut current: Option<(QualityVerdict, u64)> = None;
    for event in events {
        if let TimelineEventKind::Quality { verdict, .. } = event.kind {
            if let Some((was, since)) = current {
                held[verdict_index(was)] += event.at_ms.min(end_at).saturating_sub(since);
            }
            current = Some((verdict, event.at_ms));
        }
    }
    if let Some((was, since)) = current {
        held[verdict_index(was)] += end_at.saturating_sub(since);
    }
    held
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringwire_proto::{CallDirection, CallId, DevicePlatform, EndReason};
    use TimelineEventKind as K;

    fn timeline(events: Vec<(u64, TimelineEventKind)>) -> CallTimeline {
        let events = events
            .into_iter()
            .map(|(at, kind)| TimelineEvent::new(at, kind))
            .collect();
        CallTimeline::new(
            CallId::from_bytes([1; 16]),
            DevicePlatform::Ios,
            CallDirection::Incoming,
            events,
        )
        .expect("valid")
    }

    fn quality(verdict: QualityVerdict) -> TimelineEventKind {
        K::Quality {
            verdict,
            cause: None,
            action: None,
        }
    }

    fn ended(reason: EndReason) -> TimelineEventKind {
        K::Ended {
            reason: TimelineEndReason::Protocol(reason),
            ended_locally: false,
        }
    }

    #[test]
    fn a_push_woken_lock_screen_answer_with_audio() {
        let f = TimelineFigures::of(&timeline(vec![
            (
                1_000,
                K::PushReceived {
                    sent_at_ms: Some(700),
                },
            ),
            (1_040, K::ReportedToOs {}),
            (1_050, K::RingingShown {}),
            (
                4_000,
                K::Answered {
                    from_lock_screen: true,
                },
            ),
            (4_200, K::MediaConnected {}),
            (5_500, K::FirstAudio {}),
            (5_500, quality(QualityVerdict::Good)),
            (15_500, quality(QualityVerdict::Poor)),
            (20_500, quality(QualityVerdict::Good)),
            (25_500, ended(EndReason::Hangup)),
        ]));
        assert_eq!(f.push_delivery_ms, Some(300));
        assert_eq!(f.push_to_report_ms, Some(40));
        assert_eq!(f.lock_screen_answer, Some(true));
        assert_eq!(f.accept_to_first_audio_ms, Some(1_500));
        assert_eq!(f.end, Some(TimelineEndReason::Protocol(EndReason::Hangup)));
        assert_eq!(f.verdict_ms, [15_000, 0, 5_000]);
    }

    #[test]
    fn late_audio_fails_a_lock_screen_answer_and_no_audio_gives_no_figure() {
        let late = TimelineFigures::of(&timeline(vec![
            (
                0,
                K::Answered {
                    from_lock_screen: true,
                },
            ),
            (2_001, K::FirstAudio {}),
        ]));
        assert_eq!(late.lock_screen_answer, Some(false));
        assert_eq!(late.accept_to_first_audio_ms, Some(2_001));
        let silent = TimelineFigures::of(&timeline(vec![
            (
                0,
                K::Answered {
                    from_lock_screen: true,
                },
            ),
            (9_000, ended(EndReason::MediaFailed)),
        ]));
        assert_eq!(silent.lock_screen_answer, Some(false));
        assert_eq!(silent.accept_to_first_audio_ms, None);
        let foreground = TimelineFigures::of(&timeline(vec![
            (
                0,
                K::Answered {
                    from_lock_screen: false,
                },
            ),
            (100, K::FirstAudio {}),
        ]));
        assert_eq!(foreground.lock_screen_answer, None);
        assert_eq!(foreground.accept_to_first_audio_ms, Some(100));
    }

    #[test]
    fn unknowns_stay_unknown() {
        // No push, no answer, no verdict: a missed call seen on a socket.
        let f = TimelineFigures::of(&timeline(vec![
            (0, K::ReportedToOs {}),
            (10, K::RingingShown {}),
            (45_000, ended(EndReason::NoAnswer)),
        ]));
        assert_eq!(
            f,
            TimelineFigures {
                end: Some(TimelineEndReason::Protocol(EndReason::NoAnswer)),
                ..TimelineFigures::default()
            }
        );
        // A push without the server's send time, and a device clock behind the server's.
        let f = TimelineFigures::of(&timeline(vec![(5, K::PushReceived { sent_at_ms: None })]));
        assert_eq!(f.push_delivery_ms, None);
        assert_eq!(f.push_to_report_ms, None);
        let f = TimelineFigures::of(&timeline(vec![(
            5,
            K::PushReceived {
                sent_at_ms: Some(9),
            },
        )]));
        assert_eq!(f.push_delivery_ms, None);
    }

    #[test]
    fn a_verdict_without_an_end_holds_until_the_last_event_and_not_past_the_end() {
        let f = TimelineFigures::of(&timeline(vec![
            (0, quality(QualityVerdict::Fair)),
            (
                3_000,
                K::AppState {
                    state: ringwire_proto::AppState::Background,
                },
            ),
        ]));
        assert_eq!(f.verdict_ms, [0, 3_000, 0]);
        let f = TimelineFigures::of(&timeline(vec![
            (0, quality(QualityVerdict::Poor)),
            (1_000, ended(EndReason::ConnectionLost)),
            (1_500, quality(QualityVerdict::Good)),
        ]));
        assert_eq!(f.verdict_ms, [0, 0, 1_000]);
        assert_eq!(
            f.end,
            Some(TimelineEndReason::Protocol(EndReason::ConnectionLost))
        );
    }
}
