//! Nobody answers: the call ends as `no_answer` 45 s after the invite — in virtual time, with
//! no real waiting.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use std::time::{Duration, Instant};

use common::{ended_reason, World};
use ringwire_proto::{ClientMessage, EndReason, Invite, ServerMessage};
use ringwire_router::record::CallState;

#[test]
fn ring_timeout_fires_after_45_virtual_seconds() {
    let real_start = Instant::now();
    let mut w = World::new(2);
    let c = w.cast();
    for d in [c.a, c.b1, c.b2] {
        let now = w.now();
        w.sig.connect(now, d).unwrap();
    }
    w.run_for(Duration::from_secs(1));
    let call = w.sig.new_call_id();
    let sent = w.now();
    w.sig
        .send(
            sent,
            c.a,
            ClientMessage::Invite(Invite {
                call_id: call,
                to_user: c.bob.clone(),
            }),
        )
        .unwrap();
    // The router decides at arrival (25 ms after sending), so the deadline is 45 s after that.
    let deadline = sent + Duration::from_millis(25) + Duration::from_secs(45);
    w.run_until(deadline - Duration::from_millis(1));
    for d in [c.a, c.b1, c.b2] {
        assert_eq!(
            ended_reason(&w.all(d), call),
            None,
            "still ringing at 44.999 s"
        );
    }
    assert_eq!(w.sig.router().stats().calls_ringing, 1);

    w.run_for(Duration::from_secs(1));
    for d in [c.a, c.b1, c.b2] {
        let at = w
            .first_time(d, |m| matches!(m, ServerMessage::Ended { .. }))
            .unwrap();
        // The end is decided at the deadline and takes 25 ms down the link.
        assert_eq!(at, deadline + Duration::from_millis(25));
        assert_eq!(ended_reason(&w.all(d), call), Some(EndReason::NoAnswer));
    }
    let record = w.sig.call_record(call).unwrap();
    assert_eq!(record.state, CallState::Ended);
    assert_eq!(record.end_reason, Some(EndReason::NoAnswer));
    assert_eq!(record.answered_device, None);
    assert_eq!(
        record.ended_at_ms,
        Some(w.clock.time_base().unix_ms(deadline))
    );
    assert!(w.clock.elapsed() >= Duration::from_secs(46));
    assert!(
        real_start.elapsed() < Duration::from_secs(5),
        "virtual time must not wait: {:?}",
        real_start.elapsed()
    );
}

#[test]
fn a_shorter_configured_ring_timeout_is_honoured_and_announced() {
    let config = ringwire_router::RouterConfig {
        ring_timeout_ms: 10_000,
        ..Default::default()
    };
    let mut w = World::with_config(config, 3);
    let c = w.cast();
    for d in [c.a, c.b1] {
        let now = w.now();
        w.sig.connect(now, d).unwrap();
    }
    w.run_for(Duration::from_secs(1));
    assert!(matches!(
        &w.all(c.b1)[..],
        [ServerMessage::Welcome(wm)] if wm.ring_timeout_ms == 10_000
    ));
    let call = w.sig.new_call_id();
    let now = w.now();
    w.sig
        .send(
            now,
            c.a,
            ClientMessage::Invite(Invite {
                call_id: call,
                to_user: c.bob.clone(),
            }),
        )
        .unwrap();
    // 25 ms up, 10 s of ringing, 25 ms down.
    w.run_for(Duration::from_millis(10_049));
    assert_eq!(ended_reason(&w.all(c.a), call), None);
    w.run_for(Duration::from_millis(2));
    assert_eq!(ended_reason(&w.all(c.a), call), Some(EndReason::NoAnswer));
}
