//! Events to the UI: the engine's reports turned into a small, stable JSON vocabulary
//! (`incoming`, `outgoing`, `ringing`, `answered`, `connected`, `dtmf`, `reconnecting`,
//! `reconnected`, `quality`, `quality_changed`, `ended`, `error`, `signaling`, and `peer_signal` for peer mode). The UI never sees engine internals.

use ringwire_core::{CallEndReason, CallKitEndReason, Report};
use ringwire_engine::EngineEvent;
use ringwire_media::CallQuality;
use serde::Serialize;

/// One event, as the UI receives it (inside `{"type":"event","seq":N,...}`).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum BridgeEvent {
    /// A call rings here; the platform (CallKit) was told at the same moment.
    Incoming {
        call_id: String,
        from_user: String,
        display_name: Option<String>,
    },
    /// This device placed a call.
    Outgoing {
        call_id: String,
        to_user: String,
    },
    /// The far end rings (play ringback).
    Ringing {
        call_id: String,
    },
    /// The call was answered (here or there); stop ringing.
    Answered {
        call_id: String,
    },
    /// Media flows.
    Connected {
        call_id: String,
    },
    /// The far end pressed a DTMF key.
    Dtmf {
        call_id: String,
        digit: String,
    },
    Reconnecting {
        call_id: String,
    },
    Reconnected {
        call_id: String,
    },
    Quality {
        call_id: String,
        #[serde(flatten)]
        quality: CallQuality,
    },
    /// The call's quality verdict changed: `verdict` (good, fair, poor), `cause`, `action`
    /// (what the engine did about it) and the `figures` behind it.
    QualityChanged {
        call_id: String,
        #[serde(flatten)]
        verdict: ringwire_core::QualityChange,
    },
    /// The call is over. `reason` is the protocol end reason (or `failed`); `callkit_reason` is
    /// how a native shell reports it (`null` when the user ended it here).
    Ended {
        call_id: String,
        reason: String,
        detail: Option<String>,
        callkit_reason: Option<CallKitEndReason>,
        ended_locally: bool,
        /// The candidate pair the media took (`local`/`remote`: host, srflx, prflx, relay;
        /// `protocol`; `relay_transport`: udp, tcp, tls), `null` when media never connected.
        selected_pair: Option<ringwire_core::SelectedPair>,
    },
    Error {
        call_id: Option<String>,
        message: String,
    },
    /// The engine's signaling connection went up or down (calls continue either way).
    Signaling {
        connected: bool,
        detail: Option<String>,
    },
    /// Deliver `signal` to the peer of peer-mode call `call_id` over the page's own channel,
    /// in `seq` order (docs/peer-mode.md).
    PeerSignal {
        call_id: String,
        signal: ringwire_proto::PeerSignal,
    },
}

impl BridgeEvent {
    /// The UI's view of an engine event; `None` for what the UI does not need (first-audio).
    pub fn from_engine(event: &EngineEvent) -> Option<BridgeEvent> {
        match event {
            EngineEvent::Report(report) => Self::from_report(report),
            EngineEvent::SignalingConnected { .. } => Some(BridgeEvent::Signaling {
                connected: true,
                detail: None,
            }),
            EngineEvent::SignalingDisconnected { reason, .. } => Some(BridgeEvent::Signaling {
                connected: false,
                detail: Some(reason.clone()),
            }),
            EngineEvent::SignalingPaused => Some(BridgeEvent::Signaling {
                connected: false,
                detail: Some("paused: no call and the app is not in the foreground".into()),
            }),
            EngineEvent::Fatal { message } => Some(BridgeEvent::Signaling {
                connected: false,
                detail: Some(format!("stopped: {message}")),
            }),
            EngineEvent::PeerSignal { call_id, signal } => Some(BridgeEvent::PeerSignal {
                call_id: call_id.to_string(),
                signal: signal.clone(),
            }),
        }
    }

    fn from_report(report: &Report) -> Option<BridgeEvent> {
        Some(match report {
            Report::IncomingCall {
                call_id,
                from_user,
                from_display_name,
                ..
            } => BridgeEvent::Incoming {
                call_id: call_id.to_string(),
                from_user: from_user.to_string(),
                display_name: from_display_name.as_ref().map(|d| d.to_string()),
            },
            Report::OutgoingStarted { call_id, to_user } => BridgeEvent::Outgoing {
                call_id: call_id.to_string(),
                to_user: to_user.to_string(),
            },
            Report::RemoteRinging { call_id } => BridgeEvent::Ringing {
                call_id: call_id.to_string(),
            },
            Report::Answered { call_id, .. } => BridgeEvent::Answered {
                call_id: call_id.to_string(),
            },
            Report::Connected { call_id } => BridgeEvent::Connected {
                call_id: call_id.to_string(),
            },
            Report::FirstAudio { .. } => return None,
            Report::DtmfReceived { call_id, digit } => BridgeEvent::Dtmf {
                call_id: call_id.to_string(),
                digit: digit.to_string(),
            },
            Report::Reconnecting { call_id } => BridgeEvent::Reconnecting {
                call_id: call_id.to_string(),
            },
            Report::Reconnected { call_id } => BridgeEvent::Reconnected {
                call_id: call_id.to_string(),
            },
            Report::Quality { call_id, quality } => BridgeEvent::Quality {
                call_id: call_id.to_string(),
                quality: *quality,
            },
            Report::QualityChanged { call_id, verdict } => BridgeEvent::QualityChanged {
                call_id: call_id.to_string(),
                verdict: *verdict,
            },
            Report::Ended {
                call_id,
                reason,
                ended_locally,
                callkit,
                summary,
                ..
            } => {
                let (reason, detail) = match reason {
                    CallEndReason::Protocol { reason } => (reason.to_string(), None),
                    CallEndReason::Failed { detail, .. } => {
                        ("failed".to_string(), Some(detail.clone()))
                    }
                    CallEndReason::MediaFailed { cause, .. } => {
                        ("media_failed".to_string(), Some(cause.as_str().to_owned()))
                    }
                };
                BridgeEvent::Ended {
                    call_id: call_id.to_string(),
                    reason,
                    detail,
                    callkit_reason: *callkit,
                    ended_locally: *ended_locally,
                    selected_pair: summary.selected_pair,
                }
            }
            Report::Error { call_id, message } => BridgeEvent::Error {
                call_id: call_id.map(|c| c.to_string()),
                message: message.clone(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringwire_core::{Direction, MediaFailure};
    use ringwire_proto::{CallId, EndReason};

    #[test]
    fn a_call_whose_media_never_connected_ends_as_media_failed() {
        let report = Report::Ended {
            call_id: CallId::from_bytes([3; 16]),
            direction: Direction::Outgoing,
            reason: CallEndReason::MediaFailed {
                cause: MediaFailure::IceFailed,
                ended_by: Some(EndReason::Hangup),
            },
            ended_locally: false,
            callkit: Some(CallKitEndReason::Failed),
            summary: Box::default(),
        };
        match BridgeEvent::from_report(&report) {
            Some(BridgeEvent::Ended { reason, detail, .. }) => {
                assert_eq!(reason, "media_failed");
                assert_eq!(detail.as_deref(), Some("ice_failed"));
            }
            other => panic!("{other:?}"),
        }
    }
}
