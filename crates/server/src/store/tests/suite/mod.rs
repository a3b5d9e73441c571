//! The suite proper: each `pub(super)` function gets a fresh, empty, migrated store and must
//! pass on every backend. Shared helpers live here; the tests are grouped by topic.

mod calls;
mod fold;
mod history;
mod timelines;
mod users;

use ringwire_proto::{CallId, DeviceId, DisplayName, EndReason, UserName};

use crate::store::*;
use ringwire_router::record::{CallEvent, CallRecord, Reach};

pub(super) use calls::*;
pub(super) use fold::*;
pub(super) use history::*;
pub(super) use timelines::*;
pub(super) use users::*;

const T0: u64 = 1_700_000_000_000;

fn user(name: &str) -> UserName {
    name.parse().expect("valid user name")
}

fn display(name: &str) -> DisplayName {
    name.parse().expect("valid display name")
}

fn did(n: u8) -> DeviceId {
    DeviceId::from_bytes([n; 16])
}

fn cid(n: u8) -> CallId {
    CallId::from_bytes([n; 16])
}

fn started(call: CallId, from: &str, to: &str, at: u64) -> CallEvent {
    CallEvent::Started {
        call_id: call,
        caller_user: user(from),
        caller_device: did(1),
        callee_user: user(to),
        invited_at_ms: at,
        ring_deadline_ms: at + 30_000,
    }
}

fn ended(call: CallId, reason: EndReason, by: Option<DeviceId>, at: u64) -> CallEvent {
    CallEvent::Ended {
        call_id: call,
        reason,
        by_device: by,
        at_ms: at,
    }
}

async fn apply_all(store: &Store, events: &[CallEvent]) {
    for event in events {
        store.apply(event).await.expect("apply event");
    }
}

async fn call(store: &Store, id: CallId) -> CallRecord {
    store
        .call(id)
        .await
        .expect("read call")
        .expect("call exists")
}

fn ids(calls: &[CallRecord]) -> Vec<CallId> {
    calls.iter().map(|c| c.call_id).collect()
}

fn expect_corrupt(result: Result<impl std::fmt::Debug, StoreError>, column: &str) {
    match result {
        Err(StoreError::Corrupt(msg)) => {
            assert!(msg.contains(column), "{msg:?} should name {column}");
            let text = StoreError::Corrupt(msg).to_string();
            assert!(text.contains("repair or delete that row by hand"), "{text}");
        }
        other => panic!("expected Corrupt naming {column}, got {other:?}"),
    }
}

async fn raw(store: &Store, sql: &'static str, id: &str) {
    sqlx::query(sql)
        .bind(id.to_owned())
        .execute(store.pool())
        .await
        .expect("raw SQL");
}

/// Closing the store and opening the same database again (a restart) keeps everything.
pub(super) async fn reopen_keeps_everything(store: &Store, url: &str) {
    store
        .add_user(&user("alice"), Some(&display("Alice")), T0)
        .await
        .expect("alice");
    let (dev, tok) = store
        .add_device(&user("alice"), Some("phone"), T0 + 1, usize::MAX)
        .await
        .expect("device");
    let (gone, gone_tok) = store
        .add_device(&user("alice"), None, T0 + 2, usize::MAX)
        .await
        .expect("device");
    assert!(store.revoke_device(gone.device_id).await.expect("revoke"));
    store
        .touch_device(dev.device_id, T0 + 3)
        .await
        .expect("touch");
    let (open, done) = (cid(1), cid(2));
    apply_all(
        store,
        &[
            started(open, "alice", "bob", T0 + 10),
            CallEvent::DeviceReached {
                call_id: open,
                device_id: did(2),
                via: Reach::Offline,
                at_ms: T0 + 11,
            },
            started(done, "bob", "alice", T0 + 20),
            ended(done, EndReason::Unavailable, None, T0 + 21),
        ],
    )
    .await;
    let users = store.list_users().await.expect("users");
    let open_record = call(store, open).await;
    let done_record = call(store, done).await;
    store.close().await;

    let again = Store::open(url).await.expect("reopen");
    assert_eq!(again.list_users().await.expect("users"), users);
    let (device, owner) = again
        .authenticate(tok.as_str())
        .await
        .expect("auth")
        .expect("token still valid");
    assert_eq!(device.last_seen_ms, Some(T0 + 3));
    assert_eq!(owner.name, user("alice"));
    assert_eq!(
        again.authenticate(gone_tok.as_str()).await.expect("auth"),
        None
    );
    assert_eq!(again.open_calls().await.expect("open"), vec![open_record]);
    assert_eq!(
        again.calls_ended_since(T0).await.expect("ended"),
        vec![done_record]
    );
    again.close().await;
}
