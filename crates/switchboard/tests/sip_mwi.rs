//! Message-waiting over SIP against the real binary (RFC 3842): an external voicemail
//! system simulated with SIPp reports by NOTIFY (digest-authenticated as its system
//! account); bob's CAS client sees each system's counts with ANI/DNIS/time, bob's phone
//! (subscribed to `message-summary`) receives the aggregated summary, and his devices get
//! the short MESSAGE text. Non-system senders are refused; unsolicited NOTIFY where
//! configured.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::calls::registered;
use common::cas::ok;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cas::CasClient;
use common::{DOMAIN, Server, ServerOpts, Ua, WAIT, have, mwi_state, repo, token};
use serde_json::{Value, json};
use sip::Message;

const PBX_PASSWORD: &str = "pbx-secret-2";
/// Thu, 05 Nov 2026 10:42:00 GMT in Unix ms.
const AT: i64 = 1_793_875_320_000;

/// A SIP system `pbx` and a CAS system `carrier`, both serving bob; waits until the running
/// server (CAS and SIP face) knows them.
fn configure(srv: &Server, bob: &mut CasClient) {
    let d = ["--domain", DOMAIN];
    srv.cli(&["user", d[0], d[1], "add", "pbx", "--password", PBX_PASSWORD]);
    srv.cli(&[
        "user",
        d[0],
        d[1],
        "add",
        "carrier",
        "--password",
        PBX_PASSWORD,
    ]);
    srv.cli(&[
        "mwi",
        d[0],
        d[1],
        "system",
        "add",
        "pbx",
        "--account",
        "pbx",
        "--label",
        "PBX",
    ]);
    srv.cli(&[
        "mwi",
        d[0],
        d[1],
        "system",
        "add",
        "carrier",
        "--kind",
        "cas",
        "--account",
        "carrier",
    ]);
    srv.cli(&[
        "mwi",
        d[0],
        d[1],
        "assign",
        "bob",
        "--system",
        "pbx",
        "--mailbox",
        "4711",
    ]);
    srv.cli(&["mwi", d[0], d[1], "assign", "bob", "--system", "carrier"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while ok(bob.call("mwi", "systems", json!({})))["systems"]
        .as_array()
        .unwrap()
        .len()
        < 3
    {
        assert!(Instant::now() < deadline, "profile not reloaded");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The SIP face re-reads users every 2 s: wait until it knows the pbx account.
    let mut probe = Ua::new(srv, "pbx");
    probe.password = PBX_PASSWORD.into();
    let c = format!("<{}>", probe.contact_uri());
    while probe.register(&[&c], Some(0)).status() != Some(200) {
        assert!(
            Instant::now() < deadline + Duration::from_secs(3),
            "pbx unknown to SIP"
        );
        std::thread::sleep(Duration::from_millis(200));
        probe.new_call();
    }
}

/// Every request reaching `ua` within `wait` (answered 200), until `done` says enough.
fn requests(ua: &mut Ua, wait: Duration, done: impl Fn(&[Message]) -> bool) -> Vec<Message> {
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    while !done(&got) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let Some(m) = ua.recv_where(left, Message::is_request) else {
            break;
        };
        ua.reply(&m, 200, "OK", &token("t"), &[], None);
        got.push(m);
    }
    got
}

fn body(m: &Message) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

/// Whether a NOTIFY among `ms` says `waiting` with `Voice-Message` `counts` (new, old,
/// urgent new, urgent old).
fn notified(ms: &[Message], waiting: bool, counts: [u32; 4]) -> bool {
    ms.iter().any(|m| mwi_state(m) == Some((waiting, counts)))
}

fn system<'a>(view: &'a Value, name: &str) -> &'a Value {
    view["systems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["system"] == name)
        .unwrap_or_else(|| panic!("no system {name} in {view}"))
}

fn sipp_notify(srv: &Server, user: &str, password: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new("sipp")
        .arg(srv.addr.to_string())
        .arg("-sf")
        .arg(repo().join("tests/sipp/mwi_external_notify.xml"))
        .args(["-i", "127.0.0.1", "-nostdin", "-m", "1", "-timeout", "15s"])
        .args(["-timeout_error", "-trace_err", "-trace_msg"])
        .args([
            "-key", "domain", DOMAIN, "-key", "user", user, "-key", "mailbox", "4711",
        ])
        .args(["-au", user, "-ap", password])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut logs = String::new();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        logs.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
    }
    (status.success(), logs)
}

#[test]
fn external_system_over_sip_reaches_cas_phone_and_devices() {
    if !have("sipp") {
        return;
    }
    let srv = Server::default_start();
    let mut bob = CasClient::login(&srv, "bob");
    configure(&srv, &mut bob);
    bob.events(0);

    // bob's phone subscribes to its own message-summary (as baresip does).
    let mut phone = registered(&srv, "bob");
    let uri = format!("sip:bob@{DOMAIN}");
    phone.new_call();
    let sub = phone
        .request("SUBSCRIBE", &uri, &format!("<{uri}>"))
        .header("Contact", &format!("<{}>", phone.contact_uri()))
        .header("Event", "message-summary")
        .header("Accept", "application/simple-message-summary")
        .header("Expires", "600");
    let resp = phone.authenticated(&sub, None);
    assert!(matches!(resp.status(), Some(200 | 202)), "{resp:?}");
    requests(&mut phone, WAIT, |ms| {
        ms.iter().any(|m| m.method() == "NOTIFY")
    });

    // The carrier reports over CAS, the PBX (SIPp) over SIP.
    let mut carrier = CasClient::login_with(&srv, "carrier", PBX_PASSWORD);
    ok(carrier.call("mwi", "report", json!({"user": "bob", "new": 1, "old": 0})));
    let (ok_run, logs) = sipp_notify(&srv, "pbx", PBX_PASSWORD);
    assert!(ok_run, "sipp NOTIFY failed:\n{logs}");

    // CAS: both systems side by side with the PBX's ANI/DNIS/time.
    let deadline = Instant::now() + WAIT;
    let view = loop {
        let v = ok(bob.call("mwi", "get", json!({})));
        if v["total"]["new"] == 3 || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        view["total"],
        json!({"new": 3, "old": 1, "urgent_new": 1, "urgent_old": 0})
    );
    assert_eq!(system(&view, "carrier")["new"], 1);
    let pbx = system(&view, "pbx");
    assert_eq!(
        (pbx["new"].as_u64(), pbx["old"].as_u64()),
        (Some(2), Some(1))
    );
    let m = &pbx["messages"][0];
    assert_eq!(
        (m["id"].as_str(), m["ani"].as_str(), m["dnis"].as_str()),
        (Some("pbx-17"), Some("1001"), Some("2000"))
    );
    assert_eq!(m["at"], AT);
    assert_eq!(m["urgent"], true);
    assert_eq!(pbx["messages"][1]["ani"], "1002");
    let evs: Vec<Value> = bob
        .events(1)
        .into_iter()
        .filter(|e| e["topic"] == "mwi" && e["changed"] == "pbx")
        .collect();
    assert_eq!(evs.len(), 1, "{evs:?}");

    // The phone: the aggregated summary on its subscription, and the text.
    let got = requests(&mut phone, WAIT, |ms| {
        notified(ms, true, [3, 1, 1, 0])
            && ms
                .iter()
                .any(|m| m.method() == "MESSAGE" && body(m).contains("3 new"))
    });
    assert!(notified(&got, true, [3, 1, 1, 0]), "{got:?}");
    let notify = got.iter().rev().find(|m| m.method() == "NOTIFY").unwrap();
    assert_eq!(
        mwi_state(notify),
        Some((true, [3, 1, 1, 0])),
        "{}",
        body(notify)
    );
    assert!(
        notify
            .header(sip::HeaderName::Event)
            .unwrap()
            .contains("message-summary")
    );
    let text = got
        .iter()
        .filter(|m| m.method() == "MESSAGE")
        .map(body)
        .next_back()
        .unwrap_or_else(|| panic!("no MESSAGE text in {got:?}"));
    assert!(text.contains("(carrier 1, PBX 2)"), "{text}");
    assert!(
        text.contains("last from 1002 to 2000 at 10:43 UTC"),
        "{text}"
    );

    // Not a system account: 403; a wrong password never gets through.
    let mut alice = Ua::new(&srv, "alice");
    let target = format!("sip:4711@{DOMAIN}");
    let mut n = alice
        .request("NOTIFY", &target, &format!("<{target}>"))
        .header("Event", "message-summary")
        .header("Subscription-State", "active");
    n.content_type = Some("application/simple-message-summary".into());
    n.body = b"Messages-Waiting: yes\r\nVoice-Message: 9/9\r\n".to_vec();
    assert_eq!(alice.authenticated(&n, None).status(), Some(403));
    let (ok_run, _) = sipp_notify(&srv, "pbx", "wrong");
    assert!(!ok_run);
    assert_eq!(ok(bob.call("mwi", "get", json!({})))["total"]["new"], 3);
}

#[test]
fn unsolicited_notify_where_configured() {
    let srv = Server::start(ServerOpts::config(
        "[mwi]\nunsolicited_notify = true\nmessage_text = false\n",
    ));
    let mut bob = CasClient::login(&srv, "bob");
    configure(&srv, &mut bob);
    let mut phone = registered(&srv, "bob");
    let mut carrier = CasClient::login_with(&srv, "carrier", PBX_PASSWORD);
    ok(carrier.call("mwi", "report", json!({"user": "bob", "new": 2, "old": 5})));
    let got = requests(&mut phone, WAIT, |ms| notified(ms, true, [2, 5, 0, 0]));
    assert!(notified(&got, true, [2, 5, 0, 0]), "{got:?}");
    assert!(got.iter().all(|m| m.method() != "MESSAGE"), "{got:?}");
    let n = got.iter().find(|m| m.method() == "NOTIFY").unwrap();
    assert!(
        n.header(sip::HeaderName::From)
            .unwrap()
            .contains("voicemail@")
    );
    assert_eq!(n.content_type(), Some("application/simple-message-summary"));
}

/// bob's phone, registered and subscribed to its own `message-summary` (as baresip does),
/// after the subscription's first NOTIFY.
fn subscribed_phone(srv: &Server) -> Ua {
    let mut phone = registered(srv, "bob");
    let uri = format!("sip:bob@{DOMAIN}");
    phone.new_call();
    let sub = phone
        .request("SUBSCRIBE", &uri, &format!("<{uri}>"))
        .header("Contact", &format!("<{}>", phone.contact_uri()))
        .header("Event", "message-summary")
        .header("Accept", "application/simple-message-summary")
        .header("Expires", "600");
    let resp = phone.authenticated(&sub, None);
    assert!(matches!(resp.status(), Some(200 | 202)), "{resp:?}");
    requests(&mut phone, WAIT, |ms| {
        ms.iter().any(|m| m.method() == "NOTIFY")
    });
    phone
}

/// A `message-summary` PUBLISH from `ua` for mailbox `mailbox` (a fresh Call-ID each, as
/// baresip and SIPp send them), with an optional `SIP-If-Match` and body.
fn publish(
    ua: &mut Ua,
    mailbox: &str,
    if_match: Option<&str>,
    expires: u32,
    body: Option<&str>,
) -> Message {
    ua.new_call();
    let target = format!("sip:{mailbox}@{DOMAIN}");
    let mut req = ua
        .request("PUBLISH", &target, &format!("<{target}>"))
        .header("Event", "message-summary")
        .header("Expires", &expires.to_string());
    if let Some(tag) = if_match {
        req = req.header("SIP-If-Match", tag);
    }
    if let Some(b) = body {
        req.content_type = Some("application/simple-message-summary".into());
        req.body = b.as_bytes().to_vec();
    }
    ua.authenticated(&req, None)
}

fn etag(resp: &Message) -> String {
    resp.header_named("SIP-ETag")
        .unwrap_or_else(|| panic!("no SIP-ETag in {resp:?}"))
        .trim()
        .to_owned()
}

fn pbx_counts(bob: &mut CasClient) -> (u64, u64, u64) {
    let view = ok(bob.call("mwi", "get", json!({})));
    let pbx = system(&view, "pbx");
    (
        pbx["new"].as_u64().unwrap(),
        pbx["old"].as_u64().unwrap(),
        pbx["urgent_new"].as_u64().unwrap(),
    )
}

/// RFC 3903 over the wire for `message-summary`: the PBX's system account PUBLISHes with
/// digest auth (initial, refresh, modify with `SIP-If-Match`, stale tag, removal); each 200
/// comes only after the report is stored (bob's CAS `mwi.get` right after the 200 already
/// shows it), bob's CAS client gets `changed` events and his phone the aggregated summary;
/// a user that is no voicemail system is refused 403.
#[test]
fn external_system_publishes_message_summary() {
    let srv = Server::default_start();
    let mut bob = CasClient::login(&srv, "bob");
    configure(&srv, &mut bob);
    let mut phone = subscribed_phone(&srv);
    bob.events(0);
    let mut pbx = Ua::new(&srv, "pbx");
    pbx.password = PBX_PASSWORD.into();

    // Initial: 200 with an entity tag and the granted expiry; stored before the 200.
    let r = publish(
        &mut pbx,
        "4711",
        None,
        120,
        Some(
            "Messages-Waiting: yes\r\nMessage-Account: sip:4711@pbx\r\nVoice-Message: 2/1 (1/0)\r\n",
        ),
    );
    assert_eq!(r.status(), Some(200), "{r:?}");
    assert_eq!(r.header_named("Expires").map(str::trim), Some("120"));
    let e1 = etag(&r);
    assert_eq!(pbx_counts(&mut bob), (2, 1, 1), "not stored before the 200");
    let got = requests(&mut phone, WAIT, |ms| notified(ms, true, [2, 1, 1, 0]));
    assert!(notified(&got, true, [2, 1, 1, 0]), "{got:?}");

    // Refresh: no body, SIP-If-Match → a new tag, counts kept.
    let r = publish(&mut pbx, "4711", Some(&e1), 120, None);
    assert_eq!(r.status(), Some(200), "{r:?}");
    let e2 = etag(&r);
    assert_ne!(e2, e1, "a refresh gets a new entity tag (RFC 3903 §6)");
    assert_eq!(pbx_counts(&mut bob), (2, 1, 1));

    // Modify with the current tag: the new state is stored before the 200.
    let r = publish(
        &mut pbx,
        "4711",
        Some(&e2),
        120,
        Some("Messages-Waiting: no\r\nVoice-Message: 0/3\r\n"),
    );
    assert_eq!(r.status(), Some(200), "{r:?}");
    let e3 = etag(&r);
    assert_eq!(
        pbx_counts(&mut bob),
        (0, 3, 0),
        "modify not stored before the 200"
    );
    let got = requests(&mut phone, WAIT, |ms| notified(ms, false, [0, 3, 0, 0]));
    let last = got.iter().rev().find(|m| m.method() == "NOTIFY").unwrap();
    assert_eq!(
        mwi_state(last),
        Some((false, [0, 3, 0, 0])),
        "{}",
        body(last)
    );

    // A stale tag (and an unknown one) is 412, and changes nothing.
    for stale in [e1.as_str(), e2.as_str(), "no-such-tag"] {
        let r = publish(
            &mut pbx,
            "4711",
            Some(stale),
            120,
            Some("Messages-Waiting: yes\r\nVoice-Message: 9/9\r\n"),
        );
        assert_eq!(r.status(), Some(412), "{stale}: {r:?}");
    }
    assert_eq!(pbx_counts(&mut bob), (0, 3, 0));

    // Removal ends the publication, not the counts: the last report stays true.
    let r = publish(&mut pbx, "4711", Some(&e3), 0, None);
    assert_eq!(r.status(), Some(200), "{r:?}");
    assert_eq!(r.header_named("Expires").map(str::trim), Some("0"));
    assert_eq!(
        publish(&mut pbx, "4711", Some(&e3), 120, None).status(),
        Some(412)
    );
    assert_eq!(pbx_counts(&mut bob), (0, 3, 0));

    // bob's CAS client heard both changes from the PBX, in order.
    let evs: Vec<(u64, u64)> = bob
        .events(1)
        .into_iter()
        .filter(|e| e["topic"] == "mwi" && e["changed"] == "pbx")
        .map(|e| {
            let s = system(&e, "pbx");
            (s["new"].as_u64().unwrap(), s["old"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(evs, vec![(2, 1), (0, 3)]);

    // Not a voicemail system: 403, nothing stored; a bad summary: 400; wrong type: 415.
    let mut alice = Ua::new(&srv, "alice");
    let r = publish(
        &mut alice,
        "bob",
        None,
        120,
        Some("Messages-Waiting: yes\r\nVoice-Message: 7/7\r\n"),
    );
    assert_eq!(r.status(), Some(403), "{r:?}");
    let r = publish(
        &mut pbx,
        "4711",
        None,
        120,
        Some("Voice-Message: 3/2 (5/0)\r\n"),
    );
    assert!(matches!(r.status(), Some(400)), "{r:?}");
    assert_eq!(pbx_counts(&mut bob), (0, 3, 0));
    let total = ok(bob.call("mwi", "get", json!({})))["total"].clone();
    assert_eq!(total["new"], 0, "{total}");
}
