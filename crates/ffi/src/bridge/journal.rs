//! The bounded event journal: every event gets a sequence number and the last `capacity` are
//! kept, so a UI that slept (a suspended WebView) can ask for what it missed. When it slept
//! longer than the journal reaches back, it is told so and relies on the snapshot, which is
//! always the truth.

use std::collections::VecDeque;

use super::event::BridgeEvent;

/// Events kept by default: a long call produces one quality event a second, so this covers
/// a few minutes of sleep; the snapshot covers the rest.
pub const DEFAULT_CAPACITY: usize = 256;

#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    /// Sequence number of the last event appended (0: none yet).
    last_seq: u64,
    events: VecDeque<(u64, BridgeEvent)>,
}

/// What `since` returns.
#[derive(Debug, Clone, PartialEq)]
pub struct Since {
    pub events: Vec<(u64, BridgeEvent)>,
    /// Events after the asked-for `seq` were dropped: take a snapshot.
    pub truncated: bool,
    pub last_seq: u64,
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Journal {
            capacity: capacity.max(1),
            last_seq: 0,
            events: VecDeque::new(),
        }
    }

    /// Appends an event and returns its sequence number.
    pub fn push(&mut self, event: BridgeEvent) -> u64 {
        self.last_seq += 1;
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back((self.last_seq, event));
        self.last_seq
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Events with a sequence number above `seq`.
    pub fn since(&self, seq: u64) -> Since {
        let oldest = self.events.front().map_or(self.last_seq + 1, |(s, _)| *s);
        Since {
            events: self
                .events
                .iter()
                .filter(|(s, _)| *s > seq)
                .cloned()
                .collect(),
            truncated: seq.saturating_add(1) < oldest && seq < self.last_seq,
            last_seq: self.last_seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ringing(n: u64) -> BridgeEvent {
        BridgeEvent::Ringing {
            call_id: format!("{n:032x}"),
        }
    }

    #[test]
    fn keeps_the_last_events_and_says_when_a_sleeper_missed_some() {
        let mut j = Journal::new(3);
        assert_eq!(j.since(0).events.len(), 0);
        assert!(!j.since(0).truncated);
        for n in 1..=5 {
            assert_eq!(j.push(ringing(n)), n);
        }
        let all = j.since(0);
        assert_eq!(
            all.events.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert!(all.truncated, "1 and 2 are gone");
        let recent = j.since(2);
        assert_eq!(recent.events.len(), 3);
        assert!(!recent.truncated);
        let none = j.since(5);
        assert!(none.events.is_empty() && !none.truncated);
        assert_eq!(none.last_seq, 5);
    }
}
