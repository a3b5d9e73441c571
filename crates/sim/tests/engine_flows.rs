//! Every call flow of protocol v1 with real call engines, the real router and a simulated
//! network, in virtual time: multi-device accept, decline, busy, cancel, ring timeout, glare,
//! trickled candidates after a network change, in-band accept and hangup with signaling down,
//! and audio continuity under loss. Deterministic: each test fixes its seeds.

#![allow(clippy::unwrap_used)] // test code: a panic is a test failure

use std::time::Duration;

use ringwire_core::{CallState, Command, Report};
use ringwire_proto::{CallId, ClientMessage, EndReason};
use ringwire_router::record::CallState as RecordState;
use ringwire_router::RouterConfig;
use ringwire_sim::{Dev, LinkConfig, Loss, SignalingLink, World};

const ALICE_HZ: f64 = 440.0;
const BOB_HZ: f64 = 880.0;

/// Alice with one device; Bob with a phone and a tablet; all connected.
fn alice_and_bob(seed: u64) -> (World, Dev, Dev, Dev) {
    let mut w = World::new(seed, RouterConfig::default());
    let alice = w.add_user("alice").unwrap();
    let bob = w.add_user("bob").unwrap();
    let a = w.add_device(&alice, "alice", ALICE_HZ);
    let b1 = w.add_device(&bob, "bob-phone", BOB_HZ);
    let b2 = w.add_device(&bob, "bob-tablet", BOB_HZ);
    w.net
        .set_default_link(LinkConfig::with_delay(Duration::from_millis(15)));
    w.run_for(Duration::from_millis(200));
    (w, a, b1, b2)
}

fn rings(w: &World, d: Dev, call: CallId) -> bool {
    w.device(d).incoming_calls().contains(&call)
}

fn state(w: &World, d: Dev, call: CallId) -> Option<CallState> {
    w.device(d).agent().call_state(call)
}

/// Places the call and runs until both of Bob's devices ring and pre-connected.
fn ring_bob(w: &mut World, a: Dev, b1: Dev, b2: Dev) -> CallId {
    let call = w.call(a, "bob");
    assert!(w.run_until(Duration::from_secs(2), |w| rings(w, b1, call)
        && rings(w, b2, call)));
    // Give pre-connect (ICE + DTLS over 15 ms links) time to finish.
    w.run_for(Duration::from_millis(500));
    call
}

#[test]
fn multi_device_accept_first_wins_audio_flows_and_hangup_ends_both() {
    let (mut w, a, b1, b2) = alice_and_bob(1);
    let call = ring_bob(&mut w, a, b1, b2);
    assert!(w
        .device(a)
        .find(|r| matches!(r, Report::RemoteRinging { .. }))
        .is_some());

    w.command(b1, Command::Answer { call_id: call }).unwrap();
    let accepted_at = w.clock.now();
    assert!(w.run_until(Duration::from_secs(2), |w| {
        w.device(b2).end_reason(call).is_some() && state(w, a, call) == Some(CallState::Active)
    }));
    assert_eq!(
        w.device(b2).end_reason(call),
        Some(EndReason::AnsweredElsewhere)
    );
    let (first_audio, _) = {
        assert!(w.run_until(Duration::from_secs(1), |w| w
            .device(a)
            .find(|r| matches!(r, Report::FirstAudio { .. }))
            .is_some()));
        w.device(a)
            .find(|r| matches!(r, Report::FirstAudio { .. }))
            .unwrap()
    };
    // Pre-connected: first audio is a network trip plus the jitter buffer's start, no
    // handshake (two 15 ms hops, a 40 ms start delay, frame alignment).
    let accept_to_audio = first_audio - accepted_at;
    assert!(
        accept_to_audio < Duration::from_millis(150),
        "{accept_to_audio:?}"
    );

    w.run_for(Duration::from_secs(3));
    assert!((w.device(a).heard_hz() - BOB_HZ).abs() < 15.0);
    assert!((w.device(b1).heard_hz() - ALICE_HZ).abs() < 15.0);
    assert!(w.device(a).played.decoded > 100, "{:?}", w.device(a).played);
    assert_eq!(
        w.device(b2).played.decoded,
        0,
        "the losing device never plays audio"
    );

    w.command(a, Command::End { call_id: call }).unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| w
        .device(b1)
        .end_reason(call)
        .is_some()));
    assert!(w.device(a).ended(call).unwrap().1, "Alice ended it herself");
    assert_eq!(w.device(b1).end_reason(call), Some(EndReason::Hangup));
    w.run_for(Duration::from_millis(200));
    let record = w.signaling.call_record(call).unwrap();
    assert_eq!(record.end_reason, Some(EndReason::Hangup));
    assert_eq!(record.answered_device, Some(w.device(b1).device_id));
    assert_eq!(record.state, RecordState::Ended);
}

#[test]
fn decline_on_one_device_ends_the_call_everywhere() {
    let (mut w, a, b1, b2) = alice_and_bob(2);
    let call = ring_bob(&mut w, a, b1, b2);
    w.command(b2, Command::End { call_id: call }).unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| {
        w.device(a).end_reason(call).is_some() && w.device(b1).end_reason(call).is_some()
    }));
    assert_eq!(w.device(a).end_reason(call), Some(EndReason::Declined));
    assert_eq!(
        w.device(b1).end_reason(call),
        Some(EndReason::DeclinedElsewhere)
    );
    assert_eq!(
        w.device(b2).ended(call),
        Some((
            ringwire_core::CallEndReason::protocol(EndReason::Declined),
            true
        ))
    );
}

#[test]
fn caller_cancel_stops_every_ringing_device() {
    let (mut w, a, b1, b2) = alice_and_bob(3);
    let call = ring_bob(&mut w, a, b1, b2);
    w.command(a, Command::End { call_id: call }).unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| {
        w.device(b1).end_reason(call).is_some() && w.device(b2).end_reason(call).is_some()
    }));
    for d in [b1, b2] {
        assert_eq!(w.device(d).end_reason(call), Some(EndReason::Cancelled));
        assert!(w.device(d).agent().known_calls().is_empty());
    }
}

#[test]
fn nobody_answers_in_45_seconds_of_virtual_time() {
    let (mut w, a, b1, b2) = alice_and_bob(4);
    let call = ring_bob(&mut w, a, b1, b2);
    w.run_for(Duration::from_secs(44));
    assert_eq!(state(&w, b1, call), Some(CallState::Ringing));
    assert!(w.run_until(Duration::from_secs(2), |w| w
        .device(a)
        .end_reason(call)
        .is_some()));
    for d in [a, b1, b2] {
        assert_eq!(w.device(d).end_reason(call), Some(EndReason::NoAnswer));
    }
}

#[test]
fn a_callee_in_a_call_is_busy_for_a_second_caller() {
    let (mut w, a, b1, b2) = alice_and_bob(5);
    let carol_user = w.add_user("carol").unwrap();
    let carol = w.add_device(&carol_user, "carol", 660.0);
    w.run_for(Duration::from_millis(100));
    let call = ring_bob(&mut w, a, b1, b2);
    w.command(b1, Command::Answer { call_id: call }).unwrap();
    w.run_for(Duration::from_millis(300));
    let second = w.call(carol, "bob");
    assert!(w.run_until(Duration::from_secs(2), |w| w
        .device(carol)
        .end_reason(second)
        .is_some()));
    assert_eq!(w.device(carol).end_reason(second), Some(EndReason::Busy));
    assert_eq!(
        state(&w, b1, call),
        Some(CallState::Active),
        "the first call goes on"
    );
}

#[test]
fn glare_resolves_into_exactly_one_call() {
    let mut w = World::new(6, RouterConfig::default());
    let alice = w.add_user("alice").unwrap();
    let bob = w.add_user("bob").unwrap();
    let a = w.add_device(&alice, "alice", ALICE_HZ);
    let b = w.add_device(&bob, "bob", BOB_HZ);
    w.signaling
        .set_default_link(SignalingLink::symmetric(Duration::from_millis(40)));
    w.run_for(Duration::from_millis(300));
    let from_a = w.call(a, "bob");
    let from_b = w.call(b, "alice");
    w.run_for(Duration::from_secs(2));
    let survivor = from_a.max(from_b);
    let loser = from_a.min(from_b);
    for d in [a, b] {
        assert_eq!(
            w.device(d).agent().known_calls(),
            vec![survivor],
            "{:?}",
            w.device(d)
        );
    }
    let loser_caller = if loser == from_a { a } else { b };
    assert_eq!(
        w.device(loser_caller).end_reason(loser),
        Some(EndReason::Glare)
    );
    // The survivor can be answered normally.
    let callee = if survivor == from_a { b } else { a };
    w.command(callee, Command::Answer { call_id: survivor })
        .unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| {
        [a, b]
            .iter()
            .all(|d| state(w, *d, survivor) == Some(CallState::Active))
    }));
}

#[test]
fn signaling_down_mid_call_the_hangup_goes_in_band() {
    let (mut w, a, b1, b2) = alice_and_bob(7);
    let call = ring_bob(&mut w, a, b1, b2);
    w.command(b1, Command::Answer { call_id: call }).unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| state(w, a, call)
        == Some(CallState::Active)));
    // Let the server's `accepted` land, then lose both WebSockets.
    w.run_for(Duration::from_millis(300));
    w.disconnect(a);
    w.disconnect(b1);
    w.run_for(Duration::from_secs(1));
    assert_eq!(
        state(&w, a, call),
        Some(CallState::Active),
        "media is peer-to-peer"
    );
    let decoded_before = w.device(a).played.decoded;
    w.run_for(Duration::from_secs(1));
    assert!(
        w.device(a).played.decoded > decoded_before + 40,
        "audio goes on"
    );

    w.command(b1, Command::End { call_id: call }).unwrap();
    let hung_up = w.clock.now();
    assert!(w.run_until(Duration::from_secs(1), |w| w
        .device(a)
        .end_reason(call)
        .is_some()));
    let (reason, here) = w.device(a).ended(call).unwrap();
    assert_eq!(reason.as_protocol(), Some(EndReason::Hangup));
    assert!(!here);
    assert!(
        w.clock.now() - hung_up < Duration::from_millis(100),
        "one media hop, not a timeout"
    );
    // Back online, the queued hangup reaches the server and the record is complete.
    w.connect(a);
    w.connect(b1);
    w.run_for(Duration::from_secs(1));
    assert_eq!(
        w.signaling.call_record(call).unwrap().end_reason,
        Some(EndReason::Hangup)
    );
}

#[test]
fn the_in_band_accept_beats_a_slow_server() {
    let (mut w, a, b1, b2) = alice_and_bob(8);
    let alice_id = w.device(a).device_id;
    let call = ring_bob(&mut w, a, b1, b2);
    // From now on the server's messages take 1.5 s to reach Alice.
    w.signaling
        .set_link(
            alice_id,
            SignalingLink {
                down: Duration::from_millis(1500),
                ..SignalingLink::default()
            },
        )
        .unwrap();
    w.command(b1, Command::Answer { call_id: call }).unwrap();
    let t = w.clock.now();
    assert!(w.run_until(Duration::from_secs(1), |w| w
        .device(a)
        .find(|r| matches!(r, Report::FirstAudio { .. }))
        .is_some()));
    assert!(w.clock.now() - t < Duration::from_millis(300));
    assert_eq!(state(&w, a, call), Some(CallState::Active));
    // The server's word arrives later and changes nothing.
    w.run_for(Duration::from_secs(2));
    assert_eq!(state(&w, a, call), Some(CallState::Active));
    assert_eq!(
        w.device(b2).end_reason(call),
        Some(EndReason::AnsweredElsewhere)
    );
}

/// The device leaves its address for `new_addr` (Wi-Fi → cellular) and says so, as the app
/// forwards the OS's path change; the old address disappears.
fn move_device(w: &mut World, dev: Dev, new_addr: std::net::SocketAddr) {
    let old_addr = w.device(dev).addr;
    w.net.bind(new_addr);
    w.device_mut(dev).addr = new_addr;
    w.command(
        dev,
        Command::NetworkChanged {
            local_addrs: vec![new_addr],
        },
    )
    .unwrap();
    w.net.unbind(old_addr);
}

#[test]
fn a_network_change_mid_call_trickles_the_new_candidate_and_keeps_the_call() {
    let (mut w, a, b1, b2) = alice_and_bob(9);
    let call = ring_bob(&mut w, a, b1, b2);
    w.command(b1, Command::Answer { call_id: call }).unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| state(w, a, call)
        == Some(CallState::Active)));
    w.run_for(Duration::from_secs(1));
    // Bob's phone moves to a new address (Wi-Fi → cellular); the old one disappears.
    let new_addr: std::net::SocketAddr = "198.18.1.50:6000".parse().unwrap();
    move_device(&mut w, b1, new_addr);
    let decoded = w.device(a).played.decoded;
    w.run_for(Duration::from_secs(3));
    assert_eq!(state(&w, a, call), Some(CallState::Active));
    assert!(
        w.device(a).played.decoded > decoded + 100,
        "audio resumed on the new path: {:?}",
        w.device(a).played
    );
    assert!(w.net.stats(new_addr, w.device(a).addr).delivered > 50);
}

#[test]
fn a_network_change_while_signaling_is_down_restarts_ice_once_it_is_back() {
    // A phone that moves networks loses its signaling connection with its old address: the
    // ICE-restart offer must wait for the new connection (one sent while down is lost), then
    // go out; the call stays up throughout.
    let (mut w, a, b1, b2) = alice_and_bob(11);
    let call = ring_bob(&mut w, a, b1, b2);
    w.command(b1, Command::Answer { call_id: call }).unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| state(w, a, call)
        == Some(CallState::Active)));
    w.run_for(Duration::from_millis(500));
    w.disconnect(b1);
    let lost_before = w.signaling.stats().up_lost;
    let new_addr: std::net::SocketAddr = "198.18.1.51:6000".parse().unwrap();
    move_device(&mut w, b1, new_addr);
    w.run_for(Duration::from_secs(2));
    assert_eq!(
        w.signaling.stats().up_lost,
        lost_before,
        "nothing (no ICE-restart offer) was sent into the dead signaling connection"
    );
    let sent_before = w.signaling.stats().up_sent;
    let decoded = w.device(a).played.decoded;
    w.connect(b1);
    w.run_for(Duration::from_secs(3));
    // hello, then the ICE-restart offer (and its candidates) once the server said welcome.
    assert!(
        w.signaling.stats().up_sent >= sent_before + 2,
        "the ICE restart went out after the reconnect: {:?}",
        w.signaling.stats()
    );
    assert_eq!(state(&w, b1, call), Some(CallState::Active));
    assert_eq!(state(&w, a, call), Some(CallState::Active));
    assert!(
        w.device(a).played.decoded > decoded + 100,
        "audio flows on the new path: {:?}",
        w.device(a).played
    );
    assert!(w.net.stats(new_addr, w.device(a).addr).delivered > 50);
}

/// Runs a 10 s call with `loss` on the media path both ways; returns Alice's receiver figures.
fn call_under_loss(seed: u64, loss: f64) -> (u64, u64, u64, u64, u64) {
    let (mut w, a, b1, b2) = alice_and_bob(seed);
    let call = ring_bob(&mut w, a, b1, b2);
    w.command(b1, Command::Answer { call_id: call }).unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| state(w, a, call)
        == Some(CallState::Active)));
    w.net.set_default_link(
        LinkConfig::with_delay(Duration::from_millis(15)).loss(Loss::Random(loss)),
    );
    w.run_for(Duration::from_secs(10));
    w.net
        .set_default_link(LinkConfig::with_delay(Duration::from_millis(15)));
    w.command(a, Command::End { call_id: call }).unwrap();
    w.run_for(Duration::from_millis(100));
    let summary = w.device(a).ended_summary(call).unwrap();
    let played = w.device(a).played;
    assert_eq!(
        played.recovered_fec, summary.frames_recovered_fec,
        "what the speaker got is what the receiver counted"
    );
    assert_eq!(
        played.concealed,
        summary.frames_concealed + summary.frames_inserted
    );
    // Audio stays continuous: the tone is still what Alice hears.
    assert!((w.device(a).heard_hz() - BOB_HZ).abs() < 15.0);
    let sent_by_bob = w.device(b1).ended_summary(call).unwrap().frames_sent;
    (
        sent_by_bob,
        summary.frames_decoded,
        // A burst's frames come back from LBRR or from the DRED of the packet after it.
        summary.frames_recovered_fec + summary.frames_recovered_dred,
        summary.frames_recovered_red,
        summary.frames_concealed,
    )
}

fn check_loss(seed: u64, loss: f64) {
    let (sent, decoded, recovered, by_red, concealed) = call_under_loss(seed, loss);
    eprintln!(
        "loss {loss}: sent {sent}, decoded {decoded} (from RED copies {by_red}), recovered by FEC or DRED {recovered}, concealed {concealed}"
    );
    let repaired = recovered + concealed;
    // Frames whose own packet arrived; RED copies stood in for the others.
    let arrived = decoded - by_red;
    let missing = sent.saturating_sub(decoded);
    // Every frame Bob sent is either decoded at Alice or was lost and repaired (or is one of a
    // few frames in flight / skipped by the jitter buffer's delay adjustment).
    assert!(
        missing.abs_diff(repaired) <= 8 + missing / 10,
        "sent {sent}, decoded {decoded}, recovered {recovered}, concealed {concealed}"
    );
    let measured = sent.saturating_sub(arrived) as f64 / sent as f64;
    assert!(
        (measured - loss).abs() < 0.05,
        "loss {measured:.3} vs configured {loss}"
    );
    assert!(recovered > 0, "FEC repaired some of the losses");
    // RED starts with the first loss report (1 s in) and then leaves only frames whose copies
    // were lost too: most of the losses come back whole.
    let lost = sent.saturating_sub(arrived);
    assert!(
        by_red * 2 >= lost,
        "RED copies filled {by_red} of {lost} lost frames"
    );
}

#[test]
fn audio_stays_continuous_under_10_percent_loss() {
    check_loss(10, 0.10);
}

#[test]
fn audio_stays_continuous_under_20_percent_loss() {
    check_loss(11, 0.20);
}

#[test]
fn a_path_that_dies_silently_is_restarted_by_the_callee_alone_and_the_call_comes_back() {
    // No interface event: the direct path just goes dark (a NAT dropped its mapping). Consent
    // freshness notices; the side that offered the session (the callee) restarts ICE at once,
    // the caller does not (two restart offers would cross), and once a path exists again the
    // call is back, well before the media timeout would have ended it.
    let (mut w, a, b1, b2) = alice_and_bob(12);
    let call = ring_bob(&mut w, a, b1, b2);
    w.command(b1, Command::Answer { call_id: call }).unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| state(w, a, call)
        == Some(CallState::Active)));
    w.run_for(Duration::from_secs(1));
    let (ip_a, ip_b) = (w.device(a).addr.ip(), w.device(b1).addr.ip());
    let cut_at = w.clock.now();
    w.net.partition(ip_a, ip_b);
    let restart_offers = |w: &World, d: Dev| {
        w.device(d)
            .signaled
            .iter()
            .filter(|(at, m)| *at >= cut_at && matches!(m, ClientMessage::Offer { .. }))
            .map(|(at, _)| at.duration_since(cut_at))
            .collect::<Vec<_>>()
    };
    assert!(
        w.run_until(Duration::from_secs(25), |w| !restart_offers(w, b1)
            .is_empty()),
        "the callee never restarted ICE"
    );
    let offered = restart_offers(&w, b1)[0];
    assert_eq!(state(&w, b1, call), Some(CallState::Reconnecting));
    let timeout = w.device(b1).agent().config().media_timeout;
    assert!(
        offered < timeout / 2,
        "the restart came {offered:?} after the path died: consent freshness, not ICE failure"
    );
    assert!(
        restart_offers(&w, a).is_empty(),
        "the caller restarted too: {:?}",
        restart_offers(&w, a)
    );
    w.net.heal(ip_a, ip_b);
    assert!(
        w.run_until(Duration::from_secs(5), |w| state(w, a, call)
            == Some(CallState::Active)
            && state(w, b1, call) == Some(CallState::Active)),
        "the call did not come back after the restart"
    );
    let decoded = w.device(a).played.decoded;
    w.run_for(Duration::from_secs(2));
    assert!(
        w.device(a).played.decoded > decoded + 50,
        "audio flows again"
    );
}

#[test]
fn a_held_call_is_not_mistaken_for_a_dead_path() {
    // Holding stops the audio one way for as long as the user likes; what still flows (RTCP,
    // consent checks) keeps the path alive, so neither side restarts ICE or reconnects.
    let (mut w, a, b1, b2) = alice_and_bob(13);
    let call = ring_bob(&mut w, a, b1, b2);
    w.command(b1, Command::Answer { call_id: call }).unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| state(w, a, call)
        == Some(CallState::Active)));
    w.run_for(Duration::from_secs(1));
    let held_at = w.clock.now();
    w.command(
        a,
        Command::SetHeld {
            call_id: call,
            held: true,
        },
    )
    .unwrap();
    w.run_for(Duration::from_secs(12));
    for d in [a, b1] {
        assert_eq!(
            state(&w, d, call),
            Some(CallState::Active),
            "{}",
            w.device(d).name
        );
        assert_eq!(
            w.device(d)
                .count(|r| matches!(r, Report::Reconnecting { .. })),
            0,
            "{} reconnected during a hold",
            w.device(d).name
        );
        let restarts = w
            .device(d)
            .signaled
            .iter()
            .filter(|(at, m)| *at >= held_at && matches!(m, ClientMessage::Offer { .. }));
        assert_eq!(
            restarts.count(),
            0,
            "{} restarted ICE during a hold",
            w.device(d).name
        );
    }
    w.command(
        a,
        Command::SetHeld {
            call_id: call,
            held: false,
        },
    )
    .unwrap();
    let decoded = w.device(b1).played.decoded;
    w.run_for(Duration::from_secs(2));
    assert!(
        w.device(b1).played.decoded > decoded + 20,
        "audio again after the hold: {:?} (before: {decoded})",
        w.device(b1).played
    );
}

#[test]
fn a_signaling_link_that_goes_silent_is_found_dead_by_its_pong_and_the_call_goes_on() {
    // The TCP connection stops carrying anything (a NAT dropped its mapping, a fade) but
    // nobody closes it: only the session's ping, unanswered for the pong timeout, finds out.
    // The device then reconnects, the server replaces the dead connection, and a hangup made
    // while it was down reaches the server after the new welcome.
    let (mut w, a, b1, b2) = alice_and_bob(12);
    let call = ring_bob(&mut w, a, b1, b2);
    w.command(b1, Command::Answer { call_id: call }).unwrap();
    assert!(w.run_until(Duration::from_secs(2), |w| state(w, a, call)
        == Some(CallState::Active)));
    let b1_id = w.device(b1).device_id;
    let silent = SignalingLink {
        up: Duration::from_secs(3600),
        down: Duration::from_secs(3600),
        jitter: Duration::ZERO,
        close_detect: Duration::from_secs(3600),
    };
    w.signaling.set_link(b1_id, silent).unwrap();
    // A ping is due at most 15 s after the last pong, and its pong may take 10 s.
    assert!(
        w.run_until(Duration::from_secs(26), |w| !w
            .device(b1)
            .agent()
            .signaling_up()),
        "the silent connection was never found dead"
    );
    assert_eq!(
        state(&w, b1, call),
        Some(CallState::Active),
        "media does not need signaling"
    );
    w.signaling
        .set_link(b1_id, SignalingLink::symmetric(Duration::from_millis(25)))
        .unwrap();
    w.connect(b1);
    assert!(w.run_until(Duration::from_secs(2), |w| w
        .device(b1)
        .agent()
        .signaling_up()));
    assert_eq!(state(&w, a, call), Some(CallState::Active));
    w.command(b1, Command::End { call_id: call }).unwrap();
    assert!(w.run_until(Duration::from_secs(3), |w| w
        .device(a)
        .end_reason(call)
        .is_some()));
    assert_eq!(w.device(a).end_reason(call), Some(EndReason::Hangup));
    // Alice may hear the hangup in-band first; the server's record follows from b1's own
    // `hangup` over the new connection.
    assert!(w.run_until(Duration::from_secs(3), |w| w
        .signaling
        .call_record(call)
        .is_some_and(|r| r.state == RecordState::Ended)));
}
