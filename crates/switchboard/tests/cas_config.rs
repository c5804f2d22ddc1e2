//! CAS `config` (call handling modes) against the real binary: the mode a user sets over the
//! API decides where SIP calls to them go, the menu follows the role's permissions, and the
//! choices survive a restart.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::calls::registered;
use common::cas::CasClient;
use common::cas::ok;
use common::{DOMAIN, Request, SILENCE, Server, Ua, WAIT, sdp, token};
use serde_json::{Value, json};
use sip::Message;

fn invite_to(ua: &mut Ua, callee: &str) -> Request {
    let uri = format!("sip:{callee}@{DOMAIN}");
    let contact = format!("<{}>", ua.contact_uri());
    let offer = sdp(&ua.user, 40000);
    ua.new_call();
    ua.request("INVITE", &uri, &format!("<{uri}>"))
        .header("Contact", &contact)
        .sdp(&offer)
}

/// The first event named `message` within a few long-polls.
fn event(client: &CasClient, message: &str) -> Value {
    client.event_where(Duration::from_secs(5), message, |e| e["message"] == message)
}

fn is_invite(m: &Message) -> bool {
    m.is_request() && m.method() == "INVITE"
}

/// alice calls bob; returns the INVITE that reached `rings` (declined there with 486, so
/// alice's call ends) and checks that `silent` got none.
fn call_bob_rings(alice: &mut Ua, rings: &mut Ua, silent: &mut Ua) -> Message {
    let inv = invite_to(alice, "bob");
    let inv = alice.send_authenticated(&inv, None);
    let forked = rings
        .recv_where(WAIT, is_invite)
        .unwrap_or_else(|| panic!("{} should ring", rings.user));
    rings.reply(&forked, 486, "Busy Here", &token("b"), &[], None);
    let resp = alice.final_response(&inv, WAIT).expect("final response");
    assert_eq!(resp.status(), Some(486));
    assert!(
        silent.recv_where(SILENCE, is_invite).is_none(),
        "{} must not ring",
        silent.user
    );
    forked
}

/// alice calls bob and gets `status` without any device ringing.
fn call_bob_refused(alice: &mut Ua, status: u16, bob: &mut Ua, carol: &mut Ua) -> Message {
    let inv = invite_to(alice, "bob");
    let inv = alice.send_authenticated(&inv, None);
    let resp = alice.final_response(&inv, WAIT).expect("final response");
    assert_eq!(resp.status(), Some(status), "{}", resp.reason());
    assert!(bob.recv_where(SILENCE, is_invite).is_none());
    assert!(carol.recv_where(SILENCE, is_invite).is_none());
    resp
}

#[test]
fn the_mode_routes_calls() {
    // Busy phones end the calls here: without voicemail, which would answer them.
    let mut srv = Server::start(common::ServerOpts::config(common::calls::NO_VOICEMAIL));
    let mut bob_ua = registered(&srv, "bob");
    let mut carol_ua = registered(&srv, "carol");
    let mut alice_ua = Ua::new(&srv, "alice");
    let mut bob = CasClient::login(&srv, "bob");
    // A second session of bob's, subscribed, hears of the changes.
    let mut bob2 = CasClient::login(&srv, "bob");
    let got = ok(bob2.call("config", "get", json!({"subscribe": true})));
    assert_eq!(got["mode"], "available");
    assert_eq!(got["forwarding"], json!({"action": "ring_devices"}));

    let r = ok(bob.call(
        "config",
        "configure",
        json!({"mode": "meeting", "action": "forward", "target": "carol"}),
    ));
    assert_eq!(r["forwarding"]["resolved"], format!("carol@{DOMAIN}"));
    let r = ok(bob.call("config", "set", json!({"mode": "meeting"})));
    assert_eq!(r["mode"], "meeting");
    assert_eq!(r["forwarding"]["target"], "carol");
    let changed = event(&bob2, "mode_changed");
    assert_eq!(changed["topic"], "config");
    assert_eq!(changed["mode"], "meeting");

    // In a meeting, forwarded to carol: carol's phone rings, bob's does not.
    let forked = call_bob_rings(&mut alice_ua, &mut carol_ua, &mut bob_ua);
    assert_eq!(forked.uri_str(), carol_ua.contact_uri());

    // Straight to voicemail, but voicemail is off: 480 (with it: interop_voicemail.rs).
    ok(bob.call(
        "config",
        "configure",
        json!({"mode": "meeting", "action": "voicemail"}),
    ));
    call_bob_refused(&mut alice_ua, 480, &mut bob_ua, &mut carol_ua);

    // A number that is no local user cannot be reached without a trunk.
    let r = ok(bob.call(
        "config",
        "configure",
        json!({"mode": "meeting", "action": "forward", "target": "5551234"}),
    ));
    assert!(r["forwarding"].get("resolved").is_none(), "{r}");
    let resp = call_bob_refused(&mut alice_ua, 480, &mut bob_ua, &mut carol_ua);
    assert_eq!(resp.reason(), "Forwarding Target Unreachable");

    // Back to available: bob's phone rings again.
    ok(bob.call("config", "set", json!({"mode": "available"})));
    call_bob_rings(&mut alice_ua, &mut bob_ua, &mut carol_ua);

    // A custom mode with a label, forwarding by SIP URI; kept across a restart.
    ok(bob.call(
        "config",
        "configure",
        json!({"mode": "custom", "action": "forward", "target": format!("sip:carol@{DOMAIN}")}),
    ));
    ok(bob.call("config", "set", json!({"mode": "custom", "label": "Gym"})));
    srv.restart();
    let mut bob = CasClient::login(&srv, "bob");
    let got = ok(bob.call("config", "get", json!({})));
    assert_eq!(
        (got["mode"].as_str(), got["label"].as_str()),
        (Some("custom"), Some("Gym"))
    );
    let modes = ok(bob.call("config", "modes", json!({})));
    let list = modes["modes"].as_array().unwrap();
    assert_eq!(list.len(), 5);
    let meeting = list.iter().find(|m| m["mode"] == "meeting").unwrap();
    assert_eq!(meeting["forwarding"]["target"], "5551234");
    // The same phones, re-registered with the new process.
    for ua in [&mut bob_ua, &mut carol_ua, &mut alice_ua] {
        ua.server = srv.addr;
    }
    for ua in [&mut bob_ua, &mut carol_ua] {
        let c = format!("<{}>", ua.contact_uri());
        assert_eq!(ua.register(&[&c], Some(600)).status(), Some(200));
    }
    call_bob_rings(&mut alice_ua, &mut carol_ua, &mut bob_ua);
}

#[test]
fn the_menu_follows_permissions() {
    let srv = Server::default_start();
    let mut bob = CasClient::login(&srv, "bob");
    let menu = ok(bob.call("config", "menu", json!({})));
    assert_eq!(
        menu["actions"],
        json!(["ring_devices", "forward", "voicemail"])
    );
    let modes: Vec<&str> = menu["modes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mode"].as_str().unwrap())
        .collect();
    assert_eq!(
        modes,
        [
            "available",
            "meeting",
            "out_of_office",
            "extended_absence",
            "custom"
        ]
    );

    // The administrator takes forwarding away from role user.
    let mut alice = CasClient::login(&srv, "alice");
    ok(alice.call(
        "admin",
        "revoke",
        json!({"role": "user", "action": "config.*"}),
    ));
    for action in ["config.read", "config.write", "config.voicemail"] {
        ok(alice.call("admin", "grant", json!({"role": "user", "action": action})));
    }

    let menu = ok(bob.call("config", "menu", json!({})));
    assert_eq!(menu["actions"], json!(["ring_devices", "voicemail"]));
    assert_eq!(menu["permissions"]["forward"], false);
    let r = bob.call(
        "config",
        "configure",
        json!({"mode": "meeting", "action": "forward", "target": "carol"}),
    );
    assert_eq!(r["response"], 403, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("config.forward"),
        "{r}"
    );
    ok(bob.call(
        "config",
        "configure",
        json!({"mode": "meeting", "action": "voicemail"}),
    ));
    // The administrator keeps every choice.
    let menu = ok(alice.call("config", "menu", json!({})));
    assert_eq!(menu["actions"].as_array().unwrap().len(), 3);

    // Read only: nothing to pick, and changes are refused.
    ok(alice.call(
        "admin",
        "revoke",
        json!({"role": "user", "action": "config.write"}),
    ));
    let menu = ok(bob.call("config", "menu", json!({})));
    assert_eq!(
        (menu["modes"].clone(), menu["actions"].clone()),
        (json!([]), json!([]))
    );
    let r = bob.call("config", "set", json!({"mode": "meeting"}));
    assert_eq!(r["response"], 403, "{r}");

    // Bad input names the problem.
    let r = alice.call("config", "set", json!({"mode": "asleep"}));
    assert_eq!(r["response"], 400);
    assert!(
        r["error"]["message"].as_str().unwrap().contains("asleep"),
        "{r}"
    );
}
