//! The timeline metrics of `GET /metrics`, labelled by platform: uploads stored and refused,
//! and each stored timeline's figures ([`TimelineFigures`]) as histograms and counters. Every
//! label value comes from a closed set (platforms, error codes, end reasons, verdicts).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use ringwire_proto::{DevicePlatform, ErrorCode, QualityVerdict};

use super::figures::TimelineFigures;

/// Histogram bucket bounds, in seconds, shared by the three duration histograms: a push takes
/// a few hundred milliseconds, reporting tens, audio after an answer up to seconds.
const BUCKETS_S: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];

/// The `platform` label of a refused upload whose frame did not say (or could not be read).
pub const UNKNOWN_PLATFORM: &str = "unknown";

#[derive(Clone, Debug, Default)]
struct Histogram {
    /// Count per bucket of [`BUCKETS_S`] (not cumulative), then the overflow.
    counts: [u64; 10],
    sum_ms: u64,
}

impl Histogram {
    fn observe(&mut self, ms: u64) {
        let s = ms as f64 / 1000.0;
        let i = BUCKETS_S
            .iter()
            .position(|le| s <= *le)
            .unwrap_or(BUCKETS_S.len());
        self.counts[i] += 1;
        self.sum_ms = self.sum_ms.saturating_add(ms);
    }
}

#[derive(Debug, Default)]
struct Counts {
    stored: BTreeMap<DevicePlatform, u64>,
    refused: BTreeMap<(&'static str, &'static str), u64>,
    push_delivery: BTreeMap<DevicePlatform, Histogram>,
    push_to_report: BTreeMap<DevicePlatform, Histogram>,
    accept_to_first_audio: BTreeMap<DevicePlatform, Histogram>,
    lock_screen: BTreeMap<DevicePlatform, (u64, u64)>,
    ends: BTreeMap<(DevicePlatform, &'static str), u64>,
    verdict_ms: BTreeMap<(DevicePlatform, QualityVerdict), u64>,
}

/// The timeline metrics; one per server, inside [`crate::metrics::Metrics`].
#[derive(Debug, Default)]
pub struct TimelineMetrics(Mutex<Counts>);

impl TimelineMetrics {
    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        // A poisoned lock only means another thread panicked mid-update; counts stay usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A timeline was stored; its figures go into the histograms and counters.
    pub fn stored(&self, platform: DevicePlatform, f: &TimelineFigures) {
        let mut c = self.counts();
        *c.stored.entry(platform).or_default() += 1;
        if let Some(ms) = f.push_delivery_ms {
            c.push_delivery.entry(platform).or_default().observe(ms);
        }
        if let Some(ms) = f.push_to_report_ms {
            c.push_to_report.entry(platform).or_default().observe(ms);
        }
        if let Some(ms) = f.accept_to_first_audio_ms {
            c.accept_to_first_audio
                .entry(platform)
                .or_default()
                .observe(ms);
        }
        if let Some(with_audio) = f.lock_screen_answer {
            let entry = c.lock_screen.entry(platform).or_default();
            entry.0 += 1;
            entry.1 += u64::from(with_audio);
        }
        if let Some(end) = f.end {
            *c.ends.entry((platform, end.as_str())).or_default() += 1;
        }
        for (verdict, ms) in QualityVerdict::ALL.iter().zip(f.verdict_ms) {
            if ms > 0 {
                *c.verdict_ms.entry((platform, *verdict)).or_default() += ms;
            }
        }
    }

    /// An upload was refused with `code`; `platform` is [`UNKNOWN_PLATFORM`] when the frame
    /// did not say.
    pub fn refused(&self, platform: Option<DevicePlatform>, code: ErrorCode) {
        let label = platform.map_or(UNKNOWN_PLATFORM, DevicePlatform::as_str);
        *self
            .counts()
            .refused
            .entry((label, code.as_str()))
            .or_default() += 1;
    }

    /// Timelines stored so far from `platform` (for tests).
    pub fn stored_count(&self, platform: DevicePlatform) -> u64 {
        self.counts().stored.get(&platform).copied().unwrap_or(0)
    }

    /// Appends the exposition text.
    pub fn render(&self, out: &mut String) {
        let c = self.counts();
        header(
            out,
            "ringwire_timelines_stored_total",
            "Call timelines stored, by platform.",
            "counter",
        );
        for (p, n) in &c.stored {
            let _ = writeln!(
                out,
                "ringwire_timelines_stored_total{{platform=\"{p}\"}} {n}"
            );
        }
        header(
            out,
            "ringwire_timelines_refused_total",
            "Call timeline uploads refused, by platform (unknown when the frame did not decode) and error code.",
            "counter",
        );
        for ((p, code), n) in &c.refused {
            let _ = writeln!(
                out,
                "ringwire_timelines_refused_total{{platform=\"{p}\",code=\"{code}\"}} {n}"
            );
        }
        histogram(
            out,
            "ringwire_push_delivery_seconds",
            "Server's push send to push received on the device (device clock), by platform.",
            &c.push_delivery,
        );
        histogram(
            out,
            "ringwire_push_to_report_seconds",
            "Push received to call reported to the OS, by platform.",
            &c.push_to_report,
        );
        histogram(
            out,
            "ringwire_accept_to_first_audio_seconds",
            "Answered to first audio played, by platform.",
            &c.accept_to_first_audio,
        );
        header(
            out,
            "ringwire_lock_screen_answers_total",
            "Calls answered from the lock screen, by platform.",
            "counter",
        );
        for (p, (attempted, _)) in &c.lock_screen {
            let _ = writeln!(
                out,
                "ringwire_lock_screen_answers_total{{platform=\"{p}\"}} {attempted}"
            );
        }
        header(
            out,
            "ringwire_lock_screen_answers_with_audio_total",
            "Calls answered from the lock screen whose first audio played within 2 s, by platform.",
            "counter",
        );
        for (p, (_, with_audio)) in &c.lock_screen {
            let _ = writeln!(
                out,
                "ringwire_lock_screen_answers_with_audio_total{{platform=\"{p}\"}} {with_audio}"
            );
        }
        header(
            out,
            "ringwire_timeline_ends_total",
            "Stored timelines by how the call ended on the device (connection_lost, media_failed, ...), by platform.",
            "counter",
        );
        for ((p, reason), n) in &c.ends {
            let _ = writeln!(
                out,
                "ringwire_timeline_ends_total{{platform=\"{p}\",reason=\"{reason}\"}} {n}"
            );
        }
        header(
            out,
            "ringwire_call_quality_seconds_total",
            "Seconds of answered call time in each quality verdict, by platform.",
            "counter",
        );
        for ((p, verdict), ms) in &c.verdict_ms {
            let _ = writeln!(
                out,
                "ringwire_call_quality_seconds_total{{platform=\"{p}\",verdict=\"{verdict}\"}} {}",
                seconds(*ms)
            );
        }
    }
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    by_platform: &BTreeMap<DevicePlatform, Histogram>,
) {
    header(out, name, help, "histogram");
    for (p, h) in by_platform {
        let mut cumulative = 0;
        for (le, n) in BUCKETS_S.iter().zip(h.counts) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{platform=\"{p}\",le=\"{le}\"}} {cumulative}"
            );
        }
        let count: u64 = h.counts.iter().sum();
        let _ = writeln!(out, "{name}_bucket{{platform=\"{p}\",le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{platform=\"{p}\"}} {}", seconds(h.sum_ms));
        let _ = writeln!(out, "{name}_count{{platform=\"{p}\"}} {count}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringwire_proto::{EndReason, TimelineEndReason};

    #[test]
    fn renders_histograms_and_labelled_counters() {
        let m = TimelineMetrics::default();
        m.stored(
            DevicePlatform::Ios,
            &TimelineFigures {
                push_delivery_ms: Some(300),
                push_to_report_ms: Some(40),
                lock_screen_answer: Some(true),
                accept_to_first_audio_ms: Some(1_500),
                end: Some(TimelineEndReason::Protocol(EndReason::ConnectionLost)),
                verdict_ms: [10_000, 0, 2_500],
            },
        );
        m.stored(
            DevicePlatform::Ios,
            &TimelineFigures {
                push_delivery_ms: Some(45_000),
                lock_screen_answer: Some(false),
                ..TimelineFigures::default()
            },
        );
        m.refused(None, ErrorCode::InvalidField);
        m.refused(Some(DevicePlatform::Android), ErrorCode::AlreadyStored);
        let mut text = String::new();
        m.render(&mut text);
        for line in [
            "ringwire_timelines_stored_total{platform=\"ios\"} 2",
            "ringwire_timelines_refused_total{platform=\"unknown\",code=\"invalid_field\"} 1",
            "ringwire_timelines_refused_total{platform=\"android\",code=\"already_stored\"} 1",
            "ringwire_push_delivery_seconds_bucket{platform=\"ios\",le=\"0.25\"} 0",
            "ringwire_push_delivery_seconds_bucket{platform=\"ios\",le=\"0.5\"} 1",
            "ringwire_push_delivery_seconds_bucket{platform=\"ios\",le=\"30\"} 1",
            "ringwire_push_delivery_seconds_bucket{platform=\"ios\",le=\"+Inf\"} 2",
            "ringwire_push_delivery_seconds_sum{platform=\"ios\"} 45.300",
            "ringwire_push_delivery_seconds_count{platform=\"ios\"} 2",
            "ringwire_push_to_report_seconds_bucket{platform=\"ios\",le=\"0.05\"} 1",
            "ringwire_accept_to_first_audio_seconds_bucket{platform=\"ios\",le=\"2\"} 1",
            "ringwire_lock_screen_answers_total{platform=\"ios\"} 2",
            "ringwire_lock_screen_answers_with_audio_total{platform=\"ios\"} 1",
            "ringwire_timeline_ends_total{platform=\"ios\",reason=\"connection_lost\"} 1",
            "ringwire_call_quality_seconds_total{platform=\"ios\",verdict=\"good\"} 10.000",
            "ringwire_call_quality_seconds_total{platform=\"ios\",verdict=\"poor\"} 2.500",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("verdict=\"fair\""));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').expect("name value");
            value.parse::<f64>().expect("a number");
        }
    }
}
