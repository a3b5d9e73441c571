//! Unwrapping of RTP sequence numbers (u16) and timestamps (u32) into monotonic `i64`s, and a
//! small record of recently received sequence numbers to tell duplicates from late packets.
//!
//! Values are unwrapped against a reference (the playout point), not against the highest value
//! seen: a single garbage packet then cannot move the reference, and any packet within half the
//! wrap range of the playout point gets its true position.

/// The `i64` whose low 16 bits are `seq` and which lies nearest to `reference`.
pub(super) fn extend_seq(seq: u16, reference: i64) -> i64 {
    // Truncating the reference keeps only the bits that wrap; the signed difference is then
    // the shortest way round the circle.
    let delta = seq.wrapping_sub(reference as u16) as i16;
    reference.saturating_add(i64::from(delta))
}

/// The `i64` whose low 32 bits are `ts` and which lies nearest to `reference`.
pub(super) fn extend_ts(ts: u32, reference: i64) -> i64 {
    let delta = ts.wrapping_sub(reference as u32) as i32;
    reference.saturating_add(i64::from(delta))
}

/// How many sequence numbers behind the highest one are remembered.
const SPAN: i64 = 1024;
const WORDS: usize = (SPAN / 64) as usize;

/// Which of the last [`SPAN`] sequence numbers (unwrapped) were received. Fixed size.
#[derive(Debug, Clone)]
pub(super) struct ReceivedSeqs {
    bits: [u64; WORDS],
    highest: Option<i64>,
}

impl ReceivedSeqs {
    pub(super) fn new() -> Self {
        Self {
            bits: [0; WORDS],
            highest: None,
        }
    }

    pub(super) fn clear(&mut self) {
        *self = Self::new();
    }

    pub(super) fn highest(&self) -> Option<i64> {
        self.highest
    }

    /// Whether `seq` was recorded. Numbers older than the span are unknown: `false`.
    pub(super) fn contains(&self, seq: i64) -> bool {
        match self.highest {
            Some(h) if seq <= h && h - seq < SPAN => self.bit(seq),
            _ => false,
        }
    }

    pub(super) fn insert(&mut self, seq: i64) {
        match self.highest {
            None => {
                self.highest = Some(seq);
            }
            Some(h) if seq > h => {
                // Forget the numbers that the window slides over, so their bits start clear.
                if seq - h >= SPAN {
                    self.bits = [0; WORDS];
                } else {
                    for s in h + 1..seq {
                        self.set(s, false);
                    }
                }
                self.highest = Some(seq);
            }
            Some(h) if h - seq >= SPAN => return,
            Some(_) => {}
        }
        self.set(seq, true);
    }

    fn index(seq: i64) -> (usize, u64) {
        let i = seq.rem_euclid(SPAN) as usize;
        (i / 64, 1u64 << (i % 64))
    }

    fn bit(&self, seq: i64) -> bool {
        let (w, m) = Self::index(seq);
        self.bits[w] & m != 0
    }

    fn set(&mut self, seq: i64, on: bool) {
        let (w, m) = Self::index(seq);
        if on {
            self.bits[w] |= m;
        } else {
            self.bits[w] &= !m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extend_crosses_wraps_both_ways() {
        assert_eq!(extend_seq(0, 65_535), 65_536);
        assert_eq!(extend_seq(65_535, 65_536), 65_535);
        assert_eq!(extend_seq(5, 3), 5);
        assert_eq!(extend_seq(65_530, 2), -6);
        assert_eq!(extend_ts(10, i64::from(u32::MAX)), (1i64 << 32) + 10);
        assert_eq!(extend_ts(u32::MAX - 959, 1 << 32), (1i64 << 32) - 960);
        assert_eq!(extend_ts(0, i64::MAX), i64::MAX.saturating_add(1));
    }

    #[test]
    fn received_seqs_tell_duplicates_and_forget_old_numbers() {
        let mut r = ReceivedSeqs::new();
        r.insert(10);
        r.insert(12);
        assert!(r.contains(10) && r.contains(12) && !r.contains(11));
        r.insert(11);
        assert!(r.contains(11));
        r.insert(12 + SPAN);
        assert!(!r.contains(12), "outside the span");
        assert!(!r.contains(13), "slid over: cleared");
        r.insert(12 + 3 * SPAN);
        assert!(!r.contains(12 + 2 * SPAN + 5));
        r.insert(-5);
        assert_eq!(r.highest(), Some(12 + 3 * SPAN));
    }
}
