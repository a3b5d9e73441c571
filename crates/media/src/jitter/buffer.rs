//! The [`JitterBuffer`] itself: its state, and the arrival side (`push`): SSRC handling,
//! unwrapping, classification of each packet (accept, duplicate, late, off the timeline) and
//! timeline restarts. The playout side (`pop`) lives in `decide.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use super::delay::DelayEstimator;
use super::seq::{extend_seq, extend_ts, ReceivedSeqs};
use super::{JitterConfig, JitterStats, RtpAudioPacket, CLOCK_RATE_HZ};
use crate::MediaError;

/// Packets of the SSRC we just left are ignored this long, so stragglers reordered around a
/// switch cannot flip the stream back and forth.
const RETIRED_SSRC_MS: f64 = 1000.0;
/// Consecutive, mutually consistent off-timeline packets that prove the sender jumped.
const JUMP_VOTES: u8 = 3;
/// Longest believable timestamp step between two consecutive packets (Opus DTX sends one
/// packet per 400 ms), in frames.
const MAX_FRAMES_PER_PACKET: i64 = 25;

/// Where the buffer is in a stream's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// No timeline yet: the next packet defines it.
    Idle,
    /// Packets are collected until the earliest has waited the target delay.
    Buffering,
    /// One slot per `pop`.
    Playing,
    /// Starved past `max_delay` or `reset`: silent until the next packet restarts buffering.
    Waiting,
}

/// A position on the unwrapped timeline: the next slot (`Playing`, `Waiting`) or the first
/// packet (`Buffering`). Incoming numbers are unwrapped against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cursor {
    pub(super) ts: i64,
    pub(super) seq: i64,
}

#[derive(Debug, Clone)]
pub(super) struct Buffered {
    pub(super) seq: i64,
    pub(super) payload: Vec<u8>,
    /// An RFC 2198 copy standing in for a packet that never came.
    pub(super) redundant: bool,
}

/// Most loss bursts remembered for the target's burst floor (a window holds far fewer).
const MAX_BURSTS: usize = 64;

/// An off-timeline packet that may be the first of a new timeline.
#[derive(Debug, Clone, Copy)]
struct JumpCandidate {
    seq: u16,
    timestamp: u32,
    votes: u8,
}

enum Class {
    Accept,
    Duplicate,
    Late,
    OffTimeline,
}

/// Adaptive jitter buffer for one received audio stream; see the [module docs](super).
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    pub(super) cfg: JitterConfig,
    /// One frame in timestamp units (480 or 960).
    pub(super) frame_ts: i64,
    epoch: Option<Instant>,
    ssrc: Option<u32>,
    retired: Option<(u32, f64)>,
    pub(super) phase: Phase,
    pub(super) cursor: Option<Cursor>,
    /// End of what was played on this timeline: packets before it are late.
    pub(super) played_until: Option<i64>,
    /// Keyed by unwrapped timestamp, so the first entry is always the earliest.
    pub(super) packets: BTreeMap<i64, Buffered>,
    pub(super) delay: DelayEstimator,
    seen: ReceivedSeqs,
    /// The timestamp of the packet with the highest sequence number, to tell a gap that lost
    /// audio from one that only skipped packets carrying none.
    highest_seq_ts: Option<i64>,
    /// When a sequence gap was last seen: FEC lookahead is wanted while it is in the window.
    pub(super) last_gap_ms: Option<f64>,
    jump: Option<JumpCandidate>,
    pub(super) target_ms: f64,
    /// The target without the room left for loss recovery: what jitter alone asks for.
    pub(super) clean_ms: f64,
    /// A gap was seen within the window (set with the target).
    pub(super) loss_episode: bool,
    pub(super) current_ms: f64,
    /// The sender is silent (DTX): empty slots are silence, not loss.
    pub(super) in_silence: bool,
    pub(super) last_speech_skip_ms: Option<f64>,
    /// The last slot was lost (FEC or PLC): the next received frame must play, not be dropped
    /// to shrink the delay. After FEC it is the packet whose redundancy just rebuilt the slot;
    /// after PLC it is what the decoder needs to resynchronise. Dropping it would stack a
    /// second discontinuity on the first.
    pub(super) after_loss: bool,
    /// The deepest RFC 2198 redundancy distance (frames) seen lately, and when: after a gap the
    /// target leaves room for copies that come that many frames late.
    pub(super) red_depth: Option<(u8, f64)>,
    /// Recent loss bursts (when the packet after them arrived, ms; how many packets were
    /// missing): while one is in the window the target leaves room for a burst that long to be
    /// rebuilt from the packet after it.
    pub(super) bursts: VecDeque<(f64, u32)>,
    /// How many frames back the stream's DRED reaches (learned when the receiver parses it),
    /// and when that was last seen.
    pub(super) dred_reach: Option<(u32, f64)>,
    /// Whether the caller time-compresses speech itself ([`JitterBuffer::set_time_stretch`]):
    /// then speech frames are never dropped to shrink the delay.
    pub(super) time_stretch: bool,
    /// Smoothed payload size of played non-DTX frames, to spot quiet frames.
    pub(super) avg_payload: f64,
    pub(super) stats: JitterStats,
}

impl JitterBuffer {
    /// A buffer for one stream; fails if `config` does not [validate](JitterConfig::validate).
    pub fn new(config: JitterConfig) -> Result<JitterBuffer, MediaError> {
        config.validate()?;
        let frame_ts = i64::from(config.frame_ms * (CLOCK_RATE_HZ / 1000));
        Ok(JitterBuffer {
            cfg: config,
            frame_ts,
            epoch: None,
            ssrc: None,
            retired: None,
            phase: Phase::Idle,
            cursor: None,
            played_until: None,
            packets: BTreeMap::new(),
            delay: DelayEstimator::new(config.window_ms, config.percentile, config.frame_ms),
            seen: ReceivedSeqs::new(),
            highest_seq_ts: None,
            last_gap_ms: None,
            jump: None,
            target_ms: f64::from(config.initial_delay_ms).clamp(
                f64::from(config.min_delay_ms.max(config.frame_ms)),
                f64::from(config.max_delay_ms),
            ),
            clean_ms: 0.0,
            loss_episode: false,
            current_ms: 0.0,
            in_silence: false,
            last_speech_skip_ms: None,
            after_loss: false,
            red_depth: None,
            bursts: VecDeque::new(),
            dred_reach: None,
            time_stretch: false,
            avg_payload: 0.0,
            stats: JitterStats::default(),
        })
    }

    /// Takes one received packet. Never panics; any input is either used or counted and dropped.
    pub fn push(&mut self, now: Instant, packet: RtpAudioPacket) {
        self.stats.packets_received += 1;
        let now_ms = self.ms(now);
        if !self.admit_ssrc(packet.ssrc, now_ms) {
            self.stats.discarded += 1;
            return;
        }
        let (ts, seq) = self.unwrap(&packet);
        match self.classify(ts, seq) {
            Class::Accept => self.accept(now_ms, ts, seq, packet.payload),
            Class::Duplicate => self.stats.duplicates += 1,
            Class::Late => {
                self.stats.late += 1;
                self.note_arrival(now_ms, ts, seq);
            }
            Class::OffTimeline => self.off_timeline(now_ms, packet),
        }
    }

    /// Takes a copy of an earlier frame carried by RFC 2198 redundancy, `distance` frames before
    /// the packet that brought it (push that packet first). The copy fills its slot only if the
    /// slot's own packet never came and the slot has not played yet; then it counts as a
    /// received packet and in `recovered_red`. Otherwise, as for most copies (their original
    /// arrived), it is dropped uncounted. It adds no arrival sample: it comes late by design
    /// and would read as jitter.
    pub fn push_redundant(&mut self, now: Instant, packet: RtpAudioPacket, distance: u8) {
        let now_ms = self.ms(now);
        let window = f64::from(self.cfg.window_ms);
        self.red_depth = match self.red_depth {
            Some((depth, at)) if depth > distance && now_ms - at < window => Some((depth, at)),
            _ => Some((distance.max(1), now_ms)),
        };
        if self.ssrc != Some(packet.ssrc)
            || !matches!(self.phase, Phase::Buffering | Phase::Playing)
        {
            return;
        }
        let (ts, seq) = self.unwrap(&packet);
        let before_timeline = self.cursor.is_some_and(|c| ts < c.ts);
        if before_timeline
            || self.seen.contains(seq)
            || !matches!(self.classify(ts, seq), Class::Accept)
        {
            return;
        }
        self.stats.packets_received += 1;
        self.stats.recovered_red += 1;
        self.seen.insert(seq);
        self.store(ts, seq, packet.payload, true);
    }

    /// Tells the buffer how far back the stream's DRED reaches, in frames, as the receiver found
    /// when it parsed a packet's DRED: while bursts of loss come, the target then leaves room for
    /// a burst up to that long to be rebuilt from the packet after it.
    pub fn note_dred_reach(&mut self, now: Instant, frames: u32) {
        let now_ms = self.ms(now);
        self.dred_reach = (frames > 0).then_some((frames, now_ms));
    }

    /// Says whether the caller shortens speech itself when the delay is too large (see
    /// [`JitterBuffer::excess_ms`]); the buffer then stops dropping speech frames to shrink it,
    /// and drops only quiet frames and silent slots.
    pub fn set_time_stretch(&mut self, on: bool) {
        self.time_stretch = on;
    }

    /// Counters and gauges, see [`JitterStats`].
    pub fn stats(&self) -> JitterStats {
        JitterStats {
            target_delay_ms: self.target_ms.round() as u32,
            clean_delay_ms: self.clean_ms.round() as u32,
            current_delay_ms: self.current_ms.max(0.0).round() as u32,
            buffered: self.packets.len(),
            arrival_jitter_ms: self.delay.jitter_ms(),
            ..self.stats
        }
    }

    /// Forgets buffered audio and the playout point, as after an audio-session interruption:
    /// the next packet starts buffering again. Counters and the learned delay are kept.
    pub fn reset(&mut self) {
        self.stats.discarded += self.packets.len() as u64;
        self.packets.clear();
        self.phase = if self.cursor.is_some() {
            Phase::Waiting
        } else {
            Phase::Idle
        };
        self.in_silence = false;
        self.after_loss = false;
        self.jump = None;
        self.current_ms = 0.0;
    }

    /// Milliseconds since the first instant this buffer saw; earlier instants count as 0.
    pub(super) fn ms(&mut self, now: Instant) -> f64 {
        let epoch = *self.epoch.get_or_insert(now);
        now.saturating_duration_since(epoch).as_secs_f64() * 1000.0
    }

    /// Media time of an unwrapped timestamp, ms.
    pub(super) fn media_ms(ts: i64) -> f64 {
        ts as f64 * 1000.0 / f64::from(CLOCK_RATE_HZ)
    }

    /// Whether a packet of `ssrc` may enter; a new SSRC restarts the timeline.
    fn admit_ssrc(&mut self, ssrc: u32, now_ms: f64) -> bool {
        match self.ssrc {
            None => {
                self.ssrc = Some(ssrc);
                true
            }
            Some(current) if current == ssrc => true,
            Some(current) => {
                if let Some((old, at)) = self.retired {
                    if old == ssrc && now_ms - at < RETIRED_SSRC_MS {
                        return false;
                    }
                }
                self.stats.ssrc_changes += 1;
                self.retired = Some((current, now_ms));
                self.ssrc = Some(ssrc);
                self.restart_timeline();
                true
            }
        }
    }

    fn unwrap(&self, packet: &RtpAudioPacket) -> (i64, i64) {
        match self.cursor {
            Some(c) => (
                extend_ts(packet.timestamp, c.ts),
                extend_seq(packet.seq, c.seq),
            ),
            None => (i64::from(packet.timestamp), i64::from(packet.seq)),
        }
    }

    fn classify(&self, ts: i64, seq: i64) -> Class {
        let Some(cursor) = self.cursor else {
            return Class::Accept;
        };
        let future_span = self.frame_ts * self.cfg.max_packets as i64;
        if let Some(floor) = self.played_until {
            if ts < floor {
                let late_span = self.frame_ts
                    * i64::from((self.cfg.max_delay_ms + self.cfg.window_ms) / self.cfg.frame_ms);
                return if floor - ts > late_span {
                    Class::OffTimeline
                } else if self.seen.contains(seq) {
                    Class::Duplicate
                } else {
                    Class::Late
                };
            }
        }
        let off = match self.phase {
            Phase::Idle | Phase::Waiting => false,
            Phase::Buffering => (ts - cursor.ts).abs() > future_span,
            Phase::Playing => ts - cursor.ts > future_span,
        };
        if off {
            Class::OffTimeline
        } else if self.packets.contains_key(&ts) {
            Class::Duplicate
        } else {
            Class::Accept
        }
    }

    fn accept(&mut self, now_ms: f64, ts: i64, seq: i64, payload: Vec<u8>) {
        self.note_arrival(now_ms, ts, seq);
        if matches!(self.phase, Phase::Idle | Phase::Waiting) {
            // A new start: buffering re-anchors the playout on this packet's arrival.
            self.phase = Phase::Buffering;
            self.cursor = Some(Cursor { ts, seq });
            self.in_silence = false;
        }
        self.store(ts, seq, payload, false);
    }

    /// Buffers a frame for its slot, within `max_packets`.
    fn store(&mut self, ts: i64, seq: i64, payload: Vec<u8>, redundant: bool) {
        self.packets.insert(
            ts,
            Buffered {
                seq,
                payload,
                redundant,
            },
        );
        if self.packets.len() > self.cfg.max_packets {
            // Full: the packet furthest in the future is the one least likely to be needed.
            self.packets.pop_last();
            self.stats.discarded += 1;
        }
    }

    /// Feeds delay statistics and reorder/gap bookkeeping for a packet on the timeline.
    fn note_arrival(&mut self, now_ms: f64, ts: i64, seq: i64) {
        self.delay.add(now_ms, Self::media_ms(ts));
        let highest = self.seen.highest();
        match highest {
            Some(highest) if seq < highest => self.stats.reordered += 1,
            Some(highest) if seq > highest + 1 => {
                if let Some(missing) = self.frames_missing(seq - highest - 1, ts) {
                    self.last_gap_ms = Some(now_ms);
                    if self.bursts.len() == MAX_BURSTS {
                        self.bursts.pop_front();
                    }
                    self.bursts.push_back((now_ms, missing));
                }
            }
            _ => {}
        }
        if highest.map_or(true, |highest| seq > highest) {
            self.highest_seq_ts = Some(ts);
        }
        self.seen.insert(seq);
    }

    /// Audio frames lost in a gap of `seqs_skipped` sequence numbers before the packet at `ts`,
    /// or `None` when the skipped packets carried no audio. The sequence space is the
    /// stream's, not the audio's: a sender's padding-only probes (Chromium sends them on the
    /// audio SSRC for bandwidth estimation, 2-20 a second), its telephone-events and other
    /// payload types take numbers too, and are never handed to this buffer. Lost audio also
    /// leaves a hole in the timestamps, so the gap is the smaller of the two.
    fn frames_missing(&self, seqs_skipped: i64, ts: i64) -> Option<u32> {
        let by_ts = match self.highest_seq_ts {
            Some(prev) if ts > prev => (ts - prev) / self.frame_ts - 1,
            // Out of order in time, or the first gap: trust the sequence numbers.
            _ => seqs_skipped,
        };
        let missing = seqs_skipped.min(by_ts);
        (missing > 0).then(|| u32::try_from(missing).unwrap_or(u32::MAX))
    }

    /// A packet far from the playout point: garbage, or the first of a new timeline.
    fn off_timeline(&mut self, now_ms: f64, packet: RtpAudioPacket) {
        let votes = match self.jump {
            Some(c) => {
                let steps = i64::from(packet.seq.wrapping_sub(c.seq));
                let advance = i64::from(packet.timestamp.wrapping_sub(c.timestamp) as i32);
                let consistent = (1..=3).contains(&steps)
                    && advance > 0
                    && advance <= steps * MAX_FRAMES_PER_PACKET * self.frame_ts;
                if consistent {
                    c.votes.saturating_add(1)
                } else {
                    1
                }
            }
            None => 1,
        };
        if votes < JUMP_VOTES {
            self.jump = Some(JumpCandidate {
                seq: packet.seq,
                timestamp: packet.timestamp,
                votes,
            });
            self.stats.discarded += 1;
            return;
        }
        // The sender really moved (restarted its timestamps, or we fell far behind): start over.
        self.restart_timeline();
        let (ts, seq) = self.unwrap(&packet);
        self.accept(now_ms, ts, seq, packet.payload);
    }

    /// Drops the timeline (buffer, playout point, delay history); counters stay.
    pub(super) fn restart_timeline(&mut self) {
        self.stats.discarded += self.packets.len() as u64;
        self.packets.clear();
        self.phase = Phase::Idle;
        self.cursor = None;
        self.played_until = None;
        self.delay.clear();
        self.seen.clear();
        self.highest_seq_ts = None;
        self.last_gap_ms = None;
        self.bursts.clear();
        self.jump = None;
        self.in_silence = false;
        self.after_loss = false;
        self.current_ms = 0.0;
    }
}
