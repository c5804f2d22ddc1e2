//! Presence hardening against the real binary: no user enumeration (SIP SUBSCRIBE and CAS
//! `presence.get` answer a non-existent user like a hidden one), bounded state (per-watcher
//! subscription cap, per-presentity publication cap), subscription dialogs that a third party
//! knowing the Call-ID cannot extend or end, "connected on mobile" in the compound PIDF, and
//! hostile SUBSCRIBE/PUBLISH/NOTIFY-answer input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::calls::is_request;
use common::cas::CasClient;
use common::presence::*;
use std::time::{Duration, Instant};

use common::{DOMAIN, SILENCE, Server, ServerOpts, Ua, WAIT, Wire};
use serde_json::json;
use sip::{HeaderName, Message};

fn start(extra: &str) -> Server {
    Server::start(ServerOpts::config(&format!(
        "[presence]\nsubscribe_min_expires = 2\n{extra}"
    )))
}

/// The state without `;expires=` (the remaining time differs by a second or so between two
/// subscriptions).
fn state_only(n: &Message) -> String {
    let s = n.header_named("Subscription-State").unwrap_or_default();
    s.split(";expires=").next().unwrap_or_default().to_owned()
}

/// What a watcher learns from a new subscription: status, reason phrase, Expires, the first
/// NOTIFY's state, content type and body.
fn shape(ua: &mut Ua, user: &str) -> (Option<u16>, String, Option<u32>, String, String) {
    ua.new_call();
    let req = subscribe_req(ua, user, "presence", 600);
    let resp = ua.authenticated(&req, None);
    let n = notify(ua, 200);
    let reason = resp.reason().to_owned();
    (
        resp.status(),
        reason,
        resp.expires(),
        state_only(&n),
        format!(
            "{:?} {}",
            n.content_type(),
            String::from_utf8_lossy(n.body())
        ),
    )
}

#[test]
fn unknown_users_look_like_hidden_ones() {
    let srv = start("");
    let mut bob = CasClient::login(&srv, "bob");
    let r = bob.call("presence", "rules", json!({"visible": false}));
    assert_eq!(r["response"], 0, "{r}");
    let mut alice = Ua::new(&srv, "alice");

    // SIP: a hidden user and a user that does not exist are answered alike.
    let hidden = shape(&mut alice, "bob");
    let nobody = shape(&mut alice, "nobody");
    assert_eq!(hidden.0, Some(202), "{hidden:?}");
    assert_eq!(hidden, nobody, "a SUBSCRIBE tells existing users apart");
    assert_eq!(nobody.3, "pending");
    assert_eq!(nobody.4, "None ", "state in a pending NOTIFY");
    // Someone else's mailbox: 403 whether the user exists or not.
    for user in ["bob", "nobody"] {
        alice.new_call();
        let req = subscribe_req(&mut alice, user, "message-summary", 600);
        assert_eq!(
            alice.authenticated(&req, None).status(),
            Some(403),
            "{user}"
        );
    }

    // CAS: the same answer for both (only the name differs).
    let mut carol = CasClient::login(&srv, "carol");
    let r = carol.call("presence", "get", json!({"users": ["bob", "nobody"]}));
    assert_eq!(r["response"], 0, "{r}");
    let list = r["presence"].as_array().unwrap();
    assert_eq!(
        list[0],
        json!({"user": format!("bob@{DOMAIN}"), "authorized": false})
    );
    assert_eq!(
        list[1],
        json!({"user": format!("nobody@{DOMAIN}"), "authorized": false})
    );
    // Following an unknown user looks like following anyone else.
    let r = carol.call("presence", "subscribe", json!({"users": ["nobody", "bob"]}));
    assert_eq!(r["response"], 0, "{r}");
    let r = carol.call("presence", "unsubscribe", json!({"users": ["alice"]}));
    assert_eq!(
        r["watching"],
        json!([format!("bob@{DOMAIN}"), format!("nobody@{DOMAIN}")])
    );
}

#[test]
fn unknown_users_wait_like_undecided_ones() {
    // Where a real user keeps strangers waiting, an unknown one does too.
    let srv = start("same_domain_default = \"pending\"\n");
    let mut alice = Ua::new(&srv, "alice");
    let real = shape(&mut alice, "bob");
    let nobody = shape(&mut alice, "nobody");
    assert_eq!(real, nobody);
    let mut carol = CasClient::login(&srv, "carol");
    let r = carol.call("presence", "get", json!({"users": ["bob", "nobody"]}));
    let list = r["presence"].as_array().unwrap();
    assert_eq!(list[0]["pending"], true, "{r}");
    assert_eq!(list[1]["pending"], true, "{r}");
    assert_eq!(
        list[0].as_object().unwrap().len(),
        list[1].as_object().unwrap().len()
    );
}

#[test]
fn subscriptions_per_watcher_are_capped() {
    let srv = start("max_subscriptions_per_watcher = 3\n");
    let mut alice = Ua::new(&srv, "alice");
    let mut dialogs = Vec::new();
    for user in ["bob", "carol", "nobody"] {
        alice.new_call();
        let req = subscribe_req(&mut alice, user, "presence", 600);
        let resp = alice.authenticated(&req, None);
        assert!(matches!(resp.status(), Some(200 | 202)), "{user}: {resp:?}");
        notify(&mut alice, 200);
        dialogs.push((req, resp));
    }
    alice.new_call();
    let req = subscribe_req(&mut alice, "bob", "presence", 600);
    let resp = alice.authenticated(&req, None);
    assert_eq!(resp.status(), Some(403));
    assert_eq!(resp.reason(), "Too Many Subscriptions");
    // Another watcher is not affected.
    let mut carol = Ua::new(&srv, "carol");
    carol.new_call();
    let req = subscribe_req(&mut carol, "bob", "presence", 600);
    assert_eq!(carol.authenticated(&req, None).status(), Some(200));

    // Ending one (unsubscribe, answered by its final NOTIFY) makes room for one more.
    let (req, resp) = &dialogs[0];
    alice.call_id = req.call_id.clone();
    alice.from_tag = req.from.rsplit("tag=").next().unwrap().to_owned();
    let target = match resp.contacts().first() {
        Some(sip::ContactValue::Addr(a)) => a.uri.raw().to_owned(),
        other => panic!("no Contact: {other:?}"),
    };
    let contact = format!("<{}>", alice.contact_uri());
    let unsub = alice
        .request("SUBSCRIBE", &target, resp.header(HeaderName::To).unwrap())
        .header("Contact", &contact)
        .header("Event", "presence")
        .header("Expires", "0");
    assert_eq!(alice.transact(&unsub).status(), Some(200));
    let n = notify(&mut alice, 200);
    assert_eq!(state_only(&n), "terminated;reason=timeout");
    std::thread::sleep(std::time::Duration::from_millis(100));
    alice.new_call();
    let req = subscribe_req(&mut alice, "bob", "presence", 600);
    assert_eq!(alice.authenticated(&req, None).status(), Some(200));
}

/// A PUBLISH of `basic` from `ua` for its own AOR (None: refresh of `etag`).
fn publish_basic(ua: &mut Ua, basic: Option<&str>, etag: Option<&str>) -> Message {
    let doc = basic.map(|b| {
        let aor = ua.aor();
        format!(
            "<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"{aor}\"><tuple id=\"t\"><status><basic>{b}</basic></status></tuple></presence>"
        )
    });
    publish(ua, doc.as_deref(), etag, 600)
}

#[test]
fn publications_per_presentity_are_capped() {
    let srv = start("max_publications_per_presentity = 2\n");
    // Three phones of bob, each on its own flow: three devices.
    let mut etags = Vec::new();
    let mut phones: Vec<Ua> = (0..3).map(|_| Ua::new(&srv, "bob")).collect();
    for p in &mut phones {
        let r = publish_basic(p, Some("open"), None);
        assert_eq!(r.status(), Some(200));
        etags.push(r.header_named("SIP-ETag").unwrap().to_owned());
    }
    // The oldest publication made room for the newest; the other two still refresh.
    let r = publish_basic(&mut phones[0], None, Some(&etags[0]));
    assert_eq!(
        r.status(),
        Some(412),
        "the first publication should be gone"
    );
    for i in 1..3 {
        let r = publish_basic(&mut phones[i], None, Some(&etags[i]));
        assert_eq!(r.status(), Some(200), "publication {i}");
    }
}

#[test]
fn refreshes_must_come_from_the_watcher() {
    let srv = start("");
    let mut alice = Ua::new(&srv, "alice");
    alice.new_call();
    let req = subscribe_req(&mut alice, "bob", "presence", 600);
    let resp = alice.authenticated(&req, None);
    assert_eq!(resp.status(), Some(200));
    notify(&mut alice, 200);
    let to = resp.header(HeaderName::To).unwrap().to_owned();
    let target = match resp.contacts().first() {
        Some(sip::ContactValue::Addr(a)) => a.uri.raw().to_owned(),
        other => panic!("no Contact: {other:?}"),
    };
    let refresh = |ua: &mut Ua, expires: &str| {
        let contact = format!("<{}>", ua.contact_uri());
        ua.request("SUBSCRIBE", &target, &to)
            .header("Contact", &contact)
            .header("Event", "presence")
            .header("Expires", expires)
    };

    // A third party that learnt the Call-ID and our tag, with its own From tag: 481.
    let mut mallory = Ua::new(&srv, "carol");
    mallory.call_id = alice.call_id.clone();
    mallory.cseq = 100;
    let r = refresh(&mut mallory, "0");
    assert_eq!(mallory.transact(&r).status(), Some(481));
    // Even with alice's From tag, from another address it must authenticate as alice.
    mallory.from_tag = alice.from_tag.clone();
    let r = refresh(&mut mallory, "0");
    assert_eq!(mallory.transact(&r).status(), Some(407));
    let r = refresh(&mut mallory, "0");
    assert_eq!(mallory.authenticated(&r, None).status(), Some(403));
    assert!(
        alice
            .recv_where(SILENCE, |m| is_request(m, "NOTIFY"))
            .is_none(),
        "the subscription must not have been touched"
    );

    // The watcher itself refreshes from its flow without a challenge ...
    let r = refresh(&mut alice, "300");
    assert_eq!(alice.transact(&r).status(), Some(200));
    notify(&mut alice, 200);
    // ... and from a new flow (e.g. after a NAT rebinding) with its credentials.
    let mut moved = Ua::on_wire(&srv, "alice", Wire::udp());
    moved.call_id = alice.call_id.clone();
    moved.from_tag = alice.from_tag.clone();
    moved.cseq = alice.cseq + 10;
    let r = refresh(&mut moved, "300");
    assert_eq!(moved.authenticated(&r, None).status(), Some(200));
    notify(&mut moved, 200);
}

#[test]
fn connected_on_mobile_is_a_tuple_of_the_compound_view() {
    let srv = start("");
    let mut alice = Ua::new(&srv, "alice");
    alice.new_call();
    let req = subscribe_req(&mut alice, "bob", "presence", 600);
    assert_eq!(alice.authenticated(&req, None).status(), Some(200));
    let first = String::from_utf8_lossy(notify(&mut alice, 200).body()).into_owned();
    assert!(!first.contains("id=\"mobile\""), "{first}");

    let mut bob = CasClient::login(&srv, "bob");
    let mut doc = String::new();
    let r = bob.call("presence", "set", json!({"mobile": true}));
    assert_eq!(r["response"], 0, "{r}");
    // The login (IM available) and the mobile flag may come as one NOTIFY or two.
    for _ in 0..3 {
        doc = String::from_utf8_lossy(notify(&mut alice, 200).body()).into_owned();
        if doc.contains("id=\"mobile\"") {
            break;
        }
    }
    let doc = sip_events::pidf::parse(doc.as_bytes()).unwrap();
    let m = doc
        .tuples
        .iter()
        .find(|t| t.id == "mobile")
        .expect("no mobile tuple");
    assert_eq!(m.basic, Some(sip_events::pidf::Basic::Open));
    assert_eq!(m.class.as_deref(), Some("mobile"));
    assert_eq!(
        m.contact.as_deref(),
        Some(format!("sip:bob@{DOMAIN}").as_str())
    );
    assert!(m.device_id.is_none());

    let r = bob.call("presence", "set", json!({"mobile": false}));
    assert_eq!(r["response"], 0, "{r}");
    let doc = String::from_utf8_lossy(notify(&mut alice, 200).body()).into_owned();
    assert!(!doc.contains("id=\"mobile\""), "{doc}");
    assert!(doc.contains("<tuple id=\"im\""), "{doc}");
}

/// Hostile or odd input never breaks the notifier (RFC 6665, RFC 3903): huge and malformed
/// `Expires`, odd `Event` parameters, a non-SIP Request-URI, a foreign `id` in the dialog,
/// garbage `SIP-If-Match`, and watchers answering NOTIFYs with `503 Retry-After: 0` (no
/// retry storm) or odd statuses; the subscription lives on and the server keeps answering.
#[test]
fn hostile_subscribe_publish_and_notify_answers() {
    let srv = start("subscribe_max_expires = 1000\n");
    let mut bob = Ua::new(&srv, "bob");
    register(&mut bob, "");
    let mut alice = Ua::new(&srv, "alice");

    // A huge Expires is taken as 2^32-1 (RFC 3261 §20.19) and shortened to the maximum.
    let (resp, n, _) = subscribe(&mut alice, "bob", "presence", 0);
    assert_eq!(resp.status(), Some(200));
    assert_eq!(sub_state(&n), "terminated;reason=timeout");
    // (Its own socket, so that its NOTIFYs do not mix with the ones checked below.)
    let mut big = Ua::new(&srv, "alice");
    let mut req = subscribe_req(&mut big, "bob", "presence", 1);
    for (n, v) in &mut req.headers {
        if n == "Expires" {
            "999999999999999999999".clone_into(v);
        }
    }
    let resp = big.authenticated(&req, None);
    assert_eq!(resp.status(), Some(200));
    assert_eq!(resp.expires(), Some(1000), "subscribe_max_expires applies");
    let n = notify(&mut big, 200);
    assert_eq!(sub_state(&n), "active;expires=1000");

    // Malformed Expires, a non-token id, a template package, a tel: Request-URI.
    let odd = |alice: &mut Ua, event: &str, expires: &str, uri: Option<&str>| -> u16 {
        alice.new_call();
        let mut req = subscribe_req(alice, "bob", event, 600);
        for (n, v) in &mut req.headers {
            if n == "Expires" {
                expires.clone_into(v);
            }
        }
        if let Some(u) = uri {
            u.clone_into(&mut req.uri);
        }
        status_maybe_challenged(alice, &req)
    };
    assert_eq!(odd(&mut alice, "presence", "-5", None), 400);
    assert_eq!(odd(&mut alice, "presence", "12abc", None), 400);
    assert_eq!(odd(&mut alice, "presence;id=\"a b\"", "600", None), 400);
    assert_eq!(odd(&mut alice, "presence;id=", "600", None), 400);
    assert_eq!(odd(&mut alice, "presence.winfo", "600", None), 489);
    assert_eq!(
        odd(&mut alice, "presence", "600", Some("tel:+15551234")),
        416
    );

    // Unknown parameters and an unknown rollup are ignored (compound); the id is echoed.
    let (resp, n, d) = subscribe(
        &mut alice,
        "bob",
        "presence;rollup=bogus;foo;=;id=ok-1",
        600,
    );
    assert_eq!(resp.status(), Some(200));
    assert_eq!(n.header_named("Event"), Some("presence;id=ok-1"));
    assert!(body(&n).contains("<tuple id=\"voice\""));
    // In the dialog: another id names no subscription here; another package is 489.
    assert_eq!(
        resubscribe(&mut alice, &d, "presence;id=other", 600).status(),
        Some(481)
    );
    assert_eq!(
        resubscribe(&mut alice, &d, "message-summary;id=ok-1", 600).status(),
        Some(489)
    );
    assert_eq!(
        resubscribe(&mut alice, &d, "presence;id=ok-1", 600).status(),
        Some(200)
    );
    notify(&mut alice, 200);

    // PUBLISH: garbage SIP-If-Match is 412 and changes nothing; a malformed Expires is 400;
    // a huge one is shortened to 3600.
    let long = format!("\"<>{}", "x;".repeat(2000));
    assert_eq!(
        publish(&mut bob, None, Some(&long), 120).status(),
        Some(412)
    );
    // A control character makes the request unparsable: refused before anything else.
    bob.new_call();
    let aor = bob.aor();
    let r = bob
        .request("PUBLISH", &aor, &format!("<{aor}>"))
        .header("Event", "presence")
        .header("SIP-If-Match", "abc\u{7f}def");
    assert_eq!(status_maybe_challenged(&mut bob, &r), 400);
    let doc = pidf("bob", "open", Some("busy"));
    assert_eq!(
        publish(&mut bob, Some(&doc), Some("nonsense"), 120).status(),
        Some(412)
    );
    assert!(
        alice
            .recv_where(SILENCE, |m| is_request(m, "NOTIFY"))
            .is_none(),
        "a refused PUBLISH must not change the state"
    );
    bob.new_call();
    let aor = bob.aor();
    let mut r = bob
        .request("PUBLISH", &aor, &format!("<{aor}>"))
        .header("Event", "presence")
        .header("Expires", "soon");
    r.content_type = Some("application/pidf+xml".into());
    r.body = doc.clone().into_bytes();
    assert_eq!(status_maybe_challenged(&mut bob, &r), 400);
    let r = publish(&mut bob, Some(&doc), None, u32::MAX);
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.expires(), Some(3600));
    let e = etag_of(&r);

    // The watcher answers 503 Retry-After: 0: the retry waits at least the first backoff.
    let n = alice
        .recv_where(WAIT, |m| is_request(m, "NOTIFY"))
        .expect("NOTIFY for busy");
    alice.reply(&n, 503, "Overloaded", "x", &[("Retry-After", "0")], None);
    let t = Instant::now();
    let n = alice
        .recv_where(WAIT, |m| is_request(m, "NOTIFY"))
        .expect("the retry");
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "retried after {:?}",
        t.elapsed()
    );
    // Then an odd answer: an unknown 2xx with a garbage Retry-After still counts as success.
    alice.reply(
        &n,
        299,
        "Whatever",
        "x",
        &[("Retry-After", "yesterday")],
        None,
    );
    publish(&mut bob, Some(&pidf("bob", "closed", None)), Some(&e), 120);
    let n = notify(&mut alice, 200);
    assert!(sub_state(&n).starts_with("active"), "{}", sub_state(&n));
    assert!(tuple(&body(&n), "voice").contains("closed"), "{}", body(&n));

    // Still serving.
    let o = common::options(&mut alice);
    assert_eq!(alice.transact(&o).status(), Some(200));
}
