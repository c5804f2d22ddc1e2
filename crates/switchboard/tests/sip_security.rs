//! Authentication and abuse handling against the real binary (RFC 3261 §22, RFC 7616 §3.3):
//! replays, identities, unknown users, brute-force bans, scanners, stale and forged nonces.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{
    Challenge, DOMAIN, DigestAnswer, SILENCE, Server, ServerOpts, Ua, WAIT, Wire, challenges,
    contact_expiries, options,
};
use sip::digest::Algorithm;
use sip::{HeaderName, Message};

/// Header names in order, to compare the shape of two responses.
fn header_names(m: &Message) -> Vec<String> {
    m.headers().map(|(_, raw, _)| raw.to_owned()).collect()
}

fn assert_stale(resp: &Message) {
    let ch = challenges(resp);
    assert!(!ch.is_empty());
    assert!(ch.iter().all(|c| c.stale), "expected stale=true: {ch:?}");
}

fn assert_not_stale(resp: &Message) {
    let ch = challenges(resp);
    assert!(!ch.is_empty());
    assert!(ch.iter().all(|c| !c.stale), "unexpected stale=true: {ch:?}");
}

#[test]
fn replayed_nonce_is_refused() {
    let srv = Server::start(ServerOpts::config(common::calls::NO_VOICEMAIL));
    let mut ua = Ua::new(&srv, "alice");
    let c = format!("<{}>", ua.contact_uri());
    let req = ua.register_request().header("Contact", &c);
    let (_, ch) = ua.get_challenge(&req);
    let authed = ua.authorize(&req, &ch, 401, Some(Algorithm::Md5));
    assert_eq!(ua.transact(&authed).status(), Some(200));

    // The same Authorization (same nonce, same nc) on a new request: a replay.
    let replay = ua.reissue(&authed);
    let resp = ua.transact(&replay);
    assert_eq!(resp.status(), Some(401));
    assert_stale(&resp);

    // The same nonce with a higher nonce-count is fine (RFC 7616 §3.4) ...
    let mut next = ua.reissue(&req);
    let v = ua.answer(&ch[0], &next, 2);
    next = next.header("Authorization", &v);
    assert_eq!(ua.transact(&next).status(), Some(200));
    // ... but going back to a lower count is not.
    let mut back = ua.reissue(&req);
    let v = ua.answer(&ch[0], &back, 1);
    back = back.header("Authorization", &v);
    let resp = ua.transact(&back);
    assert_eq!(resp.status(), Some(401));
    assert_stale(&resp);

    // A replayed INVITE answer is refused the same way (407 with stale=true).
    let to = format!("<sip:bob@{DOMAIN}>");
    let invite = ua.request("INVITE", &format!("sip:bob@{DOMAIN}"), &to);
    let (resp, ch) = ua.get_challenge(&invite);
    assert_eq!(resp.status(), Some(407));
    let authed = ua.authorize(&invite, &ch, 407, None);
    // bob is not registered: 480 proves the credentials were accepted.
    ua.send(&authed);
    assert_eq!(
        ua.final_response(&authed, WAIT).unwrap().status(),
        Some(480)
    );
    let replay = ua.reissue(&authed);
    let resp = ua.transact(&replay);
    assert_eq!(resp.status(), Some(407));
    assert_stale(&resp);
}

#[test]
fn wrong_user_in_authorization_is_forbidden() {
    let srv = Server::default_start();
    let mut ua = Ua::new(&srv, "alice");
    let c = format!("<{}>", ua.contact_uri());
    let req = ua.register_request().header("Contact", &c);
    let (_, ch) = ua.get_challenge(&req);
    // bob's valid credentials on alice's REGISTER.
    let mut r = ua.reissue(&req);
    let v = DigestAnswer {
        username: "bob",
        password: &srv.password("bob"),
        realm: &ch[0].realm,
        nonce: &ch[0].nonce,
        algorithm: ch[0].alg(),
        method: "REGISTER",
        uri: &r.uri,
        nc: 1,
        cnonce: "abc",
    }
    .header_value();
    r = r.header("Authorization", &v);
    let resp = ua.transact(&r);
    assert_eq!(resp.status(), Some(403));
    assert!(resp.header(HeaderName::WwwAuthenticate).is_none());

    // bob's credentials on an INVITE from alice.
    let to = format!("<sip:carol@{DOMAIN}>");
    let invite = ua.request("INVITE", &format!("sip:carol@{DOMAIN}"), &to);
    let (_, ch) = ua.get_challenge(&invite);
    let mut r = ua.reissue(&invite);
    let v = DigestAnswer {
        username: "bob",
        password: &srv.password("bob"),
        realm: &ch[0].realm,
        nonce: &ch[0].nonce,
        algorithm: ch[0].alg(),
        method: "INVITE",
        uri: &r.uri,
        nc: 1,
        cnonce: "abc",
    }
    .header_value();
    r = r.header("Proxy-Authorization", &v);
    let resp = ua.transact(&r);
    assert_eq!(resp.status(), Some(403));
}

#[test]
fn register_for_another_users_aor_is_forbidden() {
    let srv = Server::default_start();
    let mut alice = Ua::new(&srv, "alice");
    let c = format!("<{}>", alice.contact_uri());
    // alice's own valid credentials, but To: bob.
    let req = alice
        .request(
            "REGISTER",
            &format!("sip:{DOMAIN}"),
            &format!("<sip:bob@{DOMAIN}>"),
        )
        .header("Contact", &c);
    let resp = alice.authenticated(&req, None);
    assert_eq!(resp.status(), Some(403));

    // bob has no binding.
    let mut bob = Ua::new(&srv, "bob");
    let ok = bob.register(&[], None);
    assert_eq!(ok.status(), Some(200));
    assert!(contact_expiries(&ok).is_empty(), "{ok:?}");
}

#[test]
fn unknown_user_looks_like_a_known_user() {
    let srv = Server::default_start();
    let mut alice = Ua::new(&srv, "alice");
    let mut mallory = Ua::new(&srv, "mallory");
    mallory.password = "guess".into();
    alice.password = "guess".into();

    let mut first = Vec::new();
    let mut second = Vec::new();
    for ua in [&mut alice, &mut mallory] {
        let c = format!("<{}>", ua.contact_uri());
        let req = ua.register_request().header("Contact", &c);
        let (resp, ch) = ua.get_challenge(&req);
        assert_eq!(resp.status(), Some(401));
        let shapes: Vec<String> = ch.iter().map(Challenge::shape).collect();
        first.push((resp.reason().to_owned(), header_names(&resp), shapes));

        let wrong = ua.authorize(&req, &ch, 401, None);
        let resp = ua.transact(&wrong);
        assert_eq!(resp.status(), Some(401));
        assert_not_stale(&resp);
        let ch = challenges(&resp);
        let shapes: Vec<String> = ch.iter().map(Challenge::shape).collect();
        second.push((resp.reason().to_owned(), header_names(&resp), shapes));
    }
    assert_eq!(
        first[0], first[1],
        "first challenge differs for unknown users"
    );
    assert_eq!(second[0], second[1], "refusal differs for unknown users");

    // The same for INVITE (407).
    let mut codes = Vec::new();
    for ua in [&mut alice, &mut mallory] {
        let to = format!("<sip:carol@{DOMAIN}>");
        let invite = ua.request("INVITE", &format!("sip:carol@{DOMAIN}"), &to);
        let (resp, ch) = ua.get_challenge(&invite);
        let wrong = ua.authorize(&invite, &ch, resp.status().unwrap(), None);
        let resp2 = ua.transact(&wrong);
        codes.push((
            resp.status(),
            header_names(&resp),
            resp2.status(),
            header_names(&resp2),
        ));
    }
    assert_eq!(codes[0], codes[1]);
    assert_eq!(codes[0].0, Some(407));
    assert_eq!(codes[0].2, Some(407));
}

#[test]
fn brute_force_source_is_banned() {
    let srv = Server::start(ServerOpts::config(
        "[auth]\nban_after_failures = 3\nban_window = 60\nban_duration = 600\n",
    ));
    let mut attacker = Ua::new(&srv, "alice");
    attacker.password = "wrong".into();
    for i in 1..=3 {
        let req = attacker.register_request();
        let (_, ch) = attacker.get_challenge(&req);
        let wrong = attacker.authorize(&req, &ch, 401, None);
        let resp = attacker.transact(&wrong);
        assert_eq!(resp.status(), Some(401), "failure {i}");
        if i < 3 {
            // Not banned yet.
            let o = options(&mut attacker);
            assert_eq!(
                attacker.transact(&o).status(),
                Some(200),
                "after {i} failures"
            );
        }
    }
    // Banned: no answer at all, not even to OPTIONS, from any port of that address.
    let o = options(&mut attacker);
    attacker.send(&o);
    let got = attacker.recv(SILENCE);
    assert!(got.is_none(), "banned source got {got:?}");
    let mut other_port = Ua::new(&srv, "bob");
    let o = options(&mut other_port);
    other_port.send(&o);
    assert!(other_port.recv(SILENCE).is_none());
    // A good password does not help either.
    let mut alice = Ua::new(&srv, "alice");
    let req = alice.register_request();
    alice.send(&req);
    assert!(alice.recv(SILENCE).is_none());

    // A TCP connection from that address is not served either.
    let mut tcp = Ua::on_wire(&srv, "alice", Wire::tcp(srv.addr));
    let o = options(&mut tcp);
    tcp.send(&o);
    assert!(tcp.recv(SILENCE).is_none());

    // Another source address is served normally.
    let mut elsewhere = Ua::on_wire(&srv, "alice", Wire::udp_on("127.0.0.2"));
    let o = options(&mut elsewhere);
    assert_eq!(elsewhere.transact(&o).status(), Some(200));
    let c = format!("<{}>", elsewhere.contact_uri());
    assert_eq!(elsewhere.register(&[&c], None).status(), Some(200));
}

/// One REGISTER answered with a wrong password; asserts the 401.
fn fail_once(ua: &mut Ua) {
    let saved = std::mem::replace(&mut ua.password, "wrong".into());
    let req = ua.register_request();
    let (_, ch) = ua.get_challenge(&req);
    let wrong = ua.authorize(&req, &ch, 401, None);
    assert_eq!(ua.transact(&wrong).status(), Some(401));
    ua.password = saved;
}

fn answered(ua: &mut Ua) -> bool {
    let o = options(ua);
    ua.send(&o);
    ua.final_response(&o, SILENCE).is_some()
}

#[test]
fn success_resets_the_failure_count() {
    let srv = Server::start(ServerOpts::config(
        "[auth]\nban_after_failures = 3\nban_window = 60\nban_duration = 600\n",
    ));
    let mut ua = Ua::new(&srv, "alice");
    fail_once(&mut ua);
    fail_once(&mut ua);
    assert_eq!(ua.register(&[], None).status(), Some(200));
    fail_once(&mut ua);
    fail_once(&mut ua);
    assert!(
        answered(&mut ua),
        "banned although a success came in between"
    );
    fail_once(&mut ua);
    assert!(!answered(&mut ua), "three failures in a row must ban");
}

#[test]
fn failures_outside_the_window_do_not_add_up() {
    let srv = Server::start(ServerOpts::config(
        "[auth]\nban_after_failures = 2\nban_window = 1\nban_duration = 600\n",
    ));
    let mut ua = Ua::new(&srv, "alice");
    fail_once(&mut ua);
    std::thread::sleep(Duration::from_millis(1600));
    fail_once(&mut ua);
    assert!(answered(&mut ua), "failures 1.6 s apart with a 1 s window");
    fail_once(&mut ua);
    assert!(!answered(&mut ua));
}

#[test]
fn ban_expires_and_trusted_sources_are_never_banned() {
    let srv = Server::start(ServerOpts::config(
        "[auth]\nban_after_failures = 2\nban_window = 60\nban_duration = 1\ntrusted = [\"127.0.0.3\"]\n",
    ));
    let mut ua = Ua::new(&srv, "alice");
    fail_once(&mut ua);
    fail_once(&mut ua);
    assert!(!answered(&mut ua));
    std::thread::sleep(Duration::from_millis(1200));
    assert!(answered(&mut ua), "the ban should have expired");

    let mut trusted = Ua::on_wire(&srv, "alice", Wire::udp_on("127.0.0.3"));
    for _ in 0..4 {
        fail_once(&mut trusted);
    }
    assert!(answered(&mut trusted), "a trusted source was banned");
}

#[test]
fn scanner_user_agent_gets_no_answer() {
    let srv = Server::default_start();
    let mut ua = Ua::new(&srv, "alice");
    ua.user_agent = Some("friendly-scanner".into());
    let o = options(&mut ua);
    ua.send(&o);
    let req = ua.register_request();
    ua.send(&req);
    let got = ua.recv(SILENCE);
    assert!(got.is_none(), "scanner got {got:?}");
    // The same source without the scanner User-Agent is answered (dropping is not a ban).
    ua.user_agent = Some("test-ua/1.0".into());
    let o = options(&mut ua);
    assert_eq!(ua.transact(&o).status(), Some(200));
}

#[test]
fn expired_nonce_is_stale() {
    let srv = Server::start(ServerOpts::config("[auth]\nnonce_lifetime = 1\n"));
    let mut ua = Ua::new(&srv, "alice");
    let c = format!("<{}>", ua.contact_uri());
    let req = ua.register_request().header("Contact", &c);
    let (_, ch) = ua.get_challenge(&req);
    std::thread::sleep(Duration::from_millis(2500));
    let late = ua.authorize(&req, &ch, 401, None);
    let resp = ua.transact(&late);
    assert_eq!(resp.status(), Some(401));
    assert_stale(&resp);
    // The fresh nonce of the stale challenge works at once.
    let ch = challenges(&resp);
    assert_ne!(ch[0].nonce, challenges_nonce(&late));
    let retry = ua.authorize(&req, &ch, 401, None);
    assert_eq!(ua.transact(&retry).status(), Some(200));
}

fn challenges_nonce(req: &common::Request) -> String {
    let (_, v) = req
        .headers
        .iter()
        .find(|(n, _)| n == "Authorization")
        .unwrap();
    sip::AuthParams::parse(v).unwrap().get("nonce").unwrap()
}

#[test]
fn forged_nonce_gets_a_fresh_challenge() {
    let srv = Server::default_start();
    let mut ua = Ua::new(&srv, "alice");
    let c = format!("<{}>", ua.contact_uri());
    let req = ua.register_request().header("Contact", &c);
    let (_, ch) = ua.get_challenge(&req);
    for forged in [
        // Our own nonce with one character changed.
        {
            let mut n = ch[0].nonce.clone().into_bytes();
            let last = n.len() - 1;
            n[last] = if n[last] == b'0' { b'1' } else { b'0' };
            String::from_utf8(n).unwrap()
        },
        // A timestamp far in the future with a made-up MAC.
        "ffffffff.0011223344556677.000000000000000000000000".to_owned(),
        "nonsense".to_owned(),
    ] {
        let mut fake = ch[0].clone();
        fake.nonce = forged.clone();
        let mut r = ua.reissue(&req);
        let v = ua.answer(&fake, &r, 1);
        r = r.header("Authorization", &v);
        let resp = ua.transact(&r);
        assert_eq!(resp.status(), Some(401), "forged nonce {forged}");
        assert_not_stale(&resp);
        assert!(challenges(&resp).iter().all(|c| c.nonce != forged));
    }
    // Nothing was registered.
    assert!(ua.register(&[], None).contacts().is_empty());
}
