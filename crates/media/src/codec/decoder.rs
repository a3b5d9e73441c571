//! The Opus decoder for one incoming stream: normal decoding, FEC recovery of a lost frame from
//! the packet after it, and packet-loss concealment. Output goes into caller-owned buffers.

use super::packet::has_fec;
use super::{codec_error, FrameDuration, SAMPLE_RATE};
use crate::MediaError;

/// libopus decoder complexity: 5 and up conceals with deep PLC, 7 enhances SILK speech with
/// NoLACE (OSCE). Both are built in (`ringwire-opus`'s `dred` and `osce` features).
const DECODER_COMPLEXITY: i32 = 7;

/// How [`OpusDecoder::decode_fec`] or [`OpusDecoder::decode_dred`] filled the missing frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recovery {
    /// From the FEC copy inside the next packet.
    Fec,
    /// From the DRED history inside a later packet.
    Dred,
    /// The next packet had no FEC data (CELT mode, or the sender's FEC was off), so the frame
    /// was concealed instead.
    Plc,
}

/// How much DRED history is decoded from a packet at least, in samples: as much as a jitter
/// buffer would ever wait for (400 ms), so one parse serves a whole burst and tells the
/// buffer how far the stream's DRED reaches.
const DRED_PARSE_SAMPLES: usize = 48 * 400;

/// An Opus decoder producing 48 kHz mono PCM in frames of one configured duration.
#[derive(Debug)]
pub struct OpusDecoder {
    inner: ringwire_opus::Decoder,
    frame: FrameDuration,
    /// The DRED model, when this build has it; `None` means lost frames are concealed.
    dred: Option<ringwire_opus::Dred>,
    /// The packet whose DRED `dred` holds (the caller's key for it) and how far it reaches.
    parsed: Option<(u32, usize)>,
}

impl OpusDecoder {
    /// Creates a decoder whose concealed and FEC-recovered frames last `frame`.
    pub fn new(frame: FrameDuration) -> Result<Self, MediaError> {
        let mut inner = ringwire_opus::Decoder::new(SAMPLE_RATE, ringwire_opus::Channels::Mono)
            .map_err(|e| codec_error("opus_decoder_create", e))?;
        inner
            .set_complexity(DECODER_COMPLEXITY)
            .map_err(|e| codec_error("set_complexity", e))?;
        // A build without DRED still plays: lost frames are concealed instead.
        let dred = ringwire_opus::Dred::new().ok();
        Ok(OpusDecoder {
            inner,
            frame,
            dred,
            parsed: None,
        })
    }

    /// The frame duration this decoder conceals and recovers in.
    pub fn frame(&self) -> FrameDuration {
        self.frame
    }

    /// Decodes one packet into `out` and returns the number of samples written. `out` must hold
    /// the packet's whole duration (one frame when the peer uses the same frame size); a longer
    /// packet fails with a codec error rather than being cut.
    ///
    /// Corrupt payloads return an error and leave the decoder usable. Note that Opus has no
    /// checksum: random bytes that happen to form a valid packet decode as noise, not as an
    /// error. Integrity is SRTP's job.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> Result<usize, MediaError> {
        if payload.is_empty() {
            // libopus treats an empty packet as "lost"; make that explicit through `conceal`.
            return Err(MediaError::Codec(
                "decode: empty payload (use conceal for a missing packet)".into(),
            ));
        }
        self.inner
            .decode(payload, out, false)
            .map_err(|e| codec_error("opus_decode", e))
    }

    /// Rebuilds the missing frame that precedes `next_payload` from the FEC copy inside it,
    /// writing exactly one frame into `out[..frame samples]`. Decode `next_payload` normally
    /// afterwards, as its own frame.
    ///
    /// When the next packet carries no FEC (see [`super::has_fec`]) the frame is concealed and
    /// [`Recovery::Plc`] says so; libopus would do the same silently.
    pub fn decode_fec(
        &mut self,
        next_payload: &[u8],
        out: &mut [i16],
    ) -> Result<Recovery, MediaError> {
        if !has_fec(next_payload) {
            self.conceal(out)?;
            return Ok(Recovery::Plc);
        }
        self.decode_lbrr(next_payload, out)
    }

    /// Rebuilds a lost frame from a later packet, the best way it carries: from its LBRR when
    /// it is the very next packet (`distance` is one frame) and has some, else from its DRED
    /// ([`Self::decode_dred`], which conceals when that does not reach back far enough).
    pub fn recover(
        &mut self,
        key: u32,
        later_payload: &[u8],
        distance: u32,
        out: &mut [i16],
    ) -> Result<Recovery, MediaError> {
        if distance as usize == self.frame.samples() && has_fec(later_payload) {
            self.decode_lbrr(later_payload, out)
        } else {
            self.decode_dred(key, later_payload, distance, out)
        }
    }

    /// Decodes the LBRR of `next_payload` (known to carry some) as the frame before it.
    fn decode_lbrr(
        &mut self,
        next_payload: &[u8],
        out: &mut [i16],
    ) -> Result<Recovery, MediaError> {
        let frame = self.frame_mut(out, "decode_fec")?;
        // With fec=true libopus decodes the LBRR data for exactly `frame.len()` samples: the
        // duration of the lost frame, which is why the slice is cut to one frame.
        let samples = self
            .inner
            .decode(next_payload, frame, true)
            .map_err(|e| codec_error("opus_decode(fec)", e))?;
        debug_assert_eq!(samples, frame.len());
        Ok(Recovery::Fec)
    }

    /// Rebuilds the lost frame that starts `distance` samples before `later_payload` from the
    /// DRED history inside it, writing exactly one frame into `out`; conceals it (and says so)
    /// when the packet carries no DRED that reaches back that far. `key` names the later packet
    /// (its RTP timestamp): a burst's frames are rebuilt from one parse of it. Rebuild the
    /// frames of a burst oldest first, then decode the later packet normally.
    pub fn decode_dred(
        &mut self,
        key: u32,
        later_payload: &[u8],
        distance: u32,
        out: &mut [i16],
    ) -> Result<Recovery, MediaError> {
        let samples = self.frame.samples();
        let distance = distance as usize;
        let reach = match (&mut self.dred, self.parsed) {
            (None, _) => 0,
            (Some(_), Some((parsed_key, reach))) if parsed_key == key => reach,
            (Some(dred), _) => {
                let wanted = (distance + 2 * samples).max(DRED_PARSE_SAMPLES);
                // A malformed extension is the sender's problem: conceal, as for no DRED.
                let reach = dred
                    .parse(later_payload, wanted, SAMPLE_RATE)
                    .map_or(0, |h| h.reach);
                self.parsed = Some((key, reach));
                reach
            }
        };
        let Some(dred) = self.dred.as_ref().filter(|_| reach >= distance) else {
            self.conceal(out)?;
            return Ok(Recovery::Plc);
        };
        let len = out.len();
        let frame = out.get_mut(..samples).ok_or_else(|| {
            MediaError::Codec(format!(
                "decode_dred: output holds {len} samples, a frame needs {samples}"
            ))
        })?;
        self.inner
            .decode_dred(dred, distance, frame)
            .map_err(|e| codec_error("opus_decoder_dred_decode", e))?;
        Ok(Recovery::Dred)
    }

    /// How far back (samples) the DRED of the last packet parsed by [`Self::decode_dred`]
    /// reaches; 0 when none was parsed or it carried none.
    pub fn dred_reach(&self) -> usize {
        self.parsed.map_or(0, |(_, reach)| reach)
    }

    /// Whether concealment here is libopus's deep PLC (built in, and the complexity asks for
    /// it) rather than its classic pitch-repeating PLC.
    pub fn deep_plc(&self) -> bool {
        ringwire_opus::DEEP_PLC && DECODER_COMPLEXITY >= 5
    }

    /// Conceals one missing frame (libopus deep PLC, a neural model, for the first 200 ms of a
    /// loss; then libopus's classic PLC, which fades out), writing exactly one frame into `out[..frame samples]`.
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<(), MediaError> {
        let frame = self.frame_mut(out, "conceal")?;
        self.inner
            .decode(&[], frame, false)
            .map_err(|e| codec_error("opus_decode(plc)", e))?;
        Ok(())
    }

    /// Forgets all decoder history (for a new stream, e.g. an SSRC change).
    pub fn reset(&mut self) -> Result<(), MediaError> {
        self.parsed = None;
        self.inner
            .reset_state()
            .map_err(|e| codec_error("reset_state", e))
    }

    fn frame_mut<'a>(&self, out: &'a mut [i16], op: &str) -> Result<&'a mut [i16], MediaError> {
        let samples = self.frame.samples();
        let len = out.len();
        out.get_mut(..samples).ok_or_else(|| {
            MediaError::Codec(format!(
                "{op}: output holds {len} samples, a frame needs {samples}"
            ))
        })
    }
}
