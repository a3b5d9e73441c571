//! The router's named timers in one table (quinn's `TimerTable` idea): every deadline the router
//! cares about lives here, so the driver needs a single `poll_timeout`. Entries are never removed
//! early; a fired timer is checked against the call's current state, which keeps cancellation
//! trivially correct.

use std::collections::BTreeSet;

use ringwire_proto::CallId;

/// What a deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Timer {
    /// The call stops ringing: `no_answer`.
    RingTimeout(CallId),
    /// A participant lost its connection; if it has not come back, `connection_lost`.
    ReconnectGrace(CallId),
    /// An ended call is forgotten (no more replays of its end to late devices).
    Forget(CallId),
}

/// Deadlines in UNIX milliseconds, earliest first.
#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    entries: BTreeSet<(u64, Timer)>,
}

impl TimerTable {
    pub(crate) fn set(&mut self, at_ms: u64, timer: Timer) {
        self.entries.insert((at_ms, timer));
    }

    /// The earliest deadline, if any.
    pub(crate) fn next(&self) -> Option<u64> {
        self.entries.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest timer due at or before `now_ms`.
    pub(crate) fn pop_due(&mut self, now_ms: u64) -> Option<Timer> {
        match self.entries.first() {
            Some((at, _)) if *at <= now_ms => self.entries.pop_first().map(|(_, t)| t),
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_only_when_due() {
        let a = CallId::from_bytes([1; 16]);
        let b = CallId::from_bytes([2; 16]);
        let mut t = TimerTable::default();
        t.set(300, Timer::Forget(a));
        t.set(100, Timer::RingTimeout(b));
        t.set(200, Timer::ReconnectGrace(a));
        assert_eq!(t.next(), Some(100));
        assert_eq!(t.pop_due(99), None);
        assert_eq!(t.pop_due(250), Some(Timer::RingTimeout(b)));
        assert_eq!(t.pop_due(250), Some(Timer::ReconnectGrace(a)));
        assert_eq!(t.pop_due(250), None);
        assert_eq!(t.len(), 1);
    }
}
