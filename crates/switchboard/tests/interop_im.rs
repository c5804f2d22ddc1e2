//! Interop for instant messaging: an IM from a CAS client to a real baresip phone and back.
//! bob's headless baresip registers (domain `127.0.0.1:PORT`, an alias of the default
//! domain); alice, a CAS client over HTTP long-poll, sends `im.send` to bob and the phone
//! prints it with alice's AOR as From; the phone then sends a SIP MESSAGE (answering the
//! 407 itself) to `sip:alice@127.0.0.1:PORT` and alice's long-poll gets the `received`
//! event. The exchange is driven by `tests/phones/im_test.py`; both texts must then be in
//! alice's conversation history with bob.
//!
//! baresip must be installed (`apt-get install baresip-core`); a missing peer fails the
//! test unless `SWITCHBOARD_SKIP_INTEROP=1` is set.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;
use common::cas::CasClient;
use serde_json::{Value, json};

use common::{have, repo};

#[test]
fn baresip_phone_and_cas_client_exchange_messages() {
    if !have("baresip") || !have("python3") {
        return;
    }
    let t0 = Instant::now();
    let server = Server::default_start();
    let work = tempfile::tempdir().unwrap();
    let port = server.addr.port().to_string();
    // The phone uses the server's address as its domain, an alias of the default domain.
    let domain = format!("127.0.0.1:{port}");
    let out_path = work.path().join("im_test.out");
    let err_path = work.path().join("im_test.err");
    let mut child = Command::new("python3")
        .arg(repo().join("tests/phones/im_test.py"))
        .args([
            "127.0.0.1",
            &port,
            &domain,
            "bob",
            &server.password("bob"),
            "alice",
            &server.password("alice"),
        ])
        .args(["--cas", &format!("http://{}", server.http)])
        .args(["--deadline", "20", "--workdir"])
        .arg(work.path().join("run"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    // im_test.py bounds itself; this is the backstop (kill by PID).
    let deadline = Instant::now() + Duration::from_secs(25);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let context = || {
        format!(
            "{stdout}\n{stderr}\n--- baresip\n{}\n--- server\n{}",
            std::fs::read_to_string(work.path().join("run/bob/baresip.log")).unwrap_or_default(),
            server.stderr_text()
        )
    };
    assert!(
        status.is_some_and(|s| s.success()),
        "im_test.py failed ({status:?}):\n{}",
        context()
    );
    let summary: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON summary ({e}):\n{}", context()));
    assert_eq!(summary["ok"], true, "{}", context());
    for check in [
        "phone_registered",
        "cas_send_reached_device",
        "phone_got_text",
        "phone_from_is_cas_user",
        "phone_send_accepted",
        "cas_got_text",
        "cas_from_is_phone_user",
    ] {
        assert_eq!(summary["checks"][check], true, "{check}: {}", context());
    }
    // CAS → phone: From is alice's AOR in the server's domain.
    assert_eq!(
        summary["phone_received"]["from"],
        format!("sip:alice@{}", common::DOMAIN),
        "{}",
        context()
    );
    // Phone → CAS: from bob, answered 200 (alice is online on CAS) or 202 (stored).
    assert_eq!(
        summary["cas_received"]["from"],
        format!("bob@{}", common::DOMAIN)
    );
    let (to_phone, to_cas) = (
        summary["to_phone"].as_str().unwrap(),
        summary["to_cas"].as_str().unwrap(),
    );
    assert_eq!(summary["cas_received"]["text"], to_cas);

    // The server kept both in the conversation, as seen from alice.
    let mut alice = CasClient::login(&server, "alice");
    let h = alice.call("im", "history", json!({"with": "bob"}));
    assert_eq!(h["response"], 0, "{h}");
    let got: Vec<(&str, &str)> = h["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap(),
                m["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("out", to_phone), ("in", to_cas)], "{h}");
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
}
