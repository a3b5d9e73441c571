//! What the WebRTC connections tell the agent: DTLS up, ICE state changes, audio, in-band
//! control messages, stats, closes. Events from a connection that no longer carries the call
//! (a device that lost the accept race) are dropped.

use std::time::Instant;

use ringwire_proto::{CallId, ClientMessage, DeviceId, EndReason};
use tracing::{debug, info, warn};

use super::Agent;
use crate::call::CallState;
use crate::inband::InbandMessage;
use crate::peer::{CloseReason, IceState, PeerEvent};
use crate::report::{CallEndReason, Direction, Report};

impl Agent {
    pub(super) fn on_peer_event(
        &mut self,
        now: Instant,
        call_id: CallId,
        device: DeviceId,
        event: PeerEvent,
    ) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let chosen = call.remote_device == Some(device);
        match event {
            PeerEvent::Connected => {
                debug!(%call_id, "media path up");
                if chosen && call.state == CallState::Connecting {
                    self.mark_connecting_or_active(now, call_id);
                }
            }
            PeerEvent::IceState(state) => self.on_ice_state(now, call_id, chosen, state),
            PeerEvent::AudioReceived(packet) => {
                if chosen && !call.held {
                    if let Some(audio) = call.audio.as_mut() {
                        audio.receive(packet);
                    }
                }
            }
            PeerEvent::TelephoneEvent(packet) => {
                let key = match call.audio.as_mut() {
                    Some(audio) if chosen && !call.held => audio.receive_dtmf(&packet),
                    _ => None,
                };
                if let Some(key) = key {
                    debug!(%call_id, %key, "DTMF received");
                    self.report(Report::DtmfReceived {
                        call_id,
                        digit: key.as_char(),
                    });
                }
            }
            PeerEvent::ControlOpen => {
                if chosen && call.inband_accept_pending {
                    if let Some(peer) = call.chosen_peer() {
                        if peer
                            .pc
                            .send_control(&InbandMessage::Accept { call_id }.encode())
                            .is_ok()
                        {
                            call.inband_accept_pending = false;
                        }
                    }
                }
            }
            PeerEvent::Control(bytes) => match InbandMessage::decode(&bytes) {
                Some(message) if message.call_id() == call_id => {
                    self.on_inband(now, call_id, device, message)
                }
                _ => debug!(%call_id, bytes = bytes.len(), "control message ignored"),
            },
            PeerEvent::RemoteAudioPaused(paused) => {
                if chosen {
                    call.quality.far_end_paused = paused;
                }
            }
            PeerEvent::ControlClosed => {}
            PeerEvent::LocalCandidate(candidate) => self.signal(ClientMessage::Candidate {
                call_id,
                to_device: device,
                candidate,
            }),
            PeerEvent::Stats(mut stats) => {
                if let Some(pair) = stats.selected_pair.as_mut() {
                    pair.relay_transport = call.gathering.relay_transport(pair.local_addr);
                }
                if chosen {
                    if let Some(audio) = call.audio.as_mut() {
                        audio.on_stats(&stats);
                    }
                    call.last_stats = Some(stats);
                }
            }
            PeerEvent::Closed(reason) => {
                if chosen && call.state.is_answered() {
                    // The peer closed the connection of an answered call: it hung up (a
                    // browser's pc.close()) or its stack failed. Either way the call is over.
                    info!(%call_id, ?reason, "media connection closed");
                    let (reason, message) = match reason {
                        CloseReason::Remote => (EndReason::Hangup, call.hangup_message()),
                        CloseReason::Local | CloseReason::Failure(_) => (
                            EndReason::MediaFailed,
                            ClientMessage::media_failed_hangup(call_id),
                        ),
                    };
                    self.signal(message);
                    self.end_call(now, call_id, CallEndReason::protocol(reason), false);
                } else if let Some(call) = self.calls.get_mut(&call_id) {
                    call.peers.remove(&device);
                    if chosen && call.direction == Direction::Incoming {
                        // Our pre-connect failed while ringing; answering will wait for the
                        // caller's re-offer (or a replay re-offers).
                        debug!(%call_id, "pre-connect closed while ringing");
                    }
                }
            }
        }
    }

    fn on_ice_state(&mut self, now: Instant, call_id: CallId, chosen: bool, state: IceState) {
        let timeout = self.config.media_timeout;
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if !chosen || !call.state.is_answered() {
            return;
        }
        match state {
            IceState::Disconnected | IceState::Failed if call.state == CallState::Active => {
                call.set_state(CallState::Reconnecting, "media path lost");
                call.media_deadline = Some(now + timeout);
                // The path went dark with no interface event (a NAT that dropped its mapping):
                // the peer connection heard no media for `path_silence_after`, or str0m's
                // consent checks failed. Restart ICE now rather than after `ice_failed_after`
                // more seconds. Only the side that made
                // the session's first offer (the callee, 4.11) does, so two restart offers
                // never cross; the other restarts only if ICE then fails outright.
                let offered_first = match call.peer_side() {
                    Some(side) => side.offered_first,
                    None => call.direction == Direction::Incoming,
                };
                self.report(Report::Reconnecting { call_id });
                if offered_first {
                    self.restart_ice_when_possible(call_id);
                }
            }
            IceState::Failed => {
                // ICE gave up on every pair: try fresh credentials (new candidates gathered by
                // the driver arrive as NetworkChanged).
                self.restart_ice_when_possible(call_id);
            }
            IceState::Connected if call.state == CallState::Reconnecting => {
                call.set_state(CallState::Active, "media path restored");
                call.media_deadline = None;
                self.report(Report::Reconnected { call_id });
            }
            _ => {}
        }
    }

    fn on_inband(&mut self, now: Instant, call_id: CallId, from: DeviceId, message: InbandMessage) {
        let Some(call) = self.calls.get(&call_id) else {
            return;
        };
        match message {
            InbandMessage::Accept { .. } => {
                if call.direction == Direction::Outgoing && !call.state.is_answered() {
                    info!(%call_id, "accept arrived in-band before the server's word");
                    self.on_accepted(now, call_id, from, "in-band");
                }
            }
            InbandMessage::Hangup { .. } => {
                let carries_call = call.remote_device == Some(from) && call.state.is_answered();
                if carries_call {
                    info!(%call_id, "hangup arrived in-band");
                    self.end_call(
                        now,
                        call_id,
                        CallEndReason::protocol(EndReason::Hangup),
                        false,
                    );
                } else {
                    warn!(%call_id, "in-band hangup from a device not carrying the call ignored");
                }
            }
        }
    }
}
