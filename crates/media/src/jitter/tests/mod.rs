//! Jitter-buffer tests, driven by a virtual clock: packets are scheduled at arrival times, and
//! `pop`s happen on a 20 ms playout grid; nothing sleeps. Split by theme: ordinary traffic
//! (`basic`), wraparound and stream changes (`timeline`), delay adaptation (`adaptive`), DRED
//! hand-outs and the burst floor (`dred`),
//! the counter identities under a random network (`invariants`) and RFC 2198 copies (`red`).

mod adaptive;
mod basic;
mod dred;
mod invariants;
mod red;
mod timeline;

use std::time::{Duration, Instant};

use super::{JitterBuffer, JitterConfig, JitterStats, Playout, RtpAudioPacket};

pub(super) const FRAME_TS: u32 = 960;
pub(super) const FRAME_MS: f64 = 20.0;
pub(super) const SSRC: u32 = 0x1234_5678;

/// A packet whose payload names its sequence number (first two bytes), 80 bytes long so it
/// looks like ordinary speech to the buffer (not DTX, not "quiet").
pub(super) fn packet(ssrc: u32, seq: u16, timestamp: u32) -> RtpAudioPacket {
    let mut payload = vec![0x55u8; 80];
    payload[..2].copy_from_slice(&seq.to_be_bytes());
    RtpAudioPacket {
        ssrc,
        seq,
        timestamp,
        payload,
    }
}

/// The sequence number a payload made by [`packet`] names.
pub(super) fn seq_of(payload: &[u8]) -> u16 {
    u16::from_be_bytes([payload[0], payload[1]])
}

/// A buffer on a virtual clock with a queue of scheduled arrivals.
pub(super) struct Harness {
    pub(super) jb: JitterBuffer,
    base: Instant,
    /// (arrival in µs, insertion order, packet); delivered in arrival order, ties in insertion
    /// order.
    pending: Vec<(u64, usize, RtpAudioPacket)>,
    order: usize,
}

impl Harness {
    pub(super) fn new(config: JitterConfig) -> Self {
        Harness {
            jb: JitterBuffer::new(config).unwrap(),
            base: Instant::now(),
            pending: Vec::new(),
            order: 0,
        }
    }

    pub(super) fn default() -> Self {
        Self::new(JitterConfig::default())
    }

    pub(super) fn at(&self, ms: f64) -> Instant {
        self.base + Duration::from_micros((ms * 1000.0).round() as u64)
    }

    /// Schedules `p` to arrive at `arrival_ms`.
    pub(super) fn send(&mut self, arrival_ms: f64, p: RtpAudioPacket) {
        let us = (arrival_ms * 1000.0).round() as u64;
        self.pending.push((us, self.order, p));
        self.order += 1;
    }

    /// Delivers everything that has arrived by `ms`, then pops once at `ms`.
    pub(super) fn pop_at(&mut self, ms: f64) -> Playout {
        self.deliver_until(ms);
        self.jb.pop(self.at(ms))
    }

    pub(super) fn deliver_until(&mut self, ms: f64) {
        let us = (ms * 1000.0).round() as u64;
        self.pending.sort_by_key(|(t, o, _)| (*t, *o));
        let ready = self.pending.partition_point(|(t, _, _)| *t <= us);
        let due: Vec<_> = self.pending.drain(..ready).collect();
        for (t, _, p) in due {
            self.jb.push(self.base + Duration::from_micros(t), p);
        }
    }

    /// Pops on the playout grid `k * 20 ms + offset` for `k` in `ticks`, returning each
    /// decision with its time.
    pub(super) fn run(
        &mut self,
        ticks: std::ops::Range<u32>,
        offset_ms: f64,
    ) -> Vec<(f64, Playout)> {
        ticks
            .map(|k| {
                let t = f64::from(k) * FRAME_MS + offset_ms;
                (t, self.pop_at(t))
            })
            .collect()
    }

    pub(super) fn stats(&self) -> JitterStats {
        self.jb.stats()
    }
}

/// Sends `count` packets of a regular stream starting at `seq0`/`ts0`; packet `i` is sent at
/// `i * 20 ms` and arrives `delay(i)` ms later, unless `delay` returns `None` (lost).
pub(super) fn stream(
    h: &mut Harness,
    count: u32,
    seq0: u16,
    ts0: u32,
    mut delay: impl FnMut(u32) -> Option<f64>,
) {
    for i in 0..count {
        if let Some(d) = delay(i) {
            let p = packet(
                SSRC,
                seq0.wrapping_add(i as u16),
                ts0.wrapping_add(i * FRAME_TS),
            );
            h.send(f64::from(i) * FRAME_MS + d, p);
        }
    }
}

/// Checks the counter identities stated in the module docs.
pub(super) fn assert_identities(s: &JitterStats) {
    assert_eq!(
        s.lost,
        s.recovered_fec + s.concealed,
        "lost identity: {s:?}"
    );
    assert_eq!(
        s.packets_received,
        s.played + s.duplicates + s.late + s.skipped + s.discarded + s.buffered as u64,
        "packet identity: {s:?}"
    );
    assert_eq!(
        s.popped,
        s.played + s.recovered_fec + s.concealed + s.inserted + s.silence,
        "pop identity: {s:?}"
    );
}

/// Sequence numbers of the (non-DTX) frames played, in order.
pub(super) fn played_seqs(out: &[(f64, Playout)]) -> Vec<u16> {
    out.iter()
        .filter_map(|(_, p)| match p {
            // DTX frames (1-2 bytes) carry no sequence tag.
            Playout::Frame { payload, .. } if payload.len() >= 2 => Some(seq_of(payload)),
            _ => None,
        })
        .collect()
}

/// The workspace's seeded generator, so random-network tests need no `rand` crate and replay
/// exactly.
pub(super) use ringwire_netem::SeededRng;
