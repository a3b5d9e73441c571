//! The call engine of one device, sans-IO: the [`Agent`] owns every call of the device, one
//! WebRTC connection per remote device of each call, and the audio of the answered call. It
//! speaks protocol v1 to the server and CallKit-shaped [`Report`]s to the app.
//!
//! # The drive contract (str0m's, one level up)
//!
//! Inputs: [`start_call`](Agent::start_call) and the other platform commands, server
//! messages ([`handle_signal`](Agent::handle_signal)), datagrams
//! ([`handle_receive`](Agent::handle_receive)), time ([`handle_timeout`](Agent::handle_timeout))
//! and audio frames ([`capture_frame`](Agent::capture_frame) /
//! [`playout_frame`](Agent::playout_frame), once per frame from the audio clock). After any
//! input, call [`poll_output`](Agent::poll_output) until it returns [`Output::Timeout`]: send
//! each `Transmit` on UDP, each `Signal` to the server, hand each `Report` to the app, open or
//! close the signaling connection as each `Signaling` says (flushing what is queued first), and
//! open, write and close TURN streams as `StreamConnect`/`StreamSend`/`StreamClose` say (feeding
//! back [`handle_stream_connected`](Agent::handle_stream_connected),
//! [`handle_stream_data`](Agent::handle_stream_data) and
//! [`handle_stream_closed`](Agent::handle_stream_closed)); call `handle_timeout` when the
//! instant passes. Candidate gathering (STUN/TURN) is part of the agent: see [`crate::gather`]. The agent never reads a clock: `now` is always
//! passed in and must not go backwards.
//!
//! # The call flow (docs/engine.md, docs/architecture.md)
//!
//! Outgoing: `invite` → the server's `calling` → each ringing callee device sends an offer,
//! answered with one held connection per device (pre-connect) → the first `accepted` (or the
//! winner's in-band accept, whichever comes first) keeps that device's connection and drops the
//! others → media released. Incoming: `incoming` → [`Report::IncomingCall`], `ringing`, and an
//! offer to the caller device with media held → the user answers: `accept` to the server and
//! in-band, media released. Audio capture and playout run only while the audio session is
//! active ([`Command::AudioSessionActivated`]), as CallKit requires.
//!
//! # The app's lifecycle
//!
//! [`Command::AppState`] tells the agent where the app is. With no call in progress, an app
//! that leaves the foreground must drop its signaling connection, so the server pushes instead
//! of writing into a socket the frozen app never reads: the agent says so with
//! [`Output::Signaling`]`(`[`SignalingWanted::Offline`]`)`, and `Online` when it wants it back
//! (foreground again, a push, a call placed). A call in progress keeps everything up whatever
//! the UI does. See [`AppState`].

mod app_state;
mod audio;
mod commands;
mod config;
mod gathering;
mod peer_events;
mod peer_mode;
mod push;
mod quality;
mod signal;
mod timeline;
mod timers;

pub use app_state::{AppState, SignalingWanted};
pub use config::AgentConfig;
pub use peer_mode::PEER_DEVICE;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use ringwire_proto::{CallId, ClientMessage, DeviceId, IceServer, UserName};
use tracing::{debug, info};

use crate::call::{Call, CallSnapshot, CallState, Peer};
use crate::gather::{GatherEvent, Gathering, StreamId};
use crate::peer::{self, PeerEvent};
use crate::report::{
    CallEndReason, CallKitEndReason, CallSummary, Direction, MediaFailure, Report,
};
use crate::CoreError;

/// Ended call ids remembered, so late messages about them are recognised and dropped.
const RECENTLY_ENDED: usize = 64;
/// Datagrams no connection claimed yet, kept for a retry (see `handle_receive`).
const UNROUTED_MAX: usize = 32;
/// How long an unclaimed datagram waits for its connection.
const UNROUTED_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// What the driver must do next. See the [module docs](self).
#[derive(Debug)]
pub enum Output {
    /// Send `contents` from the local socket `source` to `destination`.
    Transmit {
        source: SocketAddr,
        destination: SocketAddr,
        contents: Vec<u8>,
    },
    /// Send this message to the signaling server.
    Signal(ClientMessage),
    /// Deliver this message to the peer of a peer-mode call, over the app's own channel, in
    /// order (see [`Agent::start_peer_call`]).
    PeerSignal {
        call_id: CallId,
        signal: ringwire_proto::PeerSignal,
    },
    /// Tell the app.
    Report(Report),
    /// Open or close the signaling connection (see [`AppState`]). Emitted once per change,
    /// after the outputs it follows from: flush what was sent before closing.
    Signaling(SignalingWanted),
    /// Open a TCP connection (TLS on it when `tls_name` is set, checked against that name) to
    /// a TURN server; answer with [`Agent::handle_stream_connected`] or
    /// [`Agent::handle_stream_closed`].
    StreamConnect {
        stream: StreamId,
        server: SocketAddr,
        tls_name: Option<String>,
    },
    /// Write these bytes on the stream, in order.
    StreamSend { stream: StreamId, contents: Vec<u8> },
    /// Close the stream once what was written before has gone out.
    StreamClose { stream: StreamId },
    /// Nothing more until this instant or the next input.
    Timeout(Instant),
}

/// What the app asks of the engine (the platform contract of docs/engine.md). Starting a call is
/// [`Agent::start_call`], which returns the new call's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Answer a ringing incoming call (CallKit `CXAnswerCallAction`).
    Answer { call_id: CallId },
    /// Answer a ringing incoming call from the OS's call screen, saying whether it was the lock
    /// screen (CallKit's answer action while the device is locked; Android's full-screen
    /// intent): the call timeline's `answered.from_lock_screen`. [`Command::Answer`] leaves it to
    /// the app state (not in the foreground: lock screen).
    AnswerFromOs {
        call_id: CallId,
        from_lock_screen: bool,
    },
    /// End a call in any state: cancel, decline or hang up (CallKit `CXEndCallAction`).
    End { call_id: CallId },
    /// Mute or unmute the microphone (silence is sent while muted).
    SetMuted { call_id: CallId, muted: bool },
    /// Hold or resume: nothing is sent or played while held.
    SetHeld { call_id: CallId, held: bool },
    /// Send DTMF keys (`0`-`9`, `*`, `#`, `A`-`D`; `,` pauses 2 s) as RFC 4733 telephone-events
    /// after any still queued (CallKit `CXPlayDTMFCallAction`). Only on an answered call that
    /// is not held and whose far end negotiated telephone-events; sent while muted too.
    SendDtmf { call_id: CallId, digits: String },
    /// The OS activated the audio session (CallKit `didActivate`): audio may start.
    AudioSessionActivated,
    /// The OS took the audio session away (`didDeactivate`, an interruption): audio stops.
    AudioSessionDeactivated,
    /// The device's usable addresses changed (Wi-Fi ↔ cellular): the new set of bound UDP
    /// socket addresses. Answered calls restart ICE on the new path.
    NetworkChanged { local_addrs: Vec<SocketAddr> },
    /// The signaling connection dropped (the driver reconnects; the server's `welcome` says
    /// it is back). Calls go on; their media is peer-to-peer.
    SignalingDown,
    /// The app moved in its lifecycle (foreground, background, locked, suspended). With no
    /// call in progress, leaving the foreground takes signaling offline; calls in progress are
    /// not touched.
    AppState(AppState),
}

/// The call engine of one device. See the [module docs](self).
pub struct Agent {
    config: AgentConfig,
    calls: BTreeMap<CallId, Call>,
    recently_ended: VecDeque<CallId>,
    /// Peer-mode candidates for calls whose offer has not arrived yet.
    peer_early: peer_mode::EarlyCandidates,
    /// The driver's wall clock: an instant and its UNIX ms (call timelines need it).
    wall_clock: Option<(Instant, u64)>,
    /// Call timelines the server has not stored yet.
    pending_timelines: timeline::PendingTimelines,
    /// Datagrams no connection accepted yet: (arrival, source, destination, contents).
    unrouted: VecDeque<(Instant, SocketAddr, SocketAddr, Vec<u8>)>,
    /// This device, from the server's `welcome`.
    device_id: Option<DeviceId>,
    user: Option<UserName>,
    /// Our instant and the server's UNIX ms at the last `welcome`, to place server deadlines
    /// on our clock.
    server_clock: Option<(Instant, u64)>,
    /// The ICE servers of the last `welcome` or `ice_servers`.
    ice_servers: Vec<IceServer>,
    signaling_up: bool,
    audio_session_active: bool,
    app_state: AppState,
    /// What the driver was last told about the signaling connection.
    signaling_announced: SignalingWanted,
    /// State of the deterministic call-id generator (simulations only).
    id_state: Option<u64>,
    /// The next TURN stream id.
    next_stream: StreamId,
    out: VecDeque<Output>,
    now: Instant,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("device_id", &self.device_id)
            .field("calls", &self.calls.len())
            .field("signaling_up", &self.signaling_up)
            .field("audio_session_active", &self.audio_session_active)
            .field("app_state", &self.app_state)
            .finish()
    }
}

impl Agent {
    /// An agent with no calls. Fails if `config` does not [validate](AgentConfig::validate).
    pub fn new(config: AgentConfig, now: Instant) -> Result<Agent, CoreError> {
        config.validate()?;
        Ok(Agent {
            id_state: config.call_id_seed,
            config,
            calls: BTreeMap::new(),
            recently_ended: VecDeque::new(),
            peer_early: peer_mode::EarlyCandidates::default(),
            wall_clock: None,
            pending_timelines: timeline::PendingTimelines::default(),
            unrouted: VecDeque::new(),
            device_id: None,
            user: None,
            server_clock: None,
            ice_servers: Vec::new(),
            signaling_up: false,
            audio_session_active: false,
            app_state: AppState::Foreground,
            signaling_announced: SignalingWanted::Online,
            next_stream: 1,
            out: VecDeque::new(),
            now,
        })
    }

    /// This device's id, once the server has said it (`welcome`).
    pub fn device_id(&self) -> Option<DeviceId> {
        self.device_id
    }

    /// The signed-in user, once the server has said it.
    pub fn user(&self) -> Option<&UserName> {
        self.user.as_ref()
    }

    /// The ICE servers (STUN, and TURN with short-lived credentials), shaped like WebRTC's
    /// `RTCIceServer`, that the server gave this device in its last `welcome` or
    /// `ice_servers`; empty before the first `welcome` or when the server has none. Each update
    /// replaces the list whole and it survives a signaling outage. TURN credentials expire
    /// (the server refreshes them at 80% of their lifetime), so read the list when gathering
    /// rather than keeping a copy.
    pub fn ice_servers(&self) -> &[IceServer] {
        &self.ice_servers
    }

    /// Whether the server's `welcome` arrived and no [`Command::SignalingDown`] since.
    pub fn signaling_up(&self) -> bool {
        self.signaling_up
    }

    /// The server's calls the app shows: what the signaling client lists in `hello.calls` on
    /// reconnect, so the server says how each stands (peer-mode calls are not the server's).
    pub fn known_calls(&self) -> Vec<CallId> {
        self.calls
            .values()
            .filter(|c| !c.is_peer_mode())
            .map(|c| c.id)
            .collect()
    }

    /// The truth about every call, for a UI that wakes up.
    pub fn snapshot(&self) -> Vec<CallSnapshot> {
        self.calls.values().map(Call::snapshot).collect()
    }

    /// The state of one call.
    pub fn call_state(&self, call_id: CallId) -> Option<CallState> {
        self.calls.get(&call_id).map(|c| c.state)
    }

    /// The configuration in force.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// Places a call to `to_user` and returns its fresh 128-bit id.
    pub fn start_call(&mut self, now: Instant, to_user: UserName) -> Result<CallId, CoreError> {
        self.advance(now);
        if self.calls.len() >= self.config.max_calls {
            return Err(CoreError::TooManyCalls {
                max: self.config.max_calls,
            });
        }
        let call_id = self.new_call_id();
        let _span = tracing::info_span!("call", %call_id).entered();
        info!(to_user = %to_user, "placing call");
        let mut call = Call::new(
            call_id,
            Direction::Outgoing,
            to_user.clone(),
            CallState::Dialing,
            now,
        );
        call.times.started = now;
        self.calls.insert(call_id, call);
        // The invite goes out before anything gathering sends: candidates never delay it.
        self.signal(ClientMessage::Invite(ringwire_proto::Invite {
            call_id,
            to_user: to_user.clone(),
        }));
        self.start_gathering(now, call_id);
        self.report(Report::OutgoingStarted { call_id, to_user });
        self.drain(now);
        Ok(call_id)
    }

    /// Feeds one datagram that arrived on the local socket `destination` from `source`.
    /// Returns whether a connection took it at once.
    ///
    /// A DTLS handshake packet can arrive before the connection it belongs to has seen an ICE
    /// check succeed from that address (the peer nominated first), and str0m then does not
    /// claim it. Dropping it would cost a DTLS retransmission (a second of silence on accept),
    /// so unclaimed datagrams wait briefly (32 at most, 2 s) and are offered again after every
    /// input.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        self.advance(now);
        let taken = self.route(now, source, destination, datagram);
        if !taken {
            self.keep_unrouted(now, source, destination, datagram.to_vec());
        }
        self.drain(now);
        self.retry_unrouted(now);
        taken
    }

    /// Keeps a datagram no connection claimed yet, for a retry after the next input.
    fn keep_unrouted(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: Vec<u8>,
    ) {
        if self.unrouted.len() >= UNROUTED_MAX {
            self.unrouted.pop_front();
        }
        self.unrouted
            .push_back((now, source, destination, datagram));
    }

    /// Hands a datagram to the connection that claims it.
    fn route(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        for call in self.calls.values_mut() {
            if call.gathering.accepts(source, destination, datagram) {
                call.gathering
                    .handle_datagram(now, source, destination, datagram);
                return true;
            }
            for peer in call.peers.values_mut() {
                if peer.pc.accepts(datagram, source, destination) {
                    if let Err(error) = peer.pc.handle_receive(now, source, destination, datagram) {
                        debug!(call_id = %call.id, %error, "datagram refused");
                    }
                    return true;
                }
            }
        }
        false
    }

    fn retry_unrouted(&mut self, now: Instant) {
        if self.unrouted.is_empty() {
            return;
        }
        let waiting = std::mem::take(&mut self.unrouted);
        let mut delivered = false;
        for (at, source, destination, contents) in waiting {
            if now.saturating_duration_since(at) > UNROUTED_TTL {
                continue;
            }
            if self.route(now, source, destination, &contents) {
                delivered = true;
            } else {
                self.unrouted.push_back((at, source, destination, contents));
            }
        }
        if delivered {
            self.drain(now);
        }
    }

    /// Time passed: runs every timer that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        for call in self.calls.values_mut() {
            if call.gathering.poll_timeout().is_some_and(|t| t <= now) {
                call.gathering.handle_timeout(now);
            }
            for peer in call.peers.values_mut() {
                if peer.timeout <= now {
                    peer.pc.handle_timeout(now);
                }
            }
        }
        self.drain(now);
        self.run_call_timers(now);
        self.drain(now);
        self.retry_unrouted(now);
    }

    /// The next thing to do. Call until it returns [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(out) = self.out.pop_front() {
            return out;
        }
        if let Some(wanted) = self.signaling_change() {
            return Output::Signaling(wanted);
        }
        let next = self
            .calls
            .values()
            .filter_map(Call::next_timeout)
            .min()
            // Nothing scheduled: wake up in a while anyway; inputs come first in practice.
            .unwrap_or(self.now + std::time::Duration::from_secs(1));
        Output::Timeout(next.max(self.now))
    }

    /// The latest instant the agent was handed (what its outputs are as of).
    pub(crate) fn now(&self) -> Instant {
        self.now
    }

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    fn new_call_id(&mut self) -> CallId {
        match self.id_state.as_mut() {
            None => CallId::random(),
            Some(state) => {
                let mut bytes = [0u8; 16];
                for chunk in bytes.chunks_mut(8) {
                    chunk.copy_from_slice(&splitmix64(state).to_be_bytes());
                }
                CallId::from_bytes(bytes)
            }
        }
    }

    /// Sends a call-flow message: to the server, or, for a peer-mode call, in its peer-mode
    /// form to the peer (the one place the two modes part).
    fn signal(&mut self, message: ClientMessage) {
        if let Some(call_id) = message.call_id() {
            if self.calls.get(&call_id).is_some_and(Call::is_peer_mode) {
                if let Some(signal) = Agent::to_peer_signal(message) {
                    self.peer_out(call_id, signal);
                }
                return;
            }
        }
        debug!(kind = message.type_name(), "signal out");
        self.out.push_back(Output::Signal(message));
    }

    fn report(&mut self, report: Report) {
        self.note_report(&report);
        self.out.push_back(Output::Report(report));
    }

    /// Moves every connection's and every gathering's outputs to ours and handles their
    /// events, until quiet. A datagram a connection sends from a relayed address goes through
    /// its call's TURN allocation.
    fn drain(&mut self, now: Instant) {
        loop {
            let mut events: Vec<(CallId, DeviceId, PeerEvent)> = Vec::new();
            let mut gathered: Vec<(CallId, GatherEvent)> = Vec::new();
            for call in self.calls.values_mut() {
                for (device, peer) in call.peers.iter_mut() {
                    loop {
                        match forward_transmit(
                            &mut self.out,
                            &mut call.gathering,
                            now,
                            peer.pc.poll_output(),
                        ) {
                            Some(peer::Output::Event(event)) => {
                                events.push((call.id, *device, event))
                            }
                            Some(peer::Output::Timeout(at)) => {
                                peer.timeout = at;
                                break;
                            }
                            Some(peer::Output::Transmit { .. }) | None => {}
                        }
                    }
                }
                while let Some(out) = call.gathering.poll_output() {
                    self.out.push_back(out);
                }
                while let Some(event) = call.gathering.poll_event() {
                    gathered.push((call.id, event));
                }
            }
            if events.is_empty() && gathered.is_empty() {
                return;
            }
            for (call_id, device, event) in events {
                self.on_peer_event(now, call_id, device, event);
            }
            for (call_id, event) in gathered {
                self.on_gather_event(now, call_id, event);
            }
        }
    }

    /// Ends a call here: closes its connections (their goodbye datagrams go out), reports
    /// [`Report::Ended`] and forgets it. The caller has already sent whatever the server and
    /// the peer must hear.
    fn end_call(&mut self, now: Instant, call_id: CallId, reason: CallEndReason, local: bool) {
        let Some(mut call) = self.calls.remove(&call_id) else {
            return;
        };
        let reason = media_truth(&call, reason);
        info!(%call_id, ?reason, local, "call ended");
        self.finish_timeline(&mut call, &reason, local);
        for (_, peer) in std::mem::take(&mut call.peers) {
            self.close_peer(now, &mut call.gathering, peer);
        }
        call.gathering.close(now);
        while let Some(out) = call.gathering.poll_output() {
            self.out.push_back(out);
        }
        let summary = summarize(&call, now);
        self.recently_ended.push_back(call_id);
        if self.recently_ended.len() > RECENTLY_ENDED {
            self.recently_ended.pop_front();
        }
        self.report(Report::Ended {
            call_id,
            direction: call.direction,
            callkit: CallKitEndReason::for_end(&reason, local),
            reason,
            ended_locally: local,
            summary: Box::new(summary),
        });
    }

    /// Closes a connection and sends its goodbye (the DTLS close alert) at once; nothing else
    /// it has to say matters any more.
    fn close_peer(&mut self, now: Instant, gathering: &mut Gathering, mut peer: Peer) {
        peer.pc.close();
        while !matches!(
            forward_transmit(&mut self.out, gathering, now, peer.pc.poll_output()),
            Some(peer::Output::Timeout(_))
        ) {}
        while let Some(out) = gathering.poll_output() {
            self.out.push_back(out);
        }
    }

    fn ended_recently(&self, call_id: CallId) -> bool {
        self.recently_ended.contains(&call_id)
    }
}

/// Moves a connection's datagram to the agent's outputs (through the TURN allocation when it
/// is sent from a relayed address); hands back anything else.
fn forward_transmit(
    out: &mut VecDeque<Output>,
    gathering: &mut Gathering,
    now: Instant,
    output: peer::Output,
) -> Option<peer::Output> {
    match output {
        peer::Output::Transmit {
            source,
            destination,
            contents,
        } => {
            if gathering.is_relayed(source) {
                gathering.send(now, source, destination, contents);
            } else {
                out.push_back(Output::Transmit {
                    source,
                    destination,
                    contents,
                });
            }
            None
        }
        other => Some(other),
    }
}

/// An answered call whose media never connected ends as [`CallEndReason::MediaFailed`],
/// whatever protocol reason ended it: a hangup after seconds of nothing is not a call that
/// happened.
fn media_truth(call: &Call, reason: CallEndReason) -> CallEndReason {
    let ended_by = match &reason {
        CallEndReason::Protocol { reason } => Some(*reason),
        CallEndReason::Failed { .. } | CallEndReason::MediaFailed { .. } => return reason,
    };
    if !call.answered_without_media() {
        return reason;
    }
    let peer = call.remote_device.and_then(|d| call.peers.get(&d));
    let cause = match peer.map(|p| p.pc.ice_state()) {
        None => MediaFailure::NoConnection,
        Some(peer::IceState::Connected) => MediaFailure::DtlsFailed,
        Some(_) => MediaFailure::IceFailed,
    };
    CallEndReason::MediaFailed { cause, ended_by }
}

fn summarize(call: &Call, now: Instant) -> CallSummary {
    let t = &call.times;
    let mut summary = CallSummary {
        invite_to_ringing: t.ringing.map(|r| r.saturating_duration_since(t.started)),
        accept_to_first_audio: t
            .accepted
            .zip(t.first_audio)
            .map(|(a, f)| f.saturating_duration_since(a)),
        ring_time: t.accepted.map(|a| a.saturating_duration_since(t.started)),
        talk_time: t.accepted.map(|a| now.saturating_duration_since(a)),
        total: now.saturating_duration_since(t.started),
        preconnected: t.preconnected,
        media_connected: t.media_up.is_some(),
        quality: None,
        frames_sent: 0,
        frames_sent_with_dred: 0,
        frames_decoded: 0,
        frames_recovered_fec: 0,
        frames_recovered_red: 0,
        frames_recovered_dred: 0,
        frames_concealed: 0,
        frames_inserted: 0,
        frame_sources: Default::default(),
        compressed_ms: 0,
        expanded_ms: 0,
        above_clean_delay_ms: 0,
        selected_pair: call.last_stats.as_ref().and_then(|s| s.selected_pair),
        gathering_failures: call.gathering.failures().to_vec(),
        turn_allocations: call.gathering.allocations().to_vec(),
    };
    if let Some(audio) = &call.audio {
        let stats = audio.receiver().stats();
        summary.frames_sent = audio.frames_sent;
        summary.frames_sent_with_dred = audio.frames_sent_with_dred;
        summary.frames_decoded = stats.jitter.played;
        // The jitter buffer asks for FEC whenever the next packet is there and for DRED when
        // a later one is; the decoder falls back (FEC to DRED, DRED to concealment) when the
        // packet carries none, so count what was really played.
        summary.frames_recovered_fec = stats.sources.lbrr;
        summary.frames_recovered_red = stats.jitter.recovered_red;
        summary.frames_recovered_dred = stats.sources.dred;
        summary.frames_concealed = stats
            .jitter
            .lost
            .saturating_sub(stats.sources.lbrr + stats.sources.dred);
        summary.frames_inserted = stats.jitter.inserted;
        summary.frame_sources = stats.sources;
        summary.compressed_ms = stats.compressed_ms;
        summary.expanded_ms = stats.expanded_ms;
        summary.above_clean_delay_ms = stats.above_clean_ms;
        summary.quality = audio::quality_of(call, audio);
    }
    summary
}

/// SplitMix64: a tiny, well-mixed generator for deterministic ids in simulations.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
