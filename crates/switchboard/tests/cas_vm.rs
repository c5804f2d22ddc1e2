//! CAS `vm` against the real binary: messages left through the API (send with an uploaded
//! WAV), then listed with per-message permissions, downloaded over HTTP (valid WAV, owner
//! only), marked, re-subjected, forwarded, replied to, deleted; live events to the owner;
//! PIN, greeting, the administrators' integrity check; play on phone (async completion).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::cas::ok;
use common::rtp::wav_files;
use std::time::Duration;

use common::cas::{CasClient, http};
use common::rtp::tone_wav_b64;
use common::{DOMAIN, Server, Ua, WAIT, token};
use serde_json::{Value, json};
use services::voicemail::wav;

fn code(r: &Value) -> u64 {
    r["response"].as_u64().unwrap()
}

/// The next `vm` event named `name` for `client` within a few long-polls.
fn vm_event(client: &CasClient, name: &str) -> Value {
    client.event_where(Duration::from_secs(5), &format!("vm {name}"), |e| {
        e["topic"] == "vm" && e["message"] == name
    })
}

fn messages(r: &Value) -> Vec<Value> {
    r["messages"].as_array().unwrap().clone()
}

#[test]
fn messages_over_cas() {
    let srv = Server::default_start();
    let mut alice = CasClient::login(&srv, "alice");
    let mut bob = CasClient::login(&srv, "bob");
    let mut carol = CasClient::login(&srv, "carol");

    let r = ok(bob.call("vm", "list", json!({"subscribe": true})));
    assert_eq!(messages(&r).len(), 0);
    assert_eq!(r["counts"], json!({"new": 0, "old": 0}));
    assert_eq!(
        (r["number"].as_str(), r["pin_set"].as_bool()),
        (Some("*98"), Some(false))
    );

    // alice leaves bob a message through the API.
    let sent = ok(alice.call(
        "vm",
        "send",
        json!({"to": "bob", "audio": tone_wav_b64(440.0, 2.0), "subject": "lunch"}),
    ));
    assert_eq!(sent["to"], format!("bob@{DOMAIN}"));
    let id = sent["id"].as_i64().unwrap();
    let ev = vm_event(&bob, "message_added");
    assert_eq!(ev["item"]["id"], id);

    let r = ok(bob.call("vm", "list", json!({"folder": "new"})));
    let m = &messages(&r)[0];
    assert_eq!(m["caller"], format!("alice@{DOMAIN}"));
    assert_eq!(m["called"], format!("bob@{DOMAIN}"));
    assert_eq!(
        (m["duration_ms"].as_i64(), m["heard"].as_bool()),
        (Some(2000), Some(false))
    );
    assert_eq!(m["subject"], "lunch");
    assert!(m["received_at"].as_i64().unwrap() > 1_600_000_000_000);
    assert_eq!(
        m["permissions"],
        json!({"play": true, "download": true, "forward": true, "reply": true,
               "edit_subject": true, "delete": true})
    );
    assert_eq!(r["counts"], json!({"new": 1, "old": 0}));
    assert_eq!(wav_files(&srv, "bob"), 1);

    // Download: a WAV, for the owner's session only.
    let d = ok(bob.call("vm", "download", json!({"id": id})));
    let url = d["url"].as_str().unwrap().to_owned();
    let auth = format!("Bearer {}", bob.token.clone().unwrap());
    let got = http(srv.http, "GET", &url, &[("Authorization", &auth)], b"");
    assert_eq!(got.status, 200);
    assert_eq!(got.content_type, "audio/wav");
    let info = wav::parse(&got.body, got.body.len() as u64).unwrap();
    assert_eq!((info.sample_rate, info.duration_ms()), (8000, 2000));
    let alice_auth = format!("Bearer {}", alice.token.clone().unwrap());
    let other = http(
        srv.http,
        "GET",
        &url,
        &[("Authorization", &alice_auth)],
        b"",
    );
    assert_eq!(other.status, 403);
    let bogus = http(srv.http, "GET", "/cas/file/vm/00ff", &[], b"");
    assert_eq!(bogus.status, 404);
    assert_eq!(code(&alice.call("vm", "download", json!({"id": id}))), 404);

    // Mark heard, edit the subject, move to saved.
    let r = ok(bob.call("vm", "mark", json!({"id": id, "heard": true})));
    assert_eq!(r["item"]["heard"], true);
    assert_eq!(vm_event(&bob, "message_changed")["item"]["heard"], true);
    let r = ok(bob.call(
        "vm",
        "edit_subject",
        json!({"id": id, "subject": "lunch at 1"}),
    ));
    assert_eq!(r["item"]["subject"], "lunch at 1");
    let r = ok(bob.call("vm", "mark", json!({"id": id, "folder": "saved"})));
    assert_eq!(r["item"]["folder"], "saved");
    let r = ok(bob.call("vm", "list", json!({"folder": "saved"})));
    assert_eq!(r["counts"], json!({"new": 0, "old": 1}));

    // Forward to carol: her own copy.
    let f = ok(bob.call("vm", "forward", json!({"id": id, "to": "carol"})));
    let r = ok(carol.call("vm", "list", json!({})));
    let c = &messages(&r)[0];
    assert_eq!(
        (c["id"].clone(), c["origin"].as_str()),
        (f["id"].clone(), Some("forward"))
    );
    assert_eq!(c["caller"], format!("alice@{DOMAIN}"));
    assert_eq!(wav_files(&srv, "carol"), 1);
    assert_eq!(
        code(&bob.call("vm", "forward", json!({"id": id, "to": "nobody"}))),
        404
    );

    // Reply: goes to alice (the caller is local).
    let rep = ok(bob.call(
        "vm",
        "reply",
        json!({"id": id, "audio": tone_wav_b64(440.0, 1.5)}),
    ));
    assert_eq!(rep["to"], format!("alice@{DOMAIN}"));
    let r = ok(alice.call("vm", "list", json!({})));
    let a = &messages(&r)[0];
    assert_eq!(
        (
            a["caller"].as_str(),
            a["subject"].as_str(),
            a["origin"].as_str()
        ),
        (
            Some(format!("bob@{DOMAIN}").as_str()),
            Some("Re: lunch at 1"),
            Some("reply")
        )
    );

    // Bad audio is refused and leaves nothing behind.
    let r = bob.call(
        "vm",
        "send",
        json!({"to": "alice", "audio": "bm90IGEgd2F2"}),
    );
    assert_eq!(code(&r), 415, "{r}");
    let r = bob.call(
        "vm",
        "send",
        json!({"to": "alice", "audio": tone_wav_b64(440.0, 0.3)}),
    );
    assert_eq!(code(&r), 400, "too short: {r}");
    let r = bob.call("vm", "send", json!({"to": "alice", "audio": "%%%"}));
    assert_eq!(code(&r), 400, "{r}");

    // Delete.
    let r = ok(bob.call("vm", "delete", json!({"id": id})));
    assert_eq!(r["deleted"], true);
    assert_eq!(vm_event(&bob, "message_deleted")["id"], id);
    assert_eq!(messages(&ok(bob.call("vm", "list", json!({})))).len(), 0);
    assert_eq!(wav_files(&srv, "bob"), 0);
    assert_eq!(code(&bob.call("vm", "delete", json!({"id": id}))), 404);
    let gone = http(srv.http, "GET", &url, &[("Authorization", &auth)], b"");
    assert_eq!(gone.status, 404, "the download died with the message");

    // PIN and greeting.
    assert_eq!(code(&bob.call("vm", "set_pin", json!({"pin": "12"}))), 400);
    ok(bob.call("vm", "set_pin", json!({"pin": "2580"})));
    assert_eq!(ok(bob.call("vm", "list", json!({})))["pin_set"], true);
    let g = ok(bob.call("vm", "greeting", json!({"audio": tone_wav_b64(440.0, 2.0)})));
    assert_eq!(g["greeting"], true);
    assert_eq!(ok(bob.call("vm", "list", json!({})))["greeting"], true);
    ok(bob.call("vm", "greeting", json!({})));
    assert_eq!(ok(bob.call("vm", "list", json!({})))["greeting"], false);

    // Integrity check: administrators only; the counts equal the files.
    assert_eq!(code(&bob.call("vm", "check", json!({}))), 403);
    let chk = ok(alice.call("vm", "check", json!({})));
    assert_eq!(chk["ok"], true, "{chk}");
    assert_eq!(chk["messages"], chk["files"]);
    assert_eq!(chk["messages"], 2, "carol's copy and alice's reply: {chk}");
}

#[test]
fn permissions_follow_the_role() {
    let srv = Server::default_start();
    let mut alice = CasClient::login(&srv, "alice");
    let mut bob = CasClient::login(&srv, "bob");
    let id = ok(alice.call(
        "vm",
        "send",
        json!({"to": "bob", "audio": tone_wav_b64(440.0, 1.5)}),
    ))["id"]
        .clone();
    // The administrator narrows the user role to reading and playing.
    for a in ["vm.forward", "vm.reply", "vm.edit", "vm.delete", "vm.send"] {
        ok(alice.call("admin", "revoke", json!({"role": "user", "action": a})));
    }
    let r = ok(bob.call("vm", "list", json!({})));
    assert_eq!(
        messages(&r)[0]["permissions"],
        json!({"play": true, "download": true, "forward": false, "reply": false,
               "edit_subject": false, "delete": false})
    );
    assert_eq!(code(&bob.call("vm", "delete", json!({"id": id}))), 403);
    assert_eq!(
        code(&bob.call("vm", "mark", json!({"id": id, "heard": true}))),
        403
    );
    assert_eq!(
        code(&bob.call(
            "vm",
            "send",
            json!({"to": "alice", "audio": tone_wav_b64(440.0, 1.5)})
        )),
        403
    );
    ok(bob.call("vm", "download", json!({"id": id})));
    ok(alice.call("admin", "grant", json!({"role": "user", "action": "vm.*"})));
    let r = ok(bob.call("vm", "list", json!({})));
    assert_eq!(messages(&r)[0]["permissions"]["reply"], true);
}

/// `play_on_phone` completes when the phone answered and playback started; without a
/// device it completes with an error.
#[test]
fn play_on_phone_completes_asynchronously() {
    let srv = Server::default_start();
    let mut alice = CasClient::login(&srv, "alice");
    let mut bob = CasClient::login(&srv, "bob");
    let id = ok(alice.call(
        "vm",
        "send",
        json!({"to": "bob", "audio": tone_wav_b64(440.0, 1.5)}),
    ))["id"]
        .as_i64()
        .unwrap();

    // No device registered: pending, then a failure completion.
    let r = ok(bob.call("vm", "play_on_phone", json!({"id": id})));
    assert_eq!(r["pending"], true);
    let done = bob.completion(&r["request_id"], Duration::from_secs(20));
    assert_ne!(done["response"], 0, "{done}");

    // A registered phone that answers: the completion says playback started.
    let mut phone = Ua::new(&srv, "bob");
    let c = format!("<{}>", phone.contact_uri());
    assert_eq!(phone.register(&[&c], Some(600)).status(), Some(200));
    let r = ok(bob.call("vm", "play_on_phone", json!({"id": id})));
    let invite = phone
        .recv_where(WAIT, |m| m.is_request() && m.method() == "INVITE")
        .expect("the server calls the phone");
    let contact = phone.contact_uri();
    let sdp = common::sdp("bob", 40_000);
    phone.reply(
        &invite,
        200,
        "OK",
        &token("t"),
        &[("Contact", &format!("<{contact}>"))],
        Some(&sdp),
    );
    let done = bob.completion(&r["request_id"], Duration::from_secs(20));
    assert_eq!(done["response"], 0, "{done}");
    assert_eq!(done["started"], true);
    let l = ok(bob.call("vm", "list", json!({})));
    assert_eq!(messages(&l)[0]["heard"], true, "played means heard");
}
