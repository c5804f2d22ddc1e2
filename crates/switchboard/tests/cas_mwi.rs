//! CAS `mwi` against the real binary: an external voicemail system configured with the CLI
//! reports over CAS with its system credential; the user's sessions (WebSocket and
//! long-poll) see every system side by side with ANI/DNIS/time; other users may not report
//! (403); a client that was offline gets the missed notices at login, also after a restart;
//! activation switches ours off and sends the command to an external system.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::cas::ok;
use std::time::{Duration, Instant};

use common::cas::{CasClient, ws_connect, ws_recv_where, ws_send};
use common::{DOMAIN, Server, Ua, WAIT, token};
use serde_json::{Value, json};

const PBX_PASSWORD: &str = "pbx-secret-1";
/// 2026-11-05T10:42:00Z in Unix ms.
const AT: i64 = 1_793_875_320_000;

/// A `pbx` system account reporting over CAS for bob (mailbox 4711); waits until the
/// running server sees it in bob's profile.
fn configure(srv: &Server, bob: &mut CasClient) {
    srv.cli(&[
        "user",
        "--domain",
        DOMAIN,
        "add",
        "pbx",
        "--password",
        PBX_PASSWORD,
    ]);
    srv.cli(&[
        "mwi",
        "--domain",
        DOMAIN,
        "system",
        "add",
        "pbx",
        "--kind",
        "cas",
        "--account",
        "pbx",
        "--label",
        "PBX",
        "--activation",
        "send",
    ]);
    srv.cli(&[
        "mwi",
        "--domain",
        DOMAIN,
        "assign",
        "bob",
        "--system",
        "pbx",
        "--mailbox",
        "4711",
    ]);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = ok(bob.call("mwi", "systems", json!({})));
        if r["systems"].as_array().unwrap().len() == 2 {
            assert_eq!(r["systems"][0]["system"], "local");
            assert_eq!(r["systems"][1]["mailbox"], "4711");
            assert_eq!(r["delivery"]["cas"], true);
            return;
        }
        assert!(Instant::now() < deadline, "profile not reloaded: {r}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn report(new: u64, old: u64) -> Value {
    json!({
        "user": "4711", "new": new, "old": old, "urgent_new": 1,
        "messages": [
            {"id": "m1", "at": "2026-11-05T10:42:00Z", "ani": "sip:1001@pbx.example", "dnis": "2000"},
            {"id": "m2", "at": AT + 60_000, "ani": "1002", "dnis": "2000", "urgent": true},
        ],
    })
}

fn system<'a>(view: &'a Value, name: &str) -> &'a Value {
    view["systems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["system"] == name)
        .unwrap_or_else(|| panic!("no system {name} in {view}"))
}

#[test]
fn system_reports_reach_every_session_with_details() {
    let srv = Server::default_start();
    let mut ws = ws_connect(&srv, "/cas/ws");
    ws_send(
        &mut ws,
        &json!({"topic":"session","message":"login","user":"bob","password":srv.password("bob")}),
    );
    assert!(ws_recv_where(&mut ws, |v| v["response"] == 0).is_some());
    let mut bob = CasClient::login(&srv, "bob");
    configure(&srv, &mut bob);
    // The profile change itself was announced; drain it.
    ws_recv_where(&mut ws, |v| v["message"] == "changed").expect("profile change");
    bob.events_named("mwi", "changed", 1);

    let mut pbx = CasClient::login_with(&srv, "pbx", PBX_PASSWORD);
    let r = ok(pbx.call("mwi", "report", report(2, 1)));
    assert_eq!(r["user"], format!("bob@{DOMAIN}"));
    assert_eq!(r["system"], "pbx");
    assert_eq!(r["total"]["new"], 2);

    // Both of bob's sessions, without subscribing.
    let ev = ws_recv_where(&mut ws, |v| v["message"] == "changed").expect("ws event");
    assert_eq!(ev["topic"], "mwi");
    assert_eq!(ev["changed"], "pbx");
    assert_eq!(ev["waiting"], true);
    let p = system(&ev, "pbx");
    assert_eq!(
        (
            p["new"].as_u64(),
            p["old"].as_u64(),
            p["urgent_new"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    assert_eq!(p["messages"][0]["ani"], "1001");
    assert_eq!(p["messages"][0]["dnis"], "2000");
    assert_eq!(p["messages"][0]["at"], AT);
    assert_eq!(p["messages"][1]["urgent"], true);
    let ev = &bob.events_named("mwi", "changed", 1)[0];
    assert_eq!(system(ev, "pbx")["messages"][1]["ani"], "1002");

    // The combined view: ours and the PBX side by side, and the total.
    let v = ok(bob.call("mwi", "get", json!({})));
    assert_eq!(system(&v, "local")["new"], 0);
    assert_eq!(system(&v, "pbx")["label"], "PBX");
    assert_eq!(
        v["total"],
        json!({"new": 2, "old": 1, "urgent_new": 1, "urgent_old": 0})
    );

    // Only the system account reports, only for users it serves.
    let mut alice = CasClient::login(&srv, "alice");
    assert_eq!(alice.call("mwi", "report", report(1, 0))["response"], 403);
    assert_eq!(
        bob.call("mwi", "report", json!({"user": "bob", "new": 9}))["response"],
        403
    );
    assert_eq!(
        pbx.call("mwi", "report", json!({"user": "carol", "new": 1}))["response"],
        404
    );
    let bad = json!({"user": "4711", "new": 1, "urgent_new": 2});
    assert_eq!(pbx.call("mwi", "report", bad)["response"], 400);
    // None of that changed bob's view.
    assert_eq!(ok(bob.call("mwi", "get", json!({})))["total"]["new"], 2);
}

#[test]
fn offline_client_gets_notices_at_login_across_a_restart() {
    let mut srv = Server::default_start();
    let mut bob = CasClient::login(&srv, "bob");
    configure(&srv, &mut bob);
    ok(bob.call("session", "logout", json!({})));
    let mut pbx = CasClient::login_with(&srv, "pbx", PBX_PASSWORD);
    ok(pbx.call("mwi", "report", json!({"user": "4711", "new": 1})));
    ok(pbx.call("mwi", "report", report(2, 0)));

    srv.restart();

    let bob = CasClient::login(&srv, "bob");
    let evs = bob.events_named("mwi", "changed", 2);
    let got: Vec<(u64, bool)> = evs
        .iter()
        .map(|e| (e["total"]["new"].as_u64().unwrap(), e["stored"] == true))
        .collect();
    assert_eq!(got, [(1, true), (2, true)]);
    assert_eq!(system(&evs[1], "pbx")["messages"][0]["ani"], "1001");
    // Delivered once: the next login brings nothing.
    let again = CasClient::login(&srv, "bob");
    assert!(again.events(1).iter().all(|e| e["topic"] != "mwi"));
    let mut bob = bob;
    assert_eq!(ok(bob.call("mwi", "get", json!({})))["total"]["new"], 2);
}

#[test]
fn activate_and_deactivate() {
    let srv = Server::default_start();
    let mut bob = CasClient::login(&srv, "bob");
    configure(&srv, &mut bob);
    // The PBX's own device, which receives activation commands.
    let mut pbx_phone = Ua::new(&srv, "pbx");
    pbx_phone.password = PBX_PASSWORD.into();
    let c = format!("<{}>", pbx_phone.contact_uri());
    let deadline = Instant::now() + Duration::from_secs(5);
    while pbx_phone.register(&[&c], Some(600)).status() != Some(200) {
        assert!(
            Instant::now() < deadline,
            "the pbx account never registered"
        );
        std::thread::sleep(Duration::from_millis(200));
        pbx_phone.new_call();
    }
    let mut pbx = CasClient::login_with(&srv, "pbx", PBX_PASSWORD);
    ok(pbx.call("mwi", "report", report(2, 1)));

    // External system: the command is sent to the system's device and recorded.
    let r = ok(bob.call("mwi", "deactivate", json!({"system": "pbx"})));
    assert_eq!(
        (r["active"].clone(), r["sent"].clone()),
        (json!(false), json!(true))
    );
    let m = pbx_phone
        .recv_where(WAIT, |m| m.is_request() && m.method() == "MESSAGE")
        .expect("activation command");
    pbx_phone.reply(&m, 200, "OK", &token("t"), &[], None);
    assert_eq!(
        String::from_utf8_lossy(m.body()),
        format!("mwi deactivate mailbox=4711 user=bob@{DOMAIN}")
    );
    let v = ok(bob.call("mwi", "get", json!({})));
    assert_eq!(system(&v, "pbx")["active"], false);
    assert_eq!(v["total"]["new"], 0);
    assert_eq!(v["waiting"], false);

    ok(bob.call("mwi", "activate", json!({"system": "pbx"})));
    assert_eq!(ok(bob.call("mwi", "get", json!({})))["total"]["new"], 2);
    // Ours: honoured (shown inactive), recorded only.
    let r = ok(bob.call("mwi", "deactivate", json!({"system": "local"})));
    assert_eq!(r["sent"], false);
    let v = ok(bob.call("mwi", "systems", json!({})));
    assert_eq!(system(&v, "local")["active"], false);
    // Not for someone else, not for a system outside the profile.
    let r = bob.call(
        "mwi",
        "deactivate",
        json!({"system": "local", "user": "alice"}),
    );
    assert_eq!(r["response"], 403);
    let mut alice = CasClient::login(&srv, "alice");
    assert_eq!(
        alice.call("mwi", "deactivate", json!({"system": "pbx"}))["response"],
        404
    );
    assert_eq!(
        alice.call("mwi", "activate", json!({"system": "nope"}))["response"],
        404
    );
}

/// The profile (`mwi.systems`) lists the user's voicemail systems and their clients: each
/// registered SIP device (user agent, transport, classes, remaining time — never its
/// address) and the number of live CAS sessions; both follow registrations, logins and
/// logouts. Each user sees only their own.
#[test]
fn profile_lists_systems_and_clients() {
    let srv = Server::default_start();
    let mut bob = CasClient::login(&srv, "bob");
    configure(&srv, &mut bob);
    let mut desk = Ua::new(&srv, "bob");
    desk.user_agent = Some("DeskPhone/1.0".into());
    let mut soft = Ua::new(&srv, "bob");
    soft.user_agent = Some("Softphone/2.3".into());
    let mut addrs = Vec::new();
    for ua in [&mut desk, &mut soft] {
        let c = format!("<{}>", ua.contact_uri());
        assert_eq!(ua.register(&[&c], Some(600)).status(), Some(200));
        addrs.push(ua.local().to_string());
        addrs.push(ua.contact_uri());
    }
    let mut second = CasClient::login(&srv, "bob");

    // Registrations reach the store write-behind: poll.
    let profile = |bob: &mut CasClient, devices: usize, sessions: u64| {
        let deadline = Instant::now() + WAIT;
        loop {
            let r = ok(bob.call("mwi", "systems", json!({})));
            let c = &r["clients"];
            if c["sip_devices"].as_array().unwrap().len() == devices
                && c["cas_sessions"] == sessions
            {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "clients never became {devices}/{sessions}: {r}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let r = profile(&mut bob, 2, 2);
    assert_eq!(r["systems"].as_array().unwrap().len(), 2, "{r}");
    let devices = r["clients"]["sip_devices"].as_array().unwrap();
    let agents: Vec<&str> = devices
        .iter()
        .map(|d| d["user_agent"].as_str().unwrap())
        .collect();
    assert_eq!(agents, ["DeskPhone/1.0", "Softphone/2.3"], "{r}");
    for d in devices {
        assert_eq!(d["transport"], "udp", "{r}");
        let left = d["expires_in"].as_i64().unwrap();
        assert!((500..=600).contains(&left), "{r}");
    }
    // No contact URI or source address anywhere in the profile.
    let text = r.to_string();
    for a in &addrs {
        assert!(!text.contains(a.as_str()), "{a} leaked: {text}");
    }

    // An unregistered device and an ended session leave the list.
    let c = format!("<{}>", soft.contact_uri());
    assert_eq!(soft.register(&[&c], Some(0)).status(), Some(200));
    ok(second.call("session", "logout", json!({})));
    let r = profile(&mut bob, 1, 1);
    assert_eq!(
        r["clients"]["sip_devices"][0]["user_agent"],
        "DeskPhone/1.0"
    );

    // Alice's profile: her own (no devices, one session), never bob's.
    let mut alice = CasClient::login(&srv, "alice");
    let r = profile(&mut alice, 0, 1);
    assert_eq!(r["systems"].as_array().unwrap().len(), 1, "{r}");
}
