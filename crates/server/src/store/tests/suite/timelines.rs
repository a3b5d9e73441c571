//! Call timelines: stored once per device beside the call record, refused for anyone else's
//! call, read back per call, per invite-time range and as summaries.

use super::*;
use ringwire_proto::{
    CallDirection, CallTimeline, DevicePlatform, TimelineEndReason, TimelineEvent,
    TimelineEventKind,
};

fn timeline(call: CallId, platform: DevicePlatform, direction: CallDirection) -> CallTimeline {
    let events = vec![
        TimelineEvent::new(T0 + 10, TimelineEventKind::RingingShown {}),
        TimelineEvent::new(
            T0 + 900,
            TimelineEventKind::Ended {
                reason: TimelineEndReason::Protocol(EndReason::Hangup),
                ended_locally: direction == CallDirection::Outgoing,
            },
        ),
    ];
    CallTimeline::new(call, platform, direction, events).expect("valid timeline")
}

/// A call from alice's `did(1)` to bob's `did(2)` (reached) invited at `at`; `did(3)` is bob's
/// too but was never part of it.
async fn call_at(store: &Store, c: CallId, at: u64) {
    apply_all(
        store,
        &[
            started(c, "alice", "bob", at),
            CallEvent::DeviceReached {
                call_id: c,
                device_id: did(2),
                via: Reach::Offline,
                at_ms: at + 1,
            },
            ended(c, EndReason::NoAnswer, None, at + 30_000),
        ],
    )
    .await;
}

pub(in crate::store::tests) async fn timelines_are_stored_once_per_device(store: &Store) {
    let c = cid(0x71);
    call_at(store, c, T0).await;
    let caller = timeline(c, DevicePlatform::Ios, CallDirection::Outgoing);
    let callee = timeline(c, DevicePlatform::Android, CallDirection::Incoming);
    let store_as = |device, t| async move {
        store
            .store_timeline(device, &t, T0 + 60_000)
            .await
            .expect("store timeline")
    };
    assert_eq!(
        store_as(did(1), caller.clone()).await,
        TimelineOutcome::Stored
    );
    // A device that was reached only while offline still saw the call (a late push).
    assert_eq!(
        store_as(did(2), callee.clone()).await,
        TimelineOutcome::Stored
    );
    // The replay is refused and changes nothing, even with other contents.
    let other = timeline(c, DevicePlatform::Web, CallDirection::Outgoing);
    assert_eq!(
        store_as(did(1), other).await,
        TimelineOutcome::AlreadyStored
    );
    // Not this device's call, no such call, the wrong side of the call.
    assert_eq!(
        store_as(did(3), callee.clone()).await,
        TimelineOutcome::NotAParticipant
    );
    let unknown = timeline(cid(0x72), DevicePlatform::Ios, CallDirection::Outgoing);
    assert_eq!(
        store_as(did(1), unknown).await,
        TimelineOutcome::UnknownCall
    );

    let stored = store.timelines_of_call(c).await.expect("read back");
    assert_eq!(stored.len(), 2);
    let mine = stored
        .iter()
        .find(|t| t.device_id == did(1))
        .expect("the caller's timeline");
    assert_eq!(mine.timeline, caller);
    assert_eq!(mine.uploaded_at_ms, T0 + 60_000);
    assert_eq!(mine.invited_at_ms, T0);
    let theirs = stored
        .iter()
        .find(|t| t.device_id == did(2))
        .expect("the callee's timeline");
    assert_eq!(theirs.timeline, callee);
    assert_eq!(
        store.timelines_of_call(cid(0x72)).await.expect("none"),
        vec![]
    );
}

pub(in crate::store::tests) async fn a_timeline_must_match_the_device_role(store: &Store) {
    let c = cid(0x73);
    call_at(store, c, T0).await;
    let backwards = timeline(c, DevicePlatform::Native, CallDirection::Incoming);
    assert_eq!(
        store
            .store_timeline(did(1), &backwards, T0)
            .await
            .expect("store"),
        TimelineOutcome::WrongDirection {
            expected: CallDirection::Outgoing
        }
    );
    let backwards = timeline(c, DevicePlatform::Native, CallDirection::Outgoing);
    assert_eq!(
        store
            .store_timeline(did(2), &backwards, T0)
            .await
            .expect("store"),
        TimelineOutcome::WrongDirection {
            expected: CallDirection::Incoming
        }
    );
    assert!(store.timelines_of_call(c).await.expect("read").is_empty());
}

pub(in crate::store::tests) async fn timelines_are_listed_by_invite_time(store: &Store) {
    let (early, middle, late) = (cid(0x81), cid(0x82), cid(0x83));
    call_at(store, early, T0).await;
    call_at(store, middle, T0 + 1000).await;
    call_at(store, late, T0 + 2000).await;
    for c in [late, early, middle] {
        for (device, direction) in [
            (did(1), CallDirection::Outgoing),
            (did(2), CallDirection::Incoming),
        ] {
            let t = timeline(c, DevicePlatform::Ios, direction);
            // Uploaded in another order than the calls were made.
            let outcome = store.store_timeline(device, &t, T0 + 5000).await;
            assert_eq!(outcome.expect("store"), TimelineOutcome::Stored);
        }
    }
    let list = |from, to| async move {
        let mut seen = vec![];
        store
            .for_each_timeline_in_range(from, to, |t| {
                seen.push((t.timeline.call_id(), t.device_id, t.invited_at_ms))
            })
            .await
            .expect("range");
        seen
    };
    // `from` is inclusive, `to` exclusive; oldest call first, devices in id order.
    assert_eq!(
        list(T0, T0 + 2000).await,
        vec![
            (early, did(1), T0),
            (early, did(2), T0),
            (middle, did(1), T0 + 1000),
            (middle, did(2), T0 + 1000),
        ]
    );
    assert_eq!(
        list(T0 + 1, T0 + 2001).await,
        vec![
            (middle, did(1), T0 + 1000),
            (middle, did(2), T0 + 1000),
            (late, did(1), T0 + 2000),
            (late, did(2), T0 + 2000),
        ]
    );
    assert!(list(T0 + 3000, T0 + 9000).await.is_empty());

    // The recent calls, newest first, with who uploaded what.
    let recent = store
        .recent_calls(T0, T0 + 2001, 2, None)
        .await
        .expect("recent");
    assert_eq!(ids(&recent), vec![late, middle]);
    let next = HistoryCursor {
        invited_at_ms: T0 + 1000,
        call_id: Some(middle),
    };
    let rest = store
        .recent_calls(T0, T0 + 2001, 2, Some(next))
        .await
        .expect("next page");
    assert_eq!(ids(&rest), vec![early]);
    assert_eq!(rest[0].devices.len(), 1, "the call's devices come along");
    let summaries = store
        .timeline_summaries(&[early, cid(0x99)])
        .await
        .expect("summaries");
    let early_summary = &summaries[&early];
    assert_eq!(early_summary.len(), 2);
    assert_eq!(early_summary[0].platform, DevicePlatform::Ios);
    assert!(!summaries.contains_key(&cid(0x99)));
}

pub(in crate::store::tests) async fn corrupt_timelines_are_reported(store: &Store) {
    let c = cid(0x91);
    call_at(store, c, T0).await;
    let t = timeline(c, DevicePlatform::Ios, CallDirection::Outgoing);
    store.store_timeline(did(1), &t, T0).await.expect("store");
    let id = c.to_string();
    raw(
        store,
        "UPDATE call_timelines SET events = '[{\"at_ms\":1,\"kind\":\"warp\"}]' WHERE call_id = $1",
        &id,
    )
    .await;
    expect_corrupt(store.timelines_of_call(c).await, "call_timelines.events");
    raw(
        store,
        "UPDATE call_timelines SET events = '[]' WHERE call_id = $1",
        &id,
    )
    .await;
    expect_corrupt(store.timelines_of_call(c).await, "call_timelines.events");
    raw(
        store,
        "UPDATE call_timelines SET events = '[{\"at_ms\":1,\"kind\":\"first_audio\"}]', \
         platform = 'palm' WHERE call_id = $1",
        &id,
    )
    .await;
    expect_corrupt(store.timelines_of_call(c).await, "call_timelines.platform");
}
