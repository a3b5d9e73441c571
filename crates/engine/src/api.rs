//! The app-facing API: [`Engine`] (CallKit-shaped: start, answer, end, mute, hold, audio
//! session, network, app state) and the [`EngineListener`] that receives [`EngineEvent`]s.
//! Every method is a short request to the engine thread; none waits on the network.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ringwire_core::session::{ClientSession, SessionConfig};
use ringwire_core::{
    Agent, AppState, AudioSessionPolicy, CallSnapshot, Command, Device, PushCall, Report,
};
use ringwire_proto::{CallId, DeviceId, DisplayName, PeerSignal, UserName};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::driver::{Driver, Request};
use crate::net::MediaSockets;
use crate::signaling::link::{random_u64, Link};
use crate::signaling::Prepared;
use crate::turn_stream::TurnStreams;
use crate::{EngineConfig, EngineError, IceServerConfig};

/// What the engine tells the app.
#[derive(Debug, Clone)]
pub enum EngineEvent {
    /// A call report (incoming call, answered, connected, quality, ended, ...).
    Report(Report),
    /// The signaling server accepted this device.
    SignalingConnected { user: String, device_id: DeviceId },
    /// The signaling connection dropped; the engine reconnects by itself. Calls go on.
    SignalingDisconnected { reason: String, retry_in: Duration },
    /// The engine closed its signaling connection on purpose: no call, and the app is not in
    /// the foreground ([`Engine::set_app_state`]). The server now reaches this device by push;
    /// the engine reconnects when the app comes back or a push arrives.
    SignalingPaused,
    /// The engine stopped for good (the server refused the device token).
    Fatal { message: String },
    /// Deliver this message to the peer of a peer-mode call over the app's own channel, in
    /// the order the events come ([`Engine::start_peer_call`]).
    PeerSignal { call_id: CallId, signal: PeerSignal },
}

/// Receives the engine's events, on the engine thread: return quickly.
pub trait EngineListener: Send + Sync + 'static {
    fn on_event(&self, event: EngineEvent);
}

/// Queued datagrams between the socket readers and the engine loop.
const RECEIVE_QUEUE: usize = 1024;

/// A running call engine: one device, one thread.
pub struct Engine {
    requests: mpsc::UnboundedSender<Request>,
    thread: Option<JoinHandle<()>>,
    local_addrs: Vec<std::net::SocketAddr>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("local_addrs", &self.local_addrs)
            .field("running", &self.thread.is_some())
            .finish()
    }
}

impl Engine {
    /// Starts the engine thread: binds the media sockets, connects to the signaling server
    /// (and keeps reconnecting), and waits for calls. Fails if no socket can be bound or the
    /// configuration is inconsistent.
    pub fn new(
        config: EngineConfig,
        listener: Arc<dyn EngineListener>,
    ) -> Result<Engine, EngineError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("ringwire-engine".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(EngineError::Runtime(e.to_string())));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match start(config, listener, requests_rx).await {
                        Ok((driver, addrs)) => {
                            let _ = ready_tx.send(Ok(addrs));
                            driver.run().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(|e| EngineError::Runtime(e.to_string()))?;
        let local_addrs = ready_rx.recv().map_err(|_| EngineError::Stopped)??;
        Ok(Engine {
            requests,
            thread: Some(thread),
            local_addrs,
        })
    }

    /// The media sockets' addresses when the engine started (the first ICE host candidates;
    /// [`Engine::current_local_addrs`] after a network change).
    pub fn local_addrs(&self) -> &[std::net::SocketAddr] {
        &self.local_addrs
    }

    /// The media sockets' addresses now.
    pub fn current_local_addrs(&self) -> Result<Vec<std::net::SocketAddr>, EngineError> {
        self.ask(|reply| Request::LocalAddrs { reply })
    }

    /// The device's network changed (Wi-Fi to mobile, a new address, an interface gone): the
    /// engine re-reads the interfaces, binds sockets on new addresses and closes those on
    /// addresses that went away, gathers server-reflexive and relay candidates again, and
    /// restarts ICE on every answered call through signaling. Audio keeps playing
    /// concealment while the new path is found. Forward the OS's path-change callback here
    /// (or set [`EngineConfig::watch_interfaces`](crate::EngineConfig::watch_interfaces)).
    pub fn network_changed(&self) -> Result<(), EngineError> {
        self.command(Command::NetworkChanged {
            local_addrs: Vec::new(),
        })
    }

    /// Calls a user: every device of theirs rings. Returns the new call's id at once.
    pub fn start_call(&self, to_user: &str) -> Result<CallId, EngineError> {
        let to_user: UserName = to_user
            .parse()
            .map_err(|e: String| EngineError::InvalidInput(e))?;
        self.ask(|reply| Request::StartCall { to_user, reply })
    }

    /// Places a peer-mode call: no ringwire server, a standard WebRTC peer at the other end of
    /// the app's own channel. The offer arrives at once as [`EngineEvent::PeerSignal`]; deliver
    /// every such event to the peer in order, and feed what the peer sends to
    /// [`Engine::handle_peer_signal`]. The call is answered when the peer's answer arrives.
    /// `call_id` is the channel's id for the call when it has one (both ends must agree; for
    /// Firestore, derive it from the document id), else a fresh one is returned.
    /// docs/peer-mode.md has the message shapes and the flow.
    pub fn start_peer_call(
        &self,
        to: &str,
        call_id: Option<CallId>,
    ) -> Result<CallId, EngineError> {
        let to: UserName = to
            .parse()
            .map_err(|e: String| EngineError::InvalidInput(e))?;
        self.ask(|reply| Request::StartPeerCall { to, call_id, reply })
    }

    /// An incoming peer-mode call the app learned of before its offer (a VoIP push from its own
    /// backend): reported at once as [`Report::IncomingCall`], ringing until answered, ended,
    /// or the peer ring timeout. Answering before the offer arrives is fine. An offer fed to
    /// [`Engine::handle_peer_signal`] for a call not announced rings it too.
    pub fn expect_peer_call(
        &self,
        call_id: CallId,
        from: &str,
        display_name: Option<&str>,
    ) -> Result<(), EngineError> {
        let from: UserName = from
            .parse()
            .map_err(|e: String| EngineError::InvalidInput(e))?;
        let display_name = display_name
            .map(|d| DisplayName::try_from(d.to_owned()))
            .transpose()
            .map_err(EngineError::InvalidInput)?;
        self.ask(|reply| Request::ExpectPeerCall {
            call_id,
            from,
            display_name,
            reply,
        })
    }

    /// Feeds one message the peer of a peer-mode call sent over the app's channel (decode a
    /// JSON one with [`ringwire_proto::decode_peer_signal`]). A message that does not fit its
    /// call is refused with the reason and changes nothing.
    pub fn handle_peer_signal(
        &self,
        call_id: CallId,
        signal: PeerSignal,
    ) -> Result<(), EngineError> {
        self.ask(|reply| Request::PeerSignal {
            call_id,
            signal,
            reply,
        })
    }

    /// Answers a ringing incoming call from the OS's call screen (CallKit's answer action),
    /// saying whether the device was locked: the call timeline's `answered.from_lock_screen`
    /// for the server's analytics. [`Engine::answer`] infers it from the app state.
    pub fn answer_from_os(
        &self,
        call_id: CallId,
        from_lock_screen: bool,
    ) -> Result<(), EngineError> {
        self.command(Command::AnswerFromOs {
            call_id,
            from_lock_screen,
        })
    }

    /// Answers a ringing incoming call.
    pub fn answer(&self, call_id: CallId) -> Result<(), EngineError> {
        self.command(Command::Answer { call_id })
    }

    /// Ends a call in any state (cancel, decline or hang up).
    pub fn end(&self, call_id: CallId) -> Result<(), EngineError> {
        self.command(Command::End { call_id })
    }

    /// Mutes or unmutes the microphone for a call.
    pub fn set_muted(&self, call_id: CallId, muted: bool) -> Result<(), EngineError> {
        self.command(Command::SetMuted { call_id, muted })
    }

    /// Holds or resumes a call.
    pub fn set_held(&self, call_id: CallId, held: bool) -> Result<(), EngineError> {
        self.command(Command::SetHeld { call_id, held })
    }

    /// Sends DTMF keys as RFC 4733 telephone-events (`0`-`9`, `*`, `#`, `A`-`D`; `,` pauses
    /// 2 s), queued behind any still sounding: CallKit's `CXPlayDTMFCallAction`, a keypad press.
    /// Refused with a reason on a call that is not answered, is held, or whose far end did not
    /// negotiate telephone-events, and for any other character (nothing is queued then).
    pub fn send_dtmf(&self, call_id: CallId, digits: &str) -> Result<(), EngineError> {
        self.command(Command::SendDtmf {
            call_id,
            digits: digits.to_string(),
        })
    }

    /// The app moved in its lifecycle (foreground, background, locked, suspended). With no
    /// call in progress, leaving the foreground closes the signaling connection cleanly
    /// ([`EngineEvent::SignalingPaused`]) so the server wakes this device by push instead of
    /// writing into a socket the frozen app does not read; the foreground, a push
    /// ([`Engine::handle_push`]) or a call placed brings it back, and it goes again when the
    /// last call ends. A call in progress is not touched: signaling and media stay up whatever
    /// the UI does.
    pub fn set_app_state(&self, state: AppState) -> Result<(), EngineError> {
        self.command(Command::AppState(state))
    }

    /// Any platform command (audio session activated/deactivated, network changed, ...).
    pub fn command(&self, command: Command) -> Result<(), EngineError> {
        self.ask(|reply| Request::Command { command, reply })
    }

    /// A VoIP push (PushKit) or high-priority FCM message arrived: returns at once with what
    /// the app must report to the OS before its push handler returns (CallKit
    /// `reportNewIncomingCall`, unless `already_known`). The engine then joins the call over
    /// signaling (pre-connect included) or, if it is already over, reports `Ended` with the
    /// reason, so the app ends the call it reported. Create the engine first when the push
    /// woke a terminated app: its signaling connects in the background.
    pub fn handle_push(&self, payload: &[u8]) -> Result<PushCall, EngineError> {
        let now_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let payload = payload.to_vec();
        self.ask(|reply| Request::Push {
            payload,
            now_unix_ms,
            reply,
        })
    }

    /// Replaces the STUN/TURN servers (e.g. from the server's `welcome`, refreshed TURN
    /// credentials). Names are resolved in the background; calls placed or received after that
    /// gather from the new servers, calls in progress keep theirs.
    pub fn set_ice_servers(&self, servers: Vec<IceServerConfig>) -> Result<(), EngineError> {
        self.requests
            .send(Request::SetIceServers { servers })
            .map_err(|_| EngineError::Stopped)
    }

    /// The truth about every call now.
    pub fn snapshot(&self) -> Result<Vec<CallSnapshot>, EngineError> {
        self.ask(|reply| Request::Snapshot { reply })
    }

    /// The ICE servers (STUN, and TURN with short-lived credentials) from the server's last
    /// `welcome` or `ice_servers`; empty until the first `welcome` or when the server has none.
    /// See [`Agent::ice_servers`].
    pub fn ice_servers(&self) -> Result<Vec<ringwire_proto::IceServer>, EngineError> {
        self.ask(|reply| Request::IceServers { reply })
    }

    /// Ends every call, disconnects and stops the thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.requests.send(Request::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    fn ask<T>(
        &self,
        make: impl FnOnce(crate::driver::Reply<T>) -> Request,
    ) -> Result<T, EngineError> {
        ask(&self.requests, make)
    }

    /// A handle that feeds peer messages to this engine from another thread (the app
    /// channel's listener), without sharing the engine itself.
    pub fn peer_feed(&self) -> PeerFeed {
        PeerFeed {
            requests: self.requests.clone(),
        }
    }
}

/// Feeds peer-mode messages to an [`Engine`] from any thread ([`Engine::peer_feed`]). It fails
/// with [`EngineError::Stopped`] once the engine has stopped.
#[derive(Debug, Clone)]
pub struct PeerFeed {
    requests: mpsc::UnboundedSender<Request>,
}

impl PeerFeed {
    /// As [`Engine::handle_peer_signal`].
    pub fn handle_peer_signal(
        &self,
        call_id: CallId,
        signal: PeerSignal,
    ) -> Result<(), EngineError> {
        ask(&self.requests, |reply| Request::PeerSignal {
            call_id,
            signal,
            reply,
        })
    }
}

/// One request to the engine thread and its answer.
fn ask<T>(
    requests: &mpsc::UnboundedSender<Request>,
    make: impl FnOnce(crate::driver::Reply<T>) -> Request,
) -> Result<T, EngineError> {
    let (reply, answer) = std::sync::mpsc::sync_channel(1);
    requests
        .send(make(reply))
        .map_err(|_| EngineError::Stopped)?;
    answer.recv().map_err(|_| EngineError::Stopped)?
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn start(
    config: EngineConfig,
    listener: Arc<dyn EngineListener>,
    requests: mpsc::UnboundedReceiver<Request>,
) -> Result<(Driver, Vec<std::net::SocketAddr>), EngineError> {
    let (received_tx, received) = mpsc::channel(RECEIVE_QUEUE);
    let sockets = MediaSockets::bind(&config.bind, config.allow_loopback, received_tx)?;
    let local_addrs = sockets.local_addrs();
    let mut agent_config = config.agent;
    agent_config.peer.local_addrs = local_addrs.clone();
    // Literal addresses resolve at once; a name waits for the system resolver, at most a
    // moment (a server that does not resolve is left out, never fatal).
    agent_config.ice_servers = tokio::time::timeout(
        Duration::from_secs(2),
        crate::ice::resolve(crate::ice::parse(&config.ice_servers)),
    )
    .await
    .unwrap_or_default();
    let samples = agent_config.encoder.frame.samples();
    let frame = Duration::from_millis(u64::from(agent_config.encoder.frame.millis()));
    let now = Instant::now();
    let mut agent = Agent::new(agent_config, now)?;
    agent.set_wall_clock(now, crate::driver::unix_ms_now());
    // The first WebRTC connection in a process pays for crypto set-up (about 50 ms measured on
    // the 2-core test machines): pay it now, not when the phone rings.
    ringwire_core::peer::warm_up(now);
    let (reports_tx, signaling_reports) = mpsc::unbounded_channel();
    // A peer-only engine has no server: its session is stopped (every signal is refused) and
    // its reports channel stays silent.
    let (session, link) = match config.signaling {
        Some(signaling) => {
            let prepared = Prepared::new(signaling)?;
            let session = ClientSession::new(prepared.session_config(), random_u64());
            (session, Some(Link::spawn(prepared, reports_tx)))
        }
        None => {
            let mut session = ClientSession::new(SessionConfig::default(), 0);
            session.stop();
            (session, None)
        }
    };
    let (stream_tx, stream_events) = mpsc::unbounded_channel();
    let tls = Some(crate::signaling::tls_config(&config.turn_tls_roots)?);
    let (ice_resolved_tx, ice_resolved) = mpsc::unbounded_channel();
    // What CallKit does on a phone, the device does on a desktop: or the app does it.
    let policy = if config.auto_audio_session {
        AudioSessionPolicy::Desktop
    } else {
        AudioSessionPolicy::Os
    };
    let driver = Driver {
        device: Device::new(agent, session, policy, now),
        link,
        signaling_reports,
        running: true,
        streams: TurnStreams::new(stream_tx, tls),
        stream_events,
        ice_resolved,
        ice_resolved_tx,
        sockets,
        received,
        requests,
        listener,
        source: config.audio.source,
        sink: config.audio.sink,
        interface_watch: config.watch_interfaces.then(|| {
            let mut watch = tokio::time::interval(Duration::from_secs(1));
            watch.set_missed_tick_behavior(MissedTickBehavior::Delay);
            watch
        }),
        capture: vec![0; samples],
        playout: vec![0; samples],
        audio_tick: tokio::time::interval(frame),
    };
    Ok((driver, local_addrs))
}
