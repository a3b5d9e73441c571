//! The crate's one error type: a libopus error code with the operation that returned it.

use std::ffi::CStr;

use crate::ffi;

/// A libopus call failed. `code` is libopus's (negative) error code; `op` names the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpusError {
    /// libopus returned an error code.
    #[error("{op}: {} (libopus error {code})", describe(*code))]
    Library {
        /// The libopus call or control that failed.
        op: &'static str,
        /// libopus's error code (`OPUS_BAD_ARG` is -1, `OPUS_BUFFER_TOO_SMALL` -2, ...).
        code: i32,
    },
    /// An argument was outside what libopus accepts, caught before calling it.
    #[error("{op}: {reason}")]
    InvalidArgument {
        /// The call that was refused.
        op: &'static str,
        /// What was wrong with the argument.
        reason: String,
    },
}

impl OpusError {
    /// libopus's description of the error, as `opus_strerror` gives it.
    pub fn description(&self) -> String {
        self.to_string()
    }
}

/// libopus's own text for an error code.
pub(crate) fn describe(code: i32) -> String {
    // SAFETY: opus_strerror returns a pointer to a static NUL-terminated string for every
    // input, including unknown codes ("unknown error").
    let text = unsafe { CStr::from_ptr(ffi::opus_strerror(code)) };
    text.to_string_lossy().into_owned()
}

/// Turns a libopus return value into a result: negative is an error.
pub(crate) fn check(op: &'static str, ret: i32) -> Result<i32, OpusError> {
    if ret < 0 {
        Err(OpusError::Library { op, code: ret })
    } else {
        Ok(ret)
    }
}
