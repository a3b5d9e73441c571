//! A call whose media never connects (the network between the two phones drops every datagram,
//! as between two NATs with no TURN) is answered over signaling, but must never look like a good
//! call: it ends within the media timeout, never hangs, and whatever ended it, both phones
//! report `media_failed` with cause `ice_failed`, `media_connected: false`, and no quality (no
//! MOS estimated from zero frames).

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::time::Duration;

use ringwire_core::{CallEndReason, CallState, Command, MediaFailure, Report};
use ringwire_proto::{CallId, EndReason};
use ringwire_router::RouterConfig;
use ringwire_sim::{Dev, LinkConfig, World};

/// Alice calls Bob with every datagram between their phones dropped (signaling still works);
/// Bob answers at once. Returns once both consider the call answered.
fn answered_without_a_path(seed: u64) -> (World, Dev, Dev, CallId) {
    let mut w = World::new(seed, RouterConfig::default());
    let alice = w.add_user("alice").unwrap();
    let bob = w.add_user("bob").unwrap();
    let a = w.add_device(&alice, "alice", 440.0);
    let b = w.add_device(&bob, "bob", 880.0);
    w.net
        .set_default_link(LinkConfig::with_delay(Duration::from_millis(15)));
    let (ip_a, ip_b) = (w.device(a).addr.ip(), w.device(b).addr.ip());
    w.net.partition(ip_a, ip_b);
    w.run_for(Duration::from_millis(200));
    let call = w.call(a, "bob");
    assert!(w.run_until(Duration::from_secs(2), |w| w
        .device(b)
        .incoming_calls()
        .contains(&call)));
    w.run_for(Duration::from_millis(500));
    w.command(b, Command::Answer { call_id: call }).unwrap();
    let connecting =
        |w: &World, d: Dev| w.device(d).agent().call_state(call) == Some(CallState::Connecting);
    assert!(
        w.run_until(Duration::from_secs(2), |w| connecting(w, a)
            && connecting(w, b)),
        "both phones wait for media after the answer"
    );
    (w, a, b, call)
}

fn assert_media_failed(w: &World, d: Dev, call: CallId) -> Option<EndReason> {
    let (reason, _) = w.device(d).ended(call).expect("the call ended");
    let CallEndReason::MediaFailed { cause, ended_by } = reason else {
        panic!(
            "{}: expected media_failed, got {reason:?}",
            w.device(d).name
        );
    };
    assert_eq!(cause, MediaFailure::IceFailed);
    let summary = w.device(d).ended_summary(call).unwrap();
    assert!(!summary.media_connected);
    assert_eq!(summary.quality, None, "no MOS without a single frame");
    assert_eq!(summary.frames_decoded, 0);
    assert!(summary.talk_time.is_some(), "it was answered");
    assert_eq!(
        w.device(d)
            .count(|r| matches!(r, Report::Quality { .. } | Report::FirstAudio { .. })),
        0,
        "no quality reports for a call without audio"
    );
    let callkit = w.device(d).reports.iter().find_map(|(_, r)| match r {
        Report::Ended { callkit, .. } => Some(*callkit),
        _ => None,
    });
    if let Some(Some(kind)) = callkit {
        assert_eq!(kind, ringwire_core::CallKitEndReason::Failed);
    }
    ended_by
}

#[test]
fn ice_that_never_connects_ends_the_call_as_media_failed_within_the_media_timeout() {
    let (mut w, a, b, call) = answered_without_a_path(41);
    let timeout = w.device(b).agent().config().media_timeout;
    let ended = |w: &World| w.device(a).ended(call).is_some() && w.device(b).ended(call).is_some();
    assert!(
        w.run_until(timeout + Duration::from_secs(2), ended),
        "the call hung past the media timeout"
    );
    let by_b = assert_media_failed(&w, b, call);
    let by_a = assert_media_failed(&w, a, call);
    assert!(by_a.is_some() && by_b.is_some(), "{by_a:?} {by_b:?}");
    // Bob answered first, so his engine gave up first and told the server why: the server's
    // record and Alice's phone both say the media failed, not that somebody hung up.
    assert_eq!(by_b, Some(EndReason::MediaFailed));
    assert_eq!(by_a, Some(EndReason::MediaFailed));
    let record = w.signaling.call_log().record(call).expect("a call record");
    assert_eq!(record.end_reason, Some(EndReason::MediaFailed));
}

#[test]
fn hanging_up_a_call_that_never_had_media_is_still_media_failed() {
    // The case of issue 16: four seconds of "talk" with nothing sent or heard, then a hangup.
    let (mut w, a, b, call) = answered_without_a_path(42);
    w.run_for(Duration::from_secs(4));
    w.command(a, Command::End { call_id: call }).unwrap();
    let ended = |w: &World| w.device(a).ended(call).is_some() && w.device(b).ended(call).is_some();
    assert!(w.run_until(Duration::from_secs(2), ended));
    assert_eq!(assert_media_failed(&w, a, call), Some(EndReason::Hangup));
    // Alice's engine knew nothing was heard and said so: Bob and the record see media_failed.
    assert_eq!(
        assert_media_failed(&w, b, call),
        Some(EndReason::MediaFailed)
    );
    let record = w.signaling.call_log().record(call).expect("a call record");
    assert_eq!(record.end_reason, Some(EndReason::MediaFailed));
}
