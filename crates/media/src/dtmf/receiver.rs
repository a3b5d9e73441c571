//! The receiver's side of DTMF: one key per event, however many of its reports arrive, in
//! whatever order, duplicated or partly lost.

use super::{DtmfKey, TelephoneEvent};

/// Turns received telephone-event packets into key presses.
///
/// An event is known by its RTP timestamp (its start): the first report of a new start is a
/// new key press, even when the ones before it were lost; reports of the current event,
/// duplicates and late reports of older events are not.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    /// Start of the newest event seen.
    last_start: Option<u32>,
    malformed: u64,
    not_keys: u64,
}

impl DtmfReceiver {
    pub fn new() -> Self {
        Self::default()
    }

    /// One telephone-event packet: its RTP timestamp and payload. Returns the key when this
    /// packet starts a key press.
    pub fn receive(&mut self, timestamp: u32, payload: &[u8]) -> Option<DtmfKey> {
        let Some(report) = TelephoneEvent::parse(payload) else {
            self.malformed += 1;
            return None;
        };
        if let Some(last) = self.last_start {
            // RTP timestamps wrap: newer means less than half the number space ahead.
            let ahead = timestamp.wrapping_sub(last);
            if ahead == 0 || ahead > u32::MAX / 2 {
                return None;
            }
        }
        self.last_start = Some(timestamp);
        let key = DtmfKey::from_code(report.code);
        if key.is_none() {
            self.not_keys += 1;
        }
        key
    }

    /// Packets too short to hold a report.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }

    /// Events that were not DTMF keys (flash, fax and modem tones), ignored.
    pub fn not_keys(&self) -> u64 {
        self.not_keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(code: u8, end: bool, duration: u16) -> [u8; 4] {
        TelephoneEvent {
            code,
            end,
            volume: 10,
            duration,
        }
        .encode()
    }

    #[test]
    fn one_key_per_event_despite_duplicates_and_reordering() {
        let mut r = DtmfReceiver::new();
        let mut keys = String::new();
        let packets = [
            (1000, report(1, false, 960)),
            (1000, report(1, false, 1920)),
            (1000, report(1, true, 4800)),
            (1000, report(1, true, 4800)),
            (9000, report(2, false, 960)),
            // A late report of the first event.
            (1000, report(1, true, 4800)),
            (9000, report(2, true, 4800)),
            // The second press of the same key: a new start.
            (20000, report(2, true, 4800)),
        ];
        for (ts, payload) in packets {
            if let Some(key) = r.receive(ts, &payload) {
                keys.push(key.as_char());
            }
        }
        assert_eq!(keys, "122");
    }

    #[test]
    fn timestamps_wrap() {
        let mut r = DtmfReceiver::new();
        assert!(r.receive(u32::MAX - 100, &report(3, false, 960)).is_some());
        assert!(r.receive(500, &report(4, false, 960)).is_some());
        assert!(r.receive(u32::MAX - 100, &report(3, true, 4800)).is_none());
    }

    /// The stable suite's stand-in for `fuzz/fuzz_targets/telephone_event.rs`: random packets
    /// over a few event starts, in any order, never panic and never report one press twice.
    #[test]
    fn random_packets_report_each_press_at_most_once() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..500 {
            let mut r = DtmfReceiver::new();
            let mut reported = std::collections::HashSet::new();
            for _ in 0..64 {
                let timestamp = (next() % 6) as u32 * 960;
                let payload: Vec<u8> = (0..next() % 7).map(|_| next() as u8).collect();
                if r.receive(timestamp, &payload).is_some() {
                    assert!(
                        reported.insert(timestamp),
                        "start {timestamp} reported twice"
                    );
                }
            }
        }
    }

    #[test]
    fn garbage_and_non_keys_are_counted_not_reported() {
        let mut r = DtmfReceiver::new();
        assert_eq!(r.receive(10, &[1, 2]), None);
        assert_eq!(r.receive(20, &report(16, false, 960)), None);
        assert_eq!((r.malformed(), r.not_keys()), (1, 1));
        assert_eq!(
            r.receive(30, &report(0, false, 960)).map(|k| k.as_char()),
            Some('0')
        );
    }
}
