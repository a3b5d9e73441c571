//! Peer mode: a call whose signaling travels over the app's own channel (Firestore documents,
//! its own server, a pipe) to a standard WebRTC peer that runs no ringwire code, instead of
//! through the ringwire server. Everything else is the agent's as for any call: the connection,
//! gathering, the audio-session rule, CallKit-shaped reports, quality and DTMF.
//!
//! The roles are standard WebRTC's: the caller offers ([`Agent::start_peer_call`]) and the
//! callee's answer means "picked up", so the callee keeps the offer until its user answers and
//! only then answers it. There is no pre-connect with an unchanged peer (a standard peer treats
//! any answer as the call being taken); gathering (STUN, TURN) still starts while the phone
//! rings, so the relay is ready when the user picks up.
//!
//! Outgoing messages come out as [`Output::PeerSignal`]; the app delivers them in order and
//! feeds what arrives to [`Agent::handle_peer_signal`]. The call flow's own messages to the
//! server (`accept`, `hangup`, relays) are translated here in one place: relays become offers,
//! answers and candidates, and every way of ending becomes a `bye` with its reason.
//!
//! Order is the app channel's business, and channels reorder (a Firestore candidate listener
//! can fire before the document listener): candidates for a call not seen yet wait (bounded)
//! for its offer, and candidates before a connection exists wait for it. Two offers that cross
//! on a new call (both sides pressed call on one channel) are settled the same way on both
//! sides, by comparing the offers' ICE ufrags: the higher one stands and the other side answers
//! it, so both users end up in one call.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ringwire_proto::{
    CallId, Candidate, ClientMessage, DeviceId, DisplayName, EndReason, HangupReason, PeerSignal,
    Sdp, UserName,
};
use tracing::{debug, info, warn};

use super::{Agent, Output};
use crate::call::{Call, CallAudio, CallState, Peer, PeerSide, Signaled, MAX_EARLY_CANDIDATES};
use crate::peer::{check_offer_text, sdp_mids, sdp_ufrag, PeerConnection};
use crate::report::{CallEndReason, Direction, Report};
use crate::CoreError;

/// The one remote device of a peer-mode call: what [`Report::Answered`] names and what the
/// call's connection is keyed by. A standard peer has no ringwire device id.
pub const PEER_DEVICE: DeviceId = DeviceId::from_bytes([0xff; 16]);

/// The remote user's name when the app announced none (an offer that simply arrived).
const UNNAMED_PEER: &str = "peer";

/// Calls not seen yet whose early candidates are kept, and for how long.
const EARLY_CALLS_MAX: usize = 8;
const EARLY_CALLS_TTL: Duration = Duration::from_secs(30);

/// Candidates that arrived for a call this device has not seen yet (its offer still on the
/// way), oldest call first.
#[derive(Debug, Default)]
pub(super) struct EarlyCandidates {
    calls: VecDeque<(Instant, CallId, Vec<Candidate>)>,
}

impl EarlyCandidates {
    fn keep(&mut self, now: Instant, call_id: CallId, candidate: Candidate) -> bool {
        self.calls
            .retain(|(at, _, _)| now.saturating_duration_since(*at) < EARLY_CALLS_TTL);
        if let Some((_, _, list)) = self.calls.iter_mut().find(|(_, id, _)| *id == call_id) {
            if list.len() >= MAX_EARLY_CANDIDATES {
                return false;
            }
            list.push(candidate);
            return true;
        }
        if self.calls.len() >= EARLY_CALLS_MAX {
            self.calls.pop_front();
        }
        self.calls.push_back((now, call_id, vec![candidate]));
        true
    }

    fn take(&mut self, call_id: CallId) -> Vec<Candidate> {
        match self.calls.iter().position(|(_, id, _)| *id == call_id) {
            Some(i) => self
                .calls
                .remove(i)
                .map(|(_, _, list)| list)
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }
}

impl Agent {
    /// Places a peer-mode call: its offer comes out as [`Output::PeerSignal`] for the app to
    /// deliver, and the call is answered when the peer's answer is fed back. `to` names the
    /// remote party in reports; `call_id` is the app channel's id for the call when it has one
    /// (both sides of a channel must use the same), else a fresh one is made.
    pub fn start_peer_call(
        &mut self,
        now: Instant,
        to: UserName,
        call_id: Option<CallId>,
    ) -> Result<CallId, CoreError> {
        self.advance(now);
        self.check_room(call_id)?;
        let call_id = call_id.unwrap_or_else(|| self.new_call_id());
        let _span = tracing::info_span!("call", %call_id).entered();
        info!(to = %to, "placing peer-mode call");
        let mut call = Call::new(
            call_id,
            Direction::Outgoing,
            to.clone(),
            CallState::Dialing,
            now,
        );
        call.signaled = Signaled::Peer(PeerSide {
            offered_first: true,
            ..PeerSide::default()
        });
        call.ring_deadline = Some(now + self.config.peer_ring_timeout);
        self.calls.insert(call_id, call);
        self.report(Report::OutgoingStarted {
            call_id,
            to_user: to,
        });
        if let Err(error) = self.offer_to_peer(now, call_id) {
            self.fail_peer_call(now, call_id, &error);
            self.drain(now);
            return Err(error);
        }
        if let Some(call) = self.calls.get_mut(&call_id) {
            // The offer is in the app's hands: as far as anyone can know, it rings.
            call.set_state(CallState::Ringing, "offer handed to the app");
        }
        self.start_gathering(now, call_id);
        self.drain(now);
        Ok(call_id)
    }

    /// An incoming peer-mode call the app learned of before its offer (a VoIP push from its own
    /// backend, a new `calls/{id}` document): reports it at once ([`Report::IncomingCall`]), as
    /// CallKit requires of a push, and rings until answered, ended, or
    /// [`AgentConfig::peer_ring_timeout`](super::AgentConfig::peer_ring_timeout). The offer
    /// follows through [`handle_peer_signal`](Self::handle_peer_signal); a user who answers
    /// first is connected when it arrives. Announcing a call twice changes nothing.
    pub fn expect_peer_call(
        &mut self,
        now: Instant,
        call_id: CallId,
        from: UserName,
        display_name: Option<DisplayName>,
    ) -> Result<(), CoreError> {
        self.advance(now);
        if self.calls.contains_key(&call_id) {
            return Ok(());
        }
        if self.ended_recently(call_id) {
            return Err(CoreError::UnknownCall { call_id });
        }
        self.incoming_peer_call(now, call_id, from, display_name, None, true)?;
        self.drain(now);
        Ok(())
    }

    /// Feeds one message from the peer, as the app's channel delivered it. A message that does
    /// not fit its call is refused with the reason and changes nothing; one for a call that
    /// ended here is dropped quietly (channels deliver late).
    pub fn handle_peer_signal(
        &mut self,
        now: Instant,
        call_id: CallId,
        signal: PeerSignal,
    ) -> Result<(), CoreError> {
        self.advance(now);
        let _span = tracing::debug_span!("call", %call_id).entered();
        debug!(kind = signal.type_name(), "peer signal in");
        let known = self.calls.get(&call_id).map(Call::is_peer_mode);
        let result = match (known, signal) {
            (Some(false), _) => Err(CoreError::PeerSignal {
                call_id,
                detail: "this call is signaled through the ringwire server".into(),
                hint: "peer messages are only for calls made with start_peer_call or an offer",
            }),
            (None, _) if self.ended_recently(call_id) => {
                debug!("peer signal for an ended call dropped");
                Ok(())
            }
            (None, PeerSignal::Offer { sdp }) => self.on_new_peer_offer(now, call_id, sdp),
            (None, PeerSignal::Candidate(c)) if !c.candidate.trim().is_empty() => {
                if self.peer_early.keep(now, call_id, c) {
                    Ok(())
                } else {
                    Err(CoreError::PeerSignal {
                        call_id,
                        detail: format!(
                            "more than {MAX_EARLY_CANDIDATES} candidates before the call's offer"
                        ),
                        hint: "deliver the offer first",
                    })
                }
            }
            (None, PeerSignal::Candidate(_) | PeerSignal::EndOfCandidates) => Ok(()),
            (None, PeerSignal::Answer { .. } | PeerSignal::Bye { .. }) => {
                Err(CoreError::UnknownCall { call_id })
            }
            (Some(true), PeerSignal::Offer { sdp }) => self.on_peer_offer(now, call_id, sdp),
            (Some(true), PeerSignal::Answer { sdp }) => self.on_peer_answer(now, call_id, &sdp),
            (Some(true), PeerSignal::Candidate(c)) => self.on_peer_candidate(call_id, c),
            (Some(true), PeerSignal::EndOfCandidates) => Ok(()),
            (Some(true), PeerSignal::Bye { reason }) => {
                self.on_peer_bye(now, call_id, reason);
                Ok(())
            }
        };
        self.drain(now);
        result
    }

    /// The peer-mode form of a call-flow message to the server, or `None` when peer mode has
    /// no such message (`ringing`; `accept`, which is the answer itself).
    pub(super) fn to_peer_signal(message: ClientMessage) -> Option<PeerSignal> {
        let bye = |reason| {
            Some(PeerSignal::Bye {
                reason: Some(reason),
            })
        };
        match message {
            ClientMessage::Offer { sdp, .. } => Some(PeerSignal::Offer { sdp }),
            ClientMessage::Answer { sdp, .. } => Some(PeerSignal::Answer { sdp }),
            ClientMessage::Candidate { candidate, .. } if candidate.candidate.is_empty() => {
                Some(PeerSignal::EndOfCandidates)
            }
            ClientMessage::Candidate { candidate, .. } => Some(PeerSignal::Candidate(candidate)),
            ClientMessage::Cancel { .. } => bye(EndReason::Cancelled),
            ClientMessage::Decline { .. } => bye(EndReason::Declined),
            ClientMessage::Busy { .. } => bye(EndReason::Busy),
            ClientMessage::Hangup { reason, .. } => {
                bye(reason.map_or(EndReason::Hangup, HangupReason::end_reason))
            }
            _ => None,
        }
    }

    /// The user answered a ringing peer-mode call: answer the peer's offer now (or as soon as
    /// it arrives, if the app announced the call ahead of it).
    pub(super) fn answer_peer(&mut self, now: Instant, call_id: CallId) -> Result<(), CoreError> {
        let config = self.config.clone();
        let Some(call) = self.calls.get_mut(&call_id) else {
            return Err(CoreError::UnknownCall { call_id });
        };
        info!(%call_id, "answering peer-mode call");
        call.times.accepted = Some(now);
        call.remote_device = Some(PEER_DEVICE);
        call.audio = Some(CallAudio::new(&config)?);
        call.next_quality = Some(now + config.quality_interval);
        call.ring_deadline = None;
        let offer = call.peer_side().and_then(|side| side.offer.take());
        self.report(Report::Answered {
            call_id,
            remote_device: PEER_DEVICE,
        });
        match offer {
            Some(offer) => self.answer_offer(now, call_id, &offer)?,
            None => info!(%call_id, "answered before the offer arrived: it is answered on arrival"),
        }
        self.mark_connecting_or_active(now, call_id);
        Ok(())
    }

    /// Fails a command's or a message's call for good: the peer hears a `bye`, the app an
    /// `Ended` with the reason.
    fn fail_peer_call(&mut self, now: Instant, call_id: CallId, error: &CoreError) {
        warn!(%call_id, %error, "peer-mode call cannot go on");
        self.peer_out(
            call_id,
            PeerSignal::Bye {
                reason: Some(EndReason::MediaFailed),
            },
        );
        self.end_call(
            now,
            call_id,
            CallEndReason::Failed {
                code: None,
                detail: error.to_string(),
            },
            false,
        );
    }

    pub(super) fn peer_out(&mut self, call_id: CallId, signal: PeerSignal) {
        debug!(%call_id, kind = signal.type_name(), "peer signal out");
        self.out.push_back(Output::PeerSignal { call_id, signal });
    }

    fn check_room(&self, call_id: Option<CallId>) -> Result<(), CoreError> {
        if let Some(call_id) = call_id {
            if self.calls.contains_key(&call_id) || self.ended_recently(call_id) {
                return Err(CoreError::CallExists { call_id });
            }
        }
        if self.calls.len() >= self.config.max_calls {
            return Err(CoreError::TooManyCalls {
                max: self.config.max_calls,
            });
        }
        Ok(())
    }

    /// Creates the offerer connection of an outgoing call and hands its offer to the app.
    fn offer_to_peer(&mut self, now: Instant, call_id: CallId) -> Result<(), CoreError> {
        let mut config = self.config.peer.clone();
        // Nothing flows before the answer anyway; `on_accepted` releases it.
        config.media_enabled = false;
        let mut pc = PeerConnection::new_offerer(config, now)?;
        let sdp = pc.create_offer()?;
        if let Some(call) = self.calls.get_mut(&call_id) {
            call.peers.insert(PEER_DEVICE, Peer { pc, timeout: now });
            // An answer has the offer's m-lines, in its order: a candidate can be checked
            // against them before the answer comes.
            if let Some(side) = call.peer_side() {
                side.remote_mids = sdp_mids(sdp.as_str());
            }
        }
        self.peer_out(call_id, PeerSignal::Offer { sdp });
        self.add_gathered_candidates(now, call_id, PEER_DEVICE);
        Ok(())
    }

    fn incoming_peer_call(
        &mut self,
        now: Instant,
        call_id: CallId,
        from: UserName,
        display_name: Option<DisplayName>,
        offer: Option<Sdp>,
        announced: bool,
    ) -> Result<(), CoreError> {
        let answered_elsewhere = self.calls.values().any(|c| c.state.is_answered());
        let busy = answered_elsewhere || self.calls.len() >= self.config.max_calls;
        if busy && !announced {
            info!(%call_id, "already in a call: answering the peer busy");
            self.peer_out(
                call_id,
                PeerSignal::Bye {
                    reason: Some(EndReason::Busy),
                },
            );
            return Ok(());
        }
        let remote_mids = offer
            .as_ref()
            .map(|o| sdp_mids(o.as_str()))
            .unwrap_or_default();
        let mut call = Call::new(
            call_id,
            Direction::Incoming,
            from.clone(),
            CallState::Ringing,
            now,
        );
        call.remote_device = Some(PEER_DEVICE);
        call.ring_deadline = Some(now + self.config.peer_ring_timeout);
        call.times.ringing = Some(now);
        call.signaled = Signaled::Peer(PeerSide {
            offer,
            remote_mids,
            offered_first: false,
        });
        let early = self.peer_early.take(call_id);
        if !early.is_empty() {
            call.early_candidates.insert(PEER_DEVICE, early);
        }
        self.calls.insert(call_id, call);
        self.report(Report::IncomingCall {
            call_id,
            from_user: from,
            from_display_name: display_name,
            replayed: false,
        });
        if busy {
            // A push must reach CallKit even when we are busy (iOS requires every VoIP push be
            // reported): report it, then end it at once as busy, and tell the peer.
            info!(%call_id, "already in a call: the announced call ends busy");
            self.peer_out(
                call_id,
                PeerSignal::Bye {
                    reason: Some(EndReason::Busy),
                },
            );
            self.end_call(
                now,
                call_id,
                CallEndReason::protocol(EndReason::Busy),
                false,
            );
            return Ok(());
        }
        self.start_gathering(now, call_id);
        Ok(())
    }

    fn on_new_peer_offer(
        &mut self,
        now: Instant,
        call_id: CallId,
        sdp: Sdp,
    ) -> Result<(), CoreError> {
        check_offer_text(&sdp)?;
        let from = UserName::try_from(UNNAMED_PEER.to_owned()).map_err(CoreError::Config)?;
        self.incoming_peer_call(now, call_id, from, None, Some(sdp), false)
    }

    fn on_peer_offer(&mut self, now: Instant, call_id: CallId, sdp: Sdp) -> Result<(), CoreError> {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return Err(CoreError::UnknownCall { call_id });
        };
        let answered = call.state.is_answered();
        let has_connection = call.peers.contains_key(&PEER_DEVICE);
        let direction = call.direction;
        let offered_first = call.peer_side().is_some_and(|s| s.offered_first);
        let Some(side) = call.peer_side() else {
            return Ok(());
        };
        match (direction, has_connection) {
            // Announced ahead of its offer.
            (Direction::Incoming, false) if side.offer.is_none() => {
                check_offer_text(&sdp)?;
                side.remote_mids = sdp_mids(sdp.as_str());
                if answered {
                    // The user picked up from the lock screen before the offer came.
                    self.answer_offer(now, call_id, &sdp)?;
                    self.mark_connecting_or_active(now, call_id);
                } else {
                    side.offer = Some(sdp);
                }
                Ok(())
            }
            (Direction::Incoming, false) => Err(CoreError::PeerSignal {
                call_id,
                detail: "a second offer before the call was answered".into(),
                hint: "send one offer per call; renegotiate only once it is answered",
            }),
            (Direction::Outgoing, true) if !answered => self.settle_glare(now, call_id, sdp),
            _ => {
                // A renegotiation (ICE restart) of the session.
                let crossing = call
                    .peers
                    .get(&PEER_DEVICE)
                    .and_then(|p| p.pc.local_offer_outstanding())
                    .is_some();
                if crossing && offered_first {
                    info!(%call_id, "offers crossed: ours stands, the peer answers it");
                    return Ok(());
                }
                let peer = call
                    .peers
                    .get_mut(&PEER_DEVICE)
                    .ok_or(CoreError::UnknownCall { call_id })?;
                let answer = peer.pc.accept_offer(&sdp)?;
                if let Some(side) = call.peer_side() {
                    side.remote_mids = sdp_mids(sdp.as_str());
                }
                self.peer_out(call_id, PeerSignal::Answer { sdp: answer });
                Ok(())
            }
        }
    }

    /// Our first offer crossed the peer's on a new call (both pressed call): the higher ICE
    /// ufrag's offer stands on both sides. If it is theirs, drop ours and answer theirs, and the
    /// call is answered; if ours, wait for their answer.
    fn settle_glare(
        &mut self,
        now: Instant,
        call_id: CallId,
        theirs: Sdp,
    ) -> Result<(), CoreError> {
        check_offer_text(&theirs)?;
        let Some(call) = self.calls.get_mut(&call_id) else {
            return Err(CoreError::UnknownCall { call_id });
        };
        let ours = call
            .peers
            .get(&PEER_DEVICE)
            .and_then(|p| p.pc.local_offer_sdp())
            .map(|sdp| sdp_ufrag(sdp.as_str()));
        let ours_stands = match (ours.flatten(), sdp_ufrag(theirs.as_str())) {
            (Some(ours), Some(theirs)) => ours > theirs,
            // An offer without a ufrag is broken; ours stands.
            (Some(_), None) => true,
            _ => false,
        };
        if ours_stands {
            info!(%call_id, "offers crossed on a new call: ours stands");
            return Ok(());
        }
        info!(%call_id, "offers crossed on a new call: answering theirs");
        // Our offer's connection never got an answer: nothing to say goodbye to.
        call.peers.remove(&PEER_DEVICE);
        if let Some(side) = call.peer_side() {
            side.offered_first = false;
            side.remote_mids = sdp_mids(theirs.as_str());
        }
        self.answer_offer(now, call_id, &theirs)?;
        self.on_accepted(now, call_id, PEER_DEVICE, "crossed offers");
        Ok(())
    }

    /// Answers the peer's offer with a new connection, media released (the user answered), and
    /// hands the answer to the app; candidates that waited for the connection are applied.
    fn answer_offer(
        &mut self,
        now: Instant,
        call_id: CallId,
        offer: &Sdp,
    ) -> Result<(), CoreError> {
        let mut config = self.config.peer.clone();
        config.media_enabled = true;
        let Some(call) = self.calls.get_mut(&call_id) else {
            return Err(CoreError::UnknownCall { call_id });
        };
        let early = call
            .early_candidates
            .remove(&PEER_DEVICE)
            .unwrap_or_default();
        let result = PeerConnection::new_answerer(config, now).and_then(|mut pc| {
            let answer = pc.accept_offer(offer)?;
            Ok((pc, answer))
        });
        let (mut pc, answer) = match result {
            Ok(made) => made,
            Err(error) => {
                self.fail_peer_call(now, call_id, &error);
                return Err(error);
            }
        };
        for c in &early {
            if let Err(error) = pc.add_remote_candidate(c) {
                debug!(%call_id, %error, "early candidate refused");
            }
        }
        call.peers.insert(PEER_DEVICE, Peer { pc, timeout: now });
        self.peer_out(call_id, PeerSignal::Answer { sdp: answer });
        self.add_gathered_candidates(now, call_id, PEER_DEVICE);
        Ok(())
    }

    fn on_peer_answer(
        &mut self,
        now: Instant,
        call_id: CallId,
        sdp: &Sdp,
    ) -> Result<(), CoreError> {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return Err(CoreError::UnknownCall { call_id });
        };
        let first = !call.state.is_answered();
        let Some(peer) = call.peers.get_mut(&PEER_DEVICE) else {
            return Err(CoreError::PeerSignal {
                call_id,
                detail: "an answer, but no offer of ours is outstanding".into(),
                hint: "drop it: this side answers the peer's offer",
            });
        };
        if let Err(error) = peer.pc.accept_answer(sdp) {
            if first && peer.pc.local_offer_outstanding().is_none() {
                // A refused first answer leaves the connection unable to negotiate again.
                self.fail_peer_call(now, call_id, &error);
            }
            return Err(error);
        }
        if let Some(side) = call.peer_side() {
            side.remote_mids = sdp_mids(sdp.as_str());
        }
        if first {
            call.ring_deadline = None;
            self.on_accepted(now, call_id, PEER_DEVICE, "peer answered");
        }
        Ok(())
    }

    fn on_peer_candidate(
        &mut self,
        call_id: CallId,
        candidate: Candidate,
    ) -> Result<(), CoreError> {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return Err(CoreError::UnknownCall { call_id });
        };
        if candidate.candidate.trim().is_empty() {
            return Ok(());
        }
        let mids = call
            .peer_side()
            .map(|s| s.remote_mids.clone())
            .unwrap_or_default();
        check_m_line(call_id, &mids, &candidate)?;
        if let Some(peer) = call.peers.get_mut(&PEER_DEVICE) {
            return peer.pc.add_remote_candidate(&candidate);
        }
        if call.buffer_early_candidate(PEER_DEVICE, candidate) {
            return Ok(());
        }
        Err(CoreError::PeerSignal {
            call_id,
            detail: format!("more than {MAX_EARLY_CANDIDATES} candidates before the answer"),
            hint: "drop it: the connection forms from the others",
        })
    }

    fn on_peer_bye(&mut self, now: Instant, call_id: CallId, reason: Option<EndReason>) {
        let Some(call) = self.calls.get(&call_id) else {
            return;
        };
        let reason = reason.unwrap_or(match (call.direction, call.state.is_answered()) {
            (_, true) => EndReason::Hangup,
            (Direction::Outgoing, false) => EndReason::Declined,
            (Direction::Incoming, false) => EndReason::Cancelled,
        });
        info!(%call_id, ?reason, "the peer ended the call");
        self.end_call(now, call_id, CallEndReason::protocol(reason), false);
    }
}

/// Refuses a candidate whose m-line the remote description does not have. Before any remote
/// description there is nothing to check against: it waits, and the connection checks it.
fn check_m_line(call_id: CallId, mids: &[String], c: &Candidate) -> Result<(), CoreError> {
    if mids.is_empty() {
        return Ok(());
    }
    let known = match (&c.sdp_mid, c.sdp_m_line_index) {
        (Some(mid), _) => mids.iter().any(|m| m == mid),
        (None, Some(index)) => usize::from(index) < mids.len(),
        (None, None) => false,
    };
    if known {
        return Ok(());
    }
    Err(CoreError::PeerSignal {
        call_id,
        detail: format!(
            "a candidate for an m-line the session does not have (sdp_mid {:?}, \
             sdp_m_line_index {:?}; the session has {} m-lines)",
            c.sdp_mid,
            c.sdp_m_line_index,
            mids.len()
        ),
        hint: "send sdp_mid or sdp_m_line_index as RTCIceCandidate gives them",
    })
}
