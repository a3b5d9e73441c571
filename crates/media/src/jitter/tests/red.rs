//! RFC 2198 copies (`push_redundant`): they fill only slots whose own packet never came, before
//! those slots play, and after a gap the target leaves room for the deepest copy.

use super::*;

/// A stream of `count` packets, 10 ms network delay, where `lost(i)` packets never arrive and
/// every packet that does carries copies of the `depth` frames before it. Pops on the grid.
fn with_copies(count: u16, depth: u16, lost: impl Fn(u16) -> bool) -> (JitterBuffer, Vec<Playout>) {
    let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
    let base = Instant::now();
    let at = |ms: f64| base + Duration::from_micros((ms * 1000.0) as u64);
    let mut out = Vec::new();
    for i in 0..count + 10 {
        let t = f64::from(i) * FRAME_MS;
        if i < count && !lost(i) {
            jb.push(at(t + 10.0), packet(SSRC, i, u32::from(i) * FRAME_TS));
            for d in 1..=depth.min(i) {
                let copy = packet(SSRC, i - d, u32::from(i - d) * FRAME_TS);
                jb.push_redundant(at(t + 10.0), copy, d as u8);
            }
        }
        out.push(jb.pop(at(t + 15.0)));
    }
    (jb, out)
}

fn played(out: &[Playout]) -> Vec<u16> {
    out.iter()
        .filter_map(|p| match p {
            Playout::Frame { payload, .. } => Some(seq_of(payload)),
            _ => None,
        })
        .collect()
}

#[test]
fn bursts_of_two_play_whole_from_copies_two_deep() {
    // Two lost in a row every 10 packets, from packet 20 on.
    let lost = |i: u16| i >= 20 && i % 10 < 2;
    let (jb, out) = with_copies(200, 2, lost);
    let s = jb.stats();
    assert_identities(&s);
    let seqs = played(&out);
    let missing: Vec<u16> = (0..200).filter(|i| lost(*i) && !seqs.contains(i)).collect();
    assert!(
        missing.is_empty(),
        "lost frames not played whole: {missing:?}"
    );
    assert_eq!(s.recovered_red, 36, "{s:?}");
    assert_eq!((s.lost, s.late), (0, 0), "{s:?}");
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "in order: {seqs:?}");
    // Copies come up to two frames late: the target keeps three frames after a gap.
    assert!(s.target_delay_ms >= 60, "{s:?}");
}

#[test]
fn copies_of_frames_that_arrived_change_nothing() {
    let (with, out_with) = with_copies(100, 2, |_| false);
    let (without, out_without) = with_copies(100, 0, |_| false);
    assert_eq!(played(&out_with), played(&out_without));
    let (a, b) = (with.stats(), without.stats());
    assert_eq!(a.recovered_red, 0);
    assert_eq!(
        a.packets_received, b.packets_received,
        "unused copies are not counted"
    );
    assert_eq!(a.duplicates, 0, "{a:?}");
}

#[test]
fn a_copy_too_late_for_its_slot_is_dropped() {
    // Packet 30 is lost and its only copy (one deep) comes with 31; with copies one deep but
    // bursts of three, the middle one can only be concealed or rebuilt by FEC.
    let lost = |i: u16| (30..33).contains(&i);
    let (jb, out) = with_copies(100, 1, lost);
    let s = jb.stats();
    assert_identities(&s);
    let seqs = played(&out);
    assert!(
        seqs.contains(&32),
        "the newest lost frame comes back from 33's copy"
    );
    assert!(!seqs.contains(&30) && !seqs.contains(&31));
    assert_eq!(s.recovered_red, 1, "{s:?}");
    assert_eq!(s.lost, 2, "{s:?}");
}

#[test]
fn dred_is_asked_of_the_first_original_not_of_a_copy() {
    // 100..=105 lost; 105's copy comes with 106. A copy carries no DRED (senders strip it), so
    // every slot of the burst names original 106 for DRED, and 104, whose next packet is the
    // copy, is handed both: the copy for its LBRR, 106 for DRED where there is none.
    let (jb, out) = with_copies(300, 1, |i| (100..106).contains(&i));
    let mut named = Vec::new();
    for p in &out {
        match p {
            Playout::Conceal {
                timestamp,
                later: Some(later),
            } => {
                named.push((*timestamp / FRAME_TS, seq_of(&later.payload)));
                assert_eq!(timestamp + later.distance, 106 * FRAME_TS, "{p:?}");
            }
            Playout::Fec {
                next_payload,
                timestamp,
                dred_from,
            } => {
                assert_eq!(seq_of(next_payload), 105, "the copy's LBRR: {p:?}");
                let dred = dred_from.as_ref().expect("an original for DRED");
                assert_eq!(seq_of(&dred.payload), 106);
                assert_eq!(timestamp + dred.distance, 106 * FRAME_TS);
                named.push((*timestamp / FRAME_TS, 106));
            }
            _ => {}
        }
    }
    assert!(
        named.iter().all(|(_, later)| *later == 106),
        "DRED asked of a copy: {named:?}"
    );
    assert!(named.iter().any(|(slot, _)| *slot == 104), "{named:?}");
    assert!(
        played(&out).contains(&105),
        "the copy still plays its own slot"
    );
    assert_identities(&jb.stats());
}
