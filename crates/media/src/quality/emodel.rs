//! The ITU-T G.107 E-model (06/2015 text), narrowband R scale: the transmission rating R from
//! delay, packet loss and codec impairment, and the MOS it maps to (Annex B).
//!
//! Only delay, loss and the codec vary; every other G.107 parameter (loudness ratings, noise,
//! sidetone, echo loss, quantising distortion, advantage factor) stays at its Table 1 default,
//! which gives the well-known R = 93.2 for a perfect connection. Following G.107's simplified
//! use for a connection without echo problems, the mean one-way delay `Ta` also stands for the
//! talker-echo delay `T` and half the listener-echo round trip, `Tr = 2·Ta`. With the default
//! echo losses (TELR 65 dB, WEPL 110 dB) the echo terms stay small but not zero.
//!
//! Formulas are G.107 §7 (equations 7-1 to 7-31); each function names its equation.

/// G.107 Table 1 defaults that this model keeps fixed.
mod defaults {
    /// Send loudness rating, dB.
    pub const SLR: f64 = 8.0;
    /// Receive loudness rating, dB.
    pub const RLR: f64 = 2.0;
    /// Sidetone masking rating, dB.
    pub const STMR: f64 = 15.0;
    /// Listener sidetone rating, dB.
    pub const LSTR: f64 = 18.0;
    /// D-value of the telephone, send side.
    pub const DS: f64 = 3.0;
    /// Talker echo loudness rating, dB.
    pub const TELR: f64 = 65.0;
    /// Weighted echo path loss, dB.
    pub const WEPL: f64 = 110.0;
    /// Number of quantisation distortion units.
    pub const QDU: f64 = 1.0;
    /// Circuit noise referred to the 0 dBr point, dBm0p.
    pub const NC: f64 = -70.0;
    /// Noise floor at the receive side, dBmp.
    pub const NFOR: f64 = -64.0;
    /// Room noise at the send side, dB(A).
    pub const PS: f64 = 35.0;
    /// Room noise at the receive side, dB(A).
    pub const PR: f64 = 35.0;
    /// Advantage factor.
    pub const A: f64 = 0.0;
}

/// What varies between calls: delay, loss and the codec's impairment figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EModelInput {
    /// Mean one-way delay `Ta`, mouth to ear, ms.
    pub one_way_delay_ms: f64,
    /// Packet loss `Ppl`, percent (0-100).
    pub packet_loss_pct: f64,
    /// Burst ratio `BurstR`: 1.0 for random loss, above 1 for bursty loss.
    pub burst_ratio: f64,
    /// The codec's equipment impairment factor `Ie` at zero loss.
    pub ie: f64,
    /// The codec's packet-loss robustness factor `Bpl`.
    pub bpl: f64,
}

impl Default for EModelInput {
    /// G.107's defaults: no delay, no loss, `Ie` = 0 and `Bpl` = 4.3 (G.711 without PLC).
    fn default() -> Self {
        EModelInput {
            one_way_delay_ms: 0.0,
            packet_loss_pct: 0.0,
            burst_ratio: 1.0,
            ie: 0.0,
            bpl: 4.3,
        }
    }
}

/// A codec's impairment figures on the narrowband E-model scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CodecImpairment {
    /// Equipment impairment factor at zero loss.
    pub ie: f64,
    /// Packet-loss robustness factor.
    pub bpl: f64,
}

/// Opus (SILK/hybrid, 16 kHz or wider) with its own PLC and no FEC.
///
/// These are **our assumptions, not ITU-published values**: G.113 Appendix I tabulates `Ie`/`Bpl`
/// for G.711, G.729, AMR and others, not for Opus. `Ie` = 0: on this narrowband scale Opus at
/// 24-40 kb/s is at least as good as G.711 (`Ie` = 0), and crediting wideband speech above it
/// would need G.107.1's wideband scale. `Bpl` = 20: between G.729A+VAD (19) and G.711 with
/// PLC (25.1) in G.113 Appendix I, since SILK's PLC is comparable to those (and, unlike G.711
/// PLC, continues LPC/pitch state).
pub const OPUS_PLC: CodecImpairment = CodecImpairment { ie: 0.0, bpl: 20.0 };

/// Opus with in-band FEC sized for the measured loss (this crate's default sender).
///
/// Also an assumption: with FEC, an isolated loss is mostly replaced by a lower-rate copy rather
/// than concealed, so quality falls more slowly with *network* loss. `Bpl` = 30 models that as
/// roughly halving the impairment of light random loss relative to [`OPUS_PLC`]. It is not
/// calibrated against listening tests; treat MOS differences of a few tenths as noise.
pub const OPUS_FEC: CodecImpairment = CodecImpairment { ie: 0.0, bpl: 30.0 };

/// The transmission rating R (0-100 in practice; 93.2 for G.107's default connection).
pub fn r_factor(input: &EModelInput) -> f64 {
    let ta = sanitize(input.one_way_delay_ms, 0.0, 10_000.0);
    let base = Basic::new(ta);
    base.ro - base.is - delay_impairment(ta) - ie_eff(input) + defaults::A
}

/// MOS (conversational, 1-4.5) from R, G.107 Annex B (B-4): 1 below R = 0, 4.5 above 100.
pub fn mos_from_r(r: f64) -> f64 {
    if r.is_nan() || r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7.0e-6
    }
}

/// Effective equipment impairment `Ie-eff` (7-29): `Ie + (95 - Ie) · Ppl / (Ppl/BurstR + Bpl)`.
pub fn ie_eff(input: &EModelInput) -> f64 {
    let ie = sanitize(input.ie, 0.0, 95.0);
    let ppl = sanitize(input.packet_loss_pct, 0.0, 100.0);
    let burst = sanitize(input.burst_ratio, 1.0, 100.0);
    // A zero Bpl with zero loss would divide 0 by 0; G.113 never lists one below 1.
    let bpl = sanitize(input.bpl, 1.0, 1000.0);
    ie + (95.0 - ie) * ppl / (ppl / burst + bpl)
}

/// The delay impairment `Id = Idte + Idle + Idd` (7-18) for `Ta = T = Tr/2`.
pub fn delay_impairment(ta_ms: f64) -> f64 {
    let ta = sanitize(ta_ms, 0.0, 10_000.0);
    let base = Basic::new(ta);
    talker_echo(&base, ta) + listener_echo(&base, 2.0 * ta) + idd(ta)
}

/// Impairment by pure delay `Idd` (7-27, 7-28): 0 up to 100 ms, then
/// `25 · ((1 + X⁶)^⅙ − 3 (1 + (X/3)⁶)^⅙ + 2)` with `X = log2(Ta / 100)`.
pub fn idd(ta_ms: f64) -> f64 {
    if ta_ms.is_nan() || ta_ms <= 100.0 {
        return 0.0;
    }
    let x = (ta_ms / 100.0).log2();
    25.0 * ((1.0 + x.powi(6)).powf(1.0 / 6.0) - 3.0 * (1.0 + (x / 3.0).powi(6)).powf(1.0 / 6.0)
        + 2.0)
}

/// Clamps to a range; NaN becomes the low end (garbage in must not make R NaN).
fn sanitize(v: f64, lo: f64, hi: f64) -> f64 {
    if v.is_nan() {
        lo
    } else {
        v.clamp(lo, hi)
    }
}

fn lg(x: f64) -> f64 {
    x.log10()
}

/// The delay-independent part of the model at the default parameters: basic signal-to-noise
/// ratio `Ro`, simultaneous impairments `Is`, and the noise terms the echo formulas reuse.
struct Basic {
    ro: f64,
    is: f64,
    no: f64,
}

impl Basic {
    /// `t`: the talker-echo delay, which enters `Is` only through `STMRo` (and negligibly).
    fn new(t: f64) -> Self {
        use defaults::*;
        let olr = SLR + RLR;
        // (7-4) to (7-7): noise sources summed into No.
        let nos = PS - SLR - DS - 100.0 + 0.004 * (PS - olr - DS - 14.0).powi(2);
        let pre = PR + 10.0 * lg(1.0 + 10f64.powf((10.0 - LSTR) / 10.0));
        let nor = RLR - 121.0 + pre + 0.008 * (pre - 35.0).powi(2);
        let nfo = NFOR + RLR;
        let no = 10.0
            * lg(10f64.powf(NC / 10.0)
                + 10f64.powf(nos / 10.0)
                + 10f64.powf(nor / 10.0)
                + 10f64.powf(nfo / 10.0));
        // (7-2)
        let ro = 15.0 - 1.5 * (SLR + no);
        // (7-9), (7-10): loudness.
        let xolr = olr + 0.2 * (64.0 + no - RLR);
        let iolr = 20.0 * ((1.0 + (xolr / 8.0).powi(8)).powf(1.0 / 8.0) - xolr / 8.0);
        // (7-11), (7-12): sidetone.
        let stmro =
            -10.0 * lg(10f64.powf(-STMR / 10.0) + (-t / 4.0).exp() * 10f64.powf(-TELR / 10.0));
        let ist = 12.0 * (1.0 + ((stmro - 13.0) / 6.0).powi(8)).powf(1.0 / 8.0)
            - 28.0 * (1.0 + ((stmro + 1.0) / 19.4).powi(35)).powf(1.0 / 35.0)
            - 13.0 * (1.0 + ((stmro - 3.0) / 33.0).powi(13)).powf(1.0 / 13.0)
            + 29.0;
        // (7-13) to (7-16): quantising distortion.
        let q = 37.0 - 15.0 * lg(QDU);
        let g = 1.07 + 0.258 * q + 0.0602 * q * q;
        let y = (ro - 100.0) / 15.0 + 46.0 / 8.4 - g / 9.0;
        let z = 46.0 / 30.0 - g / 40.0;
        let iq = 15.0 * lg(1.0 + 10f64.powf(y) + 10f64.powf(z));
        Basic {
            ro,
            is: iolr + ist + iq,
            no,
        }
    }
}

/// Talker echo `Idte` (7-19 to 7-22) for echo delay `t` ms. STMR = 15 ≥ 9, so (7-23) does not
/// apply.
fn talker_echo(base: &Basic, t: f64) -> f64 {
    use defaults::*;
    let roe = -1.5 * (base.no - RLR);
    let terv = TELR - 40.0 * lg((1.0 + t / 10.0) / (1.0 + t / 150.0)) + 6.0 * (-0.3 * t * t).exp();
    let re = 80.0 + 2.5 * (terv - 14.0);
    let d = roe - re;
    (d / 2.0 + (d * d / 4.0 + 100.0).sqrt() - 1.0) * (1.0 - (-t).exp())
}

/// Listener echo `Idle` (7-25, 7-26) for the round-trip `tr` ms.
fn listener_echo(base: &Basic, tr: f64) -> f64 {
    use defaults::*;
    let rle = 10.5 * (WEPL + 7.0) * (tr + 1.0).powf(-0.25);
    let d = base.ro - rle;
    d / 2.0 + (d * d / 4.0 + 169.0).sqrt()
}

#[cfg(test)]
#[path = "emodel_tests.rs"]
mod tests;
