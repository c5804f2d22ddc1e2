//! The SIP presence face against the real binary: SUBSCRIBE/NOTIFY (RFC 6665, RFC 3856),
//! PUBLISH (RFC 3903), NOTIFY failure handling, authorization, the virtual address and
//! class-aware forking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::calls::is_request;
use common::presence::*;
use common::{DOMAIN, SILENCE, Server, ServerOpts, Ua, WAIT, Wire, sdp, token};
use sip::HeaderName;

/// Short minimum so that expiry can be watched in a test.
const CONFIG: &str = "[presence]\nsubscribe_min_expires = 2\nsubscribe_max_expires = 1000\n";

fn start() -> Server {
    Server::start(ServerOpts::config(CONFIG))
}

#[test]
fn subscribe_refresh_unsubscribe_and_refusals() {
    let srv = start();
    let mut bob = Ua::new(&srv, "bob");
    register(&mut bob, "");
    let mut alice = Ua::new(&srv, "alice");

    // Without credentials: 407, as for every state-creating request.
    let req = subscribe_req(&mut alice, "bob", "presence", 600);
    assert_eq!(alice.transact(&req).status(), Some(407));

    let (resp, n, d) = subscribe(&mut alice, "bob", "presence", 600);
    assert_eq!(resp.status(), Some(200));
    assert_eq!(resp.expires(), Some(600));
    assert!(resp.to().unwrap().tag().is_some());
    assert_eq!(n.header(HeaderName::Event), Some("presence"));
    assert!(
        sub_state(&n).starts_with("active;expires="),
        "{}",
        sub_state(&n)
    );
    // Accept-less subscribers get PIDF (RFC 3856 §6.7).
    assert_eq!(n.content_type(), Some("application/pidf+xml"));
    let doc = body(&n);
    assert!(
        doc.contains(&format!("entity=\"sip:bob@{DOMAIN}\"")),
        "{doc}"
    );
    assert!(tuple(&doc, "voice").contains("open"), "{doc}");
    // The NOTIFY is in the dialog the 200 created.
    assert_eq!(n.call_id(), resp.call_id());
    assert_eq!(n.from().unwrap().tag(), resp.to().unwrap().tag());
    let first_cseq = n.cseq().unwrap().seq;

    // Refresh in the dialog: 200 and a NOTIFY with a higher CSeq.
    let r = resubscribe(&mut alice, &d, "presence", 300);
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.expires(), Some(300));
    let n2 = notify(&mut alice, 200);
    assert!(sub_state(&n2).starts_with("active"));
    assert!(n2.cseq().unwrap().seq > first_cseq);

    // Unsubscribe: 200 and a final NOTIFY.
    let r = resubscribe(&mut alice, &d, "presence", 0);
    assert_eq!(r.status(), Some(200));
    let n3 = notify(&mut alice, 200);
    assert_eq!(sub_state(&n3), "terminated;reason=timeout");
    // The subscription is gone.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        resubscribe(&mut alice, &d, "presence", 60).status(),
        Some(481)
    );

    // Refusals.
    alice.new_call();
    let req = subscribe_req(&mut alice, "bob", "dialog", 600);
    let resp = alice.authenticated(&req, None);
    assert_eq!(resp.status(), Some(489));
    let allow = resp.header_named("Allow-Events").unwrap_or_default();
    assert!(
        allow.contains("presence") && allow.contains("message-summary"),
        "{allow}"
    );

    alice.new_call();
    let req = subscribe_req(&mut alice, "bob", "presence", 600).header("Accept", "text/plain");
    let resp = alice.authenticated(&req, None);
    assert_eq!(resp.status(), Some(406));
    assert_eq!(
        resp.header(HeaderName::Accept),
        Some("application/pidf+xml")
    );

    alice.new_call();
    let req = subscribe_req(&mut alice, "bob", "presence", 1);
    let resp = alice.authenticated(&req, None);
    assert_eq!(resp.status(), Some(423));
    assert_eq!(resp.header(HeaderName::MinExpires), Some("2"));

    // No user enumeration: a user that does not exist looks like one who hides (202,
    // pending, no state; sip_presence_limits.rs compares the two byte for byte).
    alice.new_call();
    let req = subscribe_req(&mut alice, "nobody", "presence", 600);
    assert_eq!(alice.authenticated(&req, None).status(), Some(202));
    let n = notify(&mut alice, 200);
    assert!(sub_state(&n).starts_with("pending"), "{}", sub_state(&n));
    assert!(n.body().is_empty());

    // Someone else's mailbox.
    alice.new_call();
    let req = subscribe_req(&mut alice, "bob", "message-summary", 600);
    assert_eq!(alice.authenticated(&req, None).status(), Some(403));

    // A fetch (Expires: 0): one final NOTIFY with the state.
    alice.new_call();
    let req = subscribe_req(&mut alice, "bob", "presence", 0);
    let resp = alice.authenticated(&req, None);
    assert_eq!(resp.status(), Some(200));
    let n = notify(&mut alice, 200);
    assert_eq!(sub_state(&n), "terminated;reason=timeout");
    assert!(body(&n).contains("<tuple id=\"voice\""));
}

#[test]
fn subscription_expiry_sends_terminated_timeout() {
    let srv = start();
    let mut alice = Ua::new(&srv, "alice");
    let (_, n, _) = subscribe(&mut alice, "bob", "presence", 2);
    assert_eq!(sub_state(&n), "active;expires=2");
    let t = Instant::now();
    let n = notify(&mut alice, 200);
    assert_eq!(sub_state(&n), "terminated;reason=timeout");
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn publish_initial_refresh_modify_remove_and_errors() {
    let srv = start();
    let mut bob = Ua::new(&srv, "bob");
    register(&mut bob, "");
    let mut alice = Ua::new(&srv, "alice");
    let (_, n, _) = subscribe(&mut alice, "bob", "presence", 600);
    assert!(
        tuple(&body(&n), "voice").contains("available"),
        "{}",
        body(&n)
    );

    // Initial: busy.
    let r = publish(
        &mut bob,
        Some(&pidf("bob", "open", Some("busy"))),
        None,
        120,
    );
    assert_eq!(r.status(), Some(200));
    assert_eq!(r.expires(), Some(120));
    let e1 = etag_of(&r);
    let n = notify(&mut alice, 200);
    assert!(tuple(&body(&n), "voice").contains("busy"), "{}", body(&n));

    // Refresh: no body, a new etag, nothing changes for watchers.
    let r = publish(&mut bob, None, Some(&e1), 120);
    assert_eq!(r.status(), Some(200));
    let e2 = etag_of(&r);
    assert_ne!(e1, e2);
    // The old etag is gone (RFC 3903 §6 step 8).
    assert_eq!(publish(&mut bob, None, Some(&e1), 120).status(), Some(412));

    // An invalid document is refused and changes nothing.
    let bad = pidf("bob", "unknown", None);
    assert_eq!(
        publish(&mut bob, Some(&bad), Some(&e2), 120).status(),
        Some(400)
    );
    assert!(
        alice
            .recv_where(SILENCE, |m| is_request(m, "NOTIFY"))
            .is_none(),
        "a refused PUBLISH must not change the state"
    );
    // Wrong type, too short, someone else's presence.
    bob.new_call();
    let aor = bob.aor();
    let mut r = bob
        .request("PUBLISH", &aor, &format!("<{aor}>"))
        .header("Event", "presence");
    r.content_type = Some("text/plain".into());
    r.body = b"busy".to_vec();
    let resp = bob.authenticated(&r, None);
    assert_eq!(resp.status(), Some(415));
    assert_eq!(
        resp.header(HeaderName::Accept),
        Some("application/pidf+xml")
    );
    let r = publish(&mut bob, Some(&pidf("bob", "open", None)), None, 10);
    assert_eq!(r.status(), Some(423));
    assert_eq!(r.header(HeaderName::MinExpires), Some("60"));
    alice.new_call();
    let uri = format!("sip:bob@{DOMAIN}");
    let mut r = alice
        .request("PUBLISH", &uri, &format!("<{uri}>"))
        .header("Event", "presence");
    r.content_type = Some("application/pidf+xml".into());
    r.body = pidf("bob", "open", None).into_bytes();
    assert_eq!(alice.authenticated(&r, None).status(), Some(403));
    // Still busy: a fetch shows it.
    let (_, n, _) = subscribe(&mut alice, "bob", "presence", 0);
    assert!(tuple(&body(&n), "voice").contains("busy"), "{}", body(&n));

    // Modify: available again.
    let r = publish(&mut bob, Some(&pidf("bob", "open", None)), Some(&e2), 120);
    assert_eq!(r.status(), Some(200));
    let e3 = etag_of(&r);
    let n = notify(&mut alice, 200);
    assert!(
        tuple(&body(&n), "voice").contains("available"),
        "{}",
        body(&n)
    );

    // Modify to closed, then remove: the registration alone speaks again.
    let r = publish(&mut bob, Some(&pidf("bob", "closed", None)), Some(&e3), 120);
    let e4 = etag_of(&r);
    let n = notify(&mut alice, 200);
    assert!(tuple(&body(&n), "voice").contains("closed"), "{}", body(&n));
    let r = publish(&mut bob, None, Some(&e4), 0);
    assert_eq!(r.status(), Some(200));
    let n = notify(&mut alice, 200);
    assert!(
        tuple(&body(&n), "voice").contains("available"),
        "{}",
        body(&n)
    );
    assert_eq!(publish(&mut bob, None, Some(&e4), 120).status(), Some(412));
}

/// baresip sends two initial PUBLISHes a few ms apart (phones/NOTES.md §1.3): both succeed,
/// and the one the phone forgets does not linger in the state.
#[test]
fn concurrent_initial_publications_from_one_device() {
    let srv = start();
    let mut bob = Ua::new(&srv, "bob");
    register(&mut bob, "");
    let mut alice = Ua::new(&srv, "alice");
    subscribe(&mut alice, "bob", "presence", 600);

    // Both challenged, then both sent at once.
    let mut reqs = Vec::new();
    for doc in [pidf("bob", "open", Some("busy")), pidf("bob", "open", None)] {
        bob.new_call();
        let aor = bob.aor();
        let mut r = bob
            .request("PUBLISH", &aor, &format!("<{aor}>"))
            .header("Event", "presence")
            .header("Expires", "120");
        r.content_type = Some("application/pidf+xml".into());
        r.body = doc.into_bytes();
        let (resp, ch) = bob.get_challenge(&r);
        reqs.push(bob.authorize(&r, &ch, resp.status().unwrap(), None));
    }
    for r in &reqs {
        bob.send(r);
    }
    let mut etags = Vec::new();
    for r in &reqs {
        let resp = bob.final_response(r, WAIT).expect("answer to PUBLISH");
        assert_eq!(resp.status(), Some(200));
        etags.push(etag_of(&resp));
    }
    assert_ne!(etags[0], etags[1]);
    // The phone keeps the last etag and removes it at shutdown: no busy is left behind.
    assert_eq!(
        publish(&mut bob, None, Some(&etags[1]), 0).status(),
        Some(200)
    );
    let deadline = Instant::now() + WAIT;
    let mut last = String::new();
    while Instant::now() < deadline {
        let Some(n) = alice.recv_where(SILENCE, |m| is_request(m, "NOTIFY")) else {
            break;
        };
        alice.reply(&n, 200, "OK", "x", &[], None);
        last = body(&n);
    }
    let (_, n, _) = subscribe(&mut alice, "bob", "presence", 0);
    let voice = tuple(&body(&n), "voice");
    assert!(
        voice.contains("available") && !voice.contains("busy"),
        "the forgotten publication lingers: {voice} (last NOTIFY {last})"
    );
}

#[test]
fn failed_notify_is_retried_with_the_latest_state() {
    let srv = start();
    let mut bob = Ua::new(&srv, "bob");
    register(&mut bob, "");
    let mut alice = Ua::new(&srv, "alice");
    subscribe(&mut alice, "bob", "presence", 600);

    let r = publish(
        &mut bob,
        Some(&pidf("bob", "open", Some("busy"))),
        None,
        120,
    );
    let e = etag_of(&r);
    let n = notify(&mut alice, 500);
    assert!(tuple(&body(&n), "voice").contains("busy"));
    // A newer state while the retry waits: the retry carries it.
    publish(&mut bob, Some(&pidf("bob", "closed", None)), Some(&e), 120);
    let t = Instant::now();
    let n = notify(&mut alice, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "no backoff: {:?}",
        t.elapsed()
    );
    assert!(sub_state(&n).starts_with("active"), "{}", sub_state(&n));
    assert!(tuple(&body(&n), "voice").contains("closed"), "{}", body(&n));
    // Nothing else is owed: the intermediate state was coalesced away.
    assert!(
        alice
            .recv_where(SILENCE, |m| is_request(m, "NOTIFY"))
            .is_none()
    );
    // And the subscription lives on.
    let r = publish(&mut bob, Some(&pidf("bob", "open", None)), None, 120);
    assert_eq!(r.status(), Some(200));
    let n = notify(&mut alice, 200);
    assert!(tuple(&body(&n), "voice").contains("open"));
}

#[test]
fn watcher_answering_481_is_removed() {
    let srv = start();
    let mut bob = Ua::new(&srv, "bob");
    register(&mut bob, "");
    let mut carol = Ua::new(&srv, "carol");
    subscribe(&mut carol, "bob", "presence", 600);
    publish(
        &mut bob,
        Some(&pidf("bob", "open", Some("busy"))),
        None,
        120,
    );
    notify(&mut carol, 481);
    publish(&mut bob, Some(&pidf("bob", "closed", None)), None, 120);
    assert!(
        carol
            .recv_where(Duration::from_millis(2500), |m| is_request(m, "NOTIFY"))
            .is_none(),
        "a subscription answered 481 must be gone"
    );
}

#[test]
fn rollup_per_request() {
    let srv = start();
    let mut bob = Ua::new(&srv, "bob");
    register(&mut bob, "");
    let mut alice = Ua::new(&srv, "alice");
    let (_, n, _) = subscribe(&mut alice, "bob", "presence;rollup=most-available", 600);
    let doc = body(&n);
    assert!(doc.contains("<tuple id=\"summary\""), "{doc}");
    assert!(!doc.contains("<tuple id=\"voice\""), "{doc}");
    let mut carol = Ua::new(&srv, "carol");
    let (_, n, _) = subscribe(&mut carol, "bob", "presence;rollup=compound", 600);
    assert!(body(&n).contains("<tuple id=\"voice\""));
}

/// Reads everything that reaches a watcher's UDP socket for `d`, answering NOTIFYs with 200.
fn drain(ua: &mut Ua, d: Duration, seen: &mut Vec<Vec<u8>>) {
    let Wire::Udp(sock) = &ua.wire else {
        panic!("UDP watcher expected")
    };
    let sock = sock.try_clone().unwrap();
    let deadline = Instant::now() + d;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        sock.set_read_timeout(Some(left)).unwrap();
        let mut buf = vec![0u8; 65_536];
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            return;
        };
        buf.truncate(n);
        seen.push(buf.clone());
        if let Ok(m) = sip::parse_datagram(buf)
            && is_request(&m, "NOTIFY")
        {
            ua.reply(&m, 200, "OK", "x", &[], None);
        }
    }
}

/// Watchers learn nothing about devices: every byte sent to the watcher across
/// registrations, publications and a call is searched for the devices' addresses, ports,
/// contact users, instance ids and user agents.
#[test]
fn virtual_address_hides_every_device() {
    let srv = start();
    let mut desk = Ua::on_wire(&srv, "bob", Wire::udp_on("127.0.0.2"));
    let mut soft = Ua::on_wire(&srv, "bob", Wire::udp_on("127.0.0.3"));
    desk.user_agent = Some("DeskPhone-Model-X9".into());
    let mut alice = Ua::new(&srv, "alice");
    let mut seen = Vec::new();
    // Subscribed before any device exists, so every change reaches the watcher.
    alice.new_call();
    let req = subscribe_req(&mut alice, "bob", "presence", 600);
    alice.send_authenticated(&req, None);
    drain(&mut alice, Duration::from_millis(300), &mut seen);

    let uuid = "urn:uuid:4f1c0a55-7777-4abc-9def-0123456789ab";
    let desk_contact = format!(
        "<sip:deskbob7q@{}>;+sip.instance=\"<{uuid}>\"",
        desk.local()
    );
    assert_eq!(
        desk.register(&[&desk_contact], Some(600)).status(),
        Some(200)
    );
    let soft_contact = format!("<sip:softbob3z@{}>;audio;video", soft.local());
    assert_eq!(
        soft.register(&[&soft_contact], Some(600)).status(),
        Some(200)
    );
    drain(&mut alice, Duration::from_millis(300), &mut seen);
    let r = publish(
        &mut soft,
        Some(&pidf("bob", "open", Some("away"))),
        None,
        120,
    );
    assert_eq!(r.status(), Some(200));
    drain(&mut alice, Duration::from_millis(300), &mut seen);

    // carol calls bob; the desk phone answers; then hangs up.
    let mut carol = Ua::new(&srv, "carol");
    let uri = format!("sip:bob@{DOMAIN}");
    let contact = format!("<{}>", carol.contact_uri());
    let inv = carol
        .request("INVITE", &uri, &format!("<{uri}>"))
        .header("Contact", &contact)
        .sdp(&sdp("carol", 40000));
    let inv = carol.send_authenticated(&inv, None);
    let forked = desk
        .recv_where(WAIT, |m| is_request(m, "INVITE"))
        .expect("the desk phone should ring");
    let soft_inv = soft
        .recv_where(WAIT, |m| is_request(m, "INVITE"))
        .expect("soft rings");
    let btag = token("b");
    desk.reply(&forked, 180, "Ringing", &btag, &[], None);
    drain(&mut alice, Duration::from_millis(300), &mut seen);
    let dc = format!("<sip:deskbob7q@{}>", desk.local());
    desk.reply(
        &forked,
        200,
        "OK",
        &btag,
        &[("Contact", &dc)],
        Some(&sdp("desk", 40002)),
    );
    let ok = carol
        .recv_where(WAIT, |m| inv.answered_by(m) && m.status() == Some(200))
        .expect("200 for the call");
    // The soft phone's leg is cancelled.
    if let Some(c) = soft.recv_where(WAIT, |m| is_request(m, "CANCEL")) {
        soft.reply(&c, 200, "OK", "s", &[], None);
        soft.reply(&soft_inv, 487, "Request Terminated", "s", &[], None);
    }
    let server_contact = match ok.contacts().first() {
        Some(sip::ContactValue::Addr(a)) => a.uri.raw().to_owned(),
        other => panic!("{other:?}"),
    };
    let to = ok.header(HeaderName::To).unwrap().to_owned();
    let mut ack = carol.request("ACK", &server_contact, &to);
    ack.cseq = inv.cseq;
    carol.send(&ack);
    let mut during = Vec::new();
    drain(&mut alice, Duration::from_millis(400), &mut during);
    let busy = during
        .iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .any(|t| t.contains("<tuple id=\"voice\"") && tuple(&t, "voice").contains("busy"));
    assert!(busy, "the call should make bob's voice busy for alice");
    seen.extend(during);
    let bye = carol.request("BYE", &server_contact, &to);
    carol.send(&bye);
    if let Some(b) = desk.recv_where(WAIT, |m| is_request(m, "BYE")) {
        desk.reply(&b, 200, "OK", &btag, &[], None);
    }
    let mut after = Vec::new();
    drain(&mut alice, Duration::from_millis(400), &mut after);
    let last = after
        .iter()
        .rev()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .find(|t| t.contains("<tuple id=\"voice\""))
        .expect("a NOTIFY when the call ends");
    assert!(!tuple(&last, "voice").contains("busy"), "{last}");
    seen.extend(after);

    // Unregister the desk phone.
    assert_eq!(desk.register(&[&desk_contact], Some(0)).status(), Some(200));
    drain(&mut alice, Duration::from_millis(300), &mut seen);

    let notifies = seen.iter().filter(|b| b.starts_with(b"NOTIFY ")).count();
    assert!(notifies >= 5, "only {notifies} NOTIFYs seen");
    let forbidden = [
        "127.0.0.2".to_owned(),
        "127.0.0.3".to_owned(),
        format!(":{}", desk.local().port()),
        format!(":{}", soft.local().port()),
        "deskbob7q".to_owned(),
        "softbob3z".to_owned(),
        "4f1c0a55".to_owned(),
        "DeskPhone".to_owned(),
        "sip.instance".to_owned(),
    ];
    for bytes in &seen {
        let text = String::from_utf8_lossy(bytes);
        for f in &forbidden {
            assert!(
                !text.contains(f.as_str()),
                "{f:?} leaked to the watcher:\n{text}"
            );
        }
    }
}

fn video_sdp(port: u16) -> String {
    format!(
        "{}m=video {} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n",
        sdp("v", port),
        port + 2
    )
}

/// A video INVITE to the virtual address rings only the video-capable device; a voice one
/// rings every voice device.
#[test]
fn video_call_forks_only_to_video_devices() {
    let srv = start();
    let mut desk = Ua::on_wire(&srv, "bob", Wire::udp());
    let mut video = Ua::on_wire(&srv, "bob", Wire::udp());
    register(&mut desk, ";audio");
    register(&mut video, ";audio;video");
    let mut alice = Ua::new(&srv, "alice");

    for (offer, expect_desk) in [(video_sdp(40000), false), (sdp("a", 40010), true)] {
        alice.new_call();
        let uri = format!("sip:bob@{DOMAIN}");
        let contact = format!("<{}>", alice.contact_uri());
        let inv = alice
            .request("INVITE", &uri, &format!("<{uri}>"))
            .header("Contact", &contact)
            .sdp(&offer);
        let inv = alice.send_authenticated(&inv, None);
        let v = video
            .recv_where(WAIT, |m| is_request(m, "INVITE"))
            .expect("the video device rings");
        let d = desk.recv_where(SILENCE, |m| is_request(m, "INVITE"));
        assert_eq!(d.is_some(), expect_desk, "desk rang: {:?}", d.is_some());
        video.reply(&v, 180, "Ringing", "v", &[], None);
        if let Some(d) = &d {
            desk.reply(d, 180, "Ringing", "d", &[], None);
        }
        // The caller gives up (a busy answer would go to voicemail).
        let mut cancel = inv.clone();
        cancel.method = "CANCEL".into();
        cancel.content_type = None;
        cancel.body.clear();
        cancel
            .headers
            .retain(|(n, _)| n != "Proxy-Authorization" && n != "Contact");
        alice.send(&cancel);
        let resp = alice.final_response(&inv, WAIT).expect("final answer");
        assert_eq!(resp.status(), Some(487));
        let c = video
            .recv_where(WAIT, |m| is_request(m, "CANCEL"))
            .expect("CANCEL");
        video.reply(&c, 200, "OK", "v", &[], None);
        video.reply(&v, 487, "Request Terminated", "v", &[], None);
        if let Some(d) = d {
            let c = desk
                .recv_where(WAIT, |m| is_request(m, "CANCEL"))
                .expect("CANCEL");
            desk.reply(&c, 200, "OK", "d", &[], None);
            desk.reply(&d, 487, "Request Terminated", "d", &[], None);
        }
    }
}

#[test]
fn options_lists_the_event_packages() {
    let srv = start();
    let mut ua = Ua::new(&srv, "alice");
    let o = common::options(&mut ua);
    let resp = ua.transact(&o);
    let allow = resp.header_values(HeaderName::Allow);
    assert!(
        allow.contains(&"SUBSCRIBE") && allow.contains(&"PUBLISH"),
        "{allow:?}"
    );
    assert!(
        resp.header_named("Allow-Events")
            .unwrap()
            .contains("presence")
    );
}

/// A watcher the presentity has not approved gets `pending` and never any state, not even
/// when the presence changes (RFC 6665 §4.1.3, RFC 3856 §6.6).
#[test]
fn unauthorised_watcher_gets_pending_without_state() {
    let srv = Server::start(ServerOpts::config(
        "[presence]\nsubscribe_min_expires = 2\nsame_domain_default = \"pending\"\n",
    ));
    let mut bob = Ua::new(&srv, "bob");
    register(&mut bob, "");
    let mut carol = Ua::new(&srv, "carol");
    let (resp, n, _) = subscribe(&mut carol, "bob", "presence", 600);
    assert_eq!(resp.status(), Some(202));
    assert!(sub_state(&n).starts_with("pending"), "{}", sub_state(&n));
    assert!(n.body().is_empty(), "state leaked: {}", body(&n));
    assert!(n.content_type().is_none());
    let r = publish(
        &mut bob,
        Some(&pidf("bob", "open", Some("busy"))),
        None,
        120,
    );
    assert_eq!(r.status(), Some(200));
    assert!(
        carol
            .recv_where(SILENCE, |m| is_request(m, "NOTIFY"))
            .is_none(),
        "a pending watcher must hear nothing of the change"
    );
    // A fetch by the same watcher: a final NOTIFY, still without state.
    let (resp, n, _) = subscribe(&mut carol, "bob", "presence", 0);
    assert_eq!(resp.status(), Some(202));
    assert_eq!(sub_state(&n), "terminated;reason=timeout");
    assert!(n.body().is_empty(), "state leaked: {}", body(&n));
    // bob himself always sees his own presence.
    let mut own = Ua::new(&srv, "bob");
    let (resp, n, _) = subscribe(&mut own, "bob", "presence", 0);
    assert_eq!(resp.status(), Some(200));
    assert!(body(&n).contains("busy"));
}

/// Device classes survive a restart: they are stored with the bindings and announced to the
/// presence service again, so a video INVITE still rings only the video phone and watchers
/// still see video available, before either phone registers again.
#[test]
fn device_classes_survive_a_restart() {
    let mut srv = start();
    let mut desk = Ua::on_wire(&srv, "bob", Wire::udp());
    let mut video = Ua::on_wire(&srv, "bob", Wire::udp());
    register(&mut desk, ";audio");
    register(&mut video, ";audio;video");
    srv.restart();
    desk.server = srv.addr;
    video.server = srv.addr;

    let mut alice = Ua::new(&srv, "alice");
    let (_, n, _) = subscribe(&mut alice, "bob", "presence", 0);
    let doc = body(&n);
    assert!(tuple(&doc, "video").contains("available"), "{doc}");

    alice.new_call();
    let uri = format!("sip:bob@{DOMAIN}");
    let contact = format!("<{}>", alice.contact_uri());
    let inv = alice
        .request("INVITE", &uri, &format!("<{uri}>"))
        .header("Contact", &contact)
        .sdp(&video_sdp(40000));
    let inv = alice.send_authenticated(&inv, None);
    let v = video
        .recv_where(WAIT, |m| is_request(m, "INVITE"))
        .expect("the video device rings after the restart");
    assert!(
        desk.recv_where(SILENCE, |m| is_request(m, "INVITE"))
            .is_none(),
        "the voice-only desk phone must not ring for a video call"
    );
    video.reply(&v, 486, "Busy Here", "v", &[], None);
    alice.final_response(&inv, WAIT).expect("final answer");
}
