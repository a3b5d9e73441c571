//! The Opus encoder as a call uses it: 48 kHz mono, VOIP application, voice signal, in-band FEC,
//! a bitrate kept inside configured bounds, caller-owned buffers.

use super::bitrate::{BitrateDecision, FEC_FLOOR_PCT};
use super::{codec_error, FrameDuration, SAMPLE_RATE};
use crate::MediaError;

/// How the encoder is set up. Bitrates are in bits per second of Opus payload (no RTP/UDP/IP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Frame duration: 20 ms (default) or 10 ms.
    pub frame: FrameDuration,
    /// The lowest bitrate the policy may choose. 16 kb/s keeps wideband speech intelligible.
    pub min_bitrate_bps: u32,
    /// The highest bitrate the policy may choose. Clean mono speech gains little above ~40
    /// kb/s, so the policy goes there only under loss: the FEC copy is carried inside the same
    /// rate and at 20 % loss takes a large share of it; 64 kb/s keeps the primary encoding
    /// wideband while it does.
    pub max_bitrate_bps: u32,
    /// Where a call starts, and where a clean network settles. 40 kb/s, not the 32 kb/s most
    /// WebRTC apps use: the in-band FEC copy that is always carried (the policy's floor) lives
    /// inside this rate, and at 32 kb/s it costs the primary encoding about 0.3 PESQ-WB on a
    /// clean path (3.59 against 3.90 without it, libopus, three espeak-ng clips); at 40 kb/s
    /// the floor costs nothing measurable (3.88).
    pub start_bitrate_bps: u32,
    /// libopus complexity 0–10. 9 is libopus's default; 5 roughly halves the CPU cost, which
    /// matters on old phones.
    pub complexity: u8,
    /// Discontinuous transmission: in silence the encoder emits packets of at most
    /// [`super::DTX_PACKET_MAX_BYTES`] bytes, which the sender may skip. Off by default because
    /// the far end then hears comfort noise instead of the real room tone.
    pub dtx: bool,
    /// In-band FEC (SILK LBRR). On by default: it is the cheapest protection against random
    /// loss. Off only for measurements.
    pub inband_fec: bool,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            frame: FrameDuration::Ms20,
            min_bitrate_bps: 16_000,
            max_bitrate_bps: 64_000,
            start_bitrate_bps: 40_000,
            complexity: 9,
            dtx: false,
            inband_fec: true,
        }
    }
}

impl EncoderConfig {
    /// Checks the bounds: 6–510 kb/s is what Opus accepts, min ≤ start ≤ max, complexity ≤ 10.
    pub fn validate(&self) -> Result<(), MediaError> {
        const OPUS_MIN_BPS: u32 = 6_000;
        const OPUS_MAX_BPS: u32 = 510_000;
        let (min, start, max) = (
            self.min_bitrate_bps,
            self.start_bitrate_bps,
            self.max_bitrate_bps,
        );
        if min < OPUS_MIN_BPS || max > OPUS_MAX_BPS {
            return Err(MediaError::Config(format!(
                "opus bitrate bounds {min}..{max} b/s must lie within {OPUS_MIN_BPS}..{OPUS_MAX_BPS}"
            )));
        }
        if !(min <= start && start <= max) {
            return Err(MediaError::Config(format!(
                "opus bitrates must satisfy min <= start <= max, got {min} <= {start} <= {max}"
            )));
        }
        if self.complexity > 10 {
            return Err(MediaError::Config(format!(
                "opus complexity {} is out of range; use 0 to 10",
                self.complexity
            )));
        }
        Ok(())
    }
}

/// An Opus encoder for one outgoing audio stream.
#[derive(Debug)]
pub struct OpusEncoder {
    inner: ringwire_opus::Encoder,
    config: EncoderConfig,
    bitrate_bps: u32,
    packet_loss_pct: u8,
    dred_10ms: u8,
    inband_fec: bool,
}

impl OpusEncoder {
    /// Creates an encoder at the configured start bitrate. With FEC on, the expected loss starts
    /// at the policy's floor (not 0) so the first packets already carry redundancy: libopus
    /// codes no LBRR at all while the loss it is told is 0.
    pub fn new(config: EncoderConfig) -> Result<Self, MediaError> {
        config.validate()?;
        let mut inner = ringwire_opus::Encoder::new(
            SAMPLE_RATE,
            ringwire_opus::Channels::Mono,
            ringwire_opus::Application::Voip,
        )
        .map_err(|e| codec_error("opus_encoder_create", e))?;
        // The voice hint biases libopus towards SILK/hybrid modes, the only ones that carry FEC;
        // left on auto, steady tones and music-like input can switch it to CELT and lose FEC.
        inner
            .set_signal(ringwire_opus::Signal::Voice)
            .map_err(|e| codec_error("set_signal", e))?;
        inner
            .set_complexity(i32::from(config.complexity))
            .map_err(|e| codec_error("set_complexity", e))?;
        inner
            .set_inband_fec(config.inband_fec)
            .map_err(|e| codec_error("set_inband_fec", e))?;
        inner
            .set_dtx(config.dtx)
            .map_err(|e| codec_error("set_dtx", e))?;
        let mut encoder = OpusEncoder {
            inner,
            bitrate_bps: config.start_bitrate_bps,
            packet_loss_pct: 0,
            dred_10ms: 0,
            inband_fec: config.inband_fec,
            config,
        };
        encoder.set_bitrate(encoder.config.start_bitrate_bps)?;
        let initial_loss = if encoder.config.inband_fec {
            FEC_FLOOR_PCT
        } else {
            0
        };
        encoder.set_packet_loss_pct(initial_loss)?;
        Ok(encoder)
    }

    /// Encodes exactly one frame of 48 kHz mono PCM into `out` and returns the packet length.
    /// Size `out` with [`super::MAX_PACKET_BYTES`]. A packet of at most
    /// [`super::DTX_PACKET_MAX_BYTES`] bytes is a DTX frame the sender may skip.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, MediaError> {
        let expected = self.config.frame.samples();
        if pcm.len() != expected {
            return Err(MediaError::Codec(format!(
                "encode: a frame is {expected} samples, got {}",
                pcm.len()
            )));
        }
        self.inner
            .encode(pcm, out)
            .map_err(|e| codec_error("opus_encode", e))
    }

    /// Sets the bitrate, clamped to the configured bounds; returns the bitrate applied.
    pub fn set_bitrate(&mut self, bps: u32) -> Result<u32, MediaError> {
        let bps = bps.clamp(self.config.min_bitrate_bps, self.config.max_bitrate_bps);
        // Validated bounds are ≤ 510 000, so the conversion cannot fail; saturate regardless.
        let raw = i32::try_from(bps).unwrap_or(i32::MAX);
        self.inner
            .set_bitrate(raw)
            .map_err(|e| codec_error("set_bitrate", e))?;
        self.bitrate_bps = bps;
        Ok(bps)
    }

    /// Tells the encoder how much loss to expect (0–100 %, clamped). It sizes the FEC copy by
    /// it and makes SILK lean less on long-term prediction, so a loss hurts the frames after it
    /// less. Feed it the measured loss (see [`super::BitratePolicy`]).
    pub fn set_packet_loss_pct(&mut self, pct: u8) -> Result<(), MediaError> {
        let pct = pct.min(100);
        self.inner
            .set_packet_loss_perc(i32::from(pct))
            .map_err(|e| codec_error("set_packet_loss_perc", e))?;
        self.packet_loss_pct = pct;
        Ok(())
    }

    /// Sets how much speech history each packet carries as DRED, in 10 ms units (0 = off,
    /// up to 100 = 1 s); its bits come out of the bitrate in proportion to the expected loss.
    pub fn set_dred_duration(&mut self, tens_of_ms: u8) -> Result<(), MediaError> {
        let value = tens_of_ms.min(100);
        self.inner
            .set_dred_duration(i32::from(value))
            .map_err(|e| codec_error("set_dred_duration", e))?;
        self.dred_10ms = value;
        Ok(())
    }

    /// Turns in-band FEC (SILK LBRR) on or off.
    pub fn set_inband_fec(&mut self, on: bool) -> Result<(), MediaError> {
        self.inner
            .set_inband_fec(on)
            .map_err(|e| codec_error("set_inband_fec", e))?;
        self.inband_fec = on;
        Ok(())
    }

    /// Applies a [`super::BitratePolicy`] decision. In-band FEC follows the decision only where
    /// the configuration allows it.
    pub fn apply(&mut self, decision: &BitrateDecision) -> Result<(), MediaError> {
        self.set_bitrate(decision.bitrate_bps)?;
        self.set_packet_loss_pct(decision.packet_loss_pct)?;
        if decision.dred_10ms != self.dred_10ms {
            self.set_dred_duration(decision.dred_10ms)?;
        }
        let fec = decision.inband_fec && self.config.inband_fec;
        if fec != self.inband_fec {
            self.set_inband_fec(fec)?;
        }
        Ok(())
    }

    /// The DRED history per packet in force, 10 ms units.
    pub fn dred_10ms(&self) -> u8 {
        self.dred_10ms
    }

    /// The bitrate in force, in bits per second.
    pub fn bitrate_bps(&self) -> u32 {
        self.bitrate_bps
    }

    /// The expected packet loss in force, in percent.
    pub fn packet_loss_pct(&self) -> u8 {
        self.packet_loss_pct
    }

    /// Samples of lookahead: how far the decoded audio lags the input (312 at 48 kHz in VOIP
    /// mode). Useful to align decoded output with the original in tests and measurements.
    pub fn lookahead(&mut self) -> Result<usize, MediaError> {
        let samples = self
            .inner
            .lookahead()
            .map_err(|e| codec_error("get_lookahead", e))?;
        Ok(usize::try_from(samples).unwrap_or(0))
    }

    /// Whether the last frame was encoded as DTX (silence).
    pub fn in_dtx(&mut self) -> Result<bool, MediaError> {
        self.inner
            .in_dtx()
            .map_err(|e| codec_error("get_in_dtx", e))
    }

    /// The configuration this encoder was built with.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }
}
