//! Media anchoring and media inactivity over the wire, with raw SIP UAs and RTP sockets.
//!
//! Proves: with `anchor = "always"` a late-offer call (INVITE without SDP; bob offers in the
//! 200, alice answers in the ACK) is anchored — neither phone sees the other's address and
//! RTP flows through the engine both ways; a re-INVITE that moves alice's media to another
//! socket is followed (bob's RTP reaches the new socket, not the old one); with
//! `inactivity_timeout`, an anchored call on which both phones stop sending is hung up (BYE
//! to both), and so is a voicemail call whose phone stops sending, while one that keeps
//! sending is not; a call on hold (`a=sendonly` re-INVITE) is not hung up however long it is
//! silent, until it is un-held.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::calls::registered;
use std::time::{Duration, Instant};

use common::calls::{ack, ack_with, call, connect, expect_request, in_dialog};
use common::rtp::{RtpPeer, media_addr, offer};
use common::{DOMAIN, Server, ServerOpts, Ua, WAIT, sdp};
use sip::Message;

fn invite_for(ua: &mut Ua) -> Message {
    ua.recv_where(WAIT, |m| m.is_request() && m.method() == "INVITE")
        .unwrap_or_else(|| panic!("{} got no INVITE", ua.user))
}

/// A re-INVITE from alice in the call `inv`/`ok` with `a_sdp`, answered by bob with `b_sdp`
/// and acknowledged on both sides; returns what bob got and alice's 200.
fn reinvite(
    (alice, inv, ok): (&mut Ua, &common::Request, &Message),
    bob: &mut Ua,
    a_sdp: &str,
    b_sdp: &str,
) -> (Message, Message) {
    let contact_a = format!("<{}>", alice.contact_uri());
    let reinv = in_dialog(alice, "INVITE", inv, ok)
        .header("Contact", &contact_a)
        .sdp(a_sdp);
    alice.send(&reinv);
    let b_reinv = invite_for(bob);
    let contact_b = format!("<{}>", bob.contact_uri());
    let b_tag = b_reinv.to().and_then(|t| t.tag()).unwrap().to_owned();
    bob.reply(
        &b_reinv,
        200,
        "OK",
        &b_tag,
        &[("Contact", &contact_b)],
        Some(b_sdp),
    );
    let ok2 = alice
        .recv_where(WAIT, |m| reinv.answered_by(m) && m.status() == Some(200))
        .expect("200 to the re-INVITE");
    let mut ack2 = in_dialog(alice, "ACK", inv, ok);
    ack2.cseq = reinv.cseq;
    alice.cseq -= 1;
    alice.send(&ack2);
    expect_request(bob, "ACK", WAIT);
    (b_reinv, ok2)
}

/// Packets `from` sends to `to` that `at` receives (20 ms tone, 300 ms).
fn relayed(from: &mut RtpPeer, to: std::net::SocketAddr, at: &RtpPeer) -> usize {
    from.to = to;
    from.send_tone(440.0, 300);
    at.listen(Duration::from_millis(300), Some(Duration::from_millis(150)))
        .1
}

#[test]
fn late_offer_is_anchored_and_a_reinvite_moves_the_media() {
    let srv = Server::start(ServerOpts::config(
        "[media]\nanchor = \"always\"\nport_min = 34000\nport_max = 34099\n",
    ));
    let mut bob = registered(&srv, "bob");
    let mut alice = Ua::new(&srv, "alice");
    let mut a_rtp = RtpPeer::new();
    let mut b_rtp = RtpPeer::new();

    // INVITE without SDP.
    alice.new_call();
    let uri = format!("sip:bob@{DOMAIN}");
    let contact_a = format!("<{}>", alice.contact_uri());
    let req = alice
        .request("INVITE", &uri, &format!("<{uri}>"))
        .header("Contact", &contact_a);
    let inv = alice.send_authenticated(&req, None);
    let incoming = invite_for(&mut bob);
    assert!(incoming.body().is_empty(), "bob got an offer nobody made");
    let contact_b = format!("<{}>", bob.contact_uri());
    bob.reply(
        &incoming,
        200,
        "OK",
        "bobtag",
        &[("Contact", &contact_b)],
        Some(&sdp("bob", b_rtp.port())),
    );
    let ok = alice
        .recv_where(WAIT, |m| inv.answered_by(m) && m.status() == Some(200))
        .expect("200 to alice");
    let engine_a = media_addr(ok.body());
    assert_ne!(
        engine_a.port(),
        b_rtp.port(),
        "alice was given bob's address"
    );
    ack_with(&mut alice, &inv, &ok, Some(&sdp("alice", a_rtp.port())));
    let b_ack = expect_request(&mut bob, "ACK", WAIT);
    let engine_b = media_addr(b_ack.body());
    assert_ne!(
        engine_b.port(),
        a_rtp.port(),
        "bob was given alice's address"
    );
    assert!(relayed(&mut a_rtp, engine_a, &b_rtp) >= 5, "alice → bob");
    assert!(relayed(&mut b_rtp, engine_b, &a_rtp) >= 5, "bob → alice");

    // alice moves her media to another socket.
    let mut a2_rtp = RtpPeer::new();
    let (b_reinv, ok2) = reinvite(
        (&mut alice, &inv, &ok),
        &mut bob,
        &sdp("alice", a2_rtp.port()).replace("1 1 IN", "1 2 IN"),
        &sdp("bob", b_rtp.port()),
    );
    assert_eq!(
        media_addr(b_reinv.body()),
        engine_b,
        "bob keeps the engine's address"
    );
    assert_eq!(media_addr(ok2.body()), engine_a);
    assert!(
        relayed(&mut b_rtp, engine_b, &a2_rtp) >= 5,
        "bob → alice's new socket"
    );
    assert_eq!(
        a_rtp.listen(Duration::from_millis(200), None).1,
        0,
        "media still went to the old socket"
    );
    assert!(
        relayed(&mut a2_rtp, engine_a, &b_rtp) >= 5,
        "alice's new socket → bob"
    );
}

#[test]
fn silent_calls_are_hung_up_after_the_inactivity_timeout() {
    let srv = Server::start(ServerOpts::config(
        "[media]\nanchor = \"always\"\ninactivity_timeout = 1\nport_min = 34100\nport_max = 34199\n",
    ));
    let mut bob = registered(&srv, "bob");
    let mut alice = Ua::new(&srv, "alice");
    let mut a_rtp = RtpPeer::new();
    let mut b_rtp = RtpPeer::new();

    // An anchored call: media flows, then both phones vanish.
    let (inv, ok, incoming) = connect(
        &mut alice,
        &mut bob,
        &sdp("alice", a_rtp.port()),
        &sdp("bob", b_rtp.port()),
    );
    a_rtp.to = media_addr(ok.body());
    b_rtp.to = media_addr(incoming.body());
    // Traffic for longer than the timeout keeps the call up.
    for _ in 0..4 {
        a_rtp.send_tone(440.0, 200);
        b_rtp.send_tone(440.0, 200);
    }
    assert!(
        alice
            .recv_where(Duration::from_millis(50), |m| m.method() == "BYE")
            .is_none(),
        "hung up while media flowed"
    );
    let quiet = Instant::now();
    let bye_a = expect_request(&mut alice, "BYE", Duration::from_secs(3));
    expect_request(&mut bob, "BYE", WAIT);
    assert!(
        quiet.elapsed() >= Duration::from_millis(700),
        "hung up too early"
    );
    assert_eq!(bye_a.call_id(), Some(inv.call_id.as_str()));

    // A voicemail call (the mailbox number) whose phone stops sending.
    let mut vm_rtp = RtpPeer::new();
    let (vinv, vok) = call(
        &mut bob,
        &format!("sip:*98@{DOMAIN}"),
        &offer(vm_rtp.port()),
        WAIT,
    );
    ack(&mut bob, &vinv, &vok);
    vm_rtp.to = media_addr(vok.body());
    vm_rtp.send_tone(440.0, 1500);
    assert!(
        bob.recv_where(Duration::from_millis(50), |m| m.method() == "BYE")
            .is_none(),
        "hung up while the phone was sending"
    );
    let quiet = Instant::now();
    let bye = expect_request(&mut bob, "BYE", Duration::from_secs(3));
    assert_eq!(bye.call_id(), Some(vinv.call_id.as_str()));
    assert!(
        quiet.elapsed() >= Duration::from_millis(700),
        "hung up too early"
    );
}

/// Hold (RFC 3264 §8.4): a call held with `a=sendonly` stays up however long the phones
/// are silent; once un-held (`sendrecv` both ways), silence hangs it up again.
#[test]
fn held_calls_are_not_hung_up_until_unheld_and_silent() {
    let srv = Server::start(ServerOpts::config(
        "[media]\nanchor = \"always\"\ninactivity_timeout = 1\nport_min = 34300\nport_max = 34399\n",
    ));
    let mut bob = registered(&srv, "bob");
    let mut alice = Ua::new(&srv, "alice");
    let a_rtp = RtpPeer::new();
    let b_rtp = RtpPeer::new();
    let with = |who: &str, port: u16, version: u32, dir: &str| {
        sdp(who, port).replace("1 1 IN", &format!("1 {version} IN")) + &format!("a={dir}\r\n")
    };

    let (inv, ok, _) = connect(
        &mut alice,
        &mut bob,
        &sdp("alice", a_rtp.port()),
        &sdp("bob", b_rtp.port()),
    );

    // alice holds; bob answers recvonly; nobody sends anything for 2.5 timeouts.
    let (b_reinv, _) = reinvite(
        (&mut alice, &inv, &ok),
        &mut bob,
        &with("alice", a_rtp.port(), 2, "sendonly"),
        &with("bob", b_rtp.port(), 2, "recvonly"),
    );
    assert!(
        String::from_utf8_lossy(b_reinv.body()).contains("a=sendonly"),
        "the hold did not reach bob"
    );
    let bye = |ua: &mut Ua, wait| ua.recv_where(wait, |m| m.method() == "BYE");
    assert!(
        bye(&mut alice, Duration::from_millis(2500)).is_none()
            && bye(&mut bob, Duration::from_millis(10)).is_none(),
        "a held call was hung up for silence"
    );

    // Un-held and still silent: hung up after the timeout.
    reinvite(
        (&mut alice, &inv, &ok),
        &mut bob,
        &with("alice", a_rtp.port(), 3, "sendrecv"),
        &with("bob", b_rtp.port(), 3, "sendrecv"),
    );
    let quiet = Instant::now();
    let bye_a = expect_request(&mut alice, "BYE", Duration::from_secs(3));
    expect_request(&mut bob, "BYE", WAIT);
    assert!(
        quiet.elapsed() >= Duration::from_millis(700),
        "hung up too early after the un-hold"
    );
    assert_eq!(bye_a.call_id(), Some(inv.call_id.as_str()));
}

/// Opus (RFC 7587) offered by a phone: an anchored call passes it to the callee untouched
/// (only the address changes). IVR legs answering Opus: tests/media_opus.rs.
#[test]
fn opus_passes_through_anchoring() {
    let srv = Server::start(ServerOpts::config(
        "[media]\nanchor = \"always\"\nport_min = 34200\nport_max = 34299\n",
    ));
    let mut bob = registered(&srv, "bob");
    let mut alice = Ua::new(&srv, "alice");
    let opus = "v=0\r\no=- 7 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40100 RTP/AVP 111 110\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\na=rtpmap:110 telephone-event/48000\r\na=ptime:20\r\n";
    alice.new_call();
    let uri = format!("sip:bob@{DOMAIN}");
    let contact_a = format!("<{}>", alice.contact_uri());
    let req = alice
        .request("INVITE", &uri, &format!("<{uri}>"))
        .header("Contact", &contact_a)
        .sdp(opus);
    let inv = alice.send_authenticated(&req, None);
    let incoming = invite_for(&mut bob);
    let body = String::from_utf8_lossy(incoming.body()).into_owned();
    assert!(
        body.contains("RTP/AVP 111 110\r\n")
            && body.contains("a=rtpmap:111 opus/48000/2\r\n")
            && body.contains("a=fmtp:111 useinbandfec=1\r\n"),
        "{body}"
    );
    assert_ne!(
        media_addr(incoming.body()).port(),
        40100,
        "bob was given alice's port"
    );
    bob.reply(&incoming, 486, "Busy Here", "bobtag", &[], None);
    let _ = alice.final_response(&inv, WAIT);
}
