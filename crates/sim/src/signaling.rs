//! [`SimSignaling`]: the real sans-IO call router ([`ringwire_router::Router`]) behind
//! simulated WebSocket links, in virtual time.
//!
//! It plays the parts the server's driver plays around the router — the connection task's
//! handshake (`hello` → `welcome`, with the server's own checks from
//! [`ringwire_router::handshake`]), `ping` → `pong`, the
//! store's user and device lookups for `invite`, the hub's routing of `Send` to each device's
//! current connection and of `Close` to a replaced one, and the record writer (a [`CallLog`]).
//!
//! Each device has a [`SignalingLink`]: a one-way delay each direction, optional jitter that
//! keeps order (it is TCP), and how long the server takes to notice the device dropped.
//! [`SimSignaling::disconnect`] models the socket dying: whatever is in flight on it either way
//! is lost, as is anything sent on it later; the server only learns after `close_detect`, and
//! until then the router still routes to the dead connection. [`SimSignaling::connect`] opens a
//! new connection with `hello`. The server processes each frame at the instant it arrives, so
//! results do not depend on how late the driver polls.
//!
//! Drive it like any sans-IO part: after giving it input, wake at [`SimSignaling::poll_timeout`]
//! and take what arrived with [`SimSignaling::poll_delivery`] (which first lets the server catch
//! up to `now`) and [`SimSignaling::poll_closed`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use ringwire_proto::{
    CallId, CallTimeline, ClientMessage, DeviceId, DisplayName, ErrorCode, ErrorMessage,
    ServerMessage, UserName, Welcome, SUPPORTED_VERSIONS,
};
use ringwire_router::handshake::{answer_on_connection, check_hello};
use ringwire_router::record::CallRecord;
use ringwire_router::{ConnId, Input, Output, PushRequest, Router, RouterConfig};

use crate::call_log::CallLog;
use crate::clock::{SimClock, TimeBase};
use crate::error::SimError;
use ringwire_netem::SeededRng;

/// One device's signaling connection as the network treats it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalingLink {
    /// One-way delay device → server.
    pub up: Duration,
    /// One-way delay server → device.
    pub down: Duration,
    /// Extra delay per message, uniform in `[0, jitter)`; messages never overtake each other.
    pub jitter: Duration,
    /// How long after the device's side drops until the server notices.
    pub close_detect: Duration,
}

impl Default for SignalingLink {
    /// 25 ms each way, no jitter, the drop noticed one up-delay later.
    fn default() -> Self {
        SignalingLink {
            up: Duration::from_millis(25),
            down: Duration::from_millis(25),
            jitter: Duration::ZERO,
            close_detect: Duration::from_millis(25),
        }
    }
}

impl SignalingLink {
    /// The same one-way `delay` both ways; the server notices a drop after one `delay`.
    pub fn symmetric(delay: Duration) -> Self {
        SignalingLink {
            up: delay,
            down: delay,
            jitter: Duration::ZERO,
            close_detect: delay,
        }
    }
}

/// Counters of what crossed the simulated signaling links.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalingStats {
    /// Frames devices sent (hello included).
    pub up_sent: u64,
    /// Frames from devices lost: sent on a down link or in flight when it dropped.
    pub up_lost: u64,
    /// Messages the server sent.
    pub down_sent: u64,
    /// Messages to devices lost: routed to a dead connection, or in flight when it dropped.
    pub down_lost: u64,
    /// Messages delivered to devices.
    pub delivered: u64,
    /// Connections the server closed (version, handshake, replaced, restart).
    pub server_closes: u64,
}

#[derive(Debug)]
struct UserEntry {
    display_name: Option<DisplayName>,
    devices: Vec<DeviceId>,
}

#[derive(Debug)]
struct DeviceEntry {
    user: UserName,
    link: SignalingLink,
    /// The device's side of its current connection.
    conn: Option<ConnId>,
    /// Latest arrival time filed on the current connection, each way (keeps order).
    up_last: Option<Instant>,
    down_last: Option<Instant>,
}

#[derive(Debug)]
enum Up {
    /// The first frame on a new connection (normally `hello`).
    First(ClientMessage),
    Message(ClientMessage),
    /// The device's side closed (noticed by the server when this arrives).
    Closed,
}

#[derive(Debug)]
struct UpFrame {
    device: DeviceId,
    conn: ConnId,
    up: Up,
}

#[derive(Debug)]
enum Down {
    Message(ServerMessage),
    /// The server closed the connection after the messages before this one.
    Close,
}

#[derive(Debug)]
struct DownFrame {
    device: DeviceId,
    conn: ConnId,
    down: Down,
}

/// The router with simulated devices and links. See the module docs.
#[derive(Debug)]
pub struct SimSignaling {
    router: Router,
    config: RouterConfig,
    time: TimeBase,
    ids: SeededRng,
    jitter: SeededRng,
    default_link: SignalingLink,
    users: BTreeMap<UserName, UserEntry>,
    devices: BTreeMap<DeviceId, DeviceEntry>,
    next_conn: ConnId,
    up: BTreeMap<(Instant, u64), UpFrame>,
    down: BTreeMap<(Instant, u64), DownFrame>,
    filed: u64,
    /// Server side: each device's current connection (the hub's `links`).
    server_links: HashMap<DeviceId, ConnId>,
    /// Server side: connections that finished the handshake and have not closed.
    open_conns: BTreeSet<ConnId>,
    /// Connections the device closed cleanly whose last frames are still on their way.
    closing: BTreeSet<ConnId>,
    closed: VecDeque<DeviceId>,
    /// Pushes the router asked for, for the world to deliver through its platform mocks.
    pushes: VecDeque<PushRequest>,
    log: CallLog,
    stats: SignalingStats,
    /// Call timelines the devices uploaded, by call and device (the server's table of them).
    timelines: BTreeMap<(CallId, DeviceId), CallTimeline>,
}

impl SimSignaling {
    /// A server running `config`, with no users. `seed` fixes device ids, call ids from
    /// [`SimSignaling::new_call_id`] and link jitter; `clock` fixes how instants map to the
    /// router's UNIX milliseconds.
    pub fn new(config: RouterConfig, seed: u64, clock: &SimClock) -> Self {
        SimSignaling {
            router: Router::new(config.clone()),
            config,
            time: clock.time_base(),
            ids: SeededRng::new(seed),
            jitter: SeededRng::new(seed ^ 0x5349_474e_414c_4a54),
            default_link: SignalingLink::default(),
            users: BTreeMap::new(),
            devices: BTreeMap::new(),
            next_conn: 1,
            up: BTreeMap::new(),
            down: BTreeMap::new(),
            filed: 0,
            server_links: HashMap::new(),
            open_conns: BTreeSet::new(),
            closing: BTreeSet::new(),
            closed: VecDeque::new(),
            pushes: VecDeque::new(),
            log: CallLog::default(),
            timelines: BTreeMap::new(),
            stats: SignalingStats::default(),
        }
    }

    /// The link given to devices added from now on.
    pub fn set_default_link(&mut self, link: SignalingLink) {
        self.default_link = link;
    }

    /// Changes one device's link. Frames already in flight keep their arrival times.
    pub fn set_link(&mut self, device: DeviceId, link: SignalingLink) -> Result<(), SimError> {
        self.device_mut(device)?.link = link;
        Ok(())
    }

    /// Adds a user (what `ringwire user add` does to the store).
    pub fn add_user(&mut self, name: &str) -> Result<UserName, SimError> {
        let user: UserName = name.parse().map_err(|why| SimError::InvalidUserName {
            name: name.to_owned(),
            why,
        })?;
        if self.users.contains_key(&user) {
            return Err(SimError::UserExists(user));
        }
        self.users.insert(
            user.clone(),
            UserEntry {
                display_name: None,
                devices: Vec::new(),
            },
        );
        Ok(user)
    }

    /// Sets the display name shown to those the user calls, from the next connection on.
    pub fn set_display_name(
        &mut self,
        user: &UserName,
        display_name: Option<DisplayName>,
    ) -> Result<(), SimError> {
        let entry = self
            .users
            .get_mut(user)
            .ok_or_else(|| SimError::UnknownUser(user.clone()))?;
        entry.display_name = display_name;
        Ok(())
    }

    /// Adds a device to a user; its id follows from the seed. It starts disconnected.
    pub fn add_device(&mut self, user: &UserName) -> Result<DeviceId, SimError> {
        let entry = self
            .users
            .get_mut(user)
            .ok_or_else(|| SimError::UnknownUser(user.clone()))?;
        let device = DeviceId::from_bytes(self.ids.bytes16());
        entry.devices.push(device);
        self.devices.insert(
            device,
            DeviceEntry {
                user: user.clone(),
                link: self.default_link,
                conn: None,
                up_last: None,
                down_last: None,
            },
        );
        Ok(device)
    }

    /// A fresh call id that follows from the seed (engines under test may pick their own).
    pub fn new_call_id(&mut self) -> CallId {
        CallId::from_bytes(self.ids.bytes16())
    }

    /// Opens a new connection for `device` and sends `hello` (protocol v1, no known calls).
    /// A connection still open on the device's side is abandoned first.
    pub fn connect(&mut self, now: Instant, device: DeviceId) -> Result<(), SimError> {
        self.connect_with_calls(now, device, Vec::new())
    }

    /// Like [`SimSignaling::connect`], listing calls the device already knows (`hello.calls`,
    /// e.g. reported to CallKit from a push); the server answers each with `incoming` or `ended`.
    pub fn connect_with_calls(
        &mut self,
        now: Instant,
        device: DeviceId,
        calls: Vec<CallId>,
    ) -> Result<(), SimError> {
        let hello = ClientMessage::Hello {
            versions: SUPPORTED_VERSIONS.to_vec(),
            client: None,
            calls,
        };
        self.connect_with_hello(now, device, hello)
    }

    /// Opens a new connection whose first frame is `first` — normally a `hello`; anything else
    /// is refused and the connection closed, as the real server does.
    pub fn connect_with_hello(
        &mut self,
        now: Instant,
        device: DeviceId,
        first: ClientMessage,
    ) -> Result<(), SimError> {
        self.drop_device_side(now, device)?;
        let conn = self.next_conn;
        self.next_conn += 1;
        let entry = self.device_mut(device)?;
        entry.conn = Some(conn);
        entry.up_last = None;
        entry.down_last = None;
        self.file_up(now, device, conn, Up::First(first));
        Ok(())
    }

    /// The device's connection drops (network gone, app killed): everything in flight on it
    /// is lost and the server notices after the link's `close_detect`. Nothing happens if the
    /// device is not connected.
    pub fn disconnect(&mut self, now: Instant, device: DeviceId) -> Result<(), SimError> {
        self.drop_device_side(now, device)
    }

    /// The device closes its connection cleanly (WebSocket close 1000, as the engine does when
    /// its app goes idle): unlike [`SimSignaling::disconnect`], what it sent before still
    /// reaches the server, in order, and the close right after. Nothing happens if the device
    /// is not connected.
    pub fn close(&mut self, now: Instant, device: DeviceId) -> Result<(), SimError> {
        let entry = self.device_mut(device)?;
        let Some(conn) = entry.conn.take() else {
            return Ok(());
        };
        let mut at = now + entry.link.up;
        if let Some(last) = entry.up_last {
            at = at.max(last);
        }
        self.closing.insert(conn);
        self.filed += 1;
        self.up.insert(
            (at, self.filed),
            UpFrame {
                device,
                conn,
                up: Up::Closed,
            },
        );
        Ok(())
    }

    /// Whether the device's side has an open connection (it may not have had `welcome` yet).
    pub fn is_connected(&self, device: DeviceId) -> bool {
        self.devices.get(&device).is_some_and(|d| d.conn.is_some())
    }

    /// Sends a message from the device on its current connection. On a down link it is lost
    /// (and counted), like a write to a dead socket.
    pub fn send(
        &mut self,
        now: Instant,
        device: DeviceId,
        msg: ClientMessage,
    ) -> Result<(), SimError> {
        let conn = self.device_mut(device)?.conn;
        match conn {
            Some(conn) => self.file_up(now, device, conn, Up::Message(msg)),
            None => {
                self.stats.up_sent += 1;
                self.stats.up_lost += 1;
            }
        }
        Ok(())
    }

    /// The earliest instant anything happens here: a frame reaching the server, a router
    /// deadline, or a message reaching a device. May be in the past if the driver is behind.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let up = self.up.first_key_value().map(|((at, _), _)| *at);
        let timer = self.router.poll_timeout().map(|ms| self.time.instant(ms));
        [up, timer, self.next_delivery_time()]
            .into_iter()
            .flatten()
            .min()
    }

    /// When the next message reaches a device, if any is in flight.
    pub fn next_delivery_time(&self) -> Option<Instant> {
        self.down.first_key_value().map(|((at, _), _)| *at)
    }

    /// Brings the server up to `now`: every frame that has reached it and every router
    /// deadline that has passed, in time order, each at its own instant.
    pub fn handle_timeout(&mut self, now: Instant) {
        loop {
            let up = self.up.first_key_value().map(|((at, _), _)| *at);
            let timer = self.router.poll_timeout();
            let timer_at = timer.map(|ms| self.time.instant(ms));
            match (up, timer, timer_at) {
                (_, Some(ms), Some(at)) if at <= now && up.is_none_or(|u| at <= u) => {
                    self.router.handle_timeout(ms);
                    self.drain(at);
                }
                (Some(at), _, _) if at <= now => {
                    if let Some((_, frame)) = self.up.pop_first() {
                        self.on_frame(at, frame);
                    }
                }
                _ => break,
            }
        }
    }

    /// The next message that reached a device by `now`, in arrival order (the server is first
    /// brought up to `now`). Messages for a connection that has since dropped are lost here.
    pub fn poll_delivery(&mut self, now: Instant) -> Option<(DeviceId, ServerMessage)> {
        self.handle_timeout(now);
        loop {
            let due = self
                .down
                .first_key_value()
                .is_some_and(|((at, _), _)| *at <= now);
            if !due {
                return None;
            }
            let (_, frame) = self.down.pop_first()?;
            let entry = self.devices.get_mut(&frame.device)?;
            if entry.conn != Some(frame.conn) {
                self.stats.down_lost += u64::from(matches!(frame.down, Down::Message(_)));
                continue;
            }
            match frame.down {
                Down::Message(msg) => {
                    self.stats.delivered += 1;
                    return Some((frame.device, msg));
                }
                Down::Close => {
                    entry.conn = None;
                    self.closed.push_back(frame.device);
                }
            }
        }
    }

    /// The next device whose connection the server closed (the device learns when the close
    /// reaches it, after the error explaining why); it should reconnect.
    pub fn poll_closed(&mut self) -> Option<DeviceId> {
        self.closed.pop_front()
    }

    /// The server process dies at `now` and comes straight back: every connection drops (each
    /// connected device shows up in [`SimSignaling::poll_closed`]), everything in flight is
    /// lost, and a new router restores calls from the call log as the real server restores
    /// from its store (open calls, and calls ended within the retention time).
    pub fn restart_server(&mut self, now: Instant) {
        self.handle_timeout(now);
        let lost_up = self
            .up
            .values()
            .filter(|f| !matches!(f.up, Up::Closed))
            .count();
        let lost_down = self
            .down
            .values()
            .filter(|f| matches!(f.down, Down::Message(_)))
            .count();
        self.stats.up_lost += lost_up as u64;
        self.stats.down_lost += lost_down as u64;
        self.up.clear();
        self.down.clear();
        for (device, entry) in &mut self.devices {
            if entry.conn.take().is_some() {
                self.stats.server_closes += 1;
                self.closed.push_back(*device);
            }
        }
        self.server_links.clear();
        self.open_conns.clear();
        self.closing.clear();
        self.router = Router::new(self.config.clone());
        let now_ms = self.time.unix_ms(now);
        let since = now_ms.saturating_sub(self.config.ended_retention_ms);
        for record in self.log.restorable(since) {
            self.router.handle_input(now_ms, Input::Restore(record));
        }
        self.drain(now);
    }

    /// The timeline `device` uploaded for `call_id`, if stored.
    pub fn timeline(&self, call_id: CallId, device: DeviceId) -> Option<&CallTimeline> {
        self.timelines.get(&(call_id, device))
    }

    /// The call record so far: every event in order and the folded records.
    pub fn call_log(&self) -> &CallLog {
        &self.log
    }

    /// One call's folded record.
    pub fn call_record(&self, call_id: CallId) -> Option<&CallRecord> {
        self.log.record(call_id)
    }

    /// The router itself, for its stats and presence.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Link counters.
    pub fn stats(&self) -> SignalingStats {
        self.stats
    }

    /// The user a device belongs to.
    pub fn user_of(&self, device: DeviceId) -> Option<&UserName> {
        self.devices.get(&device).map(|d| &d.user)
    }

    /// A user's devices, in the order they were added.
    pub fn devices_of(&self, user: &UserName) -> Option<&[DeviceId]> {
        self.users.get(user).map(|u| u.devices.as_slice())
    }

    // ---- the device side ----

    fn device_mut(&mut self, device: DeviceId) -> Result<&mut DeviceEntry, SimError> {
        self.devices
            .get_mut(&device)
            .ok_or(SimError::UnknownDevice(device))
    }

    /// Drops the device's side of its connection; the server hears of it after `close_detect`.
    fn drop_device_side(&mut self, now: Instant, device: DeviceId) -> Result<(), SimError> {
        let entry = self.device_mut(device)?;
        let Some(conn) = entry.conn.take() else {
            return Ok(());
        };
        let at = now + entry.link.close_detect;
        self.filed += 1;
        self.up.insert(
            (at, self.filed),
            UpFrame {
                device,
                conn,
                up: Up::Closed,
            },
        );
        Ok(())
    }

    fn file_up(&mut self, now: Instant, device: DeviceId, conn: ConnId, up: Up) {
        self.stats.up_sent += 1;
        let Some(entry) = self.devices.get_mut(&device) else {
            return;
        };
        let mut at = now + entry.link.up + self.jitter.duration_below(entry.link.jitter);
        if let Some(last) = entry.up_last {
            at = at.max(last);
        }
        entry.up_last = Some(at);
        self.filed += 1;
        self.up
            .insert((at, self.filed), UpFrame { device, conn, up });
    }

    fn file_down(&mut self, now: Instant, device: DeviceId, conn: ConnId, down: Down) {
        if matches!(down, Down::Message(_)) {
            self.stats.down_sent += 1;
        }
        let Some(entry) = self.devices.get_mut(&device) else {
            return;
        };
        let mut at = now + entry.link.down + self.jitter.duration_below(entry.link.jitter);
        if entry.conn == Some(conn) {
            if let Some(last) = entry.down_last {
                at = at.max(last);
            }
            entry.down_last = Some(at);
        }
        self.filed += 1;
        self.down
            .insert((at, self.filed), DownFrame { device, conn, down });
    }

    // ---- the server side: what the connection task and the hub do ----

    fn on_frame(&mut self, at: Instant, frame: UpFrame) {
        let UpFrame { device, conn, up } = frame;
        let now_ms = self.time.unix_ms(at);
        if let Up::Closed = up {
            self.closing.remove(&conn);
            return self.conn_ended(at, device, conn);
        }
        let current = self.devices.get(&device).and_then(|d| d.conn);
        if current != Some(conn) && !self.closing.contains(&conn) {
            // The device dropped this connection while the frame was in flight.
            self.stats.up_lost += 1;
            return;
        }
        match up {
            Up::Closed => {}
            Up::First(first) => self.handshake(at, device, conn, first),
            Up::Message(msg) => {
                if !self.open_conns.contains(&conn) {
                    // The server already closed this connection.
                    self.stats.up_lost += 1;
                    return;
                }
                self.on_message(at, now_ms, device, conn, msg);
            }
        }
    }

    fn handshake(&mut self, at: Instant, device: DeviceId, conn: ConnId, first: ClientMessage) {
        let (version, calls) = match check_hello(first) {
            Ok(hello) => (hello.version, hello.known_calls),
            Err(refused) => return self.server_close(at, device, conn, refused.error),
        };
        let Some(user) = self.devices.get(&device).map(|d| d.user.clone()) else {
            return;
        };
        let display_name = self.users.get(&user).and_then(|u| u.display_name.clone());
        let now_ms = self.time.unix_ms(at);
        let welcome = ServerMessage::Welcome(Welcome {
            version,
            user: user.clone(),
            display_name: display_name.clone(),
            device_id: device,
            server_time_ms: now_ms,
            ring_timeout_ms: self.config.ring_timeout_ms,
            ice_servers: Vec::new(),
            ice_expires_ms: None,
        });
        self.file_down(at, device, conn, Down::Message(welcome));
        self.server_links.insert(device, conn);
        self.open_conns.insert(conn);
        self.router.handle_input(
            now_ms,
            Input::Connected {
                conn,
                device,
                user,
                display_name,
                known_calls: calls,
            },
        );
        self.drain(at);
    }

    fn on_message(
        &mut self,
        at: Instant,
        now_ms: u64,
        device: DeviceId,
        conn: ConnId,
        msg: ClientMessage,
    ) {
        let input = match msg {
            ClientMessage::Hello { .. } | ClientMessage::Ping { .. } => {
                if let Some(answer) = answer_on_connection(&msg, now_ms) {
                    self.file_down(at, device, conn, Down::Message(answer));
                }
                return;
            }
            ClientMessage::CallTimeline(timeline) => {
                // The server keeps them beside the call record, outside the router: stored
                // once per device and call, for calls it knows.
                let call_id = timeline.call_id();
                let answer = if self.log.record(call_id).is_none() {
                    Err((ErrorCode::UnknownCall, "no such call"))
                } else {
                    match self.timelines.entry((call_id, device)) {
                        std::collections::btree_map::Entry::Occupied(_) => {
                            Err((ErrorCode::AlreadyStored, "stored already"))
                        }
                        std::collections::btree_map::Entry::Vacant(slot) => {
                            slot.insert(timeline);
                            Ok(())
                        }
                    }
                };
                let reply = match answer {
                    Ok(()) => ServerMessage::TimelineStored { call_id },
                    Err((code, message)) => {
                        let mut error = ErrorMessage::new(code, message);
                        error.call_id = Some(call_id);
                        error.ref_type = Some("call_timeline".into());
                        ServerMessage::Error(error)
                    }
                };
                self.file_down(at, device, conn, Down::Message(reply));
                return;
            }
            ClientMessage::Invite(invite) => {
                let callee_devices = self.users.get(&invite.to_user).map(|u| u.devices.clone());
                Input::Invite {
                    from: device,
                    invite,
                    callee_devices,
                }
            }
            msg => Input::Message { from: device, msg },
        };
        self.router.handle_input(now_ms, input);
        self.drain(at);
    }

    /// The server sends `error` on `conn` and closes it.
    fn server_close(&mut self, at: Instant, device: DeviceId, conn: ConnId, error: ErrorMessage) {
        self.stats.server_closes += 1;
        self.file_down(at, device, conn, Down::Message(ServerMessage::Error(error)));
        self.file_down(at, device, conn, Down::Close);
        self.conn_ended(at, device, conn);
    }

    /// The server's side of `conn` is gone: the hub forgets it and the router hears.
    fn conn_ended(&mut self, at: Instant, device: DeviceId, conn: ConnId) {
        if self.server_links.get(&device) == Some(&conn) {
            self.server_links.remove(&device);
        }
        if self.open_conns.remove(&conn) {
            let now_ms = self.time.unix_ms(at);
            self.router
                .handle_input(now_ms, Input::Disconnected { conn, device });
            self.drain(at);
        }
    }

    /// The next push the router asked for (incoming call or missed call), in order.
    pub fn poll_push(&mut self) -> Option<PushRequest> {
        self.pushes.pop_front()
    }

    /// How a push the router asked for ended (the push gateway's part), fed back to it.
    pub fn push_result(
        &mut self,
        at: Instant,
        request: &PushRequest,
        outcome: ringwire_router::record::PushOutcome,
    ) {
        let now_ms = self.time.unix_ms(at);
        self.router.handle_input(
            now_ms,
            Input::PushResult {
                call_id: request.call_id,
                device: request.device,
                kind: request.kind,
                outcome,
            },
        );
        self.drain(at);
    }

    /// The server's clock at `at` (UNIX ms); simulated phones share it.
    pub fn unix_ms(&self, at: Instant) -> u64 {
        self.time.unix_ms(at)
    }

    /// Carries out the router's outputs, as the hub does.
    fn drain(&mut self, at: Instant) {
        let mut closes = Vec::new();
        while let Some(output) = self.router.poll_output() {
            match output {
                Output::Send { to, msg } => match self.server_links.get(&to) {
                    Some(&conn) => self.file_down(at, to, conn, Down::Message(msg)),
                    None => {
                        self.stats.down_sent += 1;
                        self.stats.down_lost += 1;
                    }
                },
                Output::Close {
                    conn,
                    device,
                    error,
                } => closes.push((device, conn, error)),
                Output::Record(event) => self.log.apply(event),
                // Simulated phones wake through the world's platform mocks; the push gateway
                // itself is tested against real HTTP/2 servers in the server crate.
                Output::Push(request) => self.pushes.push_back(request),
            }
        }
        for (device, conn, error) in closes {
            self.server_close(at, device, conn, error);
        }
    }
}
