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
    BitrateDecision, BitratePolicy, EncoderConfig, FrameDuration, NetworkReport, OpusDecoder,
    OpusEncoder, PolicyConfig, Recovery,
};
use crate::jitter::{JitterBuffer, JitterConfig, JitterStats, Playout, RtpAudioPacket};
use crate::MediaError;

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
    /// A received packet, decoded.
    Decoded,
    /// A lost frame rebuilt from the in-band FEC of the packet after it.
    RecoveredFec,
    /// Decoder packet-loss concealment: a lost or late packet, a packet without FEC data, or a
    /// payload the decoder refused.
    Concealed,
    /// Digital silence: nothing started yet, a DTX pause, or a long outage.
    Silence,
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
    /// Jitter-buffer `Fec` decisions whose next packet carried no FEC data, so the slot was
    /// concealed instead. `jitter.recovered_fec - fec_unavailable` slots really came from FEC.
    /// libopus codes FEC only for frames its voice-activity detector calls active (and not
    /// across some internal mode switches), so this is rarely zero.
    pub fec_unavailable: u64,
}

/// The receive path of one audio stream; see the [module docs](self).
#[derive(Debug)]
pub struct AudioReceiver {
    jitter: JitterBuffer,
    decoder: OpusDecoder,
    frame: FrameDuration,
    decode_errors: u64,
    frames_played: u64,
    frames_concealed: u64,
    fec_unavailable: u64,
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
        Ok(AudioReceiver {
            jitter: JitterBuffer::new(config.jitter)?,
            decoder: OpusDecoder::new(config.frame)?,
            frame: config.frame,
            decode_errors: 0,
            frames_played: 0,
            frames_concealed: 0,
            fec_unavailable: 0,
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
    /// bad packets (a corrupt payload is concealed and counted), returns what it played. The
    /// only error is an `out` of the wrong length, which leaves the receiver untouched.
    pub fn pull(&mut self, now: Instant, out: &mut [i16]) -> Result<FrameKind, MediaError> {
        let samples = self.frame.samples();
        if out.len() != samples {
            return Err(MediaError::Codec(format!(
                "pull: a frame is {samples} samples, the output holds {}",
                out.len()
            )));
        }
        let kind = match self.jitter.pop(now) {
            Playout::Frame { payload, .. } => match self.decoder.decode(&payload, out) {
                Ok(n) if n == samples => FrameKind::Decoded,
                Ok(_) | Err(_) => {
                    // A refused payload, or one of another duration than negotiated (a peer
                    // that ignores ptime): either way this slot cannot be played as sent.
                    self.decode_errors += 1;
                    self.conceal(out)
                }
            },
            Playout::Fec { next_payload, .. } => {
                match self.decoder.decode_fec(&next_payload, out) {
                    Ok(Recovery::Fec) => FrameKind::RecoveredFec,
                    Ok(Recovery::Plc) => {
                        self.fec_unavailable += 1;
                        FrameKind::Concealed
                    }
                    Err(_) => {
                        self.decode_errors += 1;
                        self.conceal(out)
                    }
                }
            }
            Playout::Conceal { .. } => self.conceal(out),
            Playout::Silence => {
                out.fill(0);
                FrameKind::Silence
            }
        };
        match kind {
            FrameKind::Silence => {}
            FrameKind::Concealed => {
                self.frames_played += 1;
                self.frames_concealed += 1;
            }
            FrameKind::Decoded | FrameKind::RecoveredFec => self.frames_played += 1,
        }
        Ok(kind)
    }

    /// Runs PLC into `out`. `out` was checked to be one frame, which is all PLC can fail on;
    /// if libopus fails anyway the frame is silence rather than stale samples.
    fn conceal(&mut self, out: &mut [i16]) -> FrameKind {
        if self.decoder.conceal(out).is_err() {
            self.decode_errors += 1;
            out.fill(0);
        }
        FrameKind::Concealed
    }

    /// Counters; see [`ReceiverStats`].
    pub fn stats(&self) -> ReceiverStats {
        let concealment_ratio = if self.frames_played == 0 {
            0.0
        } else {
            self.frames_concealed as f64 / self.frames_played as f64
        };
        ReceiverStats {
            jitter: self.jitter.stats(),
            decode_errors: self.decode_errors,
            concealment_ratio,
            frames_played: self.frames_played,
            fec_unavailable: self.fec_unavailable,
        }
    }

    /// Starts playout over after an audio-session interruption (a phone call on the cellular
    /// side, Siri): buffered packets and decoder history are dropped, counters and the learned
    /// network delay are kept.
    pub fn reset(&mut self) {
        self.jitter.reset();
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
        let policy = BitratePolicy::new(policy)?;
        let mut encoder = OpusEncoder::new(encoder)?;
        encoder.set_bitrate(policy.current().bitrate_bps)?;
        Ok(AudioSender { encoder, policy })
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
