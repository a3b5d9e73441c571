//! Counters and gauges for `GET /metrics`, rendered in the Prometheus text exposition format.
//! Labelled counters are keyed by `&'static str` (message types, error codes, end reasons), so
//! clients cannot grow the label set.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use ringwire_router::RouterStats;

use crate::analytics::metrics::TimelineMetrics;

/// Shared metrics; one per server.
#[derive(Debug, Default)]
pub struct Metrics {
    connections_total: AtomicU64,
    connections_open: AtomicU64,
    connections_refused: AtomicU64,
    received: Family,
    sent: Family,
    errors: Family,
    calls_started: AtomicU64,
    calls_ended: Family,
    store_write_failures: AtomicU64,
    record_commits: AtomicU64,
    record_commit_micros: AtomicU64,
    tcp_open: AtomicU64,
    tcp_total: AtomicU64,
    tcp_shed: AtomicU64,
    tcp_limit: AtomicU64,
    /// Pushes by (provider, outcome).
    pushes: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Call timelines: uploads and the figures of those stored.
    pub timelines: TimelineMetrics,
}

#[derive(Debug, Default)]
struct Family(Mutex<BTreeMap<&'static str, u64>>);

impl Family {
    fn inc(&self, label: &'static str) {
        // A poisoned lock only means another thread panicked mid-increment; counts stay usable.
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(label).or_insert(0) += 1;
    }

    fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn get(&self, label: &str) -> u64 {
        self.snapshot().get(label).copied().unwrap_or(0)
    }
}

impl Metrics {
    pub fn connection_opened(&self) {
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    pub fn open_connections(&self) -> u64 {
        self.connections_open.load(Ordering::Relaxed)
    }

    pub fn received(&self, message_type: &'static str) {
        self.received.inc(message_type);
    }

    pub fn sent(&self, message_type: &'static str) {
        self.sent.inc(message_type);
    }

    pub fn error(&self, code: &'static str) {
        self.errors.inc(code);
    }

    pub fn errors_with_code(&self, code: &str) -> u64 {
        self.errors.get(code)
    }

    pub fn call_started(&self) {
        self.calls_started.fetch_add(1, Ordering::Relaxed);
    }

    pub fn call_ended(&self, reason: &'static str) {
        self.calls_ended.inc(reason);
    }

    pub fn store_write_failed(&self) {
        self.store_write_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// One call-record transaction finished, after `took`.
    pub fn record_commit(&self, took: std::time::Duration) {
        self.record_commits.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.record_commit_micros
            .fetch_add(micros, Ordering::Relaxed);
    }

    /// A TCP connection was accepted and is being served.
    pub fn tcp_opened(&self) {
        self.tcp_total.fetch_add(1, Ordering::Relaxed);
        self.tcp_open.fetch_add(1, Ordering::Relaxed);
    }

    /// A served TCP connection closed (including upgraded WebSockets).
    pub fn tcp_closed(&self) {
        self.tcp_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// A TCP connection was refused because the server was at its connection limit.
    pub fn tcp_shed(&self) {
        self.tcp_shed.fetch_add(1, Ordering::Relaxed);
    }

    /// TCP connections served right now (HTTP and WebSocket).
    pub fn open_tcp(&self) -> u64 {
        self.tcp_open.load(Ordering::Relaxed)
    }

    /// TCP connections refused so far at the connection limit.
    pub fn shed_tcp(&self) -> u64 {
        self.tcp_shed.load(Ordering::Relaxed)
    }

    /// The connection limit in force.
    pub fn set_tcp_limit(&self, limit: usize) {
        self.tcp_limit
            .store(u64::try_from(limit).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// One push finished: `provider` is `apns`, `fcm` or `none`; `outcome` a push outcome.
    pub fn push(&self, provider: &'static str, outcome: &'static str) {
        let mut map = self.pushes.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((provider, outcome)).or_insert(0) += 1;
    }

    /// The exposition text, with the router's gauges.
    pub fn render(&self, router: RouterStats) -> String {
        let mut out = String::with_capacity(2048);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        gauge(
            &mut out,
            "ringwire_connected_devices",
            "Devices with a live signaling connection.",
            router.connected_devices as u64,
        );
        gauge(
            &mut out,
            "ringwire_websocket_connections",
            "Open WebSocket connections (including ones not yet past hello).",
            load(&self.connections_open),
        );
        counter(
            &mut out,
            "ringwire_websocket_connections_total",
            "WebSocket connections accepted.",
            load(&self.connections_total),
        );
        counter(
            &mut out,
            "ringwire_websocket_connections_refused_total",
            "WebSocket upgrades refused because the server was full.",
            load(&self.connections_refused),
        );
        gauge(
            &mut out,
            "ringwire_tcp_connections",
            "Open TCP connections (HTTP, and WebSockets upgraded from them).",
            load(&self.tcp_open),
        );
        gauge(
            &mut out,
            "ringwire_tcp_connection_limit",
            "Most TCP connections served at once (max_connections, capped below the open-file limit).",
            load(&self.tcp_limit),
        );
        counter(
            &mut out,
            "ringwire_tcp_connections_total",
            "TCP connections accepted and served.",
            load(&self.tcp_total),
        );
        counter(
            &mut out,
            "ringwire_tcp_connections_shed_total",
            "TCP connections refused (503 server_full, or closed) at the connection limit.",
            load(&self.tcp_shed),
        );
        let _ = writeln!(
            out,
            "# HELP ringwire_calls Calls the router holds, by state.\n# TYPE ringwire_calls gauge"
        );
        for (state, n) in [
            ("ringing", router.calls_ringing),
            ("active", router.calls_active),
            ("ended_retained", router.calls_ended_retained),
        ] {
            let _ = writeln!(out, "ringwire_calls{{state=\"{state}\"}} {n}");
        }
        counter(
            &mut out,
            "ringwire_calls_started_total",
            "Calls started (invites accepted by the router).",
            load(&self.calls_started),
        );
        family(
            &mut out,
            "ringwire_calls_ended_total",
            "Calls ended, by reason.",
            "reason",
            &self.calls_ended,
        );
        family(
            &mut out,
            "ringwire_messages_received_total",
            "Signaling messages received, by type.",
            "type",
            &self.received,
        );
        family(
            &mut out,
            "ringwire_messages_sent_total",
            "Signaling messages sent, by type.",
            "type",
            &self.sent,
        );
        family(
            &mut out,
            "ringwire_errors_total",
            "Error messages sent to devices, by code.",
            "code",
            &self.errors,
        );
        counter(
            &mut out,
            "ringwire_store_write_failures_total",
            "Call-record writes that failed and were retried.",
            load(&self.store_write_failures),
        );
        counter(
            &mut out,
            "ringwire_record_commits_total",
            "Call-record transactions committed (each may hold several router steps).",
            load(&self.record_commits),
        );
        counter(
            &mut out,
            "ringwire_record_commit_microseconds_total",
            "Time spent in call-record transactions, in microseconds.",
            load(&self.record_commit_micros),
        );
        let _ = writeln!(
            out,
            "# HELP ringwire_push_total Pushes finished, by provider and outcome.\n# TYPE ringwire_push_total counter"
        );
        let pushes = self
            .pushes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for ((provider, outcome), n) in pushes {
            let _ = writeln!(
                out,
                "ringwire_push_total{{provider=\"{provider}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        self.timelines.render(&mut out);
        out
    }
}

fn gauge(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
}

fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
    );
}

fn family(out: &mut String, name: &str, help: &str, label: &str, f: &Family) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (value, n) in f.snapshot() {
        let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.connection_opened();
        m.received("invite");
        m.received("invite");
        m.error("rate_limited");
        m.call_ended("hangup");
        m.push("apns", "sent");
        m.push("apns", "sent");
        m.push("fcm", "unregistered");
        let text = m.render(RouterStats {
            connected_devices: 1,
            calls_active: 2,
            ..RouterStats::default()
        });
        assert!(text.contains("ringwire_connected_devices 1\n"));
        assert!(text.contains("ringwire_calls{state=\"active\"} 2\n"));
        assert!(text.contains("ringwire_messages_received_total{type=\"invite\"} 2\n"));
        assert!(text.contains("ringwire_errors_total{code=\"rate_limited\"} 1\n"));
        assert!(text.contains("ringwire_calls_ended_total{reason=\"hangup\"} 1\n"));
        assert!(text.contains("# TYPE ringwire_calls gauge\n"));
        assert!(text.contains("ringwire_push_total{provider=\"apns\",outcome=\"sent\"} 2\n"));
        assert!(text.contains("ringwire_push_total{provider=\"fcm\",outcome=\"unregistered\"} 1\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').unwrap();
            value.parse::<u64>().unwrap();
        }
    }
}
