//! [`Dred`]: the DRED (Deep REDundancy) carried by one received packet, parsed and ready to
//! rebuild frames lost before it with [`crate::Decoder::decode_dred`].
//!
//! A DRED-enabled encoder puts up to a second of very-low-bitrate speech history into each
//! packet's padding extension; a decoder that does not know it ignores it. Parsing runs the
//! neural decoder of that history (hundreds of microseconds), so a receiver parses a packet
//! once per loss episode, not once per lost frame.

use std::ffi::c_int;
use std::ptr::NonNull;

use crate::error::{check, OpusError};
use crate::{check_rate, ffi};

/// A DRED model and the history parsed out of the last packet given to [`Dred::parse`].
#[derive(Debug)]
pub struct Dred {
    decoder: NonNull<ffi::OpusDREDDecoder>,
    data: NonNull<ffi::OpusDRED>,
}

// SAFETY: both states are plain memory with no thread affinity; `&mut self` on every call
// that writes them keeps two threads from using them at once.
unsafe impl Send for Dred {}

/// What [`Dred::parse`] found in a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DredHistory {
    /// How far back from the start of the packet its redundancy reaches, in samples at the
    /// rate given to `parse`. 0: the packet carries no DRED.
    pub reach: usize,
    /// Samples at the near end of that history that the encoder did not code (its own silence
    /// or lookahead): frames that start there are not worth rebuilding.
    pub silent_end: usize,
}

impl Dred {
    /// Loads the DRED model. Fails with `OPUS_UNIMPLEMENTED` when libopus was built without the
    /// `dred` feature.
    pub fn new() -> Result<Self, OpusError> {
        let mut error: c_int = 0;
        // SAFETY: `error` is a valid out-pointer.
        let decoder = unsafe { ffi::opus_dred_decoder_create(&mut error) };
        check("opus_dred_decoder_create", error)?;
        let decoder = NonNull::new(decoder).ok_or(OpusError::Library {
            op: "opus_dred_decoder_create",
            code: -7,
        })?;
        let mut error: c_int = 0;
        // SAFETY: `error` is a valid out-pointer.
        let data = unsafe { ffi::opus_dred_alloc(&mut error) };
        let data = match (check("opus_dred_alloc", error), NonNull::new(data)) {
            (Ok(_), Some(data)) => data,
            (result, data) => {
                // SAFETY: freed once, here, on the failure path (free of null is a no-op).
                unsafe {
                    ffi::opus_dred_decoder_destroy(decoder.as_ptr());
                    if let Some(d) = data {
                        ffi::opus_dred_free(d.as_ptr());
                    }
                }
                result?;
                return Err(OpusError::Library {
                    op: "opus_dred_alloc",
                    code: -7,
                });
            }
        };
        Ok(Dred { decoder, data })
    }

    /// Parses the DRED of `packet`, decoding at most `max_samples` (at `rate` Hz) of history:
    /// ask for no more than the frames actually lost, since decoding costs in proportion.
    /// Returns how far the history reaches; an error for a malformed extension.
    pub fn parse(
        &mut self,
        packet: &[u8],
        max_samples: usize,
        rate: u32,
    ) -> Result<DredHistory, OpusError> {
        let op = "opus_dred_parse";
        let fs = check_rate(op, rate)?;
        let len = i32::try_from(packet.len()).map_err(|_| OpusError::InvalidArgument {
            op,
            reason: "packet too long".into(),
        })?;
        let max = i32::try_from(max_samples).unwrap_or(i32::MAX);
        let mut end: c_int = 0;
        if packet.is_empty() {
            return Ok(DredHistory {
                reach: 0,
                silent_end: 0,
            });
        }
        // SAFETY: `packet` holds `len` bytes; both states are valid; `end` is a valid
        // out-pointer. libopus reads no more than `len` bytes.
        let ret = unsafe {
            ffi::opus_dred_parse(
                self.decoder.as_ptr(),
                self.data.as_ptr(),
                packet.as_ptr(),
                len,
                max,
                fs,
                &mut end,
                0,
            )
        };
        let reach = check(op, ret)?;
        Ok(DredHistory {
            reach: reach as usize,
            silent_end: end.max(0) as usize,
        })
    }

    pub(crate) fn as_ptr(&self) -> *const ffi::OpusDRED {
        self.data.as_ptr()
    }
}

impl Drop for Dred {
    fn drop(&mut self) {
        // SAFETY: both came from their create/alloc calls and are freed exactly once, here.
        unsafe {
            ffi::opus_dred_free(self.data.as_ptr());
            ffi::opus_dred_decoder_destroy(self.decoder.as_ptr());
        }
    }
}
