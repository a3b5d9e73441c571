//! The raw C declarations of the libopus functions and constants this crate wraps. Nothing else
//! in the crate calls C; the safe types in [`crate::encoder`] and [`crate::decoder`] own every
//! pointer declared here.

use std::ffi::{c_char, c_int};

/// Opaque libopus encoder state.
#[derive(Debug)]
#[repr(C)]
pub struct OpusEncoder {
    _private: [u8; 0],
}

/// Opaque libopus decoder state.
#[derive(Debug)]
#[repr(C)]
pub struct OpusDecoder {
    _private: [u8; 0],
}

/// Opaque DRED decoder state: the neural model that turns a packet's DRED bits into features.
#[derive(Debug)]
#[repr(C)]
pub struct OpusDREDDecoder {
    _private: [u8; 0],
}

/// Opaque DRED data parsed out of one packet, ready for `opus_decoder_dred_decode`.
#[derive(Debug)]
#[repr(C)]
pub struct OpusDRED {
    _private: [u8; 0],
}

pub const OPUS_OK: c_int = 0;

pub const OPUS_APPLICATION_VOIP: c_int = 2048;
pub const OPUS_APPLICATION_AUDIO: c_int = 2049;
pub const OPUS_APPLICATION_RESTRICTED_LOWDELAY: c_int = 2051;
pub const OPUS_SIGNAL_VOICE: c_int = 3001;
pub const OPUS_SIGNAL_MUSIC: c_int = 3002;
pub const OPUS_AUTO: c_int = -1000;

pub const OPUS_SET_BITRATE_REQUEST: c_int = 4002;
pub const OPUS_GET_BITRATE_REQUEST: c_int = 4003;
pub const OPUS_SET_COMPLEXITY_REQUEST: c_int = 4010;
pub const OPUS_GET_COMPLEXITY_REQUEST: c_int = 4011;
pub const OPUS_SET_INBAND_FEC_REQUEST: c_int = 4012;
pub const OPUS_SET_PACKET_LOSS_PERC_REQUEST: c_int = 4014;
pub const OPUS_SET_DTX_REQUEST: c_int = 4016;
pub const OPUS_SET_SIGNAL_REQUEST: c_int = 4024;
pub const OPUS_GET_LOOKAHEAD_REQUEST: c_int = 4027;
pub const OPUS_RESET_STATE: c_int = 4028;
pub const OPUS_GET_IN_DTX_REQUEST: c_int = 4049;
pub const OPUS_SET_DRED_DURATION_REQUEST: c_int = 4050;
pub const OPUS_GET_DRED_DURATION_REQUEST: c_int = 4051;

extern "C" {
    pub fn opus_encoder_create(
        fs: i32,
        channels: c_int,
        application: c_int,
        error: *mut c_int,
    ) -> *mut OpusEncoder;
    pub fn opus_encoder_destroy(st: *mut OpusEncoder);
    pub fn opus_encode(
        st: *mut OpusEncoder,
        pcm: *const i16,
        frame_size: c_int,
        data: *mut u8,
        max_data_bytes: i32,
    ) -> i32;
    pub fn opus_encoder_ctl(st: *mut OpusEncoder, request: c_int, ...) -> c_int;

    pub fn opus_decoder_create(fs: i32, channels: c_int, error: *mut c_int) -> *mut OpusDecoder;
    pub fn opus_decoder_destroy(st: *mut OpusDecoder);
    pub fn opus_decode(
        st: *mut OpusDecoder,
        data: *const u8,
        len: i32,
        pcm: *mut i16,
        frame_size: c_int,
        decode_fec: c_int,
    ) -> c_int;
    pub fn opus_decoder_ctl(st: *mut OpusDecoder, request: c_int, ...) -> c_int;

    // Present in every build; without ENABLE_DRED they return OPUS_UNIMPLEMENTED.
    pub fn opus_dred_decoder_create(error: *mut c_int) -> *mut OpusDREDDecoder;
    pub fn opus_dred_decoder_destroy(dec: *mut OpusDREDDecoder);
    pub fn opus_dred_alloc(error: *mut c_int) -> *mut OpusDRED;
    pub fn opus_dred_free(dred: *mut OpusDRED);
    pub fn opus_dred_parse(
        dred_dec: *mut OpusDREDDecoder,
        dred: *mut OpusDRED,
        data: *const u8,
        len: i32,
        max_dred_samples: i32,
        sampling_rate: i32,
        dred_end: *mut c_int,
        defer_processing: c_int,
    ) -> c_int;
    pub fn opus_decoder_dred_decode(
        st: *mut OpusDecoder,
        dred: *const OpusDRED,
        dred_offset: i32,
        pcm: *mut i16,
        frame_size: i32,
    ) -> c_int;

    pub fn opus_strerror(error: c_int) -> *const c_char;
    pub fn opus_get_version_string() -> *const c_char;
}
