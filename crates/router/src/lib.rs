//! The call router: a pure state machine that decides who hears what about every call, and
//! the call records it emits ([`record`]), with the token bucket that limits invites
//! ([`rate_limit`]) and the connection's own rules around it ([`handshake`]: the `hello`
//! check, `ping` → `pong`). The crate depends on nothing but the protocol types, so the server, the
//! simulator and any other driver run the very same router.
//!
//! It owns no sockets, tasks or clocks (the str0m / quinn-proto pattern). The driver feeds it
//! [`Input`]s with the current time in UNIX milliseconds, then drains it:
//!
//! 1. call [`Router::handle_input`] (or [`Router::handle_timeout`] when the deadline from
//!    [`Router::poll_timeout`] has passed);
//! 2. call [`Router::poll_output`] until it returns `None`, carrying out each [`Output`]:
//!    deliver `Send` to the device's current connection, close `Close`'s connection, append
//!    `Record` to the store **in order**, and send `Push` in the background, feeding its
//!    outcome back as [`Input::PushResult`];
//! 3. sleep until the new [`Router::poll_timeout`], or until the next input.
//!
//! Every decision that must be atomic — first accept wins, glare, busy — is atomic because the
//! router handles one input at a time. Facts that need IO (a token's device, the callee's device
//! list) are looked up by the driver and passed in with the input, so the router never goes stale
//! when the store changes under it.

mod actions;
mod call;
pub mod handshake;
mod invite;
mod presence;
mod push;
pub mod rate_limit;
pub mod record;
mod sorted;
mod timers;

#[cfg(test)]
mod invariants;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};

use ringwire_proto::{
    CallId, ClientMessage, DeviceId, DisplayName, EndReason, ErrorCode, ErrorMessage, Invite,
    ServerMessage, UserName,
};
use sorted::SortedSet;

use crate::rate_limit::TokenBucket;
use crate::record::{CallEvent, CallRecord, PushKind, PushOutcome};
use call::{Call, Ending, Phase};
pub use push::PushRequest;
use timers::{Timer, TimerTable};

/// Identifies one WebSocket connection, so a stale `Disconnected` from a replaced connection is
/// told apart from the current one.
pub type ConnId = u64;

/// Tunables of the router. Times in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterConfig {
    /// How long a call rings before it ends as `no_answer`.
    pub ring_timeout_ms: u64,
    /// How long the caller or the answering device may be disconnected before the call ends as
    /// `connection_lost`. Media is peer-to-peer, so a short signaling outage must not end a call.
    pub reconnect_grace_ms: u64,
    /// How long an ended call is remembered, to tell devices that connect late how it ended.
    pub ended_retention_ms: u64,
    /// Invites a device may send in a burst.
    pub invite_burst: u32,
    /// One more invite is allowed every this many milliseconds.
    pub invite_refill_ms: u64,
    /// Most calls that may ring one user at once; more invites get `too_many_calls`.
    pub max_ringing_per_user: usize,
    /// Most messages a (re)connecting device is sent to bring it up to date (4.7 of the
    /// protocol): kept well below the connection's outbound queue so a resync can never
    /// overflow it. Calls left out are ended calls the device was not told about; it hears
    /// about them on a later connect or when it names them in `hello.calls`.
    pub max_resync: usize,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            ring_timeout_ms: 45_000,
            reconnect_grace_ms: 30_000,
            ended_retention_ms: 10 * 60_000,
            invite_burst: 5,
            invite_refill_ms: 6_000,
            max_ringing_per_user: 16,
            max_resync: 128,
        }
    }
}

/// Something the driver observed.
#[derive(Clone, Debug)]
pub enum Input {
    /// A device authenticated and completed `hello` on connection `conn`.
    Connected {
        conn: ConnId,
        device: DeviceId,
        user: UserName,
        display_name: Option<DisplayName>,
        /// `hello.calls`: calls the device already knows about.
        known_calls: Vec<CallId>,
    },
    /// Connection `conn` of `device` closed.
    Disconnected { conn: ConnId, device: DeviceId },
    /// `invite` from `from`, with the callee's current devices looked up by the driver
    /// (`None`: no such user).
    Invite {
        from: DeviceId,
        invite: Invite,
        callee_devices: Option<Vec<DeviceId>>,
    },
    /// Any other call message from a connected device (`hello`, `invite` and `ping` are handled
    /// elsewhere and ignored here).
    Message { from: DeviceId, msg: ClientMessage },
    /// A call found in the store at start-up: live calls resume, ended ones are remembered.
    Restore(CallRecord),
    /// A push the router asked for ([`Output::Push`]) finished.
    PushResult {
        call_id: CallId,
        device: DeviceId,
        kind: PushKind,
        outcome: PushOutcome,
    },
}

/// Something the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Deliver to the device's current connection (the router only emits this for connected
    /// devices; if it has just gone, dropping the message is correct).
    Send { to: DeviceId, msg: ServerMessage },
    /// Send `error` on connection `conn` and close it.
    Close {
        conn: ConnId,
        device: DeviceId,
        error: ErrorMessage,
    },
    /// Append to the call record, in order.
    Record(CallEvent),
    /// Wake an offline device with a push, then report back with [`Input::PushResult`].
    Push(PushRequest),
}

/// Counts for metrics and dashboards (serde: a cluster's nodes read them from the leader).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RouterStats {
    pub connected_devices: usize,
    pub calls_ringing: usize,
    pub calls_active: usize,
    pub calls_ended_retained: usize,
    pub timers: usize,
}

#[derive(Clone, Debug)]
struct Presence {
    conn: ConnId,
    user: UserName,
    display_name: Option<DisplayName>,
}

/// The router. See the module docs for the drive loop.
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    presence: HashMap<DeviceId, Presence>,
    calls: HashMap<CallId, Call>,
    /// Calls (live or retained) each device is a member of.
    by_device: HashMap<DeviceId, SortedSet<CallId>>,
    /// Ringing calls by callee user, to replay invites to devices that connect late.
    ringing_by_callee: HashMap<UserName, SortedSet<CallId>>,
    /// Live calls by user (either side), for busy and glare.
    live_by_user: HashMap<UserName, SortedSet<CallId>>,
    invite_buckets: HashMap<DeviceId, TokenBucket>,
    /// Invites whose token was taken by [`Router::admit_invite`] before the callee lookup.
    admitted: HashMap<DeviceId, SortedSet<CallId>>,
    timers: TimerTable,
    out: VecDeque<Output>,
}

/// Outputs the drained queue keeps room for; beyond it, room is given back once drained.
const OUT_QUEUE_KEPT: usize = 128;

impl Router {
    /// A router with no calls and nobody connected.
    pub fn new(config: RouterConfig) -> Self {
        Router {
            config,
            presence: HashMap::new(),
            calls: HashMap::new(),
            by_device: HashMap::new(),
            ringing_by_callee: HashMap::new(),
            live_by_user: HashMap::new(),
            invite_buckets: HashMap::new(),
            admitted: HashMap::new(),
            timers: TimerTable::default(),
            out: VecDeque::new(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// Feeds one observation. Drain [`Router::poll_output`] afterwards.
    pub fn handle_input(&mut self, now_ms: u64, input: Input) {
        // Deadlines that have passed come first: an accept that arrives after the ring
        // deadline, but before the driver woke for the timer, must not win. A device going
        // away comes before them, so an end decided by an overdue timer is kept for its
        // reconnect instead of being sent into a closing connection.
        if let Input::Disconnected { conn, device } = input {
            self.on_disconnected(now_ms, conn, device);
            return self.handle_timeout(now_ms);
        }
        self.handle_timeout(now_ms);
        match input {
            Input::Connected {
                conn,
                device,
                user,
                display_name,
                known_calls,
            } => self.on_connected(now_ms, conn, device, user, display_name, &known_calls),
            Input::Disconnected { .. } => {}
            Input::Invite {
                from,
                invite,
                callee_devices,
            } => self.on_invite(now_ms, from, invite, callee_devices),
            Input::Message { from, msg } => self.on_message(now_ms, from, msg),
            Input::Restore(record) => self.on_restore(now_ms, record),
            Input::PushResult {
                call_id,
                device,
                kind,
                outcome,
            } => self.on_push_result(now_ms, call_id, device, kind, outcome),
        }
    }

    /// Fires every timer due at `now_ms`. Drain [`Router::poll_output`] afterwards.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        while let Some(timer) = self.timers.pop_due(now_ms) {
            match timer {
                Timer::RingTimeout(id) => self.on_ring_timeout(now_ms, id),
                Timer::ReconnectGrace(id) => self.on_reconnect_grace(now_ms, id),
                Timer::Forget(id) => self.forget(id),
            }
        }
    }

    /// The next thing the driver must do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        let next = self.out.pop_front();
        if next.is_none() && self.out.capacity() > OUT_QUEUE_KEPT {
            // A call to a user with thousands of devices, or a reconnect storm, queues thousands
            // of outputs at once; a drained queue would keep that room for good.
            self.out.shrink_to(OUT_QUEUE_KEPT);
        }
        next
    }

    /// When [`Router::handle_timeout`] must next be called (UNIX ms), if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.timers.next()
    }

    /// Current counts.
    pub fn stats(&self) -> RouterStats {
        let mut stats = RouterStats {
            connected_devices: self.presence.len(),
            timers: self.timers.len(),
            ..RouterStats::default()
        };
        for call in self.calls.values() {
            match call.phase {
                Phase::Ringing => stats.calls_ringing += 1,
                Phase::Active { .. } => stats.calls_active += 1,
                Phase::Ended(_) => stats.calls_ended_retained += 1,
            }
        }
        stats
    }

    /// Whether the device has a current connection.
    pub fn is_connected(&self, device: DeviceId) -> bool {
        self.presence.contains_key(&device)
    }

    fn on_message(&mut self, now_ms: u64, from: DeviceId, msg: ClientMessage) {
        if !self.presence.contains_key(&from) {
            // The connection closed while this message was queued.
            return;
        }
        let msg = match msg.into_relay() {
            Ok(relay) => return self.on_relay(from, relay),
            Err(msg) => msg,
        };
        match msg {
            ClientMessage::Ringing { call_id } => self.on_ringing(now_ms, from, call_id),
            ClientMessage::Accept { call_id } => self.on_accept(now_ms, from, call_id),
            ClientMessage::Decline { call_id } => {
                self.on_refuse(now_ms, from, call_id, EndReason::Declined, "decline")
            }
            ClientMessage::Busy { call_id } => {
                self.on_refuse(now_ms, from, call_id, EndReason::Busy, "busy")
            }
            ClientMessage::Cancel { call_id } => self.on_cancel(now_ms, from, call_id),
            ClientMessage::Hangup { call_id, reason } => {
                self.on_hangup(now_ms, from, call_id, reason)
            }
            // Connection-level messages are the driver's; an invite must come as Input::Invite.
            ClientMessage::Hello { .. } | ClientMessage::Ping { .. } | ClientMessage::Invite(_) => {
                tracing::warn!(device_id = %from, kind = msg.type_name(), "message routed to the wrong handler");
            }
            _ => {}
        }
    }

    // ---- shared bookkeeping used by the handlers ----

    /// Queues `msg` for `to` if it is connected; returns whether it was queued.
    fn send(&mut self, to: DeviceId, msg: ServerMessage) -> bool {
        if self.presence.contains_key(&to) {
            self.out.push_back(Output::Send { to, msg });
            true
        } else {
            false
        }
    }

    fn error(&mut self, to: DeviceId, error: ErrorMessage) {
        tracing::debug!(device_id = %to, code = %error.code, message = %error.message, "refused");
        self.send(to, ServerMessage::Error(error));
    }

    fn refuse(
        &mut self,
        to: DeviceId,
        code: ErrorCode,
        call_id: CallId,
        ref_type: &str,
        why: impl Into<String>,
    ) {
        self.error(
            to,
            ErrorMessage::new(code, why)
                .with_call(Some(call_id))
                .with_ref_type(ref_type),
        );
    }

    fn record(&mut self, event: CallEvent) {
        self.out.push_back(Output::Record(event));
    }

    /// Ends a live call: records it, tells every member that is still in the call, and keeps it
    /// for late devices. Does nothing if the call is already over.
    fn end_call(
        &mut self,
        now_ms: u64,
        call_id: CallId,
        reason: EndReason,
        by_device: Option<DeviceId>,
        replaced_by: Option<CallId>,
    ) {
        let Some(call) = self.calls.get_mut(&call_id) else {
            return;
        };
        let ending = Ending {
            reason,
            by_device,
            replaced_by,
            answered: call.answered_device(),
        };
        if !call.set_phase(Phase::Ended(ending.clone()), reason.as_str()) {
            return;
        }
        let (caller_user, callee_user) = (call.caller_user.clone(), call.callee_user.clone());
        let notices: Vec<_> = call
            .members
            .iter()
            .filter(|(_, m)| !m.dropped)
            .map(|(d, _)| (*d, call.ended_for(*d, &ending)))
            .collect();
        self.unindex_live(call_id, &caller_user, &callee_user);
        self.record(CallEvent::Ended {
            call_id,
            reason,
            by_device,
            at_ms: now_ms,
        });
        for (device, msg) in notices {
            if self.send(device, msg) {
                self.mark_told(call_id, device);
            }
        }
        if reason == EndReason::NoAnswer {
            self.push_missed_call(call_id);
        }
        self.timers.set(
            now_ms + self.config.ended_retention_ms,
            Timer::Forget(call_id),
        );
    }

    fn mark_told(&mut self, call_id: CallId, device: DeviceId) {
        if let Some(m) = self
            .calls
            .get_mut(&call_id)
            .and_then(|c| c.members.get_mut(&device))
        {
            m.told_final = true;
        }
    }

    fn index_member(&mut self, call_id: CallId, device: DeviceId) {
        self.by_device.entry(device).or_default().insert(call_id);
    }

    fn index_live(&mut self, call_id: CallId, caller: &UserName, callee: &UserName) {
        self.live_by_user
            .entry(caller.clone())
            .or_default()
            .insert(call_id);
        self.live_by_user
            .entry(callee.clone())
            .or_default()
            .insert(call_id);
        self.ringing_by_callee
            .entry(callee.clone())
            .or_default()
            .insert(call_id);
    }

    fn unindex_ringing(&mut self, call_id: CallId, callee: &UserName) {
        remove_from(&mut self.ringing_by_callee, callee, call_id);
    }

    fn unindex_live(&mut self, call_id: CallId, caller: &UserName, callee: &UserName) {
        remove_from(&mut self.live_by_user, caller, call_id);
        remove_from(&mut self.live_by_user, callee, call_id);
        self.unindex_ringing(call_id, callee);
    }

    fn on_ring_timeout(&mut self, now_ms: u64, call_id: CallId) {
        let due = self
            .calls
            .get(&call_id)
            .is_some_and(|c| c.phase == Phase::Ringing && c.ring_deadline_ms <= now_ms);
        if due {
            self.end_call(now_ms, call_id, EndReason::NoAnswer, None, None);
        }
    }

    fn on_reconnect_grace(&mut self, now_ms: u64, call_id: CallId) {
        let Some(call) = self.calls.get(&call_id) else {
            return;
        };
        if !call.is_live() {
            return;
        }
        let grace = self.config.reconnect_grace_ms;
        let lost = call.members.iter().find(|(d, m)| {
            call.is_essential(**d)
                && !self.presence.contains_key(d)
                && m.lost_since_ms.is_some_and(|t| t + grace <= now_ms)
        });
        if let Some((device, _)) = lost {
            let device = *device;
            tracing::info!(call_id = %call_id, device_id = %device, "participant did not reconnect in time");
            self.end_call(
                now_ms,
                call_id,
                EndReason::ConnectionLost,
                Some(device),
                None,
            );
        }
    }

    fn forget(&mut self, call_id: CallId) {
        let ended = self.calls.get(&call_id).is_some_and(|c| !c.is_live());
        if !ended {
            return;
        }
        if let Some(call) = self.calls.remove(&call_id) {
            for device in call.members.keys() {
                if let Some(set) = self.by_device.get_mut(device) {
                    set.remove(&call_id);
                    if set.is_empty() {
                        self.by_device.remove(device);
                    }
                }
            }
        }
        self.compact();
    }

    /// Gives back the tables a burst of calls grew: a hash table keeps its largest capacity,
    /// and after a flood of a thousand calls that is a megabyte or more the process would hold
    /// for good. Each table shrinks once it is at most a quarter full, so a table that
    /// breathes in and out shrinks now and then, not on every removal.
    fn compact(&mut self) {
        fn shrink<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>) {
            if map.capacity() > 64 && map.len() * 4 <= map.capacity() {
                map.shrink_to_fit();
            }
        }
        shrink(&mut self.calls);
        shrink(&mut self.by_device);
        shrink(&mut self.ringing_by_callee);
        shrink(&mut self.live_by_user);
        shrink(&mut self.admitted);
        shrink(&mut self.presence);
        shrink(&mut self.invite_buckets);
    }
}

fn remove_from<K: std::hash::Hash + Eq + Clone>(
    map: &mut HashMap<K, SortedSet<CallId>>,
    key: &K,
    call_id: CallId,
) {
    if let Some(set) = map.get_mut(key) {
        set.remove(&call_id);
        if set.is_empty() {
            map.remove(key);
        }
    }
}
