//! Firestore's operations through the Rust client and the server, on real Redis: what each one
//! does to the data, and the errors a client gets for a missing document, a bad path or data
//! over 64 KiB.

#![allow(clippy::unwrap_used)]

mod common;

use common::{within, Lab};
use ringwire_docstore::{ErrorCode, MAX_DATA_BYTES};
use serde_json::json;

#[tokio::test]
async fn every_operation_round_trips() {
    let lab = Lab::start("ops").await;
    let db = lab.client().await;

    // set creates, get reads it back.
    let created = db
        .set("calls/c1", json!({"type": "offer", "sdp": "v=0"}))
        .await
        .unwrap();
    let doc = db.get("calls/c1").await.unwrap().unwrap();
    assert_eq!(
        doc.data,
        *json!({"type": "offer", "sdp": "v=0"}).as_object().unwrap()
    );
    assert_eq!((doc.create_time, doc.update_time), (created, created));
    assert_eq!(doc.id(), "c1");

    // update merges top-level fields; set replaces the whole document and keeps create_time.
    let updated = db
        .update("calls/c1", json!({"answer": {"type": "answer"}}))
        .await
        .unwrap();
    assert!(updated > created, "update times increase");
    let doc = db.get("calls/c1").await.unwrap().unwrap();
    assert_eq!(doc.data["type"], "offer");
    assert_eq!(doc.data["answer"], json!({"type": "answer"}));
    let replaced = db.set("calls/c1", json!({"only": true})).await.unwrap();
    let doc = db.get("calls/c1").await.unwrap().unwrap();
    assert_eq!(doc.data, *json!({"only": true}).as_object().unwrap());
    assert_eq!((doc.create_time, doc.update_time), (created, replaced));

    // add makes 20-character alphanumeric ids; list gives creation order, not id order.
    db.set("calls/c1/offerCandidates/zzz", json!({"n": 0}))
        .await
        .unwrap();
    let mut added = vec!["zzz".to_owned()];
    for n in 1..=3 {
        let path = db
            .add("calls/c1/offerCandidates", json!({"n": n}))
            .await
            .unwrap();
        assert_eq!(path.id().len(), 20);
        assert!(path.id().bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(path.parent().as_str(), "calls/c1/offerCandidates");
        added.push(path.id().to_owned());
    }
    let listed = db.list("calls/c1/offerCandidates").await.unwrap();
    let ids: Vec<_> = listed.iter().map(|d| d.id().to_owned()).collect();
    assert_eq!(ids, added);
    assert_eq!(
        listed
            .iter()
            .map(|d| d.data["n"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert!(db.list("calls/nothing/here").await.unwrap().is_empty());

    // delete removes the document but not its subcollection (Firestore's semantics).
    assert!(db.delete("calls/c1").await.unwrap());
    assert!(
        !db.delete("calls/c1").await.unwrap(),
        "a second delete finds nothing"
    );
    assert_eq!(db.get("calls/c1").await.unwrap(), None);
    assert!(db.list("calls").await.unwrap().is_empty());
    assert_eq!(db.list("calls/c1/offerCandidates").await.unwrap().len(), 4);

    // delete_collection clears one collection.
    assert_eq!(
        db.delete_collection("calls/c1/offerCandidates")
            .await
            .unwrap(),
        4
    );
    assert!(db
        .list("calls/c1/offerCandidates")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        db.delete_collection("calls/c1/offerCandidates")
            .await
            .unwrap(),
        0
    );

    // Every key is under the prefix, and purge takes them all.
    assert!(!common::keys_under(&lab.prefix).await.is_empty());
    assert!(lab.store.purge().await.unwrap() > 0);
    assert!(common::keys_under(&lab.prefix).await.is_empty());
}

#[tokio::test]
async fn update_of_a_missing_document_is_not_found() {
    let lab = Lab::start("notfound").await;
    let db = lab.client().await;
    let err = db
        .update("calls/missing", json!({"a": 1}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound, "{err}");
    assert!(err.to_string().contains("calls/missing"), "{err}");
    // Nothing was created by the failed update.
    assert_eq!(db.get("calls/missing").await.unwrap(), None);
    // And a deleted document is missing again.
    db.set("calls/gone", json!({})).await.unwrap();
    db.delete("calls/gone").await.unwrap();
    let err = db.update("calls/gone", json!({"a": 1})).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NotFound);
}

#[tokio::test]
async fn bad_paths_are_refused_with_invalid_path() {
    let lab = Lab::start("badpaths").await;
    let db = lab.client().await;
    let long = format!("calls/{}", "x".repeat(129));
    let deep = ["a"; 10].join("/");
    for path in [
        "calls",
        "",
        "/calls/x",
        "calls/x/",
        "calls//x",
        "calls/a b",
        "calls/é",
        &long,
        &deep,
    ] {
        let err = db.set(path, json!({})).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidPath, "{path:?}: {err}");
    }
    for collection in ["calls/x", "", "calls/a.b"] {
        let err = db.add(collection, json!({})).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidPath, "{collection:?}: {err}");
        let err = db.listen_collection(collection).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidPath, "{collection:?}: {err}");
    }
    // The longest and deepest paths allowed work.
    let longest = format!("calls/{}", "x".repeat(128));
    db.set(&longest, json!({"ok": 1})).await.unwrap();
    let deepest = ["a"; 8].join("/");
    db.set(&deepest, json!({"ok": 1})).await.unwrap();
    assert!(db.get(&deepest).await.unwrap().is_some());
}

#[tokio::test]
async fn data_up_to_64_kib_is_kept_and_more_is_refused() {
    let lab = Lab::start("bigdata").await;
    let db = lab.client().await;
    // {"sdp":"…"} has 10 bytes around the string.
    let sdp = "a".repeat(MAX_DATA_BYTES - 10);
    db.set("calls/big", json!({"sdp": sdp})).await.unwrap();
    assert_eq!(
        db.get("calls/big").await.unwrap().unwrap().data["sdp"],
        sdp.as_str()
    );

    let err = db
        .set("calls/big", json!({"sdp": format!("{sdp}a")}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::DataTooLarge, "{err}");
    assert!(
        err.to_string().contains("65537"),
        "the error says the size: {err}"
    );

    // An update whose merge would cross the limit is refused by the server, and changes nothing.
    db.set("calls/merge", json!({"a": "a".repeat(40_000)}))
        .await
        .unwrap();
    let err = db
        .update("calls/merge", json!({"b": "b".repeat(40_000)}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::DataTooLarge, "{err}");
    assert!(!db
        .get("calls/merge")
        .await
        .unwrap()
        .unwrap()
        .data
        .contains_key("b"));

    let err = db.set("calls/array", json!([1, 2])).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidData, "{err}");
}

#[tokio::test]
async fn concurrent_updates_of_one_document_lose_no_field() {
    let lab = Lab::start("merge").await;
    let db = lab.client().await;
    db.set("calls/race", json!({})).await.unwrap();
    // Eight clients each update their own field ten times, all at once: each merge is one atomic
    // step in Redis, so none overwrites another's field with a stale copy.
    let mut writers = Vec::new();
    for w in 0..8 {
        let db = lab.client().await;
        writers.push(tokio::spawn(async move {
            for n in 0..10 {
                db.update("calls/race", json!({ format!("w{w}"): n }))
                    .await
                    .unwrap();
            }
        }));
    }
    for writer in writers {
        within("the writers", writer).await.unwrap();
    }
    let doc = db.get("calls/race").await.unwrap().unwrap();
    for w in 0..8 {
        assert_eq!(doc.data[&format!("w{w}")], 9, "{:?}", doc.data);
    }
}
