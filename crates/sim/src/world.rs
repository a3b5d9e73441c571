//! A whole ringwire deployment in one deterministic loop: real call engines
//! ([`ringwire_core::Agent`], one per device, with real str0m connections and the real Opus
//! pipeline) talking through the real router ([`SimSignaling`]) and over the in-memory
//! network ([`SimNetwork`]), all on one [`SimClock`].
//!
//! Each device is the engine's own [`Device`]: the agent, the device side of its signaling
//! connection ([`ClientSession`]: hello, welcome, the outbox while down, pings and the pong
//! timeout) and the audio-session policy, glued together in `ringwire-core` exactly as the
//! engine runs them. The world plays only the driver's IO part, as `crates/engine` does for
//! real: it carries out each device's outputs on the simulated network and signaling links,
//! runs a 20 ms audio clock with a tone as the microphone, and keeps what every device
//! reported and played. A desktop's device activates its audio session when a call is answered
//! (as CallKit does, [`AudioSessionPolicy::Desktop`]); a phone's waits for its OS.
//!
//! Phones ([`World::add_phone`]) live under a simulated OS ([`PhoneOs`]): they start locked with
//! the app terminated, are woken by the pushes the router asks for (delivered with the server's
//! own payload builder after [`World::push_latency`]), report calls to the OS, answer and end
//! through OS actions ([`World::os_answer`], [`World::os_end`]), and get the audio session only
//! from the OS. Every rule broken is recorded in [`PhoneOs::violations`]. Whenever the simulated
//! OS moves the app (launch, [`World::set_app_state`], [`World::set_locked`], [`World::open_app`])
//! the app tells its engine ([`Command::AppState`]), and the world opens or closes the device's
//! signaling connection as the engine asks ([`Output::Signaling`]), as the engine's driver does.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use ringwire_core::device::Output;
use ringwire_core::session::{ClientSession, SessionConfig};
use ringwire_core::{
    Agent, AgentConfig, AudioSessionPolicy, CallSummary, Command, Device, Report, SignalingWanted,
};
use ringwire_media::device::{AudioSource, ToneSource};
use ringwire_media::FrameKind;
use ringwire_proto::{CallId, ClientMessage, DeviceId, PeerSignal, UserName};
use ringwire_router::record::{PushKind, PushOutcome};
use ringwire_router::RouterConfig;

use crate::peer_channel::{ChannelTiming, PeerChannels};
use crate::platform::{AppState, Os, PhoneOs};
use crate::{earliest, SimClock, SimError, SimNetwork, SimSignaling};

/// Samples per 20 ms frame at 48 kHz.
const FRAME: usize = 960;
const FRAME_TIME: Duration = Duration::from_millis(20);

/// Index of a device in the [`World`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dev(pub usize);

/// How the played frames of a device were made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlayedFrames {
    pub decoded: u64,
    pub recovered_fec: u64,
    pub recovered_dred: u64,
    pub concealed: u64,
    pub silence: u64,
}

/// One simulated device: the engine's [`Device`], its socket address, its tone and what it
/// played.
pub struct SimDevice {
    pub name: String,
    pub user: UserName,
    pub device_id: DeviceId,
    pub addr: SocketAddr,
    /// The agent, its signaling session and the audio-session policy, as the engine has them.
    device: Device,
    /// Everything the agent reported, with the virtual time.
    pub reports: Vec<(Instant, Report)>,
    pub played: PlayedFrames,
    /// Every message the agent asked to send to the server, with the virtual time (whether
    /// or not it could go out then).
    pub signaled: Vec<(Instant, ClientMessage)>,
    /// Every peer-mode message the agent handed to the app's channel, with the virtual time.
    pub peer_sent: Vec<(Instant, CallId, PeerSignal)>,
    /// Every peer-mode message the agent refused, with the virtual time and the error.
    pub peer_refused: Vec<(Instant, PeerSignal, ringwire_core::CoreError)>,
    /// The last few seconds of what the speaker played (for frequency checks).
    pub heard: VecDeque<i16>,
    /// `Some` for a phone under a simulated OS; `None` for a desktop (the world plays CallKit).
    pub phone: Option<PhoneOs>,
    /// Whether the app (and so the engine) runs; a terminated phone app does not.
    pub running: bool,
    config: AgentConfig,
    tone: ToneSource,
    next_audio: Option<Instant>,
    capture: Vec<i16>,
    playout: Vec<i16>,
    /// Of every 10 audio-clock ticks, how many the starved audio thread misses.
    starved_ticks_of_10: u8,
    ticks: u64,
}

impl std::fmt::Debug for SimDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimDevice")
            .field("name", &self.name)
            .field("device_id", &self.device_id)
            .field("reports", &self.reports.len())
            .field("played", &self.played)
            .finish()
    }
}

/// What a phone's app tells its OS about each report (CallKit provider calls).
fn phone_report(os: &mut PhoneOs, now: Instant, report: &Report) {
    match report {
        Report::IncomingCall { call_id, .. } => os.report(now, *call_id, false),
        Report::OutgoingStarted { call_id, .. } => os.report(now, *call_id, false),
        Report::Ended {
            call_id, callkit, ..
        } => match os.call_mut(*call_id) {
            Some(call) => {
                call.ended.get_or_insert((now, *callkit));
            }
            None => os.violation(now, format!("ended {call_id}, never reported to the OS")),
        },
        _ => {}
    }
}

/// Samples of played audio kept per device.
const HEARD_KEEP: usize = 48_000 * 3;

impl SimDevice {
    /// Starts the app's process if it is not running: a fresh engine, not yet connected.
    fn launch(&mut self, now: Instant) {
        if self.running {
            return;
        }
        self.device = new_device(&self.config, self.phone.is_some(), now);
        self.running = true;
    }

    /// The device's agent (calls, known calls, configuration).
    pub fn agent(&self) -> &Agent {
        self.device.agent()
    }

    /// Reports of one kind, e.g. `d.count(|r| matches!(r, Report::IncomingCall { .. }))`.
    pub fn count(&self, pick: impl Fn(&Report) -> bool) -> usize {
        self.reports.iter().filter(|(_, r)| pick(r)).count()
    }

    /// The first report `pick` accepts, with its time.
    pub fn find(&self, pick: impl Fn(&Report) -> bool) -> Option<(Instant, &Report)> {
        self.reports
            .iter()
            .find(|(_, r)| pick(r))
            .map(|(t, r)| (*t, r))
    }

    /// How the call `call_id` ended here, if it did: (reason, ended here).
    pub fn ended(&self, call_id: CallId) -> Option<(ringwire_core::CallEndReason, bool)> {
        self.reports.iter().find_map(|(_, r)| match r {
            Report::Ended {
                call_id: id,
                reason,
                ended_locally,
                ..
            } if *id == call_id => Some((reason.clone(), *ended_locally)),
            _ => None,
        })
    }

    /// The protocol end reason of `call_id` here.
    pub fn end_reason(&self, call_id: CallId) -> Option<ringwire_proto::EndReason> {
        self.ended(call_id).and_then(|(r, _)| r.as_protocol())
    }

    /// The incoming calls reported here, in order.
    pub fn incoming_calls(&self) -> Vec<CallId> {
        self.reports
            .iter()
            .filter_map(|(_, r)| match r {
                Report::IncomingCall { call_id, .. } => Some(*call_id),
                _ => None,
            })
            .collect()
    }

    /// The summary this device reported when `call` ended here, if it has ended.
    pub fn ended_summary(&self, call: CallId) -> Option<CallSummary> {
        self.reports.iter().find_map(|(_, r)| match r {
            Report::Ended {
                call_id, summary, ..
            } if *call_id == call => Some(summary.as_ref().clone()),
            _ => None,
        })
    }

    /// Dominant frequency of the last second played.
    pub fn heard_hz(&self) -> f64 {
        let samples: Vec<i16> = self
            .heard
            .iter()
            .rev()
            .take(48_000)
            .rev()
            .copied()
            .collect();
        ringwire_media::device::analysis::dominant_frequency(&samples, 48_000)
    }
}

/// Real engines, the real router and a simulated network on one virtual clock.
pub struct World {
    pub clock: SimClock,
    pub net: SimNetwork,
    pub signaling: SimSignaling,
    /// How long APNs / FCM take to deliver a push.
    pub push_latency: Duration,
    devices: Vec<SimDevice>,
    /// Pushes on their way: (due, order) → (device, payload).
    pushes: BTreeMap<(Instant, u64), (DeviceId, PushKind, Vec<u8>)>,
    push_seq: u64,
    seed: u64,
    /// The apps' own signaling channels of peer mode.
    peer_channels: PeerChannels,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("now", &self.clock.elapsed())
            .field("devices", &self.devices)
            .finish()
    }
}

impl World {
    /// An empty world; `router` is the server's configuration (ring timeout, grace).
    pub fn new(seed: u64, router: RouterConfig) -> World {
        let clock = SimClock::new();
        let signaling = SimSignaling::new(router, seed, &clock);
        World {
            net: SimNetwork::new(seed ^ 0x6e65_7477_6f72_6b21),
            signaling,
            clock,
            push_latency: Duration::from_millis(300),
            devices: Vec::new(),
            pushes: BTreeMap::new(),
            push_seq: 0,
            seed,
            peer_channels: PeerChannels::default(),
        }
    }

    /// Adds a user (any name the protocol allows).
    pub fn add_user(&mut self, name: &str) -> Result<UserName, SimError> {
        self.signaling.add_user(name)
    }

    /// Adds a device for `user` with its own host (198.18.0.N) and a tone of `tone_hz` as the
    /// microphone, and connects it to the server.
    pub fn add_device(&mut self, user: &UserName, name: &str, tone_hz: f64) -> Dev {
        let dev = self.new_device(user, name, tone_hz, None);
        self.connect(dev);
        dev
    }

    /// Adds a phone under `os`, locked, its app terminated: it runs nothing until a push.
    pub fn add_phone(&mut self, user: &UserName, name: &str, tone_hz: f64, os: Os) -> Dev {
        self.new_device(
            user,
            name,
            tone_hz,
            Some(PhoneOs::locked_and_terminated(os)),
        )
    }

    fn new_device(
        &mut self,
        user: &UserName,
        name: &str,
        tone_hz: f64,
        phone: Option<PhoneOs>,
    ) -> Dev {
        let device_id = self
            .signaling
            .add_device(user)
            .expect("the user was added first");
        let n = self.devices.len() as u8 + 1;
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, n)), 5000);
        self.net.bind(addr);
        let mut config = AgentConfig::new([addr]);
        config.call_id_seed = Some(self.seed.wrapping_mul(31).wrapping_add(u64::from(n)));
        let now = self.clock.now();
        let device = new_device(&config, phone.is_some(), now);
        self.devices.push(SimDevice {
            name: name.to_owned(),
            user: user.clone(),
            device_id,
            addr,
            device,
            reports: Vec::new(),
            played: PlayedFrames::default(),
            heard: VecDeque::new(),
            running: phone.is_none(),
            phone,
            config,
            tone: ToneSource::new(tone_hz, 8000).expect("valid tone"),
            next_audio: None,
            signaled: Vec::new(),
            peer_sent: Vec::new(),
            peer_refused: Vec::new(),
            capture: vec![0; FRAME],
            playout: vec![0; FRAME],
            starved_ticks_of_10: 0,
            ticks: 0,
        });
        Dev(self.devices.len() - 1)
    }

    /// The OS's answer action (CallKit `CXAnswerCallAction`, from the lock screen or the app).
    /// On Android the app starts its phoneCall|microphone foreground service here, while the
    /// call UI is visible. The OS then activates the audio session.
    pub fn os_answer(&mut self, dev: Dev, call_id: CallId) -> Result<(), ringwire_core::CoreError> {
        let now = self.clock.now();
        let d = &mut self.devices[dev.0];
        if let Some(os) = d.phone.as_mut() {
            match os.call_mut(call_id) {
                Some(call) => call.answered_at = Some(now),
                None => os.violation(now, format!("answered {call_id}, never reported to the OS")),
            }
            if os.os == Os::Android {
                os.foreground_service = true;
            }
        }
        // The simulated OS knows whether its screen was locked when the user answered.
        let from_lock_screen = d.phone.as_ref().is_some_and(|os| os.locked);
        let result = d.device.agent_mut().handle_command(
            now,
            Command::AnswerFromOs {
                call_id,
                from_lock_screen,
            },
        );
        if let Some(os) = d.phone.as_mut() {
            if result.is_ok() && !os.audio_active {
                os.audio_active = true;
                let _ = d
                    .device
                    .agent_mut()
                    .handle_command(now, Command::AudioSessionActivated);
                d.next_audio = Some(now);
            }
        }
        self.carry_out(dev);
        result
    }

    /// The OS's end action (CallKit `CXEndCallAction`: decline on the lock screen, or hang up).
    pub fn os_end(&mut self, dev: Dev, call_id: CallId) -> Result<(), ringwire_core::CoreError> {
        let now = self.clock.now();
        let d = &mut self.devices[dev.0];
        if let Some(os) = d.phone.as_mut() {
            if let Some(call) = os.call_mut(call_id) {
                call.ended.get_or_insert((now, None));
            }
        }
        let result = d
            .device
            .agent_mut()
            .handle_command(now, Command::End { call_id });
        self.carry_out(dev);
        self.release_audio_if_idle(dev);
        result
    }

    pub fn device(&self, dev: Dev) -> &SimDevice {
        &self.devices[dev.0]
    }

    pub fn device_mut(&mut self, dev: Dev) -> &mut SimDevice {
        &mut self.devices[dev.0]
    }

    /// (Re)opens the device's signaling connection: its session sends `hello`, listing the
    /// calls the agent knows.
    pub fn connect(&mut self, dev: Dev) {
        if !self.devices[dev.0].running {
            return;
        }
        let now = self.clock.now();
        let d = &mut self.devices[dev.0];
        d.device.handle_open(now);
        // A session stopped for good (refused by the server) sends nothing: no connection.
        let Some(hello) = d.device.poll_transmit() else {
            return;
        };
        self.signaling
            .connect_with_hello(now, d.device_id, hello)
            .expect("known device");
        self.flush_session(dev);
    }

    /// Drops the device's signaling connection (its calls go on peer-to-peer).
    pub fn disconnect(&mut self, dev: Dev) {
        let now = self.clock.now();
        let id = self.devices[dev.0].device_id;
        self.signaling.disconnect(now, id).expect("known device");
        let heard = self.devices[dev.0]
            .device
            .handle_lost(now, "the connection dropped".into());
        self.carry_out_if(dev, heard);
    }

    /// Writes what the device's session has for its connection, as the engine's client does.
    fn flush_session(&mut self, dev: Dev) {
        let now = self.clock.now();
        let d = &mut self.devices[dev.0];
        while let Some(message) = d.device.poll_transmit() {
            let _ = self.signaling.send(now, d.device_id, message);
        }
    }

    /// Places a call from `dev` to `user`.
    pub fn call(&mut self, dev: Dev, user: &str) -> CallId {
        let now = self.clock.now();
        let id = self.devices[dev.0]
            .device
            .agent_mut()
            .start_call(now, user.parse().expect("user name"))
            .expect("call placed");
        self.carry_out(dev);
        id
    }

    /// Starves `dev`'s audio thread: of every 10 audio-clock ticks, `of_10` do not run (a CPU
    /// too busy for the real-time thread). 0 ends it.
    pub fn starve_audio(&mut self, dev: Dev, of_10: u8) {
        self.devices[dev.0].starved_ticks_of_10 = of_10.min(10);
    }

    /// Joins two devices' apps by their own signaling channel, for peer-mode calls.
    pub fn link_peers(&mut self, a: Dev, b: Dev, timing: ChannelTiming) {
        self.peer_channels.link(a, b, timing);
    }

    /// Places a peer-mode call from `dev` to whatever its app's channel reaches
    /// ([`World::link_peers`]); `call_id` is the channel's id for it, if both ends share one.
    pub fn peer_call(
        &mut self,
        dev: Dev,
        call_id: Option<CallId>,
    ) -> Result<CallId, ringwire_core::CoreError> {
        let now = self.clock.now();
        let id = self.devices[dev.0].device.agent_mut().start_peer_call(
            now,
            "peer".parse().expect("user name"),
            call_id,
        )?;
        self.carry_out(dev);
        Ok(id)
    }

    /// A platform command on `dev` (answer, end, mute, network change, ...).
    pub fn command(&mut self, dev: Dev, command: Command) -> Result<(), ringwire_core::CoreError> {
        let now = self.clock.now();
        let result = self.devices[dev.0]
            .device
            .agent_mut()
            .handle_command(now, command);
        self.carry_out(dev);
        // The audio clock stops while no call has the audio (held, say); a command that gives
        // a call the audio again (releasing the hold) starts it, as the device's audio unit
        // never stopped.
        let d = &mut self.devices[dev.0];
        if d.next_audio.is_none() && d.running && d.agent().audio_call().is_some() {
            let unit_runs = d.phone.as_ref().is_none_or(|os| os.audio_active);
            if unit_runs {
                d.next_audio = Some(now);
            }
        }
        result
    }

    /// Runs the world for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.clock.now() + d;
        self.run_until_time(until, |_| false);
    }

    /// Runs until `done` holds (checked after every step) or `limit` of virtual time passed;
    /// says whether `done` held.
    pub fn run_until(&mut self, limit: Duration, done: impl FnMut(&World) -> bool) -> bool {
        let until = self.clock.now() + limit;
        self.run_until_time(until, done)
    }

    fn run_until_time(&mut self, until: Instant, mut done: impl FnMut(&World) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            let next = earliest(
                [
                    self.net.next_delivery_time(),
                    self.signaling.poll_timeout(),
                    self.signaling.next_delivery_time(),
                    self.pushes.keys().next().map(|(at, _)| *at),
                    self.peer_channels.next_delivery_time(),
                ]
                .into_iter()
                .chain(
                    self.devices
                        .iter()
                        .filter(|d| d.running)
                        .map(|d| Some(d.device.poll_timeout())),
                )
                .chain(
                    self.devices
                        .iter()
                        .filter(|d| d.running)
                        .map(|d| d.next_audio),
                ),
            );
            let Some(next) = next else {
                return done(self);
            };
            if next > until {
                self.clock.advance_to(until);
                return done(self);
            }
            self.clock.advance_to(next);
            self.step();
        }
    }

    /// Hands out everything due now.
    fn step(&mut self) {
        let now = self.clock.now();
        while let Some((device_id, message)) = self.signaling.poll_delivery(now) {
            let Some(dev) = self.dev_of(device_id) else {
                continue;
            };
            let heard = self.devices[dev.0]
                .device
                .handle_server_message(now, message);
            self.carry_out_if(dev, heard);
        }
        while let Some(device_id) = self.signaling.poll_closed() {
            if let Some(dev) = self.dev_of(device_id) {
                let heard = self.devices[dev.0].device.handle_close(now, None, "");
                self.carry_out_if(dev, heard);
            }
        }
        self.signaling.handle_timeout(now);
        self.route_pushes(now);
        while let Some((dev, call_id, signal)) = self.peer_channels.poll_delivery(now) {
            let d = &mut self.devices[dev.0];
            if !d.running {
                continue;
            }
            if let Err(error) =
                d.device
                    .agent_mut()
                    .handle_peer_signal(now, call_id, signal.clone())
            {
                d.peer_refused.push((now, signal, error));
            }
            self.carry_out(dev);
        }
        while let Some(datagram) = self.net.poll_delivery(now) {
            let Some(dev) = self
                .devices
                .iter()
                .position(|d| d.addr == datagram.to && d.running)
            else {
                continue;
            };
            self.devices[dev].device.agent_mut().handle_receive(
                now,
                datagram.from,
                datagram.to,
                &datagram.payload,
            );
            self.carry_out(Dev(dev));
        }
        let unix_ms = self.signaling.unix_ms(now);
        for i in 0..self.devices.len() {
            if !self.devices[i].running {
                continue;
            }
            // The device's wall clock (the sim's clocks agree), for its call timelines.
            self.devices[i]
                .device
                .agent_mut()
                .set_wall_clock(now, unix_ms);
            if self.devices[i].device.agent_timeout() <= now {
                self.devices[i].device.agent_mut().handle_timeout(now);
                self.carry_out(Dev(i));
            }
            if self.devices[i]
                .device
                .session()
                .poll_timeout()
                .is_some_and(|t| t <= now)
            {
                let unix_ms = i64::try_from(self.signaling.unix_ms(now)).unwrap_or(i64::MAX);
                let heard = self.devices[i].device.handle_session_timeout(now, unix_ms);
                self.carry_out_if(Dev(i), heard);
            }
            if self.devices[i].next_audio.is_some_and(|t| t <= now) {
                self.audio_tick(Dev(i));
            }
        }
    }

    fn audio_tick(&mut self, dev: Dev) {
        let now = self.clock.now();
        let d = &mut self.devices[dev.0];
        if let Some(os) = d.phone.as_mut() {
            // The OS runs the audio unit only while the session is active; the engine must not
            // produce audio outside it.
            if !os.audio_active {
                if d.device
                    .agent_mut()
                    .playout_frame(now, &mut d.playout)
                    .is_some()
                {
                    os.violation(now, "audio I/O while the audio session is inactive");
                }
                d.next_audio = None;
                return;
            }
            if os.os == Os::Android && !os.foreground_service {
                os.violation(
                    now,
                    "microphone capture without a phoneCall|microphone foreground service",
                );
            }
        }
        if d.agent().audio_call().is_none() {
            d.next_audio = None;
            return;
        }
        d.ticks += 1;
        if (d.ticks % 10) < u64::from(d.starved_ticks_of_10) {
            // A starved audio thread: this tick never runs (nothing captured, nothing played).
            d.next_audio = Some(now + FRAME_TIME);
            return;
        }
        let _ = d.tone.read_frame(&mut d.capture);
        d.device.agent_mut().capture_frame(now, &d.capture);
        match d.device.agent_mut().playout_frame(now, &mut d.playout) {
            Some(FrameKind::Decoded) => d.played.decoded += 1,
            Some(FrameKind::RecoveredFec) => d.played.recovered_fec += 1,
            Some(FrameKind::RecoveredDred) => d.played.recovered_dred += 1,
            Some(FrameKind::Concealed) => d.played.concealed += 1,
            Some(FrameKind::Silence) => d.played.silence += 1,
            None => {}
        }
        d.heard.extend(d.playout.iter().copied());
        while d.heard.len() > HEARD_KEEP {
            d.heard.pop_front();
        }
        d.next_audio = Some(now + FRAME_TIME);
        self.carry_out(dev);
    }

    /// Carries out one device's outputs, as the engine's driver does.
    fn carry_out(&mut self, dev: Dev) {
        let now = self.clock.now();
        let mut wanted = None;
        loop {
            let d = &mut self.devices[dev.0];
            match d.device.poll_output() {
                Output::Signaling(w) => wanted = Some(w),
                Output::Transmit {
                    source,
                    destination,
                    contents,
                } => self.net.send(now, source, destination, contents),
                // The simulated devices have no ICE servers, so no TURN streams.
                Output::StreamConnect { .. }
                | Output::StreamSend { .. }
                | Output::StreamClose { .. }
                | Output::IceServersUpdated => {}
                // Already with the session (out at once when up; while down call control waits
                // and relays are refused), whether or not it could go out now.
                Output::Signaled(message) => d.signaled.push((now, message)),
                Output::PeerSignal { call_id, signal } => {
                    d.peer_sent.push((now, call_id, signal.clone()));
                    self.peer_channels.send(now, dev, call_id, signal);
                }
                // A desktop's device applied CallKit's rule; its audio clock starts with the
                // answered report.
                Output::AudioSession { .. } => {}
                Output::Report(report) => {
                    if let Some(os) = d.phone.as_mut() {
                        phone_report(os, now, &report);
                    } else if matches!(report, Report::Answered { .. }) && d.next_audio.is_none() {
                        d.next_audio = Some(now);
                    }
                    let ended = matches!(report, Report::Ended { .. });
                    d.reports.push((now, report));
                    if ended && d.phone.is_some() {
                        self.release_audio_if_idle(dev);
                    }
                }
                // The session ended the connection: the socket closes.
                Output::SessionEnded(_) => {
                    let id = d.device_id;
                    if self.signaling.is_connected(id) {
                        self.signaling.close(now, id).expect("known device");
                    }
                }
                Output::Timeout(_) => break,
            }
        }
        self.flush_session(dev);
        match wanted {
            Some(SignalingWanted::Offline) => self.go_offline(dev),
            Some(SignalingWanted::Online)
                if !self.signaling.is_connected(self.devices[dev.0].device_id) =>
            {
                self.connect(dev)
            }
            Some(SignalingWanted::Online) | None => {}
        }
    }

    /// After a session input: the device's outputs when the agent heard anything, else only
    /// what the session has for the connection (as the engine's client writes it).
    fn carry_out_if(&mut self, dev: Dev, heard: bool) {
        if heard {
            self.carry_out(dev);
        } else {
            self.flush_session(dev);
        }
    }

    /// The driver's part of [`SignalingWanted::Offline`]: what was sent is already on the wire
    /// ahead of the close; the socket closes cleanly and the server marks the device offline.
    fn go_offline(&mut self, dev: Dev) {
        let now = self.clock.now();
        let id = self.devices[dev.0].device_id;
        if self.signaling.is_connected(id) {
            // What the session has for the connection goes out ahead of the close.
            self.flush_session(dev);
            self.signaling.close(now, id).expect("known device");
            self.devices[dev.0].device.handle_closed_by_us(now);
            self.carry_out(dev);
        }
    }

    /// The simulated OS moves the app between foreground, background and suspended (the UI
    /// frozen, native code kept alive): the app tells its engine.
    /// [`AppState::Terminated`] is [`World::terminate_app`].
    pub fn set_app_state(&mut self, dev: Dev, state: AppState) {
        if state == AppState::Terminated {
            return self.terminate_app(dev);
        }
        if let Some(os) = self.devices[dev.0].phone.as_mut() {
            os.app = state;
        }
        self.tell_app_state(dev);
    }

    /// The user locks or unlocks the phone: the app tells its engine.
    pub fn set_locked(&mut self, dev: Dev, locked: bool) {
        if let Some(os) = self.devices[dev.0].phone.as_mut() {
            os.locked = locked;
        }
        self.tell_app_state(dev);
    }

    /// What a running phone app says to its engine from the OS's lifecycle callbacks.
    fn tell_app_state(&mut self, dev: Dev) {
        let now = self.clock.now();
        let d = &mut self.devices[dev.0];
        let Some(os) = d.phone.as_ref() else { return };
        if !d.running {
            return;
        }
        let state = match (os.app, os.locked) {
            (AppState::Suspended, _) => ringwire_core::AppState::Suspended,
            (AppState::Background | AppState::Terminated, _) => ringwire_core::AppState::Background,
            (AppState::Foreground, true) => ringwire_core::AppState::Locked,
            (AppState::Foreground, false) => ringwire_core::AppState::Foreground,
        };
        let _ = d
            .device
            .agent_mut()
            .handle_command(now, Command::AppState(state));
        self.carry_out(dev);
    }

    /// Hands the router's push requests to the push services and delivers those that are due.
    fn route_pushes(&mut self, now: Instant) {
        while let Some(request) = self.signaling.poll_push() {
            let Some(dev) = self.dev_of(request.device) else {
                continue;
            };
            let Some(os) = self.devices[dev.0].phone.as_mut() else {
                continue;
            };
            // The gateway's part: no token, no push; a token the service refuses is deleted.
            if !os.push_token_registered {
                self.signaling
                    .push_result(now, &request, PushOutcome::NoToken);
                continue;
            }
            if !os.push_token_valid {
                os.push_token_registered = false;
                self.signaling
                    .push_result(now, &request, PushOutcome::Unregistered);
                continue;
            }
            self.signaling.push_result(now, &request, PushOutcome::Sent);
            let Some(os) = self.devices[dev.0].phone.as_ref() else {
                continue;
            };
            let body = match os.os {
                Os::Ios => request.payload().to_apns(),
                Os::Android => request
                    .payload()
                    .to_fcm_data()
                    .map(|m| serde_json::json!(m).to_string().into_bytes()),
            };
            let Ok(body) = body else { continue };
            self.push_seq += 1;
            self.pushes.insert(
                (now + self.push_latency, self.push_seq),
                (request.device, request.kind, body),
            );
        }
        while let Some(entry) = self.pushes.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (device, kind, body) = entry.remove();
            if let Some(dev) = self.dev_of(device) {
                self.deliver_push(dev, kind, &body);
            }
        }
    }

    /// The user unlocks the phone and opens the app: it launches if terminated, connects, and
    /// registers a fresh push token (what an app does at every launch).
    pub fn open_app(&mut self, dev: Dev) {
        let now = self.clock.now();
        let d = &mut self.devices[dev.0];
        d.launch(now);
        if let Some(os) = d.phone.as_mut() {
            os.app = AppState::Foreground;
            os.locked = false;
            os.push_token_registered = true;
            os.push_token_valid = true;
        }
        self.tell_app_state(dev);
        if !self.signaling.is_connected(self.devices[dev.0].device_id) {
            self.connect(dev);
        }
    }

    /// The OS terminates the app (swiped away, or memory pressure): the engine stops.
    pub fn terminate_app(&mut self, dev: Dev) {
        if self.signaling.is_connected(self.devices[dev.0].device_id) {
            self.disconnect(dev);
        }
        let d = &mut self.devices[dev.0];
        d.running = false;
        d.next_audio = None;
        if let Some(os) = d.phone.as_mut() {
            os.app = AppState::Terminated;
        }
    }

    /// Delivers an incoming-call push with this exact body (for tests of the OS's rules).
    pub fn deliver_raw_push(&mut self, dev: Dev, body: &[u8]) {
        self.deliver_push(dev, PushKind::Invite, body);
    }

    /// A push reaches the phone: launch the app if it is terminated, hand the payload to the
    /// engine, report the call to the OS before the handler returns, then connect.
    fn deliver_push(&mut self, dev: Dev, kind: PushKind, body: &[u8]) {
        let now = self.clock.now();
        let unix_ms = self.signaling.unix_ms(now);
        let d = &mut self.devices[dev.0];
        if kind == PushKind::MissedCall {
            if let Some(os) = d.phone.as_mut() {
                os.missed_call_notifications += 1;
            }
            return;
        }
        let was_running = d.running;
        d.launch(now);
        if !was_running {
            if let Some(os) = d.phone.as_mut() {
                os.app = AppState::Background;
            }
            // The launched app learns where it is before it handles the push.
            self.tell_app_state(dev);
        }
        let d = &mut self.devices[dev.0];
        let Some(os) = d.phone.as_mut() else { return };
        match d.device.agent_mut().handle_push(now, unix_ms, body) {
            Ok(call) => {
                if call.already_known && os.call(call.call_id).is_none() {
                    os.violation(now, "VoIP push not reported: the engine said it was known");
                }
                os.report(now, call.call_id, true);
            }
            Err(error) => {
                // iOS kills an app that returns from a VoIP push without reporting a call.
                os.violation(now, format!("VoIP push not reported ({error}): app killed"));
                os.app = AppState::Terminated;
                d.running = false;
                return;
            }
        }
        // The engine asks for signaling (`Output::Signaling`) while the pushed call needs it.
        self.carry_out(dev);
    }

    /// CallKit's `didDeactivate` once no call is left.
    fn release_audio_if_idle(&mut self, dev: Dev) {
        let now = self.clock.now();
        let d = &mut self.devices[dev.0];
        let Some(os) = d.phone.as_mut() else { return };
        if os.audio_active && os.live_calls() == 0 {
            os.audio_active = false;
            os.foreground_service = false;
            let _ = d
                .device
                .agent_mut()
                .handle_command(now, Command::AudioSessionDeactivated);
            self.carry_out(dev);
        }
    }

    fn dev_of(&self, device_id: DeviceId) -> Option<Dev> {
        self.devices
            .iter()
            .position(|d| d.device_id == device_id)
            .map(Dev)
    }
}

/// A fresh engine: an agent on `config`, and a signaling session with the engine's default
/// timings (a ping at `welcome` and every 15 s after its pong, 10 s for a pong or a `welcome`),
/// its ping nonces seeded from the agent's seed so runs repeat. A phone's OS runs its audio
/// session; a desktop's device plays CallKit's part itself.
fn new_device(config: &AgentConfig, phone: bool, now: Instant) -> Device {
    let agent = Agent::new(config.clone(), now).expect("valid agent configuration");
    let session = ClientSession::new(SessionConfig::default(), config.call_id_seed.unwrap_or(0));
    let policy = if phone {
        AudioSessionPolicy::Os
    } else {
        AudioSessionPolicy::Desktop
    };
    Device::new(agent, session, policy, now)
}
