//! Ordinary traffic: in order, reordered, duplicated, lost, late.

use super::*;

/// Playout decisions on the grid after a stream with a constant 10 ms network delay.
fn steady(count: u32, mut lose: impl FnMut(u32) -> bool) -> (Harness, Vec<(f64, Playout)>) {
    let mut h = Harness::default();
    stream(&mut h, count, 100, 5_000, |i| (!lose(i)).then_some(10.0));
    let out = h.run(0..count + 10, 5.0);
    (h, out)
}

#[test]
fn in_order_stream_plays_every_frame_in_order() {
    let (h, out) = steady(150, |_| false);
    let s = h.stats();
    assert_identities(&s);
    let seqs = played_seqs(&out);
    // Every packet is played or, while the delay shrinks from the 80 ms start to the one-frame
    // target, dropped on purpose; never out of order, never repeated.
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
    assert_eq!(s.played + s.skipped, 150, "{s:?}");
    assert_eq!((s.lost, s.late, s.duplicates, s.discarded), (0, 0, 0, 0));
    assert!(s.skipped <= 4, "the excess is at most 4 frames: {s:?}");
    // Before the first frame only silence: playout starts once the first packet (arrived at
    // 10 ms) has waited the 80 ms start target, i.e. at the first grid point after 90 ms.
    let first_frame = out
        .iter()
        .position(|(_, p)| matches!(p, Playout::Frame { .. }))
        .unwrap();
    assert!(out[..first_frame]
        .iter()
        .all(|(_, p)| *p == Playout::Silence));
    assert!(
        (90.0..=110.0).contains(&out[first_frame].0),
        "{}",
        out[first_frame].0
    );
    // Frame timestamps are the sender's.
    if let (
        _,
        Playout::Frame {
            timestamp, payload, ..
        },
    ) = &out[first_frame]
    {
        assert_eq!(
            *timestamp,
            5_000 + u32::from(seq_of(payload) - 100) * FRAME_TS
        );
    }
}

#[test]
fn reordering_within_the_target_costs_nothing() {
    let mut h = Harness::default();
    // Every 7th packet is overtaken by its successor (arrives 25 ms later than it should).
    stream(&mut h, 100, 0, 0, |i| {
        Some(if i % 7 == 3 { 35.0 } else { 10.0 })
    });
    let out = h.run(0..110, 5.0);
    let s = h.stats();
    assert_identities(&s);
    assert!(s.reordered >= 13, "{s:?}");
    assert_eq!((s.lost, s.late), (0, 0), "{s:?}");
    let seqs = played_seqs(&out);
    assert!(seqs.windows(2).all(|w| w[1] > w[0]));
    assert_eq!(s.played + s.skipped, 100);
}

#[test]
fn duplicates_are_counted_and_played_once() {
    let mut h = Harness::default();
    stream(&mut h, 100, 0, 0, |_| Some(10.0));
    // A second copy of every packet, 3 ms or 150 ms after the first (the latter after play).
    stream(&mut h, 100, 0, 0, |i| {
        Some(if i % 2 == 0 { 13.0 } else { 150.0 })
    });
    let out = h.run(0..120, 5.0);
    let s = h.stats();
    assert_identities(&s);
    assert_eq!(s.duplicates, 100, "{s:?}");
    assert_eq!(
        s.late, 0,
        "a copy of a played packet is a duplicate, not late"
    );
    let seqs = played_seqs(&out);
    assert!(
        seqs.windows(2).all(|w| w[1] > w[0]),
        "played twice: {seqs:?}"
    );
}

#[test]
fn a_single_loss_is_recovered_with_fec_from_the_next_packet() {
    let (h, out) = steady(100, |i| i == 60);
    let s = h.stats();
    assert_identities(&s);
    assert_eq!((s.lost, s.recovered_fec, s.concealed), (1, 1, 0), "{s:?}");
    let fec = out
        .iter()
        .find_map(|(_, p)| match p {
            Playout::Fec {
                next_payload,
                timestamp,
                dred_from: None,
            } => Some((seq_of(next_payload), *timestamp)),
            _ => None,
        })
        .unwrap();
    assert_eq!(fec, (161, 5_000 + 60 * FRAME_TS), "FEC for 160 from 161");
    // 161 itself still plays, right after.
    assert!(played_seqs(&out).contains(&161));
}

#[test]
fn a_burst_is_concealed_then_fec_recovers_its_last_frame() {
    let (h, out) = steady(100, |i| i == 60 || i == 61 || i == 62);
    let s = h.stats();
    assert_identities(&s);
    // 160 and 161: the next packet present (163) is not their successor: PLC.
    // 162: its successor 163 is here: FEC.
    assert_eq!((s.lost, s.recovered_fec, s.concealed), (3, 1, 2), "{s:?}");
    let kinds: Vec<&str> = out
        .iter()
        .filter_map(|(_, p)| match p {
            Playout::Conceal { .. } => Some("plc"),
            Playout::Fec { .. } => Some("fec"),
            _ => None,
        })
        .collect();
    let fec_at = kinds.iter().position(|k| *k == "fec").unwrap();
    assert!(kinds[..fec_at].iter().filter(|k| **k == "plc").count() >= 2);
}

#[test]
fn a_packet_that_misses_its_slot_is_late_and_dropped() {
    let mut h = Harness::default();
    stream(&mut h, 100, 0, 0, |i| {
        Some(if i == 50 { 600.0 } else { 10.0 })
    });
    let out = h.run(0..110, 5.0);
    let s = h.stats();
    assert_identities(&s);
    assert_eq!(s.late, 1, "{s:?}");
    assert_eq!(s.lost, 1, "{s:?}");
    assert!(!played_seqs(&out).contains(&50));
}

#[test]
fn before_any_packet_and_after_reset_it_is_silent() {
    let mut h = Harness::default();
    assert_eq!(h.pop_at(0.0), Playout::Silence);
    stream(&mut h, 50, 0, 0, |_| Some(10.0));
    h.run(1..40, 5.0);
    h.jb.reset();
    let s = h.stats();
    assert!(s.discarded > 0, "buffered packets are flushed: {s:?}");
    assert_eq!(h.pop_at(40.0 * FRAME_MS + 5.0), Playout::Silence);
    assert_identities(&h.stats());
}
