//! Server messages into the agent: the protocol v1 side of the call flow. Each message is
//! checked against the call it names; anything about a call we do not have, or in a state
//! where it makes no sense, is dropped with a debug log (the server may resend, and stale
//! relays after a call ends are normal).

use std::time::{Duration, Instant};

use ringwire_proto::{
    CallId, Candidate, ClientMessage, DeviceId, EndReason, ErrorCode, ErrorMessage, Incoming, Sdp,
    ServerMessage,
};
use tracing::{debug, info, warn};

use super::Agent;
use crate::call::{Call, CallAudio, CallState, Peer, MAX_PEERS_PER_CALL};
use crate::gather::Gathering;
use crate::peer::PeerConnection;
use crate::report::{CallEndReason, Direction, Report};

impl Agent {
    /// Feeds one message from the signaling server.
    pub fn handle_signal(&mut self, now: Instant, message: ServerMessage) {
        self.advance(now);
        match message {
            ServerMessage::Welcome(w) => {
                info!(device_id = %w.device_id, user = %w.user, "signaling up");
                self.device_id = Some(w.device_id);
                self.user = Some(w.user);
                self.server_clock = Some((now, w.server_time_ms));
                self.ice_servers = w.ice_servers;
                self.signaling_up = true;
                let waiting: Vec<CallId> = self
                    .calls
                    .values()
                    .filter(|c| c.ice_restart_wanted)
                    .map(|c| c.id)
                    .collect();
                for call_id in waiting {
                    self.restart_ice(call_id);
                }
                self.resend_timelines();
            }
            ServerMessage::TimelineStored { call_id } => self.timeline_settled(call_id),
            ServerMessage::Error(error) if error.ref_type.as_deref() == Some("call_timeline") => {
                // Stored already (a repeat), or refused for good: it will not be sent again.
                debug!(code = ?error.code, message = %error.message, "call timeline settled by an error");
                // All final but `rate_limited`: that one waits for the next connection.
                if let Some(call_id) = error
                    .call_id
                    .filter(|_| error.code != ErrorCode::RateLimited)
                {
                    self.timeline_settled(call_id);
                }
            }
            ServerMessage::IceServers(update) => {
                debug!(servers = update.ice_servers.len(), "fresh ICE servers");
                self.ice_servers = update.ice_servers;
            }
            ServerMessage::Calling {
                call_id,
                ring_deadline_ms,
                ..
            } => self.on_calling(now, call_id, ring_deadline_ms),
            ServerMessage::Incoming(incoming) => self.on_incoming(now, incoming),
            ServerMessage::Ringing { call_id, device_id } => {
                self.on_remote_ringing(now, call_id, device_id)
            }
            ServerMessage::Accepted { call_id, device_id } => {
                self.on_accepted(now, call_id, device_id, "server")
            }
            ServerMessage::Ended {
                call_id, reason, ..
            } => {
                if self.calls.contains_key(&call_id) {
                    self.end_call(now, call_id, CallEndReason::protocol(reason), false);
                }
            }
            ServerMessage::Offer {
                call_id,
                from_device,
                sdp,
            } => self.on_offer(now, call_id, from_device, &sdp),
            ServerMessage::Answer {
                call_id,
                from_device,
                sdp,
            } => self.on_answer(call_id, from_device, &sdp),
            ServerMessage::Candidate {
                call_id,
                from_device,
                candidate,
            } => self.on_candidate(call_id, from_device, candidate),
            ServerMessage::Pong { .. } => {}
            ServerMessage::Error(error) => self.on_error(now, error),
            other => debug!(kind = other.type_name(), "server message not handled"),
        }
        self.drain(now);
    }

    /// A server UNIX-ms deadline on our clock (the server's clock as of the last `welcome`).
    fn server_deadline(&self, deadline_ms: u64) -> Option<Instant> {
        let (at, server_ms) = self.server_clock?;
        Some(at + Duration::from_millis(deadline_ms.saturating_sub(server_ms)))
    }

    fn on_calling(&mut self, now: Instant, call_id: CallId, ring_deadline_ms: u64) {
        let deadline = self.server_deadline(ring_deadline_ms);
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if call.direction == Direction::Outgoing && call.state == CallState::Dialing {
            call.set_state(CallState::Ringing, "server placed the call");
        }
        call.ring_deadline = deadline.map(|d| d.max(now) + self.config.ring_grace);
    }

    fn on_incoming(&mut self, now: Instant, incoming: Incoming) {
        let call_id = incoming.call_id;
        let _span = tracing::info_span!("call", %call_id).entered();
        let deadline = self.server_deadline(incoming.ring_deadline_ms);
        let grace = self.config.ring_grace;
        if let Some(call) = self.calls.get_mut(&call_id) {
            if call.awaiting_server {
                // Reported from a push; the server confirms it still rings. Now ring and
                // pre-connect, as for any incoming call (already reported: no second report).
                call.awaiting_server = false;
                let caller = incoming.from_device;
                call.remote_device = Some(caller);
                if let Some(deadline) = deadline {
                    call.ring_deadline = Some(deadline + grace);
                }
                call.times.ringing.get_or_insert(now);
                let answered = call.state.is_answered();
                self.signal(ClientMessage::Ringing { call_id });
                self.preconnect(now, call_id, caller);
                if answered {
                    // Answered from the lock screen before the socket was up: the accept is
                    // queued already; the new connection carries media at once, and the
                    // in-band accept goes when its control channel opens.
                    if let Some(peer) = self.calls.get_mut(&call_id).and_then(|c| c.chosen_peer()) {
                        peer.pc.set_media_enabled(true);
                    }
                    self.signal(ClientMessage::Accept { call_id });
                }
                return;
            }
            if call.direction == Direction::Incoming && call.state.is_answered() {
                // The server still has the call ringing: our accept was lost with the old
                // connection. Accept again (the server answers a repeated accept the same way).
                info!("the server missed our accept; sending it again");
                self.signal(ClientMessage::Accept { call_id });
                return;
            }
            // A replay after our reconnect: the call is still ringing. If our pre-connect offer
            // was lost on the way (the caller never answered it), make a fresh one.
            self.reoffer_if_stale(now, call_id);
            return;
        }
        if self.ended_recently(call_id) {
            return;
        }
        let answered_elsewhere = self.calls.values().any(|c| c.state.is_answered());
        if answered_elsewhere || self.calls.len() >= self.config.max_calls {
            info!("already in a call: answering busy");
            self.signal(ClientMessage::Busy { call_id });
            return;
        }
        let deadline = self.server_deadline(incoming.ring_deadline_ms);
        let mut call = Call::new(
            call_id,
            Direction::Incoming,
            incoming.from_user.clone(),
            CallState::Ringing,
            now,
        );
        call.remote_device = Some(incoming.from_device);
        call.ring_deadline = deadline.map(|d| d + self.config.ring_grace);
        self.calls.insert(call_id, call);
        self.report(Report::IncomingCall {
            call_id,
            from_user: incoming.from_user,
            from_display_name: incoming.from_display_name,
            replayed: incoming.replayed,
        });
        // `ringing` goes out before anything gathering sends: candidates never delay it.
        self.signal(ClientMessage::Ringing { call_id });
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.times.ringing = Some(now);
        }
        self.start_gathering(now, call_id);
        self.preconnect(now, call_id, incoming.from_device);
    }

    /// Callee side: one offerer connection to the caller device, media held.
    pub(super) fn preconnect(&mut self, now: Instant, call_id: CallId, caller: DeviceId) {
        let mut config = self.config.peer.clone();
        config.media_enabled = false;
        let offer = PeerConnection::new_offerer(config, now).and_then(|mut pc| {
            let sdp = pc.create_offer()?;
            Ok((pc, sdp))
        });
        match offer {
            Ok((pc, sdp)) => {
                if let Some(call) = self.calls.get_mut(&call_id) {
                    call.peers.insert(caller, Peer { pc, timeout: now });
                }
                self.signal(ClientMessage::Offer {
                    call_id,
                    to_device: caller,
                    sdp,
                });
                self.add_gathered_candidates(now, call_id, caller);
            }
            Err(error) => {
                warn!(%call_id, %error, "could not create the pre-connect offer");
                self.report(Report::Error {
                    call_id: Some(call_id),
                    message: format!("media setup failed: {error}"),
                });
            }
        }
    }

    fn reoffer_if_stale(&mut self, now: Instant, call_id: CallId) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if call.direction != Direction::Incoming || call.state != CallState::Ringing {
            return;
        }
        let Some(caller) = call.remote_device else {
            return;
        };
        let stale = call
            .peers
            .get(&caller)
            .is_none_or(|p| p.pc.is_closed() || !p.pc.is_connected());
        if stale {
            call.peers.remove(&caller);
            self.preconnect(now, call_id, caller);
        }
    }

    fn on_remote_ringing(&mut self, now: Instant, call_id: CallId, _device: DeviceId) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if call.direction != Direction::Outgoing || call.remote_ringing {
            return;
        }
        call.remote_ringing = true;
        call.times.ringing = Some(now);
        if call.state == CallState::Dialing {
            call.set_state(CallState::Ringing, "a callee device rings");
        }
        self.report(Report::RemoteRinging { call_id });
    }

    /// The call was answered by `device` (the server's `accepted`, or the device's in-band
    /// accept, which may arrive first). Outgoing: keep that device's connection, drop the
    /// others, release media. Incoming: the server confirms our own accept after a reconnect.
    pub(super) fn on_accepted(
        &mut self,
        now: Instant,
        call_id: CallId,
        device: DeviceId,
        source: &'static str,
    ) {
        let config = self.config.clone();
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if call.direction == Direction::Incoming {
            return;
        }
        match call.remote_device {
            Some(current) if current == device => return,
            Some(previous) => {
                // The in-band accept we acted on lost the race at the server: switch.
                warn!(%call_id, source, "another device won the accept; switching media");
                if let Some(p) = call.peers.get_mut(&previous) {
                    p.pc.set_media_enabled(false);
                }
            }
            None => {}
        }
        info!(%call_id, %device, source, "call answered");
        call.remote_device = Some(device);
        call.times.accepted.get_or_insert(now);
        // The other devices stop ringing through the server; their connections are ours to
        // drop. Closing them here sends their DTLS goodbye.
        let losers: Vec<DeviceId> = call
            .peers
            .keys()
            .copied()
            .filter(|d| *d != device)
            .collect();
        let dropped: Vec<Peer> = losers.iter().filter_map(|d| call.peers.remove(d)).collect();
        // Their goodbyes may leave through the call's relay.
        let mut gathering = std::mem::replace(&mut call.gathering, Gathering::idle());
        for peer in dropped {
            self.close_peer(now, &mut gathering, peer);
        }
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        call.gathering = gathering;
        call.early_candidates.retain(|d, _| *d == device);
        if call.audio.is_none() {
            match CallAudio::new(&config) {
                Ok(audio) => call.audio = Some(audio),
                Err(error) => warn!(%call_id, %error, "audio pipeline could not start"),
            }
        }
        let connected = call.chosen_connected();
        if let Some(p) = call.chosen_peer() {
            p.pc.set_media_enabled(true);
        }
        call.times.preconnected = connected;
        call.next_quality = Some(now + config.quality_interval);
        self.report(Report::Answered {
            call_id,
            remote_device: device,
        });
        self.mark_connecting_or_active(now, call_id);
    }

    /// After an accept: `Active` if the chosen connection is up, else `Connecting` with a
    /// deadline.
    pub(super) fn mark_connecting_or_active(&mut self, now: Instant, call_id: CallId) {
        let timeout = self.config.media_timeout;
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        if call.chosen_connected() {
            call.media_deadline = None;
            call.times.media_up.get_or_insert(now);
            if call.state != CallState::Active {
                call.set_state(CallState::Active, "answered and media connected");
                self.report(Report::Connected { call_id });
            }
        } else {
            call.set_state(CallState::Connecting, "answered, media still connecting");
            call.media_deadline = Some(now + timeout);
        }
    }

    fn on_offer(&mut self, now: Instant, call_id: CallId, from: DeviceId, sdp: &Sdp) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            debug!(%call_id, "offer for an unknown call dropped");
            return;
        };
        let answer = match call.peers.get_mut(&from) {
            // A renegotiation (ICE restart) on an existing connection.
            Some(peer) => peer.pc.accept_offer(sdp),
            None => {
                let allowed = match call.direction {
                    Direction::Outgoing => match call.remote_device {
                        None => call.peers.len() < MAX_PEERS_PER_CALL,
                        Some(winner) => winner == from,
                    },
                    // Our own caller re-offering after it lost its connection.
                    Direction::Incoming => call.remote_device == Some(from),
                };
                if !allowed {
                    debug!(%call_id, "offer from a device not in this call dropped");
                    return;
                }
                let mut config = self.config.peer.clone();
                config.media_enabled = call.state.is_answered() && call.remote_device == Some(from);
                let early = call.early_candidates.remove(&from).unwrap_or_default();
                let result = PeerConnection::new_answerer(config, now).and_then(|mut pc| {
                    for c in &early {
                        if let Err(error) = pc.add_remote_candidate(c) {
                            debug!(%error, "early candidate refused");
                        }
                    }
                    let answer = pc.accept_offer(sdp)?;
                    Ok((pc, answer))
                });
                match result {
                    Ok((pc, answer)) => {
                        call.peers.insert(from, Peer { pc, timeout: now });
                        Ok(answer)
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match answer {
            Ok(sdp) => {
                self.signal(ClientMessage::Answer {
                    call_id,
                    to_device: from,
                    sdp,
                });
                self.add_gathered_candidates(now, call_id, from);
            }
            Err(error) => {
                warn!(%call_id, %error, "offer refused");
                self.report(Report::Error {
                    call_id: Some(call_id),
                    message: format!("a device's offer could not be used: {error}"),
                });
            }
        }
    }

    fn on_answer(&mut self, call_id: CallId, from: DeviceId, sdp: &Sdp) {
        let Some(peer) = self
            .calls
            .get_mut(&call_id)
            .and_then(|c| c.peers.get_mut(&from))
        else {
            debug!(%call_id, "answer for no connection dropped");
            return;
        };
        if let Err(error) = peer.pc.accept_answer(sdp) {
            warn!(%call_id, %error, "answer refused");
        }
    }

    fn on_candidate(&mut self, call_id: CallId, from: DeviceId, candidate: Candidate) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        match call.peers.get_mut(&from) {
            Some(peer) => {
                if let Err(error) = peer.pc.add_remote_candidate(&candidate) {
                    debug!(%call_id, %error, "remote candidate refused");
                }
            }
            None => {
                if !call.buffer_early_candidate(from, candidate) {
                    debug!(%call_id, "early candidate dropped: buffer full");
                }
            }
        }
    }

    fn on_error(&mut self, now: Instant, error: ErrorMessage) {
        let Some(call_id) = error.call_id else {
            warn!(code = ?error.code, message = %error.message, "server error");
            return;
        };
        if !self.calls.contains_key(&call_id) {
            return;
        }
        let fatal = match error.ref_type.as_deref() {
            // The invite was refused: the call never existed.
            Some("invite") => true,
            // We listed the call on reconnect and the server does not know us in it: it is
            // over (forgotten, or a ghost from a late push).
            Some("hello") => matches!(
                error.code,
                ErrorCode::UnknownCall | ErrorCode::NotAParticipant
            ),
            // An action on a call the server has forgotten.
            _ => error.code == ErrorCode::UnknownCall,
        };
        if fatal {
            self.end_call(
                now,
                call_id,
                CallEndReason::Failed {
                    code: Some(error.code),
                    detail: error.message,
                },
                false,
            );
        } else {
            debug!(%call_id, code = ?error.code, "server refused a message; the call goes on");
            if error.code == ErrorCode::InvalidState {
                self.report(Report::Error {
                    call_id: Some(call_id),
                    message: error.message,
                });
            }
        }
    }

    /// Ends every ringing incoming call whose deadline passed long ago without word from the
    /// server, and reports it as unanswered.
    pub(super) fn expire_ringing(&mut self, now: Instant) {
        let expired: Vec<CallId> = self
            .calls
            .values()
            .filter(|c| c.state == CallState::Ringing || c.state == CallState::Dialing)
            .filter(|c| c.ring_deadline.is_some_and(|d| now >= d))
            .map(|c| c.id)
            .collect();
        for call_id in expired {
            if self.calls.get(&call_id).is_some_and(Call::is_peer_mode) {
                // No server ends it for the peer: say so ourselves.
                info!(%call_id, "peer-mode call rang out");
                self.peer_out(
                    call_id,
                    ringwire_proto::PeerSignal::Bye {
                        reason: Some(EndReason::NoAnswer),
                    },
                );
            } else {
                info!(%call_id, "ring deadline passed without word from the server");
            }
            self.end_call(
                now,
                call_id,
                CallEndReason::protocol(EndReason::NoAnswer),
                false,
            );
        }
    }
}
