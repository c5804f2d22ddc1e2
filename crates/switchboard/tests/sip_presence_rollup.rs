//! Issue 4, "How it is checked": a SIPp *second device* of bob publishes, and the rolled-up
//! state follows the documented rules (docs/operator-guide.md "Rollup per subscription",
//! `services::presence::rollup`) for both rollup policies, over SIP and over CAS.
//!
//! bob has two devices: a raw test UA registered without feature tags (voice + IM, RFC 3840
//! default) that published `open` + `rpid:busy`, and SIPp (`tests/sipp/presence_second_device.xml`)
//! registered with `;audio;video` that publishes step by step (RFC 3903 initial, modify,
//! refresh, a stale `SIP-If-Match` refused 412, remove) and finally unregisters. After every
//! step three SIP watchers (`Event: presence;rollup=most-available`, `;rollup=semi-available`
//! and compound) must each get one NOTIFY whose PIDF (parsed with `sip_events::pidf`) says
//! exactly the expected word, and `presence.get` over CAS must answer the same for each rollup
//! (and the compound per-class states).
//!
//! The rules exercised: a device's newest publication decides its state (closed → offline,
//! busy-like → busy, away-like → away, else available), a class takes the most available of
//! its devices (offline < busy < away < available), most-available is the best class,
//! semi-available is `available` when every reachable class is, `semi-available` when some
//! but not all are, otherwise the best state; offline classes never count as reachable.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cas::CasClient;
use common::{DOMAIN, Server, ServerOpts, Ua, WAIT, have, repo};
use serde_json::{Value, json};
use sip::Message;
use sip_events::pidf::{self, Activity, Basic};

/// The Call-ID SIPp gives its only call (`-cid_str presdev2-%u`): the test's go-ahead
/// OPTIONS use it so that SIPp maps them into the running scenario.
const SIPP_CALL_ID: &str = "presdev2-1";

/// What every view must say after one step: the word under most-available and
/// semi-available, and the compound per-class states (voice, video, IM).
#[derive(Debug, Clone, Copy)]
struct Expect {
    most: &'static str,
    semi: &'static str,
    classes: [&'static str; 3],
}

const fn expect(most: &'static str, semi: &'static str, classes: [&'static str; 3]) -> Expect {
    Expect {
        most,
        semi,
        classes,
    }
}

fn is_notify(m: &Message) -> bool {
    m.is_request() && m.method() == "NOTIFY"
}

/// One SIP watcher subscription (its own socket, so NOTIFYs never mix).
struct Watcher {
    ua: Ua,
    rollup: &'static str,
}

impl Watcher {
    fn subscribe(srv: &Server, rollup: &'static str) -> (Watcher, pidf::Document) {
        let mut ua = Ua::new(srv, "alice");
        let uri = format!("sip:bob@{DOMAIN}");
        let contact = format!("<{}>", ua.contact_uri());
        let event = if rollup == "compound" {
            "presence".to_owned()
        } else {
            format!("presence;rollup={rollup}")
        };
        let req = ua
            .request("SUBSCRIBE", &uri, &format!("<{uri}>"))
            .header("Contact", &contact)
            .header("Event", &event)
            .header("Expires", "600");
        let resp = ua.authenticated(&req, None);
        assert_eq!(resp.status(), Some(200), "SUBSCRIBE {event}");
        let mut w = Watcher { ua, rollup };
        let doc = w.next_document();
        (w, doc)
    }

    /// The next NOTIFY's document (answered 200).
    fn next_document(&mut self) -> pidf::Document {
        let n = self
            .ua
            .recv_where(WAIT, is_notify)
            .unwrap_or_else(|| panic!("no NOTIFY for the {} watcher", self.rollup));
        self.ua.reply(&n, 200, "OK", "w", &[], None);
        let state = n.header_named("Subscription-State").unwrap_or_default();
        assert!(state.starts_with("active"), "{state}");
        assert_eq!(n.content_type(), Some("application/pidf+xml"));
        pidf::parse(n.body()).unwrap_or_else(|e| {
            panic!(
                "unparsable PIDF ({e}): {}",
                String::from_utf8_lossy(n.body())
            )
        })
    }

    fn silent(&mut self, d: Duration) {
        if let Some(n) = self.ua.recv_where(d, is_notify) {
            panic!(
                "unexpected NOTIFY for the {} watcher: {}",
                self.rollup,
                String::from_utf8_lossy(n.body())
            );
        }
    }
}

/// The word of a rolled-up document: its single `summary` tuple's note, checked against
/// `basic` (open unless offline) and the person's activities (busy-like only when busy,
/// away-like only when away).
fn rolled_word(doc: &pidf::Document) -> String {
    assert_eq!(doc.entity, format!("sip:bob@{DOMAIN}"));
    assert_eq!(doc.tuples.len(), 1, "{doc:?}");
    let t = &doc.tuples[0];
    assert_eq!(t.id, "summary");
    let word = t.notes[0].text.clone();
    let open = word != "offline";
    assert_eq!(
        t.basic,
        Some(if open { Basic::Open } else { Basic::Closed })
    );
    let acts: Vec<&Activity> = doc.persons.iter().flat_map(|p| &p.activities).collect();
    let busy_like = acts
        .iter()
        .any(|a| matches!(a, Activity::Busy | Activity::OnThePhone));
    let away_like = acts.iter().any(|a| matches!(a, Activity::Away));
    assert_eq!(busy_like, word == "busy", "{word}: activities {acts:?}");
    assert_eq!(away_like, word == "away", "{word}: activities {acts:?}");
    word
}

/// The per-class words of a compound document (tuples `voice`, `video`, `im`).
fn class_words(doc: &pidf::Document) -> [String; 3] {
    ["voice", "video", "im"].map(|id| {
        let t = doc
            .tuples
            .iter()
            .find(|t| t.id == id)
            .unwrap_or_else(|| panic!("no tuple {id}: {doc:?}"));
        let word = t.notes[0].text.clone();
        let basic = if word == "offline" {
            Basic::Closed
        } else {
            Basic::Open
        };
        assert_eq!(t.basic, Some(basic), "{id}: {word}");
        word
    })
}

/// The three SIP watchers and the CAS client, checked together after each step.
struct Watchers {
    most: Watcher,
    semi: Watcher,
    compound: Watcher,
    cas: CasClient,
}

impl Watchers {
    fn cas_get(&mut self, rollup: &str) -> Value {
        let r = self.cas.call(
            "presence",
            "get",
            json!({"users": ["bob"], "rollup": rollup}),
        );
        assert_eq!(r["response"], 0, "{r}");
        let p = r["presence"][0].clone();
        assert_eq!(p["authorized"], true, "{p}");
        assert_eq!(p["rollup"], rollup, "{p}");
        p
    }

    /// Asserts the documents (already received) and CAS agree with `e`.
    fn assert_state(&mut self, step: &str, e: Expect, docs: [&pidf::Document; 3]) {
        assert_eq!(rolled_word(docs[0]), e.most, "{step}: SIP most-available");
        assert_eq!(rolled_word(docs[1]), e.semi, "{step}: SIP semi-available");
        assert_eq!(class_words(docs[2]), e.classes, "{step}: SIP compound");
        let p = self.cas_get("most-available");
        assert_eq!(p["state"], e.most, "{step}: CAS most-available {p}");
        assert!(p.get("classes").is_none(), "{p}");
        let p = self.cas_get("semi-available");
        assert_eq!(p["state"], e.semi, "{step}: CAS semi-available {p}");
        let p = self.cas_get("compound");
        let classes = ["voice", "video", "im"].map(|c| p["classes"][c].as_str().unwrap_or("?"));
        assert_eq!(classes, e.classes, "{step}: CAS compound {p}");
        // Compound answers `state` like most-available.
        assert_eq!(p["state"], e.most, "{step}: CAS compound state {p}");
    }

    /// Each SIP watcher gets exactly one NOTIFY for the step; all views agree with `e`.
    fn step(&mut self, step: &str, e: Expect) {
        let most = self.most.next_document();
        let semi = self.semi.next_document();
        let compound = self.compound.next_document();
        self.assert_state(step, e, [&most, &semi, &compound]);
    }
}

/// SIPp as bob's second device, killed on drop.
struct Sipp {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    go: UdpSocket,
    steps: u32,
}

impl Sipp {
    fn start(srv: &Server) -> Sipp {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("sipp")
            .arg(srv.addr.to_string())
            .arg("-sf")
            .arg(repo().join("tests/sipp/presence_second_device.xml"))
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-cid_str", "presdev2-%u"])
            .args(["-nostdin", "-m", "1", "-timeout", "18s", "-timeout_error"])
            .args(["-trace_err", "-trace_msg"])
            .args(["-key", "domain", DOMAIN, "-key", "user", "bob"])
            .args(["-au", "bob", "-ap", &srv.password("bob")])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let go = UdpSocket::bind("127.0.0.1:0").unwrap();
        Sipp {
            child,
            port,
            dir,
            go,
            steps: 0,
        }
    }

    /// Starts SIPp's next step: an OPTIONS in its call (SIPp maps it by Call-ID). It is not
    /// answered (SIPp sends everything to its remote, the server); the watchers' NOTIFYs
    /// show that the step happened.
    fn go(&mut self) {
        self.steps += 1;
        let me = self.go.local_addr().unwrap();
        let msg = format!(
            "OPTIONS sip:bob@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKgo{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:test@{DOMAIN}>;tag=go\r\nTo: <sip:bob@{DOMAIN}>\r\n\
             Call-ID: {SIPP_CALL_ID}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n",
            port = self.port,
            n = self.steps,
        );
        self.go
            .send_to(msg.as_bytes(), ("127.0.0.1", self.port))
            .unwrap();
    }

    /// Waits (bounded) for SIPp to finish its scenario successfully.
    fn finish(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                assert!(st.success(), "SIPp failed ({st}):\n{}", self.logs());
                return;
            }
            assert!(
                Instant::now() < deadline,
                "SIPp did not finish:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(self.dir.path()).unwrap() {
            let p = e.unwrap().path();
            out.push_str(&format!("--- {}\n", p.display()));
            out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
        }
        out
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// bob's desk phone publishes `open` + `rpid:busy` for itself (voice + IM).
fn desk_phone_busy(srv: &Server) -> Ua {
    let mut desk = Ua::new(srv, "bob");
    let c = format!("<{}>", desk.contact_uri());
    assert_eq!(desk.register(&[&c], Some(600)).status(), Some(200));
    desk.new_call();
    let aor = desk.aor();
    let mut r = desk
        .request("PUBLISH", &aor, &format!("<{aor}>"))
        .header("Event", "presence")
        .header("Expires", "600");
    r.content_type = Some("application/pidf+xml".into());
    r.body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence \
         xmlns=\"urn:ietf:params:xml:ns:pidf\" \
         xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" \
         xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"{aor}\">\
         <tuple id=\"desk\"><status><basic>open</basic></status></tuple>\
         <dm:person id=\"p\"><rpid:activities><rpid:busy/></rpid:activities></dm:person>\
         </presence>"
    )
    .into_bytes();
    assert_eq!(desk.authenticated(&r, None).status(), Some(200));
    desk
}

#[test]
fn second_device_rolls_up_over_sip_and_cas() {
    if !have("sipp") {
        return;
    }
    let srv = Server::start(ServerOpts::default());
    let _desk = desk_phone_busy(&srv);

    let (most, d0) = Watcher::subscribe(&srv, "most-available");
    let (semi, d1) = Watcher::subscribe(&srv, "semi-available");
    let (compound, d2) = Watcher::subscribe(&srv, "compound");
    let mut w = Watchers {
        most,
        semi,
        compound,
        cas: CasClient::login(&srv, "alice"),
    };
    // The desk phone alone: voice and IM busy, no video device.
    let desk_only = expect("busy", "busy", ["busy", "offline", "busy"]);
    w.assert_state("desk phone only", desk_only, [&d0, &d1, &d2]);

    let mut sipp = Sipp::start(&srv);
    // Registered (;audio;video), no publication: available for voice and video; IM is only
    // the desk phone's. Available on some but not all reachable classes.
    w.step(
        "SIPp registered",
        expect(
            "available",
            "semi-available",
            ["available", "available", "busy"],
        ),
    );

    sipp.go();
    // Initial PUBLISH open + on-the-phone: every class busy.
    w.step("initial busy", expect("busy", "busy", ["busy"; 3]));

    sipp.go();
    // Modify to away: voice is the better of busy (desk) and away; nothing is available, so
    // semi-available shows the best state.
    w.step(
        "modify away",
        expect("away", "away", ["away", "away", "busy"]),
    );
    let before_refresh = w.cas_get("compound")["version"].clone();

    sipp.go();
    // Refresh (no body) changes nothing; a modify with the entity tag the refresh replaced
    // is refused (412) and changes nothing either.
    w.compound.silent(Duration::from_millis(1200));
    w.most.silent(Duration::from_millis(1));
    w.semi.silent(Duration::from_millis(1));
    assert_eq!(w.cas_get("compound")["version"], before_refresh);
    let same = expect("away", "away", ["away", "away", "busy"]);
    let p = w.cas_get("most-available");
    assert_eq!(p["state"], same.most, "{p}");
    let p = w.cas_get("semi-available");
    assert_eq!(p["state"], same.semi, "{p}");

    sipp.go();
    // Modify to open without activity (and a note): voice and video available, IM busy.
    w.step(
        "modify available",
        expect(
            "available",
            "semi-available",
            ["available", "available", "busy"],
        ),
    );
    assert_eq!(w.cas_get("compound")["note"], "second device here");

    sipp.go();
    // Modify to closed: the second device is offline, video has no device left; offline is
    // not "reachable", so semi-available is the desk phone's busy.
    w.step(
        "modify closed",
        expect("busy", "busy", ["busy", "offline", "busy"]),
    );

    sipp.go();
    // Remove (Expires: 0): the registration alone speaks again.
    w.step(
        "remove",
        expect(
            "available",
            "semi-available",
            ["available", "available", "busy"],
        ),
    );

    sipp.go();
    // Unregistered: back to the desk phone alone.
    w.step("unregistered", desk_only);
    sipp.finish();
}
