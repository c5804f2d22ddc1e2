//! CAS `history` against the real binary: SIP calls through the server become history
//! entries, each party sees its own side (placed, received, missed), hears of new entries
//! live, annotates and deletes its own view, and the role's permissions rule both.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::calls::{cancel_of, is_request};
use common::cas::{CasClient, ok};
use common::{DOMAIN, Request, Server, Ua, WAIT, sdp, token};
use serde_json::{Value, json};
use sip::HeaderName;

fn invite_to(ua: &mut Ua, callee: &str) -> Request {
    let uri = format!("sip:{callee}@{DOMAIN}");
    let contact = format!("<{}>", ua.contact_uri());
    let offer = sdp(&ua.user, 40000);
    ua.new_call();
    ua.request("INVITE", &uri, &format!("<{uri}>"))
        .header("Contact", &contact)
        .sdp(&offer)
}

/// alice calls bob, bob answers, alice hangs up (as in sip_calls_basic).
fn answered_call(alice: &mut Ua, bob: &mut Ua) {
    let inv = invite_to(alice, "bob");
    let inv = alice.send_authenticated(&inv, None);
    let forked = bob
        .recv_where(WAIT, |m| is_request(m, "INVITE"))
        .expect("bob should get the INVITE");
    let btag = token("b");
    let bob_contact = format!("<{}>", bob.contact_uri());
    bob.reply(
        &forked,
        200,
        "OK",
        &btag,
        &[("Contact", &bob_contact)],
        Some(&sdp("bob", 50000)),
    );
    let ok = alice
        .recv_where(WAIT, |m| inv.answered_by(m) && m.status() == Some(200))
        .expect("200 expected");
    let server_contact = match ok.contacts().first() {
        Some(sip::ContactValue::Addr(a)) => a.uri.raw().to_owned(),
        other => panic!("200 without Contact: {other:?}"),
    };
    let to_with_tag = ok.header(HeaderName::To).unwrap().to_owned();
    let mut ack = alice.request("ACK", &server_contact, &to_with_tag);
    ack.cseq = inv.cseq;
    alice.cseq -= 1;
    alice.send(&ack);
    bob.recv_where(WAIT, |m| is_request(m, "ACK"))
        .expect("bob should get the ACK");
    let bye = alice.request("BYE", &server_contact, &to_with_tag);
    alice.send(&bye);
    let b_bye = bob
        .recv_where(WAIT, |m| is_request(m, "BYE"))
        .expect("bob should get the BYE");
    bob.reply(&b_bye, 200, "OK", &btag, &[], None);
    let resp = alice.final_response(&bye, WAIT).expect("200 for BYE");
    assert_eq!(resp.status(), Some(200));
}

/// alice calls bob, bob rings, alice gives up (CANCEL).
fn cancelled_call(alice: &mut Ua, bob: &mut Ua) {
    let inv = invite_to(alice, "bob");
    let inv = alice.send_authenticated(&inv, None);
    let forked = bob
        .recv_where(WAIT, |m| is_request(m, "INVITE"))
        .expect("bob should get the INVITE");
    let btag = token("b");
    bob.reply(&forked, 180, "Ringing", &btag, &[], None);
    assert_eq!(alice.next_response(&inv, WAIT).unwrap().status(), Some(180));
    let cancel = cancel_of(&inv);
    alice.send(&cancel);
    let resp = alice.final_response(&inv, WAIT).expect("487 for INVITE");
    assert_eq!(resp.status(), Some(487));
    let b_cancel = bob
        .recv_where(WAIT, |m| is_request(m, "CANCEL"))
        .expect("bob should get a CANCEL");
    bob.reply(&b_cancel, 200, "OK", &btag, &[], None);
    bob.reply(&forked, 487, "Request Terminated", &btag, &[], None);
}

/// The next `entry_added` within a few long-polls.
fn entry_added(client: &CasClient) -> Value {
    let e = client.event_where(Duration::from_secs(5), "entry_added", |e| {
        e["message"] == "entry_added"
    });
    assert_eq!(e["topic"], "history");
    e["entry"].clone()
}

/// `history.list` with `fields` once it holds `n` entries (records are written behind the
/// call's end, so the event can come first).
fn list(client: &mut CasClient, fields: Value, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let r = ok(client.call("history", "list", fields.clone()));
        let entries = r["entries"].as_array().unwrap().clone();
        if entries.len() == n || Instant::now() > deadline {
            assert_eq!(entries.len(), n, "{fields}: {r}");
            return entries;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn calls_become_history() {
    let srv = Server::default_start();
    let mut bob_ua = Ua::new(&srv, "bob");
    let c = format!("<{}>", bob_ua.contact_uri());
    assert_eq!(bob_ua.register(&[&c], Some(600)).status(), Some(200));
    let mut alice_ua = Ua::new(&srv, "alice");
    let mut bob = CasClient::login(&srv, "bob");
    let mut alice = CasClient::login(&srv, "alice");
    let r = ok(bob.call("history", "list", json!({"subscribe": true})));
    assert_eq!(r["entries"], json!([]));
    ok(alice.call("history", "list", json!({"subscribe": true})));

    // An answered call: alice placed it, bob received it, each hears of it.
    answered_call(&mut alice_ua, &mut bob_ua);
    let b = entry_added(&bob);
    assert_eq!(b["direction"], "received");
    assert_eq!(b["peer"], format!("sip:alice@{DOMAIN}"));
    assert_eq!(b["device"], bob_ua.contact_uri());
    assert_eq!(b["disposition"], "answered");
    assert_eq!(b["permissions"], json!({"delete": true, "annotate": true}));
    let a = entry_added(&alice);
    assert_eq!(a["direction"], "placed");
    assert_eq!(a["id"], b["id"]);
    assert_eq!(a["device"], alice_ua.contact_uri());

    // A call bob does not answer is missed for him.
    cancelled_call(&mut alice_ua, &mut bob_ua);
    let m = entry_added(&bob);
    assert_eq!(m["direction"], "missed");
    assert_eq!(m["disposition"], "cancelled");
    assert!(m.get("device").is_none(), "{m}");
    assert_eq!(entry_added(&alice)["direction"], "placed");

    let entries = list(&mut bob, json!({}), 2);
    assert_eq!(entries[0]["id"], m["id"]);
    assert_eq!(entries[1]["id"], b["id"]);
    for (filter, n) in [("missed", 1), ("received", 1), ("placed", 0)] {
        list(&mut bob, json!({"filter": filter}), n);
    }
    list(&mut alice, json!({"filter": "placed"}), 2);

    // Per device: bob's phone took one call; alice's softphone placed both.
    let devices = ok(bob.call("history", "devices", json!({})));
    assert_eq!(
        devices["devices"],
        json!([{"device": bob_ua.contact_uri(), "last_used": b["started_at"], "calls": 1}])
    );
    let on_phone = list(&mut bob, json!({"device": bob_ua.contact_uri()}), 1);
    assert_eq!(on_phone[0]["id"], b["id"]);
    list(&mut alice, json!({"device": alice_ua.contact_uri()}), 2);
    list(&mut alice, json!({"device": "sip:nowhere@127.0.0.1"}), 0);

    // Notes are bob's own.
    let id = b["id"].as_str().unwrap();
    let r = ok(bob.call("history", "note", json!({"id": id, "text": "call back"})));
    assert_eq!(r["entry"]["note"], "call back");
    assert_eq!(
        list(&mut bob, json!({"filter": "received"}), 1)[0]["note"],
        "call back"
    );
    assert!(list(&mut alice, json!({}), 2)[1].get("note").is_none());

    // Deleting hides the entry from bob only; twice, or someone else's, is 404.
    let mid = m["id"].as_str().unwrap();
    ok(bob.call("history", "delete", json!({"id": mid})));
    list(&mut bob, json!({}), 1);
    list(&mut alice, json!({}), 2);
    for id in [mid, "no-such-entry"] {
        let r = bob.call("history", "delete", json!({"id": id}));
        assert_eq!(r["response"], 404, "{r}");
    }
    let mut carol = CasClient::login(&srv, "carol");
    let r = carol.call("history", "note", json!({"id": id, "text": "mine?"}));
    assert_eq!(r["response"], 404, "{r}");

    // The administrator takes deleting away from role user.
    ok(alice.call(
        "admin",
        "revoke",
        json!({"role": "user", "action": "history.*"}),
    ));
    for action in ["history.read", "history.annotate"] {
        ok(alice.call("admin", "grant", json!({"role": "user", "action": action})));
    }
    let r = ok(bob.call("history", "list", json!({})));
    assert_eq!(
        r["entries"][0]["permissions"],
        json!({"delete": false, "annotate": true})
    );
    let r = bob.call("history", "delete", json!({"id": id}));
    assert_eq!(r["response"], 403, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("history.delete"),
        "{r}"
    );
    ok(bob.call("history", "note", json!({"id": id, "text": ""})));
    // alice, an administrator, still may.
    let a_first = list(&mut alice, json!({}), 2);
    assert_eq!(a_first[0]["permissions"]["delete"], true);
}
