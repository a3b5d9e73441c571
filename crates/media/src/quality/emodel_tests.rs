//! E-model checks against G.107's reference values and hand-computed points.

use super::*;

fn at_delay(ta: f64) -> EModelInput {
    EModelInput {
        one_way_delay_ms: ta,
        ..EModelInput::default()
    }
}

#[test]
fn default_connection_is_r_93_2_and_mos_4_41() {
    let r = r_factor(&EModelInput::default());
    assert!((r - 93.2).abs() < 0.1, "R = {r}");
    let mos = mos_from_r(r);
    assert!((mos - 4.41).abs() < 0.005, "MOS = {mos}");
}

#[test]
fn idd_matches_hand_computed_points() {
    // Ta = 150: X = log2(1.5) = 0.58496, X^6 = 0.040118, (1.040118)^(1/6) = 1.006577;
    // (X/3)^6 = 5.5e-5, 3 * (1.000055)^(1/6) = 3.000028; Idd = 25 * 0.006549 = 0.164.
    assert!((idd(150.0) - 0.164).abs() < 0.002, "{}", idd(150.0));
    // Ta = 200: X = 1, 2^(1/6) = 1.122462; 3 * (1 + 1/729)^(1/6) = 3.000686;
    // Idd = 25 * 0.121776 = 3.044.
    assert!((idd(200.0) - 3.044).abs() < 0.002, "{}", idd(200.0));
    // Ta = 400: X = 2, 65^(1/6) = 2.005175; 3 * (1 + (2/3)^6)^(1/6) = 3.042372;
    // Idd = 25 * 0.962803 = 24.07.
    assert!((idd(400.0) - 24.07).abs() < 0.01, "{}", idd(400.0));
    // Up to 100 ms there is no pure-delay impairment.
    assert_eq!(idd(0.0), 0.0);
    assert_eq!(idd(100.0), 0.0);
    assert_eq!(idd(f64::NAN), 0.0);
}

#[test]
fn delay_impairment_includes_the_small_echo_terms() {
    // At Ta = 0 only listener echo at Tr = 0 remains: Rle = 10.5 * 117 = 1228.5, Ro - Rle =
    // -1133.7, Idle = 169 / 1133.7 ≈ 0.149.
    let id0 = delay_impairment(0.0);
    assert!((id0 - 0.149).abs() < 0.005, "{id0}");
    // Ta = 150 with TELR 65: TERV = 65 - 40 lg(16/2) = 28.88, Re = 117.2, Roe = 94.8,
    // Idte = -11.2 + sqrt(125.4 + 100) - 1 ≈ 2.81; Idle(Tr = 300) ≈ 0.84; Idd = 0.16.
    let id150 = delay_impairment(150.0);
    assert!((id150 - (2.81 + 0.84 + 0.164)).abs() < 0.1, "{id150}");
    // Ta = 400: TERV = 65 - 40 lg(41 / 3.667) = 23.06, Re = 102.65, Idte = -3.94 +
    // sqrt(15.5 + 100) - 1 ≈ 5.81; Rle = 1228.5 / 801^0.25 = 230.9, Idle ≈ 1.23; Idd = 24.07.
    let id400 = delay_impairment(400.0);
    assert!((id400 - (5.81 + 1.23 + 24.07)).abs() < 0.05, "{id400}");
    // And R falls accordingly: about 89.4 at 150 ms (G.114's curve is at ~89-90 there).
    let r150 = r_factor(&at_delay(150.0));
    assert!((r150 - 89.4).abs() < 0.2, "{r150}");
    let r400 = r_factor(&at_delay(400.0));
    // 93.2 - 31.1: about 62, "many users dissatisfied", where G.114 places 400 ms.
    assert!((r400 - 62.1).abs() < 0.2, "{r400}");
}

#[test]
fn r_falls_monotonically_with_delay() {
    let mut last = f64::INFINITY;
    for ta in (0..=800).step_by(10) {
        let r = r_factor(&at_delay(f64::from(ta)));
        assert!(r <= last + 1e-9, "R rose at {ta} ms: {r} > {last}");
        last = r;
    }
}

#[test]
fn ie_eff_is_monotonic_in_loss_and_matches_the_formula() {
    let input = |ppl: f64, burst: f64| EModelInput {
        packet_loss_pct: ppl,
        burst_ratio: burst,
        ie: 0.0,
        bpl: 25.1,
        ..EModelInput::default()
    };
    let mut last = -1.0;
    for tenth in 0..=300 {
        let v = ie_eff(&input(f64::from(tenth) / 10.0, 1.0));
        assert!(v > last, "not increasing at {}%", f64::from(tenth) / 10.0);
        last = v;
    }
    // G.711 with PLC (Bpl 25.1), 2% random loss: 95 * 2 / 27.1 = 7.011.
    assert!((ie_eff(&input(2.0, 1.0)) - 7.011).abs() < 0.001);
    // Bursty loss hurts more than random loss at the same rate.
    assert!(ie_eff(&input(5.0, 2.0)) > ie_eff(&input(5.0, 1.0)));
    // Without loss Ie-eff is Ie.
    let g729 = EModelInput {
        ie: 11.0,
        bpl: 19.0,
        ..EModelInput::default()
    };
    assert_eq!(ie_eff(&g729), 11.0);
}

#[test]
fn fec_constants_are_more_robust_than_plc() {
    let with = |c: CodecImpairment| EModelInput {
        packet_loss_pct: 5.0,
        ie: c.ie,
        bpl: c.bpl,
        ..EModelInput::default()
    };
    assert!(r_factor(&with(OPUS_FEC)) > r_factor(&with(OPUS_PLC)));
}

#[test]
fn mos_mapping_matches_annex_b() {
    assert!((mos_from_r(50.0) - 2.58).abs() < 0.01);
    assert!((mos_from_r(60.0) - 3.10).abs() < 0.01);
    assert!((mos_from_r(70.0) - 3.60).abs() < 0.01);
    assert!((mos_from_r(80.0) - 4.02).abs() < 0.01);
    assert!((mos_from_r(90.0) - 4.34).abs() < 0.01);
    assert_eq!(mos_from_r(-5.0), 1.0);
    assert_eq!(mos_from_r(0.0), 1.0);
    assert_eq!(mos_from_r(100.0), 4.5);
    assert_eq!(mos_from_r(120.0), 4.5);
    assert_eq!(mos_from_r(f64::NAN), 1.0);
    // Continuous at the ends: 1 + 0 at R = 0, 1 + 3.5 + 0 at R = 100.
    assert!((mos_from_r(1e-9) - 1.0).abs() < 1e-6);
    assert!((mos_from_r(100.0 - 1e-9) - 4.5).abs() < 1e-6);
}

#[test]
fn garbage_inputs_give_finite_r() {
    let bad = EModelInput {
        one_way_delay_ms: f64::NAN,
        packet_loss_pct: f64::INFINITY,
        burst_ratio: -3.0,
        ie: f64::NAN,
        bpl: 0.0,
    };
    assert!(r_factor(&bad).is_finite());
}
