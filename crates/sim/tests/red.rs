//! RFC 2198 redundancy between two real call engines in virtual time: a clean call stops
//! sending copies after the first report and never needs one; once the far end reports loss,
//! each packet carries copies of the frames before it, and under bursty loss (bursts of three
//! on average) more lost frames play whole from a copy than are rebuilt coarsely by Opus FEC
//! or concealed.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::time::Duration;

use ringwire_core::{CallSummary, Command};
use ringwire_sim::{scenario, LinkConfig, Loss};

const ALICE_HZ: f64 = 440.0;
const BOB_HZ: f64 = 880.0;

/// A call of `seconds` with `loss` on the media path both ways; Alice's summary at the end.
fn call_under(seed: u64, loss: Loss, seconds: u64) -> (CallSummary, f64) {
    let clean = LinkConfig::with_delay(Duration::from_millis(20));
    let (mut w, a, b, call) = scenario::ringing_call(seed, clean, ALICE_HZ, BOB_HZ);
    scenario::answer(&mut w, a, b, call, Duration::ZERO);
    w.net.set_default_link(clean.loss(loss));
    w.run_for(Duration::from_secs(seconds));
    w.net.set_default_link(clean);
    w.run_for(Duration::from_millis(500));
    let heard = w.device(a).heard_hz();
    w.command(a, Command::End { call_id: call }).unwrap();
    w.run_for(Duration::from_millis(100));
    (w.device(a).ended_summary(call).unwrap(), heard)
}

#[test]
fn a_clean_call_needs_no_copies() {
    let (s, heard) = call_under(21, Loss::None, 5);
    assert_eq!(s.frames_recovered_red, 0, "{s:?}");
    assert_eq!(s.frames_concealed, 0, "{s:?}");
    assert!((heard - BOB_HZ).abs() < 15.0);
}

#[test]
fn bursty_loss_is_repaired_mostly_by_copies() {
    let (s, heard) = call_under(22, Loss::bursty(0.10, 3.0), 20);
    let repaired_coarsely = s.frames_recovered_fec + s.frames_concealed;
    eprintln!(
        "10 % bursty loss: decoded {} (from RED {}), FEC {}, concealed {}",
        s.frames_decoded, s.frames_recovered_red, s.frames_recovered_fec, s.frames_concealed
    );
    // About 100 of the 1000 frames are lost. One copy goes out until the first report, two
    // from then on: they bring back bursts of one and two whole and the newest two of a
    // longer burst, with geometric bursts of mean 3 about 5/9 of the lost frames.
    assert!(s.frames_recovered_red > 50, "{s:?}");
    assert!(
        s.frames_recovered_red > repaired_coarsely,
        "copies filled {} slots, FEC and PLC {repaired_coarsely}",
        s.frames_recovered_red
    );
    assert!((heard - BOB_HZ).abs() < 15.0, "heard {heard} Hz");
}
