//! Folding call events into one record: the full lifecycle and idempotence.

use super::*;
use ringwire_router::record::{CallDeviceRecord, CallState};

pub(in crate::store::tests) async fn call_lifecycle(store: &Store) {
    let c = cid(0xc1);
    let (d2, d3) = (did(0x22), did(0x11));
    apply_all(store, &[started(c, "alice", "bob", T0)]).await;
    let fresh = call(store, c).await;
    assert_eq!(fresh.state, CallState::Ringing);
    assert_eq!(fresh.devices, vec![]);

    let reach = |device, via, at| CallEvent::DeviceReached {
        call_id: c,
        device_id: device,
        via,
        at_ms: at,
    };
    let rang = |device, at| CallEvent::DeviceRang {
        call_id: c,
        device_id: device,
        at_ms: at,
    };
    let accepted = |device, at| CallEvent::Accepted {
        call_id: c,
        device_id: device,
        at_ms: at,
    };
    apply_all(
        store,
        &[
            // d2 is reached first, d3 in the same millisecond: order is kept, not by id.
            reach(d2, Reach::Offline, T0 + 1),
            reach(d3, Reach::Socket, T0 + 1),
            reach(d2, Reach::Replay, T0 + 500),
            reach(d3, Reach::Offline, T0 + 600),
            rang(d3, T0 + 700),
            rang(d3, T0 + 800),
            rang(d2, T0 + 900),
        ],
    )
    .await;
    let ringing = call(store, c).await;
    assert_eq!(ringing.state, CallState::Ringing);
    assert_eq!(ringing.first_ring_at_ms, Some(T0 + 700));

    apply_all(store, &[accepted(d3, T0 + 1000)]).await;
    let active = call(store, c).await;
    assert_eq!(active.state, CallState::Active);
    assert_eq!(active.ended_at_ms, None);
    apply_all(
        store,
        &[
            accepted(d2, T0 + 1100),
            ended(c, EndReason::Hangup, Some(did(1)), T0 + 5000),
        ],
    )
    .await;

    let expected = CallRecord {
        call_id: c,
        caller_user: user("alice"),
        caller_device: did(1),
        callee_user: user("bob"),
        state: CallState::Ended,
        invited_at_ms: T0,
        ring_deadline_ms: T0 + 30_000,
        first_ring_at_ms: Some(T0 + 700),
        accepted_at_ms: Some(T0 + 1000),
        answered_device: Some(d3),
        ended_at_ms: Some(T0 + 5000),
        end_reason: Some(EndReason::Hangup),
        ended_by_device: Some(did(1)),
        devices: vec![
            CallDeviceRecord {
                device_id: d2,
                reached_via: Reach::Replay,
                reached_at_ms: T0 + 1,
                rang_at_ms: Some(T0 + 900),
                push_outcome: None,
                missed_call_push_outcome: None,
            },
            CallDeviceRecord {
                device_id: d3,
                reached_via: Reach::Socket,
                reached_at_ms: T0 + 1,
                rang_at_ms: Some(T0 + 700),
                push_outcome: None,
                missed_call_push_outcome: None,
            },
        ],
    };
    assert_eq!(call(store, c).await, expected);
    // Replaying the whole history changes nothing.
    apply_all(
        store,
        &[
            started(c, "alice", "bob", T0),
            reach(d2, Reach::Offline, T0 + 1),
            reach(d3, Reach::Socket, T0 + 1),
            rang(d3, T0 + 700),
            accepted(d3, T0 + 1000),
            ended(c, EndReason::Hangup, Some(did(1)), T0 + 5000),
        ],
    )
    .await;
    assert_eq!(call(store, c).await, expected);
}

pub(in crate::store::tests) async fn ended_is_final(store: &Store) {
    let c = cid(0xe1);
    apply_all(
        store,
        &[
            started(c, "alice", "bob", T0),
            ended(c, EndReason::NoAnswer, None, T0 + 30_000),
            ended(c, EndReason::Cancelled, Some(did(1)), T0 + 31_000),
            CallEvent::Accepted {
                call_id: c,
                device_id: did(2),
                at_ms: T0 + 32_000,
            },
            // A second Started with other data does not overwrite the call.
            started(c, "carol", "dave", T0 + 40_000),
        ],
    )
    .await;
    let record = call(store, c).await;
    assert_eq!(record.state, CallState::Ended);
    assert_eq!(record.end_reason, Some(EndReason::NoAnswer));
    assert_eq!(record.ended_at_ms, Some(T0 + 30_000));
    assert_eq!(record.ended_by_device, None);
    assert_eq!(record.accepted_at_ms, None);
    assert_eq!(record.answered_device, None);
    assert_eq!(record.caller_user, user("alice"));
    assert_eq!(record.invited_at_ms, T0);

    // An accepted call keeps its acceptance when it ends, and only the first end counts.
    let c2 = cid(0xe2);
    apply_all(
        store,
        &[
            started(c2, "alice", "bob", T0),
            CallEvent::Accepted {
                call_id: c2,
                device_id: did(2),
                at_ms: T0 + 10,
            },
            ended(c2, EndReason::ConnectionLost, Some(did(2)), T0 + 20),
            ended(c2, EndReason::Hangup, Some(did(1)), T0 + 30),
        ],
    )
    .await;
    let record = call(store, c2).await;
    assert_eq!(record.accepted_at_ms, Some(T0 + 10));
    assert_eq!(record.answered_device, Some(did(2)));
    assert_eq!(record.end_reason, Some(EndReason::ConnectionLost));
    assert_eq!(record.ended_at_ms, Some(T0 + 20));
    assert_eq!(record.ended_by_device, Some(did(2)));
}

pub(in crate::store::tests) async fn unknown_call_events_are_ignored(store: &Store) {
    let known = cid(0x01);
    let unknown = cid(0x02);
    apply_all(store, &[started(known, "alice", "bob", T0)]).await;
    let before = call(store, known).await;
    apply_all(
        store,
        &[
            CallEvent::DeviceReached {
                call_id: unknown,
                device_id: did(2),
                via: Reach::Socket,
                at_ms: T0,
            },
            CallEvent::DeviceRang {
                call_id: unknown,
                device_id: did(2),
                at_ms: T0,
            },
            CallEvent::Accepted {
                call_id: unknown,
                device_id: did(2),
                at_ms: T0,
            },
            ended(unknown, EndReason::Hangup, None, T0),
            // A device that rings without having been reached only sets the call's time.
            CallEvent::DeviceRang {
                call_id: known,
                device_id: did(9),
                at_ms: T0 + 5,
            },
        ],
    )
    .await;
    assert_eq!(store.call(unknown).await.expect("read"), None);
    let after = call(store, known).await;
    assert_eq!(
        after,
        CallRecord {
            first_ring_at_ms: Some(T0 + 5),
            ..before
        }
    );
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM call_devices")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(rows, 0);
}

pub(in crate::store::tests) async fn push_outcomes_are_recorded(store: &Store) {
    use ringwire_router::record::{PushKind, PushOutcome};
    let c = cid(0xd1);
    let (woken, dead) = (did(0x31), did(0x32));
    let pushed = |device, kind, outcome| CallEvent::Pushed {
        call_id: c,
        device_id: device,
        kind,
        outcome,
        at_ms: T0 + 5,
    };
    let reach = |device, via, at| CallEvent::DeviceReached {
        call_id: c,
        device_id: device,
        via,
        at_ms: at,
    };
    apply_all(
        store,
        &[
            started(c, "alice", "bob", T0),
            reach(woken, Reach::Offline, T0),
            reach(dead, Reach::Offline, T0),
            // The device connected before the push service confirmed: replay, then push.
            reach(woken, Reach::Replay, T0 + 3),
            pushed(woken, PushKind::Invite, PushOutcome::Sent),
            reach(woken, Reach::Push, T0 + 5),
            pushed(dead, PushKind::Invite, PushOutcome::Unregistered),
            ended(c, EndReason::NoAnswer, None, T0 + 30_000),
            pushed(dead, PushKind::MissedCall, PushOutcome::NoToken),
        ],
    )
    .await;
    let record = call(store, c).await;
    let by_id = |d| {
        record
            .devices
            .iter()
            .find(|r| r.device_id == d)
            .cloned()
            .expect("device in record")
    };
    let w = by_id(woken);
    assert_eq!(w.reached_via, Reach::Push);
    assert_eq!(w.reached_at_ms, T0, "the first reach time is kept");
    assert_eq!(w.push_outcome, Some(PushOutcome::Sent));
    assert_eq!(w.missed_call_push_outcome, None);
    let d = by_id(dead);
    assert_eq!(d.reached_via, Reach::Offline);
    assert_eq!(d.push_outcome, Some(PushOutcome::Unregistered));
    assert_eq!(d.missed_call_push_outcome, Some(PushOutcome::NoToken));
    // `push` never goes back to `replay`.
    apply_all(store, &[reach(woken, Reach::Replay, T0 + 9)]).await;
    assert_eq!(by_id_again(store, c, woken).await, Reach::Push);
}

async fn by_id_again(store: &Store, c: CallId, d: DeviceId) -> Reach {
    call(store, c)
        .await
        .devices
        .into_iter()
        .find(|r| r.device_id == d)
        .map(|r| r.reached_via)
        .expect("device in record")
}

/// A call that reached 3,000 devices, written as one group the way the record writer does it,
/// is stored whole, in order, and quickly (one transaction, no per-device scan).
pub(in crate::store::tests) async fn many_devices_are_written_in_one_group(store: &Store) {
    let c = cid(77);
    let mut events = vec![started(c, "alice", "bob", T0)];
    let devices: Vec<DeviceId> = (0..3000u32)
        .map(|n| {
            let mut bytes = [0u8; 16];
            bytes[..4].copy_from_slice(&n.to_be_bytes());
            bytes[15] = 0xd7;
            DeviceId::from_bytes(bytes)
        })
        .collect();
    for d in &devices {
        events.push(CallEvent::DeviceReached {
            call_id: c,
            device_id: *d,
            via: Reach::Offline,
            at_ms: T0,
        });
    }
    events.push(ended(c, EndReason::NoAnswer, None, T0 + 45_000));
    let started_at = std::time::Instant::now();
    store.apply_all(&events).await.expect("apply group");
    let took = started_at.elapsed();
    assert!(took < std::time::Duration::from_secs(20), "took {took:?}");
    let record = call(store, c).await;
    assert_eq!(record.devices.len(), 3000);
    let order: Vec<DeviceId> = record.devices.iter().map(|d| d.device_id).collect();
    assert_eq!(
        order, devices,
        "devices keep the order they were reached in"
    );
    // A second group touching the same call continues the order.
    let late = did(200);
    store
        .apply_all(&[CallEvent::DeviceReached {
            call_id: c,
            device_id: late,
            via: Reach::Replay,
            at_ms: T0 + 1,
        }])
        .await
        .expect("apply");
    assert_eq!(
        call(store, c).await.devices.last().map(|d| d.device_id),
        Some(late)
    );
}
