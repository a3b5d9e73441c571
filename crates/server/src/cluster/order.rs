//! The leader's rule for taking one node's inputs in order (go-back-N): strictly one after
//! another within a session, repeats acknowledged again without being taken, a gap waited out
//! until the node resends. A node numbers its inputs per session (a new one for each new
//! leader) and per incarnation (a new one for each process start), so neither a resend from an
//! old session nor a late input from a dead process is ever taken.

/// What to do with one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The next input: take it.
    Take,
    /// Already taken: acknowledge again, up to this sequence number.
    Repeat(u64),
    /// An input before it is missing: drop it; the node resends from the gap.
    Wait,
    /// From an older session or process: drop it.
    Stale,
}

/// Where one node's inputs are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputOrder {
    incarnation: u64,
    session: u64,
    last: u64,
}

impl InputOrder {
    /// Whether `incarnation` is a later process of the node than the one known: its old
    /// connections are gone, and the caller forgets them before taking the input.
    pub fn restarted(&self, incarnation: u64) -> bool {
        self.incarnation != 0 && incarnation > self.incarnation
    }

    /// Decides about input `seq` of `session` from process `incarnation`.
    pub fn step(&mut self, incarnation: u64, session: u64, seq: u64) -> Step {
        if incarnation < self.incarnation {
            return Step::Stale;
        }
        if incarnation > self.incarnation {
            *self = InputOrder {
                incarnation,
                ..InputOrder::default()
            };
        }
        if session < self.session {
            return Step::Stale;
        }
        if session > self.session {
            self.session = session;
            self.last = 0;
        }
        if seq <= self.last {
            return Step::Repeat(self.last);
        }
        if seq != self.last + 1 {
            return Step::Wait;
        }
        self.last = seq;
        Step::Take
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_taken_once_in_order_and_a_gap_waits_for_the_resend() {
        let mut order = InputOrder::default();
        assert_eq!(order.step(10, 1, 1), Step::Take);
        assert_eq!(order.step(10, 1, 3), Step::Wait, "2 is missing");
        assert_eq!(order.step(10, 1, 2), Step::Take);
        assert_eq!(order.step(10, 1, 3), Step::Take);
        assert_eq!(
            order.step(10, 1, 2),
            Step::Repeat(3),
            "a resend is acknowledged again"
        );
    }

    #[test]
    fn a_new_session_starts_from_one_and_old_sessions_are_stale() {
        let mut order = InputOrder::default();
        assert_eq!(order.step(10, 1, 1), Step::Take);
        assert_eq!(order.step(10, 1, 2), Step::Take);
        assert_eq!(
            order.step(10, 2, 2),
            Step::Wait,
            "a new session starts at 1"
        );
        assert_eq!(order.step(10, 2, 1), Step::Take);
        assert_eq!(order.step(10, 1, 3), Step::Stale);
    }

    #[test]
    fn a_restarted_process_is_told_apart_and_the_old_one_is_stale() {
        let mut order = InputOrder::default();
        assert!(!order.restarted(10), "the first process is not a restart");
        assert_eq!(order.step(10, 5, 1), Step::Take);
        assert!(order.restarted(20));
        assert_eq!(order.step(20, 1, 1), Step::Take);
        assert_eq!(order.step(10, 5, 2), Step::Stale);
        assert!(!order.restarted(20));
    }
}
