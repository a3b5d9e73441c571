//! One call as this device sees it: its [`CallState`], the WebRTC connections to the remote
//! devices taking part, the audio pipeline once the call is answered, and the timeline the
//! call report is made from. The [`Agent`](crate::Agent) owns the calls and makes every
//! transition through [`Call::set_state`], so the log shows each one.

mod audio;
pub mod verdict;

pub(crate) use audio::CallAudio;

use std::collections::BTreeMap;
use std::time::Instant;

use ringwire_proto::{CallId, Candidate, ClientMessage, DeviceId, Sdp, UserName};
use serde::Serialize;
use tracing::info;

use crate::gather::Gathering;
use crate::peer::{PeerConnection, PeerStats};
use crate::report::Direction;

/// Candidates kept per remote device while its offer is still on the way.
pub(crate) const MAX_EARLY_CANDIDATES: usize = 32;
/// Remote devices one call keeps a connection with (a callee rarely has more than a phone, a
/// tablet and a laptop; the cap bounds what a hostile peer can make us allocate).
pub(crate) const MAX_PEERS_PER_CALL: usize = 8;

/// Where a call is.
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CallState {
    /// Outgoing: the invite is sent; the server has not confirmed it yet.
    Dialing,
    /// The call rings (at the callee's devices for an outgoing call, here for an incoming
    /// one). Media pre-connects meanwhile, held.
    Ringing,
    /// Answered; the media path to the answering device is still being set up (it had not
    /// pre-connected in time).
    Connecting,
    /// Answered, media flowing.
    Active,
    /// Answered, but the media path broke; ICE is trying to restore it.
    Reconnecting,
}

impl CallState {
    /// Whether the call was answered.
    pub fn is_answered(self) -> bool {
        matches!(
            self,
            CallState::Connecting | CallState::Active | CallState::Reconnecting
        )
    }
}

/// What the app (or a WebView UI waking up) needs to redraw a call.
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallSnapshot {
    pub call_id: CallId,
    pub direction: Direction,
    pub remote_user: UserName,
    #[serde(flatten)]
    pub state: CallState,
    pub muted: bool,
    pub held: bool,
    /// Whether ICE and DTLS to the answering device (or any ringing device) are up.
    pub media_connected: bool,
}

/// When things happened, for the call report.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeline {
    pub started: Instant,
    pub ringing: Option<Instant>,
    pub accepted: Option<Instant>,
    pub first_audio: Option<Instant>,
    /// The chosen connection was already up when the call was accepted.
    pub preconnected: bool,
    /// When the answered call's media path was first up (the call went `Active`).
    pub media_up: Option<Instant>,
}

/// How a call is signaled.
#[derive(Debug, Default)]
pub(crate) enum Signaled {
    /// Through the ringwire server, protocol v1.
    #[default]
    Server,
    /// Through the app's own channel, with a standard WebRTC peer (peer mode, see
    /// `agent/peer_mode.rs`).
    Peer(PeerSide),
}

/// What a peer-mode call keeps beside the connection.
#[derive(Debug, Default)]
pub(crate) struct PeerSide {
    /// Incoming: the remote offer, kept until the user answers (a standard peer takes our
    /// answer to mean "picked up").
    pub offer: Option<Sdp>,
    /// The `a=mid` of each m-line of the remote description (offer or answer), to refuse a
    /// candidate for an m-line the session does not have.
    pub remote_mids: Vec<String>,
    /// Whether this side made the session's first offer. In a crossing of two offers on a
    /// negotiated session (both restarting ICE at once) the first offerer's stands and the
    /// other side yields, so the two never answer each other's offer and drop both answers.
    pub offered_first: bool,
}

/// One WebRTC connection to a remote device and its next deadline.
pub(crate) struct Peer {
    pub pc: PeerConnection,
    pub timeout: Instant,
}

/// One call.
pub(crate) struct Call {
    pub id: CallId,
    pub direction: Direction,
    pub remote_user: UserName,
    /// Incoming: the caller device. Outgoing: the callee device that answered, once known.
    pub remote_device: Option<DeviceId>,
    pub state: CallState,
    pub peers: BTreeMap<DeviceId, Peer>,
    /// Candidates from devices we have no connection with yet.
    pub early_candidates: BTreeMap<DeviceId, Vec<Candidate>>,
    /// When to stop ringing here if the server never says (its ring deadline, on our clock,
    /// plus `AgentConfig::ring_grace`).
    pub ring_deadline: Option<Instant>,
    /// When to give up a `Connecting` or `Reconnecting` call.
    pub media_deadline: Option<Instant>,
    pub next_quality: Option<Instant>,
    /// The callee accepted here before the control channel was open: send the in-band accept
    /// when it opens.
    pub inband_accept_pending: bool,
    pub remote_ringing: bool,
    /// Reported from a push before the server confirmed it: `ringing` and the pre-connect wait
    /// for the server's `incoming` (replayed when the woken device connects).
    pub awaiting_server: bool,
    pub muted: bool,
    pub held: bool,
    pub audio: Option<CallAudio>,
    pub last_stats: Option<PeerStats>,
    pub times: Timeline,
    /// Server-reflexive and relay candidates of this call, and its TURN allocations.
    pub gathering: Gathering,
    /// The network changed while signaling was down: restart ICE once it is back (the offer
    /// travels through the server, and a relay message sent while down is dropped).
    pub ice_restart_wanted: bool,
    /// Server or peer mode.
    pub signaled: Signaled,
    /// The quality verdict and what its windows are measured from.
    pub quality: QualityWatch,
    /// What happened when, for the call's analytics timeline (agent/timeline.rs).
    pub timeline: Vec<(Instant, ringwire_proto::TimelineEventKind)>,
    /// What the platform said about where the answer came from (`Command::AnswerFromOs`).
    pub answered_from_lock_screen: Option<bool>,
}

/// What the quality verdict of an answered call is made from, window after window.
#[derive(Debug, Default)]
pub(crate) struct QualityWatch {
    pub tracker: verdict::VerdictTracker,
    /// Counters at the start of the current window, and when it started.
    pub base: Option<WindowBase>,
    /// Audio-clock ticks (captured frames) of this call so far.
    pub capture_ticks: u64,
    /// The far end says it paused its audio.
    pub far_end_paused: bool,
    /// The sender's RED levels and bitrate in the last good window, to tell what changed since.
    pub policy_when_good: Option<(u8, u32)>,
    /// Dying windows in a row while poor, and whether this episode already restarted ICE.
    pub poor_windows: u32,
    pub restarted_ice: bool,
    /// The action reported with the current verdict.
    pub action: Option<verdict::QualityAction>,
}

/// Cumulative counters at a window's start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowBase {
    pub at: Instant,
    pub packets_received: u64,
    pub lost: u64,
    pub played: u64,
    pub concealed: u64,
    pub capture_ticks: u64,
}

impl Call {
    pub fn new(
        id: CallId,
        direction: Direction,
        remote_user: UserName,
        state: CallState,
        now: Instant,
    ) -> Call {
        Call {
            id,
            direction,
            remote_user,
            remote_device: None,
            state,
            peers: BTreeMap::new(),
            early_candidates: BTreeMap::new(),
            ring_deadline: None,
            media_deadline: None,
            next_quality: None,
            inband_accept_pending: false,
            remote_ringing: false,
            awaiting_server: false,
            muted: false,
            held: false,
            audio: None,
            last_stats: None,
            gathering: Gathering::idle(),
            ice_restart_wanted: false,
            signaled: Signaled::Server,
            quality: QualityWatch::default(),
            timeline: Vec::new(),
            answered_from_lock_screen: None,
            times: Timeline {
                started: now,
                ringing: None,
                accepted: None,
                first_audio: None,
                preconnected: false,
                media_up: None,
            },
        }
    }

    /// The one place a call changes state.
    pub fn set_state(&mut self, to: CallState, why: &'static str) {
        if self.state != to {
            info!(call_id = %self.id, from = ?self.state, ?to, why, "call state");
            self.state = to;
        }
    }

    /// The peer-mode side of the call, if it is signaled by the app.
    pub fn peer_side(&mut self) -> Option<&mut PeerSide> {
        match &mut self.signaled {
            Signaled::Peer(side) => Some(side),
            Signaled::Server => None,
        }
    }

    /// Whether the app's own channel carries this call's signaling.
    pub fn is_peer_mode(&self) -> bool {
        matches!(self.signaled, Signaled::Peer(_))
    }

    /// The connection that carries the call once it is answered.
    pub fn chosen_peer(&mut self) -> Option<&mut Peer> {
        let device = self.remote_device?;
        self.peers.get_mut(&device)
    }

    /// Whether the chosen connection has DTLS up.
    pub fn chosen_connected(&self) -> bool {
        self.remote_device
            .and_then(|d| self.peers.get(&d))
            .is_some_and(|p| p.pc.is_connected())
    }

    /// Whether the call was answered and its media never came up: nobody has heard anything.
    pub fn answered_without_media(&self) -> bool {
        self.times.accepted.is_some() && self.times.media_up.is_none()
    }

    /// The `hangup` this device sends: with `reason: media_failed` when the call it ends never
    /// had media, so the server's record and the far end say what happened (a user's hangup of
    /// a silent call is not a call that took place, whoever pressed the button).
    pub fn hangup_message(&self) -> ClientMessage {
        if self.answered_without_media() {
            ClientMessage::media_failed_hangup(self.id)
        } else {
            ClientMessage::hangup(self.id)
        }
    }

    /// Keeps a candidate that arrived before its device's offer; `false` when full.
    pub fn buffer_early_candidate(&mut self, device: DeviceId, candidate: Candidate) -> bool {
        if !self.early_candidates.contains_key(&device)
            && self.early_candidates.len() >= MAX_PEERS_PER_CALL
        {
            return false;
        }
        let list = self.early_candidates.entry(device).or_default();
        if list.len() >= MAX_EARLY_CANDIDATES {
            return false;
        }
        list.push(candidate);
        true
    }

    /// The earliest deadline of this call: its connections' and its own timers.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.peers
            .values()
            .map(|p| p.timeout)
            .chain(self.ring_deadline)
            .chain(self.media_deadline)
            .chain(self.next_quality)
            .chain(self.gathering.poll_timeout())
            .min()
    }

    pub fn snapshot(&self) -> CallSnapshot {
        let media_connected = match self.remote_device {
            Some(d) if self.state.is_answered() || self.direction == Direction::Incoming => {
                self.peers.get(&d).is_some_and(|p| p.pc.is_connected())
            }
            _ => self.peers.values().any(|p| p.pc.is_connected()),
        };
        CallSnapshot {
            call_id: self.id,
            direction: self.direction,
            remote_user: self.remote_user.clone(),
            state: self.state,
            muted: self.muted,
            held: self.held,
            media_connected,
        }
    }
}
