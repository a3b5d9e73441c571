//! The lock-screen path under simulated iOS (PushKit + CallKit) and Android (FCM + self-managed
//! ConnectionService), which enforce the platform rules and record every breach: phones start
//! locked with the app terminated, are woken by the pushes the real router asks for (built by
//! the server's own payload code), report the call before the push handler returns, answer and
//! end through the OS, and get audio only from the OS; an app the OS moves to the background,
//! locks or suspends tells its engine, which keeps calls going and takes an idle app offline so
//! the next call comes by push. Deterministic virtual time.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::time::Duration;

use ringwire_core::{CallKitEndReason, CallState, Report};
use ringwire_proto::{CallId, EndReason};
use ringwire_router::RouterConfig;
use ringwire_sim::{Dev, LinkConfig, Os, World};

const ALICE_HZ: f64 = 440.0;
const BOB_HZ: f64 = 880.0;

/// Alice on a connected desktop; Bob's phones, locked, apps terminated.
fn world(seed: u64, phones: &[Os]) -> (World, Dev, Vec<Dev>) {
    let mut w = World::new(seed, RouterConfig::default());
    let alice = w.add_user("alice").unwrap();
    let bob = w.add_user("bob").unwrap();
    let a = w.add_device(&alice, "alice", ALICE_HZ);
    let bs = phones
        .iter()
        .enumerate()
        .map(|(i, os)| w.add_phone(&bob, &format!("bob-{i}"), BOB_HZ, *os))
        .collect();
    w.net
        .set_default_link(LinkConfig::with_delay(Duration::from_millis(15)));
    w.run_for(Duration::from_millis(200));
    (w, a, bs)
}

fn os_call_reported(w: &World, d: Dev, call: CallId) -> bool {
    w.device(d)
        .phone
        .as_ref()
        .is_some_and(|os| os.call(call).is_some())
}

fn os_end(w: &World, d: Dev, call: CallId) -> Option<Option<CallKitEndReason>> {
    w.device(d)
        .phone
        .as_ref()
        .and_then(|os| os.call(call))
        .and_then(|c| c.ended)
        .map(|(_, reason)| reason)
}

fn assert_no_violations(w: &World, devs: &[Dev]) {
    for d in devs {
        let os = w.device(*d).phone.as_ref().unwrap();
        assert!(
            os.violations.is_empty(),
            "{}: {:?}",
            w.device(*d).name,
            os.violations
        );
    }
}

#[test]
fn a_terminated_locked_iphone_is_woken_answered_from_the_lock_screen_and_hears_the_caller() {
    let (mut w, a, phones) = world(11, &[Os::Ios]);
    let b = phones[0];
    assert!(!w.device(b).running, "the app starts terminated");
    let call = w.call(a, "bob");
    // The router asks for a VoIP push; it launches the app, which reports the call at once.
    assert!(w.run_until(Duration::from_secs(2), |w| os_call_reported(w, b, call)));
    let os = w.device(b).phone.as_ref().unwrap();
    assert!(os.call(call).unwrap().via_push);
    assert!(w.device(b).running);
    // The woken engine connects, the server replays the call, the caller hears it ring and
    // the phone pre-connects.
    assert!(w.run_until(Duration::from_secs(2), |w| w
        .device(a)
        .find(|r| matches!(r, Report::RemoteRinging { .. }))
        .is_some()));
    w.run_for(Duration::from_millis(800));
    assert_eq!(
        w.device(b)
            .count(|r| matches!(r, Report::IncomingCall { .. })),
        0,
        "reported once, from the push"
    );

    w.os_answer(b, call).unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| w
        .device(a)
        .agent()
        .call_state(call)
        == Some(CallState::Active)));
    w.run_for(Duration::from_secs(3));
    assert!(
        (w.device(b).heard_hz() - ALICE_HZ).abs() < 15.0,
        "phone hears alice"
    );
    assert!(
        (w.device(a).heard_hz() - BOB_HZ).abs() < 15.0,
        "alice hears the phone"
    );

    // The caller hangs up: the phone ends the call it reported as remoteEnded, and the OS
    // takes the audio session back.
    w.command(a, ringwire_core::Command::End { call_id: call })
        .unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| os_end(w, b, call).is_some()));
    assert_eq!(
        os_end(&w, b, call),
        Some(Some(CallKitEndReason::RemoteEnded))
    );
    assert!(!w.device(b).phone.as_ref().unwrap().audio_active);
    w.run_for(Duration::from_secs(1));
    assert_no_violations(&w, &phones);
}

#[test]
fn the_caller_cancels_before_the_woken_phone_connects_and_the_phone_ends_its_reported_call() {
    let (mut w, a, phones) = world(12, &[Os::Ios]);
    let b = phones[0];
    // APNs is slow today: the push lands after the caller gave up.
    w.push_latency = Duration::from_secs(2);
    let call = w.call(a, "bob");
    w.run_for(Duration::from_millis(500));
    w.command(a, ringwire_core::Command::End { call_id: call })
        .unwrap();
    assert!(w.run_until(Duration::from_secs(5), |w| os_end(w, b, call).is_some()));
    let os = w.device(b).phone.as_ref().unwrap();
    assert!(
        os.call(call).unwrap().via_push,
        "the push was still reported"
    );
    assert_eq!(
        os_end(&w, b, call),
        Some(Some(CallKitEndReason::RemoteEnded))
    );
    assert_eq!(w.device(b).end_reason(call), Some(EndReason::Cancelled));
    assert_no_violations(&w, &phones);
}

#[test]
fn an_iphone_and_an_android_ring_the_android_answers_and_the_iphone_stops_as_answered_elsewhere() {
    let (mut w, a, phones) = world(13, &[Os::Ios, Os::Android]);
    let (iphone, android) = (phones[0], phones[1]);
    let call = w.call(a, "bob");
    assert!(w.run_until(Duration::from_secs(3), |w| {
        w.device(a)
            .count(|r| matches!(r, Report::RemoteRinging { .. }))
            >= 1
            && w.device(iphone).running
            && w.device(android).running
            && os_call_reported(w, iphone, call)
            && os_call_reported(w, android, call)
    }));
    w.run_for(Duration::from_millis(800));

    w.os_answer(android, call).unwrap();
    let answered_at = w.clock.now();
    assert!(w.run_until(Duration::from_secs(2), |w| {
        os_end(w, iphone, call).is_some()
            && w.device(a).agent().call_state(call) == Some(CallState::Active)
    }));
    assert_eq!(
        os_end(&w, iphone, call),
        Some(Some(CallKitEndReason::AnsweredElsewhere))
    );
    // The caller's ringback stops as soon as the answer reaches it (in-band or via server).
    let (stopped, _) = w
        .device(a)
        .find(|r| matches!(r, Report::Answered { .. }))
        .unwrap();
    assert!(
        stopped - answered_at < Duration::from_millis(200),
        "ringback stopped after {:?}",
        stopped - answered_at
    );
    w.run_for(Duration::from_secs(2));
    assert!((w.device(android).heard_hz() - ALICE_HZ).abs() < 15.0);
    assert!(w.device(android).phone.as_ref().unwrap().foreground_service);
    assert_no_violations(&w, &phones);
}

#[test]
fn declining_from_the_lock_screen_ends_the_call_for_the_caller() {
    let (mut w, a, phones) = world(14, &[Os::Ios]);
    let b = phones[0];
    let call = w.call(a, "bob");
    assert!(w.run_until(Duration::from_secs(2), |w| os_call_reported(w, b, call)));
    w.run_for(Duration::from_millis(800));
    w.os_end(b, call).unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| w
        .device(a)
        .end_reason(call)
        .is_some()));
    assert_eq!(w.device(a).end_reason(call), Some(EndReason::Declined));
    assert_eq!(os_end(&w, b, call), Some(None), "the user ended it here");
    assert!(!w.device(b).phone.as_ref().unwrap().audio_active);
    assert_no_violations(&w, &phones);
}

#[test]
fn a_push_the_engine_cannot_read_is_a_violation_the_os_punishes() {
    // The rule itself: a VoIP push not reported as a call kills the app. A corrupt payload is
    // the one way the engine can fail to report; the simulated OS must catch it.
    let (mut w, _a, phones) = world(15, &[Os::Ios]);
    let b = phones[0];
    w.deliver_raw_push(b, b"{not json");
    let os = w.device(b).phone.as_ref().unwrap();
    assert_eq!(os.violations.len(), 1);
    assert!(os.violations[0].1.contains("app killed"));
    assert!(!w.device(b).running);
}

#[test]
fn a_push_token_rejected_by_apns_mid_life_is_dropped_and_pushes_work_again_after_the_app_reregisters(
) {
    let router = RouterConfig {
        ring_timeout_ms: 5_000,
        ..RouterConfig::default()
    };
    let mut w = World::new(16, router);
    let alice = w.add_user("alice").unwrap();
    let bob = w.add_user("bob").unwrap();
    let a = w.add_device(&alice, "alice", ALICE_HZ);
    let b = w.add_phone(&bob, "bob-iphone", BOB_HZ, Os::Ios);
    w.net
        .set_default_link(LinkConfig::with_delay(Duration::from_millis(15)));
    w.run_for(Duration::from_millis(200));
    let device_id = w.device(b).device_id;
    let outcome = |w: &World, call: CallId| {
        w.signaling
            .call_record(call)
            .and_then(|r| r.devices.iter().find(|d| d.device_id == device_id).cloned())
            .and_then(|d| d.push_outcome)
    };

    // APNs invalidated the token (the app was reinstalled): the push is refused with 410, the
    // server drops the token, the phone never hears of the call, which rings out.
    w.device_mut(b).phone.as_mut().unwrap().push_token_valid = false;
    let first = w.call(a, "bob");
    assert!(w.run_until(Duration::from_secs(8), |w| w
        .device(a)
        .end_reason(first)
        .is_some()));
    assert_eq!(w.device(a).end_reason(first), Some(EndReason::NoAnswer));
    assert_eq!(
        outcome(&w, first),
        Some(ringwire_router::record::PushOutcome::Unregistered)
    );
    assert!(!w.device(b).running, "never woken");

    // Without a token the next call is not pushed at all.
    let second = w.call(a, "bob");
    assert!(w.run_until(Duration::from_secs(8), |w| w
        .device(a)
        .end_reason(second)
        .is_some()));
    assert_eq!(
        outcome(&w, second),
        Some(ringwire_router::record::PushOutcome::NoToken)
    );

    // The user opens the app (it registers a fresh token), then it is terminated again; the
    // next call wakes it and is answered from the lock screen.
    w.open_app(b);
    w.run_for(Duration::from_secs(1));
    w.terminate_app(b);
    w.run_for(Duration::from_millis(200));
    let third = w.call(a, "bob");
    assert!(w.run_until(Duration::from_secs(3), |w| os_call_reported(w, b, third)));
    assert_eq!(
        outcome(&w, third),
        Some(ringwire_router::record::PushOutcome::Sent)
    );
    w.run_for(Duration::from_millis(800));
    w.os_answer(b, third).unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| w
        .device(a)
        .agent()
        .call_state(third)
        == Some(CallState::Active)));
    assert_no_violations(&w, &[b]);
}

#[test]
fn a_call_goes_on_through_lock_and_suspension_and_the_idle_app_in_the_background_is_reached_by_push(
) {
    use ringwire_router::record::{PushOutcome, Reach};
    use ringwire_sim::AppState;

    let (mut w, a, phones) = world(17, &[Os::Ios]);
    let b = phones[0];
    let b_id = w.device(b).device_id;
    // The user has the app open: connected, calls come over the socket.
    w.open_app(b);
    assert!(w.run_until(Duration::from_secs(1), |w| w
        .device(b)
        .agent()
        .signaling_up()));
    let first = w.call(a, "bob");
    assert!(w.run_until(Duration::from_secs(2), |w| os_call_reported(w, b, first)));
    assert!(
        !w.device(b)
            .phone
            .as_ref()
            .unwrap()
            .call(first)
            .unwrap()
            .via_push
    );
    w.run_for(Duration::from_millis(500));
    w.os_answer(b, first).unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| w
        .device(a)
        .agent()
        .call_state(first)
        == Some(CallState::Active)));
    w.run_for(Duration::from_secs(1));

    // Mid-call the user locks the phone, and the OS then freezes the UI: the engine keeps the
    // call, its signaling and its audio.
    w.set_locked(b, true);
    w.run_for(Duration::from_secs(1));
    w.set_app_state(b, AppState::Suspended);
    let (played_b, played_a) = (w.device(b).played.decoded, w.device(a).played.decoded);
    w.run_for(Duration::from_secs(3));
    assert!(
        w.signaling.is_connected(b_id),
        "signaling stays up in a call"
    );
    assert_eq!(
        w.device(b).agent().call_state(first),
        Some(CallState::Active)
    );
    assert!(
        w.device(b).played.decoded - played_b >= 140,
        "the suspended phone played {} frames in 3 s",
        w.device(b).played.decoded - played_b
    );
    assert!(w.device(a).played.decoded - played_a >= 140);
    assert!(
        (w.device(b).heard_hz() - ALICE_HZ).abs() < 15.0,
        "the suspended phone hears alice"
    );
    assert!(
        (w.device(a).heard_hz() - BOB_HZ).abs() < 15.0,
        "alice hears the suspended phone"
    );

    // The far end hangs up: remoteEnded, the audio session released. With no call left and
    // the app not in the foreground, the engine closes its socket.
    w.command(a, ringwire_core::Command::End { call_id: first })
        .unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| os_end(w, b, first).is_some()));
    assert_eq!(
        os_end(&w, b, first),
        Some(Some(CallKitEndReason::RemoteEnded))
    );
    assert_eq!(w.device(b).end_reason(first), Some(EndReason::Hangup));
    assert!(!w.device(b).phone.as_ref().unwrap().audio_active);
    w.run_for(Duration::from_millis(200));
    assert!(!w.signaling.router().is_connected(b_id));
    assert_no_violations(&w, &phones);

    // The user unlocks and looks at the app (online again), then goes home (offline).
    w.set_locked(b, false);
    w.set_app_state(b, AppState::Foreground);
    w.run_for(Duration::from_millis(300));
    assert!(w.signaling.router().is_connected(b_id));
    w.set_app_state(b, AppState::Background);
    w.set_locked(b, true);
    w.run_for(Duration::from_millis(300));
    assert!(
        !w.signaling.router().is_connected(b_id),
        "the server must not see a socket the frozen app does not read"
    );
    assert!(w.device(b).running, "backgrounded, not terminated");

    // The next call finds the phone by VoIP push, not by the socket, and is answered from the
    // lock screen.
    let second = w.call(a, "bob");
    assert!(w.run_until(Duration::from_secs(2), |w| os_call_reported(w, b, second)));
    assert!(
        w.device(b)
            .phone
            .as_ref()
            .unwrap()
            .call(second)
            .unwrap()
            .via_push
    );
    assert!(w.run_until(Duration::from_secs(2), |w| w
        .device(a)
        .find(|r| matches!(r, Report::RemoteRinging { call_id } if *call_id == second))
        .is_some()));
    w.run_for(Duration::from_millis(500));
    w.os_answer(b, second).unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| w
        .device(a)
        .agent()
        .call_state(second)
        == Some(CallState::Active)));
    w.run_for(Duration::from_secs(2));
    assert!((w.device(b).heard_hz() - ALICE_HZ).abs() < 15.0);
    assert!((w.device(a).heard_hz() - BOB_HZ).abs() < 15.0);
    let record = w.signaling.call_record(second).unwrap();
    let reached = record.devices.iter().find(|d| d.device_id == b_id).unwrap();
    assert_eq!(reached.reached_via, Reach::Push, "{record:?}");
    assert_eq!(reached.push_outcome, Some(PushOutcome::Sent));
    let record = w.signaling.call_record(first).unwrap();
    let reached = record.devices.iter().find(|d| d.device_id == b_id).unwrap();
    assert_eq!(reached.reached_via, Reach::Socket);
    assert_no_violations(&w, &phones);
}
