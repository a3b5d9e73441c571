//! Adaptive jitter buffer for one received Opus stream: it turns RTP packets that arrive late,
//! early, twice or never into one playout decision per frame ([`Playout`]), keeping the delay
//! just large enough for the network it measures. Written for ringwire; sans-IO (the caller
//! passes `Instant`s to [`JitterBuffer::push`] and calls [`JitterBuffer::pop`] once per frame
//! from its playout clock).
//!
//! # How the target delay is chosen
//!
//! Every packet that belongs to the current timeline (late ones included, duplicates not) adds
//! a sample `transit = arrival_ms - timestamp / 48`. Over a sliding window (`window_ms`, 2 s)
//! the *relative arrival delay* of a packet is its transit minus the smallest transit in the
//! window, i.e. how much later than the fastest packet it came. The target is the configured
//! percentile (97 %) of those delays rounded up to the next whole frame
//! (`(floor(q / frame) + 1) * frame`, so a packet exactly at the percentile still beats its
//! slot), then clamped to `[max(min_delay, one frame), max_delay]`. This is libwebrtc NetEq's
//! rule; like NetEq we start at `initial_delay_ms` (NetEq's 80 ms by default) until half a window
//! of samples exists, and rise above it at once if the window already asks for more. When the window
//! has seen a sequence gap, the floor becomes two frames: Opus in-band FEC for a lost frame
//! travels in the *next* packet, which must already be here when the lost slot plays; while the
//! sender's RFC 2198 redundancy reaches `d` frames back ([`JitterBuffer::push_redundant`]), the
//! floor is `1 + d` frames, so a copy can still fill a slot lost in a burst of `d`. Once the
//! receiver has found DRED in the stream ([`JitterBuffer::note_dred_reach`]), the floor is
//! `1 + b` frames for the longest burst `b` of the last 10 s, as far as the DRED reaches, so
//! the packet after a burst is here in time to rebuild it. `clean_delay_ms` is the target
//! without these floors.
//!
//! The target therefore rises as soon as one slow packet arrives (the percentile sees it at
//! once) and falls only when slow packets leave the window, two seconds later.
//!
//! # How the playout point moves
//!
//! The playout point is the timestamp of the next slot. Its *current delay* is how long after
//! the fastest packet's schedule that slot plays: `now - slot_ts / 48 - min_transit`. Playout
//! starts when the first packet's delay reaches the target, which puts the current delay in
//! `[target, target + frame)`. The buffer itself changes the delay only by whole frames, at the
//! moments that cost least; a caller that time-stretches speech (`AudioReceiver`, with
//! [`JitterBuffer::set_time_stretch`]) moves it by pitch periods instead, reading
//! [`JitterBuffer::excess_ms`] and [`JitterBuffer::deficit_ms`], and the buffer then drops no
//! speech frames.
//!
//! * **Grow** (current < target, or a packet is simply not here yet): the buffer *holds* the
//!   slot — it answers `Conceal` (or `Silence` inside a silence) without consuming the slot, so
//!   a late packet still plays when it arrives (NetEq's expand-then-merge). A hold happens only
//!   where audio is already missing, never in the middle of good frames; a held `Conceal` can
//!   thus be followed by a `Frame` for the same timestamp. Holds stop at `max_delay`.
//! * **Shrink** (current ≥ target + one frame): drop one received frame whose successor is
//!   buffered. Quiet frames (Opus DTX, or half the average payload size) and silent slots are
//!   dropped as soon as needed; speech frames only once the excess is a frame *plus 10 ms* (so
//!   the few ms the measured delay wanders when the window's fastest packet changes never cost
//!   a word) and at most once per 250 ms, so a large excess drains over seconds rather than
//!   chopping a sentence.
//! * **Catch up**: if the current delay exceeds `max_delay` by more than a frame (the playout
//!   clock stalled, or the path became much faster), the playout point jumps to the target.
//!
//! # Loss, late packets and gaps
//!
//! A slot whose packet is missing while a *later* packet is buffered is lost: `Fec` when that
//! later packet is the next one (`seq + 1`, `timestamp + frame`), else `Conceal` carrying that
//! later packet and the slot's distance from it, for its DRED to rebuild the slot. If the later
//! packet's sequence number shows nothing was sent for the slot (Opus DTX), the slot is
//! `Silence` and not a loss. After a DTX frame (payload ≤ 2 bytes, libwebrtc's
//! `IsDtxPacket` rule) an empty buffer also means silence. A packet that arrives after its
//! slot was consumed is `late` and dropped. When nothing arrives and the hold reaches
//! `max_delay` (an outage, a sender that stopped without DTX), the buffer stops concealing,
//! plays `Silence`, and resynchronises on the next packet as if the stream started again, so a
//! five-second outage costs at most `max_delay` of concealment, not five seconds of it.
//!
//! Counters are exact: `lost == recovered_fec + concealed` (lost counts *slots repaired*, not
//! packets missing during an outage — RTCP reports those), every pushed packet ends in exactly
//! one of `played`, `duplicates`, `late`, `skipped`, `discarded` or `buffered`, and every
//! `pop` in exactly one of `played`, `recovered_fec`, `concealed`, `inserted` or `silence`.
//!
//! # Hostile input
//!
//! Sequence numbers and timestamps are unwrapped (u16/u32) against the playout point, so
//! wraparound needs no special case and garbage cannot drag the reference away. Packets beyond
//! `max_packets` frames ahead or far behind are discarded; three consecutive ones that agree
//! with each other mean the sender really moved to a new timeline, and the buffer starts over
//! on it. An SSRC change starts over too (and ignores stray packets of the old SSRC for a
//! second). Memory is bounded by `max_packets` buffered packets and a delay window of at most
//! `4 * window_ms / frame_ms` samples.

mod buffer;
mod decide;
mod delay;
mod seq;
#[cfg(test)]
mod tests;

pub use buffer::JitterBuffer;

use crate::MediaError;

/// RTP clock rate of every stream this buffer handles (Opus always uses 48 kHz, RFC 7587).
pub const CLOCK_RATE_HZ: u32 = 48_000;

/// Tuning of a [`JitterBuffer`]. `Default` gives the values libwebrtc NetEq uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterConfig {
    /// Audio per packet and per `pop`: 10 or 20 ms. Must match the negotiated `ptime`.
    pub frame_ms: u32,
    /// The target never goes below this (nor below one frame).
    pub min_delay_ms: u32,
    /// Target until the window holds enough samples (half a window). NetEq uses 80 ms; a call
    /// whose path was proven by pre-connect can start lower and rely on the target rising as
    /// soon as a slow packet arrives.
    pub initial_delay_ms: u32,
    /// The target, holds and the playout delay never go above this.
    pub max_delay_ms: u32,
    /// How far back arrival delays are remembered.
    pub window_ms: u32,
    /// Fraction of packets the target must cover, in (0, 1].
    pub percentile: f64,
    /// Most packets held at once; packets further ahead than this many frames are discarded.
    pub max_packets: usize,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            frame_ms: 20,
            min_delay_ms: 20,
            initial_delay_ms: 80,
            max_delay_ms: 400,
            window_ms: 2000,
            percentile: 0.97,
            max_packets: 64,
        }
    }
}

impl JitterConfig {
    /// Checks that the values make a working buffer; the message says which one does not.
    pub fn validate(&self) -> Result<(), MediaError> {
        let bad = |what: String| Err(MediaError::Config(format!("jitter buffer: {what}")));
        if self.frame_ms != 10 && self.frame_ms != 20 {
            return bad(format!("frame_ms is {}, use 10 or 20", self.frame_ms));
        }
        if self.max_delay_ms < 2 * self.frame_ms || self.max_delay_ms > 10_000 {
            return bad(format!(
                "max_delay_ms is {}, use {}..=10000 (two frames leave room for FEC lookahead)",
                self.max_delay_ms,
                2 * self.frame_ms
            ));
        }
        if self.min_delay_ms > self.max_delay_ms {
            return bad(format!(
                "min_delay_ms {} is above max_delay_ms {}",
                self.min_delay_ms, self.max_delay_ms
            ));
        }
        if self.initial_delay_ms < self.frame_ms || self.initial_delay_ms > self.max_delay_ms {
            return bad(format!(
                "initial_delay_ms is {}, use {}..={} (one frame up to max_delay_ms)",
                self.initial_delay_ms, self.frame_ms, self.max_delay_ms
            ));
        }
        if !(200..=60_000).contains(&self.window_ms) {
            return bad(format!("window_ms is {}, use 200..=60000", self.window_ms));
        }
        if !(self.percentile > 0.0 && self.percentile <= 1.0) {
            return bad(format!(
                "percentile is {}, use a value in (0, 1]",
                self.percentile
            ));
        }
        // The buffer must be able to hold a full max_delay of audio plus the FEC lookahead.
        let needed = (self.max_delay_ms / self.frame_ms) as usize + 2;
        if self.max_packets < needed || self.max_packets > 4096 {
            return bad(format!(
                "max_packets is {}, use {needed}..=4096 for max_delay_ms {}",
                self.max_packets, self.max_delay_ms
            ));
        }
        Ok(())
    }
}

/// One received RTP packet of the audio stream, as the transport hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpAudioPacket {
    pub ssrc: u32,
    pub seq: u16,
    /// RTP timestamp in 48 kHz units.
    pub timestamp: u32,
    /// The Opus packet.
    pub payload: Vec<u8>,
}

/// A packet buffered after a lost slot: its DRED (Deep REDundancy, libopus 1.5+) may rebuild
/// the slot when it reaches back far enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaterPacket {
    /// The later packet's Opus payload.
    pub payload: Vec<u8>,
    /// How many samples (48 kHz) before the later packet's start the lost slot starts.
    pub distance: u32,
}

/// What to play for one frame, answered by [`JitterBuffer::pop`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// Decode this packet. `redundant`: it is an RFC 2198 copy that filled the slot of a
    /// packet that never came.
    Frame {
        payload: Vec<u8>,
        timestamp: u32,
        redundant: bool,
    },
    /// The frame at `timestamp` was lost, but the next packet arrived in time: decode its
    /// in-band FEC for this slot. The same packet comes again later as a `Frame`. When that
    /// next packet is an RFC 2198 copy, `dred_from` is the first original packet after it:
    /// a copy may carry LBRR but no DRED (senders strip it, see `red::RedEncoder`), so
    /// without LBRR the slot is rebuilt from that packet's DRED.
    Fec {
        next_payload: Vec<u8>,
        timestamp: u32,
        dred_from: Option<LaterPacket>,
    },
    /// Nothing usable for `timestamp`: run the decoder's PLC. If the buffer was only waiting
    /// for a late packet (`later` is `None`), a `Frame` with the same timestamp may follow.
    /// When the slot is lost for good and a later packet is buffered, `later` carries it: its
    /// DRED may rebuild the slot instead of PLC. It is the first buffered original packet,
    /// not an RFC 2198 copy (which carries no DRED), unless only copies are buffered.
    Conceal {
        timestamp: u32,
        later: Option<LaterPacket>,
    },
    /// Nothing started yet, a DTX pause, or a long gap: play comfort silence.
    Silence,
}

/// Counters and gauges of a [`JitterBuffer`]; see the module docs for the identities they obey.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JitterStats {
    /// Delay the buffer aims for, ms.
    pub target_delay_ms: u32,
    /// The part of the target that the network's jitter asks for, without the room left for
    /// FEC, RED or DRED to rebuild lost frames, ms.
    pub clean_delay_ms: u32,
    /// Delay of the slot played by the last `pop`, relative to the fastest packet in the
    /// window, ms (0 while nothing plays).
    pub current_delay_ms: u32,
    /// Every pushed packet, and the RFC 2198 copies that filled a missing slot.
    pub packets_received: u64,
    /// Same sequence number (or timestamp) as a packet already received.
    pub duplicates: u64,
    /// Arrived after its slot was consumed.
    pub late: u64,
    /// Slots whose packet was missing when played: `recovered_fec + concealed`.
    pub lost: u64,
    /// Lost slots played from the next packet's in-band FEC.
    pub recovered_fec: u64,
    /// Lost slots played with decoder PLC.
    pub concealed: u64,
    /// Slots whose packet never came, filled by an RFC 2198 redundant copy before they played
    /// (so not in `lost`: the frame played whole).
    pub recovered_red: u64,
    /// Packets that arrived with a lower sequence number than one already received.
    pub reordered: u64,
    /// Times the stream's SSRC changed (each starts the buffer over).
    pub ssrc_changes: u64,
    /// Packets waiting to be played.
    pub buffered: usize,
    /// RFC 3550 §6.4.1 interarrival jitter, ms.
    pub arrival_jitter_ms: f64,
    /// Packets played as `Frame`.
    pub played: u64,
    /// `pop` calls.
    pub popped: u64,
    /// `pop`s answered `Silence`.
    pub silence: u64,
    /// `Conceal`s played while holding a slot (waiting for a late packet or growing the delay);
    /// not part of `lost`.
    pub inserted: u64,
    /// Received frames dropped to shrink the delay.
    pub skipped: u64,
    /// Packets dropped as implausible (far ahead or behind), by overflow, or flushed by an SSRC
    /// change, a timeline jump or `reset`.
    pub discarded: u64,
}
