//! The app's [`EngineListener`] and the [`EngineEvent`]s it receives: the engine's events and
//! reports, one enum, ids as strings.
//!
//! Callbacks run on the engine thread: return quickly, and never call the engine from one
//! (hand the work to another queue). [`Forward`] remembers which thread that is so the
//! [`Engine`](super::Engine) can refuse such a call instead of deadlocking, and keeps a
//! throwing listener from taking the engine thread down with it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};
use std::thread::ThreadId;

use ringwire_core::{CallKitEndReason, Direction, QualityChange, Report};
use ringwire_media::CallQuality;

use super::peer::PeerSignal;
use super::types::{millis, CallEndReason, CallSummary};
use super::RingwireError;

/// Receives the engine's events, on the engine thread. Implemented by the app.
///
/// Exported as `foreign` (UniFFI 0.32's name for it; `with_foreign` is its deprecated alias):
/// the app implements it, Rust only calls it.
#[uniffi::export(foreign)]
pub trait EngineListener: Send + Sync {
    /// One event. Return quickly: the engine thread (audio, media, signaling) waits meanwhile.
    fn on_event(&self, event: EngineEvent);
}

/// Everything the engine tells the app, in order.
// `Ended` carries the whole call summary; the enum crosses the FFI by value (UniFFI lowers
// it into a buffer), so boxing the big variant would save nothing and Box is no FFI type.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum EngineEvent {
    /// A call came in: report it to the OS at once (CallKit `reportNewIncomingCall`).
    /// `replayed`: the server repeats it to a device that (re)connected.
    IncomingCall {
        call_id: String,
        from_user: String,
        from_display_name: Option<String>,
        replayed: bool,
    },
    /// This device placed a call (CallKit `reportOutgoingCall(startedConnectingAt:)`).
    OutgoingStarted { call_id: String, to_user: String },
    /// The callee's phone rings: play ringback.
    RemoteRinging { call_id: String },
    /// The call was answered (here or there): stop ringing. Audio starts once the audio
    /// session is active.
    Answered {
        call_id: String,
        remote_device: String,
    },
    /// Media flows both ways (CallKit `reportOutgoingCall(connectedAt:)`).
    Connected { call_id: String },
    /// The first decoded audio frame was played.
    FirstAudio { call_id: String },
    /// The far end pressed a DTMF key (`0`-`9`, `*`, `#`, `A`-`D`), once per press.
    DtmfReceived { call_id: String, digit: String },
    /// The network path broke; the engine is restoring it.
    Reconnecting { call_id: String },
    /// The path is back.
    Reconnected { call_id: String },
    /// Periodic call quality.
    Quality {
        call_id: String,
        quality: CallQuality,
    },
    /// The call's quality verdict changed: show it ("Poor connection, trying to improve…").
    QualityChanged {
        call_id: String,
        verdict: QualityChange,
    },
    /// The call is over. `callkit` is how to report it to CallKit (`None`: the user ended it
    /// on this device, CallKit already knows).
    Ended {
        call_id: String,
        direction: Direction,
        reason: CallEndReason,
        ended_locally: bool,
        callkit: Option<CallKitEndReason>,
        summary: CallSummary,
    },
    /// A command was refused or something needs attention; the call (if any) goes on.
    Error {
        call_id: Option<String>,
        message: String,
    },
    /// The signaling server accepted this device.
    SignalingUp { user: String, device_id: String },
    /// The signaling connection dropped; the engine reconnects by itself and calls go on.
    SignalingDown { reason: String, retry_in_ms: u64 },
    /// The engine closed the signaling connection on purpose: no call, and the app is not in
    /// the foreground (`set_app_state`). The server reaches this device by push now.
    SignalingPaused,
    /// The engine stopped for good (the server refused the device token).
    Fatal { message: String },
    /// Deliver `signal` to the peer of peer-mode call `call_id` over the app's own channel,
    /// in the order these events come (`Engine::start_peer_call`).
    PeerSignal { call_id: String, signal: PeerSignal },
}

impl From<&ringwire_engine::EngineEvent> for EngineEvent {
    fn from(event: &ringwire_engine::EngineEvent) -> Self {
        use ringwire_engine::EngineEvent as E;
        match event {
            E::Report(report) => report.into(),
            E::SignalingConnected { user, device_id } => EngineEvent::SignalingUp {
                user: user.clone(),
                device_id: device_id.to_string(),
            },
            E::SignalingDisconnected { reason, retry_in } => EngineEvent::SignalingDown {
                reason: reason.clone(),
                retry_in_ms: millis(*retry_in),
            },
            E::SignalingPaused => EngineEvent::SignalingPaused,
            E::Fatal { message } => EngineEvent::Fatal {
                message: message.clone(),
            },
            E::PeerSignal { call_id, signal } => EngineEvent::PeerSignal {
                call_id: call_id.to_string(),
                signal: signal.into(),
            },
        }
    }
}

impl From<&Report> for EngineEvent {
    fn from(report: &Report) -> Self {
        let id = |c: &ringwire_proto::CallId| c.to_string();
        match report {
            Report::IncomingCall {
                call_id,
                from_user,
                from_display_name,
                replayed,
            } => EngineEvent::IncomingCall {
                call_id: id(call_id),
                from_user: from_user.to_string(),
                from_display_name: from_display_name.as_ref().map(|d| d.to_string()),
                replayed: *replayed,
            },
            Report::OutgoingStarted { call_id, to_user } => EngineEvent::OutgoingStarted {
                call_id: id(call_id),
                to_user: to_user.to_string(),
            },
            Report::RemoteRinging { call_id } => EngineEvent::RemoteRinging {
                call_id: id(call_id),
            },
            Report::Answered {
                call_id,
                remote_device,
            } => EngineEvent::Answered {
                call_id: id(call_id),
                remote_device: remote_device.to_string(),
            },
            Report::Connected { call_id } => EngineEvent::Connected {
                call_id: id(call_id),
            },
            Report::FirstAudio { call_id } => EngineEvent::FirstAudio {
                call_id: id(call_id),
            },
            Report::DtmfReceived { call_id, digit } => EngineEvent::DtmfReceived {
                call_id: id(call_id),
                digit: digit.to_string(),
            },
            Report::Reconnecting { call_id } => EngineEvent::Reconnecting {
                call_id: id(call_id),
            },
            Report::Reconnected { call_id } => EngineEvent::Reconnected {
                call_id: id(call_id),
            },
            Report::Quality { call_id, quality } => EngineEvent::Quality {
                call_id: id(call_id),
                quality: *quality,
            },
            Report::QualityChanged { call_id, verdict } => EngineEvent::QualityChanged {
                call_id: id(call_id),
                verdict: *verdict,
            },
            Report::Ended {
                call_id,
                direction,
                reason,
                ended_locally,
                callkit,
                summary,
            } => EngineEvent::Ended {
                call_id: id(call_id),
                direction: *direction,
                reason: reason.into(),
                ended_locally: *ended_locally,
                callkit: *callkit,
                summary: summary.as_ref().into(),
            },
            Report::Error { call_id, message } => EngineEvent::Error {
                call_id: call_id.as_ref().map(id),
                message: message.clone(),
            },
        }
    }
}

/// Which thread runs the listener callbacks: learned from the first event (no callback can run
/// before it, so no call can come from one either).
#[derive(Debug, Clone, Default)]
pub(crate) struct EngineThread(Arc<OnceLock<ThreadId>>);

impl EngineThread {
    fn note(&self) {
        self.0.get_or_init(|| std::thread::current().id());
    }

    /// Refuses a call made from the engine thread (a listener calling back into the engine).
    pub(crate) fn check(&self) -> Result<(), RingwireError> {
        if self.0.get() == Some(&std::thread::current().id()) {
            Err(RingwireError::CalledFromListener)
        } else {
            Ok(())
        }
    }
}

/// The engine's listener: converts each event and hands it to the app's listener (and, for a
/// [`Bridge`](super::Bridge), to the JSON bridge first).
pub(crate) struct Forward {
    pub(crate) app: Option<Arc<dyn EngineListener>>,
    pub(crate) bridge: Option<Arc<crate::bridge::BridgeEvents>>,
    pub(crate) thread: EngineThread,
}

impl ringwire_engine::EngineListener for Forward {
    fn on_event(&self, event: ringwire_engine::EngineEvent) {
        self.thread.note();
        if let Some(bridge) = &self.bridge {
            bridge.on_engine_event(&event);
        }
        if let Some(app) = &self.app {
            let event = EngineEvent::from(&event);
            // A listener that throws (UniFFI turns that into a panic) must not end every call
            // on this device: the engine thread survives it and says so in the log.
            if catch_unwind(AssertUnwindSafe(|| app.on_event(event))).is_err() {
                tracing::error!("the app's EngineListener failed; event dropped");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringwire_proto::{CallId, EndReason};

    #[test]
    fn an_ended_report_keeps_reason_callkit_and_locality() {
        let call_id = CallId::random();
        let report = Report::Ended {
            call_id,
            direction: ringwire_core::Direction::Incoming,
            reason: ringwire_core::CallEndReason::protocol(EndReason::Hangup),
            ended_locally: false,
            callkit: Some(ringwire_core::CallKitEndReason::RemoteEnded),
            summary: Box::default(),
        };
        match EngineEvent::from(&report) {
            EngineEvent::Ended {
                call_id: id,
                direction,
                reason,
                ended_locally,
                callkit,
                ..
            } => {
                assert_eq!(id, call_id.to_string());
                assert_eq!(direction, Direction::Incoming);
                assert_eq!(
                    reason,
                    CallEndReason::Protocol {
                        reason: EndReason::Hangup
                    }
                );
                assert!(!ended_locally);
                assert_eq!(callkit, Some(CallKitEndReason::RemoteEnded));
            }
            other => panic!("expected Ended, got {other:?}"),
        }
    }

    #[test]
    fn the_engine_thread_is_refused_other_threads_are_not() {
        let thread = EngineThread::default();
        assert_eq!(thread.check(), Ok(()), "no event yet: nothing to refuse");
        thread.note();
        assert_eq!(thread.check(), Err(RingwireError::CalledFromListener));
        let other = thread.clone();
        let from_elsewhere = std::thread::spawn(move || other.check())
            .join()
            .expect("thread ran");
        assert_eq!(from_elsewhere, Ok(()));
    }
}
