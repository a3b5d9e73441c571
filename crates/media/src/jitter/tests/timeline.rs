//! Wraparound, SSRC changes and long gaps.

use super::*;

#[test]
fn sequence_numbers_wrap_without_a_glitch() {
    let mut h = Harness::default();
    stream(&mut h, 100, 65_530, 0, |_| Some(10.0));
    let out = h.run(0..110, 5.0);
    let s = h.stats();
    assert_identities(&s);
    assert_eq!((s.lost, s.late, s.discarded), (0, 0, 0), "{s:?}");
    assert_eq!(s.played + s.skipped, 100);
    let seqs = played_seqs(&out);
    assert!(seqs.contains(&65_535) && seqs.contains(&0));
    assert!(seqs
        .windows(2)
        .all(|w| { (1..=2).contains(&w[1].wrapping_sub(w[0])) }));
}

#[test]
fn timestamps_wrap_without_a_glitch() {
    let mut h = Harness::default();
    let ts0 = u32::MAX - 20 * FRAME_TS + 1;
    stream(&mut h, 100, 7, ts0, |_| Some(10.0));
    let out = h.run(0..110, 5.0);
    let s = h.stats();
    assert_identities(&s);
    assert_eq!((s.lost, s.late, s.discarded), (0, 0, 0), "{s:?}");
    // No concealment anywhere before the end of the stream (after it, the buffer holds).
    let last_frame = out
        .iter()
        .rposition(|(_, p)| matches!(p, Playout::Frame { .. }))
        .unwrap();
    assert!(!out[..last_frame]
        .iter()
        .any(|(_, p)| matches!(p, Playout::Conceal { .. })));
    let stamps: Vec<u32> = out
        .iter()
        .filter_map(|(_, p)| match p {
            Playout::Frame { timestamp, .. } => Some(*timestamp),
            _ => None,
        })
        .collect();
    assert!(stamps.iter().any(|&t| t < FRAME_TS * 5), "crossed the wrap");
    assert!(stamps
        .windows(2)
        .all(|w| w[1].wrapping_sub(w[0]) == FRAME_TS || w[1].wrapping_sub(w[0]) == 2 * FRAME_TS));
}

#[test]
fn an_ssrc_change_restarts_on_the_new_stream() {
    let mut h = Harness::default();
    stream(&mut h, 50, 100, 1_000, |_| Some(10.0));
    // From 1 s on, a new sender with unrelated numbers; one straggler of the old one after it.
    for i in 0..50u32 {
        let p = packet(0xBEEF, 40_000 + i as u16, 3_000_000_000 + i * FRAME_TS);
        h.send(1000.0 + f64::from(i) * FRAME_MS + 10.0, p);
    }
    h.send(1025.0, packet(SSRC, 150, 1_000 + 50 * FRAME_TS));
    let out = h.run(0..110, 5.0);
    let s = h.stats();
    assert_identities(&s);
    assert_eq!(s.ssrc_changes, 1, "{s:?}");
    let seqs = played_seqs(&out);
    assert!(seqs.iter().any(|&q| q >= 40_000), "the new stream plays");
    assert!(
        !seqs.contains(&150),
        "the retired SSRC's straggler is dropped"
    );
    let after_switch: Vec<u16> = seqs.iter().copied().skip_while(|&q| q < 40_000).collect();
    assert!(after_switch.iter().all(|&q| q >= 40_000));
    assert!(after_switch.windows(2).all(|w| w[1] > w[0]));
    assert_eq!(s.lost, 0);
}

#[test]
fn a_five_second_outage_costs_at_most_max_delay_of_concealment() {
    let mut h = Harness::default();
    // 2 s of audio, 5 s of nothing (sender's clock keeps running), then 2 s more.
    stream(&mut h, 450, 0, 0, |i| {
        (!(100..350).contains(&i)).then_some(10.0)
    });
    let out = h.run(0..460, 5.0);
    let s = h.stats();
    assert_identities(&s);
    let conceals = out
        .iter()
        .filter(|(t, p)| (2000.0..7000.0).contains(t) && matches!(p, Playout::Conceal { .. }))
        .count();
    // max_delay 400 ms = 20 frames of holding, plus the slot in progress.
    assert!(conceals <= 21, "{conceals} concealed frames in the outage");
    assert!(
        conceals >= 5,
        "the start of an outage is concealed, not muted: {conceals}"
    );
    // It resynchronises: the stream after the outage plays, every packet of it once or skipped.
    let seqs = played_seqs(&out);
    let after: Vec<u16> = seqs.iter().copied().filter(|&q| q >= 350).collect();
    assert!(after.len() >= 90, "{} frames after the outage", after.len());
    assert!(after.windows(2).all(|w| w[1] > w[0]));
    // And the frames after the outage start within ~target of their arrival.
    let first_after = out
        .iter()
        .find(|(_, p)| matches!(p, Playout::Frame { payload, .. } if seq_of(payload) >= 350))
        .unwrap()
        .0;
    assert!(
        first_after < 350.0 * FRAME_MS + 10.0 + 120.0,
        "resumed at {first_after} ms"
    );
}

#[test]
fn a_sender_timestamp_jump_is_followed_after_three_consistent_packets() {
    let mut h = Harness::default();
    stream(&mut h, 50, 0, 0, |_| Some(10.0));
    // The sender restarts its timestamps (e.g. a new track on the same SSRC).
    for i in 0..50u32 {
        let p = packet(SSRC, 50 + i as u16, 2_000_000_000 + i * FRAME_TS);
        h.send(1000.0 + f64::from(i) * FRAME_MS + 10.0, p);
    }
    let out = h.run(0..110, 5.0);
    let s = h.stats();
    assert_identities(&s);
    let seqs = played_seqs(&out);
    assert!(seqs.iter().filter(|&&q| q >= 50).count() >= 40, "{seqs:?}");
    assert!(
        s.discarded >= 2 && s.discarded <= 4,
        "only the votes are dropped: {s:?}"
    );
}

#[test]
fn a_dtx_pause_is_silence_not_loss() {
    let mut h = Harness::default();
    // 1 s of speech (seq 0-49), then a 1-byte DTX packet (seq 50), then nothing for 1 s, then
    // speech again at seq 51 with the timestamp 50 frames later: nothing was lost.
    stream(&mut h, 50, 0, 0, |_| Some(10.0));
    let mut dtx = packet(SSRC, 50, 50 * FRAME_TS);
    dtx.payload.truncate(1);
    h.send(50.0 * FRAME_MS + 10.0, dtx);
    for i in 0..50u32 {
        let p = packet(SSRC, 51 + i as u16, (100 + i) * FRAME_TS);
        h.send(f64::from(100 + i) * FRAME_MS + 10.0, p);
    }
    let out = h.run(0..160, 5.0);
    let s = h.stats();
    assert_identities(&s);
    assert_eq!((s.lost, s.late), (0, 0), "{s:?}");
    let pause = out
        .iter()
        .filter(|(t, _)| (1150.0..1950.0).contains(t))
        .collect::<Vec<_>>();
    assert!(
        pause.iter().all(|(_, p)| *p == Playout::Silence),
        "{pause:?}"
    );
    let seqs = played_seqs(&out);
    assert!(seqs.iter().filter(|&&q| q > 50).count() >= 45);
}
