//! The provider and the delivery actor against an in-memory store and a real bus.

use std::sync::Arc;
use std::time::Duration;

use cas_proto::Request;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::*;
use crate::perms::PermSet;

const D: &str = "example.com";

async fn setup() -> (Im, Bus, broadcast::Receiver<BusEvent>) {
    let store = Store::open_memory().await.unwrap();
    store.add_domain(D).await.unwrap();
    for u in ["alice", "bob", "carol"] {
        store.add_user(D, u, "pw").await.unwrap();
    }
    let bus = Bus::default();
    let rx = bus.subscribe();
    let im = Im::start(store, bus.clone()).await.unwrap();
    (im, bus, rx)
}

fn caller(user: &str, grants: &[&str]) -> Caller {
    Caller {
        user: user.into(),
        domain: D.into(),
        perms: Arc::new(PermSet::new("user", grants.iter().map(|g| (*g).to_owned()))),
        session: 1,
    }
}

async fn call(im: &Im, who: &Caller, message: &str, fields: Value) -> Result<Object, CasError> {
    let mut v = fields.as_object().cloned().unwrap_or_default();
    v.insert("topic".into(), json!("im"));
    v.insert("message".into(), json!(message));
    let req = Request::from_value(Value::Object(v)).unwrap();
    SPEC.message(message).unwrap().validate(&req)?;
    match im.handle(who, &req).await? {
        Outcome::Done(o) => Ok(o),
        Outcome::Pending(_) => panic!("im replies at once"),
    }
}

/// The next bus event matching `pred` (others are skipped), within a second.
async fn next(
    rx: &mut broadcast::Receiver<BusEvent>,
    pred: impl Fn(&BusEvent) -> bool,
) -> BusEvent {
    tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            let ev = rx.recv().await.unwrap();
            if pred(&ev) {
                return ev;
            }
        }
    })
    .await
    .expect("expected bus event")
}

fn is_notice(ev: &BusEvent, name: &str, to: &str) -> bool {
    matches!(ev, BusEvent::Notice { event, audience: Audience::Users(u), .. }
        if event["message"] == name && u.iter().any(|a| a == to))
}

fn is_sip_out(ev: &BusEvent) -> bool {
    matches!(ev, BusEvent::SipMessageOut { .. })
}

#[tokio::test]
async fn reachable_recipient_gets_it_at_once() {
    let (im, bus, mut rx) = setup().await;
    bus.publish(BusEvent::Registration {
        aor: "bob@example.com".into(),
        contacts: 1,
    });
    bus.publish(BusEvent::SessionStarted {
        user: "bob@example.com".into(),
    });
    // Let the actor see both before sending.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let alice = caller("alice", &["im.*"]);
    let r = call(
        &im,
        &alice,
        "send",
        json!({"to": "sip:bob@EXAMPLE.com", "text": "hi"}),
    )
    .await
    .unwrap();
    assert_eq!(r["delivered"], json!({"sessions": 1, "devices": 1}));
    assert_eq!(r["stored"], false);
    assert_eq!(r["to"], "bob@example.com");
    let ev = next(&mut rx, |e| is_notice(e, "received", "bob@example.com")).await;
    let BusEvent::Notice { event, always, .. } = ev else {
        unreachable!()
    };
    assert!(always);
    assert_eq!(
        (event["from"].as_str(), event["text"].as_str()),
        (Some("alice@example.com"), Some("hi"))
    );
    let ev = next(&mut rx, is_sip_out).await;
    let BusEvent::SipMessageOut { from, to, body, .. } = ev else {
        unreachable!()
    };
    assert_eq!(
        (from.as_str(), to.as_str(), body.as_str()),
        ("alice@example.com", "bob@example.com", "hi")
    );
}

#[tokio::test]
async fn offline_recipient_gets_it_at_login_and_at_registration() {
    let (im, bus, mut rx) = setup().await;
    let alice = caller("alice", &["im.*"]);
    let r = call(&im, &alice, "send", json!({"to": "carol", "text": "later"}))
        .await
        .unwrap();
    assert_eq!(r["stored"], true);
    assert_eq!(r["delivered"], json!({"sessions": 0, "devices": 0}));
    bus.publish(BusEvent::SessionStarted {
        user: "carol@example.com".into(),
    });
    let ev = next(&mut rx, |e| is_notice(e, "received", "carol@example.com")).await;
    let BusEvent::Notice { event, .. } = ev else {
        unreachable!()
    };
    assert_eq!(
        (event["text"].as_str(), event["stored"].as_bool()),
        (Some("later"), Some(true))
    );
    bus.publish(BusEvent::Registration {
        aor: "carol@example.com".into(),
        contacts: 1,
    });
    let ev = next(&mut rx, is_sip_out).await;
    assert!(matches!(ev, BusEvent::SipMessageOut { body, .. } if body == "later"));
    // Delivered once per way: a second login and a refresh bring nothing new.
    let store = im.store.clone();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        store
            .im_pending_for_sessions("carol@example.com")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .im_pending_for_devices("carol@example.com")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn phone_messages_become_conversations() {
    let (im, bus, mut rx) = setup().await;
    bus.publish(BusEvent::SessionStarted {
        user: "bob@example.com".into(),
    });
    bus.publish(BusEvent::SipMessageIn {
        from: "alice@example.com".into(),
        to: "bob@example.com".into(),
        content_type: "text/plain".into(),
        body: "from my phone".into(),
    });
    next(&mut rx, |e| is_notice(e, "received", "bob@example.com")).await;
    // Alice's own clients hear what she sent from her phone.
    next(&mut rx, |e| is_notice(e, "sent", "alice@example.com")).await;
    let bob = caller("bob", &["im.*"]);
    let h = call(&im, &bob, "history", json!({"with": "alice"}))
        .await
        .unwrap();
    let msgs = h["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        (msgs[0]["direction"].as_str(), msgs[0]["read"].as_bool()),
        (Some("in"), Some(false))
    );
    let c = call(&im, &bob, "conversations", json!({})).await.unwrap();
    assert_eq!(c["conversations"][0]["with"], "alice@example.com");
    assert_eq!(c["conversations"][0]["unread"], 1);
    let m = call(&im, &bob, "mark_read", json!({"with": "alice@example.com"}))
        .await
        .unwrap();
    assert_eq!(m["marked"], 1);
    next(&mut rx, |e| is_notice(e, "read", "bob@example.com")).await;
    let c = call(&im, &bob, "conversations", json!({})).await.unwrap();
    assert_eq!(c["conversations"][0]["unread"], 0);
    let alice = caller("alice", &["im.*"]);
    let h = call(&im, &alice, "history", json!({"with": "bob"}))
        .await
        .unwrap();
    assert_eq!(h["messages"][0]["direction"], "out");
    assert_eq!(h["messages"][0]["read"], true);
}

#[tokio::test]
async fn refusals() {
    let (im, _bus, _rx) = setup().await;
    let alice = caller("alice", &["im.*"]);
    let code = |r: Result<Object, CasError>| r.unwrap_err().code.code();
    let send =
        |to: &str, text: String, ct: &str| json!({"to": to, "text": text, "content_type": ct});
    let r = call(
        &im,
        &alice,
        "send",
        send("nobody", "x".into(), "text/plain"),
    )
    .await;
    assert_eq!(code(r), 404);
    let r = call(
        &im,
        &alice,
        "send",
        send("bob@elsewhere.org", "x".into(), "text/plain"),
    )
    .await;
    assert_eq!(code(r), 404);
    let r = call(
        &im,
        &alice,
        "send",
        send("bob", "<b>x</b>".into(), "text/html"),
    )
    .await;
    assert_eq!(code(r), 415);
    let r = call(
        &im,
        &alice,
        "send",
        send("bob", "x".repeat(9000), "text/plain"),
    )
    .await;
    assert_eq!(code(r), 413);
    let r = call(&im, &alice, "send", send("bob", " ".into(), "text/plain")).await;
    assert_eq!(code(r), 400);
    let r = call(&im, &alice, "send", send("a b", "x".into(), "text/plain")).await;
    assert_eq!(code(r), 400);
    // Per-object permissions follow the caller's grants.
    call(&im, &alice, "send", json!({"to": "bob", "text": "x"}))
        .await
        .unwrap();
    let reader = caller("bob", &["im.read"]);
    let h = call(&im, &reader, "history", json!({"with": "alice"}))
        .await
        .unwrap();
    assert_eq!(h["messages"][0]["permissions"], json!({"reply": false}));
}
