//! Tests of the call-quality estimate built on the E-model.

use super::*;

fn inputs() -> QualityInputs {
    QualityInputs {
        rtt_ms: Some(100.0),
        loss_pct: 0.0,
        jitter_ms: 5.0,
        jitter_buffer_ms: 40.0,
        concealment_ratio: 0.0,
        frame_ms: 20.0,
    }
}

#[test]
fn delay_budget_adds_up_as_documented() {
    let q = CallQuality::estimate(&inputs());
    // 50 (RTT/2) + 40 (buffer) + 26.5 (Opus algorithmic) + 20 (packetization) = 136.5 ms.
    let expected = r_factor(&EModelInput {
        one_way_delay_ms: 136.5,
        packet_loss_pct: 0.0,
        burst_ratio: 1.0,
        ie: OPUS_FEC.ie,
        bpl: OPUS_FEC.bpl,
    });
    assert!((q.r_factor - expected).abs() < 1e-9);
    assert!((q.mos - mos_from_r(expected)).abs() < 1e-12);
    // A clean call with a modest delay rates as "very satisfied" (R > 85).
    assert!(q.r_factor > 85.0 && q.r_factor < 93.2, "{}", q.r_factor);
    assert_eq!(q.rtt_ms, Some(100.0));
    assert_eq!(q.jitter_ms, 5.0);
}

#[test]
fn unknown_rtt_counts_as_zero_network_delay() {
    let known = CallQuality::estimate(&inputs());
    let unknown = CallQuality::estimate(&QualityInputs {
        rtt_ms: None,
        ..inputs()
    });
    assert!(unknown.r_factor > known.r_factor);
    assert_eq!(unknown.rtt_ms, None);
}

#[test]
fn effective_loss_is_the_worse_of_network_loss_and_concealment() {
    let net = CallQuality::estimate(&QualityInputs {
        loss_pct: 5.0,
        ..inputs()
    });
    let concealed = CallQuality::estimate(&QualityInputs {
        concealment_ratio: 0.05,
        ..inputs()
    });
    assert!((net.r_factor - concealed.r_factor).abs() < 1e-9);
    let both = CallQuality::estimate(&QualityInputs {
        loss_pct: 5.0,
        concealment_ratio: 0.10,
        ..inputs()
    });
    assert!(both.r_factor < net.r_factor);
    // And loss hurts: monotonic.
    let mut last = f64::INFINITY;
    for loss in 0..=40 {
        let q = CallQuality::estimate(&QualityInputs {
            loss_pct: f64::from(loss),
            ..inputs()
        });
        assert!(q.mos < last || q.mos == 1.0);
        last = q.mos;
    }
}

#[test]
fn bad_reports_do_not_produce_nan() {
    let q = CallQuality::estimate(&QualityInputs {
        rtt_ms: Some(f64::NAN),
        loss_pct: -4.0,
        jitter_ms: f64::INFINITY,
        jitter_buffer_ms: f64::NAN,
        concealment_ratio: 7.0,
        frame_ms: f64::NAN,
    });
    assert!(q.r_factor.is_finite() && q.mos.is_finite());
    assert_eq!(q.rtt_ms, None);
    assert_eq!(q.concealment_ratio, 1.0);
    assert_eq!(q.loss_pct, 0.0);
}

#[test]
fn serializes_with_field_names() {
    let q = CallQuality::estimate(&QualityInputs {
        rtt_ms: None,
        ..inputs()
    });
    let json = serde_json::to_value(q).unwrap();
    assert_eq!(json["rtt_ms"], serde_json::Value::Null);
    assert_eq!(json["jitter_buffer_ms"], 40.0);
    assert_eq!(json["mos"].as_f64(), Some(q.mos));
    assert_eq!(json["sources"]["deep_plc"], 0);
    assert_eq!(json.as_object().unwrap().len(), 8);
}
