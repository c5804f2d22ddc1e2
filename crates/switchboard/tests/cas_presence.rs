//! CAS `presence` against the real binary: own status and note (kept across a restart),
//! rollup policies over devices, publications and CAS sessions, live events, authorization
//! (pending → approve, deny, block, hidden), the directory's presence filtered the same way,
//! and the virtual address: no reply or event ever carries a device's address or port.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::cas::CasClient;
use common::{DOMAIN, Server, ServerOpts, Ua};
use serde_json::{Value, json};
use sip::Message;

/// Everything a watcher received, checked for device data at the end of each test.
#[derive(Default)]
struct Seen {
    texts: Vec<String>,
    /// Ports of the test phones (and the server's SIP port).
    ports: Vec<u16>,
}

impl Seen {
    fn keep(&mut self, v: &Value) -> Value {
        // Envelope counters and clocks are numbers that could contain a port by chance.
        let mut body = v.clone();
        if let Some(o) = body.as_object_mut() {
            for k in ["timestamp", "sequence_id", "request_id"] {
                o.remove(k);
            }
        }
        self.texts.push(body.to_string());
        v.clone()
    }

    /// No reply or event names a device: no loopback address, no phone or server port, no
    /// device key material.
    fn assert_private(&self) {
        assert!(!self.texts.is_empty());
        for t in &self.texts {
            assert!(!t.contains("127.0.0.1"), "device address leaked: {t}");
            for p in &self.ports {
                assert!(!t.contains(&format!(":{p}")), "port {p} leaked: {t}");
                assert!(!t.contains(&p.to_string()), "port {p} leaked: {t}");
            }
        }
    }
}

fn ok(seen: &mut Seen, r: Value) -> Value {
    assert_eq!(r["response"], 0, "{r}");
    seen.keep(&r)
}

/// `presence.get` of one user as `client` sees them.
fn get(seen: &mut Seen, client: &mut CasClient, user: &str, rollup: &str) -> Value {
    let r = ok(
        seen,
        client.call(
            "presence",
            "get",
            json!({"users": [user], "rollup": rollup}),
        ),
    );
    r["presence"][0].clone()
}

/// Polls `get` until `pred` holds (sources reach the service over the bus), or panics.
fn get_until(
    seen: &mut Seen,
    client: &mut CasClient,
    user: &str,
    rollup: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let p = get(seen, client, user, rollup);
        if pred(&p) {
            return p;
        }
        assert!(Instant::now() < deadline, "state never reached: {p}");
        std::thread::sleep(Duration::from_millis(30));
    }
}

/// The next `presence` event about `user` satisfying `pred`, within a few long-polls.
fn event(seen: &mut Seen, client: &CasClient, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..8 {
        for e in client.events(1) {
            seen.keep(&e);
            if e["topic"] == "presence" && pred(&e) {
                return e;
            }
        }
    }
    panic!("no matching presence event");
}

fn register(ua: &mut Ua, expires: u32) {
    let c = format!("<{}>", ua.contact_uri());
    assert_eq!(ua.register(&[&c], Some(expires)).status(), Some(200));
}

/// A PUBLISH from `ua` for its own AOR (from its registered flow: the same device).
fn publish(ua: &mut Ua, basic: &str, activity: &str) -> Message {
    ua.new_call();
    let aor = ua.aor();
    let contact = ua.contact_uri();
    let mut r = ua
        .request("PUBLISH", &aor, &format!("<{aor}>"))
        .header("Event", "presence")
        .header("Expires", "600");
    r.content_type = Some("application/pidf+xml".into());
    r.body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence \
         xmlns=\"urn:ietf:params:xml:ns:pidf\" \
         xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" \
         xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"{aor}\">\
         <tuple id=\"t4109\"><status><basic>{basic}</basic></status>\
         <contact>{contact}</contact></tuple><dm:person id=\"p4159\"><rpid:activities>\
         <rpid:{activity}/></rpid:activities></dm:person></presence>"
    )
    .into_bytes();
    ua.authenticated(&r, None)
}

#[test]
fn status_note_rollups_and_sessions() {
    let mut srv = Server::default_start();
    let mut seen = Seen {
        ports: vec![srv.addr.port()],
        ..Seen::default()
    };
    let mut alice = CasClient::login(&srv, "alice");

    // Nobody of bob: every class offline, which is not "available".
    let p = get(&mut seen, &mut alice, "bob", "compound");
    assert_eq!(p["authorized"], true, "{p}");
    assert_eq!(p["user"], format!("bob@{DOMAIN}"));
    assert_eq!(
        p["classes"],
        json!({"voice": "offline", "video": "offline", "im": "offline"})
    );
    assert_eq!(p["state"], "offline");

    // alice follows bob; bob's CAS session makes IM available, live.
    let r = ok(
        &mut seen,
        alice.call("presence", "subscribe", json!({"users": ["bob"]})),
    );
    assert_eq!(r["presence"][0]["state"], "offline");
    let mut bob = CasClient::login(&srv, "bob");
    let e = event(&mut seen, &alice, |e| e["classes"]["im"] == "available");
    assert_eq!(e["message"], "presence");
    assert_eq!(e["user"], format!("bob@{DOMAIN}"));
    assert_eq!(e["classes"]["voice"], "offline");

    // A registered phone: voice available (and IM from the phone too).
    let mut phone = Ua::new(&srv, "bob");
    seen.ports.push(phone.local().port());
    register(&mut phone, 600);
    let p = get_until(&mut seen, &mut alice, "bob", "compound", |p| {
        p["classes"]["voice"] == "available"
    });
    assert_eq!(p["classes"]["video"], "offline");
    event(&mut seen, &alice, |e| e["classes"]["voice"] == "available");

    // The phone says it is on the phone (a PUBLISH from its registered flow, naming its
    // contact address): voice busy, IM still available through the CAS session.
    let resp = publish(&mut phone, "open", "on-the-phone");
    assert_eq!(resp.status(), Some(200), "{resp:?}");
    let p = get_until(&mut seen, &mut alice, "bob", "compound", |p| {
        p["classes"]["voice"] == "busy"
    });
    assert_eq!(p["classes"]["im"], "available", "{p}");
    assert_eq!(p["activities"], json!(["on-the-phone"]));
    // The rollups over the same state.
    let most = get(&mut seen, &mut alice, "bob", "most-available");
    assert_eq!(most["state"], "available", "{most}");
    assert!(most.get("classes").is_none());
    let semi = get(&mut seen, &mut alice, "bob", "semi-available");
    assert_eq!(semi["state"], "semi-available", "{semi}");
    assert_eq!(semi["rollup"], "semi-available");
    let bad = alice.call(
        "presence",
        "get",
        json!({"users": ["bob"], "rollup": "nearest"}),
    );
    assert_eq!(bad["response"], 400, "{bad}");

    // bob sets do-not-disturb and a note: every reachable class busy, note shown.
    let r = ok(
        &mut seen,
        bob.call(
            "presence",
            "set",
            json!({"status": "dnd", "note": "in the lab", "mobile": true}),
        ),
    );
    assert_eq!(r["status"], "dnd");
    assert_eq!(r["classes"]["im"], "busy");
    let p = get(&mut seen, &mut alice, "bob", "compound");
    assert_eq!(
        (
            p["state"].as_str(),
            p["note"].as_str(),
            p["mobile"].as_bool()
        ),
        (Some("busy"), Some("in the lab"), Some(true)),
        "{p}"
    );
    event(&mut seen, &alice, |e| e["note"] == "in the lab");
    let bad = bob.call("presence", "set", json!({"status": "asleep"}));
    assert_eq!(bad["response"], 400, "{bad}");

    // The phone unregisters and bob logs out: offline again, but the note stays.
    let resp = publish(&mut phone, "closed", "away");
    assert_eq!(resp.status(), Some(200));
    register(&mut phone, 0);
    ok(&mut seen, bob.call("session", "logout", json!({})));
    let p = get_until(&mut seen, &mut alice, "bob", "compound", |p| {
        p["classes"]["voice"] == "offline" && p["classes"]["im"] == "offline"
    });
    assert_eq!(p["state"], "offline");
    assert_eq!(p["mobile"], false, "mobile ends with its session");

    // Status and note survive a restart.
    srv.restart();
    let mut bob = CasClient::login(&srv, "bob");
    let r = ok(&mut seen, bob.call("presence", "get", json!({})));
    let me = &r["presence"][0];
    assert_eq!(me["note"], "in the lab", "{r}");
    assert_eq!(
        me["classes"]["im"], "busy",
        "dnd caps the CAS session's IM: {r}"
    );
    let r = ok(
        &mut seen,
        bob.call("presence", "set", json!({"status": "auto", "note": ""})),
    );
    assert_eq!(r["status"], "auto");
    assert_eq!(r["classes"]["im"], "available");
    assert_eq!(r["note"], Value::Null);

    // The call handling mode speaks too: in a meeting, busy with the activity `meeting`.
    ok(
        &mut seen,
        bob.call("config", "set", json!({"mode": "meeting"})),
    );
    let p = get_until(&mut seen, &mut bob, "bob", "compound", |p| {
        p["classes"]["im"] == "busy"
    });
    assert_eq!(p["activities"], json!(["meeting"]), "{p}");
    ok(
        &mut seen,
        bob.call("config", "set", json!({"mode": "available"})),
    );
    get_until(&mut seen, &mut bob, "bob", "compound", |p| {
        p["classes"]["im"] == "available" && p["activities"] == json!([])
    });
    seen.assert_private();
}

#[test]
fn authorization_pending_block_hidden_and_directory() {
    let srv = Server::start(ServerOpts::config(
        "[presence]\nsame_domain_default = \"pending\"\n",
    ));
    let mut seen = Seen {
        ports: vec![srv.addr.port()],
        ..Seen::default()
    };
    let mut alice = CasClient::login(&srv, "alice");
    let mut bob = CasClient::login(&srv, "bob");
    let mut carol = CasClient::login(&srv, "carol");
    let mut phone = Ua::new(&srv, "bob");
    seen.ports.push(phone.local().port());
    register(&mut phone, 600);

    // Unapproved: no state at all, and bob sees alice waiting.
    let r = ok(
        &mut seen,
        alice.call(
            "presence",
            "subscribe",
            json!({"users": ["sip:bob@example.test"]}),
        ),
    );
    assert_eq!(
        r["presence"][0],
        json!({"user": "bob@example.test", "authorized": false, "pending": true})
    );
    let w = event(&mut seen, &bob, |e| e["message"] == "watcher");
    assert_eq!(w["watcher"], "alice@example.test");
    let r = ok(&mut seen, bob.call("presence", "watchers", json!({})));
    assert_eq!(
        r["watchers"],
        json!([{"user": "alice@example.test", "decision": "pending", "authorized": false,
                "watching": true}])
    );
    // The directory shows bob to alice without presence.
    let d = ok(
        &mut seen,
        alice.call(
            "dir",
            "lookup_contacts",
            json!({"tokens": ["bob"], "presence": true}),
        ),
    );
    assert_eq!(
        d["contacts"][0]["presence"],
        json!({"authorized": false}),
        "{d}"
    );

    // bob approves alice: she gets the state as an event at once, and in replies.
    let r = ok(
        &mut seen,
        bob.call(
            "presence",
            "authorize",
            json!({"watcher": "alice", "decision": "allow"}),
        ),
    );
    assert_eq!(r["authorized"], true);
    let e = event(&mut seen, &alice, |e| e["user"] == "bob@example.test");
    assert_eq!(e["classes"]["voice"], "available", "{e}");
    let d = ok(
        &mut seen,
        alice.call(
            "dir",
            "lookup_contacts",
            json!({"tokens": ["bob"], "presence": true}),
        ),
    );
    assert_eq!(
        d["contacts"][0]["presence"]["classes"]["voice"], "available",
        "{d}"
    );

    // carol is blocked: no state, and never listed as pending again.
    ok(
        &mut seen,
        bob.call(
            "presence",
            "authorize",
            json!({"watcher": "carol", "decision": "block"}),
        ),
    );
    let p = get(&mut seen, &mut carol, "bob", "compound");
    assert_eq!(p, json!({"user": "bob@example.test", "authorized": false}));
    let d = ok(
        &mut seen,
        carol.call(
            "dir",
            "lookup_contacts",
            json!({"tokens": ["bob"], "presence": true}),
        ),
    );
    assert_eq!(d["contacts"][0]["presence"], json!({"authorized": false}));
    let r = ok(&mut seen, bob.call("presence", "rules", json!({})));
    assert_eq!(r["block"], json!(["carol@example.test"]));
    assert_eq!(r["allow"], json!(["alice@example.test"]));
    assert_eq!(r["pending"], json!([]));
    assert_eq!(r["same_domain_default"], "pending");

    // Hidden: bob stays in the directory, nobody sees his presence.
    let r = ok(
        &mut seen,
        bob.call("presence", "rules", json!({"visible": false})),
    );
    assert_eq!(r["visible"], false);
    let p = get(&mut seen, &mut alice, "bob", "compound");
    assert_eq!(p["authorized"], false, "{p}");
    let d = ok(
        &mut seen,
        alice.call(
            "dir",
            "lookup_contacts",
            json!({"tokens": ["bob"], "presence": true}),
        ),
    );
    assert_eq!(d["contacts"][0]["user"], "bob@example.test");
    assert_eq!(d["contacts"][0]["presence"], json!({"authorized": false}));
    // bob still sees himself.
    let r = ok(&mut seen, bob.call("presence", "get", json!({})));
    assert_eq!(r["presence"][0]["authorized"], true);

    // Visible again, and the same-domain rule opened up by bob: carol stays blocked.
    ok(
        &mut seen,
        bob.call(
            "presence",
            "rules",
            json!({"visible": true, "same_domain": "allow"}),
        ),
    );
    assert_eq!(
        get(&mut seen, &mut alice, "bob", "compound")["authorized"],
        true
    );
    assert_eq!(
        get(&mut seen, &mut carol, "bob", "compound")["authorized"],
        false
    );
    ok(
        &mut seen,
        bob.call(
            "presence",
            "authorize",
            json!({"watcher": "carol", "decision": "forget"}),
        ),
    );
    assert_eq!(
        get(&mut seen, &mut carol, "bob", "compound")["authorized"],
        true
    );

    // Nobody may edit someone else's rules: `rules` is always the caller's own.
    let r = ok(&mut seen, carol.call("presence", "rules", json!({})));
    assert_eq!(r["allow"], json!([]));
    let bad = carol.call(
        "presence",
        "authorize",
        json!({"watcher": "alice", "decision": "maybe"}),
    );
    assert_eq!(bad["response"], 400);
    seen.assert_private();
}

/// A user's watcher decisions live in memory: their number is capped, over `rules` and over
/// `authorize`, and a refused request changes nothing.
#[test]
fn watcher_decisions_are_capped() {
    let srv = Server::start(ServerOpts::config(""));
    let mut bob = CasClient::login(&srv, "bob");
    let names = |prefix: &str, n: usize| -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}@example.org")).collect()
    };
    // 3,000 + 3,000 decisions: over the cap of 5,000, refused as a whole.
    let r = bob.call(
        "presence",
        "rules",
        json!({"allow": names("a", 3000), "deny": names("d", 3000)}),
    );
    assert_ne!(r["response"], json!(0), "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("at most"),
        "{r}"
    );
    let r = bob.call("presence", "rules", json!({}));
    assert_eq!(r["response"], json!(0), "{r}");
    assert!(!r.to_string().contains("a0@example.org"), "{r}");

    // Exactly at the cap: accepted; one more decision for a new watcher: refused; changing
    // a decision already there: still accepted.
    let r = bob.call("presence", "rules", json!({"allow": names("a", 5000)}));
    assert_eq!(r["response"], json!(0), "{r}");
    let r = bob.call(
        "presence",
        "authorize",
        json!({"watcher": "newcomer@example.org", "decision": "allow"}),
    );
    assert_ne!(r["response"], json!(0), "{r}");
    let r = bob.call(
        "presence",
        "authorize",
        json!({"watcher": "a7@example.org", "decision": "block"}),
    );
    assert_eq!(r["response"], json!(0), "{r}");
}
