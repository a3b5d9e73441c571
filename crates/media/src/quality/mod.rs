//! Call quality: the ITU-T G.107 E-model ([`r_factor`], [`mos_from_r`]) and the per-call
//! estimate the engine reports ([`CallQuality`]), built from what RTCP and the receiver measure.
//!
//! The estimate is a planning-model MOS, not a perceptual measurement: it says how a typical
//! listener would rate a connection with this delay and loss, assuming the codec figures in
//! [`OPUS_FEC`]. Use it to compare calls and spot trends, not as a score of one conversation.

mod emodel;

pub use emodel::{
    delay_impairment, idd, ie_eff, mos_from_r, r_factor, CodecImpairment, EModelInput, OPUS_FEC,
    OPUS_PLC,
};

use serde::Serialize;

/// Opus lookahead in VOIP mode: 312 samples at 48 kHz (what `OPUS_GET_LOOKAHEAD` reports).
pub const OPUS_LOOKAHEAD_MS: f64 = 6.5;

/// What the engine knows about a call at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QualityInputs {
    /// Round-trip time from RTCP, ms; `None` before the first report.
    pub rtt_ms: Option<f64>,
    /// Network packet loss from RTCP, percent (0-100).
    pub loss_pct: f64,
    /// RFC 3550 interarrival jitter, ms.
    pub jitter_ms: f64,
    /// The jitter buffer's current playout delay, ms.
    pub jitter_buffer_ms: f64,
    /// Share of played frames that were concealed (0-1), from the receiver.
    pub concealment_ratio: f64,
    /// Audio per packet, ms (10 or 20).
    pub frame_ms: f64,
}

/// A quality snapshot for the app and for logs/metrics.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CallQuality {
    /// Round-trip time, ms, when known.
    pub rtt_ms: Option<f64>,
    /// Network packet loss, percent.
    pub loss_pct: f64,
    /// Interarrival jitter, ms.
    pub jitter_ms: f64,
    /// Jitter buffer delay, ms.
    pub jitter_buffer_ms: f64,
    /// Share of played frames concealed, 0-1.
    pub concealment_ratio: f64,
    /// E-model transmission rating.
    pub r_factor: f64,
    /// MOS (1-4.5) from `r_factor`.
    pub mos: f64,
    /// Where the frames played so far came from: decoded, LBRR, RED, DRED, deep or classic
    /// PLC. [`CallQuality::estimate`] leaves it empty; the call's receiver fills it in.
    pub sources: crate::FrameSources,
}

impl CallQuality {
    /// Estimates R and MOS from the inputs:
    ///
    /// * one-way delay = RTT/2 (0 while unknown) + jitter buffer + Opus algorithmic delay (one
    ///   frame + 6.5 ms lookahead: 26.5 ms at 20 ms) + one frame of packetization (the sender
    ///   must capture a whole frame before it can send it);
    /// * effective loss = the larger of network loss and concealment ratio × 100: network loss
    ///   that FEC repaired still counts (the copy is coarser), and concealment without network
    ///   loss (late packets, buffer growth) is heard just the same;
    /// * the codec is Opus with FEC ([`OPUS_FEC`]), random loss (`BurstR` = 1).
    ///
    /// Non-finite or negative inputs are treated as 0 so a bad report cannot produce NaN.
    pub fn estimate(inputs: &QualityInputs) -> CallQuality {
        let clean = |v: f64| if v.is_finite() { v.max(0.0) } else { 0.0 };
        let rtt_ms = inputs.rtt_ms.filter(|r| r.is_finite() && *r >= 0.0);
        let loss_pct = clean(inputs.loss_pct).min(100.0);
        let concealment_ratio = clean(inputs.concealment_ratio).min(1.0);
        let jitter_buffer_ms = clean(inputs.jitter_buffer_ms);
        let frame_ms = clean(inputs.frame_ms);
        let one_way = rtt_ms.map_or(0.0, |r| r / 2.0)
            + jitter_buffer_ms
            + (frame_ms + OPUS_LOOKAHEAD_MS)
            + frame_ms;
        let effective_loss = loss_pct.max(concealment_ratio * 100.0);
        let r = r_factor(&EModelInput {
            one_way_delay_ms: one_way,
            packet_loss_pct: effective_loss,
            burst_ratio: 1.0,
            ie: OPUS_FEC.ie,
            bpl: OPUS_FEC.bpl,
        });
        CallQuality {
            rtt_ms,
            loss_pct,
            jitter_ms: clean(inputs.jitter_ms),
            jitter_buffer_ms,
            concealment_ratio,
            r_factor: r,
            mos: mos_from_r(r),
            sources: crate::FrameSources::default(),
        }
    }
}

#[cfg(test)]
mod tests;
