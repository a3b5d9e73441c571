//! Peer mode in virtual time: two real call engines whose calls travel over their apps' own
//! signaling channel (no ringwire server in the call), over a lossy, jittery network. The
//! channel plays the awkward cases a real one has: both users pressing call on one channel at
//! once, and candidates that arrive long after the description they belong to, or before it,
//! with descriptions stripped of their candidates as a browser app trickles them.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::time::Duration;

use ringwire_core::{CallState, Command, Report};
use ringwire_proto::{CallId, EndReason, PeerSignal};
use ringwire_router::RouterConfig;
use ringwire_sim::{ChannelTiming, Dev, LinkConfig, Loss, World};

const ALICE_HZ: f64 = 440.0;
const BOB_HZ: f64 = 880.0;

fn world(seed: u64, timing: ChannelTiming) -> (World, Dev, Dev) {
    let mut w = World::new(seed, RouterConfig::default());
    w.net.set_default_link(
        LinkConfig::with_delay(Duration::from_millis(30))
            .jitter(Duration::from_millis(5))
            .loss(Loss::Random(0.02)),
    );
    let alice = w.add_user("alice").unwrap();
    let bob = w.add_user("bob").unwrap();
    let a = w.add_device(&alice, "alice-phone", ALICE_HZ);
    let b = w.add_device(&bob, "bob-phone", BOB_HZ);
    w.link_peers(a, b, timing);
    w.run_for(Duration::from_millis(200));
    (w, a, b)
}

fn both_active(w: &World, a: Dev, b: Dev, call: CallId) -> bool {
    w.device(a).agent().call_state(call) == Some(CallState::Active)
        && w.device(b).agent().call_state(call) == Some(CallState::Active)
}

fn answers_sent(w: &World, dev: Dev) -> usize {
    w.device(dev)
        .peer_sent
        .iter()
        .filter(|(_, _, s)| matches!(s, PeerSignal::Answer { .. }))
        .count()
}

/// Both hear the other's tone after a couple of seconds of audio.
fn assert_audio_both_ways(w: &mut World, a: Dev, b: Dev) {
    w.run_for(Duration::from_secs(3));
    let (heard_a, heard_b) = (w.device(a).heard_hz(), w.device(b).heard_hz());
    assert!((heard_b - ALICE_HZ).abs() < 15.0, "bob heard {heard_b} Hz");
    assert!((heard_a - BOB_HZ).abs() < 15.0, "alice heard {heard_a} Hz");
}

#[test]
fn both_pressing_call_on_one_channel_makes_one_call_with_audio() {
    for seed in 1..=4 {
        let (mut w, a, b) = world(seed, ChannelTiming::uniform(Duration::from_millis(80)));
        let id = CallId::from_bytes([seed as u8; 16]);
        w.peer_call(a, Some(id)).unwrap();
        w.peer_call(b, Some(id)).unwrap();
        assert!(
            w.run_until(Duration::from_secs(5), |w| both_active(w, a, b, id)),
            "seed {seed}: {:?} / {:?}",
            w.device(a).reports,
            w.device(b).reports
        );
        assert_eq!(
            answers_sent(&w, a) + answers_sent(&w, b),
            1,
            "seed {seed}: exactly one side answered the other's offer"
        );
        assert!(
            w.device(a).peer_refused.is_empty(),
            "{:?}",
            w.device(a).peer_refused
        );
        assert!(
            w.device(b).peer_refused.is_empty(),
            "{:?}",
            w.device(b).peer_refused
        );
        assert_audio_both_ways(&mut w, a, b);
    }
}

#[test]
fn candidates_two_seconds_late_still_make_the_call() {
    let timing = ChannelTiming {
        delay: Duration::from_millis(50),
        candidate_delay: Duration::from_secs(2),
        trickle_only: true,
    };
    let (mut w, a, b) = world(11, timing);
    let id = w.peer_call(a, None).unwrap();
    assert!(w.run_until(Duration::from_secs(1), |w| w
        .device(b)
        .agent()
        .call_state(id)
        .is_some()));
    w.command(b, Command::Answer { call_id: id }).unwrap();
    // Nothing can connect before the candidates land: the descriptions carry none.
    w.run_for(Duration::from_millis(1_500));
    assert_ne!(w.device(a).agent().call_state(id), Some(CallState::Active));
    assert!(w.run_until(Duration::from_secs(5), |w| both_active(w, a, b, id)));
    assert_audio_both_ways(&mut w, a, b);

    w.command(a, Command::End { call_id: id }).unwrap();
    assert!(w.run_until(Duration::from_secs(1), |w| w
        .device(b)
        .end_reason(id)
        .is_some()));
    assert_eq!(w.device(b).end_reason(id), Some(EndReason::Hangup));
}

#[test]
fn candidates_that_overtake_the_offer_wait_for_it() {
    let timing = ChannelTiming {
        delay: Duration::from_millis(400),
        candidate_delay: Duration::from_millis(10),
        trickle_only: true,
    };
    let (mut w, a, b) = world(12, timing);
    let id = w.peer_call(a, None).unwrap();
    assert!(w.run_until(Duration::from_secs(1), |w| w
        .device(b)
        .agent()
        .call_state(id)
        .is_some()));
    let rang = w
        .device(b)
        .count(|r| matches!(r, Report::IncomingCall { .. }));
    assert_eq!(rang, 1);
    w.command(b, Command::Answer { call_id: id }).unwrap();
    assert!(w.run_until(Duration::from_secs(5), |w| both_active(w, a, b, id)));
    assert!(
        w.device(a).peer_refused.is_empty(),
        "{:?}",
        w.device(a).peer_refused
    );
    assert!(
        w.device(b).peer_refused.is_empty(),
        "{:?}",
        w.device(b).peer_refused
    );
    assert_audio_both_ways(&mut w, a, b);
}

#[test]
fn a_locked_phone_keeps_the_platform_rules_in_peer_mode() {
    use ringwire_sim::Os;
    let mut w = World::new(21, RouterConfig::default());
    let alice = w.add_user("alice").unwrap();
    let bob = w.add_user("bob").unwrap();
    let a = w.add_device(&alice, "alice-desktop", ALICE_HZ);
    // Bob's phone runs its app (woken by its own backend), then locks.
    let b = w.add_phone(&bob, "bob-iphone", BOB_HZ, Os::Ios);
    w.open_app(b);
    w.set_locked(b, true);
    w.link_peers(a, b, ChannelTiming::uniform(Duration::from_millis(60)));
    w.run_for(Duration::from_millis(200));

    let id = w.peer_call(a, None).unwrap();
    assert!(w.run_until(Duration::from_secs(1), |w| w
        .device(b)
        .phone
        .as_ref()
        .is_some_and(|os| os.call(id).is_some())));
    // Ringing: reported to the OS, no audio I/O before the OS activates the session.
    w.run_for(Duration::from_secs(2));
    assert!(!w.device(b).phone.as_ref().unwrap().audio_active);
    w.os_answer(b, id).unwrap();
    assert!(w.run_until(Duration::from_secs(5), |w| both_active(w, a, b, id)));
    assert_audio_both_ways(&mut w, a, b);
    w.os_end(b, id).unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| w
        .device(a)
        .end_reason(id)
        .is_some()));
    assert_eq!(w.device(a).end_reason(id), Some(EndReason::Hangup));
    let os = w.device(b).phone.as_ref().unwrap();
    assert!(os.violations.is_empty(), "{:?}", os.violations);
    assert!(os.call(id).unwrap().ended.is_some());
}
