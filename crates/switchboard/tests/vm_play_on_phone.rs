//! CAS `vm.play_on_phone` over the wire: the server calls the user's registered devices
//! with an SDP offer from the media engine and plays the message to the one that answers.
//!
//! Proves: without a named device every registered device rings; the first to answer gets
//! ACKed and hears the message (RTP carrying the message's 700 Hz tone), the other is
//! cancelled after its 180; the CAS request is `pending` and completes with `started: true`
//! once playback starts; the server hangs up after playback. A device that sends no
//! provisional is cancelled only once it does, even when that is after the playback ended.
//! A named device is the only one rung, and its 486 fails the request with that status.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::cas::ok;
use std::time::Duration;

use common::calls::expect_request;
use common::cas::CasClient;
use common::rtp::{RtpPeer, best_tone, media_addr, tone_wav_b64};
use common::{SILENCE, Server, ServerOpts, Ua, WAIT, sdp, token};
use serde_json::json;

const TONE: f64 = 700.0;

/// Starts a server, leaves bob a 1.5 s message of `TONE` from alice, registers two phones
/// of bob's. Returns (server, bob's CAS client, message id, phones).
fn setup(ports: u16) -> (Server, CasClient, i64, Ua, Ua) {
    let srv = Server::start(ServerOpts::config(&format!(
        "[media]\nport_min = {ports}\nport_max = {}\n",
        ports + 99
    )));
    let mut alice = CasClient::login(&srv, "alice");
    let bob = CasClient::login(&srv, "bob");
    let sent = ok(alice.call(
        "vm",
        "send",
        json!({"to": "bob", "audio": tone_wav_b64(TONE, 1.5)}),
    ));
    let id = sent["id"].as_i64().unwrap();
    let mut phones = Vec::new();
    for _ in 0..2 {
        let mut p = Ua::new(&srv, "bob");
        let c = format!("<{}>", p.contact_uri());
        assert_eq!(p.register(&[&c], Some(600)).status(), Some(200));
        phones.push(p);
    }
    let p2 = phones.pop().unwrap();
    let p1 = phones.pop().unwrap();
    (srv, bob, id, p1, p2)
}

fn invite(phone: &mut Ua) -> sip::Message {
    phone
        .recv_where(WAIT, |m| m.is_request() && m.method() == "INVITE")
        .unwrap_or_else(|| panic!("phone {} was not called", phone.contact_uri()))
}

/// `phone` answers the server's INVITE with `rtp`'s port and gets the ACK.
fn answer(phone: &mut Ua, inv: &sip::Message, rtp: &RtpPeer) {
    let contact = format!("<{}>", phone.contact_uri());
    phone.reply(
        inv,
        200,
        "OK",
        "p1",
        &[("Contact", &contact)],
        Some(&sdp("bob", rtp.port())),
    );
    expect_request(phone, "ACK", WAIT);
}

#[test]
fn every_device_rings_the_first_to_answer_hears_the_message() {
    let (_srv, mut bob, id, mut p1, mut p2) = setup(33_000);
    let r = ok(bob.call("vm", "play_on_phone", json!({"id": id})));
    assert_eq!(r["pending"], true, "{r}");

    let inv1 = invite(&mut p1);
    let inv2 = invite(&mut p2);
    assert_ne!(inv1.call_id(), inv2.call_id());
    let engine = media_addr(inv1.body());
    assert_eq!(
        media_addr(inv2.body()),
        engine,
        "one offer for every device"
    );

    // p2 rings; p1 answers with its RTP port.
    p2.reply(&inv2, 180, "Ringing", "p2", &[], None);
    let mut rtp = RtpPeer::new();
    answer(&mut p1, &inv1, &rtp);
    // The other device is cancelled (it had sent a provisional).
    let cancel = expect_request(&mut p2, "CANCEL", WAIT);
    assert_eq!(cancel.call_id(), inv2.call_id());
    p2.reply(&inv2, 487, "Request Terminated", "p2", &[], None);

    let done = bob.completion(&r["request_id"], Duration::from_secs(10));
    assert_eq!(done["response"], 0, "{done}");
    assert_eq!(done["started"], true, "{done}");

    // The message is what p1 hears.
    rtp.to = engine;
    rtp.send_tone(300.0, 100); // a phone sends too
    let (heard, packets) = rtp.listen(Duration::from_secs(4), Some(Duration::from_millis(500)));
    let share = best_tone(&heard, TONE);
    assert!(
        packets > 50 && share > 0.5,
        "the message was not played: {packets} packets, tone share {share:.2}"
    );
    // After playback the server hangs up.
    let bye = expect_request(&mut p1, "BYE", WAIT);
    assert_eq!(bye.call_id(), inv1.call_id());
}

/// A device that stays silent (no provisional) while another answers can only be cancelled
/// once it sends one (RFC 3261 §9.1): its 180, arriving after the playback ended and the
/// answering device was hung up, gets the CANCEL it was owed.
#[test]
fn a_silent_device_is_cancelled_when_its_late_provisional_comes() {
    let (_srv, mut bob, id, mut p1, mut p2) = setup(33_200);
    let r = ok(bob.call("vm", "play_on_phone", json!({"id": id})));
    let inv1 = invite(&mut p1);
    let inv2 = invite(&mut p2);
    let rtp = RtpPeer::new();
    answer(&mut p1, &inv1, &rtp);
    assert_eq!(
        bob.completion(&r["request_id"], Duration::from_secs(10))["started"],
        true
    );
    assert!(
        p2.recv_where(Duration::from_millis(200), |m| m.method() == "CANCEL")
            .is_none(),
        "CANCEL before any provisional (RFC 3261 §9.1)"
    );
    // The 1.5 s message is played, then p1 is hung up; p2 still has not said a word.
    let bye = expect_request(&mut p1, "BYE", Duration::from_secs(6));
    assert_eq!(bye.call_id(), inv1.call_id());
    p2.reply(&inv2, 180, "Ringing", "p2", &[], None);
    let cancel = expect_request(&mut p2, "CANCEL", WAIT);
    assert_eq!(cancel.call_id(), inv2.call_id());
    p2.reply(&inv2, 487, "Request Terminated", "p2", &[], None);
    let ack = expect_request(&mut p2, "ACK", WAIT);
    assert_eq!(ack.call_id(), inv2.call_id());
}

#[test]
fn a_named_device_that_is_busy_fails_the_request() {
    let (_srv, mut bob, id, mut p1, mut p2) = setup(33_100);
    let r = ok(bob.call(
        "vm",
        "play_on_phone",
        json!({"id": id, "device": p2.contact_uri()}),
    ));
    assert_eq!(r["pending"], true, "{r}");
    let inv = invite(&mut p2);
    p2.reply(&inv, 486, "Busy Here", &token("t"), &[], None);
    let done = bob.completion(&r["request_id"], Duration::from_secs(10));
    assert_ne!(done["response"], 0, "{done}");
    assert!(done.to_string().contains("486"), "{done}");
    assert!(
        p1.recv_where(SILENCE, |m| m.is_request() && m.method() == "INVITE")
            .is_none(),
        "a device that was not named was called"
    );
    // The message was not played: still unheard.
    let l = ok(bob.call("vm", "list", json!({})));
    assert_eq!(l["messages"][0]["heard"], false, "{l}");
}
