//! Call analytics from the devices, in virtual time: a push-woken iPhone answered from the lock
//! screen and the desktop that called it each upload a complete timeline when the call ends,
//! which the server stores once per device; a device that is offline when its call ends uploads
//! the timeline when it is back.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::time::Duration;

use ringwire_core::{CallState, Command};
use ringwire_proto::{CallId, CallTimeline, TimelineEventKind};
use ringwire_router::RouterConfig;
use ringwire_sim::{Dev, LinkConfig, Os, World};

fn kinds(timeline: &CallTimeline) -> Vec<&'static str> {
    timeline.events().iter().map(|e| e.kind.name()).collect()
}

fn stored(w: &World, dev: Dev, call: CallId) -> Option<CallTimeline> {
    w.signaling.timeline(call, w.device(dev).device_id).cloned()
}

#[test]
fn a_lock_screen_call_leaves_a_complete_timeline_on_both_devices() {
    let mut w = World::new(41, RouterConfig::default());
    let alice = w.add_user("alice").unwrap();
    let bob = w.add_user("bob").unwrap();
    let a = w.add_device(&alice, "alice-desktop", 440.0);
    let b = w.add_phone(&bob, "bob-iphone", 880.0, Os::Ios);
    w.net
        .set_default_link(LinkConfig::with_delay(Duration::from_millis(20)));
    w.run_for(Duration::from_millis(200));
    let call = w.call(a, "bob");
    assert!(w.run_until(Duration::from_secs(3), |w| w
        .device(b)
        .phone
        .as_ref()
        .is_some_and(|os| os.call(call).is_some())));
    w.run_for(Duration::from_millis(800));
    w.os_answer(b, call).unwrap();
    assert!(w.run_until(Duration::from_secs(3), |w| w
        .device(a)
        .agent()
        .call_state(call)
        == Some(CallState::Active)));
    w.run_for(Duration::from_secs(3));
    w.command(a, Command::End { call_id: call }).unwrap();
    assert!(
        w.run_until(Duration::from_secs(3), |w| stored(w, a, call).is_some()
            && stored(w, b, call).is_some())
    );

    let phone = stored(&w, b, call).unwrap();
    let seen = kinds(&phone);
    for kind in [
        "push_received",
        "reported_to_os",
        "ringing_shown",
        "answered",
        "audio_session_activated",
        "media_connected",
        "first_audio",
        "ended",
    ] {
        assert!(
            seen.contains(&kind),
            "phone timeline lacks {kind}: {seen:?}"
        );
    }
    let answered = phone
        .events()
        .iter()
        .find_map(|e| match e.kind {
            TimelineEventKind::Answered { from_lock_screen } => Some((e.at_ms, from_lock_screen)),
            _ => None,
        })
        .unwrap();
    assert!(answered.1, "answered from the lock screen: {seen:?}");
    let first_audio = phone
        .events()
        .iter()
        .find(|e| e.kind.name() == "first_audio")
        .unwrap()
        .at_ms;
    assert!(first_audio >= answered.0 && first_audio - answered.0 < 2_000);
    assert!(
        seen.contains(&"app_state"),
        "the app's states are in it: {seen:?}"
    );

    let desktop = stored(&w, a, call).unwrap();
    let seen = kinds(&desktop);
    for kind in [
        "reported_to_os",
        "ringing_shown",
        "answered",
        "media_connected",
        "first_audio",
        "ended",
    ] {
        assert!(
            seen.contains(&kind),
            "caller timeline lacks {kind}: {seen:?}"
        );
    }
    assert!(!seen.contains(&"push_received"));
    assert!(
        w.run_until(Duration::from_secs(1), |w| w
            .device(a)
            .agent()
            .pending_timelines()
            == 0),
        "the desktop's upload is acknowledged"
    );
    // The idle phone app went offline right after the call (its upload flushed ahead of the
    // close), so its acknowledgement never came: the upload waits. When the app is next opened
    // it goes again, the server answers `already_stored`, and the queue is clear; the first
    // copy stays the one stored.
    assert_eq!(w.device(b).agent().pending_timelines(), 1);
    w.open_app(b);
    assert!(w.run_until(Duration::from_secs(3), |w| w
        .device(b)
        .agent()
        .pending_timelines()
        == 0));
    assert_eq!(stored(&w, b, call).unwrap(), phone);
}

#[test]
fn a_device_offline_when_its_call_ends_uploads_the_timeline_when_back() {
    let mut w = World::new(42, RouterConfig::default());
    let alice = w.add_user("alice").unwrap();
    let bob = w.add_user("bob").unwrap();
    let a = w.add_device(&alice, "alice", 440.0);
    let b = w.add_device(&bob, "bob", 880.0);
    w.run_for(Duration::from_millis(200));
    let call = w.call(a, "bob");
    assert!(w.run_until(Duration::from_secs(2), |w| w
        .device(b)
        .incoming_calls()
        .contains(&call)));
    w.command(b, Command::Answer { call_id: call }).unwrap();
    w.run_for(Duration::from_secs(2));
    // Bob's signaling goes away; he hangs up meanwhile (in-band, peer to peer).
    w.disconnect(b);
    w.command(b, Command::End { call_id: call }).unwrap();
    w.run_for(Duration::from_secs(1));
    assert!(stored(&w, b, call).is_none());
    assert_eq!(w.device(b).agent().pending_timelines(), 1);
    w.connect(b);
    assert!(
        w.run_until(Duration::from_secs(5), |w| stored(w, b, call).is_some()
            && w.device(b).agent().pending_timelines() == 0)
    );
}
