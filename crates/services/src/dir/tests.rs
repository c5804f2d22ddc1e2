//! The provider against an in-memory store and a real bus.

use std::sync::Arc;
use std::time::Duration;

use cas_proto::{ErrorCode, Request};
use serde_json::{Value, json};

use super::*;
use crate::perms::PermSet;

const DOMAIN: &str = "example.test";

async fn directory() -> (Directory, Bus) {
    let store = Store::open_memory().await.unwrap();
    store.add_domain(DOMAIN).await.unwrap();
    store.add_domain("other.test").await.unwrap();
    for u in ["alice", "bob", "carol"] {
        store.add_user(DOMAIN, u, "pw").await.unwrap();
    }
    store.add_user("other.test", "bobby", "pw").await.unwrap();
    let bus = Bus::default();
    let presence = crate::presence::Presence::start(store.clone(), bus.clone(), Default::default())
        .await
        .unwrap();
    (
        Directory::new(store, bus.clone(), presence).await.unwrap(),
        bus,
    )
}

fn caller(user: &str, grants: &[&str]) -> Caller {
    Caller {
        user: user.into(),
        domain: DOMAIN.into(),
        perms: Arc::new(PermSet::new("user", grants.iter().map(|g| (*g).to_owned()))),
        session: 1,
    }
}

async fn call(d: &Directory, c: &Caller, message: &str, fields: Value) -> Result<Value, CasError> {
    let mut o = fields.as_object().cloned().unwrap_or_default();
    o.insert("topic".into(), json!("dir"));
    o.insert("message".into(), json!(message));
    let req = Request::from_value(Value::Object(o)).unwrap();
    SPEC.message(message).unwrap().validate(&req)?;
    match d.handle(c, &req).await? {
        Outcome::Done(body) => Ok(Value::Object(body)),
        Outcome::Pending(_) => panic!("dir never answers later"),
    }
}

#[tokio::test]
async fn system_directory_is_the_callers_domain() {
    let (d, bus) = directory().await;
    let alice = caller("alice", &["dir.*"]);
    bus.publish(BusEvent::Registration {
        aor: "bob@example.test".into(),
        contacts: 1,
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = call(
        &d,
        &alice,
        "lookup_contacts",
        json!({"tokens": ["bo"], "presence": true}),
    )
    .await
    .unwrap();
    assert_eq!(r["total"], 1, "{r}");
    let bob = &r["contacts"][0];
    assert_eq!(bob["user"], "bob@example.test");
    assert_eq!(bob["kind"], "system");
    assert_eq!(bob["presence"]["state"], "available");
    assert_eq!(bob["presence"]["classes"]["voice"], "available");
    assert_eq!(
        bob["permissions"],
        json!({"edit": false, "delete": false, "call": true})
    );
    let r = call(
        &d,
        &alice,
        "lookup_contacts",
        json!({"presence": true, "max": 2}),
    )
    .await
    .unwrap();
    assert_eq!(r["total"], 3);
    assert_eq!(r["contacts"][0]["presence"]["state"], "offline");
    assert_eq!(r["contacts"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn personal_contacts_belong_to_their_owner() {
    let (d, _bus) = directory().await;
    let (alice, bob) = (caller("alice", &["dir.*"]), caller("bob", &["dir.*"]));
    let r = call(
        &d,
        &alice,
        "contact_add",
        json!({"name": "Vincent", "phones": ["+31 20 570 5200"], "sip": "bob@example.test"}),
    )
    .await
    .unwrap();
    let id = r["contact"]["id"].as_i64().unwrap();
    assert_eq!(r["contact"]["sip"], "sip:bob@example.test");
    assert_eq!(r["contact"]["permissions"]["edit"], true);
    for m in ["contact_get", "contact_delete"] {
        let e = call(&d, &bob, m, json!({"id": id})).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound, "{m}");
    }
    let e = call(&d, &bob, "contact_update", json!({"id": id, "name": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    let r = call(
        &d,
        &alice,
        "contact_update",
        json!({"id": id, "company": "Art"}),
    )
    .await
    .unwrap();
    assert_eq!(r["contact"]["company"], "Art");
    assert_eq!(r["contact"]["name"], "Vincent");
    let r = call(
        &d,
        &alice,
        "lookup_contacts",
        json!({"tokens": ["art"], "scope": "personal"}),
    )
    .await
    .unwrap();
    assert_eq!(r["contacts"][0]["id"], id);
    let r = call(&d, &bob, "lookup_contacts", json!({"tokens": ["vinc"]}))
        .await
        .unwrap();
    assert_eq!(r["total"], 0);
    call(&d, &alice, "contact_delete", json!({"id": id}))
        .await
        .unwrap();
    let e = call(&d, &alice, "contact_get", json!({"id": id}))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
}

#[tokio::test]
async fn lists_and_speed_dials() {
    let (d, _bus) = directory().await;
    let alice = caller("alice", &["dir.*"]);
    let c = call(&d, &alice, "contact_add", json!({"name": "Zed"}))
        .await
        .unwrap()["contact"]["id"]
        .clone();
    let l = call(&d, &alice, "list_create", json!({"name": "team"}))
        .await
        .unwrap()["list"]["id"]
        .clone();
    let e = call(&d, &alice, "list_create", json!({"name": "team"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::Conflict);
    call(&d, &alice, "list_add", json!({"id": l, "member": c}))
        .await
        .unwrap();
    let r = call(&d, &alice, "list_add", json!({"id": l, "member": "bob"}))
        .await
        .unwrap();
    let members = &r["list"]["members"];
    assert_eq!(
        members[0],
        json!({"kind": "personal", "id": c, "name": "Zed"})
    );
    assert_eq!(members[1]["user"], "bob@example.test");
    for other in ["bobby@other.test", "nobody", "sip:bobby@other.test"] {
        let e = call(&d, &alice, "list_add", json!({"id": l, "member": other}))
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::NotFound, "{other}");
    }
    let r = call(
        &d,
        &alice,
        "list_remove",
        json!({"id": l, "member": "bob@example.test"}),
    )
    .await
    .unwrap();
    assert_eq!(r["list"]["members"].as_array().unwrap().len(), 1);
    let r = call(
        &d,
        &alice,
        "speed_dial_set",
        json!({"key": 7, "target": "bob"}),
    )
    .await
    .unwrap();
    assert_eq!(r["speed_dial"]["key"], "7");
    for bad in [json!(0), json!("100"), json!("x"), json!(true)] {
        let e = call(
            &d,
            &alice,
            "speed_dial_set",
            json!({"key": bad, "target": "x"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
    }
    let r = call(&d, &alice, "speed_dials", json!({})).await.unwrap();
    assert_eq!(r["speed_dials"][0]["target"], "bob");
}

#[tokio::test]
async fn subscribed_lookups_hear_presence_changes() {
    let (d, bus) = directory().await;
    let mut rx = bus.subscribe();
    let alice = caller("alice", &["dir.*"]);
    let req = Request::from_value(json!({"topic": "dir", "message": "lookup_contacts",
        "tokens": ["bob"], "subscribe": true}))
    .unwrap();
    assert!(d.handle(&alice, &req).await.is_ok());
    bus.publish(BusEvent::Registration {
        aor: "bob@example.test".into(),
        contacts: 1,
    });
    let notice = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Ok(BusEvent::Notice {
                audience, event, ..
            }) = rx.recv().await
            {
                return (audience, event);
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(notice.0, Audience::Users(vec!["alice@example.test".into()]));
    assert_eq!(notice.1["message"], "presence_changed");
    assert_eq!(notice.1["presence"]["state"], "available");
}

#[tokio::test]
async fn read_only_role() {
    let (d, _bus) = directory().await;
    let writer = caller("alice", &["dir.*"]);
    call(&d, &writer, "contact_add", json!({"name": "Ann"}))
        .await
        .unwrap();
    let reader = caller("alice", &["dir.read"]);
    let e = call(&d, &reader, "contact_add", json!({"name": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotPermitted);
    let r = call(&d, &reader, "lookup_contacts", json!({"tokens": ["ann"]}))
        .await
        .unwrap();
    assert_eq!(r["contacts"][0]["permissions"]["edit"], false);
    let e = call(&d, &caller("alice", &[]), "lookup_contacts", json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotPermitted);
}

#[tokio::test]
async fn imports_keep_good_records() {
    let (d, _bus) = directory().await;
    let alice = caller("alice", &["dir.*"]);
    let r = call(
        &d,
        &alice,
        "upload",
        json!({"filename": "c.csv", "content": "name,phone\nAnn,100\nBob,nope\n"}),
    )
    .await
    .unwrap();
    assert_eq!(r["imported"], 1, "{r}");
    assert_eq!(r["errors"][0]["line"], 3);
    let e = call(
        &d,
        &alice,
        "upload",
        json!({"filename": "c.txt", "content": ""}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::BadRequest);
    let big = format!("name\n{}", "x\n".repeat(import::MAX_IMPORT + 1));
    let e = call(&d, &alice, "import", json!({"format": "csv", "data": big}))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::TooLarge);
}
