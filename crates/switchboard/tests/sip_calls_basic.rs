//! Basic request handling and two-party calls through the B2BUA, against the real binary
//! (RFC 3261 §8.2, §9, §13, §15, §16.3).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::calls::{cancel_of, is_request, registered};
use common::{DOMAIN, Request, SILENCE, Server, ServerOpts, Ua, WAIT, options, sdp, token};
use sip::HeaderName;

fn invite_to(ua: &mut Ua, callee: &str) -> Request {
    let uri = format!("sip:{callee}@{DOMAIN}");
    let contact = format!("<{}>", ua.contact_uri());
    ua.request("INVITE", &uri, &format!("<{uri}>"))
        .header("Contact", &contact)
}

#[test]
fn options_to_the_server() {
    let srv = Server::default_start();
    let mut ua = Ua::new(&srv, "alice");
    let o = options(&mut ua);
    let resp = ua.transact(&o);
    assert_eq!(resp.status(), Some(200));
    let allow = resp.header_values(HeaderName::Allow);
    for m in ["INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER"] {
        assert!(allow.contains(&m), "Allow lacks {m}: {allow:?}");
    }
    // §8.2.6.2: Via copied with received/rport, To tagged, Call-ID and CSeq echoed.
    let via = resp.top_via().unwrap();
    assert_eq!(via.branch(), Some(o.branch.as_str()));
    assert_eq!(
        via.param("rport"),
        Some(ua.local().port().to_string().as_str())
    );
    assert!(resp.to().unwrap().tag().is_some());
    assert_eq!(resp.call_id(), Some(o.call_id.as_str()));
}

#[test]
fn request_checks() {
    let srv = Server::start(ServerOpts::config(common::calls::NO_VOICEMAIL));
    let mut ua = Ua::new(&srv, "alice");

    // No credentials: 407 with one Proxy-Authenticate row (MD5 only by default).
    let inv = invite_to(&mut ua, "bob");
    let resp = ua.transact(&inv);
    assert_eq!(resp.status(), Some(407));
    let ch = common::challenges(&resp);
    assert_eq!(ch.len(), 1, "{ch:?}");
    assert_eq!(
        (ch[0].algorithm.as_str(), ch[0].realm.as_str()),
        ("MD5", DOMAIN)
    );
    assert!(resp.header(HeaderName::WwwAuthenticate).is_none());

    // The other methods that need a local identity are challenged with 407 too.
    for method in ["MESSAGE", "SUBSCRIBE", "PUBLISH", "REFER"] {
        let uri = format!("sip:bob@{DOMAIN}");
        let mut r = ua.request(method, &uri, &format!("<{uri}>"));
        if method != "MESSAGE" {
            r = r.header("Event", "presence");
        }
        let resp = ua.transact(&r);
        assert_eq!(resp.status(), Some(407), "{method}");
        assert_eq!(common::challenges(&resp).len(), 1, "{method}");
    }

    // Authenticated INVITE to a user that does not exist: 404.
    let inv = invite_to(&mut ua, "nobody");
    assert_eq!(ua.authenticated(&inv, None).status(), Some(404));
    // To a user without a registration: 480.
    let inv = invite_to(&mut ua, "carol");
    assert_eq!(ua.authenticated(&inv, None).status(), Some(480));

    // tel: Request-URI: 416 (no authentication needed to say so).
    let inv = ua.request("INVITE", "tel:+15551234567", "<tel:+15551234567>");
    assert_eq!(ua.transact(&inv).status(), Some(416));

    // Unknown extension required: 420 naming it.
    let inv = invite_to(&mut ua, "bob").header("Require", "foo");
    let resp = ua.transact(&inv);
    assert_eq!(resp.status(), Some(420));
    assert_eq!(resp.header_values(HeaderName::Unsupported), ["foo"]);

    // Max-Forwards 0 towards a user: 483.
    let mut inv = invite_to(&mut ua, "bob");
    inv.max_forwards = Some(0);
    assert_eq!(ua.transact(&inv).status(), Some(483));
    // ... but OPTIONS to the server itself with Max-Forwards 0 is answered (§11).
    let mut o = options(&mut ua);
    o.max_forwards = Some(0);
    assert_eq!(ua.transact(&o).status(), Some(200));

    // SIP/7.0: 505.
    let o = options(&mut ua);
    let text = String::from_utf8(o.bytes())
        .unwrap()
        .replacen("SIP/2.0\r\n", "SIP/7.0\r\n", 1);
    ua.send_raw(text.as_bytes());
    let resp = ua.final_response(&o, WAIT).expect("505 expected");
    assert_eq!(resp.status(), Some(505));

    // Unparsable requests with the rows a response needs: 400.
    for (from, to) in [
        ("Max-Forwards: 70", "Max-Forwards: seventy"),
        ("Content-Length: 0", "Content-Length: 10"),
        (" OPTIONS\r\n", " INVITE\r\n"),
    ] {
        let o = options(&mut ua);
        let text = String::from_utf8(o.bytes()).unwrap().replacen(from, to, 1);
        ua.send_raw(text.as_bytes());
        let resp = ua
            .recv_where(WAIT, |m| m.cseq().is_some_and(|c| c.seq == o.cseq))
            .unwrap_or_else(|| panic!("400 expected for {to:?}"));
        assert_eq!(resp.status(), Some(400), "{to:?}");
    }

    // Unknown method: 405 with Allow.
    let mut r = ua.request(
        "FROBNICATE",
        &format!("sip:{DOMAIN}"),
        &format!("<sip:{DOMAIN}>"),
    );
    r.max_forwards = Some(70);
    let resp = ua.transact(&r);
    assert_eq!(resp.status(), Some(405));
    assert!(resp.header(HeaderName::Allow).is_some());
}

#[test]
fn garbage_does_not_hurt() {
    let srv = Server::default_start();
    let mut ua = Ua::new(&srv, "alice");
    for junk in [
        &b"\x00\x01\x02garbage\xff\xfe"[..],
        b"INVITE\r\n\r\n",
        b"SIP/2.0 200 OK\r\n\r\n",
        b"OPTIONS sip:x SIP/2.0\r\nVia: nonsense\r\n\r\n",
        &[b'A'; 70_000][..60_000],
    ] {
        ua.send_raw(junk);
    }
    // Nothing comes back for rowless garbage ...
    assert!(ua.recv(Duration::from_millis(300)).is_none());
    // ... and the server still answers.
    let o = options(&mut ua);
    assert_eq!(ua.transact(&o).status(), Some(200));
}

/// bob registered on his own socket; alice ready to call. Returns (alice, bob).
fn two_parties(srv: &Server) -> (Ua, Ua) {
    let bob = registered(srv, "bob");
    let alice = Ua::new(srv, "alice");
    (alice, bob)
}

#[test]
fn call_answer_ack_bye() {
    let srv = Server::default_start();
    let (mut alice, mut bob) = two_parties(&srv);
    let offer = sdp("alice", 40000);
    let answer = sdp("bob", 50000);

    let inv = invite_to(&mut alice, "bob").sdp(&offer);
    let inv = alice.send_authenticated(&inv, None);

    // bob gets the forked INVITE on his registered contact, with alice's offer.
    let forked = bob
        .recv_where(WAIT, |m| is_request(m, "INVITE"))
        .expect("bob should get the INVITE");
    assert_eq!(forked.uri_str(), bob.contact_uri());
    assert_eq!(forked.body(), offer.as_bytes());
    assert!(forked.to().unwrap().tag().is_none());
    assert_eq!(forked.max_forwards(), Some(69));
    let from = forked.from().unwrap();
    assert_eq!(from.uri.raw(), format!("sip:alice@{DOMAIN}"));

    let btag = token("b");
    let bob_contact = format!("<{}>", bob.contact_uri());
    bob.reply(&forked, 180, "Ringing", &btag, &[], None);
    let ringing = alice.next_response(&inv, WAIT).expect("180 expected");
    assert_eq!(ringing.status(), Some(180));
    let a_tag = ringing.to().unwrap().tag().unwrap().to_owned();

    bob.reply(
        &forked,
        200,
        "OK",
        &btag,
        &[("Contact", &bob_contact)],
        Some(&answer),
    );
    let ok = alice
        .recv_where(WAIT, |m| inv.answered_by(m) && m.status() == Some(200))
        .expect("200 expected");
    assert_eq!(ok.body(), answer.as_bytes());
    assert_eq!(ok.to().unwrap().tag(), Some(a_tag.as_str()));
    let server_contact = match ok.contacts().first() {
        Some(sip::ContactValue::Addr(a)) => a.uri.raw().to_owned(),
        other => panic!("200 without Contact: {other:?}"),
    };
    let to_with_tag = ok.header(HeaderName::To).unwrap().to_owned();

    // ACK for the 2xx: a new transaction to the Contact of the 200 (§13.2.2.4).
    let mut ack = alice.request("ACK", &server_contact, &to_with_tag);
    ack.cseq = inv.cseq;
    alice.cseq -= 1;
    alice.send(&ack);
    let b_ack = bob
        .recv_where(WAIT, |m| is_request(m, "ACK"))
        .expect("bob should get the ACK");
    assert_eq!(b_ack.call_id(), forked.call_id());
    assert_eq!(b_ack.cseq().unwrap().seq, forked.cseq().unwrap().seq);
    assert_eq!(b_ack.to().unwrap().tag(), Some(btag.as_str()));
    assert_eq!(b_ack.uri_str(), bob.contact_uri());

    // alice hangs up.
    let bye = alice.request("BYE", &server_contact, &to_with_tag);
    alice.send(&bye);
    let b_bye = bob
        .recv_where(WAIT, |m| is_request(m, "BYE"))
        .expect("bob should get the BYE");
    assert_eq!(b_bye.call_id(), forked.call_id());
    assert_eq!(b_bye.to().unwrap().tag(), Some(btag.as_str()));
    assert!(b_bye.cseq().unwrap().seq > forked.cseq().unwrap().seq);
    bob.reply(&b_bye, 200, "OK", &btag, &[], None);
    let resp = alice.final_response(&bye, WAIT).expect("200 for BYE");
    assert_eq!(resp.status(), Some(200));

    // The dialog is gone: another BYE is 481.
    let bye2 = alice.request("BYE", &server_contact, &to_with_tag);
    assert_eq!(alice.transact(&bye2).status(), Some(481));
}

#[test]
fn cancel_before_answer() {
    let srv = Server::default_start();
    let (mut alice, mut bob) = two_parties(&srv);
    let inv = invite_to(&mut alice, "bob").sdp(&sdp("alice", 40000));
    let inv = alice.send_authenticated(&inv, None);
    let forked = bob
        .recv_where(WAIT, |m| is_request(m, "INVITE"))
        .expect("bob should get the INVITE");
    let btag = token("b");
    bob.reply(&forked, 180, "Ringing", &btag, &[], None);
    assert_eq!(alice.next_response(&inv, WAIT).unwrap().status(), Some(180));

    // CANCEL: same branch, Request-URI, From, To, Call-ID and CSeq number (§9.1).
    let cancel = cancel_of(&inv);
    alice.send(&cancel);
    let resp = alice.final_response(&cancel, WAIT).expect("200 for CANCEL");
    assert_eq!(resp.status(), Some(200));
    let resp = alice.final_response(&inv, WAIT).expect("487 for INVITE");
    assert_eq!(resp.status(), Some(487));

    let b_cancel = bob
        .recv_where(WAIT, |m| is_request(m, "CANCEL"))
        .expect("bob should get a CANCEL");
    assert_eq!(b_cancel.call_id(), forked.call_id());
    assert_eq!(b_cancel.cseq().unwrap().seq, forked.cseq().unwrap().seq);
    assert_eq!(
        b_cancel.top_via().unwrap().branch(),
        forked.top_via().unwrap().branch()
    );
    bob.reply(&b_cancel, 200, "OK", &btag, &[], None);
    bob.reply(&forked, 487, "Request Terminated", &btag, &[], None);
    // The server acknowledges the 487 (§17.1.1.3).
    let ack = bob.recv_where(WAIT, |m| is_request(m, "ACK"));
    assert!(ack.is_some(), "the 487 should be acknowledged");
}

/// CANCEL from the caller before the callee sent any provisional response: the B2BUA must
/// hold its CANCEL until a provisional arrives (§9.1) and then send it.
#[test]
fn cancel_before_any_provisional_reaches_the_callee_later() {
    let srv = Server::default_start();
    let (mut alice, mut bob) = two_parties(&srv);
    let inv = invite_to(&mut alice, "bob").sdp(&sdp("alice", 40000));
    let inv = alice.send_authenticated(&inv, None);
    let forked = bob
        .recv_where(WAIT, |m| is_request(m, "INVITE"))
        .expect("bob should get the INVITE");
    // bob stays silent; alice gives up.
    let cancel = cancel_of(&inv);
    alice.send(&cancel);
    assert_eq!(
        alice.final_response(&cancel, WAIT).unwrap().status(),
        Some(200)
    );
    assert_eq!(
        alice.final_response(&inv, WAIT).unwrap().status(),
        Some(487)
    );
    // Now bob rings: the pending CANCEL must follow.
    let btag = token("b");
    bob.reply(&forked, 180, "Ringing", &btag, &[], None);
    let b_cancel = bob.recv_where(WAIT, |m| is_request(m, "CANCEL"));
    assert!(
        b_cancel.is_some(),
        "bob was never cancelled after ringing late: the B leg rings forever"
    );
    let b_cancel = b_cancel.unwrap();
    bob.reply(&b_cancel, 200, "OK", &btag, &[], None);
    bob.reply(&forked, 487, "Request Terminated", &btag, &[], None);
}

/// The callee answers just as the caller cancels (§9.1 race): the B2BUA must ACK the late
/// 2xx and hang that leg up with BYE, or the callee keeps a call with nobody.
#[test]
fn answer_racing_a_cancel_is_acked_and_hung_up() {
    let srv = Server::default_start();
    let (mut alice, mut bob) = two_parties(&srv);
    let inv = invite_to(&mut alice, "bob").sdp(&sdp("alice", 40000));
    let inv = alice.send_authenticated(&inv, None);
    let forked = bob
        .recv_where(WAIT, |m| is_request(m, "INVITE"))
        .expect("bob should get the INVITE");
    let btag = token("b");
    bob.reply(&forked, 180, "Ringing", &btag, &[], None);
    assert_eq!(alice.next_response(&inv, WAIT).unwrap().status(), Some(180));
    let cancel = cancel_of(&inv);
    alice.send(&cancel);
    assert_eq!(
        alice.final_response(&inv, WAIT).unwrap().status(),
        Some(487)
    );
    let b_cancel = bob
        .recv_where(WAIT, |m| is_request(m, "CANCEL"))
        .expect("bob should get a CANCEL");
    bob.reply(&b_cancel, 200, "OK", &btag, &[], None);
    // bob's 200 for the INVITE crossed the CANCEL.
    let contact = format!("<{}>", bob.contact_uri());
    bob.reply(
        &forked,
        200,
        "OK",
        &btag,
        &[("Contact", &contact)],
        Some(&sdp("bob", 50000)),
    );
    let ack = bob.recv_where(WAIT, |m| is_request(m, "ACK"));
    assert!(ack.is_some(), "the late 2xx was never acknowledged");
    let bye = bob.recv_where(WAIT, |m| is_request(m, "BYE"));
    assert!(bye.is_some(), "the late-answered leg was never hung up");
    let bye = bye.unwrap();
    assert_eq!(bye.call_id(), forked.call_id());
    bob.reply(&bye, 200, "OK", &btag, &[], None);
}

#[test]
fn ring_timeout_gives_480_and_cancels() {
    let srv = Server::start(ServerOpts::config(&format!(
        "[calls]\nring_timeout = 2\n{}",
        common::calls::NO_VOICEMAIL
    )));
    let (mut alice, mut bob) = two_parties(&srv);
    let inv = invite_to(&mut alice, "bob").sdp(&sdp("alice", 40000));
    let inv = alice.send_authenticated(&inv, None);
    let forked = bob
        .recv_where(WAIT, |m| is_request(m, "INVITE"))
        .expect("bob should get the INVITE");
    let btag = token("b");
    bob.reply(&forked, 180, "Ringing", &btag, &[], None);
    assert_eq!(alice.next_response(&inv, WAIT).unwrap().status(), Some(180));
    let resp = alice
        .final_response(&inv, Duration::from_secs(5))
        .expect("480 after the ring timeout");
    assert_eq!(resp.status(), Some(480));
    let b_cancel = bob
        .recv_where(WAIT, |m| is_request(m, "CANCEL"))
        .expect("bob should get a CANCEL");
    assert_eq!(b_cancel.call_id(), forked.call_id());
    bob.reply(&b_cancel, 200, "OK", &btag, &[], None);
    bob.reply(&forked, 487, "Request Terminated", &btag, &[], None);
}

#[test]
fn busy_callee() {
    let srv = Server::start(ServerOpts::config(common::calls::NO_VOICEMAIL));
    let (mut alice, mut bob) = two_parties(&srv);
    let inv = invite_to(&mut alice, "bob").sdp(&sdp("alice", 40000));
    let inv = alice.send_authenticated(&inv, None);
    let forked = bob
        .recv_where(WAIT, |m| is_request(m, "INVITE"))
        .expect("bob should get the INVITE");
    let btag = token("b");
    bob.reply(&forked, 486, "Busy Here", &btag, &[], None);
    let resp = alice.final_response(&inv, WAIT).expect("486 expected");
    assert_eq!(resp.status(), Some(486));
    // The server ACKs bob's 486 and sends no CANCEL.
    let ack = bob.recv_where(WAIT, |m| m.is_request());
    assert_eq!(ack.map(|m| m.method().to_owned()).as_deref(), Some("ACK"));
    assert!(
        bob.recv_where(SILENCE, |m| is_request(m, "CANCEL"))
            .is_none()
    );
}

/// A phone behind NAT registers a private Contact it cannot be reached at; the INVITE must
/// still arrive on the address its REGISTER came from (RFC 3581 symmetric response routing,
/// the binding keeps the source), and the registrar's 200 carries `received`.
#[test]
fn natted_device_is_reached_at_its_source_address() {
    let srv = Server::default_start();
    let mut bob = Ua::new(&srv, "bob");
    let private = "<sip:bob@10.255.255.1:5060>";
    let mut reg = bob
        .register_request()
        .header("Contact", private)
        .header("Expires", "600");
    reg.via_sent_by = "UDP 10.255.255.1:5060".to_owned();
    let ok = bob.authenticated(&reg, None);
    assert_eq!(ok.status(), Some(200));
    let via = ok.header_values(HeaderName::Via)[0].to_owned();
    assert!(via.contains("received=127.0.0.1"), "{via}");

    let mut alice = Ua::new(&srv, "alice");
    let inv = invite_to(&mut alice, "bob").sdp(&sdp("alice", 40000));
    alice.send_authenticated(&inv, None);
    let forked = bob
        .recv_where(WAIT, |m| is_request(m, "INVITE"))
        .expect("the INVITE should reach the NATed socket");
    assert_eq!(forked.uri_str(), "sip:bob@10.255.255.1:5060");
}

/// A re-INVITE (RFC 3261 §14) from the caller is relayed to the answered device with the new
/// offer; the device's answer comes back; the caller's ACK reaches the device; then a BYE from
/// the callee side reaches the caller.
#[test]
fn reinvite_is_relayed_leg_to_leg() {
    let srv = Server::default_start();
    let (mut alice, mut bob) = two_parties(&srv);
    let inv = invite_to(&mut alice, "bob").sdp(&sdp("alice", 40000));
    let inv = alice.send_authenticated(&inv, None);
    let forked = bob.recv_where(WAIT, |m| is_request(m, "INVITE")).unwrap();
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
        .unwrap();
    let server_contact = match ok.contacts().first() {
        Some(sip::ContactValue::Addr(a)) => a.uri.raw().to_owned(),
        other => panic!("200 without Contact: {other:?}"),
    };
    let to_with_tag = ok.header(HeaderName::To).unwrap().to_owned();
    let mut ack = alice.request("ACK", &server_contact, &to_with_tag);
    ack.cseq = inv.cseq;
    alice.cseq -= 1;
    alice.send(&ack);
    bob.recv_where(WAIT, |m| is_request(m, "ACK")).unwrap();

    // alice puts the call on hold with a new offer.
    let hold = "v=0\r\no=alice 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=sendonly\r\n";
    let alice_contact = format!("<{}>", alice.contact_uri());
    let reinv = alice
        .request("INVITE", &server_contact, &to_with_tag)
        .header("Contact", &alice_contact)
        .sdp(hold);
    alice.send(&reinv);
    let b_reinv = bob
        .recv_where(WAIT, |m| is_request(m, "INVITE"))
        .expect("bob should get the re-INVITE");
    assert_eq!(b_reinv.call_id(), forked.call_id());
    assert_eq!(b_reinv.to().unwrap().tag(), Some(btag.as_str()));
    assert!(b_reinv.cseq().unwrap().seq > forked.cseq().unwrap().seq);
    assert_eq!(b_reinv.body(), hold.as_bytes());
    let held = "v=0\r\no=bob 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 50000 RTP/AVP 0\r\na=recvonly\r\n";
    bob.reply(
        &b_reinv,
        200,
        "OK",
        &btag,
        &[("Contact", &bob_contact)],
        Some(held),
    );
    let ok2 = alice
        .recv_where(WAIT, |m| reinv.answered_by(m) && m.status() == Some(200))
        .expect("alice should get the answer to her re-INVITE");
    assert_eq!(ok2.body(), held.as_bytes());
    let mut ack2 = alice.request("ACK", &server_contact, &to_with_tag);
    ack2.cseq = reinv.cseq;
    alice.cseq -= 1;
    alice.send(&ack2);
    let b_ack2 = bob
        .recv_where(WAIT, |m| is_request(m, "ACK"))
        .expect("bob should get the ACK of the re-INVITE");
    assert_eq!(b_ack2.cseq().unwrap().seq, b_reinv.cseq().unwrap().seq);

    // bob hangs up: alice gets a BYE in her dialog.
    let bye = format!(
        "BYE {} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={}\r\nMax-Forwards: 70\r\nFrom: {};tag={btag}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} BYE\r\nContent-Length: 0\r\n\r\n",
        b_reinv
            .contacts()
            .first()
            .map(|c| match c {
                sip::ContactValue::Addr(a) => a.uri.raw().to_owned(),
                sip::ContactValue::Star => String::new(),
            })
            .unwrap(),
        bob.local(),
        common::new_branch(),
        forked.header(HeaderName::To).unwrap(),
        forked.header(HeaderName::From).unwrap(),
        forked.call_id().unwrap(),
        b_reinv.cseq().unwrap().seq + 100,
    );
    bob.send_raw(bye.as_bytes());
    let a_bye = alice
        .recv_where(WAIT, |m| is_request(m, "BYE"))
        .expect("alice should get the BYE");
    assert_eq!(a_bye.call_id(), inv.call_id.as_str().into());
}
