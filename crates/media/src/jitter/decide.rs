//! The playout side of the [`JitterBuffer`]: the target delay, and the one decision per frame
//! that `pop` makes — play, recover with FEC, conceal, hold, skip or stay silent. The rules are
//! described in the [module docs](super); the comments here say why each check is where it is.

use std::time::Instant;

use super::buffer::{Buffered, Cursor, JitterBuffer, Phase};
use super::{LaterPacket, Playout};

/// Slack for float comparisons of millisecond values.
const EPS_MS: f64 = 1e-6;
/// Shortest spacing between two dropped *speech* frames while shrinking the delay.
const SPEECH_SKIP_SPACING_MS: f64 = 250.0;
/// How far beyond one frame of excess the delay must be before a *speech* frame is dropped.
/// The measured delay moves by a few ms whenever the fastest packet of the window changes (and
/// with every scheduling hiccup of either side's audio clock); without this margin a delay that
/// sits near a frame boundary drops a frame of speech, then holds one back a few seconds later,
/// each an audible 20 ms glitch (`ringwire bench quality`, clean path). Quiet frames and silent
/// slots still go as soon as there is a frame too much: dropping them costs nothing.
const SPEECH_SKIP_MARGIN_MS: f64 = 10.0;
/// How long a DRED reach learned from one packet stays believed: the sender's DRED duration
/// follows the loss it sees, so an old figure may no longer hold.
const DRED_REACH_MEMORY_MS: f64 = 10_000.0;
/// How long a loss burst counts towards the floor while an episode lasts.
const BURST_MEMORY_MS: f64 = 10_000.0;
/// An Opus packet this small carries no speech (libwebrtc `OpusFrame::IsDtxPacket`).
const DTX_MAX_BYTES: usize = 2;

/// What one `pop` does, before it is counted and turned into a [`Playout`].
enum Step {
    /// A packet for the slot; `true` when it is an RFC 2198 copy.
    Play(i64, Vec<u8>, bool),
    /// A lost slot, from the next packet's LBRR or, when that is a copy, from the first
    /// original after it.
    Fec(i64, Vec<u8>, Option<LaterPacket>),
    /// A lost slot, consumed with PLC or, from the later packet's DRED, rebuilt.
    Lost(i64, Option<LaterPacket>),
    /// PLC without consuming the slot: the delay grows by a frame.
    Hold(i64),
    Silence,
}

impl JitterBuffer {
    /// The decision for the next frame. Call once per `frame_ms` from the playout clock.
    pub fn pop(&mut self, now: Instant) -> Playout {
        self.stats.popped += 1;
        let now_ms = self.ms(now);
        self.delay.expire(now_ms);
        self.target_ms = self.compute_target(now_ms);
        let step = match self.phase {
            Phase::Idle | Phase::Waiting => {
                self.current_ms = 0.0;
                Step::Silence
            }
            Phase::Buffering => self.pop_buffering(now_ms),
            Phase::Playing => self.pop_playing(now_ms),
        };
        // Timestamps go out as the sender wrote them: the low 32 bits of the unwrapped value.
        match step {
            Step::Play(ts, payload, redundant) => {
                self.stats.played += 1;
                Playout::Frame {
                    payload,
                    timestamp: ts as u32,
                    redundant,
                }
            }
            Step::Fec(ts, next_payload, dred_from) => {
                self.stats.lost += 1;
                self.stats.recovered_fec += 1;
                Playout::Fec {
                    next_payload,
                    timestamp: ts as u32,
                    dred_from,
                }
            }
            Step::Lost(ts, later) => {
                self.stats.lost += 1;
                self.stats.concealed += 1;
                Playout::Conceal {
                    timestamp: ts as u32,
                    later,
                }
            }
            Step::Hold(ts) => {
                self.stats.inserted += 1;
                Playout::Conceal {
                    timestamp: ts as u32,
                    later: None,
                }
            }
            Step::Silence => {
                self.stats.silence += 1;
                Playout::Silence
            }
        }
    }

    pub(super) fn compute_target(&mut self, now_ms: f64) -> f64 {
        let frame = f64::from(self.cfg.frame_ms);
        let q = self.delay.quantile_ms();
        let mut target = ((q / frame).floor() + 1.0) * frame;
        let start_samples = u64::from((self.cfg.window_ms / self.cfg.frame_ms / 2).max(10));
        if self.delay.samples_since_start() < start_samples {
            target = target.max(f64::from(self.cfg.initial_delay_ms));
        }
        let mut floor = f64::from(self.cfg.min_delay_ms).max(frame);
        self.clean_ms = target.max(floor).min(f64::from(self.cfg.max_delay_ms));
        self.loss_episode = self
            .last_gap_ms
            .is_some_and(|t| now_ms - t < f64::from(self.cfg.window_ms));
        if self.loss_episode {
            // In-band FEC needs the next packet before the lost slot plays; RED copies come
            // up to the sender's deepest distance later.
            let window = f64::from(self.cfg.window_ms);
            let red = self
                .red_depth
                .filter(|(_, at)| now_ms - at < window)
                .map_or(1, |(depth, _)| u32::from(depth));
            floor = floor.max(f64::from(1 + red.max(self.dred_depth(now_ms))) * frame);
        }
        target.max(floor).min(f64::from(self.cfg.max_delay_ms))
    }

    /// Frames of a burst the DRED of the packet after it can rebuild, if the buffer waits for
    /// that packet: the longest burst of the last [`BURST_MEMORY_MS`], as far as the stream's
    /// DRED reaches; 0 without DRED. Called only while a loss episode is on (a gap in the
    /// window), so the floor holds steady through an episode, whose bursts come seconds apart,
    /// and drops two seconds after its last one. Bursts are rare events, so the longest one,
    /// not a percentile: a percentile of a dozen bursts is nearly the longest anyway.
    fn dred_depth(&mut self, now_ms: f64) -> u32 {
        while self
            .bursts
            .front()
            .is_some_and(|&(at, _)| now_ms - at >= BURST_MEMORY_MS)
        {
            self.bursts.pop_front();
        }
        let Some((reach, _)) = self
            .dred_reach
            .filter(|&(_, at)| now_ms - at < DRED_REACH_MEMORY_MS)
        else {
            return 0;
        };
        let longest = self.bursts.iter().map(|&(_, n)| n).max().unwrap_or(0);
        longest.min(reach)
    }

    /// Whether a loss episode is on: a gap in the sequence numbers within the last window.
    /// While it lasts the delay should not be shrunk: the next burst would need it back.
    pub fn in_loss_episode(&self) -> bool {
        self.loss_episode
    }

    /// Whether the packet for the next slot is here, so taking it now cannot leave a gap.
    pub fn next_is_buffered(&self) -> bool {
        match (self.phase, self.cursor, self.packets.first_key_value()) {
            (Phase::Playing, Some(cur), Some((&ts, _))) => ts < cur.ts + self.frame_ts,
            _ => false,
        }
    }

    /// How far the delay is below the target now, ms (0 when it is not, and while nothing
    /// plays): a caller that time-stretches speech lengthens the audio by this much.
    pub fn deficit_ms(&self) -> f64 {
        if self.phase == Phase::Playing {
            (self.target_ms - self.current_ms).max(0.0)
        } else {
            0.0
        }
    }

    /// How far the delay is above the target now, ms (0 when it is not): a caller that
    /// time-compresses speech ([`JitterBuffer::set_time_stretch`]) shortens the audio by this
    /// much, a pitch period at a time.
    pub fn excess_ms(&self) -> f64 {
        if self.phase == Phase::Playing {
            (self.current_ms - self.target_ms).max(0.0)
        } else {
            0.0
        }
    }

    /// Delay at which the slot `ts` would play now, relative to the fastest packet's schedule.
    fn delay_of(&self, now_ms: f64, ts: i64) -> f64 {
        let media = Self::media_ms(ts);
        let min = self.delay.min_transit_ms().unwrap_or(now_ms - media);
        now_ms - media - min
    }

    fn pop_buffering(&mut self, now_ms: f64) -> Step {
        let Some((&ts, first)) = self.packets.first_key_value() else {
            self.current_ms = 0.0;
            return Step::Silence;
        };
        let seq = first.seq;
        let c = self.delay_of(now_ms, ts);
        self.current_ms = c;
        if c + EPS_MS < self.target_ms {
            return Step::Silence;
        }
        self.phase = Phase::Playing;
        self.cursor = Some(Cursor { ts, seq });
        self.pop_playing(now_ms)
    }

    fn pop_playing(&mut self, now_ms: f64) -> Step {
        let Some(mut cur) = self.cursor else {
            // Playing always has a cursor; recover quietly if that ever breaks.
            self.phase = Phase::Idle;
            return Step::Silence;
        };
        let frame_ms = f64::from(self.cfg.frame_ms);
        let max_ms = f64::from(self.cfg.max_delay_ms);
        // Packets before the slot can only be misaligned leftovers of a played slot.
        while let Some(entry) = self.packets.first_entry() {
            if *entry.key() >= cur.ts {
                break;
            }
            entry.remove();
            self.stats.discarded += 1;
        }
        let mut c = self.delay_of(now_ms, cur.ts);
        if c > max_ms + frame_ms {
            c = self.catch_up(&mut cur, c);
        }
        self.current_ms = c;
        let excess = c - self.target_ms;
        let deficit = self.target_ms - c;
        let frame_ts = self.frame_ts;

        let step = if self
            .packets
            .first_key_value()
            .is_some_and(|(&ts, _)| ts < cur.ts + frame_ts)
        {
            self.play_slot(now_ms, &mut cur, excess)
        } else if let Some((&next_ts, next)) = self.packets.first_key_value() {
            let missing = next.seq - cur.seq;
            if missing <= 0 {
                // The next packet follows the last one played: nothing was sent for this slot.
                self.silent_slot(&mut cur, excess, deficit)
            } else if deficit > EPS_MS && c + frame_ms <= max_ms + EPS_MS {
                // We want more delay anyway, and the packet may only be reordered: wait for it.
                Step::Hold(cur.ts)
            } else {
                let step = if next_ts - cur.ts < 2 * frame_ts && missing == 1 {
                    let dred_from = if next.redundant {
                        self.later_original(cur.ts)
                    } else {
                        None
                    };
                    Step::Fec(cur.ts, next.payload.clone(), dred_from)
                } else {
                    let later = self.later_original(cur.ts).or_else(|| {
                        u32::try_from(next_ts - cur.ts)
                            .ok()
                            .map(|distance| LaterPacket {
                                payload: next.payload.clone(),
                                distance,
                            })
                    });
                    Step::Lost(cur.ts, later)
                };
                self.in_silence = false;
                self.after_loss = true;
                cur.ts += frame_ts;
                cur.seq += 1;
                step
            }
        } else if self.in_silence {
            self.silent_slot(&mut cur, excess, deficit)
        } else if c + frame_ms <= max_ms + EPS_MS {
            // Nothing here: late or lost, we cannot tell yet. Holding keeps a late packet
            // playable, at the cost of one frame of delay that shrinking gives back later.
            Step::Hold(cur.ts)
        } else {
            // Starved for max_delay: an outage or a sender that stopped. Stop concealing and
            // resynchronise on whatever comes next.
            self.phase = Phase::Waiting;
            self.current_ms = 0.0;
            Step::Silence
        };
        self.cursor = Some(cur);
        self.played_until = Some(cur.ts);
        step
    }

    /// The first buffered packet after the slot `ts` that is not an RFC 2198 copy, with its
    /// distance from the slot: the packet whose DRED can rebuild the slot.
    fn later_original(&self, ts: i64) -> Option<LaterPacket> {
        let (&at, packet) = self.packets.iter().find(|(_, p)| !p.redundant)?;
        let distance = u32::try_from(at - ts).ok()?;
        Some(LaterPacket {
            payload: packet.payload.clone(),
            distance,
        })
    }

    /// Plays the slot's packet, or drops it for its successor when the delay is too large.
    fn play_slot(&mut self, now_ms: f64, cur: &mut Cursor, excess: f64) -> Step {
        let Some((ts, packet)) = self.packets.pop_first() else {
            return Step::Silence;
        };
        let frame_ts = self.frame_ts;
        let has_successor = self
            .packets
            .first_key_value()
            .is_some_and(|(&next, _)| next >= ts + frame_ts && next < ts + 2 * frame_ts);
        let quiet = self.is_quiet(&packet);
        // Speech is dropped only when no caller time-stretches it, and then spaced out.
        let may_skip = !std::mem::take(&mut self.after_loss)
            && (quiet
                || !self.time_stretch
                    && self
                        .last_speech_skip_ms
                        .map_or(true, |t| now_ms - t >= SPEECH_SKIP_SPACING_MS));
        let needed = f64::from(self.cfg.frame_ms) + if quiet { 0.0 } else { SPEECH_SKIP_MARGIN_MS };
        if excess >= needed - EPS_MS && has_successor && may_skip {
            self.stats.skipped += 1;
            if !quiet {
                self.last_speech_skip_ms = Some(now_ms);
            }
            if let Some((next_ts, next)) = self.packets.pop_first() {
                return self.play(cur, next_ts, next);
            }
        }
        self.play(cur, ts, packet)
    }

    fn play(&mut self, cur: &mut Cursor, ts: i64, packet: Buffered) -> Step {
        // Snap to the packet's own timestamp: a sender whose timestamps are off the frame grid
        // still plays every packet once.
        cur.ts = ts + self.frame_ts;
        cur.seq = packet.seq + 1;
        let len = packet.payload.len();
        self.in_silence = len <= DTX_MAX_BYTES;
        // Copies are left out of the average: a sender strips their DRED, so they are smaller
        // than the originals without being quieter.
        if !self.in_silence && !packet.redundant {
            self.avg_payload = if self.avg_payload == 0.0 {
                len as f64
            } else {
                self.avg_payload + (len as f64 - self.avg_payload) / 16.0
            };
        }
        Step::Play(ts, packet.payload, packet.redundant)
    }

    /// A slot the sender sent nothing for. Silence is free to stretch or shorten, so the delay
    /// is corrected here first.
    fn silent_slot(&mut self, cur: &mut Cursor, excess: f64, deficit: f64) -> Step {
        self.in_silence = true;
        if deficit > EPS_MS {
            return Step::Silence;
        }
        let frame_ms = f64::from(self.cfg.frame_ms);
        let mut advance = 1;
        if excess >= frame_ms - EPS_MS {
            // Skip whole silent slots, but never past the next buffered packet.
            let want = 1 + (excess / frame_ms).floor() as i64;
            let room = self
                .packets
                .first_key_value()
                .map_or(want, |(&ts, _)| (ts - cur.ts) / self.frame_ts);
            advance = want.min(room).max(1);
        }
        cur.ts += advance * self.frame_ts;
        Step::Silence
    }

    /// Jumps the playout point back to the target after the delay ran past `max_delay`
    /// (the playout clock stalled, or the path got much faster). Returns the new delay.
    fn catch_up(&mut self, cur: &mut Cursor, c: f64) -> f64 {
        let frame_ms = f64::from(self.cfg.frame_ms);
        let slots = ((c - self.target_ms) / frame_ms).floor().max(0.0) as i64;
        cur.ts += slots * self.frame_ts;
        while let Some(entry) = self.packets.first_entry() {
            if *entry.key() >= cur.ts {
                break;
            }
            let (_, dropped) = entry.remove_entry();
            cur.seq = dropped.seq + 1;
            self.stats.skipped += 1;
        }
        c - slots as f64 * frame_ms
    }

    /// Whether the packet's frame is quiet enough to drop at no cost: DTX, or half the average
    /// size of the originals. A copy is judged by DTX alone (see `play`).
    fn is_quiet(&self, packet: &Buffered) -> bool {
        let len = packet.payload.len();
        len <= DTX_MAX_BYTES
            || (!packet.redundant && self.avg_payload > 0.0 && len as f64 * 2.0 <= self.avg_payload)
    }
}
