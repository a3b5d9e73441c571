//! Platform commands into the agent: answer, end, mute, hold, DTMF, the audio session,
//! network changes, the app's lifecycle. A command that does not fit the call's state is
//! refused with a typed error and changes nothing.

use std::net::SocketAddr;
use std::time::Instant;

use ringwire_media::dtmf::parse_dial_string;
use ringwire_proto::{CallId, ClientMessage, EndReason};
use tracing::{info, warn};

use super::{Agent, Command};
use crate::call::{Call, CallAudio, CallState};
use crate::inband::InbandMessage;
use crate::report::{CallEndReason, Direction, Report};
use crate::CoreError;

impl Agent {
    /// Carries out one platform command.
    pub fn handle_command(&mut self, now: Instant, command: Command) -> Result<(), CoreError> {
        self.advance(now);
        let result = match command {
            Command::Answer { call_id } => self.answer(now, call_id),
            Command::AnswerFromOs {
                call_id,
                from_lock_screen,
            } => {
                if let Some(call) = self.calls.get_mut(&call_id) {
                    call.answered_from_lock_screen = Some(from_lock_screen);
                }
                self.answer(now, call_id)
            }
            Command::End { call_id } => self.end_by_user(now, call_id),
            Command::SetMuted { call_id, muted } => self.call_mut(call_id).map(|c| c.muted = muted),
            Command::SetHeld { call_id, held } => self.set_held(call_id, held),
            Command::SendDtmf { call_id, digits } => self.send_dtmf(call_id, &digits),
            Command::AudioSessionActivated => {
                self.audio_session_active = true;
                self.note_all(ringwire_proto::TimelineEventKind::AudioSessionActivated {});
                // Whatever was buffered before the interruption is stale now.
                for call in self.calls.values_mut() {
                    if let Some(audio) = call.audio.as_mut() {
                        audio.reset_playout();
                    }
                }
                Ok(())
            }
            Command::AudioSessionDeactivated => {
                self.audio_session_active = false;
                Ok(())
            }
            Command::NetworkChanged { local_addrs } => {
                self.network_changed(now, local_addrs);
                Ok(())
            }
            Command::SignalingDown => {
                if self.signaling_up {
                    info!("signaling down; calls go on peer-to-peer");
                }
                self.signaling_up = false;
                Ok(())
            }
            Command::AppState(state) => {
                if state != self.app_state {
                    let state = super::timeline::wire_app_state(state);
                    self.note_all(ringwire_proto::TimelineEventKind::AppState { state });
                }
                self.set_app_state(state);
                Ok(())
            }
        };
        self.drain(now);
        result
    }

    /// Whether audio capture and playout may run (the OS gave us the audio session).
    pub fn audio_session_active(&self) -> bool {
        self.audio_session_active
    }

    /// The audio-session rule where no phone OS applies it (desktops, the softphone, the
    /// simulator's desktop devices), as CallKit does: the session goes active when a call is
    /// answered and inactive once no answered call is left. Returns the command to hand back
    /// to [`Agent::handle_command`] after `report`, if any. On a phone the OS decides
    /// (`didActivate` / `didDeactivate`) and the app passes its word on instead.
    pub fn desktop_audio_session(&self, report: &Report) -> Option<Command> {
        match report {
            Report::Answered { .. } if !self.audio_session_active => {
                Some(Command::AudioSessionActivated)
            }
            Report::Ended { .. }
                if self.audio_session_active
                    && !self.calls.values().any(|c| c.state.is_answered()) =>
            {
                Some(Command::AudioSessionDeactivated)
            }
            _ => None,
        }
    }

    /// The call a command names, or the error that says it is gone.
    fn call_mut(&mut self, call_id: CallId) -> Result<&mut Call, CoreError> {
        self.calls
            .get_mut(&call_id)
            .ok_or(CoreError::UnknownCall { call_id })
    }

    fn answer(&mut self, now: Instant, call_id: CallId) -> Result<(), CoreError> {
        let config = self.config.clone();
        let call = self.call_mut(call_id)?;
        if call.direction != Direction::Incoming || call.state != CallState::Ringing {
            return Err(CoreError::CallState {
                command: "answer",
                call_id,
                state: format!("{:?} {:?}", call.direction, call.state).to_lowercase(),
                hint: "only a ringing incoming call can be answered",
            });
        }
        if call.is_peer_mode() {
            return self.answer_peer(now, call_id);
        }
        let _span = tracing::info_span!("call", %call_id).entered();
        info!("answering");
        call.times.accepted = Some(now);
        call.audio = Some(CallAudio::new(&config)?);
        call.times.preconnected = call.chosen_connected();
        call.next_quality = Some(now + config.quality_interval);
        let remote = call.remote_device;
        let mut inband_sent = false;
        if let Some(peer) = call.chosen_peer() {
            peer.pc.set_media_enabled(true);
            if peer.pc.control_open() {
                inband_sent = peer
                    .pc
                    .send_control(&InbandMessage::Accept { call_id }.encode())
                    .is_ok();
            }
        }
        call.inband_accept_pending = !inband_sent;
        self.signal(ClientMessage::Accept { call_id });
        if let Some(remote_device) = remote {
            self.report(Report::Answered {
                call_id,
                remote_device,
            });
        }
        self.mark_connecting_or_active(now, call_id);
        Ok(())
    }

    /// The user ended the call on this device: cancel, decline or hang up as the state asks,
    /// in-band too once answered.
    fn end_by_user(&mut self, now: Instant, call_id: CallId) -> Result<(), CoreError> {
        let call = self.call_mut(call_id)?;
        let (message, reason) = match (call.direction, call.state) {
            (Direction::Outgoing, CallState::Dialing | CallState::Ringing) => {
                (ClientMessage::Cancel { call_id }, EndReason::Cancelled)
            }
            (Direction::Incoming, CallState::Ringing) => {
                (ClientMessage::Decline { call_id }, EndReason::Declined)
            }
            _ => (call.hangup_message(), EndReason::Hangup),
        };
        if reason == EndReason::Hangup {
            if let Some(peer) = call.chosen_peer() {
                // Best effort: if the channel is not open the server still carries the hangup.
                let _ = peer
                    .pc
                    .send_control(&InbandMessage::Hangup { call_id }.encode());
            }
        }
        self.signal(message);
        self.end_call(now, call_id, CallEndReason::protocol(reason), true);
        Ok(())
    }

    fn set_held(&mut self, call_id: CallId, held: bool) -> Result<(), CoreError> {
        let call = self.call_mut(call_id)?;
        if !call.state.is_answered() {
            return Err(CoreError::CallState {
                command: "hold",
                call_id,
                state: format!("{:?}", call.state).to_lowercase(),
                hint: "only an answered call can be held",
            });
        }
        call.held = held;
        if let Some(peer) = call.chosen_peer() {
            // Held media is not sent or delivered; the connection stays up.
            peer.pc.set_media_enabled(!held);
        }
        if !held {
            if let Some(audio) = call.audio.as_mut() {
                audio.reset_playout();
            }
        }
        Ok(())
    }

    fn send_dtmf(&mut self, call_id: CallId, digits: &str) -> Result<(), CoreError> {
        let steps = parse_dial_string(digits)?;
        let call = self.call_mut(call_id)?;
        let refuse = |state: String, hint| CoreError::CallState {
            command: "send DTMF on",
            call_id,
            state,
            hint,
        };
        if !call.state.is_answered() || call.held {
            let state = if call.held {
                "held".to_string()
            } else {
                format!("{:?}", call.state).to_lowercase()
            };
            return Err(refuse(
                state,
                "DTMF goes only on an answered call that is not held",
            ));
        }
        let negotiated = call.chosen_peer().map(|p| p.pc.dtmf_negotiated());
        if negotiated == Some(false) {
            return Err(CoreError::DtmfNotNegotiated);
        }
        let Some(audio) = call.audio.as_mut() else {
            return Err(refuse(
                "without audio".into(),
                "wait for the call to connect",
            ));
        };
        audio.queue_dtmf(&steps)?;
        info!(%call_id, keys = steps.len(), "DTMF queued");
        Ok(())
    }

    /// New addresses: every connection learns them (the peer hears the new candidates), loses
    /// the vanished ones, and answered calls restart ICE so the path moves now rather than
    /// when consent runs out.
    fn network_changed(&mut self, now: Instant, local_addrs: Vec<SocketAddr>) {
        let old: Vec<SocketAddr> = self.config.peer.local_addrs.clone();
        self.config.peer.local_addrs = local_addrs.clone();
        let in_progress: Vec<CallId> = self.calls.keys().copied().collect();
        for call_id in in_progress {
            let Some(call) = self.calls.get_mut(&call_id) else {
                continue;
            };
            let _span = tracing::info_span!("call", %call_id).entered();
            for peer in call.peers.values_mut() {
                for addr in &old {
                    if !local_addrs.contains(addr) {
                        peer.pc.remove_local_address(*addr);
                    }
                }
                for addr in &local_addrs {
                    if !old.contains(addr) {
                        if let Err(error) = peer.pc.add_local_address(*addr) {
                            warn!(%error, "new local address refused");
                        }
                    }
                }
            }
            // What was gathered from the old network (its NAT mapping, its TURN allocations)
            // went with it: release it and gather again from the new addresses. The new
            // candidates trickle behind the ICE-restart offer.
            call.gathering.close(now);
            while let Some(out) = call.gathering.poll_output() {
                self.out.push_back(out);
            }
            let answered = call.state.is_answered();
            self.start_gathering(now, call_id);
            if answered {
                self.restart_ice_when_possible(call_id);
            }
        }
    }

    /// Restarts ICE now, or once signaling is back (`welcome`) when it is down: a restart
    /// offer sent while disconnected would be lost.
    pub(super) fn restart_ice_when_possible(&mut self, call_id: CallId) {
        // A peer-mode call's offer goes over the app's channel, not the server's.
        let peer_mode = self.calls.get(&call_id).is_some_and(Call::is_peer_mode);
        if self.signaling_up || peer_mode {
            self.restart_ice(call_id);
        } else if let Some(call) = self.calls.get_mut(&call_id) {
            info!(%call_id, "signaling is down: ICE restarts when it is back");
            call.ice_restart_wanted = true;
        }
    }

    /// Offers fresh ICE credentials to the answered call's peer, through the server.
    pub(super) fn restart_ice(&mut self, call_id: CallId) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        call.ice_restart_wanted = false;
        let Some(device) = call.remote_device else {
            return;
        };
        let Some(peer) = call.chosen_peer() else {
            return;
        };
        match peer.pc.ice_restart() {
            Ok(sdp) => {
                info!(%call_id, "ICE restart");
                self.signal(ClientMessage::Offer {
                    call_id,
                    to_device: device,
                    sdp,
                });
            }
            Err(error) => warn!(%call_id, %error, "ICE restart failed"),
        }
    }
}
