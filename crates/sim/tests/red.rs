//! RFC 2198 redundancy between two real call engines in virtual time: a clean call stops
//! sending copies after the first report; once the far end reports loss, each packet carries copies of the frames before it,
//! and under bursty loss (bursts of three on average) more lost frames play whole from a copy
//! than are rebuilt coarsely by Opus FEC or concealed.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::time::Duration;

use ringwire_core::{CallState, CallSummary, Command};
use ringwire_server::router::RouterConfig;
use ringwire_sim::{LinkConfig, Loss, World};

const ALICE_HZ: f64 = 440.0;
const BOB_HZ: f64 = 880.0;

/// A call of `seconds` with `loss` on the media path both ways; Alice's summary at the end.
fn call_under(seed: u64, loss: Loss, seconds: u64) -> (CallSummary, f64) {
    let mut w = World::new(seed, RouterConfig::default());
    let alice = w.add_user("alice").unwrap();
    let bob = w.add_user("bob").unwrap();
    let a = w.add_device(&alice, "alice", ALICE_HZ);
    let b = w.add_device(&bob, "bob", BOB_HZ);
    let clean = LinkConfig::with_delay(Duration::from_millis(20));
    w.net.set_default_link(clean.clone());
    w.run_for(Duration::from_millis(200));
    let call = w.call(a, "bob");
    assert!(w.run_until(Duration::from_secs(2), |w| w
        .device(b)
        .incoming_calls()
        .contains(&call)));
    w.command(b, Command::Answer { call_id: call }).unwrap();
    let active = |w: &World| w.device(a).agent.call_state(call) == Some(CallState::Active);
    assert!(w.run_until(Duration::from_secs(3), active));
    w.net.set_default_link(clean.clone().loss(loss));
    w.run_for(Duration::from_secs(seconds));
    w.net.set_default_link(clean);
    w.run_for(Duration::from_millis(500));
    let heard = w.device(a).heard_hz();
    w.command(a, Command::End { call_id: call }).unwrap();
    w.run_for(Duration::from_millis(100));
    (w.device(a).ended_summary(call).unwrap(), heard)
}

#[test]
fn a_clean_call_sends_no_copies() {
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
