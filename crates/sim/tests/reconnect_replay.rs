//! Devices whose signaling connection drops miss what is sent meanwhile and catch up when they
//! come back: `incoming` replayed, a missed end told again when the device asks for the call.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use std::time::Duration;

use common::{ended_reason, is_incoming, World};
use ringwire_proto::{ClientMessage, EndReason, Invite, ServerMessage};
use ringwire_router::record::Reach;
use ringwire_sim::SignalingLink;

fn invite(
    w: &mut World,
    from: ringwire_proto::DeviceId,
    to: &ringwire_proto::UserName,
) -> ringwire_proto::CallId {
    let call = w.sig.new_call_id();
    let now = w.now();
    w.sig
        .send(
            now,
            from,
            ClientMessage::Invite(Invite {
                call_id: call,
                to_user: to.clone(),
            }),
        )
        .unwrap();
    call
}

#[test]
fn disconnected_device_misses_incoming_and_gets_it_replayed_on_reconnect() {
    let mut w = World::new(11);
    let c = w.cast();
    for d in [c.a, c.b1, c.b2] {
        let now = w.now();
        w.sig.connect(now, d).unwrap();
    }
    w.run_for(Duration::from_millis(100));
    let now = w.now();
    w.sig.disconnect(now, c.b2).unwrap();
    assert!(!w.sig.is_connected(c.b2));
    // The server notices 25 ms later.
    assert!(w.sig.router().is_connected(c.b2));
    w.run_for(Duration::from_millis(30));
    assert!(!w.sig.router().is_connected(c.b2));
    w.mark_read();

    let call = invite(&mut w, c.a, &c.bob);
    w.run_for(Duration::from_secs(5));
    assert!(w.take(c.b1).iter().any(|m| is_incoming(m, call)));
    assert!(w.take(c.b2).is_empty(), "an offline device hears nothing");
    assert!(w.take(c.a).iter().any(|m| matches!(
        m,
        ServerMessage::Calling {
            devices_online: 1,
            devices_offline: 1,
            ..
        }
    )));
    w.mark_read();

    let now = w.now();
    w.sig.connect(now, c.b2).unwrap();
    w.run_for(Duration::from_millis(100));
    match &w.take(c.b2)[..] {
        [ServerMessage::Welcome(_), ServerMessage::Incoming(i)] => {
            assert_eq!(i.call_id, call);
            assert!(i.replayed, "{i:?}");
        }
        other => panic!("{other:?}"),
    }
    let record = w.sig.call_record(call).unwrap();
    let b2 = record.devices.iter().find(|d| d.device_id == c.b2).unwrap();
    assert_eq!(b2.reached_via, Reach::Replay);
}

#[test]
fn messages_sent_on_a_dead_link_or_in_flight_when_it_drops_are_lost() {
    let mut w = World::new(12);
    let c = w.cast();
    for d in [c.a, c.b1, c.b2] {
        let now = w.now();
        w.sig.connect(now, d).unwrap();
    }
    w.run_for(Duration::from_millis(100));
    let call = invite(&mut w, c.a, &c.bob);
    w.run_for(Duration::from_millis(100));
    let lost_before = w.sig.stats().up_lost;

    // b1 accepts and its link dies 10 ms later, before the accept reached the server.
    let now = w.now();
    w.sig
        .send(now, c.b1, ClientMessage::Accept { call_id: call })
        .unwrap();
    w.clock.advance(Duration::from_millis(10));
    let now = w.now();
    w.sig.disconnect(now, c.b1).unwrap();
    // b2 is offline too and accepts into the void.
    w.sig.disconnect(now, c.b2).unwrap();
    w.sig
        .send(now, c.b2, ClientMessage::Accept { call_id: call })
        .unwrap();
    w.run_for(Duration::from_secs(1));
    assert_eq!(w.sig.stats().up_lost, lost_before + 2);
    assert!(w.sig.call_record(call).unwrap().answered_device.is_none());
    assert_eq!(w.sig.router().stats().calls_ringing, 1);
}

#[test]
fn an_end_lost_on_a_half_open_link_is_told_again_when_the_device_asks_for_the_call() {
    let mut w = World::new(13);
    let c = w.cast();
    for d in [c.a, c.b1, c.b2] {
        let now = w.now();
        w.sig.connect(now, d).unwrap();
    }
    // The tablet's server side will not notice it is gone for a minute.
    let half_open = SignalingLink {
        close_detect: Duration::from_secs(60),
        ..SignalingLink::default()
    };
    w.sig.set_link(c.b2, half_open).unwrap();
    w.run_for(Duration::from_millis(100));
    let call = invite(&mut w, c.a, &c.bob);
    w.run_for(Duration::from_millis(100));
    assert!(w.take(c.b2).iter().any(|m| is_incoming(m, call)));
    w.mark_read();

    let now = w.now();
    w.sig.disconnect(now, c.b2).unwrap();
    let lost_down = w.sig.stats().down_lost;
    w.sig
        .send(now, c.b1, ClientMessage::Accept { call_id: call })
        .unwrap();
    w.run_for(Duration::from_secs(1));
    assert!(
        w.sig.router().is_connected(c.b2),
        "the server has not noticed"
    );
    assert!(w.take(c.b2).is_empty());
    assert_eq!(
        w.sig.stats().down_lost,
        lost_down + 1,
        "answered_elsewhere went into the dead connection"
    );

    // Reconnecting without naming the call: the router believes it told the tablet already.
    let now = w.now();
    w.sig.connect(now, c.b2).unwrap();
    w.run_for(Duration::from_millis(100));
    assert!(matches!(&w.take(c.b2)[..], [ServerMessage::Welcome(_)]));
    w.mark_read();

    // Naming the call it still shows in CallKit gets the end it missed.
    let now = w.now();
    w.sig.connect_with_calls(now, c.b2, vec![call]).unwrap();
    w.run_for(Duration::from_millis(100));
    let msgs = w.take(c.b2);
    assert!(matches!(msgs.first(), Some(ServerMessage::Welcome(_))));
    assert_eq!(
        ended_reason(&msgs, call),
        Some(EndReason::AnsweredElsewhere),
        "{msgs:?}"
    );
}
