//! Reading calls back (history, recovery, recently ended), corrupt rows and concurrency.

use super::*;
use ringwire_router::record::CallState;

pub(in crate::store::tests) async fn history_by_user(store: &Store) {
    let (c1, c2, c3, c4, c5) = (cid(1), cid(2), cid(3), cid(4), cid(5));
    apply_all(
        store,
        &[
            started(c1, "alice", "bob", T0 + 1000),
            started(c2, "bob", "alice", T0 + 2000),
            started(c3, "alice", "carol", T0 + 3000),
            started(c4, "carol", "bob", T0 + 4000),
            started(c5, "bob", "alice", T0 + 5000),
            CallEvent::DeviceReached {
                call_id: c2,
                device_id: did(7),
                via: Reach::Socket,
                at_ms: T0 + 2001,
            },
            CallEvent::DeviceReached {
                call_id: c4,
                device_id: did(8),
                via: Reach::Offline,
                at_ms: T0 + 4001,
            },
        ],
    )
    .await;
    let of = |name: &'static str, limit, before| async move {
        store
            .calls_of_user(&user(name), limit, before)
            .await
            .expect("history")
    };
    assert_eq!(ids(&of("alice", 10, None).await), vec![c5, c3, c2, c1]);
    assert_eq!(ids(&of("alice", 2, None).await), vec![c5, c3]);
    assert_eq!(ids(&of("alice", 2, Some(T0 + 3000)).await), vec![c2, c1]);
    assert_eq!(ids(&of("alice", 2, Some(T0 + 1000)).await), vec![]);
    assert_eq!(ids(&of("alice", 0, None).await), vec![]);
    assert_eq!(ids(&of("bob", 10, None).await), vec![c5, c4, c2, c1]);
    assert_eq!(ids(&of("bob", 10, Some(T0 + 4000)).await), vec![c2, c1]);
    assert_eq!(ids(&of("carol", 10, None).await), vec![c4, c3]);
    assert_eq!(ids(&of("dave", 10, None).await), vec![]);

    // Devices come with their calls, also when the page is cut by the limit.
    let page = of("bob", 2, Some(T0 + 4500)).await;
    assert_eq!(ids(&page), vec![c4, c2]);
    assert_eq!(page[0].devices.len(), 1);
    assert_eq!(page[0].devices[0].device_id, did(8));
    assert_eq!(page[0].devices[0].reached_via, Reach::Offline);
    assert_eq!(page[1].devices.len(), 1);
    assert_eq!(page[1].devices[0].device_id, did(7));
    assert_eq!(page[1], call(store, c2).await);
}

pub(in crate::store::tests) async fn open_and_recently_ended(store: &Store) {
    let (c1, c2, c3, c4) = (cid(1), cid(2), cid(3), cid(4));
    apply_all(
        store,
        &[
            started(c1, "alice", "bob", T0 + 1000),
            ended(c1, EndReason::Declined, Some(did(2)), T0 + 2000),
            started(c2, "alice", "bob", T0 + 1500),
            started(c3, "carol", "dave", T0 + 500),
            CallEvent::Accepted {
                call_id: c3,
                device_id: did(3),
                at_ms: T0 + 600,
            },
            started(c4, "carol", "bob", T0 + 100),
            ended(c4, EndReason::Hangup, None, T0 + 5000),
        ],
    )
    .await;
    let open = store.open_calls().await.expect("open calls");
    assert_eq!(ids(&open), vec![c3, c2]);
    assert_eq!(open[0].state, CallState::Active);
    assert_eq!(open[1].state, CallState::Ringing);
    let since = |at| async move { ids(&store.calls_ended_since(at).await.expect("ended")) };
    assert_eq!(since(T0).await, vec![c1, c4]);
    assert_eq!(since(T0 + 2000).await, vec![c1, c4]);
    assert_eq!(since(T0 + 2001).await, vec![c4]);
    assert_eq!(since(T0 + 5000).await, vec![c4]);
    assert_eq!(since(T0 + 5001).await, vec![]);
    let recent = store.calls_ended_since(T0 + 2000).await.expect("ended");
    assert_eq!(recent[0].end_reason, Some(EndReason::Declined));
    assert_eq!(recent[1].end_reason, Some(EndReason::Hangup));
}

pub(in crate::store::tests) async fn corrupt_values_are_reported(store: &Store) {
    let c = cid(0xbb);
    let id = c.to_string();
    apply_all(
        store,
        &[
            started(c, "alice", "bob", T0),
            CallEvent::DeviceReached {
                call_id: c,
                device_id: did(2),
                via: Reach::Socket,
                at_ms: T0,
            },
            ended(c, EndReason::Busy, Some(did(2)), T0 + 10),
        ],
    )
    .await;

    raw(
        store,
        "UPDATE calls SET end_reason = 'bogus' WHERE id = $1",
        &id,
    )
    .await;
    expect_corrupt(store.call(c).await, "calls.end_reason");
    expect_corrupt(
        store.calls_of_user(&user("alice"), 10, None).await,
        "calls.end_reason",
    );
    expect_corrupt(store.calls_ended_since(T0).await, "calls.end_reason");

    raw(
        store,
        "UPDATE calls SET end_reason = 'busy', caller_device = 'XYZ' WHERE id = $1",
        &id,
    )
    .await;
    expect_corrupt(store.call(c).await, "calls.caller_device");

    raw(
        store,
        "UPDATE calls SET caller_device = $1, invited_at = -5 WHERE id = $1",
        &id,
    )
    .await;
    expect_corrupt(store.call(c).await, "calls.invited_at");

    raw(
        store,
        "UPDATE calls SET invited_at = 1, state = 'paused' WHERE id = $1",
        &id,
    )
    .await;
    expect_corrupt(store.call(c).await, "calls.state");

    raw(store, "UPDATE calls SET state = 'ended' WHERE id = $1", &id).await;
    raw(
        store,
        "UPDATE call_devices SET reached_via = 'pigeon' WHERE call_id = $1",
        &id,
    )
    .await;
    expect_corrupt(store.call(c).await, "call_devices.reached_via");
    raw(
        store,
        "UPDATE call_devices SET reached_via = 'socket' WHERE call_id = $1",
        &id,
    )
    .await;
    assert_eq!(call(store, c).await.invited_at_ms, 1);

    raw(
        store,
        "INSERT INTO users (name, display_name, created_at) VALUES ($1, NULL, 1)",
        "Not A Name",
    )
    .await;
    expect_corrupt(store.list_users().await, "users.name");
}

/// Many writers at once: SQLite must wait on its lock instead of failing with "busy".
pub(in crate::store::tests) async fn concurrent_writers(store: &Store) {
    store
        .add_user(&user("alice"), None, T0)
        .await
        .expect("alice");
    let calls = (0u8..40).map(|n| async move {
        let c = CallId::from_bytes([n; 16]);
        apply_all(
            store,
            &[
                started(c, "alice", "bob", T0 + u64::from(n)),
                CallEvent::DeviceReached {
                    call_id: c,
                    device_id: did(2),
                    via: Reach::Socket,
                    at_ms: T0 + 100,
                },
                ended(c, EndReason::Cancelled, Some(did(1)), T0 + 200),
            ],
        )
        .await;
    });
    let devices = (0..10).map(|n| async move {
        store
            .add_device(&user("alice"), None, T0 + n, usize::MAX)
            .await
            .expect("add device");
    });
    futures_util::future::join(
        futures_util::future::join_all(calls),
        futures_util::future::join_all(devices),
    )
    .await;
    assert_eq!(store.calls_ended_since(T0).await.expect("ended").len(), 40);
    assert_eq!(
        store
            .devices_of_user(&user("alice"))
            .await
            .expect("devices")
            .len(),
        10
    );
}
