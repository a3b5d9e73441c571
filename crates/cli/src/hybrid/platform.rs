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
        match report {
            Report::IncomingCall {
                call_id, from_user, ..
            } => {
                if !calls.iter().any(|c| c.call_id == call_id.to_string()) {
                    calls.push(PlatformCall {
                        call_id: call_id.to_string(),
                        direction: Direction::Incoming,
                        remote_user: from_user.to_string(),
                        reported_at_ms: now,
                        answered_at_ms: None,
                        ended_at_ms: None,
                        end_reason: None,
                        protocol_reason: None,
                    });
                }
            }
            Report::OutgoingStarted { call_id, to_user } => calls.push(PlatformCall {
                call_id: call_id.to_string(),
                direction: Direction::Outgoing,
                remote_user: to_user.to_string(),
                reported_at_ms: now,
                answered_at_ms: None,
                ended_at_ms: None,
                end_reason: None,
                protocol_reason: None,
            }),
            Report::Answered { call_id, .. } => {
                if let Some(c) = calls.iter_mut().find(|c| c.call_id == call_id.to_string()) {
                    c.answered_at_ms.get_or_insert(now);
                }
            }
            Report::Ended {
                call_id,
                reason,
                callkit,
                ..
            } => {
                if let Some(c) = calls.iter_mut().find(|c| c.call_id == call_id.to_string()) {
                    c.ended_at_ms.get_or_insert(now);
                    c.end_reason = *callkit;
                    c.protocol_reason = reason.as_protocol().map(|r| r.to_string());
                }
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
