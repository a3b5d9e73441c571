//! One WebRTC connection to one remote device, sans-IO, on [str0m].
//!
//! A [`PeerConnection`] wraps one `str0m::Rtc` configured for ringwire: audio only (Opus,
//! PT 111, `opus/48000/2`), RTCP on, and a reliable ordered data channel `ringwire-control` for
//! in-band call control. It never reads the clock, opens a socket or spawns anything: the driver
//! feeds it datagrams and time, and sends what it returns.
//!
//! # The drive contract
//!
//! *Inputs* are [`handle_receive`](PeerConnection::handle_receive) (a datagram from the
//! network), [`handle_timeout`](PeerConnection::handle_timeout) (time passed), and the
//! operations (signaling, [`send_audio`](PeerConnection::send_audio),
//! [`send_control`](PeerConnection::send_control), [`set_media_enabled`], [`close`], ...).
//!
//! **After every input, call [`poll_output`](PeerConnection::poll_output) until it returns
//! [`Output::Timeout`].** Send each [`Output::Transmit`] from its `source` socket to its
//! `destination`, handle each [`Output::Event`], then wait until the timeout instant or the next
//! input, whichever comes first, and call `handle_timeout(now)` when the instant passes.
//! `Timeout` may name an instant that has already passed: call `handle_timeout` at once.
//!
//! Every operation drains str0m internally into an output queue before it returns, so str0m's
//! own "one mutation, then drain" invariant holds even if two operations follow each other
//! without polling in between; skipping the drain only delays what goes out, it never corrupts
//! state. `now` must not go backwards (earlier instants are treated as the latest seen).
//!
//! Several connections can share one socket: route each datagram to the connection whose
//! [`accepts`](PeerConnection::accepts) returns true. `destination` in `handle_receive` must be
//! the local socket's address (one of `PeerConfig::local_addrs`), not a wildcard.
//!
//! # Signaling
//!
//! The offerer calls [`create_offer`](PeerConnection::create_offer) and later
//! [`accept_answer`](PeerConnection::accept_answer); the answerer calls
//! [`accept_offer`](PeerConnection::accept_offer) and sends back the answer it returns. The
//! configured local addresses travel inside the SDP as `a=candidate` lines. Remote trickled
//! candidates go to [`add_remote_candidate`](PeerConnection::add_remote_candidate):
//!
//! - a candidate that arrives before the remote description (offer or answer) is applied is
//!   buffered and applied right after it, as is one whose `usernameFragment` belongs to an ICE
//!   generation not negotiated yet (trickle during an ICE restart);
//! - an empty candidate means end-of-candidates and is accepted (str0m keeps trickle open);
//! - an mDNS host candidate (`<uuid>.local`, what Chromium sends before it has microphone
//!   permission) cannot be resolved in a sans-IO core: it is ignored with a debug log, and the
//!   connection forms through peer-reflexive discovery when the peer's checks reach us (the
//!   peer learns our real addresses from our SDP).
//!
//! Candidates added later with [`add_local_address`](PeerConnection::add_local_address) come out
//! as [`PeerEvent::LocalCandidate`] for the call layer to forward.
//! [`ice_restart`](PeerConnection::ice_restart) makes a new offer with fresh ICE credentials;
//! audio keeps flowing over the old pair until the new one is nominated.
//!
//! # Media hold
//!
//! ringwire pre-connects ICE and DTLS while the phone rings and only then lets audio flow. With
//! media held (the default), [`send_audio`](PeerConnection::send_audio) refuses with
//! [`CoreError::MediaHeld`] and received audio is dropped (counted, not delivered). Call
//! [`set_media_enabled(true)`](PeerConnection::set_media_enabled) on accept. Control messages
//! flow while media is held: that is how `accept` travels in-band.
//!
//! # Privacy
//!
//! Nothing here logs SDP text, candidate lines or addresses at info level or above; debug logs
//! give sizes and kinds. str0m wraps addresses in its own `Pii` marker in its debug logs.
//!
//! [`set_media_enabled`]: PeerConnection::set_media_enabled
//! [`close`]: PeerConnection::close
//! [`CoreError::MediaHeld`]: crate::CoreError::MediaHeld

mod candidates;
mod config;
mod control;
mod event;
mod media;
mod signaling;
mod stats;

pub use config::{InvalidAddressReason, PeerConfig};
pub use event::{
    AudioPacket, CloseReason, IceState, Output, PeerEvent, PeerStats, Role, TelephoneEventPacket,
};
pub(crate) use signaling::{check_offer_text, sdp_mids, sdp_ufrag};

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Rtc, RtcError};
use tracing::{debug, info, trace, warn};

use crate::CoreError;

/// Label of the in-band control data channel the offerer opens.
pub const CONTROL_LABEL: &str = "ringwire-control";

/// str0m errors in a row after which we give the connection up.
const MAX_CONSECUTIVE_ERRORS: u32 = 8;

/// Pays the one-time cost of the first connection in a process (crypto provider set-up, about
/// 50 ms measured) so the first call does not. Call once when the engine starts.
pub fn warm_up(now: Instant) {
    let addr = SocketAddr::from(([127, 0, 0, 1], 9));
    if let Ok(mut pc) = PeerConnection::new_offerer(PeerConfig::new([addr]), now) {
        let _ = pc.create_offer();
    }
}

/// One WebRTC connection to one remote device. See the [module docs](self) for the contract.
pub struct PeerConnection {
    rtc: Rtc,
    role: Role,
    config: PeerConfig,
    signaling: signaling::Signaling,
    remote: signaling::RemoteIce,
    audio: media::Audio,
    control: control::Control,
    stats: stats::StatsBuilder,
    candidates: candidates::CandidateBook,
    ice_state: IceState,
    /// DTLS-SRTP is up (str0m's `Event::Connected` was seen).
    connected: bool,
    /// Set once: by `close`, by the peer closing, or by a fatal error.
    closed: Option<CloseReason>,
    out: VecDeque<Output>,
    /// str0m's next deadline, from its last drain.
    rtc_timeout: Instant,
    timers: Timers,
    /// The latest instant seen in any input.
    now: Instant,
    /// ICE's state as str0m last reported it (ours may say `Disconnected` earlier: a path
    /// that went silent).
    agent_ice_state: IceState,
    /// When the last SRTP, SRTCP or DTLS datagram from the peer arrived, or media was enabled
    /// if that is later (a call answered after a quiet pre-connect is not silent yet).
    last_heard: Instant,
    consecutive_errors: u32,
}

/// Our own timers (str0m's are folded into `rtc_timeout`).
#[derive(Debug, Default)]
struct Timers {
    /// When a `Disconnected` ICE state turns into `Failed`.
    ice_failed: Option<Instant>,
    /// When a connected call that hears nothing counts its path as lost
    /// ([`PeerConfig::path_silence_after`]).
    path_silent: Option<Instant>,
}

impl Timers {
    fn next(&self) -> Option<Instant> {
        match (self.ice_failed, self.path_silent) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl PeerConnection {
    /// A connection that will make the first offer ([`create_offer`](Self::create_offer)) and
    /// open the control channel.
    pub fn new_offerer(config: PeerConfig, now: Instant) -> Result<Self, CoreError> {
        Self::new(Role::Offerer, config, now)
    }

    /// A connection that waits for the remote offer ([`accept_offer`](Self::accept_offer)).
    pub fn new_answerer(config: PeerConfig, now: Instant) -> Result<Self, CoreError> {
        Self::new(Role::Answerer, config, now)
    }

    fn new(role: Role, config: PeerConfig, now: Instant) -> Result<Self, CoreError> {
        config.validate()?;
        let rtc = config.build_rtc(now);
        let mut pc = PeerConnection {
            rtc,
            role,
            signaling: signaling::Signaling::initial(role),
            remote: signaling::RemoteIce::default(),
            audio: media::Audio::new(config.media_enabled),
            control: control::Control::default(),
            stats: stats::StatsBuilder::default(),
            candidates: candidates::CandidateBook::default(),
            ice_state: IceState::New,
            connected: false,
            closed: None,
            out: VecDeque::new(),
            rtc_timeout: now,
            timers: Timers::default(),
            now,
            agent_ice_state: IceState::New,
            last_heard: now,
            consecutive_errors: 0,
            config,
        };
        // Relay-only: the interface addresses stay out of the SDP and out of ICE; the
        // relay candidates come from gathering.
        if pc.config.ice_transport_policy == crate::gather::IceTransportPolicy::All {
            for addr in pc.config.local_addrs.clone() {
                pc.add_host_candidate(addr)?;
            }
        }
        debug!(
            ?role,
            local_candidates = pc.config.local_addrs.len(),
            "peer connection created"
        );
        Ok(pc)
    }

    /// Which side of the first offer/answer this connection is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current ICE state.
    pub fn ice_state(&self) -> IceState {
        self.ice_state
    }

    /// Whether DTLS-SRTP is up ([`PeerEvent::Connected`] was emitted) and the connection is
    /// not closed.
    pub fn is_connected(&self) -> bool {
        self.connected && self.closed.is_none()
    }

    /// Whether the connection is closed (it may still have final transmits to drain).
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Feeds one datagram received on the local socket `destination` from `source`.
    ///
    /// An error concerns only this datagram (drop it and go on), unless a
    /// [`PeerEvent::Closed`] follows in the output.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> Result<(), CoreError> {
        self.advance(now);
        if !self.rtc.is_alive() {
            return Ok(());
        }
        let receive = Receive::new(Protocol::Udp, source, destination, datagram).map_err(|e| {
            CoreError::BadDatagram {
                len: datagram.len(),
                detail: e.to_string(),
            }
        })?;
        let result = self.rtc.handle_input(Input::Receive(self.now, receive));
        let result = result.map_err(|e| self.input_error(e));
        if carries_media(datagram) {
            self.heard_from_peer();
        }
        self.pump();
        self.fire_timers();
        result
    }

    /// Whether `datagram` from `source` to `destination` belongs to this connection (for
    /// routing when several connections share one socket).
    pub fn accepts(&self, datagram: &[u8], source: SocketAddr, destination: SocketAddr) -> bool {
        match Receive::new(Protocol::Udp, source, destination, datagram) {
            Ok(r) => self.rtc.accepts(&Input::Receive(self.now, r)),
            Err(_) => false,
        }
    }

    /// Moves time forward to `now`; call it when the last [`Output::Timeout`] instant passes.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        if self.rtc.is_alive() {
            if let Err(e) = self.rtc.handle_input(Input::Timeout(self.now)) {
                self.input_error(e);
            }
        }
        self.pump();
        self.fire_timers();
    }

    /// The next thing to do. Call it until it returns [`Output::Timeout`] after every input.
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        self.pump();
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        let next = match self.timers.next() {
            Some(t) => t.min(self.rtc_timeout),
            None => self.rtc_timeout,
        };
        Output::Timeout(next)
    }

    /// Closes the connection: str0m sends RTCP BYE, SCTP shutdown and DTLS `close_notify` (the
    /// peer sees [`PeerEvent::Closed`] with [`CloseReason::Remote`]). Drain `poll_output` to send
    /// them. Idempotent.
    ///
    /// While the SCTP association is still being set up (the first moments after
    /// [`PeerEvent::Connected`], before [`PeerEvent::ControlOpen`]), str0m refuses the
    /// graceful close; the connection is then dropped silently and the peer learns of the end
    /// from signaling or its consent checks. Send hangups over signaling too.
    pub fn close(&mut self) {
        if self.closed.is_some() {
            return;
        }
        if let Err(e) = self.rtc.close() {
            debug!(error = %e, "graceful close refused; dropping the connection");
            self.rtc.disconnect();
        }
        self.finish(CloseReason::Local);
        self.pump();
    }

    pub(crate) fn ensure_open(&self) -> Result<(), CoreError> {
        if self.closed.is_some() {
            Err(CoreError::Closed)
        } else {
            Ok(())
        }
    }

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    /// Drains str0m into our output queue until it reports its next timeout.
    fn pump(&mut self) {
        self.consecutive_errors = 0;
        loop {
            match self.rtc.poll_output() {
                Ok(str0m::Output::Timeout(t)) => {
                    self.rtc_timeout = t;
                    if let Some(stats) = self.stats.take() {
                        self.out.push_back(Output::Event(PeerEvent::Stats(stats)));
                    }
                    break;
                }
                Ok(str0m::Output::Transmit(t)) => self.out.push_back(Output::Transmit {
                    source: t.source,
                    destination: t.destination,
                    contents: t.contents.into(),
                }),
                Ok(str0m::Output::Event(e)) => self.on_rtc_event(e),
                Err(e) => {
                    self.consecutive_errors += 1;
                    warn!(error = %e, "WebRTC stack error");
                    if !self.rtc.is_alive() || self.consecutive_errors > MAX_CONSECUTIVE_ERRORS {
                        self.rtc.disconnect();
                        self.finish(CloseReason::Failure(e.to_string()));
                    }
                }
            }
        }
    }

    fn on_rtc_event(&mut self, e: Event) {
        match e {
            Event::IceConnectionStateChange(s) => {
                let to = match s {
                    IceConnectionState::New => return,
                    IceConnectionState::Checking => IceState::Checking,
                    IceConnectionState::Connected | IceConnectionState::Completed => {
                        IceState::Connected
                    }
                    IceConnectionState::Disconnected => IceState::Disconnected,
                };
                self.agent_ice_state = to;
                self.set_ice_state(to, "ice agent");
            }
            Event::Connected => {
                if !self.connected {
                    self.connected = true;
                    info!(role = ?self.role, "DTLS-SRTP connected");
                    self.out.push_back(Output::Event(PeerEvent::Connected));
                }
            }
            Event::MediaAdded(m) => self.on_media_added(m.mid, m.kind),
            Event::RtpPacket(p) => self.on_rtp(p),
            Event::StreamPaused(p) => {
                debug!(paused = p.paused, "remote audio stream");
                self.out
                    .push_back(Output::Event(PeerEvent::RemoteAudioPaused(p.paused)));
            }
            Event::ChannelOpen(id, label) => self.on_channel_open(id, &label),
            Event::ChannelData(d) => self.on_channel_data(d),
            Event::ChannelClose(id) => self.on_channel_close(id),
            Event::PeerStats(s) => {
                let pair = s
                    .selected_candidate_pair
                    .as_ref()
                    .map(|p| self.candidates.pair(p));
                self.stats.peer(&s, pair);
            }
            Event::MediaIngressStats(s) => self.stats.ingress(&s),
            Event::MediaEgressStats(s) => self.stats.egress(&s),
            Event::Closed => self.finish(CloseReason::Remote),
            other => trace!(event = ?other, "str0m event not used"),
        }
    }

    /// The one place the ICE state changes.
    fn set_ice_state(&mut self, to: IceState, reason: &str) {
        let from = self.ice_state;
        if from == to {
            return;
        }
        if from == IceState::Failed && to != IceState::Connected {
            // Failed is sticky until the agent finds a working pair again.
            debug!(?to, reason, "ice state change ignored after Failed");
            return;
        }
        info!(?from, ?to, reason, "ice state");
        self.ice_state = to;
        if to == IceState::Connected {
            // A path just (re)connected gets the whole silence allowance to carry media.
            self.last_heard = self.now;
        }
        self.timers.ice_failed = match to {
            IceState::Disconnected => Some(self.now + self.config.ice_failed_after),
            _ => None,
        };
        self.out.push_back(Output::Event(PeerEvent::IceState(to)));
    }

    fn fire_timers(&mut self) {
        if self.timers.path_silent.is_some_and(|t| t <= self.now) {
            self.timers.path_silent = None;
            if self.ice_state == IceState::Connected {
                info!(
                    after = ?self.config.path_silence_after,
                    "nothing heard from the peer: path lost"
                );
                self.set_ice_state(IceState::Disconnected, "peer silent");
            }
        }
        if self.timers.ice_failed.is_some_and(|t| t <= self.now) {
            self.timers.ice_failed = None;
            let after: Duration = self.config.ice_failed_after;
            info!(?after, "ICE disconnected for too long");
            self.set_ice_state(IceState::Failed, "disconnected timeout");
        }
        self.arm_silence_timer();
    }

    /// Media or DTLS from the peer arrived: the path works (at least towards us). A path we had
    /// called silent while str0m still held it connected is back. (The silence timer is re-armed
    /// by the `fire_timers` that follows every input.)
    fn heard_from_peer(&mut self) {
        self.last_heard = self.now;
        if self.ice_state == IceState::Disconnected && self.agent_ice_state == IceState::Connected {
            self.set_ice_state(IceState::Connected, "heard from the peer again");
        }
    }

    /// The silence deadline applies to a connected path of an answered call (media enabled).
    pub(super) fn arm_silence_timer(&mut self) {
        self.timers.path_silent = match self.config.path_silence_after {
            Some(after)
                if self.audio.enabled
                    && self.is_connected()
                    && self.ice_state == IceState::Connected =>
            {
                Some(self.last_heard + after)
            }
            _ => None,
        };
    }

    /// Marks the connection closed (once) and tells the call layer.
    fn finish(&mut self, reason: CloseReason) {
        if self.closed.is_some() {
            return;
        }
        info!(?reason, "peer connection closed");
        self.timers = Timers::default();
        self.closed = Some(reason.clone());
        self.out.push_back(Output::Event(PeerEvent::Closed(reason)));
    }

    /// Converts a str0m error from an input, closing the connection if str0m gave up.
    fn input_error(&mut self, e: RtcError) -> CoreError {
        let detail = e.to_string();
        if !self.rtc.is_alive() {
            self.finish(CloseReason::Failure(detail.clone()));
        }
        CoreError::Rtc { detail }
    }
}

/// Whether a datagram is DTLS (the data channel) or SRTP/SRTCP rather than STUN, by its first
/// byte (RFC 7983). Only these prove the selected pair carries the call: connectivity checks
/// also arrive over other pairs (through the relay, say) while the selected one is dead.
fn carries_media(datagram: &[u8]) -> bool {
    matches!(datagram.first(), Some(20..=63 | 128..=191))
}

impl fmt::Debug for PeerConnection {
    // Addresses and credentials stay out of Debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerConnection")
            .field("role", &self.role)
            .field("signaling", &self.signaling.name())
            .field("ice_state", &self.ice_state)
            .field("connected", &self.connected)
            .field("media_enabled", &self.audio.enabled)
            .field("control_open", &self.control.is_open())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}
