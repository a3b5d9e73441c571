//! Collection listeners (Firestore's `onSnapshot` on a collection), through the server: every
//! existing document as `added` in creation order first, then `added`, `modified` and `removed`
//! as they happen, in order — the ICE-candidate exchange of issue 18 rests on this.

#![allow(clippy::unwrap_used)]

mod common;

use common::{within, Lab};
use ringwire_docstore::{ChangeKind, CollectionListener, DocChange};
use serde_json::json;

async fn next(listener: &mut CollectionListener) -> Vec<DocChange> {
    within("changes", listener.next()).await.unwrap()
}

/// Reads changes until `count` have come (the server may batch them).
async fn take(
    listener: &mut CollectionListener,
    count: usize,
) -> Vec<(ChangeKind, String, serde_json::Value)> {
    let mut changes = Vec::new();
    while changes.len() < count {
        for change in next(listener).await {
            changes.push((
                change.kind,
                change.doc.id().to_owned(),
                serde_json::Value::Object(change.doc.data),
            ));
        }
    }
    assert_eq!(
        changes.len(),
        count,
        "more changes than expected: {changes:?}"
    );
    changes
}

#[tokio::test]
async fn existing_documents_first_as_added_then_changes_in_order() {
    let lab = Lab::start("coll").await;
    let db = lab.client().await;
    // Created in an order that is not the ids' order.
    for id in ["m", "c", "x", "a"] {
        db.set(&format!("calls/k/offerCandidates/{id}"), json!({"id": id}))
            .await
            .unwrap();
    }
    let mut listener = db
        .listen_collection("calls/k/offerCandidates")
        .await
        .unwrap();
    let first = next(&mut listener).await;
    let ids: Vec<_> = first.iter().map(|c| c.doc.id()).collect();
    assert_eq!(
        ids,
        ["m", "c", "x", "a"],
        "creation order, all in the first push"
    );
    assert!(first.iter().all(|c| c.kind == ChangeKind::Added));

    let added = db
        .add("calls/k/offerCandidates", json!({"candidate": "c1"}))
        .await
        .unwrap();
    db.update("calls/k/offerCandidates/c", json!({"more": 1}))
        .await
        .unwrap();
    db.set("calls/k/offerCandidates/x", json!({"replaced": true}))
        .await
        .unwrap();
    db.delete("calls/k/offerCandidates/m").await.unwrap();
    db.delete("calls/k/offerCandidates/nothing").await.unwrap(); // no such document: no change

    let changes = take(&mut listener, 4).await;
    assert_eq!(
        changes,
        [
            (
                ChangeKind::Added,
                added.id().to_owned(),
                json!({"candidate": "c1"})
            ),
            (
                ChangeKind::Modified,
                "c".to_owned(),
                json!({"id": "c", "more": 1})
            ),
            (
                ChangeKind::Modified,
                "x".to_owned(),
                json!({"replaced": true})
            ),
            // A removal carries the document as it last was, as Firestore's does.
            (ChangeKind::Removed, "m".to_owned(), json!({"id": "m"})),
        ]
    );

    // delete_collection removes the rest, oldest first.
    assert_eq!(
        db.delete_collection("calls/k/offerCandidates")
            .await
            .unwrap(),
        4
    );
    let removed = take(&mut listener, 4).await;
    let ids: Vec<_> = removed
        .iter()
        .map(|(kind, id, _)| (*kind, id.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            (ChangeKind::Removed, "c"),
            (ChangeKind::Removed, "x"),
            (ChangeKind::Removed, "a"),
            (ChangeKind::Removed, added.id()),
        ]
    );
}

#[tokio::test]
async fn an_empty_collection_gives_an_empty_first_push() {
    let lab = Lab::start("collempty").await;
    let db = lab.client().await;
    let mut listener = db
        .listen_collection("calls/none/answerCandidates")
        .await
        .unwrap();
    assert!(next(&mut listener).await.is_empty());
    db.add("calls/none/answerCandidates", json!({"candidate": "a"}))
        .await
        .unwrap();
    let changes = next(&mut listener).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].kind, ChangeKind::Added);
}

#[tokio::test]
async fn a_collection_and_its_documents_subcollections_are_heard_apart() {
    let lab = Lab::start("collsub").await;
    let db = lab.client().await;
    let mut calls = db.listen_collection("calls").await.unwrap();
    let mut offers = db
        .listen_collection("calls/k/offerCandidates")
        .await
        .unwrap();
    let mut answers = db
        .listen_collection("calls/k/answerCandidates")
        .await
        .unwrap();
    for listener in [&mut calls, &mut offers, &mut answers] {
        assert!(next(listener).await.is_empty());
    }
    // The codelab's order: the offer document, then candidates in a subcollection.
    db.set("calls/k", json!({"offer": {"type": "offer", "sdp": "v=0"}}))
        .await
        .unwrap();
    db.add("calls/k/offerCandidates", json!({"candidate": "o1"}))
        .await
        .unwrap();
    db.add("calls/k/answerCandidates", json!({"candidate": "a1"}))
        .await
        .unwrap();
    db.update(
        "calls/k",
        json!({"answer": {"type": "answer", "sdp": "v=0"}}),
    )
    .await
    .unwrap();

    let call = take(&mut calls, 2).await;
    assert_eq!(
        (call[0].0, call[1].0),
        (ChangeKind::Added, ChangeKind::Modified)
    );
    assert_eq!(call[1].2["answer"]["type"], "answer");
    assert_eq!(take(&mut offers, 1).await[0].2, json!({"candidate": "o1"}));
    assert_eq!(take(&mut answers, 1).await[0].2, json!({"candidate": "a1"}));

    // Deleting the call document leaves its candidates (Firestore's semantics).
    db.delete("calls/k").await.unwrap();
    assert_eq!(take(&mut calls, 1).await[0].0, ChangeKind::Removed);
    assert_eq!(db.list("calls/k/offerCandidates").await.unwrap().len(), 1);
}

#[tokio::test]
async fn two_listeners_on_one_collection_each_get_every_change() {
    let lab = Lab::start("colltwo").await;
    let db = lab.client().await;
    let other = lab.client().await;
    let mut one = db
        .listen_collection("calls/t/offerCandidates")
        .await
        .unwrap();
    let mut two = other
        .listen_collection("calls/t/offerCandidates")
        .await
        .unwrap();
    next(&mut one).await;
    next(&mut two).await;
    for n in 0..50 {
        db.add("calls/t/offerCandidates", json!({"n": n}))
            .await
            .unwrap();
    }
    for listener in [&mut one, &mut two] {
        let ns: Vec<_> = take(listener, 50)
            .await
            .into_iter()
            .map(|(_, _, data)| data["n"].as_u64().unwrap())
            .collect();
        assert_eq!(ns, (0..50).collect::<Vec<_>>());
    }
}
