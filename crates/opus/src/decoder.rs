//! [`Decoder`]: an owned libopus decoder — normal decoding, FEC recovery, concealment (classic,
//! or deep PLC at complexity 5 and up), OSCE enhancement (complexity 6 and up) and decoding of
//! DRED redundancy parsed by [`crate::Dred`].

use std::ffi::c_int;
use std::ptr::NonNull;

use crate::error::{check, OpusError};
use crate::{check_rate, ffi, Channels, Dred};

/// An Opus decoder producing 16-bit interleaved PCM.
#[derive(Debug)]
pub struct Decoder {
    state: NonNull<ffi::OpusDecoder>,
    channels: usize,
}

// SAFETY: libopus decoder state is plain memory with no thread affinity; `&mut self` on every
// call keeps it from being used by two threads at once.
unsafe impl Send for Decoder {}

impl Decoder {
    /// Creates a decoder that outputs `rate` Hz (8, 12, 16, 24 or 48 kHz) PCM.
    pub fn new(rate: u32, channels: Channels) -> Result<Self, OpusError> {
        let op = "opus_decoder_create";
        let fs = check_rate(op, rate)?;
        let mut error: c_int = 0;
        // SAFETY: valid arguments checked above; `error` is a valid out-pointer.
        let state = unsafe { ffi::opus_decoder_create(fs, channels as c_int, &mut error) };
        check(op, error)?;
        let state = NonNull::new(state).ok_or(OpusError::Library { op, code: -7 })?;
        Ok(Decoder {
            state,
            channels: channels as usize,
        })
    }

    /// Decodes `packet` into `out` and returns the samples written per channel.
    ///
    /// An empty `packet` asks for concealment of one lost frame of `out`'s length. With `fec`
    /// set, the frame *before* `packet` is rebuilt from the redundancy inside it, for exactly
    /// `out`'s length (or concealed if it carries none).
    pub fn decode(
        &mut self,
        packet: &[u8],
        out: &mut [i16],
        fec: bool,
    ) -> Result<usize, OpusError> {
        let op = "opus_decode";
        let len = i32::try_from(packet.len()).map_err(|_| OpusError::InvalidArgument {
            op,
            reason: "packet too long".into(),
        })?;
        let frame = c_int::try_from(out.len() / self.channels).unwrap_or(c_int::MAX);
        let data = if packet.is_empty() {
            std::ptr::null()
        } else {
            packet.as_ptr()
        };
        // SAFETY: `packet` holds `len` bytes (or is null with len 0, libopus's "lost" signal)
        // and `out` holds at least `frame * channels` samples; libopus writes no more.
        let n = unsafe {
            ffi::opus_decode(
                self.state.as_ptr(),
                data,
                len,
                out.as_mut_ptr(),
                frame,
                c_int::from(fec),
            )
        };
        // A non-negative c_int always fits a usize on the platforms libopus supports.
        check(op, n).map(|n| n as usize)
    }

    /// Rebuilds one lost frame from DRED data that [`Dred::parse`] took out of a later packet.
    /// `offset` is how many samples (at this decoder's rate) before the start of that packet
    /// the lost frame *starts*; `out`'s length is the frame. Frames must be rebuilt oldest
    /// first, as they would have been decoded, and the carrying packet decoded normally after.
    pub fn decode_dred(
        &mut self,
        dred: &Dred,
        offset: usize,
        out: &mut [i16],
    ) -> Result<usize, OpusError> {
        let op = "opus_decoder_dred_decode";
        let frame =
            i32::try_from(out.len() / self.channels).map_err(|_| OpusError::InvalidArgument {
                op,
                reason: "output too long".into(),
            })?;
        let offset = i32::try_from(offset).map_err(|_| OpusError::InvalidArgument {
            op,
            reason: "offset too large".into(),
        })?;
        // SAFETY: `dred` was filled by opus_dred_parse (or is freshly allocated and empty,
        // which libopus treats as "no DRED" and conceals); `out` holds `frame * channels`
        // samples and libopus writes no more.
        let n = unsafe {
            ffi::opus_decoder_dred_decode(
                self.state.as_ptr(),
                dred.as_ptr(),
                offset,
                out.as_mut_ptr(),
                frame,
            )
        };
        check(op, n).map(|n| n as usize)
    }

    /// Sets the decoder's complexity, 0 to 10. libopus 1.5+ turns on deep PLC from 5 and OSCE
    /// speech enhancement from 6 (LACE) and 7 (NoLACE) when those were compiled in.
    pub fn set_complexity(&mut self, complexity: i32) -> Result<(), OpusError> {
        // SAFETY: OPUS_SET_COMPLEXITY takes one opus_int32.
        let ret = unsafe {
            ffi::opus_decoder_ctl(
                self.state.as_ptr(),
                ffi::OPUS_SET_COMPLEXITY_REQUEST,
                complexity,
            )
        };
        check("OPUS_SET_COMPLEXITY(decoder)", ret).map(drop)
    }

    /// The decoder's complexity in force.
    pub fn complexity(&mut self) -> Result<i32, OpusError> {
        let mut value: i32 = 0;
        // SAFETY: OPUS_GET_COMPLEXITY takes one opus_int32 out-pointer.
        let ret = unsafe {
            ffi::opus_decoder_ctl(
                self.state.as_ptr(),
                ffi::OPUS_GET_COMPLEXITY_REQUEST,
                &mut value as *mut i32,
            )
        };
        check("OPUS_GET_COMPLEXITY(decoder)", ret).map(|_| value)
    }

    /// Forgets all decoder history, as for a new stream.
    pub fn reset_state(&mut self) -> Result<(), OpusError> {
        // SAFETY: OPUS_RESET_STATE takes no argument.
        let ret = unsafe { ffi::opus_decoder_ctl(self.state.as_ptr(), ffi::OPUS_RESET_STATE) };
        check("OPUS_RESET_STATE", ret).map(drop)
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: the state came from opus_decoder_create and is freed exactly once, here.
        unsafe { ffi::opus_decoder_destroy(self.state.as_ptr()) }
    }
}
