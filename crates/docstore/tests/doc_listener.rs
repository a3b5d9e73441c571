//! Document listeners (Firestore's `onSnapshot` on a document), through the server: the current
//! snapshot first, then one snapshot per write, in order, none lost, none twice — also when the
//! writes race the listener's start — and no Redis connection left once a listener is gone.

#![allow(clippy::unwrap_used)]

mod common;

use common::{within, Lab};
use ringwire_docstore::{DocListener, DocSnapshot};
use serde_json::json;

async fn next(listener: &mut DocListener) -> DocSnapshot {
    within("a snapshot", listener.next()).await.unwrap()
}

fn n_of(snapshot: &DocSnapshot) -> Option<u64> {
    snapshot.data().map(|data| data["n"].as_u64().unwrap())
}

#[tokio::test]
async fn first_the_current_snapshot_then_every_write_in_order() {
    let lab = Lab::start("docorder").await;
    let db = lab.client().await;

    let mut listener = db.listen_doc("calls/a").await.unwrap();
    let first = next(&mut listener).await;
    assert!(!first.exists(), "the document does not exist yet");
    assert_eq!(first.path.as_str(), "calls/a");

    db.set("calls/a", json!({"n": 0, "type": "offer"}))
        .await
        .unwrap();
    const N: u64 = 200;
    for n in 1..=N {
        db.update("calls/a", json!({"n": n})).await.unwrap();
    }
    db.delete("calls/a").await.unwrap();
    db.set("calls/a", json!({"n": 1000})).await.unwrap();

    let mut last_update = 0;
    for n in 0..=N {
        let snapshot = next(&mut listener).await;
        let doc = snapshot.doc.as_ref().unwrap();
        assert_eq!(n_of(&snapshot), Some(n));
        assert_eq!(doc.data["type"], "offer", "update merged into the offer");
        assert!(doc.update_time > last_update, "update times increase");
        last_update = doc.update_time;
    }
    assert!(!next(&mut listener).await.exists(), "the delete");
    assert_eq!(
        n_of(&next(&mut listener).await),
        Some(1000),
        "the document made again"
    );

    // Nothing more: a write to another document is not this listener's.
    db.set("calls/b", json!({"n": 1})).await.unwrap();
    db.set("calls/a", json!({"n": 1001})).await.unwrap();
    assert_eq!(n_of(&next(&mut listener).await), Some(1001));

    // A listener started now begins with the current state.
    let mut late = db.listen_doc("calls/a").await.unwrap();
    assert_eq!(n_of(&next(&mut late).await), Some(1001));
}

#[tokio::test]
async fn writes_racing_the_listeners_start_are_seen_exactly_once() {
    let lab = Lab::start("docrace").await;
    let writer_db = lab.client().await;
    const N: u64 = 300;
    let writer = tokio::spawn(async move {
        for n in 1..=N {
            writer_db.set("calls/race", json!({"n": n})).await.unwrap();
        }
    });
    // Listeners start while the writes go on, each on its own connection, at whatever point the
    // writer has reached.
    let mut listeners = Vec::new();
    for _ in 0..6 {
        let db = lab.client().await;
        listeners.push(db.listen_doc("calls/race").await.unwrap());
        tokio::task::yield_now().await;
    }
    let mut starts = Vec::new();
    for listener in &mut listeners {
        let first = n_of(&next(listener).await).unwrap_or(0);
        starts.push(first);
        for n in first + 1..=N {
            assert_eq!(
                n_of(&next(listener).await),
                Some(n),
                "after a start at {first}"
            );
        }
    }
    within("the writer", writer).await.unwrap();
    // The last write was the last snapshot: nothing is duplicated after it either.
    let db = lab.client().await;
    db.set("calls/race", json!({"n": N + 1})).await.unwrap();
    for listener in &mut listeners {
        assert_eq!(n_of(&next(listener).await), Some(N + 1));
    }
    println!("listeners started at n = {starts:?}");
}

#[tokio::test]
async fn two_listeners_on_one_document_each_get_every_change() {
    let lab = Lab::start("doctwo").await;
    let db = lab.client().await;
    db.set("calls/shared", json!({"n": 0})).await.unwrap();
    let mut one = db.listen_doc("calls/shared").await.unwrap();
    let mut two = db.listen_doc("calls/shared").await.unwrap();
    assert_ne!(one.id(), two.id());
    for n in 1..=20 {
        db.set("calls/shared", json!({"n": n})).await.unwrap();
    }
    for listener in [&mut one, &mut two] {
        for n in 0..=20 {
            assert_eq!(n_of(&next(listener).await), Some(n));
        }
    }
    // Dropping one leaves the other working.
    drop(one);
    db.set("calls/shared", json!({"n": 21})).await.unwrap();
    assert_eq!(n_of(&next(&mut two).await), Some(21));
    // delete_collection is heard as the document's deletion.
    assert_eq!(db.delete_collection("calls").await.unwrap(), 1);
    assert!(!next(&mut two).await.exists());
}

#[tokio::test]
async fn listeners_release_their_redis_connections() {
    let lab = Lab::start("docleak").await;
    let db = lab.client().await;
    let mut listeners = Vec::new();
    for n in 0..5 {
        let mut listener = db.listen_doc(&format!("calls/l{n}")).await.unwrap();
        next(&mut listener).await;
        listeners.push(listener);
    }
    let mut collection = db.listen_collection("calls").await.unwrap();
    within("the first changes", collection.next())
        .await
        .unwrap();
    assert_eq!(lab.listener_connections().await, 6);

    // Dropping a listener unsubscribes it; the server closes its Redis connection.
    listeners.truncate(2);
    drop(collection);
    lab.wait_for_listener_connections(2).await;
    // The others still work.
    db.set("calls/l0", json!({"n": 7})).await.unwrap();
    assert_eq!(n_of(&next(&mut listeners[0]).await), Some(7));

    // A client that goes away (its last handle and listeners dropped) takes them all along.
    drop(db);
    drop(listeners);
    lab.wait_for_listener_connections(0).await;

    // So does a raw connection that just closes.
    let mut raw = lab.raw().await;
    raw.send_text(json!({"id": 1, "op": "listen", "path": "calls"}).to_string())
        .await;
    assert_eq!(raw.expect().await["ok"]["listener"], 1);
    raw.expect().await; // the first push
    assert_eq!(lab.listener_connections().await, 1);
    drop(raw);
    lab.wait_for_listener_connections(0).await;
}
