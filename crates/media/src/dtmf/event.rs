//! The RFC 4733 §2.3 event report, the 4-byte payload of a telephone-event packet:
//! event code, end bit, volume and duration so far, in RTP clock units.

/// One telephone-event report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code (0-15 are DTMF keys).
    pub code: u8,
    /// This report ends the event.
    pub end: bool,
    /// Tone power in -dBm0 (0-63; larger is quieter).
    pub volume: u8,
    /// How long the event has lasted so far, in RTP clock units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// The size of one report on the wire.
    pub const LEN: usize = 4;

    /// The first report in `payload`; `None` when it is shorter than a report. Reports packed
    /// after it (RFC 4733 §2.5.1.5, redundancy for earlier events) are ignored: the receiver
    /// only needs each event once, and the first report is the newest.
    pub fn parse(payload: &[u8]) -> Option<TelephoneEvent> {
        let [code, flags, d0, d1, ..] = *payload else {
            return None;
        };
        Some(TelephoneEvent {
            code,
            end: flags & 0x80 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The report on the wire (the reserved bit zero).
    pub fn encode(&self) -> [u8; Self::LEN] {
        let [d0, d1] = self.duration.to_be_bytes();
        let flags = if self.end { 0x80 } else { 0 } | (self.volume & 0x3f);
        [self.code, flags, d0, d1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        let e = TelephoneEvent {
            code: 11,
            end: true,
            volume: 10,
            duration: 4800,
        };
        assert_eq!(e.encode(), [11, 0x8a, 0x12, 0xc0]);
        assert_eq!(TelephoneEvent::parse(&e.encode()), Some(e));
    }

    #[test]
    fn short_payloads_and_the_reserved_bit() {
        assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), None);
        assert_eq!(TelephoneEvent::parse(&[]), None);
        // The reserved bit is ignored on receipt (RFC 4733 §2.3.3).
        let e = TelephoneEvent::parse(&[5, 0x40 | 7, 0, 160]).unwrap();
        assert_eq!((e.code, e.end, e.volume, e.duration), (5, false, 7, 160));
    }
}
