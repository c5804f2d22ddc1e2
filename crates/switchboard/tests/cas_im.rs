//! CAS `im` and SIP MESSAGE (RFC 3428) against the real binary: CAS to CAS over WebSocket
//! and long-poll, CAS to phones, phones to CAS, offline storage delivered at the next login
//! and registration (across a restart), conversation history on both sides, refusals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::calls::registered;
use common::cas::ok;
use common::cas::{CasClient, ws_connect, ws_recv, ws_recv_where, ws_send};
use common::{DOMAIN, SILENCE, Server, Ua, WAIT, token};
use serde_json::{Value, json};
use sip::{HeaderName, Message};

/// A MESSAGE from `ua` to `to@DOMAIN`, answered to its digest challenge; the final response.
fn sip_message(ua: &mut Ua, to: &str, content_type: &str, text: &str) -> Message {
    let uri = format!("sip:{to}@{DOMAIN}");
    ua.new_call();
    let mut r = ua.request("MESSAGE", &uri, &format!("<{uri}>"));
    r.content_type = Some(content_type.to_owned());
    r.body = text.as_bytes().to_vec();
    ua.authenticated(&r, None)
}

/// The next MESSAGE that reaches `ua`, answered 200.
fn phone_receives(ua: &mut Ua) -> Message {
    let m = ua
        .recv_where(WAIT, |m| m.is_request() && m.method() == "MESSAGE")
        .unwrap_or_else(|| panic!("{} got no MESSAGE", ua.user));
    ua.reply(&m, 200, "OK", &token("t"), &[], None);
    m
}

fn body(m: &Message) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

fn texts(history: &Value) -> Vec<(String, String)> {
    history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn cas_to_cas_over_websocket_and_long_poll() {
    let srv = Server::default_start();
    let mut ws = ws_connect(&srv, "/cas/ws");
    ws_send(
        &mut ws,
        &json!({"topic":"session","message":"login","user":"bob","password":srv.password("bob")}),
    );
    assert_eq!(ws_recv(&mut ws).unwrap()["response"], 0);
    let bob_http = CasClient::login(&srv, "bob");
    let mut alice = CasClient::login(&srv, "alice");

    let r = ok(alice.call("im", "send", json!({"to": "bob", "text": "lunch?"})));
    assert_eq!(r["to"], format!("bob@{DOMAIN}"));
    assert_eq!(r["stored"], false);
    assert_eq!(r["delivered"]["devices"], 0);
    assert!(r["delivered"]["sessions"].as_u64().unwrap() >= 2, "{r}");

    // Every session of bob gets it, without subscribing.
    let ev = ws_recv_where(&mut ws, |v| v["message"] == "received").expect("ws event");
    assert_eq!(
        (
            ev["topic"].as_str(),
            ev["from"].as_str(),
            ev["text"].as_str()
        ),
        (Some("im"), Some("alice@example.test"), Some("lunch?"))
    );
    assert_eq!(ev["id"], r["id"]);
    let ev = &bob_http.events_named("im", "received", 1)[0];
    assert_eq!(ev["text"], "lunch?");

    // bob answers over the WebSocket; alice's long-poll sees it.
    ws_send(
        &mut ws,
        &json!({"topic":"im","message":"send","request_id":1,"to":"sip:alice@example.test","text":"yes!"}),
    );
    let reply = ws_recv_where(&mut ws, |v| v["request_id"] == 1).unwrap();
    assert_eq!(reply["response"], 0, "{reply}");
    assert_eq!(alice.events_named("im", "received", 1)[0]["text"], "yes!");

    // The conversation, from both sides, oldest first.
    let mut bob = bob_http;
    let h = ok(bob.call("im", "history", json!({"with": "alice"})));
    assert_eq!(
        texts(&h),
        [
            ("in".into(), "lunch?".into()),
            ("out".into(), "yes!".into())
        ]
    );
    assert_eq!(h["messages"][0]["permissions"]["reply"], true);
    let h = ok(alice.call("im", "history", json!({"with": "bob@example.test"})));
    assert_eq!(
        texts(&h),
        [
            ("out".into(), "lunch?".into()),
            ("in".into(), "yes!".into())
        ]
    );
    // Paging back from the newest.
    let newest = ok(alice.call("im", "history", json!({"with": "bob", "max": 1})));
    assert_eq!(texts(&newest), [("in".into(), "yes!".into())]);
    let before = newest["messages"][0]["id"].clone();
    let older = ok(alice.call("im", "history", json!({"with": "bob", "before": before})));
    assert_eq!(texts(&older), [("out".into(), "lunch?".into())]);

    // Unread counts until marked read.
    let c = ok(alice.call("im", "conversations", json!({})));
    assert_eq!(c["conversations"][0]["with"], "bob@example.test");
    assert_eq!(c["conversations"][0]["unread"], 1);
    assert_eq!(c["conversations"][0]["last"]["text"], "yes!");
    let m = ok(alice.call("im", "mark_read", json!({"with": "bob"})));
    assert_eq!(m["marked"], 1);
    let c = ok(alice.call("im", "conversations", json!({})));
    assert_eq!(c["conversations"][0]["unread"], 0);
}

#[test]
fn cas_to_phone_and_phone_to_cas() {
    let srv = Server::default_start();
    let mut bob_phone = registered(&srv, "bob");
    let mut alice = CasClient::login(&srv, "alice");

    // CAS to SIP: the phone gets a MESSAGE from alice's AOR.
    let r = ok(alice.call("im", "send", json!({"to": "bob", "text": "ring me"})));
    assert_eq!(r["delivered"]["devices"], 1);
    assert_eq!(r["stored"], false);
    let m = phone_receives(&mut bob_phone);
    assert_eq!(body(&m), "ring me");
    assert!(m.content_type().unwrap().starts_with("text/plain"));
    let from = m.header(HeaderName::From).unwrap();
    assert!(from.contains("sip:alice@example.test"), "{from}");
    assert!(
        m.header(HeaderName::To)
            .unwrap()
            .contains("bob@example.test")
    );

    // SIP to CAS: bob's phone answers; alice's client gets it, and the phone gets 200
    // because alice has a device too.
    let mut bob = CasClient::login(&srv, "bob");
    ok(bob.call("sub", "subscribe", json!({"to": "im"})));
    let mut alice_phone = registered(&srv, "alice");
    let resp = sip_message(
        &mut bob_phone,
        "alice",
        "text/plain;charset=UTF-8",
        "on my way",
    );
    assert_eq!(resp.status(), Some(200));
    assert_eq!(
        alice.events_named("im", "received", 1)[0]["from"],
        "bob@example.test"
    );
    // alice's phone gets its copy through the IM service, exactly once.
    assert_eq!(body(&phone_receives(&mut alice_phone)), "on my way");
    assert!(
        alice_phone
            .recv_where(SILENCE, |m| m.is_request() && m.method() == "MESSAGE")
            .is_none()
    );
    // bob's other client hears what he sent from his phone.
    let sent: Vec<Value> = bob
        .events(2)
        .into_iter()
        .filter(|e| e["message"] == "sent")
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["text"], "on my way");

    // A phone to a user without a device: accepted (202), not OK.
    let resp = sip_message(&mut alice_phone, "carol", "text/plain", "carol?");
    assert_eq!(resp.status(), Some(202));
    let h = ok(alice.call("im", "history", json!({"with": "bob"})));
    assert_eq!(
        texts(&h),
        [
            ("out".into(), "ring me".into()),
            ("in".into(), "on my way".into())
        ]
    );
    let h = ok(bob.call("im", "history", json!({"with": "alice"})));
    assert_eq!(h["messages"][1]["direction"], "out");
}

#[test]
fn phone_to_cas_only_recipient() {
    let srv = Server::default_start();
    let bob = CasClient::login(&srv, "bob");
    let mut alice_phone = registered(&srv, "alice");
    let resp = sip_message(&mut alice_phone, "bob", "text/plain", "are you there?");
    // The SIP face cannot see CAS sessions: accepted rather than OK (RFC 3428 §7).
    assert!(matches!(resp.status(), Some(200 | 202)), "{resp:?}");
    let ev = &bob.events_named("im", "received", 1)[0];
    assert_eq!(
        (ev["from"].as_str(), ev["text"].as_str()),
        (Some("alice@example.test"), Some("are you there?"))
    );
    assert!(ev.get("stored").is_none(), "{ev}");
}

#[test]
fn offline_messages_wait_for_login_and_registration() {
    let mut srv = Server::default_start();
    let mut alice = CasClient::login(&srv, "alice");
    let r = ok(alice.call("im", "send", json!({"to": "carol", "text": "first"})));
    assert_eq!(r["stored"], true);
    assert_eq!(r["delivered"], json!({"sessions": 0, "devices": 0}));
    let mut alice_phone = registered(&srv, "alice");
    let resp = sip_message(&mut alice_phone, "carol", "text/plain", "second");
    assert_eq!(resp.status(), Some(202));

    // Nothing is lost across a restart.
    srv.restart();

    // carol logs in: both arrive promptly, marked as stored, oldest first.
    let carol = CasClient::login(&srv, "carol");
    let evs = carol.events_named("im", "received", 2);
    let got: Vec<(&str, bool)> = evs
        .iter()
        .map(|e| (e["text"].as_str().unwrap(), e["stored"] == true))
        .collect();
    assert_eq!(got, [("first", true), ("second", true)]);

    // carol's phone registers: it gets them too, from their senders.
    let mut phone = registered(&srv, "carol");
    let m1 = phone_receives(&mut phone);
    let m2 = phone_receives(&mut phone);
    assert_eq!((body(&m1), body(&m2)), ("first".into(), "second".into()));
    assert!(
        m1.header(HeaderName::From)
            .unwrap()
            .contains("alice@example.test")
    );

    // Delivered once per way: another login and a refresh bring nothing again.
    let again = CasClient::login(&srv, "carol");
    assert!(again.events(1).iter().all(|e| e["message"] != "received"));
    let c = format!("<{}>", phone.contact_uri());
    assert_eq!(phone.register(&[&c], Some(600)).status(), Some(200));
    assert!(
        phone
            .recv_where(SILENCE, |m| m.is_request() && m.method() == "MESSAGE")
            .is_none()
    );
    // The history has both, unread.
    let mut carol = carol;
    let cs = ok(carol.call("im", "conversations", json!({})));
    assert_eq!(cs["conversations"][0]["with"], "alice@example.test");
    assert_eq!(cs["conversations"][0]["unread"], 2);
}

#[test]
fn refusals() {
    let srv = Server::default_start();
    let mut alice = CasClient::login(&srv, "alice");
    let r = alice.call("im", "send", json!({"to": "nobody", "text": "hi"}));
    assert_eq!(r["response"], 404, "{r}");
    let r = alice.call(
        "im",
        "send",
        json!({"to": "bob", "text": "<b>hi</b>", "content_type": "text/html"}),
    );
    assert_eq!(r["response"], 415, "{r}");
    let r = alice.call("im", "send", json!({"to": "bob", "text": "x".repeat(9000)}));
    assert_eq!(r["response"], 413, "{r}");
    let r = alice.call(
        "im",
        "send",
        json!({"to": "bob", "text": "hi", "urgent": true}),
    );
    assert_eq!(r["response"], 400, "{r}");

    let mut phone = Ua::new(&srv, "alice");
    let resp = sip_message(&mut phone, "bob", "text/html", "<b>hi</b>");
    assert_eq!(resp.status(), Some(415));
    assert_eq!(resp.header(HeaderName::Accept), Some("text/plain"));
    let resp = sip_message(&mut phone, "nobody", "text/plain", "hi");
    assert_eq!(resp.status(), Some(404));
    let resp = sip_message(&mut phone, "bob", "application/im-iscomposing+xml", "<x/>");
    assert_eq!(resp.status(), Some(415));
    // None of these reached the history.
    let c = ok(alice.call("im", "conversations", json!({})));
    assert_eq!(c["conversations"], json!([]));
}
