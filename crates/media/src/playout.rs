//! The two audio paths of one call: [`AudioReceiver`] (RTP packets in, one frame of PCM out per
//! playout tick) and [`AudioSender`] (PCM in, Opus payloads out, bitrate and FEC following the
//! network reports).
//!
//! The receiver owns a [`JitterBuffer`] and an [`OpusDecoder`] and turns each playout decision
//! into audio: decode, FEC recovery from the next packet, PLC, or silence. It never fails on a
//! bad packet: a payload libopus refuses is concealed and counted, because one corrupt packet
//! must not stop the speaker. Only misuse (a wrong output length) is an error.
//!
//! Neither path allocates per frame: PCM goes into caller buffers, and the only heap data is the
//! payload `Vec` the jitter buffer hands over (moved in from [`AudioReceiver::push`]; a `Fec`
//! decision carries a copy of the next packet, which the buffer makes).

use std::time::Instant;

use crate::codec::{
    has_fec, BitrateDecision, BitratePolicy, EncoderConfig, FrameDuration, NetworkReport,
    OpusDecoder, OpusEncoder, PolicyConfig, Recovery,
};
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout, RtpAudioPacket};
use crate::stretch::{Accelerator, Compression, Expansion, MAX_ADDED, MIN_INPUT};
use crate::MediaError;

/// Excess delay (ms above the target) from which speech is time-compressed, a pitch period at
/// a time. Below it the few ms the measured delay wanders are left alone; at it, decoding one
/// frame ahead (which compressing needs) cannot leave the buffer short.
const COMPRESS_FROM_MS: f64 = 20.0;
/// Excess delay (ms) from which two pitch periods go per frame instead of one.
const FAST_COMPRESS_FROM_MS: f64 = 100.0;
/// Delay missing (ms below the target) from which speech is stretched, a pitch period at a
/// time, so the delay grows smoothly before the next burst instead of by concealment inserted
/// when a packet is already missing.
const EXPAND_FROM_MS: f64 = 10.0;
/// Concealment in a row after which libopus's neural PLC gives way to its classic fade-out
/// (it stops after 200 ms of loss), so the frames are counted as classic PLC from there.
const DEEP_PLC_FRAMES_MS: u32 = 200;
/// How far above the clean-path delay the playout may be before the time counts as "above".
const ABOVE_CLEAN_MARGIN_MS: u32 = 10;

/// How a receiver is set up. The frame duration must match `jitter.frame_ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReceiverConfig {
    /// Audio per packet and per `pull`.
    pub frame: FrameDuration,
    /// Jitter buffer tuning.
    pub jitter: JitterConfig,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            frame: FrameDuration::Ms20,
            jitter: JitterConfig::default(),
        }
    }
}

/// What one [`AudioReceiver::pull`] played.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A received packet, decoded (an RFC 2198 copy standing in for a lost one included).
    Decoded,
    /// A lost frame rebuilt from the in-band FEC of the packet after it.
    RecoveredFec,
    /// A lost frame rebuilt from the DRED history of a later packet.
    RecoveredDred,
    /// Decoder packet-loss concealment: a lost or late packet, a packet without FEC data, or a
    /// payload the decoder refused.
    Concealed,
    /// Digital silence: nothing started yet, a DTX pause, or a long outage.
    Silence,
}

/// Where each played frame came from. Every frame that played audio is in exactly one field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct FrameSources {
    /// Its own packet, decoded.
    pub decoded: u64,
    /// Opus in-band FEC (SILK LBRR) in the next packet.
    pub lbrr: u64,
    /// An RFC 2198 redundant copy in a later packet.
    pub red: u64,
    /// DRED (Deep REDundancy) history in a later packet.
    pub dred: u64,
    /// libopus's neural packet-loss concealment.
    pub deep_plc: u64,
    /// libopus's classic concealment (pitch repetition fading to noise): after 200 ms of loss
    /// in a row, or in a build without deep PLC.
    pub classic_plc: u64,
}

impl FrameSources {
    /// Frames that played audio, from any source.
    pub fn played(&self) -> u64 {
        self.decoded + self.lbrr + self.red + self.dred + self.concealed()
    }

    /// Frames played as concealment, deep or classic.
    pub fn concealed(&self) -> u64 {
        self.deep_plc + self.classic_plc
    }
}

/// Counters of an [`AudioReceiver`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReceiverStats {
    /// The jitter buffer's own counters.
    pub jitter: JitterStats,
    /// Payloads libopus refused (each was concealed instead).
    pub decode_errors: u64,
    /// Share of the frames played (not silence) that were concealment: lost slots the FEC could
    /// not repair, holds while the buffer grew, and refused payloads. 0.0 before playout starts.
    pub concealment_ratio: f64,
    /// Pulls that produced audio (`Decoded`, `RecoveredFec` or `Concealed`), i.e. while playing.
    pub frames_played: u64,
    /// Jitter-buffer `Fec` decisions whose next packet carried no FEC data, so the slot came
    /// from its DRED or from concealment instead (`sources` says which).
    /// `jitter.recovered_fec - fec_unavailable - decode_errors` slots really came from FEC.
    /// libopus codes FEC only for frames its voice-activity detector calls active (and not
    /// across some internal mode switches), so this is rarely zero.
    pub fec_unavailable: u64,
    /// Where the played frames came from.
    pub sources: FrameSources,
    /// Audio removed by time-compressing speech to bring the delay back down, ms.
    pub compressed_ms: u64,
    /// Audio added by stretching speech to raise the delay ahead of loss bursts, ms.
    pub expanded_ms: u64,
    /// Time played with the delay more than 10 ms above the clean-path delay (what the
    /// network's jitter alone asks for, without the room left for loss recovery), ms.
    pub above_clean_ms: u64,
}

/// The receive path of one audio stream; see the [module docs](self).
#[derive(Debug)]
pub struct AudioReceiver {
    jitter: JitterBuffer,
    decoder: OpusDecoder,
    frame: FrameDuration,
    decode_errors: u64,
    fec_unavailable: u64,
    sources: FrameSources,
    /// Concealed frames in a row, to tell deep PLC from the classic fade-out.
    concealed_run: u32,
    /// Decoded audio not played yet: empty on a steady path; up to two frames while speech is
    /// being compressed (one frame is decoded ahead so the compressor sees 30 ms).
    pending: Vec<i16>,
    /// One decoded frame, before it joins `pending`.
    scratch: Vec<i16>,
    compressed: Vec<i16>,
    accelerator: Accelerator,
    compressed_samples: u64,
    expanded_samples: u64,
    above_clean_ms: u64,
    last_kind: FrameKind,
}

impl AudioReceiver {
    /// A receiver for one stream. Fails if the jitter configuration does not validate or its
    /// frame length differs from `config.frame`.
    pub fn new(config: ReceiverConfig) -> Result<Self, MediaError> {
        if config.jitter.frame_ms != config.frame.millis() {
            return Err(MediaError::Config(format!(
                "receiver frame is {} ms but the jitter buffer's frame_ms is {}; they must match",
                config.frame.millis(),
                config.jitter.frame_ms
            )));
        }
        let mut jitter = JitterBuffer::new(config.jitter)?;
        jitter.set_time_stretch(true);
        let samples = config.frame.samples();
        Ok(AudioReceiver {
            jitter,
            decoder: OpusDecoder::new(config.frame)?,
            frame: config.frame,
            decode_errors: 0,
            fec_unavailable: 0,
            sources: FrameSources::default(),
            concealed_run: 0,
            pending: Vec::with_capacity(3 * samples + MAX_ADDED),
            scratch: vec![0; samples],
            compressed: Vec::with_capacity(3 * samples + MAX_ADDED),
            accelerator: Accelerator::new(),
            compressed_samples: 0,
            expanded_samples: 0,
            above_clean_ms: 0,
            last_kind: FrameKind::Silence,
        })
    }

    /// Takes one received RTP packet (any input is accepted; the jitter buffer sorts it out).
    /// A new SSRC is a new encoder on the far side, so decoder history is dropped with the
    /// jitter buffer's timeline.
    pub fn push(&mut self, now: Instant, packet: RtpAudioPacket) {
        let ssrc_changes = self.jitter.stats().ssrc_changes;
        self.jitter.push(now, packet);
        if self.jitter.stats().ssrc_changes != ssrc_changes {
            self.reset_decoder();
        }
    }

    /// Takes an RFC 2198 redundant copy of a frame `distance` frames before the packet that
    /// carried it; see [`crate::jitter::JitterBuffer::push_redundant`].
    pub fn push_redundant(&mut self, now: Instant, packet: RtpAudioPacket, distance: u8) {
        self.jitter.push_redundant(now, packet, distance);
    }

    /// Fills all of `out` (exactly one frame of samples) for this playout tick; never fails on
    /// bad packets (a corrupt payload is concealed and counted), returns what it played (the
    /// last frame decoded for it). The only error is an `out` of the wrong length, which leaves
    /// the receiver untouched.
    ///
    /// While the delay is above the jitter buffer's target by a frame or more, speech is
    /// time-compressed a pitch period at a time ([`crate::stretch`]) instead of frames being
    /// dropped; while it is 10 ms or more below, speech is stretched the same way, so the
    /// delay grows before a loss burst needs it rather than by concealment. The receiver then
    /// decodes a frame ahead, so one `pull` may take two frames from the buffer (or none).
    pub fn pull(&mut self, now: Instant, out: &mut [i16]) -> Result<FrameKind, MediaError> {
        let samples = self.frame.samples();
        if out.len() != samples {
            return Err(MediaError::Codec(format!(
                "pull: a frame is {samples} samples, the output holds {}",
                out.len()
            )));
        }
        let speech = self.last_kind != FrameKind::Silence && self.jitter.next_is_buffered();
        // Not while a loss episode is on: the next burst would need the delay back, and
        // growing it again costs concealment (bench: 10 % bursty loss, PESQ-WB 2.5 -> 2.8).
        if speech && !self.jitter.in_loss_episode() && self.jitter.excess_ms() >= COMPRESS_FROM_MS {
            // A large excess (the floor of an episode that ended) goes at up to two cuts per
            // frame, so the delay is back within seconds rather than tens of seconds.
            let cuts = if self.jitter.excess_ms() >= FAST_COMPRESS_FROM_MS {
                2
            } else {
                1
            };
            for _ in 0..cuts {
                self.stretch(now, false);
            }
        } else if speech && self.jitter.deficit_ms() >= EXPAND_FROM_MS {
            self.stretch(now, true);
        }
        while self.pending.len() < samples {
            self.decode_next(now);
        }
        out.copy_from_slice(&self.pending[..samples]);
        self.pending.drain(..samples);
        let jitter = self.jitter.stats();
        if jitter.current_delay_ms > jitter.clean_delay_ms + ABOVE_CLEAN_MARGIN_MS {
            self.above_clean_ms += u64::from(self.frame.millis());
        }
        Ok(self.last_kind)
    }

    /// Takes the next decision from the jitter buffer and appends its frame to `pending`.
    fn decode_next(&mut self, now: Instant) {
        let samples = self.frame.samples();
        let mut frame = std::mem::take(&mut self.scratch);
        frame.resize(samples, 0);
        let kind = match self.jitter.pop(now) {
            Playout::Frame {
                payload, redundant, ..
            } => match self.decoder.decode(&payload, &mut frame) {
                Ok(n) if n == samples => {
                    if redundant {
                        self.sources.red += 1;
                    } else {
                        self.sources.decoded += 1;
                    }
                    FrameKind::Decoded
                }
                Ok(_) | Err(_) => {
                    // A refused payload, or one of another duration than negotiated (a peer
                    // that ignores ptime): either way this slot cannot be played as sent.
                    self.decode_errors += 1;
                    self.conceal(&mut frame)
                }
            },
            Playout::Fec {
                next_payload,
                timestamp,
                dred_from,
            } => {
                let frame_ts = samples as u32;
                // A copy without LBRR has no DRED either: the original after it has.
                let (payload, distance) = match &dred_from {
                    Some(later) if !has_fec(&next_payload) => (&later.payload, later.distance),
                    _ => (&next_payload, frame_ts),
                };
                let key = timestamp.wrapping_add(distance);
                let result = self.decoder.recover(key, payload, distance, &mut frame);
                // No LBRR in the next packet (CELT, or the sender's FEC is off): its DRED or
                // concealment filled the slot.
                if matches!(result, Ok(Recovery::Dred | Recovery::Plc)) {
                    self.fec_unavailable += 1;
                }
                self.recovered(now, result, &mut frame)
            }
            Playout::Conceal {
                timestamp,
                later: Some(later),
            } => {
                let key = timestamp.wrapping_add(later.distance);
                let result = self
                    .decoder
                    .recover(key, &later.payload, later.distance, &mut frame);
                self.recovered(now, result, &mut frame)
            }
            Playout::Conceal { later: None, .. } => self.conceal(&mut frame),
            Playout::Silence => {
                frame.fill(0);
                FrameKind::Silence
            }
        };
        // Every audible frame was counted in `sources` where it was made.
        if matches!(
            kind,
            FrameKind::Decoded | FrameKind::RecoveredFec | FrameKind::RecoveredDred
        ) {
            self.concealed_run = 0;
        }
        self.last_kind = kind;
        self.pending.extend_from_slice(&frame);
        self.scratch = frame;
    }

    /// Counts a frame that FEC or DRED was asked to rebuild, by what really filled it.
    fn recovered(
        &mut self,
        now: Instant,
        result: Result<Recovery, MediaError>,
        frame: &mut [i16],
    ) -> FrameKind {
        let reach = self.decoder.dred_reach();
        if reach > 0 {
            let frames = u32::try_from(reach / self.frame.samples()).unwrap_or(u32::MAX);
            self.jitter.note_dred_reach(now, frames);
        }
        match result {
            Ok(Recovery::Fec) => {
                self.sources.lbrr += 1;
                FrameKind::RecoveredFec
            }
            Ok(Recovery::Dred) => {
                self.sources.dred += 1;
                FrameKind::RecoveredDred
            }
            Ok(Recovery::Plc) => {
                // decode_fec/decode_dred concealed it already.
                self.count_concealment();
                FrameKind::Concealed
            }
            Err(_) => {
                self.decode_errors += 1;
                self.conceal(frame)
            }
        }
    }

    /// Shortens (or, with `longer`, lengthens) the pending audio by a pitch period or a quiet
    /// stretch, where that is inaudible, first decoding ahead until the stretcher has the
    /// 30 ms it needs.
    fn stretch(&mut self, now: Instant, longer: bool) {
        while self.pending.len() < MIN_INPUT {
            self.decode_next(now);
        }
        if longer {
            match self.accelerator.expand(&self.pending, &mut self.compressed) {
                Expansion::Voiced { added } | Expansion::Quiet { added } => {
                    self.expanded_samples += added as u64;
                }
                Expansion::Refused => return,
            }
        } else {
            match self
                .accelerator
                .compress(&self.pending, &mut self.compressed)
            {
                Compression::Voiced { removed } | Compression::Quiet { removed } => {
                    self.compressed_samples += removed as u64;
                }
                Compression::Refused => return,
            }
        }
        std::mem::swap(&mut self.pending, &mut self.compressed);
    }

    /// Runs PLC into `out`. `out` was checked to be one frame, which is all PLC can fail on;
    /// if libopus fails anyway the frame is silence rather than stale samples.
    fn conceal(&mut self, out: &mut [i16]) -> FrameKind {
        if self.decoder.conceal(out).is_err() {
            self.decode_errors += 1;
            out.fill(0);
        }
        self.count_concealment();
        FrameKind::Concealed
    }

    fn count_concealment(&mut self) {
        self.concealed_run += 1;
        let deep_frames = DEEP_PLC_FRAMES_MS / self.frame.millis();
        if self.decoder.deep_plc() && self.concealed_run <= deep_frames {
            self.sources.deep_plc += 1;
        } else {
            self.sources.classic_plc += 1;
        }
    }

    /// Counters; see [`ReceiverStats`].
    pub fn stats(&self) -> ReceiverStats {
        let played = self.sources.played();
        let concealment_ratio = if played == 0 {
            0.0
        } else {
            self.sources.concealed() as f64 / played as f64
        };
        ReceiverStats {
            jitter: self.jitter.stats(),
            decode_errors: self.decode_errors,
            concealment_ratio,
            frames_played: played,
            fec_unavailable: self.fec_unavailable,
            sources: self.sources,
            compressed_ms: self.compressed_samples * 1000 / u64::from(crate::codec::SAMPLE_RATE),
            expanded_ms: self.expanded_samples * 1000 / u64::from(crate::codec::SAMPLE_RATE),
            above_clean_ms: self.above_clean_ms,
        }
    }

    /// Starts playout over after an audio-session interruption (a phone call on the cellular
    /// side, Siri): buffered packets and decoder history are dropped, counters and the learned
    /// network delay are kept.
    pub fn reset(&mut self) {
        self.jitter.reset();
        self.pending.clear();
        self.reset_decoder();
    }

    fn reset_decoder(&mut self) {
        if self.decoder.reset().is_err() {
            // Resetting libopus state cannot fail on a valid decoder; if it ever does, a fresh
            // decoder is the same thing.
            if let Ok(fresh) = OpusDecoder::new(self.frame) {
                self.decoder = fresh;
            }
        }
    }
}

/// The send path of one audio stream: an Opus encoder whose bitrate and FEC follow the
/// [`BitratePolicy`].
#[derive(Debug)]
pub struct AudioSender {
    encoder: OpusEncoder,
    policy: BitratePolicy,
}

impl AudioSender {
    /// An encoder and its policy. The encoder starts at the policy's start bitrate; the
    /// encoder's own bounds are the hard limits, so a policy decision outside them is clamped.
    pub fn new(encoder: EncoderConfig, policy: PolicyConfig) -> Result<Self, MediaError> {
        let mut policy = BitratePolicy::new(policy)?;
        policy.set_dred_available(ringwire_opus::DRED);
        policy.set_inband_fec(encoder.inband_fec);
        let mut encoder = OpusEncoder::new(encoder)?;
        encoder.set_bitrate(policy.current().bitrate_bps)?;
        Ok(AudioSender { encoder, policy })
    }

    /// The DRED history each packet carries now, ms (0: none).
    pub fn dred_ms(&self) -> u32 {
        u32::from(self.encoder.dred_10ms()) * 10
    }

    /// Encodes one frame into `out` (>= MAX_PACKET_BYTES), returns the payload length.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, MediaError> {
        self.encoder.encode(pcm, out)
    }

    /// Applies the policy's decision for a new network report (loss %, RTT) to the encoder.
    pub fn on_network_report(
        &mut self,
        report: NetworkReport,
    ) -> Result<BitrateDecision, MediaError> {
        let decision = self.policy.update(report);
        self.encoder.apply(&decision)?;
        Ok(decision)
    }

    /// Whether the peer accepted RFC 2198 RED: the policy may then ask for copies
    /// ([`Self::red_levels`]).
    pub fn set_red_available(&mut self, available: bool) {
        self.policy.set_red_available(available);
    }

    /// How many earlier frames each packet should carry as RED copies now.
    pub fn red_levels(&self) -> u8 {
        self.policy.current().red_levels
    }

    /// The bitrate in force, b/s.
    pub fn bitrate_bps(&self) -> u32 {
        self.encoder.bitrate_bps()
    }

    /// The expected loss the encoder sizes its FEC for, percent.
    pub fn packet_loss_pct(&self) -> u8 {
        self.encoder.packet_loss_pct()
    }

    /// The encoder's configuration.
    pub fn encoder_config(&self) -> &EncoderConfig {
        self.encoder.config()
    }
}

#[cfg(test)]
#[path = "playout_tests.rs"]
mod tests;
