//! The Opus decoder for one incoming stream: normal decoding, FEC recovery of a lost frame from
//! the packet after it, and packet-loss concealment. Output goes into caller-owned buffers.

use super::packet::has_fec;
use super::{codec_error, FrameDuration, SAMPLE_RATE};
use crate::MediaError;

/// How [`OpusDecoder::decode_fec`] filled the missing frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Recovery {
    /// From the FEC copy inside the next packet.
    Fec,
    /// The next packet had no FEC data (CELT mode, or the sender's FEC was off), so the frame
    /// was concealed instead.
    Plc,
}

/// An Opus decoder producing 48 kHz mono PCM in frames of one configured duration.
#[derive(Debug)]
pub struct OpusDecoder {
    inner: ringwire_opus::Decoder,
    frame: FrameDuration,
}

impl OpusDecoder {
    /// Creates a decoder whose concealed and FEC-recovered frames last `frame`.
    pub fn new(frame: FrameDuration) -> Result<Self, MediaError> {
        let inner = ringwire_opus::Decoder::new(SAMPLE_RATE, ringwire_opus::Channels::Mono)
            .map_err(|e| codec_error("opus_decoder_create", e))?;
        Ok(OpusDecoder { inner, frame })
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

    /// Conceals one missing frame (libopus PLC: it continues the last pitch period and fades
    /// out over consecutive losses), writing exactly one frame into `out[..frame samples]`.
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<(), MediaError> {
        let frame = self.frame_mut(out, "conceal")?;
        self.inner
            .decode(&[], frame, false)
            .map_err(|e| codec_error("opus_decode(plc)", e))?;
        Ok(())
    }

    /// Forgets all decoder history (for a new stream, e.g. an SSRC change).
    pub fn reset(&mut self) -> Result<(), MediaError> {
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
