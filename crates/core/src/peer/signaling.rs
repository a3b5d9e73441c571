//! Offer/answer, ICE restart and candidates, in ringwire_proto's types.

use std::collections::VecDeque;
use std::mem;
use std::net::SocketAddr;

use ringwire_proto::{Candidate, Sdp};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::{ChannelConfig, Reliability};
use str0m::error::SdpError;
use str0m::media::{Direction, MediaKind};
use str0m::RtcError;
use tracing::{debug, info};

use super::config::validate_local_addr;
use super::{Output, PeerConnection, PeerEvent, Role, CONTROL_LABEL};
use crate::CoreError;

/// At most this many remote candidates wait for their remote description; the oldest go first.
const MAX_BUFFERED_CANDIDATES: usize = 32;

/// Where the offer/answer exchange stands.
pub(super) enum Signaling {
    /// Offerer, before `create_offer`.
    New,
    /// Answerer, before the remote offer.
    AwaitingOffer,
    /// Our offer is out; its answer is awaited.
    LocalOffer {
        pending: SdpPendingOffer,
        sdp: Sdp,
        ice_restart: bool,
    },
    /// Negotiated.
    Stable,
}

impl Signaling {
    pub(super) fn initial(role: Role) -> Self {
        match role {
            Role::Offerer => Signaling::New,
            Role::Answerer => Signaling::AwaitingOffer,
        }
    }

    pub(super) fn name(&self) -> &'static str {
        match self {
            Signaling::New => "new",
            Signaling::AwaitingOffer => "awaiting_offer",
            Signaling::LocalOffer {
                ice_restart: false, ..
            } => "awaiting_answer",
            Signaling::LocalOffer {
                ice_restart: true, ..
            } => "awaiting_restart_answer",
            Signaling::Stable => "stable",
        }
    }
}

/// The remote side's ICE generation and the candidates waiting for it.
#[derive(Default)]
pub(super) struct RemoteIce {
    /// `a=ice-ufrag` of the last applied remote description.
    ufrag: Option<String>,
    /// Candidates that arrived before their remote description.
    buffered: VecDeque<str0m::Candidate>,
}

impl PeerConnection {
    /// Creates the first offer (offerer only): Opus audio, sendrecv, and the control channel.
    /// Calling it again before the answer returns the same offer.
    pub fn create_offer(&mut self) -> Result<Sdp, CoreError> {
        self.ensure_open()?;
        match &self.signaling {
            Signaling::New => {}
            Signaling::LocalOffer { sdp, .. } => return Ok(sdp.clone()),
            other => {
                return Err(CoreError::SignalingState {
                    operation: "create_offer",
                    state: other.name(),
                    hint: if self.role == Role::Answerer {
                        "this side answers: pass the remote offer to accept_offer"
                    } else {
                        "the session is negotiated: use ice_restart() to renegotiate"
                    },
                })
            }
        }
        let mut api = self.rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        api.add_channel_with_config(ChannelConfig {
            label: CONTROL_LABEL.to_owned(),
            ordered: true,
            reliability: Reliability::Reliable,
            ..Default::default()
        });
        let Some((offer, pending)) = api.apply() else {
            return Err(CoreError::Rtc {
                detail: "str0m produced no offer for new media".to_owned(),
            });
        };
        self.audio.mid = Some(mid);
        let sdp = local_sdp(offer.to_sdp_string())?;
        self.set_signaling(
            Signaling::LocalOffer {
                pending,
                sdp: sdp.clone(),
                ice_restart: false,
            },
            "created offer",
        );
        self.pump();
        Ok(sdp)
    }

    /// Whether an offer of ours awaits its answer: `Some(true)` for an ICE-restart offer,
    /// `Some(false)` for the first offer, `None` when nothing is outstanding.
    pub fn local_offer_outstanding(&self) -> Option<bool> {
        match &self.signaling {
            Signaling::LocalOffer { ice_restart, .. } => Some(*ice_restart),
            _ => None,
        }
    }

    /// Our outstanding offer's SDP, if one awaits its answer.
    pub fn local_offer_sdp(&self) -> Option<&Sdp> {
        match &self.signaling {
            Signaling::LocalOffer { sdp, .. } => Some(sdp),
            _ => None,
        }
    }

    /// Applies the remote offer and returns the answer to send back. Also accepts a
    /// renegotiation offer (an ICE restart by the peer) once the session is stable; an offer
    /// that crosses our own ICE-restart offer wins and ours is dropped.
    pub fn accept_offer(&mut self, offer: &Sdp) -> Result<Sdp, CoreError> {
        self.ensure_open()?;
        match &self.signaling {
            Signaling::AwaitingOffer | Signaling::Stable => {}
            Signaling::LocalOffer {
                ice_restart: true, ..
            } => info!("remote offer crossed our ICE-restart offer: ours is dropped"),
            other => {
                return Err(CoreError::SignalingState {
                    operation: "accept_offer",
                    state: other.name(),
                    hint: "this side made the first offer and expects an answer; glare is for \
                           the call layer to resolve",
                })
            }
        }
        let parsed = SdpOffer::from_sdp_string(offer.as_str())
            .map_err(|e| bad_sdp_text("offer", offer.as_str().len(), &e))?;
        let crossed = matches!(self.signaling, Signaling::LocalOffer { .. });
        let answer = self.rtc.sdp_api().accept_offer(parsed);
        let answer = answer.map_err(|e| {
            if crossed {
                // str0m invalidated our pending offer even though it refused theirs.
                self.set_signaling(Signaling::Stable, "remote offer refused");
            }
            self.remote_sdp_error(e)
        })?;
        self.remote.ufrag = sdp_ufrag(offer.as_str());
        self.candidates.remote_sdp(offer.as_str());
        if self.audio.mid.is_none() {
            // str0m emits `MediaAdded` only once SRTP is up; the answer needs the mid now.
            self.audio.mid = audio_mid(offer.as_str()).map(|m| m.as_str().into());
        }
        self.set_signaling(Signaling::Stable, "accepted remote offer");
        self.pump();
        self.apply_buffered_candidates();
        self.check_audio()?;
        local_sdp(answer.to_sdp_string())
    }

    /// Applies the answer to our outstanding offer (first offer or ICE restart).
    ///
    /// If the first answer is refused, this connection cannot be negotiated again: create a new
    /// one. A refused ICE-restart answer leaves the session on its old ICE credentials.
    pub fn accept_answer(&mut self, answer: &Sdp) -> Result<(), CoreError> {
        self.ensure_open()?;
        if !matches!(self.signaling, Signaling::LocalOffer { .. }) {
            return Err(CoreError::SignalingState {
                operation: "accept_answer",
                state: self.signaling.name(),
                hint: "no offer of ours is outstanding: drop this answer",
            });
        }
        let parsed = SdpAnswer::from_sdp_string(answer.as_str())
            .map_err(|e| bad_sdp_text("answer", answer.as_str().len(), &e))?;
        self.candidates.remote_sdp(answer.as_str());
        let Signaling::LocalOffer {
            pending,
            ice_restart,
            ..
        } = mem::replace(&mut self.signaling, Signaling::Stable)
        else {
            unreachable!("checked above that an offer is outstanding");
        };
        let result = self.rtc.sdp_api().accept_answer(pending, parsed);
        if let Err(e) = result {
            let after = if ice_restart {
                Signaling::Stable
            } else {
                Signaling::New
            };
            self.set_signaling(after, "answer refused");
            return Err(self.remote_sdp_error(e));
        }
        self.remote.ufrag = sdp_ufrag(answer.as_str());
        info!(
            from = if ice_restart {
                "awaiting_restart_answer"
            } else {
                "awaiting_answer"
            },
            to = "stable",
            "signaling"
        );
        self.pump();
        self.apply_buffered_candidates();
        self.check_audio()
    }

    /// Starts an ICE restart: returns an offer with new ICE credentials for the peer, whose
    /// answer goes to [`accept_answer`](Self::accept_answer). Local candidates are kept (add or
    /// remove addresses first on a network change). Audio keeps flowing on the old pair until
    /// the new one is nominated.
    pub fn ice_restart(&mut self) -> Result<Sdp, CoreError> {
        self.ensure_open()?;
        if !matches!(self.signaling, Signaling::Stable) {
            return Err(CoreError::SignalingState {
                operation: "ice_restart",
                state: self.signaling.name(),
                hint: "finish the outstanding offer/answer first",
            });
        }
        let mut api = self.rtc.sdp_api();
        api.ice_restart(true);
        let Some((offer, pending)) = api.apply() else {
            return Err(CoreError::Rtc {
                detail: "str0m produced no ICE-restart offer".to_owned(),
            });
        };
        let sdp = local_sdp(offer.to_sdp_string())?;
        self.set_signaling(
            Signaling::LocalOffer {
                pending,
                sdp: sdp.clone(),
                ice_restart: true,
            },
            "ICE restart offer",
        );
        self.pump();
        Ok(sdp)
    }

    /// Applies a trickled remote candidate, or buffers it until its remote description is
    /// applied. End-of-candidates (empty) and mDNS `.local` candidates are accepted and
    /// ignored (see the module docs).
    pub fn add_remote_candidate(&mut self, candidate: &Candidate) -> Result<(), CoreError> {
        self.ensure_open()?;
        let line = candidate.candidate.trim();
        let line = line.strip_prefix("a=").unwrap_or(line);
        if line.is_empty() {
            debug!("remote end-of-candidates");
            return Ok(());
        }
        if is_mdns(line) {
            debug!(
                bytes = line.len(),
                "remote mDNS candidate ignored; relying on peer-reflexive discovery"
            );
            return Ok(());
        }
        let mut parsed = str0m::Candidate::from_sdp_string(line).map_err(|e| {
            debug!(
                error_bytes = e.to_string().len(),
                "remote candidate does not parse"
            );
            CoreError::BadCandidate { len: line.len() }
        })?;
        if parsed.ufrag().is_none() {
            if let Some(ufrag) = &candidate.username_fragment {
                parsed.set_ufrag(ufrag);
            }
        }
        self.candidates.remote(&parsed);
        match &self.remote.ufrag {
            None => self.buffer_candidate(parsed, "before the remote description"),
            Some(current) if parsed.ufrag().is_some_and(|u| u != current) => {
                self.buffer_candidate(parsed, "for an ICE generation not negotiated yet")
            }
            Some(_) => {
                debug!(kind = %parsed.kind(), "remote candidate applied");
                self.rtc.add_remote_candidate(parsed);
                self.pump();
            }
        }
        Ok(())
    }

    /// How many remote candidates wait for their remote description.
    pub fn buffered_remote_candidates(&self) -> usize {
        self.remote.buffered.len()
    }

    /// Adds a local host candidate after construction (a new interface, a network change) and
    /// emits it as [`PeerEvent::LocalCandidate`] for the peer.
    pub fn add_local_address(&mut self, addr: SocketAddr) -> Result<(), CoreError> {
        self.ensure_open()?;
        if let Some(c) = self.add_host_candidate(addr)? {
            let msg = Candidate {
                candidate: c.to_sdp_string(),
                sdp_mid: self.audio.mid.map(|m| m.to_string()),
                sdp_m_line_index: Some(0),
                username_fragment: c.ufrag().map(str::to_owned),
            };
            self.out
                .push_back(Output::Event(PeerEvent::LocalCandidate(msg)));
        }
        Ok(())
    }

    /// Adds a gathered local candidate (server-reflexive or relay) and emits it as
    /// [`PeerEvent::LocalCandidate`] for the peer (trickle ICE).
    pub fn add_local_candidate(&mut self, candidate: str0m::Candidate) -> Result<(), CoreError> {
        self.ensure_open()?;
        let added = self.rtc.add_local_candidate(candidate).cloned();
        self.pump();
        if let Some(c) = added {
            self.candidates.local(&c);
            let msg = Candidate {
                candidate: c.to_sdp_string(),
                sdp_mid: self.audio.mid.map(|m| m.to_string()),
                sdp_m_line_index: Some(0),
                username_fragment: c.ufrag().map(str::to_owned),
            };
            self.out
                .push_back(Output::Event(PeerEvent::LocalCandidate(msg)));
        }
        Ok(())
    }

    /// Withdraws a local host candidate (an interface went away). Returns whether it was known.
    pub fn remove_local_address(&mut self, addr: SocketAddr) -> bool {
        let Ok(c) = str0m::Candidate::host(addr, "udp") else {
            return false;
        };
        let removed = self.rtc.direct_api().invalidate_candidate(&c);
        self.pump();
        removed
    }

    /// Validates and adds one host candidate; returns it when str0m took it (not a duplicate).
    pub(super) fn add_host_candidate(
        &mut self,
        addr: SocketAddr,
    ) -> Result<Option<str0m::Candidate>, CoreError> {
        validate_local_addr(addr)
            .map_err(|reason| CoreError::InvalidLocalAddress { index: 0, reason })?;
        let c = str0m::Candidate::host(addr, "udp").map_err(|e| CoreError::Rtc {
            detail: format!("str0m refused a host candidate: {e}"),
        })?;
        let added = self.rtc.add_local_candidate(c).cloned();
        self.pump();
        if let Some(c) = &added {
            self.candidates.local(c);
        }
        Ok(added)
    }

    fn buffer_candidate(&mut self, c: str0m::Candidate, why: &str) {
        if self.remote.buffered.len() >= MAX_BUFFERED_CANDIDATES {
            self.remote.buffered.pop_front();
            debug!("remote candidate buffer full: oldest dropped");
        }
        self.remote.buffered.push_back(c);
        debug!(
            why,
            buffered = self.remote.buffered.len(),
            "remote candidate buffered"
        );
    }

    /// Applies the buffered candidates of the current remote generation; keeps the others.
    fn apply_buffered_candidates(&mut self) {
        let Some(current) = self.remote.ufrag.clone() else {
            return;
        };
        let buffered = mem::take(&mut self.remote.buffered);
        let mut applied = 0;
        for c in buffered {
            if c.ufrag().is_none_or(|u| u == current) {
                self.rtc.add_remote_candidate(c);
                self.pump();
                applied += 1;
            } else {
                self.remote.buffered.push_back(c);
            }
        }
        if applied > 0 {
            debug!(
                applied,
                kept = self.remote.buffered.len(),
                "buffered remote candidates applied"
            );
        }
    }

    fn set_signaling(&mut self, to: Signaling, reason: &str) {
        info!(
            from = self.signaling.name(),
            to = to.name(),
            reason,
            "signaling"
        );
        self.signaling = to;
    }

    /// Maps str0m's refusal of a remote description; a refusal that killed the `Rtc` (missing
    /// fingerprint) also closes us.
    fn remote_sdp_error(&mut self, e: RtcError) -> CoreError {
        let detail = match &e {
            // These messages are fixed texts, never SDP content.
            RtcError::RemoteSdp(msg) => msg.clone(),
            RtcError::ChangesOutOfOrder => "answer to an offer that is no longer current".into(),
            // Other messages can quote SDP or candidate lines (addresses, credentials).
            RtcError::Sdp(_) => "inconsistent description".into(),
            _ => "description refused by the WebRTC stack".into(),
        };
        debug!(%detail, "remote description refused");
        if !self.rtc.is_alive() {
            self.finish(super::CloseReason::Failure(detail.clone()));
        }
        CoreError::BadSdp { detail }
    }
}

/// A remote SDP text that does not parse. str0m's parser message can quote SDP lines, so only
/// the kind of failure is kept.
fn bad_sdp_text(what: &str, bytes: usize, e: &SdpError) -> CoreError {
    let kind = match e {
        SdpError::ParseError(_) => "does not parse",
        SdpError::Inconsistent(_) => "is inconsistent",
    };
    debug!(what, bytes, kind, "remote SDP refused");
    CoreError::BadSdp {
        detail: format!("the {what} {kind}"),
    }
}

/// Wraps SDP we produced in the protocol type.
fn local_sdp(s: String) -> Result<Sdp, CoreError> {
    Sdp::try_from(s).map_err(|_| CoreError::Rtc {
        detail: "local SDP is empty or exceeds ringwire's SDP size limit".to_owned(),
    })
}

/// The `a=mid` of each m-line of a session description, in m-line order (an m-line without
/// one gets an empty string, so indexes still line up).
pub(crate) fn sdp_mids(sdp: &str) -> Vec<String> {
    let mut mids: Vec<String> = Vec::new();
    for line in sdp.lines().map(str::trim) {
        if line.starts_with("m=") {
            mids.push(String::new());
        } else if let (Some(mid), Some(last)) = (line.strip_prefix("a=mid:"), mids.last_mut()) {
            mid.trim().clone_into(last);
        }
    }
    mids
}

/// Checks that a remote offer parses as SDP, without applying it anywhere: a call that cannot
/// be answered must not ring.
pub(crate) fn check_offer_text(offer: &Sdp) -> Result<(), CoreError> {
    SdpOffer::from_sdp_string(offer.as_str())
        .map(|_| ())
        .map_err(|e| bad_sdp_text("offer", offer.as_str().len(), &e))
}

/// The first `a=ice-ufrag` of an SDP text.
pub(crate) fn sdp_ufrag(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim().strip_prefix("a=ice-ufrag:"))
        .map(|u| u.trim().to_owned())
}

/// The `a=mid` of the first `m=audio` section of an SDP text.
fn audio_mid(sdp: &str) -> Option<String> {
    let mut in_audio = false;
    for line in sdp.lines().map(str::trim) {
        if line.starts_with("m=") {
            if in_audio {
                return None;
            }
            in_audio = line.starts_with("m=audio ");
        } else if in_audio {
            if let Some(mid) = line.strip_prefix("a=mid:") {
                return Some(mid.trim().to_owned());
            }
        }
    }
    None
}

/// Whether a `candidate:` line names an mDNS host (`<uuid>.local`) instead of an address.
fn is_mdns(line: &str) -> bool {
    line.split_whitespace()
        .nth(4)
        .is_some_and(|host| host.to_ascii_lowercase().ends_with(".local"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mdns_candidates_are_recognised() {
        assert!(is_mdns(
            "candidate:1 1 udp 2122260223 4b1c2a9e-7f5d-4c41-9a0b-3c2d1e0f9a8b.local 54321 typ host"
        ));
        assert!(!is_mdns(
            "candidate:1 1 udp 2122260223 10.0.0.1 54321 typ host"
        ));
        assert!(!is_mdns("candidate:1 1 udp"));
    }

    #[test]
    fn audio_mid_is_read_from_sdp() {
        let sdp = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:d\r\n\
                   m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\na=mid:au\r\n";
        assert_eq!(audio_mid(sdp).as_deref(), Some("au"));
        assert_eq!(
            audio_mid("v=0\r\nm=audio 9 RTP/SAVPF 111\r\nm=video 9\r\na=mid:v\r\n"),
            None
        );
    }

    #[test]
    fn ufrag_is_read_from_sdp() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\na=ice-ufrag:abCD\r\na=ice-pwd:x\r\n";
        assert_eq!(sdp_ufrag(sdp).as_deref(), Some("abCD"));
        assert_eq!(sdp_ufrag("v=0\r\n"), None);
    }
}
