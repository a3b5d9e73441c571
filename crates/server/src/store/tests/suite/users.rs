//! Users, devices and device tokens.

use super::*;

pub(in crate::store::tests) async fn users_add_get_list(store: &Store) {
    assert_eq!(store.list_users().await.expect("list"), vec![]);
    let bob = store
        .add_user(&user("bob"), Some(&display("Bob Builder")), T0)
        .await
        .expect("add bob");
    let expected_bob = UserRecord {
        name: user("bob"),
        display_name: Some(display("Bob Builder")),
        created_at_ms: T0,
    };
    assert_eq!(bob, expected_bob);
    let alice = store
        .add_user(&user("alice"), None, T0 + 1)
        .await
        .expect("add alice");
    assert_eq!(alice.display_name, None);
    assert_eq!(
        store.list_users().await.expect("list"),
        vec![alice.clone(), expected_bob.clone()]
    );
    assert_eq!(
        store.user(&user("bob")).await.expect("get"),
        Some(expected_bob)
    );
    assert_eq!(store.user(&user("alice")).await.expect("get"), Some(alice));
    assert_eq!(store.user(&user("carol")).await.expect("get"), None);
}

pub(in crate::store::tests) async fn duplicate_user_is_rejected(store: &Store) {
    store
        .add_user(&user("bob"), Some(&display("First")), T0)
        .await
        .expect("add bob");
    let err = store
        .add_user(&user("bob"), Some(&display("Second")), T0 + 5)
        .await
        .expect_err("duplicate");
    assert!(
        matches!(&err, StoreError::UserExists(n) if *n == user("bob")),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "user \"bob\" already exists; pick another name"
    );
    let kept = store.user(&user("bob")).await.expect("get").expect("bob");
    assert_eq!(kept.display_name, Some(display("First")));
    assert_eq!(kept.created_at_ms, T0);
    assert_eq!(store.list_users().await.expect("list").len(), 1);
}

pub(in crate::store::tests) async fn devices_and_tokens(store: &Store) {
    let err = store
        .add_device(&user("nobody"), None, T0, usize::MAX)
        .await
        .expect_err("unknown user");
    assert!(
        matches!(&err, StoreError::UserNotFound(n) if *n == user("nobody")),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("\"nobody\" does not exist"),
        "{err}"
    );

    let alice = store
        .add_user(&user("alice"), None, T0)
        .await
        .expect("alice");
    let (dev, tok) = store
        .add_device(&user("alice"), Some("phone"), T0 + 10, usize::MAX)
        .await
        .expect("add device");
    let text = tok.as_str();
    assert_eq!(text.len(), 67);
    assert!(text.starts_with("rw_"), "{text}");
    assert!(
        text[3..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{text}"
    );
    assert_eq!(tok.to_string(), text);
    let debug = format!("{tok:?}");
    assert!(
        !debug.contains(&text[3..]),
        "Debug leaks the token: {debug}"
    );
    assert_eq!(
        dev,
        DeviceRecord {
            device_id: dev.device_id,
            user: user("alice"),
            label: Some("phone".into()),
            created_at_ms: T0 + 10,
            last_seen_ms: None,
            revoked: false,
        }
    );
    let (dev2, tok2) = store
        .add_device(&user("alice"), None, T0 + 20, usize::MAX)
        .await
        .expect("second device");
    assert_ne!(dev.device_id, dev2.device_id);
    assert_ne!(tok.as_str(), tok2.as_str());

    assert_eq!(
        store.authenticate(tok.as_str()).await.expect("auth"),
        Some((dev.clone(), alice.clone()))
    );
    let wrong = format!("rw_{}", "0".repeat(64));
    let upper = tok.as_str().to_uppercase();
    let longer = format!("{}0", tok.as_str());
    for bad in [
        wrong.as_str(),
        "",
        "rw_",
        &text[3..],
        upper.as_str(),
        longer.as_str(),
    ] {
        assert_eq!(
            store.authenticate(bad).await.expect("auth"),
            None,
            "{bad:?}"
        );
    }

    store
        .touch_device(dev.device_id, T0 + 100)
        .await
        .expect("touch");
    store
        .touch_device(dev.device_id, T0 + 50)
        .await
        .expect("touch (older)");
    store
        .touch_device(did(0xee), T0 + 50)
        .await
        .expect("touch unknown");
    let seen = DeviceRecord {
        last_seen_ms: Some(T0 + 100),
        ..dev.clone()
    };
    assert_eq!(
        store.authenticate(tok.as_str()).await.expect("auth"),
        Some((seen.clone(), alice.clone()))
    );
    assert_eq!(
        store
            .devices_of_user(&user("alice"))
            .await
            .expect("devices"),
        vec![seen.clone(), dev2.clone()]
    );
    assert_eq!(
        store.devices_of_user(&user("bob")).await.expect("devices"),
        vec![]
    );

    store
        .set_push_tokens(
            dev2.device_id,
            Some("ios"),
            Some("voip-abc"),
            Some("apns-def"),
        )
        .await
        .expect("push tokens");
    let push: (Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT push_platform, voip_push_token, push_token FROM devices WHERE id = $1",
    )
    .bind(dev2.device_id.to_string())
    .fetch_one(store.pool())
    .await
    .expect("select push");
    assert_eq!(
        push,
        (
            Some("ios".into()),
            Some("voip-abc".into()),
            Some("apns-def".into())
        )
    );
    store
        .set_push_tokens(dev2.device_id, Some("android"), None, Some("fcm-1"))
        .await
        .expect("push tokens");
    let push: (Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT push_platform, voip_push_token, push_token FROM devices WHERE id = $1",
    )
    .bind(dev2.device_id.to_string())
    .fetch_one(store.pool())
    .await
    .expect("select push");
    assert_eq!(push, (Some("android".into()), None, Some("fcm-1".into())));

    assert!(store.revoke_device(dev.device_id).await.expect("revoke"));
    assert!(!store
        .revoke_device(dev.device_id)
        .await
        .expect("revoke again"));
    assert!(!store
        .revoke_device(did(0xee))
        .await
        .expect("revoke unknown"));
    assert_eq!(store.authenticate(tok.as_str()).await.expect("auth"), None);
    assert_eq!(
        store.authenticate(tok2.as_str()).await.expect("auth"),
        Some((dev2.clone(), alice))
    );
    assert_eq!(
        store
            .devices_of_user(&user("alice"))
            .await
            .expect("devices"),
        vec![dev2]
    );
}

pub(in crate::store::tests) async fn only_token_hash_is_stored(store: &Store) {
    assert_eq!(
        hash_token("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    store.add_user(&user("bob"), None, T0).await.expect("bob");
    let (dev, tok) = store
        .add_device(&user("bob"), Some("laptop"), T0, usize::MAX)
        .await
        .expect("device");
    let rows: Vec<(String, String, Option<String>, String)> =
        sqlx::query_as("SELECT id, user_name, label, token_hash FROM devices")
            .fetch_all(store.pool())
            .await
            .expect("select devices");
    assert_eq!(rows.len(), 1);
    let (id, owner, label, hash) = &rows[0];
    assert_eq!(id, &dev.device_id.to_string());
    assert_eq!(owner, "bob");
    assert_eq!(label.as_deref(), Some("laptop"));
    assert_eq!(hash, &hash_token(tok.as_str()));
    assert_eq!(hash.len(), 64);
    let secret = &tok.as_str()[3..];
    for column in [id, owner, hash] {
        assert!(
            !column.contains(secret),
            "the token is stored in clear: {column}"
        );
    }
}

pub(in crate::store::tests) async fn push_registrations(store: &Store) {
    use ringwire_proto::{PushPlatform, PushToken};
    store
        .add_user(&user("bob"), None, T0)
        .await
        .expect("add bob");
    let (phone, _) = store
        .add_device(&user("bob"), None, T0, usize::MAX)
        .await
        .expect("device");
    let id = phone.device_id;
    assert_eq!(store.push_registration(id).await.expect("read"), None);
    let (voip, alert) = ("ab".repeat(32), "cd".repeat(32));
    let apns =
        PushToken::new(PushPlatform::Apns, Some(voip.clone()), Some(alert.clone())).expect("valid");
    store.register_push(id, &apns).await.expect("register");
    let reg = store
        .push_registration(id)
        .await
        .expect("read")
        .expect("some");
    assert_eq!(reg.platform, PushPlatform::Apns);
    assert_eq!(reg.voip_token.as_deref(), Some(voip.as_str()));
    assert_eq!(reg.alert_token.as_deref(), Some(alert.as_str()));
    assert!(
        !format!("{reg:?}").contains(&voip),
        "Debug must not show tokens"
    );

    // A dead token is removed; a token the device replaced in the meantime is not touched.
    store
        .remove_push_token(id, "ef".repeat(32).as_str())
        .await
        .expect("remove other");
    assert_eq!(
        store.push_registration(id).await.expect("read"),
        Some(reg.clone())
    );
    store.remove_push_token(id, &voip).await.expect("remove");
    let reg = store
        .push_registration(id)
        .await
        .expect("read")
        .expect("alert left");
    assert_eq!(
        (reg.voip_token, reg.alert_token.as_deref()),
        (None, Some(alert.as_str()))
    );
    store.remove_push_token(id, &alert).await.expect("remove");
    assert_eq!(store.push_registration(id).await.expect("read"), None);

    let fcm = PushToken::new(PushPlatform::Fcm, None, Some("fcm:token-1".into())).expect("valid");
    store.register_push(id, &fcm).await.expect("register");
    assert_eq!(
        store
            .push_registration(id)
            .await
            .expect("read")
            .map(|r| r.platform),
        Some(PushPlatform::Fcm)
    );
    let off = PushToken::new(PushPlatform::None, None, None).expect("valid");
    store.register_push(id, &off).await.expect("clear");
    assert_eq!(store.push_registration(id).await.expect("read"), None);
}

/// The per-user device cap holds, counts only active devices, and revocations can be found.
pub(in crate::store::tests) async fn device_cap_and_revocations(store: &Store) {
    store.add_user(&user("dana"), None, T0).await.expect("user");
    let (first, _) = store
        .add_device(&user("dana"), None, T0, 2)
        .await
        .expect("first device");
    store
        .add_device(&user("dana"), None, T0, 2)
        .await
        .expect("second device");
    let err = store
        .add_device(&user("dana"), None, T0, 2)
        .await
        .expect_err("over the cap");
    assert!(
        matches!(err, StoreError::TooManyDevices { max: 2, .. }),
        "{err:?}"
    );
    assert!(store.device_active(first.device_id).await.expect("query"));
    assert!(store.revoke_device(first.device_id).await.expect("revoke"));
    assert!(!store.device_active(first.device_id).await.expect("query"));
    let revoked = store.revoked_since(0).await.expect("query");
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].0, first.device_id);
    assert!(store.latest_revocation_ms().await.expect("query") >= revoked[0].1);
    // A revoked device frees its place.
    store
        .add_device(&user("dana"), None, T0, 2)
        .await
        .expect("room again");
}
