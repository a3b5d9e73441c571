//! alice calls bob, who has two devices: both ring, one accepts, the other hears
//! `answered_elsewhere`, and the call record says who answered.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use std::time::Duration;

use common::{ended_reason, is_incoming, World};
use ringwire_proto::{ClientMessage, EndReason, Invite, ServerMessage};
use ringwire_router::record::{CallState, Reach};

#[test]
fn first_accept_wins_and_the_other_device_hears_answered_elsewhere() {
    let mut w = World::new(1);
    let c = w.cast();
    for d in [c.a, c.b1, c.b2] {
        let now = w.now();
        w.sig.connect(now, d).unwrap();
    }
    w.run_for(Duration::from_millis(100));
    for d in [c.a, c.b1, c.b2] {
        let welcome = w.take(d);
        assert!(
            matches!(&welcome[..], [ServerMessage::Welcome(wm)] if wm.device_id == d),
            "{welcome:?}"
        );
        assert!(w.sig.router().is_connected(d));
    }
    w.mark_read();

    let call = w.sig.new_call_id();
    let invited_at = w.now();
    w.sig
        .send(
            invited_at,
            c.a,
            ClientMessage::Invite(Invite {
                call_id: call,
                to_user: c.bob.clone(),
            }),
        )
        .unwrap();
    w.run_for(Duration::from_millis(100));
    // 25 ms up, 25 ms down: both of bob's devices hear `incoming` 50 ms after the invite.
    for d in [c.b1, c.b2] {
        let at = w.first_time(d, |m| is_incoming(m, call)).unwrap();
        assert_eq!(at - invited_at, Duration::from_millis(50));
        match &w.take(d)[..] {
            [ServerMessage::Incoming(i)] => {
                assert_eq!((i.from_device, &i.from_user), (c.a, &c.alice));
                assert!(!i.replayed);
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        &w.take(c.a)[..],
        [ServerMessage::Calling {
            devices_online: 2,
            devices_offline: 0,
            ..
        }]
    ));
    w.mark_read();

    for d in [c.b1, c.b2] {
        let now = w.now();
        w.sig
            .send(now, d, ClientMessage::Ringing { call_id: call })
            .unwrap();
    }
    w.run_for(Duration::from_millis(100));
    w.mark_read();

    // The tablet accepts; the phone's accept comes 5 ms later and loses.
    let now = w.now();
    w.sig
        .send(now, c.b2, ClientMessage::Accept { call_id: call })
        .unwrap();
    w.clock.advance(Duration::from_millis(5));
    let now = w.now();
    w.sig
        .send(now, c.b1, ClientMessage::Accept { call_id: call })
        .unwrap();
    w.run_for(Duration::from_millis(200));

    let to_phone = w.take(c.b1);
    assert_eq!(
        ended_reason(&to_phone, call),
        Some(EndReason::AnsweredElsewhere),
        "{to_phone:?}"
    );
    assert!(w
        .take(c.b2)
        .iter()
        .any(|m| matches!(m, ServerMessage::Accepted { device_id, .. } if *device_id == c.b2)));
    assert!(w
        .take(c.a)
        .iter()
        .any(|m| matches!(m, ServerMessage::Accepted { device_id, .. } if *device_id == c.b2)));
    assert_eq!(ended_reason(&w.take(c.a), call), None);

    let record = w.sig.call_record(call).unwrap().clone();
    assert_eq!(record.state, CallState::Active);
    assert_eq!(record.answered_device, Some(c.b2));
    assert_eq!(record.caller_device, c.a);
    assert_eq!(record.end_reason, None);
    assert!(record
        .devices
        .iter()
        .all(|d| d.reached_via == Reach::Socket && d.rang_at_ms.is_some()));
    assert_eq!(
        record.accepted_at_ms,
        Some(w.clock.time_base().unix_ms(now - Duration::from_millis(5)) + 25)
    );
    w.mark_read();

    // alice hangs up: the record ends as a hangup by her device, after an answer.
    let now = w.now();
    w.sig.send(now, c.a, ClientMessage::hangup(call)).unwrap();
    w.run_for(Duration::from_millis(100));
    assert_eq!(ended_reason(&w.take(c.b2), call), Some(EndReason::Hangup));
    assert_eq!(
        ended_reason(&w.take(c.b1), call),
        None,
        "the phone was already told"
    );
    let record = w.sig.call_record(call).unwrap();
    assert_eq!(record.state, CallState::Ended);
    assert_eq!(record.end_reason, Some(EndReason::Hangup));
    assert_eq!(record.ended_by_device, Some(c.a));
    assert_eq!(record.answered_device, Some(c.b2));
}
