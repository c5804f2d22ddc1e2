//! REGISTER against the real binary (RFC 3261 §10.3, RFC 8760): digest with MD5 and SHA-256,
//! several contacts, refresh, expiry rules, `*` removal, persistence, TCP, foreign domains.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{DOMAIN, Server, ServerOpts, Ua, WAIT, Wire, contact_expiries, sdp, token};
use sip::HeaderName;
use sip::digest::Algorithm;

#[test]
fn register_md5_by_default() {
    let srv = Server::default_start();
    let mut ua = Ua::new(&srv, "alice");
    let contact = ua.contact_uri();
    let mut req = ua.register_request();
    req = req.header("Contact", &format!("<{contact}>"));
    let (resp, ch) = ua.get_challenge(&req);
    assert_eq!(resp.status(), Some(401));
    assert!(resp.header(HeaderName::ProxyAuthenticate).is_none());
    // The default offers MD5 only (docs/operator-guide.md: libre interop).
    let algs: Vec<&str> = ch.iter().map(|c| c.algorithm.as_str()).collect();
    assert_eq!(algs, ["MD5"]);
    let c = &ch[0];
    assert_eq!(c.realm, DOMAIN);
    assert_eq!(c.qop.as_deref(), Some("auth"));
    assert!(!c.stale);
    assert!(!c.nonce.is_empty());
    let authed = ua.authorize(&req, &ch, 401, Some(Algorithm::Md5));
    let ok = ua.transact(&authed);
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    let exp = contact_expiries(&ok);
    assert_eq!(exp.len(), 1);
    // No Expires anywhere: default_expires (3600).
    assert_eq!(exp.get(&contact), Some(&3600), "{exp:?}");
    assert!(
        ok.header(HeaderName::Date)
            .is_some_and(|d| d.ends_with("GMT"))
    );
    // The 200 carries a To tag (§8.2.6.2) and echoes the CSeq.
    assert!(ok.to().unwrap().tag().is_some());
    assert_eq!(ok.cseq().unwrap().seq, authed.cseq);
}

#[test]
fn register_with_either_configured_algorithm() {
    let srv = Server::start(ServerOpts::config(
        "[auth]\nalgorithms = [\"SHA-256\", \"MD5\"]\n",
    ));
    for (user, alg) in [("alice", Algorithm::Sha256), ("bob", Algorithm::Md5)] {
        let mut ua = Ua::new(&srv, user);
        let c = format!("<{}>", ua.contact_uri());
        let req = ua.register_request().header("Contact", &c);
        let (_, ch) = ua.get_challenge(&req);
        // One row per algorithm, in the configured order, sharing one nonce.
        let algs: Vec<&str> = ch.iter().map(|c| c.algorithm.as_str()).collect();
        assert_eq!(algs, ["SHA-256", "MD5"]);
        assert_eq!(ch[0].nonce, ch[1].nonce);
        let authed = ua.authorize(&req, &ch, 401, Some(alg));
        assert_eq!(ua.transact(&authed).status(), Some(200), "{alg:?}");
    }
}

#[test]
fn register_sha256_only() {
    let srv = Server::start(ServerOpts::config("[auth]\nalgorithms = [\"SHA-256\"]\n"));
    let mut ua = Ua::new(&srv, "alice");
    let contact = format!("<{}>", ua.contact_uri());
    let req = ua.register_request().header("Contact", &contact);
    let (_, ch) = ua.get_challenge(&req);
    assert_eq!(ch.len(), 1, "{ch:?}");
    assert_eq!(ch[0].algorithm, "SHA-256");
    let authed = ua.authorize(&req, &ch, 401, Some(Algorithm::Sha256));
    assert_eq!(ua.transact(&authed).status(), Some(200));

    // An MD5 answer is not accepted when only SHA-256 is configured: challenged again.
    let req = ua.register_request().header("Contact", &contact);
    let (_, ch) = ua.get_challenge(&req);
    let mut r = ua.reissue(&req);
    let mut md5 = ch[0].clone();
    md5.algorithm = "MD5".into();
    let v = ua.answer(&md5, &r, 1);
    r = r.header("Authorization", &v);
    let resp = ua.transact(&r);
    assert_eq!(resp.status(), Some(401));
}

#[test]
fn several_contacts_refresh_and_expiry_rules() {
    let srv = Server::default_start();
    let mut ua = Ua::new(&srv, "alice");
    let c1 = "sip:alice@127.0.0.1:40001";
    let c2 = "sip:alice@127.0.0.1:40002";
    let c3 = "sip:alice@127.0.0.1:40003";

    // Two contacts in one request: the expires parameter wins over the Expires header.
    let ok = ua.register(
        &[&format!("<{c1}>;expires=120"), &format!("<{c2}>")],
        Some(600),
    );
    assert_eq!(ok.status(), Some(200));
    let exp = contact_expiries(&ok);
    assert_eq!(exp.len(), 2, "{exp:?}");
    assert_eq!(exp[c1], 120);
    assert_eq!(exp[c2], 600);

    // A third one from another request; the 200 lists all of them.
    let ok = ua.register(&[&format!("<{c3}>")], Some(300));
    let exp = contact_expiries(&ok);
    assert_eq!(exp.len(), 3, "{exp:?}");
    assert_eq!(exp[c3], 300);
    assert!(exp[c1] <= 120 && exp[c1] >= 115);

    // Refresh of c1 (same Call-ID, higher CSeq): still three bindings, new expiry.
    let ok = ua.register(&[&format!("<{c1}>")], Some(900));
    let exp = contact_expiries(&ok);
    assert_eq!(exp.len(), 3, "{exp:?}");
    assert_eq!(exp[c1], 900);

    // Longer than max_expires (7200) is shortened.
    let ok = ua.register(&[&format!("<{c2}>")], Some(999_999));
    assert_eq!(contact_expiries(&ok)[c2], 7200);

    // Too short: 423 with Min-Expires, nothing changed.
    let mut req = ua.register_request();
    req = req.header("Contact", &format!("<{c3}>;expires=10"));
    let resp = ua.authenticated(&req, None);
    assert_eq!(resp.status(), Some(423));
    assert_eq!(resp.header(HeaderName::MinExpires), Some("60"));
    let mut req = ua.register_request();
    req = req
        .header("Contact", &format!("<{c3}>"))
        .header("Expires", "59");
    let resp = ua.authenticated(&req, None);
    assert_eq!(resp.status(), Some(423));
    assert_eq!(resp.header(HeaderName::MinExpires), Some("60"));

    // A query (no Contact) lists the bindings without changing them.
    let ok = ua.register(&[], None);
    let exp = contact_expiries(&ok);
    assert_eq!(exp.len(), 3, "{exp:?}");
    assert!(
        exp[c3] <= 300 && exp[c3] >= 295,
        "423 must not touch c3: {exp:?}"
    );

    // Un-register one contact.
    let ok = ua.register(&[&format!("<{c2}>;expires=0")], None);
    let exp = contact_expiries(&ok);
    assert_eq!(exp.len(), 2, "{exp:?}");
    assert!(!exp.contains_key(c2));
    let ok = ua.register(&[&format!("<{c3}>")], Some(0));
    let exp = contact_expiries(&ok);
    assert_eq!(exp.keys().collect::<Vec<_>>(), [&c1.to_owned()]);
}

#[test]
fn min_expires_from_config() {
    let srv = Server::start(ServerOpts::config("[registrar]\nmin_expires = 300\n"));
    let mut ua = Ua::new(&srv, "carol");
    let c = format!("<{}>", ua.contact_uri());
    let mut req = ua.register_request();
    req = req.header("Contact", &c).header("Expires", "120");
    let resp = ua.authenticated(&req, None);
    assert_eq!(resp.status(), Some(423));
    assert_eq!(resp.header(HeaderName::MinExpires), Some("300"));
    assert_eq!(ua.register(&[&c], Some(300)).status(), Some(200));
}

#[test]
fn star_removes_all_and_needs_expires_zero() {
    let srv = Server::default_start();
    let mut ua = Ua::new(&srv, "bob");
    let ok = ua.register(
        &["<sip:bob@127.0.0.1:41001>", "<sip:bob@127.0.0.1:41002>"],
        Some(600),
    );
    assert_eq!(contact_expiries(&ok).len(), 2);

    // '*' with a non-zero Expires: 400.
    let req = ua
        .register_request()
        .header("Contact", "*")
        .header("Expires", "60");
    assert_eq!(ua.authenticated(&req, None).status(), Some(400));
    // '*' without Expires: 400.
    let req = ua.register_request().header("Contact", "*");
    assert_eq!(ua.authenticated(&req, None).status(), Some(400));
    // '*' together with another contact: 400.
    let req = ua
        .register_request()
        .header("Contact", "*")
        .header("Contact", "<sip:bob@127.0.0.1:41003>")
        .header("Expires", "0");
    assert_eq!(ua.authenticated(&req, None).status(), Some(400));
    assert_eq!(contact_expiries(&ua.register(&[], None)).len(), 2);

    // '*' with Expires: 0 removes everything; the 200 lists no contact.
    let req = ua
        .register_request()
        .header("Contact", "*")
        .header("Expires", "0");
    let ok = ua.authenticated(&req, None);
    assert_eq!(ok.status(), Some(200));
    assert!(ok.contacts().is_empty(), "{ok:?}");
    assert!(ua.register(&[], None).contacts().is_empty());
}

#[test]
fn too_many_contacts_is_forbidden() {
    let srv = Server::start(ServerOpts::config(
        "[registrar]\nmax_contacts_per_aor = 2\n",
    ));
    let mut ua = Ua::new(&srv, "alice");
    let ok = ua.register(
        &["<sip:alice@127.0.0.1:45001>", "<sip:alice@127.0.0.1:45002>"],
        None,
    );
    assert_eq!(ok.status(), Some(200));
    let resp = ua.register(&["<sip:alice@127.0.0.1:45003>"], None);
    assert_eq!(resp.status(), Some(403));
    assert_eq!(contact_expiries(&ua.register(&[], None)).len(), 2);
}

#[test]
fn out_of_order_cseq_is_refused() {
    let srv = Server::default_start();
    let mut ua = Ua::new(&srv, "alice");
    let c = "<sip:alice@127.0.0.1:42001>";
    assert_eq!(ua.register(&[c], Some(600)).status(), Some(200));
    assert_eq!(ua.register(&[c], Some(600)).status(), Some(200));
    let high = ua.cseq;
    // Same Call-ID, lower CSeq than the stored binding (§10.3 step 7).
    ua.cseq = 0;
    let req = ua.register_request().header("Contact", c);
    let resp = ua.authenticated(&req, None);
    assert!(ua.cseq < high);
    assert_eq!(resp.status(), Some(400));
}

#[test]
fn register_over_tcp() {
    let srv = Server::default_start();
    let wire = Wire::tcp(srv.addr);
    let mut ua = Ua::on_wire(&srv, "carol", wire);
    let c = format!("<{}>", ua.contact_uri());
    let ok = ua.register(&[&c], Some(600));
    assert_eq!(ok.status(), Some(200));
    let via = ok.top_via().unwrap();
    assert_eq!(via.transport, "TCP");
    let exp = contact_expiries(&ok);
    assert_eq!(exp.len(), 1);
    assert!(exp.keys().all(|k| k.ends_with(";transport=tcp")), "{exp:?}");
    // Two requests in one TCP write are framed by Content-Length.
    let mut a = common::options(&mut ua);
    a = a.sdp("v=0\r\n");
    let b = common::options(&mut ua);
    let mut both = a.bytes();
    both.extend_from_slice(&b.bytes());
    ua.send_raw(&both);
    assert_eq!(ua.final_response(&a, WAIT).unwrap().status(), Some(200));
    assert_eq!(ua.final_response(&b, WAIT).unwrap().status(), Some(200));
}

#[test]
fn foreign_domain_is_forbidden() {
    let srv = Server::default_start();
    let mut ua = Ua::new(&srv, "alice");
    // Request-URI names a domain we do not serve.
    let req = ua
        .request(
            "REGISTER",
            "sip:elsewhere.example",
            "<sip:alice@elsewhere.example>",
        )
        .header("Contact", "<sip:alice@127.0.0.1:43001>");
    let resp = ua.transact(&req);
    assert_eq!(resp.status(), Some(403));
    // Our domain in the Request-URI, but the AOR is foreign.
    let req = ua
        .request(
            "REGISTER",
            &format!("sip:{DOMAIN}"),
            "<sip:alice@elsewhere.example>",
        )
        .header("Contact", "<sip:alice@127.0.0.1:43001>");
    let resp = ua.transact(&req);
    assert_eq!(resp.status(), Some(403));
    assert!(resp.header(HeaderName::WwwAuthenticate).is_none());
}

#[test]
fn bindings_persist_across_restart() {
    let mut srv = Server::start(ServerOpts::config(common::calls::NO_VOICEMAIL));
    let mut bob = Ua::new(&srv, "bob");
    let contact = bob.contact_uri();
    let ok = bob.register(&[&format!("<{contact}>")], Some(3600));
    assert_eq!(ok.status(), Some(200));

    // Removals must persist too: carol keeps one of two contacts, alice none.
    let mut carol = Ua::new(&srv, "carol");
    let (k1, k2) = ("sip:carol@127.0.0.1:44001", "sip:carol@127.0.0.1:44002");
    carol.register(&[&format!("<{k1}>"), &format!("<{k2}>")], Some(600));
    let ok = carol.register(&[&format!("<{k2}>;expires=0")], None);
    assert_eq!(contact_expiries(&ok).len(), 1);
    let mut alice = Ua::new(&srv, "alice");
    alice.register(&["<sip:alice@127.0.0.1:44003>"], Some(600));
    let star = alice
        .register_request()
        .header("Contact", "*")
        .header("Expires", "0");
    assert_eq!(alice.authenticated(&star, None).status(), Some(200));

    srv.restart();

    // The store has the binding.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let data = srv.data_dir();
    let bindings = rt
        .block_on(async {
            let store = store::Store::open(&data).await?;
            store.load_bindings(now).await
        })
        .unwrap();
    let of = |user: &str| -> Vec<&store::Binding> {
        bindings
            .iter()
            .filter(|b| b.aor == format!("{user}@{DOMAIN}"))
            .collect()
    };
    assert!(of("alice").is_empty(), "{bindings:?}");
    let c: Vec<&str> = of("carol").iter().map(|b| b.contact.as_str()).collect();
    assert_eq!(c, [k1], "{bindings:?}");
    let b = of("bob");
    assert_eq!(b.len(), 1, "{bindings:?}");
    assert_eq!(b[0].transport, "udp");
    assert_eq!(b[0].source, bob.local().to_string());
    assert_eq!(b[0].contact, contact);
    assert!(b[0].expires_at > now + 3500);

    // The restarted server lists it, and a call reaches the device.
    bob.server = srv.addr;
    let exp = contact_expiries(&bob.register(&[], None));
    assert_eq!(exp.len(), 1);
    assert!(exp[&contact] > 3500);

    let mut alice = Ua::new(&srv, "alice");
    let offer = sdp("alice", 40000);
    let to = format!("<sip:bob@{DOMAIN}>");
    let contact_a = format!("<{}>", alice.contact_uri());
    let invite = alice
        .request("INVITE", &format!("sip:bob@{DOMAIN}"), &to)
        .header("Contact", &contact_a)
        .sdp(&offer);
    let invite = alice.send_authenticated(&invite, None);
    let forked = bob
        .recv_where(WAIT, |m| m.method() == "INVITE")
        .expect("the restarted server should fork the call to the stored binding");
    assert_eq!(forked.uri_str(), contact);
    assert_eq!(forked.body(), offer.as_bytes());
    bob.reply(&forked, 486, "Busy Here", &token("b"), &[], None);
    let resp = alice.final_response(&invite, WAIT).unwrap();
    assert_eq!(resp.status(), Some(486));
}
