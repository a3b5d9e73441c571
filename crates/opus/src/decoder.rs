//! [`Decoder`]: an owned libopus decoder — normal decoding, FEC recovery and concealment.

use std::ffi::c_int;
use std::ptr::NonNull;

use crate::error::{check, OpusError};
use crate::{check_rate, ffi, Channels};

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
