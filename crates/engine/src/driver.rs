//! The engine thread: a single-threaded tokio runtime that owns the [`Device`] (the agent, the
//! signaling [`ClientSession`] and the audio-session policy, glued together in `ringwire-core`,
//! driven as the simulator drives it), the signaling [`Link`] (backoff, pause, network changes)
//! and its transport task, the media sockets, the audio devices and the real clock, and moves
//! data between them. It is the only place in ringwire's call path that does IO; the device
//! decides everything, the link only when to connect.
//!
//! One loop, one owner: every input (app request, server message, datagram, audio tick, timer)
//! is handled to completion and the device's outputs are carried out before the next input, so
//! there are no locks around the agent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ringwire_core::device::Output;
use ringwire_core::session::ClientSession;
use ringwire_core::{CallSnapshot, Command, Device, IceServer, PushCall, SignalingWanted};
use ringwire_media::device::{AudioSink, AudioSource};
use ringwire_proto::{CallId, DisplayName, PeerSignal, ServerMessage, UserName};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tracing::{debug, info, warn};

use crate::net::{MediaSockets, Received};
use crate::signaling::link::{Link, LinkEvent};
use crate::signaling::transport::Report;
use crate::turn_stream::{StreamEvent, TurnStreams};
use crate::IceServerConfig;
use crate::{EngineError, EngineEvent, EngineListener};

/// Replies travel on std channels: the app's thread blocks briefly on them.
pub(crate) type Reply<T> = std::sync::mpsc::SyncSender<Result<T, EngineError>>;

/// What the app's thread asks of the engine thread.
pub(crate) enum Request {
    StartCall {
        to_user: UserName,
        reply: Reply<CallId>,
    },
    StartPeerCall {
        to: UserName,
        call_id: Option<CallId>,
        reply: Reply<CallId>,
    },
    ExpectPeerCall {
        call_id: CallId,
        from: UserName,
        display_name: Option<DisplayName>,
        reply: Reply<()>,
    },
    PeerSignal {
        call_id: CallId,
        signal: PeerSignal,
        reply: Reply<()>,
    },
    Command {
        command: Command,
        reply: Reply<()>,
    },
    IceServers {
        reply: Reply<Vec<ringwire_proto::IceServer>>,
    },
    Snapshot {
        reply: Reply<Vec<CallSnapshot>>,
    },
    Push {
        payload: Vec<u8>,
        now_unix_ms: u64,
        reply: Reply<PushCall>,
    },
    SetIceServers {
        servers: Vec<IceServerConfig>,
    },
    LocalAddrs {
        reply: Reply<Vec<std::net::SocketAddr>>,
    },
    Shutdown,
}

pub(crate) struct Driver {
    /// The agent, the signaling session and their glue (a peer-only engine's session is
    /// stopped from the start: no ringwire server).
    pub device: Device<ClientSession>,
    /// The signaling connection's transport and reconnects; `None` for a peer-only engine.
    pub link: Option<Link>,
    /// What the link's transport task reports.
    pub signaling_reports: mpsc::UnboundedReceiver<Report>,
    /// `false` once the server refused this device for good: the engine stops.
    pub running: bool,
    /// TCP/TLS connections to TURN servers, owned here, driven by the agent.
    pub streams: TurnStreams,
    pub stream_events: mpsc::UnboundedReceiver<StreamEvent>,
    /// ICE servers resolved in the background ([`Request::SetIceServers`]).
    pub ice_resolved: mpsc::UnboundedReceiver<Vec<IceServer>>,
    pub ice_resolved_tx: mpsc::UnboundedSender<Vec<IceServer>>,
    pub sockets: MediaSockets,
    pub received: mpsc::Receiver<Received>,
    pub requests: mpsc::UnboundedReceiver<Request>,
    pub listener: Arc<dyn EngineListener>,
    pub source: Box<dyn AudioSource>,
    pub sink: Box<dyn AudioSink>,
    /// Reads the interfaces once a second ([`crate::EngineConfig::watch_interfaces`]).
    pub interface_watch: Option<tokio::time::Interval>,
    /// Per-frame buffers, allocated once.
    pub capture: Vec<i16>,
    pub playout: Vec<i16>,
    /// The audio clock; restarted when a call is answered so its first frame goes out at
    /// once rather than up to a frame later.
    pub audio_tick: tokio::time::Interval,
}

impl Driver {
    pub async fn run(mut self) {
        // A late tick is made up at once: the media clock must not lose frames.
        self.audio_tick
            .set_missed_tick_behavior(MissedTickBehavior::Burst);
        loop {
            let sleep = tokio::time::sleep_until(self.device.poll_timeout().into());
            tokio::select! {
                biased;
                request = self.requests.recv() => match request {
                    None | Some(Request::Shutdown) => break,
                    Some(request) => self.on_request(request),
                },
                Some(report) = self.signaling_reports.recv() => self.on_signaling(report),
                Some(datagram) = self.received.recv() => {
                    self.device.agent_mut().handle_receive(
                        Instant::now(),
                        datagram.source,
                        datagram.destination,
                        &datagram.contents,
                    );
                }
                Some(event) = self.stream_events.recv() => self.on_stream(event),
                Some(servers) = self.ice_resolved.recv() => {
                    self.device.agent_mut().set_ice_servers(Instant::now(), servers)
                }
                () = next_watch(&mut self.interface_watch) => {
                    if self.sockets.interfaces_changed() {
                        info!("network interfaces changed");
                        self.network_changed(Instant::now());
                    }
                }
                _ = self.audio_tick.tick() => self.on_audio_tick(),
                _ = sleep => self.on_timeout(),
            }
            self.carry_out();
            if !self.running {
                break;
            }
        }
        self.shutdown().await;
    }

    fn on_request(&mut self, request: Request) {
        let now = Instant::now();
        match request {
            Request::StartCall { to_user, reply } => {
                answer(reply, self.device.agent_mut().start_call(now, to_user));
            }
            Request::StartPeerCall { to, call_id, reply } => {
                answer(
                    reply,
                    self.device.agent_mut().start_peer_call(now, to, call_id),
                );
            }
            Request::ExpectPeerCall {
                call_id,
                from,
                display_name,
                reply,
            } => {
                answer(
                    reply,
                    self.device
                        .agent_mut()
                        .expect_peer_call(now, call_id, from, display_name),
                );
            }
            Request::PeerSignal {
                call_id,
                signal,
                reply,
            } => {
                answer(
                    reply,
                    self.device
                        .agent_mut()
                        .handle_peer_signal(now, call_id, signal),
                );
            }
            Request::Command {
                command: Command::NetworkChanged { .. },
                reply,
            } => {
                self.network_changed(now);
                let _ = reply.send(Ok(()));
            }
            Request::LocalAddrs { reply } => {
                let _ = reply.send(Ok(self.sockets.local_addrs()));
            }
            Request::Command { command, reply } => {
                answer(reply, self.device.agent_mut().handle_command(now, command));
            }
            Request::IceServers { reply } => {
                let _ = reply.send(Ok(self.device.agent().ice_servers().to_vec()));
            }
            Request::Snapshot { reply } => {
                let _ = reply.send(Ok(self.device.agent().snapshot()));
            }
            Request::Push {
                payload,
                now_unix_ms,
                reply,
            } => {
                answer(
                    reply,
                    self.device
                        .agent_mut()
                        .handle_push(now, now_unix_ms, &payload),
                );
            }
            Request::SetIceServers { servers } => self.use_ice_servers(&servers),
            Request::Shutdown => {}
        }
    }

    /// The device's deadline: the agent's, the session's (a ping, or a handshake or pong
    /// overdue), or both.
    fn on_timeout(&mut self) {
        let now = Instant::now();
        if self.device.agent_timeout() <= now {
            // The wall clock for call timelines; the OS may have set it meanwhile.
            self.device.agent_mut().set_wall_clock(now, unix_ms_now());
            self.device.agent_mut().handle_timeout(now);
        }
        if self
            .device
            .session()
            .poll_timeout()
            .is_some_and(|at| at <= now)
        {
            let unix_ms = i64::try_from(unix_ms_now()).unwrap_or(i64::MAX);
            self.device.handle_session_timeout(now, unix_ms);
        }
    }

    /// Re-binds the media sockets to the interfaces as they are now and tells the agent, which
    /// gathers again and restarts ICE on answered calls. The addresses are the driver's to
    /// know: whatever the app passed in `Command::NetworkChanged` is replaced.
    fn network_changed(&mut self, now: Instant) {
        self.sockets.rebind();
        // The signaling connection may be on an address that is gone: reconnect at once, and
        // let the agent hold its ICE restarts until the new connection's `welcome`.
        if let Some(link) = self.link.as_mut().filter(|link| !link.is_paused()) {
            let event = link.network_changed(&mut self.device, now);
            self.device.handle_signaling_down(now);
            self.on_link(now, event);
        }
        let local_addrs = self.sockets.local_addrs();
        if let Err(error) = self
            .device
            .agent_mut()
            .handle_command(now, Command::NetworkChanged { local_addrs })
        {
            warn!(%error, "network change not applied");
        }
    }

    /// The server's ICE servers (from `welcome` or an `ice_servers` refresh, kept by the agent)
    /// replace the configured ones for the calls that start from now on: they carry the TURN
    /// credentials this device may use. IP-address URLs take effect at once, before any call
    /// the server replays after `welcome`; names are resolved in the background. A server that
    /// sends none leaves the configured list alone.
    fn gather_from_server_list(&mut self) {
        let servers: Vec<IceServerConfig> = self
            .device
            .agent()
            .ice_servers()
            .iter()
            .map(|s| IceServerConfig {
                urls: s.urls().iter().map(|u| u.to_string()).collect(),
                username: s.username().map(str::to_string),
                credential: s.credential().map(str::to_string),
            })
            .collect();
        if !servers.is_empty() {
            self.use_ice_servers(&servers);
        }
    }

    /// Replaces the ICE servers for the calls that start from now on: IP-address URLs at once,
    /// names once the system resolver has answered (in the background).
    fn use_ice_servers(&mut self, servers: &[IceServerConfig]) {
        let parsed = crate::ice::parse(servers);
        if let Some(resolved) = crate::ice::literals(&parsed) {
            self.device
                .agent_mut()
                .set_ice_servers(Instant::now(), resolved);
            return;
        }
        let tx = self.ice_resolved_tx.clone();
        tokio::spawn(async move {
            let _ = tx.send(crate::ice::resolve(parsed).await);
        });
    }

    fn on_stream(&mut self, event: StreamEvent) {
        let now = Instant::now();
        match event {
            StreamEvent::Connected { stream, local } => self
                .device
                .agent_mut()
                .handle_stream_connected(now, stream, local),
            StreamEvent::Data { stream, bytes } => self
                .device
                .agent_mut()
                .handle_stream_data(now, stream, &bytes),
            StreamEvent::Closed { stream, error } => {
                debug!(stream, %error, "TURN stream ended");
                self.streams.closed(stream);
                self.device
                    .agent_mut()
                    .handle_stream_closed(now, stream, &error);
            }
        }
    }

    /// What the signaling transport reported: the link hands it to the device's session, whose
    /// events reach the agent at once.
    fn on_signaling(&mut self, report: Report) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let now = Instant::now();
        let was_up = self.device.session().is_up();
        let welcome = match &report {
            Report::Message {
                message: ServerMessage::Welcome(welcome),
                ..
            } => Some((welcome.user.to_string(), welcome.device_id)),
            _ => None,
        };
        let event = link.handle_report(&mut self.device, now, report);
        if let Some((user, device_id)) =
            welcome.filter(|_| !was_up && self.device.session().is_up())
        {
            info!(%user, device = %device_id, "signaling connected");
            link.connected();
            self.listener
                .on_event(EngineEvent::SignalingConnected { user, device_id });
        }
        self.on_link(now, event);
    }

    /// What the link reported, for the agent and the app.
    fn on_link(&mut self, now: Instant, event: Option<LinkEvent>) {
        match event {
            None => {}
            Some(LinkEvent::Disconnected { reason, retry_in }) => {
                self.device.handle_signaling_down(now);
                self.listener
                    .on_event(EngineEvent::SignalingDisconnected { reason, retry_in });
            }
            Some(LinkEvent::Paused) => {
                self.device.handle_signaling_down(now);
                self.listener.on_event(EngineEvent::SignalingPaused);
            }
            Some(LinkEvent::Fatal(error)) => {
                warn!(%error, "signaling refused this device; the engine stops");
                self.listener.on_event(EngineEvent::Fatal {
                    message: error.to_string(),
                });
                self.running = false;
            }
        }
    }

    /// One frame of the audio clock: capture → encode → send, and receive → decode → play, for
    /// the call that has the audio. Nothing here allocates.
    fn on_audio_tick(&mut self) {
        if self.device.agent().audio_call().is_none() {
            return;
        }
        let now = Instant::now();
        if let Err(error) = self.source.read_frame(&mut self.capture) {
            warn!(%error, "audio source failed; sending silence");
            self.capture.fill(0);
        }
        self.device.agent_mut().capture_frame(now, &self.capture);
        if self
            .device
            .agent_mut()
            .playout_frame(now, &mut self.playout)
            .is_some()
        {
            if let Err(error) = self.sink.write_frame(&self.playout) {
                warn!(%error, "audio sink failed");
            }
        }
    }

    /// Carries out everything the device asked for.
    fn carry_out(&mut self) {
        loop {
            match self.device.poll_output() {
                Output::Transmit {
                    source,
                    destination,
                    contents,
                } => self.sockets.send(source, destination, &contents),
                // Already with the session; written below.
                Output::Signaled(_) => {}
                Output::PeerSignal { call_id, signal } => self
                    .listener
                    .on_event(EngineEvent::PeerSignal { call_id, signal }),
                Output::Report(report) => self.listener.on_event(EngineEvent::Report(report)),
                // What CallKit does on a desktop's behalf (`EngineConfig::auto_audio_session`).
                Output::AudioSession { active: true } => self.audio_tick.reset_immediately(),
                Output::AudioSession { active: false } => {
                    if let Err(error) = self.sink.finish() {
                        warn!(%error, "audio sink could not be finished");
                    }
                }
                Output::Signaling(SignalingWanted::Offline) => {
                    if let Some(link) = self.link.as_mut() {
                        info!("no call and the app is not in the foreground: signaling paused");
                        // What the session has goes out ahead of the close.
                        let event = link.pause(&mut self.device, Instant::now());
                        self.on_link(Instant::now(), event);
                    }
                }
                Output::Signaling(SignalingWanted::Online) => {
                    if let Some(link) = self.link.as_mut() {
                        link.resume();
                    }
                }
                Output::IceServersUpdated => self.gather_from_server_list(),
                // The session ended the connection: the link closes it and tries again, or
                // stops.
                Output::SessionEnded(end) => {
                    let event = self.link.as_mut().and_then(|link| link.session_ended(end));
                    self.on_link(Instant::now(), event);
                }
                Output::StreamConnect {
                    stream,
                    server,
                    tls_name,
                } => self.streams.connect(stream, server, tls_name),
                Output::StreamSend { stream, contents } => self.streams.send(stream, contents),
                Output::StreamClose { stream } => self.streams.close(stream),
                Output::Timeout(_) => break,
            }
        }
        if let Some(link) = self.link.as_mut() {
            link.flush(&mut self.device);
        }
    }

    async fn shutdown(mut self) {
        info!("engine stopping");
        let now = Instant::now();
        // Every call, peer-mode ones included: their peers hear a `bye` (if the app still
        // delivers it).
        for call in self.device.agent().snapshot() {
            let _ = self.device.agent_mut().handle_command(
                now,
                Command::End {
                    call_id: call.call_id,
                },
            );
        }
        self.carry_out();
        if let Err(error) = self.sink.finish() {
            warn!(%error, "audio sink could not be finished");
        }
        // Give the hangups a moment to reach the server before the socket closes.
        if let Some(mut link) = self.link.take() {
            link.shutdown(&mut self.device);
            link.finish(Duration::from_millis(200)).await;
        }
    }
}

/// Sends the agent's result back to the app's thread (a caller that gave up is no error).
fn answer<T>(reply: Reply<T>, result: Result<T, ringwire_core::CoreError>) {
    let _ = reply.send(result.map_err(EngineError::from));
}

/// The system's wall clock, UNIX ms (0 if it is before 1970: then timelines say so).
pub(crate) fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The interface watch's next tick, or never when there is no watch.
async fn next_watch(watch: &mut Option<tokio::time::Interval>) {
    match watch {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}
