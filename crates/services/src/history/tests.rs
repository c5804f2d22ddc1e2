//! The `history` provider against an in-memory store and a real bus.

use std::sync::Arc;
use std::time::Duration;

use cas_proto::ErrorCode;
use serde_json::{Value, json};

use super::*;
use crate::perms::PermSet;

const ALICE: &str = "sip:alice@example.test";
const BOB: &str = "sip:bob@example.test";

fn rec(id: &str, caller: &str, callee: &str, at: i64, answered: bool) -> CallRecord {
    CallRecord {
        id: id.to_owned(),
        call_id: format!("cid-{id}"),
        caller: caller.to_owned(),
        callee: callee.to_owned(),
        caller_device: Some(format!("{caller}-softphone")),
        callee_device: answered.then(|| format!("{callee}-desk")),
        started_at: at,
        answered_at: answered.then_some(at + 2_000),
        ended_at: at + 32_000,
        disposition: if answered { "answered" } else { "cancelled" }.to_owned(),
        status: if answered { 200 } else { 487 },
    }
}

fn who(user: &str, grants: &[&str]) -> Caller {
    Caller {
        user: user.into(),
        domain: "example.test".into(),
        perms: Arc::new(PermSet::new("user", grants.iter().map(|g| (*g).to_owned()))),
        session: 1,
    }
}

async fn call(p: &History, c: &Caller, message: &str, fields: Value) -> Result<Value, CasError> {
    let mut v = fields;
    v["topic"] = json!("history");
    v["message"] = json!(message);
    let req = Request::from_value(v).unwrap();
    SPEC.message(message).unwrap().validate(&req)?;
    match p.handle(c, &req).await? {
        Outcome::Done(o) => Ok(Value::Object(o)),
        Outcome::Pending(_) => panic!("history never defers"),
    }
}

async fn setup() -> (History, Store, Bus) {
    let s = Store::open_memory().await.unwrap();
    s.add_domain("example.test").await.unwrap();
    for u in ["alice", "bob"] {
        s.add_user("example.test", u, "pw").await.unwrap();
    }
    let bus = Bus::default();
    let perms = Permissions::load(s.clone(), bus.clone()).await.unwrap();
    (History::start(s.clone(), bus.clone(), perms), s, bus)
}

#[tokio::test]
async fn each_party_hears_of_its_entry() {
    let (_h, _s, bus) = setup().await;
    let mut rx = bus.subscribe();
    bus.publish(BusEvent::CallEnded(rec("c1", ALICE, BOB, 1_000, false)));
    let mut got = Vec::new();
    while got.len() < 2 {
        let ev = tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .expect("entry_added for both parties")
            .unwrap();
        if let BusEvent::Notice {
            topic,
            audience: Audience::Users(users),
            event,
            ..
        } = ev
        {
            assert_eq!(topic, "history");
            assert_eq!(event["message"], "entry_added");
            got.push((users, event["entry"]["direction"].clone()));
        }
    }
    assert_eq!(
        got,
        [
            (vec!["alice@example.test".to_owned()], json!("placed")),
            (vec!["bob@example.test".to_owned()], json!("missed")),
        ]
    );
}

#[tokio::test]
async fn list_note_delete_and_devices() {
    let (h, s, _) = setup().await;
    s.insert_call(&rec("c1", ALICE, BOB, 1_000, true))
        .await
        .unwrap();
    s.insert_call(&rec("c2", ALICE, BOB, 2_000, false))
        .await
        .unwrap();
    s.insert_call(&rec("c3", BOB, ALICE, 3_000, true))
        .await
        .unwrap();
    let bob = who("bob", &["history.*"]);

    let all = call(&h, &bob, "list", json!({})).await.unwrap();
    let dirs: Vec<&str> = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["direction"].as_str().unwrap())
        .collect();
    assert_eq!(dirs, ["placed", "missed", "received"]);
    assert_eq!(all["more"], false);

    let page = call(&h, &bob, "list", json!({"max": 2})).await.unwrap();
    assert_eq!(page["more"], true);
    assert_eq!(page["next_before"], 2_000);
    let rest = call(&h, &bob, "list", json!({"before": 2_000}))
        .await
        .unwrap();
    assert_eq!(rest["entries"][0]["id"], "c1");

    let missed = call(&h, &bob, "list", json!({"filter": "missed"}))
        .await
        .unwrap();
    assert_eq!(missed["entries"].as_array().unwrap().len(), 1);
    let desk = call(&h, &bob, "list", json!({"device": format!("{BOB}-desk")}))
        .await
        .unwrap();
    assert_eq!(desk["entries"][0]["id"], "c1");
    let devices = call(&h, &bob, "devices", json!({})).await.unwrap();
    assert_eq!(devices["devices"][0]["device"], format!("{BOB}-softphone"));

    let n = call(&h, &bob, "note", json!({"id": "c1", "text": "call back"}))
        .await
        .unwrap();
    assert_eq!(n["entry"]["note"], "call back");
    let n = call(&h, &bob, "note", json!({"id": "c1", "text": ""}))
        .await
        .unwrap();
    assert!(n["entry"].get("note").is_none());

    call(&h, &bob, "delete", json!({"id": "c1"})).await.unwrap();
    let e = call(&h, &bob, "delete", json!({"id": "c1"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    // alice keeps her entry.
    let alice = who("alice", &["history.read"]);
    let a = call(&h, &alice, "list", json!({"filter": "placed"}))
        .await
        .unwrap();
    assert_eq!(a["entries"].as_array().unwrap().len(), 2);
    assert_eq!(
        a["entries"][0]["permissions"],
        json!({"delete": false, "annotate": false})
    );

    for (m, fields) in [
        ("list", json!({"filter": "lost"})),
        ("list", json!({"max": 0})),
        ("note", json!({"id": "c2", "text": "x".repeat(1001)})),
    ] {
        let e = call(&h, &bob, m, fields).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest, "{e}");
    }
}
