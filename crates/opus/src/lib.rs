//! libopus for ringwire: the library built from vendored source with the `cc` crate (see
//! `build.rs`; no cmake), and a small safe API over the calls ringwire makes — an encoder and a
//! decoder for 16-bit PCM, their controls, and the library version.
//!
//! This is the one crate in the workspace with `unsafe` code, and only to call C: each type owns
//! its libopus state, frees it on drop, and checks every length before handing a buffer to C.
//! Both types are `Send` (libopus state has no thread affinity) but not `Sync`.
//!
//! Cargo features `deep-plc`, `dred` and `osce` compile libopus 1.5+'s neural concealment,
//! redundancy and enhancement (with their weights) into the library.
//!
//! `libopus/` is libopus 1.6.1 as Xiph releases it (BSD-3-Clause, `libopus/COPYING`), less its
//! tests, documentation, build systems and the OSCE bandwidth-extension weights. To update it,
//! replace the directory with a new release's `include`, `celt`, `silk`, `src`, `dnn` and
//! `*_sources.mk`: `build.rs` reads the source lists from those files.
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_debug_implementations, missing_docs)]

mod decoder;
mod dred;
mod encoder;
mod error;
#[allow(missing_docs)]
pub mod ffi;
mod packet;

pub use decoder::Decoder;
pub use dred::{Dred, DredHistory};
pub use encoder::{Application, Encoder, Signal};
pub use error::OpusError;
pub use packet::{code3_header, strip_padding, Code3};

use std::ffi::CStr;

/// The number of channels of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channels {
    /// One channel.
    Mono = 1,
    /// Two interleaved channels.
    Stereo = 2,
}

/// Whether this build carries DRED (the `dred` feature): [`Dred::new`] and a non-zero
/// [`Encoder::set_dred_duration`] fail without it.
pub const DRED: bool = cfg!(feature = "dred");

/// Whether this build carries deep PLC (the `deep-plc` feature, implied by `dred` and `osce`):
/// without it a decoder's complexity changes nothing about concealment.
pub const DEEP_PLC: bool = cfg!(feature = "deep-plc");

/// Whether this build carries OSCE speech enhancement (the `osce` feature).
pub const OSCE: bool = cfg!(feature = "osce");

/// The sample rates libopus accepts for PCM in and out.
pub const SAMPLE_RATES: [u32; 5] = [8_000, 12_000, 16_000, 24_000, 48_000];

/// The libopus version string, e.g. `libopus 1.6.1`.
pub fn version() -> String {
    // SAFETY: opus_get_version_string returns a pointer to a static NUL-terminated string.
    let text = unsafe { CStr::from_ptr(ffi::opus_get_version_string()) };
    text.to_string_lossy().into_owned()
}

fn check_rate(op: &'static str, rate: u32) -> Result<i32, OpusError> {
    if SAMPLE_RATES.contains(&rate) {
        // The listed rates all fit an i32.
        Ok(rate as i32)
    } else {
        Err(OpusError::InvalidArgument {
            op,
            reason: format!("sample rate {rate} Hz is not one of {SAMPLE_RATES:?}"),
        })
    }
}

#[cfg(test)]
mod tests;
