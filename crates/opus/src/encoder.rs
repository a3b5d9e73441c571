//! [`Encoder`]: an owned libopus encoder and the controls ringwire sets on it.

use std::ffi::c_int;
use std::ptr::NonNull;

use crate::error::{check, OpusError};
use crate::{check_rate, ffi, Channels};

/// What the encoder is tuned for (`OPUS_APPLICATION_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Application {
    /// Speech: favours intelligibility, enables SILK.
    Voip,
    /// Music and general audio.
    Audio,
    /// Lowest delay: CELT only.
    RestrictedLowDelay,
}

/// A hint about the input (`OPUS_SIGNAL_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Let libopus decide.
    Auto,
    /// Speech.
    Voice,
    /// Music.
    Music,
}

/// An Opus encoder producing packets from 16-bit interleaved PCM.
#[derive(Debug)]
pub struct Encoder {
    state: NonNull<ffi::OpusEncoder>,
    channels: usize,
}

// SAFETY: libopus encoder state is plain memory with no thread affinity; `&mut self` on every
// call keeps it from being used by two threads at once.
unsafe impl Send for Encoder {}

impl Encoder {
    /// Creates an encoder for `rate` Hz (8, 12, 16, 24 or 48 kHz) PCM.
    pub fn new(rate: u32, channels: Channels, application: Application) -> Result<Self, OpusError> {
        let op = "opus_encoder_create";
        let fs = check_rate(op, rate)?;
        let application = match application {
            Application::Voip => ffi::OPUS_APPLICATION_VOIP,
            Application::Audio => ffi::OPUS_APPLICATION_AUDIO,
            Application::RestrictedLowDelay => ffi::OPUS_APPLICATION_RESTRICTED_LOWDELAY,
        };
        let mut error: c_int = 0;
        // SAFETY: valid arguments checked above; `error` is a valid out-pointer.
        let state =
            unsafe { ffi::opus_encoder_create(fs, channels as c_int, application, &mut error) };
        check(op, error)?;
        let state = NonNull::new(state).ok_or(OpusError::Library { op, code: -7 })?;
        Ok(Encoder {
            state,
            channels: channels as usize,
        })
    }

    /// Encodes one frame of interleaved PCM (2.5 to 120 ms of samples per channel) into `out`
    /// and returns the packet length in bytes.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, OpusError> {
        let op = "opus_encode";
        if pcm.len() % self.channels != 0 {
            return Err(OpusError::InvalidArgument {
                op,
                reason: format!(
                    "{} samples do not divide into {} channels",
                    pcm.len(),
                    self.channels
                ),
            });
        }
        let frame =
            c_int::try_from(pcm.len() / self.channels).map_err(|_| OpusError::InvalidArgument {
                op,
                reason: "frame too long".into(),
            })?;
        let max = i32::try_from(out.len()).unwrap_or(i32::MAX);
        // SAFETY: `pcm` holds `frame * channels` samples and `out` holds `max` bytes; libopus
        // reads and writes no more than that.
        let n = unsafe {
            ffi::opus_encode(
                self.state.as_ptr(),
                pcm.as_ptr(),
                frame,
                out.as_mut_ptr(),
                max,
            )
        };
        // A non-negative i32 always fits a usize on the platforms libopus supports.
        check(op, n).map(|n| n as usize)
    }

    /// Sets the target bitrate in bits per second (500 to 512 000).
    pub fn set_bitrate(&mut self, bps: i32) -> Result<(), OpusError> {
        self.set("OPUS_SET_BITRATE", ffi::OPUS_SET_BITRATE_REQUEST, bps)
    }

    /// The bitrate in force, in bits per second.
    pub fn bitrate(&mut self) -> Result<i32, OpusError> {
        self.get("OPUS_GET_BITRATE", ffi::OPUS_GET_BITRATE_REQUEST)
    }

    /// Sets the computational complexity, 0 (cheapest) to 10.
    pub fn set_complexity(&mut self, complexity: i32) -> Result<(), OpusError> {
        self.set(
            "OPUS_SET_COMPLEXITY",
            ffi::OPUS_SET_COMPLEXITY_REQUEST,
            complexity,
        )
    }

    /// Turns in-band forward error correction (SILK LBRR) on or off.
    pub fn set_inband_fec(&mut self, on: bool) -> Result<(), OpusError> {
        self.set(
            "OPUS_SET_INBAND_FEC",
            ffi::OPUS_SET_INBAND_FEC_REQUEST,
            i32::from(on),
        )
    }

    /// Sets the expected packet loss, 0 to 100 %.
    pub fn set_packet_loss_perc(&mut self, pct: i32) -> Result<(), OpusError> {
        self.set(
            "OPUS_SET_PACKET_LOSS_PERC",
            ffi::OPUS_SET_PACKET_LOSS_PERC_REQUEST,
            pct,
        )
    }

    /// Turns discontinuous transmission on or off.
    pub fn set_dtx(&mut self, on: bool) -> Result<(), OpusError> {
        self.set("OPUS_SET_DTX", ffi::OPUS_SET_DTX_REQUEST, i32::from(on))
    }

    /// Sets the signal-type hint.
    pub fn set_signal(&mut self, signal: Signal) -> Result<(), OpusError> {
        let value = match signal {
            Signal::Auto => ffi::OPUS_AUTO,
            Signal::Voice => ffi::OPUS_SIGNAL_VOICE,
            Signal::Music => ffi::OPUS_SIGNAL_MUSIC,
        };
        self.set("OPUS_SET_SIGNAL", ffi::OPUS_SET_SIGNAL_REQUEST, value)
    }

    /// Sets how much history each packet carries as DRED (Deep REDundancy), in 10 ms units,
    /// 0 (off) to 100 (one second). The bits come out of the bitrate, in proportion to the
    /// expected loss ([`Self::set_packet_loss_perc`]). Without the `dred` feature libopus
    /// refuses any value but 0.
    pub fn set_dred_duration(&mut self, tens_of_ms: i32) -> Result<(), OpusError> {
        self.set(
            "OPUS_SET_DRED_DURATION",
            ffi::OPUS_SET_DRED_DURATION_REQUEST,
            tens_of_ms,
        )
    }

    /// The DRED duration in force, in 10 ms units.
    pub fn dred_duration(&mut self) -> Result<i32, OpusError> {
        self.get(
            "OPUS_GET_DRED_DURATION",
            ffi::OPUS_GET_DRED_DURATION_REQUEST,
        )
    }

    /// Samples (per channel, at the encoder's rate) of lookahead the encoder adds.
    pub fn lookahead(&mut self) -> Result<i32, OpusError> {
        self.get("OPUS_GET_LOOKAHEAD", ffi::OPUS_GET_LOOKAHEAD_REQUEST)
    }

    /// Whether the last frame was encoded as DTX.
    pub fn in_dtx(&mut self) -> Result<bool, OpusError> {
        self.get("OPUS_GET_IN_DTX", ffi::OPUS_GET_IN_DTX_REQUEST)
            .map(|v| v != 0)
    }

    fn set(&mut self, op: &'static str, request: c_int, value: i32) -> Result<(), OpusError> {
        // SAFETY: every OPUS_SET_* request this crate sends takes one opus_int32 argument.
        let ret = unsafe { ffi::opus_encoder_ctl(self.state.as_ptr(), request, value) };
        check(op, ret).map(drop)
    }

    fn get(&mut self, op: &'static str, request: c_int) -> Result<i32, OpusError> {
        let mut value: i32 = 0;
        // SAFETY: every OPUS_GET_* request this crate sends takes one opus_int32 out-pointer.
        let ret =
            unsafe { ffi::opus_encoder_ctl(self.state.as_ptr(), request, &mut value as *mut i32) };
        check(op, ret).map(|_| value)
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: the state came from opus_encoder_create and is freed exactly once, here.
        unsafe { ffi::opus_encoder_destroy(self.state.as_ptr()) }
    }
}
