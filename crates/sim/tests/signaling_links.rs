//! The simulated signaling links and server: handshake refusals, ordering under jitter,
//! determinism, and a server restart that restores calls from the call record.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

mod common;

use std::time::Duration;

use common::{is_incoming, World};
use ringwire_proto::{ClientMessage, ErrorCode, Invite, ServerMessage};
use ringwire_router::record::CallState;
use ringwire_sim::{SignalingLink, SimError};

#[test]
fn a_hello_without_a_common_version_is_refused_and_closed() {
    let mut w = World::new(21);
    let c = w.cast();
    let now = w.now();
    let hello = ClientMessage::Hello {
        versions: vec![99],
        client: None,
        calls: vec![],
    };
    w.sig.connect_with_hello(now, c.a, hello).unwrap();
    w.run_for(Duration::from_millis(100));
    match &w.take(c.a)[..] {
        [ServerMessage::Error(e)] => assert_eq!(e.code, ErrorCode::UnsupportedVersion),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.closed.len(), 1);
    assert_eq!(w.closed[0].1, c.a);
    assert!(!w.sig.is_connected(c.a));
    assert!(!w.sig.router().is_connected(c.a));
}

#[test]
fn a_first_message_other_than_hello_is_refused() {
    let mut w = World::new(22);
    let c = w.cast();
    let now = w.now();
    w.sig
        .connect_with_hello(now, c.a, ClientMessage::Ping { nonce: 1 })
        .unwrap();
    w.run_for(Duration::from_millis(100));
    match &w.take(c.a)[..] {
        [ServerMessage::Error(e)] => assert_eq!(e.code, ErrorCode::HelloRequired),
        other => panic!("{other:?}"),
    }
    assert!(!w.sig.is_connected(c.a));
}

#[test]
fn jitter_never_reorders_a_connection_and_pings_are_answered() {
    let mut w = World::new(23);
    let c = w.cast();
    w.sig
        .set_link(
            c.a,
            SignalingLink {
                jitter: Duration::from_millis(40),
                ..SignalingLink::default()
            },
        )
        .unwrap();
    let now = w.now();
    w.sig.connect(now, c.a).unwrap();
    for nonce in 0..200 {
        let now = w.now();
        w.sig.send(now, c.a, ClientMessage::Ping { nonce }).unwrap();
        w.clock.advance(Duration::from_millis(1));
    }
    w.run_for(Duration::from_secs(1));
    let msgs = w.all(c.a);
    assert!(matches!(msgs[0], ServerMessage::Welcome(_)));
    let nonces: Vec<u64> = msgs[1..]
        .iter()
        .map(|m| match m {
            ServerMessage::Pong { nonce, .. } => *nonce,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(nonces, (0..200).collect::<Vec<_>>());
    // The jitter did spread the arrivals: round trips vary.
    let times: Vec<_> = w.inbox.iter().map(|(t, _, _)| *t).collect();
    let gaps: std::collections::BTreeSet<_> = times.windows(2).map(|p| p[1] - p[0]).collect();
    assert!(gaps.len() > 10, "{} distinct gaps", gaps.len());
}

fn jittery_call(seed: u64) -> Vec<(Duration, String)> {
    let mut w = World::new(seed);
    let c = w.cast();
    w.sig.set_default_link(SignalingLink::default());
    for d in [c.a, c.b1, c.b2] {
        w.sig
            .set_link(
                d,
                SignalingLink {
                    jitter: Duration::from_millis(30),
                    ..SignalingLink::default()
                },
            )
            .unwrap();
        let now = w.now();
        w.sig.connect(now, d).unwrap();
    }
    w.run_for(Duration::from_millis(200));
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
    w.run_for(Duration::from_millis(200));
    for d in [c.b1, c.b2] {
        let now = w.now();
        w.sig
            .send(now, d, ClientMessage::Accept { call_id: call })
            .unwrap();
    }
    w.run_for(Duration::from_secs(1));
    let start = w.clock.time_base().start();
    w.inbox
        .iter()
        .map(|(t, d, m)| (*t - start, format!("{d} {m:?}")))
        .collect()
}

#[test]
fn same_seed_same_signaling_run_different_seed_different_run() {
    let first = jittery_call(5);
    assert_eq!(first, jittery_call(5));
    assert_ne!(first, jittery_call(6));
}

#[test]
fn server_restart_drops_everyone_and_restores_the_ringing_call() {
    let mut w = World::new(24);
    let c = w.cast();
    for d in [c.a, c.b1, c.b2] {
        let now = w.now();
        w.sig.connect(now, d).unwrap();
    }
    w.run_for(Duration::from_millis(100));
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
    w.run_for(Duration::from_secs(2));
    w.mark_read();

    let now = w.now();
    w.sig.restart_server(now);
    w.run_for(Duration::from_millis(1));
    let mut closed: Vec<_> = w.closed.iter().map(|(_, d)| *d).collect();
    closed.sort();
    let mut everyone = vec![c.a, c.b1, c.b2];
    everyone.sort();
    assert_eq!(closed, everyone);
    assert_eq!(w.sig.router().stats().connected_devices, 0);
    assert_eq!(
        w.sig.router().stats().calls_ringing,
        1,
        "restored from the record"
    );

    for d in [c.b1, c.b2, c.a] {
        let now = w.now();
        w.sig.connect(now, d).unwrap();
    }
    w.run_for(Duration::from_millis(100));
    for d in [c.b1, c.b2] {
        let msgs = w.take(d);
        let incoming = msgs.iter().find(|m| is_incoming(m, call)).unwrap();
        assert!(matches!(incoming, ServerMessage::Incoming(i) if i.replayed));
    }
    assert!(w
        .take(c.a)
        .iter()
        .any(|m| matches!(m, ServerMessage::Calling { call_id, .. } if *call_id == call)));

    let now = w.now();
    w.sig
        .send(now, c.b1, ClientMessage::Accept { call_id: call })
        .unwrap();
    w.run_for(Duration::from_millis(100));
    let record = w.sig.call_record(call).unwrap();
    assert_eq!(record.state, CallState::Active);
    assert_eq!(record.answered_device, Some(c.b1));
}

#[test]
fn setup_mistakes_are_errors() {
    let mut w = World::new(25);
    let c = w.cast();
    assert!(matches!(
        w.sig.add_user("alice"),
        Err(SimError::UserExists(_))
    ));
    assert!(matches!(
        w.sig.add_user("Not Valid"),
        Err(SimError::InvalidUserName { .. })
    ));
    let ghost = ringwire_proto::DeviceId::from_bytes([0xee; 16]);
    let now = w.now();
    assert_eq!(
        w.sig.connect(now, ghost),
        Err(SimError::UnknownDevice(ghost))
    );
    assert_eq!(w.sig.devices_of(&c.bob), Some(&[c.b1, c.b2][..]));
    assert_eq!(w.sig.user_of(c.a), Some(&c.alice));
}
