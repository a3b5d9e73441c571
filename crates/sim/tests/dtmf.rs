//! DTMF between two real call engines in virtual time: keys sent as RFC 4733 telephone-events
//! arrive once each and in order, both ways, over a clean link and over a lossy, jittery,
//! duplicating one; audio resumes after the tones; commands that cannot be honoured are
//! refused with the reason and queue nothing.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::time::Duration;

use ringwire_core::{Command, CoreError, Report};
use ringwire_proto::CallId;
use ringwire_sim::{scenario, Dev, LinkConfig, Loss, World};

const ALICE_HZ: f64 = 440.0;
const BOB_HZ: f64 = 880.0;

/// Alice calls Bob over `link`; runs until Bob's device rings.
fn ringing_call(seed: u64, link: LinkConfig) -> (World, Dev, Dev, CallId) {
    scenario::ringing_call(seed, link, ALICE_HZ, BOB_HZ)
}

/// Bob answers the ringing call; runs until both are active.
fn answer(w: &mut World, a: Dev, b: Dev, call: CallId) {
    scenario::answer(w, a, b, call, Duration::from_millis(300));
}

fn active_call(seed: u64, link: LinkConfig) -> (World, Dev, Dev, CallId) {
    let (mut w, a, b, call) = ringing_call(seed, link);
    answer(&mut w, a, b, call);
    (w, a, b, call)
}

/// The keys `dev` heard on `call`, in order.
fn keys_heard(w: &World, dev: Dev, call: CallId) -> String {
    w.device(dev)
        .reports
        .iter()
        .filter_map(|(_, r)| match r {
            Report::DtmfReceived { call_id, digit } if *call_id == call => Some(*digit),
            _ => None,
        })
        .collect()
}

fn send(w: &mut World, dev: Dev, call: CallId, digits: &str) -> Result<(), CoreError> {
    w.command(
        dev,
        Command::SendDtmf {
            call_id: call,
            digits: digits.into(),
        },
    )
}

#[test]
fn keys_arrive_once_each_in_order_both_ways_and_audio_resumes() {
    let (mut w, a, b, call) = active_call(3, LinkConfig::with_delay(Duration::from_millis(20)));
    send(&mut w, a, call, "1234567890*#abcd").unwrap();
    // A second request queues behind the first.
    send(&mut w, a, call, "9").unwrap();
    send(&mut w, b, call, "#0").unwrap();
    // 17 keys of 100 ms with 70 ms gaps (rounded up to frames): about 3.4 s.
    assert!(
        w.run_until(Duration::from_secs(6), |w| keys_heard(w, b, call).len()
            == 17)
    );
    assert_eq!(keys_heard(&w, b, call), "1234567890*#ABCD9");
    assert_eq!(keys_heard(&w, a, call), "#0");
    w.run_for(Duration::from_secs(2));
    assert_eq!(
        keys_heard(&w, b, call).len(),
        17,
        "no key is reported twice"
    );
    // The tones replaced audio frames; the voice comes back after them.
    assert!((w.device(b).heard_hz() - ALICE_HZ).abs() < 15.0);
    assert!((w.device(a).heard_hz() - BOB_HZ).abs() < 15.0);
}

#[test]
fn keys_survive_loss_jitter_and_duplicates() {
    let link = LinkConfig {
        jitter: Duration::from_millis(30),
        loss: Loss::Random(0.10),
        duplicate: 0.05,
        ..LinkConfig::with_delay(Duration::from_millis(40))
    };
    let (mut w, a, b, call) = active_call(7, link);
    send(&mut w, a, call, "5,5").unwrap();
    send(&mut w, a, call, "0123456789").unwrap();
    assert!(
        w.run_until(Duration::from_secs(10), |w| keys_heard(w, b, call).len()
            >= 12)
    );
    w.run_for(Duration::from_secs(1));
    // Each key is five reports and a final one sent three times; losing a whole key would
    // take every one of its eight packets lost (1e-8 at 10 %).
    assert_eq!(keys_heard(&w, b, call), "550123456789");
}

#[test]
fn keys_go_out_while_muted() {
    let (mut w, a, b, call) = active_call(5, LinkConfig::with_delay(Duration::from_millis(10)));
    w.command(
        a,
        Command::SetMuted {
            call_id: call,
            muted: true,
        },
    )
    .unwrap();
    send(&mut w, a, call, "42").unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| keys_heard(w, b, call) == "42"));
}

#[test]
fn refused_requests_say_why_and_queue_nothing() {
    let (mut w, a, b, call) = ringing_call(11, LinkConfig::with_delay(Duration::from_millis(10)));

    // Ringing: nothing to send on yet.
    let err = send(&mut w, b, call, "1").unwrap_err();
    assert!(matches!(err, CoreError::CallState { .. }), "{err}");
    assert!(err.to_string().contains("answered"), "{err}");

    answer(&mut w, a, b, call);

    // A bad character refuses the whole string.
    let err = send(&mut w, a, call, "12e4").unwrap_err();
    assert!(err.to_string().contains("'e' at position 2"), "{err}");
    assert!(send(&mut w, a, call, "").is_err());
    // Unknown call.
    let other: CallId = "0123456789abcdef0123456789abcdef".parse().unwrap();
    assert!(matches!(
        send(&mut w, a, other, "1").unwrap_err(),
        CoreError::UnknownCall { .. }
    ));
    // Held.
    w.command(
        a,
        Command::SetHeld {
            call_id: call,
            held: true,
        },
    )
    .unwrap();
    assert!(send(&mut w, a, call, "1")
        .unwrap_err()
        .to_string()
        .contains("held"));
    w.command(
        a,
        Command::SetHeld {
            call_id: call,
            held: false,
        },
    )
    .unwrap();
    // The queue is bounded.
    send(&mut w, a, call, &"1".repeat(200)).unwrap();
    assert!(send(&mut w, a, call, &"2".repeat(100)).is_err());

    w.run_for(Duration::from_secs(1));
    assert!(
        keys_heard(&w, b, call).chars().all(|c| c == '1'),
        "only the accepted request is sent: {}",
        keys_heard(&w, b, call)
    );
}
