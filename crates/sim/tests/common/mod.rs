//! A signaling-only world for the scenario tests: the clock, the harness, and an inbox of
//! everything delivered to each device, driven by the earliest-deadline loop.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use ringwire_proto::{CallId, DeviceId, EndReason, ServerMessage, UserName};
use ringwire_router::RouterConfig;
use ringwire_sim::{earliest, SimClock, SimSignaling};

pub struct World {
    pub clock: SimClock,
    pub sig: SimSignaling,
    /// Every delivery so far: when, to whom, what.
    pub inbox: Vec<(Instant, DeviceId, ServerMessage)>,
    /// Every connection the server closed, and when the device learned.
    pub closed: Vec<(Instant, DeviceId)>,
    /// How many inbox entries each `take` has already returned.
    read: usize,
}

/// alice with one phone, bob with a phone and a tablet.
pub struct Cast {
    pub alice: UserName,
    pub bob: UserName,
    pub a: DeviceId,
    pub b1: DeviceId,
    pub b2: DeviceId,
}

impl World {
    pub fn new(seed: u64) -> Self {
        Self::with_config(RouterConfig::default(), seed)
    }

    pub fn with_config(config: RouterConfig, seed: u64) -> Self {
        let clock = SimClock::new();
        let sig = SimSignaling::new(config, seed, &clock);
        World {
            clock,
            sig,
            inbox: Vec::new(),
            closed: Vec::new(),
            read: 0,
        }
    }

    pub fn cast(&mut self) -> Cast {
        let alice = self.sig.add_user("alice").unwrap();
        let bob = self.sig.add_user("bob").unwrap();
        let a = self.sig.add_device(&alice).unwrap();
        let b1 = self.sig.add_device(&bob).unwrap();
        let b2 = self.sig.add_device(&bob).unwrap();
        Cast {
            alice,
            bob,
            a,
            b1,
            b2,
        }
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Runs every event up to `until` in time order, then sets the clock to `until`.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            self.deliver();
            match earliest([self.sig.poll_timeout()]) {
                Some(at) if at <= until => self.clock.advance_to(at),
                _ => break,
            }
        }
        self.clock.advance_to(until);
        self.deliver();
    }

    /// Hands out everything due now.
    fn deliver(&mut self) {
        let now = self.clock.now();
        while let Some((device, msg)) = self.sig.poll_delivery(now) {
            self.inbox.push((now, device, msg));
        }
        while let Some(device) = self.sig.poll_closed() {
            self.closed.push((now, device));
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.clock.now() + d;
        self.run_until(until);
    }

    /// Messages delivered to `device` since the last `take` of any device.
    pub fn take(&mut self, device: DeviceId) -> Vec<ServerMessage> {
        self.inbox[self.read..]
            .iter()
            .filter(|(_, d, _)| *d == device)
            .map(|(_, _, m)| m.clone())
            .collect()
    }

    /// Marks everything delivered so far as read.
    pub fn mark_read(&mut self) {
        self.read = self.inbox.len();
    }

    /// Every message ever delivered to `device`.
    pub fn all(&self, device: DeviceId) -> Vec<ServerMessage> {
        self.inbox
            .iter()
            .filter(|(_, d, _)| *d == device)
            .map(|(_, _, m)| m.clone())
            .collect()
    }

    /// When `device` first got a message matching `pred`.
    pub fn first_time(
        &self,
        device: DeviceId,
        pred: impl Fn(&ServerMessage) -> bool,
    ) -> Option<Instant> {
        self.inbox
            .iter()
            .find(|(_, d, m)| *d == device && pred(m))
            .map(|(t, _, _)| *t)
    }
}

pub fn is_incoming(m: &ServerMessage, call: CallId) -> bool {
    matches!(m, ServerMessage::Incoming(i) if i.call_id == call)
}

pub fn ended_reason(msgs: &[ServerMessage], call: CallId) -> Option<EndReason> {
    msgs.iter().find_map(|m| match m {
        ServerMessage::Ended {
            call_id, reason, ..
        } if *call_id == call => Some(*reason),
        _ => None,
    })
}
