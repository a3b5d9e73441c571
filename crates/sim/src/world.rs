//! A whole ringwire deployment in one deterministic loop: real call engines
//! ([`ringwire_core::Agent`], one per device, with real str0m connections and the real Opus
//! pipeline) talking through the real router ([`SimSignaling`]) and over the in-memory
//! network ([`SimNetwork`]), all on one [`SimClock`].
//!
//! The world plays the driver's part for every device, as `crates/engine` does for real: it
//! carries out each agent's outputs, activates the audio session when a call is answered (as
//! CallKit does), runs a 20 ms audio clock with a tone as the microphone, and keeps what every
//! device reported and played. A device whose signaling link is down keeps its call-control
//! messages for the next connection and drops relays, as the engine's signaling client does.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ringwire_core::{Agent, AgentConfig, Command, Output, Report};
use ringwire_media::device::{AudioSource, ToneSource};
use ringwire_media::FrameKind;
use ringwire_proto::{CallId, ClientMessage, DeviceId, ServerMessage, UserName};
use ringwire_server::router::RouterConfig;

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
    pub concealed: u64,
    pub silence: u64,
}

/// One simulated device: an agent, its socket address, its tone and what it played.
pub struct SimDevice {
    pub name: String,
    pub user: UserName,
    pub device_id: DeviceId,
    pub addr: SocketAddr,
    pub agent: Agent,
    /// Everything the agent reported, with the virtual time.
    pub reports: Vec<(Instant, Report)>,
    pub played: PlayedFrames,
    /// The last few seconds of what the speaker played (for frequency checks).
    pub heard: VecDeque<i16>,
    tone: ToneSource,
    next_timeout: Instant,
    next_audio: Option<Instant>,
    signaling_up: bool,
    outbox: Vec<ClientMessage>,
    capture: Vec<i16>,
    playout: Vec<i16>,
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

/// Samples of played audio kept per device.
const HEARD_KEEP: usize = 48_000 * 3;

impl SimDevice {
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
    devices: Vec<SimDevice>,
    seed: u64,
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
            devices: Vec::new(),
            seed,
        }
    }

    /// Adds a user (any name the protocol allows).
    pub fn add_user(&mut self, name: &str) -> Result<UserName, SimError> {
        self.signaling.add_user(name)
    }

    /// Adds a device for `user` with its own host (198.18.0.N) and a tone of `tone_hz` as the
    /// microphone, and connects it to the server.
    pub fn add_device(&mut self, user: &UserName, name: &str, tone_hz: f64) -> Dev {
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
        let agent = Agent::new(config, now).expect("valid agent configuration");
        self.devices.push(SimDevice {
            name: name.to_owned(),
            user: user.clone(),
            device_id,
            addr,
            agent,
            reports: Vec::new(),
            played: PlayedFrames::default(),
            heard: VecDeque::new(),
            tone: ToneSource::new(tone_hz, 8000).expect("valid tone"),
            next_timeout: now,
            next_audio: None,
            signaling_up: false,
            outbox: Vec::new(),
            capture: vec![0; FRAME],
            playout: vec![0; FRAME],
        });
        let dev = Dev(self.devices.len() - 1);
        self.connect(dev);
        dev
    }

    pub fn device(&self, dev: Dev) -> &SimDevice {
        &self.devices[dev.0]
    }

    pub fn device_mut(&mut self, dev: Dev) -> &mut SimDevice {
        &mut self.devices[dev.0]
    }

    /// (Re)opens the device's signaling connection; `hello` lists its calls.
    pub fn connect(&mut self, dev: Dev) {
        let now = self.clock.now();
        let d = &self.devices[dev.0];
        let calls = d.agent.known_calls();
        self.signaling
            .connect_with_calls(now, d.device_id, calls)
            .expect("known device");
    }

    /// Drops the device's signaling connection (its calls go on peer-to-peer).
    pub fn disconnect(&mut self, dev: Dev) {
        let now = self.clock.now();
        let id = self.devices[dev.0].device_id;
        self.signaling.disconnect(now, id).expect("known device");
        self.signaling_down(dev);
    }

    fn signaling_down(&mut self, dev: Dev) {
        let now = self.clock.now();
        let d = &mut self.devices[dev.0];
        d.signaling_up = false;
        let _ = d.agent.handle_command(now, Command::SignalingDown);
        self.carry_out(dev);
    }

    /// Places a call from `dev` to `user`.
    pub fn call(&mut self, dev: Dev, user: &str) -> CallId {
        let now = self.clock.now();
        let id = self.devices[dev.0]
            .agent
            .start_call(now, user.parse().expect("user name"))
            .expect("call placed");
        self.carry_out(dev);
        id
    }

    /// A platform command on `dev` (answer, end, mute, network change, ...).
    pub fn command(&mut self, dev: Dev, command: Command) -> Result<(), ringwire_core::CoreError> {
        let now = self.clock.now();
        let result = self.devices[dev.0].agent.handle_command(now, command);
        self.carry_out(dev);
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
                ]
                .into_iter()
                .chain(self.devices.iter().map(|d| Some(d.next_timeout)))
                .chain(self.devices.iter().map(|d| d.next_audio)),
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
            let d = &mut self.devices[dev.0];
            if matches!(message, ServerMessage::Welcome(_)) {
                d.signaling_up = true;
                let queued = std::mem::take(&mut d.outbox);
                d.agent.handle_signal(now, message);
                for m in queued {
                    let _ = self.signaling.send(now, d.device_id, m);
                }
            } else {
                d.agent.handle_signal(now, message);
            }
            self.carry_out(dev);
        }
        while let Some(device_id) = self.signaling.poll_closed() {
            if let Some(dev) = self.dev_of(device_id) {
                self.signaling_down(dev);
            }
        }
        self.signaling.handle_timeout(now);
        while let Some(datagram) = self.net.poll_delivery(now) {
            let Some(dev) = self.devices.iter().position(|d| d.addr == datagram.to) else {
                continue;
            };
            self.devices[dev].agent.handle_receive(
                now,
                datagram.from,
                datagram.to,
                &datagram.payload,
            );
            self.carry_out(Dev(dev));
        }
        for i in 0..self.devices.len() {
            if self.devices[i].next_timeout <= now {
                self.devices[i].agent.handle_timeout(now);
                self.carry_out(Dev(i));
            }
            if self.devices[i].next_audio.is_some_and(|t| t <= now) {
                self.audio_tick(Dev(i));
            }
        }
    }

    fn audio_tick(&mut self, dev: Dev) {
        let now = self.clock.now();
        let d = &mut self.devices[dev.0];
        if d.agent.audio_call().is_none() {
            d.next_audio = None;
            return;
        }
        let _ = d.tone.read_frame(&mut d.capture);
        d.agent.capture_frame(now, &d.capture);
        match d.agent.playout_frame(now, &mut d.playout) {
            Some(FrameKind::Decoded) => d.played.decoded += 1,
            Some(FrameKind::RecoveredFec) => d.played.recovered_fec += 1,
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

    /// Carries out one agent's outputs, as the engine's driver does.
    fn carry_out(&mut self, dev: Dev) {
        let now = self.clock.now();
        loop {
            let d = &mut self.devices[dev.0];
            match d.agent.poll_output() {
                Output::Transmit {
                    source,
                    destination,
                    contents,
                } => self.net.send(now, source, destination, contents),
                Output::Signal(message) => {
                    if d.signaling_up && self.signaling.is_connected(d.device_id) {
                        let _ = self.signaling.send(now, d.device_id, message);
                    } else if message.is_call_action() {
                        d.outbox.push(message);
                    }
                }
                Output::Report(report) => {
                    // CallKit's part: the audio session goes active when a call is answered.
                    if matches!(report, Report::Answered { .. }) && !d.agent.audio_session_active()
                    {
                        let _ = d.agent.handle_command(now, Command::AudioSessionActivated);
                    }
                    if matches!(report, Report::Answered { .. }) && d.next_audio.is_none() {
                        d.next_audio = Some(now);
                    }
                    d.reports.push((now, report));
                }
                Output::Timeout(at) => {
                    d.next_timeout = at;
                    break;
                }
            }
        }
    }

    fn dev_of(&self, device_id: DeviceId) -> Option<Dev> {
        self.devices
            .iter()
            .position(|d| d.device_id == device_id)
            .map(Dev)
    }
}
