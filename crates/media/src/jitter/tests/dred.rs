//! DRED support: a slot lost in a burst is handed out with the packet after it (and its
//! distance) for its DRED to rebuild, the target leaves room for the longest recent burst while
//! the stream's DRED reaches that far, and comes back down two seconds after the last burst.

use super::*;

/// Packets every 20 ms with 10 ms network delay; `lost(i)` never arrive. Pops on the grid 15 ms
/// after each send, and `note_dred_reach(reach)` once the first burst was seen, as the
/// receiver does after parsing. Returns every pop with its time and the buffer.
fn stream(
    count: u16,
    reach: u32,
    lost: impl Fn(u16) -> bool,
) -> (JitterBuffer, Vec<(f64, Playout)>) {
    let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
    let base = Instant::now();
    let at = |ms: f64| base + Duration::from_micros((ms * 1000.0) as u64);
    let mut out = Vec::new();
    for i in 0..count + 20 {
        let t = f64::from(i) * FRAME_MS;
        if i < count && !lost(i) {
            jb.push(at(t + 10.0), packet(SSRC, i, u32::from(i) * FRAME_TS));
        }
        let playout = jb.pop(at(t + 15.0));
        if matches!(playout, Playout::Conceal { later: Some(_), .. }) {
            jb.note_dred_reach(at(t + 15.0), reach);
        }
        out.push((t + 15.0, playout));
    }
    (jb, out)
}

#[test]
fn a_slot_lost_in_a_burst_comes_with_the_packet_after_it() {
    // Five lost in a row at 100..105, nothing else.
    let (jb, out) = stream(300, 25, |i| (100..105).contains(&i));
    let lost: Vec<(u32, u32, u16)> = out
        .iter()
        .filter_map(|(_, p)| match p {
            Playout::Conceal {
                timestamp,
                later: Some(later),
            } => Some((*timestamp, later.distance, seq_of(&later.payload))),
            _ => None,
        })
        .collect();
    // Each lost slot names packet 105 and how far before it the slot starts. The buffer may
    // hold the first slot (growing its delay) before it knows the slot is lost, so every
    // slot whose packet never came is there once, with the right distance.
    assert!(!lost.is_empty(), "{out:?}");
    for (timestamp, distance, later) in &lost {
        assert_eq!(*later, 105);
        assert_eq!(timestamp + distance, 105 * FRAME_TS);
    }
    let s = jb.stats();
    assert_identities(&s);
    assert_eq!(s.lost, 5, "{s:?}");
}

#[test]
fn the_target_covers_the_longest_burst_while_an_episode_lasts_and_then_falls() {
    // Bursts of 6 every 40 packets from 100 to 400, then clean.
    let lost = |i: u16| (100..400).contains(&i) && i % 40 < 6;
    let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
    let base = Instant::now();
    let at = |ms: f64| base + Duration::from_micros((ms * 1000.0) as u64);
    let mut targets = Vec::new();
    for i in 0..700u16 {
        let t = f64::from(i) * FRAME_MS;
        if !lost(i) {
            jb.push(at(t + 10.0), packet(SSRC, i, u32::from(i) * FRAME_TS));
        }
        if matches!(
            jb.pop(at(t + 15.0)),
            Playout::Conceal { later: Some(_), .. }
        ) {
            jb.note_dred_reach(at(t + 15.0), 25);
        }
        targets.push((i, jb.stats().target_delay_ms, jb.stats().clean_delay_ms));
    }
    let during: Vec<u32> = targets
        .iter()
        .filter(|(i, _, _)| (200..400).contains(i))
        .map(|&(_, t, _)| t)
        .collect();
    assert!(
        during.iter().all(|&t| t >= 7 * 20),
        "room for a burst of 6 and the packet after it: {during:?}"
    );
    let clean: Vec<u32> = targets.iter().map(|&(_, _, c)| c).collect();
    assert!(clean.iter().skip(100).all(|&c| c <= 40), "{clean:?}");
    // Two seconds after the last burst (packet 366..372) the floor is gone.
    let after: Vec<u32> = targets
        .iter()
        .filter(|(i, _, _)| *i >= 372 + 100 + 5)
        .map(|&(_, t, _)| t)
        .collect();
    assert!(after.iter().all(|&t| t <= 40), "{after:?}");
}

#[test]
fn without_dred_the_floor_is_red_and_fec_only() {
    let lost = |i: u16| (100..400).contains(&i) && i % 40 < 6;
    let (jb, _) = stream(400, 0, lost);
    // No reach noted (0): the floor is the FEC lookahead, two frames.
    assert!(jb.stats().target_delay_ms <= 60, "{:?}", jb.stats());
}

#[test]
fn with_time_stretch_speech_frames_are_never_dropped_to_shrink() {
    // A 200 ms delay step down (the path got faster) with time-stretching on: the buffer
    // reports the excess and drops nothing but quiet frames.
    let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
    jb.set_time_stretch(true);
    let base = Instant::now();
    let at = |ms: f64| base + Duration::from_micros((ms * 1000.0) as u64);
    let mut excess = Vec::new();
    for i in 0..300u16 {
        let t = f64::from(i) * FRAME_MS;
        let delay = if i < 100 { 210.0 } else { 10.0 };
        jb.push(at(t + delay), packet(SSRC, i, u32::from(i) * FRAME_TS));
        jb.pop(at(t + 5.0 + 200.0));
        excess.push(jb.excess_ms());
    }
    assert_eq!(jb.stats().skipped, 0, "{:?}", jb.stats());
    assert!(
        excess.iter().any(|&e| e >= 20.0),
        "the excess is reported: {excess:?}"
    );
}
