//! A simulated CallKit: what the native shell around a WebView reports to the OS, and the
//! actions the OS sends back. It keeps one record per call the way CallKit's call list does
//! (reported, answered, ended with a `CXCallEndedReason`), with wall-clock times so the hybrid
//! tests can measure how fast the platform learned each thing. The lock-screen answer and end
//! buttons are HTTP endpoints (`bridge-host`'s `/platform/...`), so a test can press them while
//! the WebView is frozen.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use ringwire_core::{CallKitEndReason, Direction, Report};
use ringwire_engine::EngineEvent;
use serde::Serialize;

/// One call as the platform knows it.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformCall {
    pub call_id: String,
    pub direction: Direction,
    pub remote_user: String,
    /// `reportNewIncomingCall` / `reportOutgoingCall(startedConnectingAt:)`.
    pub reported_at_ms: u64,
    /// The call was answered (here by the user, or by the far end).
    pub answered_at_ms: Option<u64>,
    /// `reportCall(with:endedAt:reason:)`, or the user's own end action.
    pub ended_at_ms: Option<u64>,
    /// `None` while live, and for calls the user ended on this device.
    pub end_reason: Option<CallKitEndReason>,
    /// The protocol end reason, for logs and tests.
    pub protocol_reason: Option<String>,
}

/// The simulated platform's call list.
#[derive(Debug, Default)]
pub struct Platform {
    calls: Mutex<Vec<PlatformCall>>,
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Platform {
    /// What the shell does with each engine report (the CallKit provider calls).
    pub fn on_engine_event(&self, event: &EngineEvent) {
        let EngineEvent::Report(report) = event else {
            return;
        };
        let now = unix_ms();
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let id = report.call_id().map(|c| c.to_string()).unwrap_or_default();
        let known = calls.iter().position(|c| c.call_id == id);
        match (report, known) {
            // A replayed incoming call is already on the list: report it once.
            (
                Report::IncomingCall {
                    from_user: remote, ..
                }
                | Report::OutgoingStarted {
                    to_user: remote, ..
                },
                None,
            ) => {
                let direction = match report {
                    Report::IncomingCall { .. } => Direction::Incoming,
                    _ => Direction::Outgoing,
                };
                calls.push(PlatformCall {
                    call_id: id,
                    direction,
                    remote_user: remote.to_string(),
                    reported_at_ms: now,
                    answered_at_ms: None,
                    ended_at_ms: None,
                    end_reason: None,
                    protocol_reason: None,
                });
            }
            (Report::Answered { .. }, Some(i)) => {
                calls[i].answered_at_ms.get_or_insert(now);
            }
            (
                Report::Ended {
                    reason, callkit, ..
                },
                Some(i),
            ) => {
                let call = &mut calls[i];
                call.ended_at_ms.get_or_insert(now);
                call.end_reason = *callkit;
                call.protocol_reason = reason.as_protocol().map(|r| r.to_string());
            }
            _ => {}
        }
        // A shell keeps a bounded call list too.
        if calls.len() > 64 {
            calls.remove(0);
        }
    }

    pub fn calls(&self) -> Vec<PlatformCall> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
