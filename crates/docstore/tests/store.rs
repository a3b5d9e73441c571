//! The store on its own, without the server: what lands in Redis, and a watch that lags past
//! what its change log keeps ends with `fell_behind` instead of skipping changes.

#![allow(clippy::unwrap_used)]

mod common;

use common::{within, Lab};
use ringwire_docstore::{CollectionPath, DocData, DocPath, DocStoreError, ErrorCode};
use serde_json::json;

fn data(value: serde_json::Value) -> DocData {
    DocData::new(value).unwrap()
}

#[tokio::test]
async fn a_watch_that_lags_past_the_log_cap_ends_with_fell_behind() {
    let lab = Lab::store_only("behind").await;
    // Redis trims `MAXLEN ~` streams by whole nodes of 100 entries: 10 keeps at least 10.
    let store = lab.store.clone().with_log_cap(10);
    let path = DocPath::parse("calls/lag").unwrap();
    let (first, mut watch) = store.watch_doc(&path).await.unwrap();
    assert!(!first.exists());
    let collection = CollectionPath::parse("calls").unwrap();
    let (docs, mut collection_watch) = store.watch_collection(&collection).await.unwrap();
    assert!(docs.is_empty());

    // 400 writes while neither watch reads.
    for n in 0..400 {
        store.set(&path, &data(json!({"n": n}))).await.unwrap();
    }
    let err = within("the watch", watch.next()).await.unwrap_err();
    assert!(matches!(err, DocStoreError::FellBehind { .. }), "{err}");
    assert_eq!(err.code(), ErrorCode::FellBehind);
    assert!(err.to_string().contains("listen again"), "{err}");
    let err = within("the collection watch", collection_watch.next())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::FellBehind, "{err}");

    // A new watch starts from the current state and is complete from there.
    let (first, mut watch) = store.watch_doc(&path).await.unwrap();
    assert_eq!(first.data().unwrap()["n"], 399);
    store.set(&path, &data(json!({"n": 400}))).await.unwrap();
    assert_eq!(
        within("the new watch", watch.next())
            .await
            .unwrap()
            .data()
            .unwrap()["n"],
        400
    );
}

#[tokio::test]
async fn a_watch_within_the_log_cap_gets_every_change() {
    let lab = Lab::store_only("withincap").await;
    let store = lab.store.clone().with_log_cap(1000);
    let path = DocPath::parse("calls/w").unwrap();
    let (_, mut watch) = store.watch_doc(&path).await.unwrap();
    for n in 0..900 {
        store.set(&path, &data(json!({"n": n}))).await.unwrap();
    }
    for n in 0..900 {
        assert_eq!(
            within("a change", watch.next())
                .await
                .unwrap()
                .data()
                .unwrap()["n"],
            n
        );
    }
}

#[tokio::test]
async fn the_keys_in_redis_are_the_documented_ones() {
    let lab = Lab::store_only("keys").await;
    let store = &lab.store;
    store
        .set(&DocPath::parse("calls/a").unwrap(), &data(json!({"x": 1})))
        .await
        .unwrap();
    let mut keys = common::keys_under(&lab.prefix).await;
    keys.sort();
    let p = &lab.prefix;
    let expected = [
        format!("{p}:clog:calls"),
        format!("{p}:dlog:calls/a"),
        format!("{p}:doc:calls/a"),
        format!("{p}:index:calls"),
        format!("{p}:logn"),
        format!("{p}:seq"),
    ];
    assert_eq!(keys, expected);
    // A store under another prefix sees none of it.
    let other = common::store(&common::prefix("keys-other")).await;
    assert_eq!(
        other
            .get(&DocPath::parse("calls/a").unwrap())
            .await
            .unwrap(),
        None
    );
    assert_eq!(other.purge().await.unwrap(), 0);
}
