//! The counter identities hold at every step of a long random run with loss, reordering,
//! duplicates and jitter.

use super::*;

fn random_run(seed: u64) {
    let mut h = Harness::default();
    let mut rng = SeededRng::new(seed);
    let count = 1500u32;
    for i in 0..count {
        if rng.next_f64() < 0.10 {
            continue; // lost
        }
        // Base delay 20 ms, jitter 0-30 ms, 5% reordered by up to 60 ms more.
        let mut d = 20.0 + 30.0 * rng.next_f64();
        if rng.next_f64() < 0.05 {
            d += 60.0 * rng.next_f64();
        }
        let p = packet(SSRC, i as u16, i * FRAME_TS);
        if rng.next_f64() < 0.05 {
            h.send(
                f64::from(i) * FRAME_MS + d + 80.0 * rng.next_f64(),
                p.clone(),
            );
        }
        h.send(f64::from(i) * FRAME_MS + d, p);
    }
    let mut last_seq = None;
    for k in 0..count + 30 {
        let t = f64::from(k) * FRAME_MS + 3.0;
        if let Playout::Frame { payload, .. } = h.pop_at(t) {
            let q = seq_of(&payload);
            if let Some(prev) = last_seq {
                assert!(q > prev, "seed {seed}: {q} played after {prev}");
            }
            last_seq = Some(q);
        }
        assert_identities(&h.stats());
    }
    let s = h.stats();
    assert!(s.lost > 50 && s.recovered_fec > 20, "seed {seed}: {s:?}");
    assert!(s.duplicates > 20 && s.reordered > 20, "seed {seed}: {s:?}");
    assert!(
        s.played + s.lost + s.skipped >= u64::from(count) * 95 / 100,
        "seed {seed}: most slots accounted for: {s:?}"
    );
}

#[test]
fn identities_hold_under_random_loss_reorder_and_duplicates() {
    for seed in [1, 2, 3, 42, 1234] {
        random_run(seed);
    }
}
