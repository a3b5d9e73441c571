//! The target delay follows measured jitter up at once and back down after the window.

use super::*;

#[test]
fn target_rises_with_jitter_and_falls_back_after_the_window() {
    let mut h = Harness::default();
    let mut rng = SeededRng::new(7);
    // 0-4 s: 0-60 ms uniform jitter; 4-10 s: a clean path.
    stream(&mut h, 500, 0, 0, |i| {
        Some(if i < 200 {
            10.0 + 60.0 * rng.next_f64()
        } else {
            10.0
        })
    });
    let mut peak_in_jitter = 0;
    let mut after = vec![];
    for k in 0..500u32 {
        let t = f64::from(k) * FRAME_MS + 5.0;
        h.pop_at(t);
        let target = h.stats().target_delay_ms;
        if (2000.0..4000.0).contains(&t) {
            peak_in_jitter = peak_in_jitter.max(target);
            assert!(
                target >= 60,
                "target {target} ms under 0-60 ms jitter at {t} ms"
            );
        }
        if t > 4000.0 + 2000.0 + 500.0 {
            after.push(target);
        }
    }
    assert!(peak_in_jitter <= 100, "{peak_in_jitter}");
    assert!(
        after.iter().all(|&t| t <= 40),
        "target stays up after the jitter left the window: {after:?}"
    );
    let s = h.stats();
    assert_identities(&s);
    // Jitter 0-60 ms with a target that covers it: (almost) nothing late or lost.
    assert!(s.late <= 6, "{s:?}");
}

#[test]
fn current_delay_shrinks_towards_a_lower_target() {
    let mut h = Harness::default();
    stream(&mut h, 300, 0, 0, |_| Some(10.0));
    h.run(0..300, 5.0);
    let s = h.stats();
    // Clean path: target one frame; the 80 ms start delay was given back by skips.
    assert_eq!(s.target_delay_ms, 20, "{s:?}");
    assert!(s.current_delay_ms < 40, "{s:?}");
    assert!(s.skipped >= 2, "{s:?}");
}

#[test]
fn a_sequence_gap_keeps_two_frames_for_fec() {
    let mut h = Harness::default();
    stream(&mut h, 300, 0, 0, |i| (i != 200).then_some(10.0));
    h.run(0..205, 5.0);
    assert!(h.stats().target_delay_ms >= 40, "{:?}", h.stats());
    h.run(205..300, 5.0);
    let s = h.stats();
    assert_eq!(s.recovered_fec, 1, "{s:?}");
    assert_identities(&s);
}

/// Chromium's bandwidth probes are padding-only RTP packets on the audio SSRC (2-20 a second),
/// dropped before the buffer as they carry no audio: their sequence numbers are missing
/// while the timestamps run on unbroken. That is no loss; taking it for one kept the buffer in
/// a loss episode on a clean path (target 40 ms instead of 20, speech stretched up and down
/// to follow it: PESQ-WB 2.5-3.3 instead of 4.0 in `bench quality`'s native ← Chromium row).
#[test]
fn sequence_numbers_taken_by_packets_without_audio_are_no_loss() {
    let mut h = Harness::default();
    // Every tenth packet is followed by two probes: seq advances by 3, the timestamp by a frame.
    let mut seq = 0u16;
    for i in 0..300u32 {
        h.send(
            f64::from(i) * FRAME_MS + 10.0,
            packet(SSRC, seq, i * FRAME_TS),
        );
        seq = seq.wrapping_add(if i % 10 == 9 { 3 } else { 1 });
    }
    for k in 0..300 {
        h.pop_at(f64::from(k) * FRAME_MS + 5.0);
        assert!(
            !h.jb.in_loss_episode(),
            "a loss episode at pop {k}: {:?}",
            h.stats()
        );
    }
    let s = h.stats();
    assert!(s.target_delay_ms <= 20, "{s:?}");
    assert_eq!(s.lost, 0, "{s:?}");

    // A lost frame between probes is still a loss: one frame's timestamp is missing.
    let mut h = Harness::default();
    let mut seq = 0u16;
    for i in 0..300u32 {
        if i != 200 {
            h.send(
                f64::from(i) * FRAME_MS + 10.0,
                packet(SSRC, seq, i * FRAME_TS),
            );
        }
        seq = seq.wrapping_add(if i % 10 == 9 { 3 } else { 1 });
    }
    h.run(0..205, 5.0);
    assert!(h.jb.in_loss_episode(), "{:?}", h.stats());
    assert!(h.stats().target_delay_ms >= 40, "{:?}", h.stats());
}

#[test]
fn a_stalled_playout_clock_catches_up_instead_of_lagging() {
    let mut h = Harness::default();
    stream(&mut h, 300, 0, 0, |_| Some(10.0));
    h.run(0..100, 5.0);
    // The app's audio thread stalls for 1 s; packets keep arriving.
    h.run(150..300, 5.0);
    let s = h.stats();
    assert_identities(&s);
    assert!(s.current_delay_ms <= 400, "{s:?}");
}

#[test]
fn a_lower_initial_delay_starts_sooner_and_still_rises_with_early_jitter() {
    let config = JitterConfig {
        initial_delay_ms: 40,
        ..JitterConfig::default()
    };
    // Clean path: the first packet (arrived at 10 ms) plays at the first grid point after
    // 10 + 40 ms, not after the default 80 ms.
    let mut h = Harness::new(config);
    stream(&mut h, 50, 0, 0, |_| Some(10.0));
    let out = h.run(0..60, 5.0);
    let first = out
        .iter()
        .find(|(_, p)| matches!(p, Playout::Frame { .. }))
        .unwrap()
        .0;
    assert!((50.0..=70.0).contains(&first), "first frame at {first} ms");

    // Jitter of up to 60 ms from the start: the warm-up target does not hold the buffer at
    // 40 ms while the window already asks for more.
    let mut h = Harness::new(config);
    stream(&mut h, 50, 0, 0, |i| Some(10.0 + f64::from((i * 37) % 61)));
    h.run(0..30, 5.0);
    assert!(h.stats().target_delay_ms >= 60, "{:?}", h.stats());
}

#[test]
fn an_initial_delay_outside_one_frame_to_max_is_refused() {
    for bad in [10, 401] {
        let config = JitterConfig {
            initial_delay_ms: bad,
            ..JitterConfig::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("initial_delay_ms"), "{err}");
    }
}
