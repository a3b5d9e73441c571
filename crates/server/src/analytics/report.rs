//! Many timelines summed into the figures of `GET /v1/admin/analytics`: in total, per platform,
//! and optionally per time bucket. Pure; the store feeds it one timeline at a time.
//!
//! What cannot be known is `null`, never 0: a percentile without samples, a rate without
//! attempts, a share without any time in a verdict. Percentiles are nearest-rank (`p95` of 20
//! samples is the 19th smallest), so each one is a value some device reported.

use std::collections::{BTreeMap, BTreeSet};

use ringwire_proto::{CallId, DevicePlatform, EndReason, QualityVerdict, TimelineEndReason};
use serde::Serialize;

use super::figures::TimelineFigures;
use crate::store::StoredTimeline;

/// Most buckets one request may ask for.
pub const MAX_BUCKETS: u64 = 500;

/// Summed figures of some timelines.
#[derive(Clone, Debug, Default)]
struct Tally {
    calls: BTreeSet<CallId>,
    timelines: u64,
    push_delivery_ms: Vec<u64>,
    push_to_report_ms: Vec<u64>,
    lock_screen_attempted: u64,
    lock_screen_succeeded: u64,
    accept_to_first_audio_ms: Vec<u64>,
    ended_connection_lost: u64,
    ended_media_failed: u64,
    ended_failed: u64,
    verdict_ms: [u64; 3],
}

impl Tally {
    fn add(&mut self, call: CallId, f: &TimelineFigures) {
        self.calls.insert(call);
        self.timelines += 1;
        self.push_delivery_ms.extend(f.push_delivery_ms);
        self.push_to_report_ms.extend(f.push_to_report_ms);
        if let Some(with_audio) = f.lock_screen_answer {
            self.lock_screen_attempted += 1;
            self.lock_screen_succeeded += u64::from(with_audio);
        }
        self.accept_to_first_audio_ms
            .extend(f.accept_to_first_audio_ms);
        match f.end {
            Some(TimelineEndReason::Protocol(EndReason::ConnectionLost)) => {
                self.ended_connection_lost += 1;
            }
            Some(TimelineEndReason::Protocol(EndReason::MediaFailed)) => {
                self.ended_media_failed += 1;
            }
            Some(TimelineEndReason::Failed) => self.ended_failed += 1,
            _ => {}
        }
        for (sum, ms) in self.verdict_ms.iter_mut().zip(f.verdict_ms) {
            *sum += ms;
        }
    }

    fn figures(mut self) -> Figures {
        let answered_ms: u64 = self.verdict_ms.iter().sum();
        let seconds = |i: usize| self.verdict_ms[i] as f64 / 1000.0;
        Figures {
            calls: self.calls.len() as u64,
            timelines: self.timelines,
            push_delivery_ms: Percentiles::of(&mut self.push_delivery_ms),
            time_to_report_ms: Percentiles::of(&mut self.push_to_report_ms),
            lock_screen_answers: LockScreen {
                attempted: self.lock_screen_attempted,
                succeeded: self.lock_screen_succeeded,
                rate: ratio(self.lock_screen_succeeded, self.lock_screen_attempted),
            },
            accept_to_first_audio_ms: Percentiles::of(&mut self.accept_to_first_audio_ms),
            ended: Ended {
                connection_lost: self.ended_connection_lost,
                media_failed: self.ended_media_failed,
                failed: self.ended_failed,
            },
            call_time_s: VerdictTime {
                good: seconds(0),
                fair: seconds(1),
                poor: seconds(2),
            },
            poor_share: ratio(
                self.verdict_ms[super::figures::verdict_index(QualityVerdict::Poor)],
                answered_ms,
            ),
        }
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The figures of one group of timelines, as the endpoint returns them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figures {
    /// Distinct calls with at least one timeline in the group.
    pub calls: u64,
    /// Timelines (one per device and call).
    pub timelines: u64,
    /// Server's push send → push received on the device.
    pub push_delivery_ms: Percentiles,
    /// Push received → call reported to the OS.
    pub time_to_report_ms: Percentiles,
    pub lock_screen_answers: LockScreen,
    /// Answered → first audio played.
    pub accept_to_first_audio_ms: Percentiles,
    /// Timelines whose call ended so (each device reports its own end).
    pub ended: Ended,
    /// Seconds of answered call time in each verdict.
    pub call_time_s: VerdictTime,
    /// `poor` seconds over all seconds with a verdict.
    pub poor_share: Option<f64>,
}

/// Median and 95th percentile of some durations, in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    pub samples: u64,
    pub p50: Option<u64>,
    pub p95: Option<u64>,
}

impl Percentiles {
    fn of(samples: &mut [u64]) -> Percentiles {
        samples.sort_unstable();
        Percentiles {
            samples: samples.len() as u64,
            p50: nearest_rank(samples, 50),
            p95: nearest_rank(samples, 95),
        }
    }
}

/// The `percent`th percentile of sorted `samples` by nearest rank.
fn nearest_rank(sorted: &[u64], percent: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// Answers from the lock screen, and how many had audio within 2 s.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LockScreen {
    pub attempted: u64,
    pub succeeded: u64,
    pub rate: Option<f64>,
}

/// Timelines by how their call ended. ICE failures are in `media_failed`: the engine ends an
/// answered call whose ICE failed (or never connected) that way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ended {
    pub connection_lost: u64,
    pub media_failed: u64,
    /// The call never got going on the device.
    pub failed: u64,
}

/// Seconds in each verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VerdictTime {
    pub good: f64,
    pub fair: f64,
    pub poor: f64,
}

/// Totals and per-platform figures of one stretch of time.
#[derive(Clone, Debug, Default)]
struct Group {
    total: Tally,
    platforms: BTreeMap<DevicePlatform, Tally>,
}

impl Group {
    fn add(&mut self, t: &StoredTimeline, f: &TimelineFigures) {
        let call = t.timeline.call_id();
        self.total.add(call, f);
        self.platforms
            .entry(t.timeline.platform())
            .or_default()
            .add(call, f);
    }

    fn report(self, from_ms: u64, to_ms: u64) -> GroupReport {
        GroupReport {
            from_ms,
            to_ms,
            total: self.total.figures(),
            platforms: self
                .platforms
                .into_iter()
                .map(|(p, tally)| (p, tally.figures()))
                .collect(),
        }
    }
}

/// The figures of `[from_ms, to_ms)`: in total and for each platform that uploaded timelines.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupReport {
    pub from_ms: u64,
    pub to_ms: u64,
    pub total: Figures,
    pub platforms: BTreeMap<DevicePlatform, Figures>,
}

/// What the endpoint returns: the whole range, and with a bucket size its buckets in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnalyticsReport {
    #[serde(flatten)]
    pub range: GroupReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<GroupReport>>,
}

/// Sums timelines of calls invited in `[from_ms, to_ms)` (the caller reads only those).
#[derive(Debug)]
pub struct Analytics {
    from_ms: u64,
    to_ms: u64,
    range: Group,
    bucket_ms: Option<u64>,
    buckets: Vec<Group>,
}

impl Analytics {
    /// With `bucket_ms`, the range is also cut into buckets of that size from `from_ms` (the
    /// last one may be shorter); the caller checks [`Analytics::buckets_needed`] first.
    pub fn new(from_ms: u64, to_ms: u64, bucket_ms: Option<u64>) -> Analytics {
        let count = bucket_ms.map_or(0, |b| Analytics::buckets_needed(from_ms, to_ms, b));
        Analytics {
            from_ms,
            to_ms,
            range: Group::default(),
            bucket_ms,
            buckets: vec![Group::default(); usize::try_from(count).unwrap_or(0)],
        }
    }

    /// How many buckets of `bucket_ms` cover `[from_ms, to_ms)`.
    pub fn buckets_needed(from_ms: u64, to_ms: u64, bucket_ms: u64) -> u64 {
        to_ms.saturating_sub(from_ms).div_ceil(bucket_ms.max(1))
    }

    /// Adds one timeline.
    pub fn add(&mut self, t: &StoredTimeline) {
        if t.invited_at_ms < self.from_ms || t.invited_at_ms >= self.to_ms {
            return;
        }
        let figures = TimelineFigures::of(&t.timeline);
        self.range.add(t, &figures);
        if let Some(size) = self.bucket_ms {
            let i = (t.invited_at_ms - self.from_ms) / size.max(1);
            if let Some(bucket) = usize::try_from(i)
                .ok()
                .and_then(|i| self.buckets.get_mut(i))
            {
                bucket.add(t, &figures);
            }
        }
    }

    /// The report.
    pub fn finish(self) -> AnalyticsReport {
        let (from, to) = (self.from_ms, self.to_ms);
        let series = self.bucket_ms.map(|size| {
            self.buckets
                .into_iter()
                .zip(0u64..)
                .map(|(group, i)| {
                    let start = from + i * size;
                    group.report(start, (start + size).min(to))
                })
                .collect()
        });
        AnalyticsReport {
            range: self.range.report(from, to),
            bucket_ms: self.bucket_ms,
            series,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringwire_proto::{
        CallDirection, CallTimeline, DeviceId, TimelineEvent, TimelineEventKind as K,
    };

    fn stored(
        call: u8,
        platform: DevicePlatform,
        invited: u64,
        events: Vec<(u64, K)>,
    ) -> StoredTimeline {
        let events = events
            .into_iter()
            .map(|(at, kind)| TimelineEvent::new(at, kind))
            .collect();
        StoredTimeline {
            device_id: DeviceId::from_bytes([call; 16]),
            uploaded_at_ms: invited + 60_000,
            invited_at_ms: invited,
            timeline: CallTimeline::new(
                CallId::from_bytes([call; 16]),
                platform,
                CallDirection::Incoming,
                events,
            )
            .expect("valid"),
        }
    }

    #[test]
    fn percentiles_are_nearest_rank_and_none_without_samples() {
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(nearest_rank(&[7], 95), Some(7));
        assert_eq!(nearest_rank(&[1, 2], 50), Some(1));
        let twenty: Vec<u64> = (1..=20).collect();
        assert_eq!(nearest_rank(&twenty, 50), Some(10));
        assert_eq!(nearest_rank(&twenty, 95), Some(19));
        assert_eq!(nearest_rank(&twenty, 100), Some(20));
    }

    #[test]
    fn figures_sum_per_platform_and_bucket_and_unknowns_are_null() {
        let mut a = Analytics::new(0, 3_000, Some(1_000));
        a.add(&stored(
            1,
            DevicePlatform::Ios,
            10,
            vec![
                (
                    100,
                    K::PushReceived {
                        sent_at_ms: Some(0),
                    },
                ),
                (150, K::ReportedToOs {}),
                (
                    1_000,
                    K::Answered {
                        from_lock_screen: true,
                    },
                ),
                (1_500, K::FirstAudio {}),
                (
                    1_500,
                    K::Quality {
                        verdict: QualityVerdict::Poor,
                        cause: None,
                        action: None,
                    },
                ),
                (
                    3_500,
                    K::Ended {
                        reason: TimelineEndReason::Protocol(EndReason::ConnectionLost),
                        ended_locally: false,
                    },
                ),
            ],
        ));
        a.add(&stored(
            2,
            DevicePlatform::Android,
            2_500,
            vec![
                (0, K::RingingShown {}),
                (
                    9,
                    K::Ended {
                        reason: TimelineEndReason::Protocol(EndReason::NoAnswer),
                        ended_locally: false,
                    },
                ),
            ],
        ));
        // Outside the range: ignored.
        a.add(&stored(
            3,
            DevicePlatform::Ios,
            3_000,
            vec![(0, K::FirstAudio {})],
        ));
        let report = a.finish();
        let total = &report.range.total;
        assert_eq!((total.calls, total.timelines), (2, 2));
        assert_eq!(
            total.push_delivery_ms,
            Percentiles {
                samples: 1,
                p50: Some(100),
                p95: Some(100)
            }
        );
        assert_eq!(total.time_to_report_ms.p50, Some(50));
        assert_eq!(total.lock_screen_answers.rate, Some(1.0));
        assert_eq!(total.accept_to_first_audio_ms.p95, Some(500));
        assert_eq!(
            total.ended,
            Ended {
                connection_lost: 1,
                media_failed: 0,
                failed: 0
            }
        );
        assert_eq!(total.call_time_s.poor, 2.0);
        assert_eq!(total.poor_share, Some(1.0));

        let android = &report.range.platforms[&DevicePlatform::Android];
        assert_eq!(android.calls, 1);
        assert_eq!(
            android.push_delivery_ms,
            Percentiles {
                samples: 0,
                p50: None,
                p95: None
            }
        );
        assert_eq!(
            android.lock_screen_answers,
            LockScreen {
                attempted: 0,
                succeeded: 0,
                rate: None
            }
        );
        assert_eq!(android.poor_share, None);
        assert!(!report.range.platforms.contains_key(&DevicePlatform::Web));

        let series = report.series.expect("buckets");
        assert_eq!(series.len(), 3);
        assert_eq!(
            series.iter().map(|b| b.total.timelines).collect::<Vec<_>>(),
            vec![1, 0, 1]
        );
        assert_eq!((series[2].from_ms, series[2].to_ms), (2_000, 3_000));
        assert_eq!(series[1].total.poor_share, None);

        let json = serde_json::to_value(&report.range).expect("json");
        assert!(json["platforms"]["android"]["lock_screen_answers"]["rate"].is_null());
        assert_eq!(json["total"]["lock_screen_answers"]["rate"], 1.0);
    }

    #[test]
    fn the_last_bucket_is_cut_at_the_end_of_the_range() {
        assert_eq!(Analytics::buckets_needed(0, 2_500, 1_000), 3);
        assert_eq!(Analytics::buckets_needed(5, 5, 1_000), 0);
        let report = Analytics::new(0, 2_500, Some(1_000)).finish();
        let series = report.series.expect("buckets");
        assert_eq!((series[2].from_ms, series[2].to_ms), (2_000, 2_500));
    }
}
