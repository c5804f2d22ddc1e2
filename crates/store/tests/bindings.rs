//! Registrar bindings and call records through the public `Store` API.

use store::{Binding, CallRecord, Store, StoreError};

fn binding(aor: &str, contact: &str, expires_at: i64) -> Binding {
    Binding {
        aor: aor.to_owned(),
        contact: contact.to_owned(),
        expires_at,
        q: Some(0.7),
        call_id: "c1@host".to_owned(),
        cseq: u32::MAX,
        instance: Some("<urn:uuid:00000000-0000-0000-0000-000000000001>".to_owned()),
        transport: "udp".to_owned(),
        source: "192.0.2.7:5062".to_owned(),
        user_agent: None,
        classes: None,
    }
}

fn call(id: &str, caller: &str, callee: &str, started_at: i64) -> CallRecord {
    CallRecord {
        id: id.to_owned(),
        call_id: format!("{id}@host"),
        caller: caller.to_owned(),
        callee: callee.to_owned(),
        caller_device: Some("desk".to_owned()),
        callee_device: None,
        started_at,
        answered_at: Some(started_at + 1_000),
        ended_at: started_at + 60_000,
        disposition: "answered".to_owned(),
        status: 200,
    }
}

const ALICE: &str = "sip:alice@example.com";
const BOB: &str = "sip:bob@example.com";

#[tokio::test]
async fn save_replaces_and_load_filters_expired() {
    let store = Store::open_memory().await.unwrap();
    let a1 = binding(ALICE, "sip:alice@192.0.2.7:5062", 1_000);
    let a2 = Binding {
        q: None,
        instance: None,
        user_agent: Some("phone/1.0".to_owned()),
        transport: "tcp".to_owned(),
        classes: Some("voice,video".to_owned()),
        ..binding(ALICE, "sip:alice@192.0.2.8:5060;transport=tcp", 2_000)
    };
    store
        .save_bindings(ALICE, &[a1.clone(), a2.clone()])
        .await
        .unwrap();
    store
        .save_bindings(BOB, &[binding(BOB, "sip:bob@192.0.2.9", 3_000)])
        .await
        .unwrap();
    assert_eq!(store.load_bindings(0).await.unwrap().len(), 3);

    store
        .save_bindings(ALICE, std::slice::from_ref(&a2))
        .await
        .unwrap();
    let loaded = store.load_bindings(0).await.unwrap();
    assert_eq!(loaded[0], a2);
    assert_eq!(loaded.len(), 2);

    // Only bindings expiring strictly after `now` come back.
    let later = store.load_bindings(2_000).await.unwrap();
    assert_eq!(
        later.iter().map(|b| b.aor.as_str()).collect::<Vec<_>>(),
        [BOB]
    );

    store.save_bindings(BOB, &[]).await.unwrap();
    assert!(store.load_bindings(0).await.unwrap().is_empty());
}

#[tokio::test]
async fn foreign_binding_is_refused() {
    let store = Store::open_memory().await.unwrap();
    let err = store
        .save_bindings(ALICE, &[binding(BOB, "sip:bob@192.0.2.9", 10)])
        .await;
    assert!(matches!(err, Err(StoreError::ForeignBinding { .. })));
}

#[tokio::test]
async fn remove_user_drops_their_bindings() {
    let store = Store::open_memory().await.unwrap();
    store.add_domain("example.com").await.unwrap();
    store.add_user("example.com", "alice", "pw").await.unwrap();
    store.add_user("example.com", "bob", "pw").await.unwrap();
    let alice_upper = "sip:alice@EXAMPLE.com";
    store
        .save_bindings(ALICE, &[binding(ALICE, "sip:a@h", 10)])
        .await
        .unwrap();
    store
        .save_bindings(alice_upper, &[binding(alice_upper, "sip:a2@h", 10)])
        .await
        .unwrap();
    store
        .save_bindings(BOB, &[binding(BOB, "sip:b@h", 10)])
        .await
        .unwrap();
    store.remove_user("example.com", "alice").await.unwrap();
    let left = store.load_bindings(0).await.unwrap();
    assert_eq!(
        left.iter().map(|b| b.aor.as_str()).collect::<Vec<_>>(),
        [BOB]
    );
}

#[tokio::test]
async fn bindings_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let b = binding(ALICE, "sip:alice@192.0.2.7:5062", 5_000);
    Store::open(dir.path())
        .await
        .unwrap()
        .save_bindings(ALICE, std::slice::from_ref(&b))
        .await
        .unwrap();
    let reopened = Store::open(dir.path()).await.unwrap();
    assert_eq!(reopened.load_bindings(100).await.unwrap(), [b]);
}

#[tokio::test]
async fn calls_for_user_newest_first_both_sides() {
    let store = Store::open_memory().await.unwrap();
    store
        .insert_call(&call("1", ALICE, BOB, 1_000))
        .await
        .unwrap();
    store
        .insert_call(&call("2", BOB, ALICE, 3_000))
        .await
        .unwrap();
    store
        .insert_call(&call("3", BOB, "sip:carol@example.com", 2_000))
        .await
        .unwrap();
    let missed = CallRecord {
        answered_at: None,
        disposition: "missed".to_owned(),
        status: 480,
        ..call("4", "tel:+4930123", ALICE, 4_000)
    };
    store.insert_call(&missed).await.unwrap();

    let alice = store.calls_for_user(ALICE, 10).await.unwrap();
    assert_eq!(
        alice.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["4", "2", "1"]
    );
    assert_eq!(alice[0], missed);
    let limited = store.calls_for_user(ALICE, 2).await.unwrap();
    assert_eq!(limited.len(), 2);
    assert!(
        store
            .calls_for_user("sip:nobody@example.com", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.insert_call(&call("1", ALICE, BOB, 5)).await.is_err());
}
