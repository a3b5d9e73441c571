//! Bitrate and FEC policy: measured loss and RTT in, encoder settings out. Pure and clock-free;
//! call [`BitratePolicy::update`] once per receiver report (about once a second with RTCP).
//!
//! The reasoning, in order of precedence:
//!
//! 1. **Tell the encoder the loss it will face.** Opus in-band FEC is sized by the expected
//!    loss: at 0 % libopus codes no redundancy at all. The policy feeds a loss estimate that
//!    rises at once when loss appears (the next packets need protection now) and decays slowly
//!    (loss comes in episodes; dropping protection after one clean second invites the next
//!    burst to hurt). It never goes below [`FEC_FLOOR_PCT`], so a call that has seen no loss
//!    still carries a cheap, coarse FEC copy for the first one.
//! 2. **Random loss: spend more bits.** The FEC copy lives inside the same bitrate, so at high
//!    loss it eats into the primary encoding; libopus also narrows the audio bandwidth when the
//!    rate is too low to afford FEC. So as loss grows the target rises from the start bitrate
//!    towards the maximum, reached at [`FULL_BOOST_LOSS_PCT`]. Steps are bounded so one noisy
//!    report cannot swing the rate.
//! 3. **Congestion: spend fewer.** Loss together with a queue building up (RTT well above the
//!    lowest seen) or an RTT that is simply very high means our own traffic may be part of the
//!    problem; adding bits would make it worse. The policy then backs off multiplicatively
//!    towards the minimum and climbs back additively once the queue drains (AIMD, as TCP and
//!    WebRTC's audio network adaptor do). Voice is a few tens of kb/s, so this matters most on
//!    thin uplinks, where it matters a lot.
//! 4. **Loss that is not congestion: send copies.** In-band FEC rebuilds only the one frame
//!    before a packet, and coarsely; a burst of two or three lost packets defeats it. When the
//!    peer accepted RFC 2198 RED, the policy asks for copies of the last frame from
//!    [`RED_ONE_LEVEL_PCT`] loss, of the last two from [`RED_TWO_LEVELS_PCT`] and of the last
//!    three from [`RED_THREE_LEVELS_PCT`] (bursts then run long). Until the first report it
//!    sends one copy, as browsers always do: the start of a call is protected before anything
//!    is known, and a clean path costs one doubled second. The copies
//!    replace the bitrate boost of point 2 (the Opus rate stays at the start rate, so one
//!    level costs one more frame's worth, not more), and the encoder is told the loss that is
//!    left after them (`p^(levels + 1)` for independent loss, never below the floor), so LBRR
//!    stops eating the primary encoding's bits for losses RED already covers. Congestion turns
//!    RED off: copies are extra traffic.
//! 5. **Bursts: send DRED.** RED reaches three frames back; a mobile network loses more than
//!    that in a row (a handover, a fade). From [`DRED_FROM_PCT`] loss, when the build has
//!    libopus's DRED, every packet carries [`DRED_DURATION_10MS`] of very-low-bitrate speech
//!    history that a receiver decodes after a burst of any length up to that. DRED's bits come
//!    out of the Opus bitrate in proportion to the loss the encoder is told, so the encoder is
//!    then told the measured loss (not what is left after RED), and the bitrate is raised by
//!    [`DRED_BOOST_BPS`] so the primary encoding keeps its quality. With RED also in use, LBRR
//!    is switched off: RED's copies repair single losses better, and LBRR would take the bits
//!    DRED needs (libopus sizes DRED far smaller while in-band FEC is on). The sender cannot see
//!    burst lengths (RTCP receiver reports carry only the fraction lost), so the duration is
//!    what a receiver's jitter buffer can wait for, not a measured burst length; libopus
//!    spends on it only what the loss justifies. Congestion turns DRED off, like RED.

use std::time::Duration;

use super::encoder::EncoderConfig;
use crate::MediaError;

/// The lowest expected loss fed to the encoder while FEC is on, in percent.
pub const FEC_FLOOR_PCT: u8 = 2;
/// Loss estimate (percent) from which one RED level is sent.
pub const RED_ONE_LEVEL_PCT: f64 = 2.0;
/// Loss estimate (percent) from which two RED levels are sent (bursts of two are then likely).
pub const RED_TWO_LEVELS_PCT: f64 = 8.0;
/// Loss estimate (percent) from which three RED levels are sent.
pub const RED_THREE_LEVELS_PCT: f64 = 15.0;
/// Loss estimate (percent) from which packets carry DRED.
pub const DRED_FROM_PCT: f64 = 2.0;
/// DRED history per packet while DRED is on, in 10 ms units: 400 ms, the longest a receiver's
/// jitter buffer waits (its `max_delay_ms`), so no history is sent that could not be used.
pub const DRED_DURATION_10MS: u8 = 40;
/// Extra bitrate while DRED is on, b/s: the DRED bits leave the primary encoding about this
/// much (40 kb/s at 10 % loss: about 8 kb/s of DRED, `loss_lab`).
pub const DRED_BOOST_BPS: u32 = 8_000;
/// Loss (percent) at and above which random-loss boosting reaches the maximum bitrate.
pub const FULL_BOOST_LOSS_PCT: f64 = 20.0;
/// How much of the old estimate survives a lower report: 0.7 halves an excess in about 2 reports.
const LOSS_DECAY: f64 = 0.7;
/// The largest increase per report, b/s: from a 32 kb/s start to 48 kb/s (the target at 10 %
/// loss with 16–64 kb/s bounds) takes four reports.
const STEP_UP_BPS: u32 = 4_000;
/// The largest decrease per report when loss fades (not congestion), b/s.
const STEP_DOWN_BPS: u32 = 2_000;
/// Loss (percent) below which nothing is treated as congestion: Wi-Fi drops a little anyway.
const CONGESTION_LOSS_PCT: f64 = 3.0;
/// Queueing delay (RTT above the baseline) that, with loss, signals congestion.
const QUEUE_DELAY: Duration = Duration::from_millis(100);
/// An RTT that, with loss, signals congestion regardless of the baseline (bufferbloat on a
/// path we never saw empty). A satellite path with random loss is misread as congested; on a
/// voice stream that costs some quality, not the call.
const HIGH_RTT: Duration = Duration::from_millis(400);
/// Multiplicative decrease per congested report.
const BACKOFF: f64 = 0.8;
/// How far the RTT baseline may creep up per report, so a route change to a longer path is not
/// read as congestion forever (about 20 reports to absorb +100 ms).
const BASELINE_DRIFT: Duration = Duration::from_millis(5);

/// Bounds the policy works within, in bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyConfig {
    /// Never below this.
    pub min_bitrate_bps: u32,
    /// Never above this.
    pub max_bitrate_bps: u32,
    /// Where the call starts and where a clean network settles.
    pub start_bitrate_bps: u32,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig::from(&EncoderConfig::default())
    }
}

impl From<&EncoderConfig> for PolicyConfig {
    fn from(c: &EncoderConfig) -> Self {
        PolicyConfig {
            min_bitrate_bps: c.min_bitrate_bps,
            max_bitrate_bps: c.max_bitrate_bps,
            start_bitrate_bps: c.start_bitrate_bps,
        }
    }
}

/// What the far end measured over the last report interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetworkReport {
    /// Packets lost, in percent (RTCP's fraction lost × 100). Values outside 0–100 are clamped.
    pub loss_pct: f64,
    /// Round-trip time, when known.
    pub rtt: Option<Duration>,
}

/// Settings for the encoder; apply with [`super::OpusEncoder::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitrateDecision {
    /// Target bitrate, b/s, within the configured bounds.
    pub bitrate_bps: u32,
    /// Expected loss to feed the encoder, percent.
    pub packet_loss_pct: u8,
    /// Whether the last report looked like congestion (for stats and logs).
    pub congested: bool,
    /// How many earlier frames each packet should carry as RFC 2198 redundancy (0–3), if the
    /// peer accepted RED; see point 4 of the module docs.
    pub red_levels: u8,
    /// DRED history per packet, 10 ms units (0 = off); see point 5.
    pub dred_10ms: u8,
    /// Whether the encoder codes in-band FEC (LBRR); off only while RED and DRED both run.
    pub inband_fec: bool,
}

/// The bitrate/FEC state machine. See the module docs for the reasoning.
#[derive(Debug, Clone)]
pub struct BitratePolicy {
    config: PolicyConfig,
    bitrate_bps: u32,
    loss_estimate: f64,
    rtt_baseline: Option<Duration>,
    congested: bool,
    /// Whether the peer accepted RFC 2198 RED (point 4 applies only then).
    red_available: bool,
    /// Whether a report has come in yet.
    reported: bool,
    /// Whether this build can send DRED (point 5 applies only then).
    dred_available: bool,
    /// Whether in-band FEC is configured on at all.
    inband_fec: bool,
}

impl BitratePolicy {
    /// Starts at the start bitrate with the FEC floor.
    pub fn new(config: PolicyConfig) -> Result<Self, MediaError> {
        let PolicyConfig {
            min_bitrate_bps: min,
            max_bitrate_bps: max,
            start_bitrate_bps: start,
        } = config;
        if !(min <= start && start <= max) {
            return Err(MediaError::Config(format!(
                "bitrate policy needs min <= start <= max, got {min} <= {start} <= {max}"
            )));
        }
        Ok(BitratePolicy {
            config,
            bitrate_bps: start,
            loss_estimate: 0.0,
            rtt_baseline: None,
            congested: false,
            red_available: false,
            reported: false,
            dred_available: false,
            inband_fec: true,
        })
    }

    /// The decision in force.
    pub fn current(&self) -> BitrateDecision {
        let dred = self.dred_on();
        BitrateDecision {
            bitrate_bps: self.bitrate_bps,
            packet_loss_pct: self.fed_loss_pct(),
            congested: self.congested,
            red_levels: self.red_levels(),
            dred_10ms: if dred { DRED_DURATION_10MS } else { 0 },
            inband_fec: self.inband_fec && !(dred && self.red_levels() > 0),
        }
    }

    /// Tells the policy whether the encoder can send DRED (libopus built with it); until then
    /// it never asks for it.
    pub fn set_dred_available(&mut self, available: bool) {
        self.dred_available = available;
    }

    /// Tells the policy whether in-band FEC is configured on; when it is off the policy never
    /// turns it on.
    pub fn set_inband_fec(&mut self, on: bool) {
        self.inband_fec = on;
    }

    fn dred_on(&self) -> bool {
        self.dred_available && !self.congested && self.loss_estimate >= DRED_FROM_PCT
    }

    /// Tells the policy whether the peer accepted RED; until then it never asks for copies.
    pub fn set_red_available(&mut self, available: bool) {
        self.red_available = available;
    }

    fn red_levels(&self) -> u8 {
        if !self.red_available || self.congested {
            0
        } else if !self.reported {
            1
        } else if self.loss_estimate >= RED_THREE_LEVELS_PCT {
            3
        } else if self.loss_estimate >= RED_TWO_LEVELS_PCT {
            2
        } else if self.loss_estimate >= RED_ONE_LEVEL_PCT {
            1
        } else {
            0
        }
    }

    /// Takes one report and returns the new decision.
    pub fn update(&mut self, report: NetworkReport) -> BitrateDecision {
        self.reported = true;
        let loss = if report.loss_pct.is_finite() {
            report.loss_pct.clamp(0.0, 100.0)
        } else {
            0.0
        };
        // Fast attack, slow release (point 1).
        self.loss_estimate = if loss >= self.loss_estimate {
            loss
        } else {
            LOSS_DECAY * self.loss_estimate + (1.0 - LOSS_DECAY) * loss
        };

        self.congested = self.looks_congested(loss, report.rtt);
        let PolicyConfig {
            min_bitrate_bps: min,
            max_bitrate_bps: max,
            start_bitrate_bps: start,
        } = self.config;
        self.bitrate_bps = if self.congested {
            // Point 3: multiplicative decrease.
            let reduced = (f64::from(self.bitrate_bps) * BACKOFF) as u32;
            reduced.max(min)
        } else {
            // Point 2: move towards a loss-dependent target in bounded steps; point 4: RED's
            // copies take the place of the boost.
            let boost = if self.red_levels() > 0 {
                0.0
            } else {
                (self.loss_estimate / FULL_BOOST_LOSS_PCT).min(1.0)
            };
            // Whole kb/s, so a long-decayed loss estimate settles exactly at `start`.
            let extra = (f64::from(max - start) * boost / 1000.0).round() as u32 * 1000;
            // Point 5: DRED's bits come on top of what the primary encoding needs.
            let dred = if self.dred_on() { DRED_BOOST_BPS } else { 0 };
            let target = (start + extra.max(dred)).min(max);
            if self.bitrate_bps < target {
                (self.bitrate_bps + STEP_UP_BPS).min(target)
            } else {
                self.bitrate_bps.saturating_sub(STEP_DOWN_BPS).max(target)
            }
        }
        .clamp(min, max);
        self.current()
    }

    fn looks_congested(&mut self, loss: f64, rtt: Option<Duration>) -> bool {
        let Some(rtt) = rtt else {
            return false;
        };
        let baseline = match self.rtt_baseline {
            Some(b) => rtt.min(b + BASELINE_DRIFT),
            None => rtt,
        };
        self.rtt_baseline = Some(baseline);
        let queueing = rtt.saturating_sub(baseline);
        loss >= CONGESTION_LOSS_PCT && (queueing >= QUEUE_DELAY || rtt >= HIGH_RTT)
    }

    fn fed_loss_pct(&self) -> u8 {
        let pct = self.loss_estimate.clamp(0.0, 100.0);
        // With DRED on the fed loss sizes DRED's share of the bits: the loss itself.
        // Otherwise, what the decoder will miss: with RED, only frames whose copies were lost.
        let left = if self.dred_on() {
            pct
        } else {
            pct * (pct / 100.0).powi(i32::from(self.red_levels()))
        };
        // Round up: telling the encoder slightly more loss than measured costs a little bitrate;
        // telling it less leaves a frame unprotected.
        let pct = left.ceil().clamp(0.0, 100.0) as u8;
        pct.max(FEC_FLOOR_PCT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN_RTT: Option<Duration> = Some(Duration::from_millis(60));

    fn report(loss_pct: f64, rtt: Option<Duration>) -> NetworkReport {
        NetworkReport { loss_pct, rtt }
    }

    /// 32 kb/s start, 16–64 kb/s bounds: the numbers below are worked out for these.
    fn policy() -> BitratePolicy {
        BitratePolicy::new(PolicyConfig {
            min_bitrate_bps: 16_000,
            max_bitrate_bps: 64_000,
            start_bitrate_bps: 32_000,
        })
        .unwrap()
    }

    fn policy_with_red() -> BitratePolicy {
        let mut p = policy();
        p.set_red_available(true);
        p
    }

    #[test]
    fn red_follows_loss_and_replaces_the_boost() {
        let mut p = policy_with_red();
        assert_eq!(p.current().red_levels, 1, "one copy until the first report");
        assert_eq!(
            p.update(report(0.0, CLEAN_RTT)).red_levels,
            0,
            "a clean path: none"
        );
        let d = p.update(report(5.0, CLEAN_RTT));
        assert_eq!(d.red_levels, 1);
        assert_eq!(d.bitrate_bps, 32_000, "copies instead of a higher rate");
        assert_eq!(
            d.packet_loss_pct, FEC_FLOOR_PCT,
            "0.05^2 is under the floor"
        );
        let d = p.update(report(10.0, CLEAN_RTT));
        assert_eq!(d.red_levels, 2);
        assert_eq!(d.packet_loss_pct, FEC_FLOOR_PCT, "0.1^3 = 0.1 %");
        let d = p.update(report(20.0, CLEAN_RTT));
        assert_eq!(d.red_levels, 3);
        assert_eq!(d.packet_loss_pct, FEC_FLOOR_PCT, "0.2^4 = 0.16 %");
        let d = p.update(report(50.0, CLEAN_RTT));
        assert_eq!(d.packet_loss_pct, 7, "0.5^4 = 6.25 %, rounded up");
        // Loss fades: the estimate decays 50 -> 35 -> 24.5 -> ... and RED steps down with it.
        let mut levels = Vec::new();
        for _ in 0..12 {
            levels.push(p.update(report(0.0, CLEAN_RTT)).red_levels);
        }
        assert_eq!(levels.first(), Some(&3));
        assert_eq!(levels.last(), Some(&0));
        assert!(levels.windows(2).all(|w| w[0] >= w[1]), "{levels:?}");
    }

    #[test]
    fn dred_joins_red_under_loss_and_takes_the_fec_bits() {
        let mut p = policy_with_red();
        p.set_dred_available(true);
        let d = p.update(report(0.0, CLEAN_RTT));
        assert_eq!(
            (d.dred_10ms, d.inband_fec),
            (0, true),
            "a clean path: no DRED"
        );
        let d = p.update(report(10.0, CLEAN_RTT));
        assert_eq!(d.dred_10ms, DRED_DURATION_10MS);
        assert!(!d.inband_fec, "RED and DRED cover what LBRR would");
        assert_eq!(d.packet_loss_pct, 10, "the measured loss sizes DRED");
        assert_eq!(d.red_levels, 2);
        let mut d = d;
        for _ in 0..4 {
            d = p.update(report(10.0, CLEAN_RTT));
        }
        assert_eq!(d.bitrate_bps, 32_000 + DRED_BOOST_BPS, "DRED's bits on top");
        // Congestion: neither copies nor DRED, LBRR back.
        let d = p.update(report(10.0, Some(Duration::from_millis(300))));
        assert!(d.congested);
        assert_eq!((d.dred_10ms, d.red_levels, d.inband_fec), (0, 0, true));
        // Loss fades: DRED stops once the estimate is under its threshold.
        let mut d = d;
        for _ in 0..20 {
            d = p.update(report(0.0, CLEAN_RTT));
        }
        assert_eq!((d.dred_10ms, d.inband_fec), (0, true));
    }

    #[test]
    fn dred_without_red_keeps_lbrr_and_never_turns_fec_on_when_configured_off() {
        let mut p = policy();
        p.set_dred_available(true);
        let d = p.update(report(10.0, CLEAN_RTT));
        assert_eq!((d.dred_10ms, d.inband_fec), (DRED_DURATION_10MS, true));
        let mut p = policy();
        p.set_dred_available(true);
        p.set_inband_fec(false);
        assert!(!p.update(report(0.0, CLEAN_RTT)).inband_fec);
        let mut p = policy_with_red();
        assert_eq!(
            p.update(report(10.0, CLEAN_RTT)).dred_10ms,
            0,
            "no DRED in a build without it"
        );
    }

    #[test]
    fn congestion_turns_red_off() {
        let mut p = policy_with_red();
        p.update(report(0.0, CLEAN_RTT));
        assert_eq!(p.update(report(5.0, CLEAN_RTT)).red_levels, 1);
        let d = p.update(report(8.0, Some(Duration::from_millis(250))));
        assert!(d.congested);
        assert_eq!(d.red_levels, 0);
        assert_eq!(
            d.packet_loss_pct, 8,
            "in-band FEC carries the protection alone"
        );
    }

    #[test]
    fn without_red_from_the_peer_loss_is_met_with_fec_and_bitrate() {
        let mut p = policy();
        let d = p.update(report(10.0, CLEAN_RTT));
        assert_eq!((d.red_levels, d.packet_loss_pct), (0, 10));
        assert!(d.bitrate_bps > 32_000);
    }

    #[test]
    fn starts_at_the_start_bitrate_with_the_fec_floor() {
        let p = policy();
        let d = p.current();
        assert_eq!(d.bitrate_bps, 32_000);
        assert_eq!(d.packet_loss_pct, FEC_FLOOR_PCT);
        assert!(!d.congested);
    }

    #[test]
    fn clean_network_stays_at_start() {
        let mut p = policy();
        for _ in 0..10 {
            let d = p.update(report(0.0, CLEAN_RTT));
            assert_eq!((d.bitrate_bps, d.packet_loss_pct), (32_000, FEC_FLOOR_PCT));
        }
    }

    #[test]
    fn random_loss_raises_fec_at_once_and_bitrate_in_steps() {
        let mut p = policy();
        let d = p.update(report(10.0, CLEAN_RTT));
        assert_eq!(d.packet_loss_pct, 10, "FEC follows loss immediately");
        // 10% is half of FULL_BOOST_LOSS_PCT: target 32k + 32k/2 = 48k, reached in steps of 4k.
        assert_eq!(d.bitrate_bps, 36_000);
        let steps: Vec<u32> = (0..4)
            .map(|_| p.update(report(10.0, CLEAN_RTT)).bitrate_bps)
            .collect();
        assert_eq!(
            steps,
            [40_000, 44_000, 48_000, 48_000],
            "holds at the target"
        );
    }

    #[test]
    fn heavy_random_loss_reaches_the_cap_and_not_beyond() {
        let mut p = policy();
        let mut d = p.current();
        for _ in 0..10 {
            d = p.update(report(35.0, CLEAN_RTT));
        }
        // 32k + 8 steps of 4k: the cap, and no further.
        assert_eq!(d.bitrate_bps, 64_000);
        assert_eq!(d.packet_loss_pct, 35);
        assert!(!d.congested);
    }

    #[test]
    fn loss_estimate_decays_slowly_then_returns_to_floor() {
        let mut p = policy();
        p.update(report(20.0, CLEAN_RTT));
        let after_one_clean = p.update(report(0.0, CLEAN_RTT)).packet_loss_pct;
        assert_eq!(after_one_clean, 14, "0.7 x 20 -> 14: protection lingers");
        let mut d = p.current();
        for _ in 0..20 {
            d = p.update(report(0.0, CLEAN_RTT));
        }
        assert_eq!(d.packet_loss_pct, FEC_FLOOR_PCT);
        assert_eq!(d.bitrate_bps, 32_000, "settles back at start");
    }

    #[test]
    fn loss_with_a_growing_queue_backs_off_to_the_minimum() {
        let mut p = policy();
        p.update(report(0.0, CLEAN_RTT));
        let d = p.update(report(8.0, Some(Duration::from_millis(250))));
        assert!(d.congested);
        assert_eq!(d.bitrate_bps, 25_600, "32k x 0.8");
        let mut d = d;
        for _ in 0..10 {
            d = p.update(report(8.0, Some(Duration::from_millis(250))));
        }
        assert_eq!(d.bitrate_bps, 16_000, "never below min");
        assert_eq!(d.packet_loss_pct, 8, "FEC still follows loss");
        // The queue drains: climb back additively.
        let d = p.update(report(0.0, CLEAN_RTT));
        assert!(!d.congested);
        assert_eq!(d.bitrate_bps, 20_000);
    }

    #[test]
    fn high_rtt_without_loss_is_not_congestion() {
        let mut p = policy();
        for _ in 0..5 {
            let d = p.update(report(0.0, Some(Duration::from_millis(700))));
            assert!(!d.congested);
            assert_eq!(d.bitrate_bps, 32_000);
        }
        // ...but very high RTT with loss is, even with no baseline to compare.
        let d = p.update(report(5.0, Some(Duration::from_millis(700))));
        assert!(d.congested);
    }

    #[test]
    fn rtt_baseline_follows_a_route_change() {
        let mut p = policy();
        p.update(report(0.0, CLEAN_RTT));
        // New path is 150 ms longer; after the baseline catches up, 5% loss is random loss.
        for _ in 0..40 {
            p.update(report(0.0, Some(Duration::from_millis(210))));
        }
        let d = p.update(report(5.0, Some(Duration::from_millis(210))));
        assert!(!d.congested);
    }

    #[test]
    fn garbage_reports_are_clamped() {
        let mut p = policy();
        assert_eq!(
            p.update(report(f64::NAN, None)).packet_loss_pct,
            FEC_FLOOR_PCT
        );
        assert_eq!(p.update(report(250.0, None)).packet_loss_pct, 100);
        // -3 reads as 0: the estimate decays from 100 to 70, still above full boost, so the rate
        // keeps climbing by one step from 36k.
        let d = p.update(report(-3.0, None));
        assert_eq!((d.bitrate_bps, d.packet_loss_pct), (40_000, 70));
    }

    #[test]
    fn rejects_inverted_bounds() {
        let bad = PolicyConfig {
            min_bitrate_bps: 40_000,
            max_bitrate_bps: 16_000,
            start_bitrate_bps: 32_000,
        };
        assert!(matches!(
            BitratePolicy::new(bad),
            Err(MediaError::Config(_))
        ));
    }
}
