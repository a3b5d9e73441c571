//! Ringing calls taken back after a restart push their offline callee devices again: the first
//! push may have died with the old process, and nobody else will wake the phone.

use super::{cid, dev, push_result, reach_of, record, Harness, A, B1, B2, T0};
use crate::record::{CallState, PushKind, PushOutcome, Reach};
use crate::{Input, RouterConfig};

#[test]
fn a_ringing_call_restored_pushes_its_offline_devices_again_until_the_ring_deadline() {
    let mut h = Harness::new();
    h.input(Input::Restore(record(CallState::Ringing, T0 + 30_000)));
    // B1 was on a socket (its app reconnects by itself); B2 was the push target.
    assert_eq!(h.pushes.len(), 1, "{:?}", h.pushes);
    let p = &h.pushes[0];
    assert_eq!(
        (p.call_id, p.device, p.kind),
        (cid(5), dev(B2), PushKind::Invite)
    );
    assert_eq!((p.from_user.as_str(), p.from_device), ("alice", dev(A)));
    assert_eq!(
        p.ring_deadline_ms,
        T0 + 30_000,
        "the push expires with the ring"
    );

    // The push service takes it and the phone comes: reached by push, and it can answer.
    h.input(push_result(cid(5), B2, PushKind::Invite, PushOutcome::Sent));
    h.connect(A);
    h.advance(500);
    h.connect(B2);
    assert_eq!(reach_of(&h, B2), vec![Reach::Push]);
}

#[test]
fn a_device_once_woken_by_push_is_pushed_again_and_one_without_a_token_is_not() {
    let mut r = record(CallState::Ringing, T0 + 30_000);
    r.devices[1].reached_via = Reach::Push;
    r.devices[1].push_outcome = Some(PushOutcome::Sent);
    let mut h = Harness::new();
    h.input(Input::Restore(r.clone()));
    assert_eq!(
        h.pushes.iter().map(|p| p.device).collect::<Vec<_>>(),
        vec![dev(B2)]
    );

    for gone in [
        PushOutcome::Unregistered,
        PushOutcome::BadToken,
        PushOutcome::NoToken,
        PushOutcome::PushUnavailable,
    ] {
        let mut r = r.clone();
        r.devices[1].reached_via = Reach::Offline;
        r.devices[1].push_outcome = Some(gone);
        let mut h = Harness::new();
        h.input(Input::Restore(r));
        assert!(h.pushes.is_empty(), "{gone:?}: {:?}", h.pushes);
    }
}

#[test]
fn restored_calls_that_no_longer_ring_push_no_invite() {
    // Past the ring deadline: it ends as no_answer (a missed-call push, no invite).
    let mut h = Harness::new();
    h.input(Input::Restore(record(CallState::Ringing, T0 - 1)));
    assert!(
        h.pushes.iter().all(|p| p.kind == PushKind::MissedCall),
        "{:?}",
        h.pushes
    );

    // Answered: the other devices are out of it.
    let mut r = record(CallState::Active, T0 + 30_000);
    r.accepted_at_ms = Some(T0 - 500);
    r.answered_device = Some(dev(B1));
    let mut h = Harness::with(RouterConfig::default());
    h.input(Input::Restore(r));
    assert!(h.pushes.is_empty(), "{:?}", h.pushes);

    // Ended: nothing.
    let mut r = record(CallState::Ended, T0 + 30_000);
    r.ended_at_ms = Some(T0 - 100);
    let mut h = Harness::new();
    h.input(Input::Restore(r));
    assert!(h.pushes.is_empty(), "{:?}", h.pushes);
}
