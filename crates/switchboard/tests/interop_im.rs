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

use std::time::{Duration, Instant};

use common::cas::CasClient;
use common::phones::run_script;
use common::{Server, have};
use serde_json::json;

#[test]
fn baresip_phone_and_cas_client_exchange_messages() {
    if !have("baresip") || !have("python3") {
        return;
    }
    let t0 = Instant::now();
    let server = Server::default_start();
    let cas = format!("http://{}", server.http);
    let run = run_script(
        &server,
        "im_test.py",
        ["bob", "alice"],
        &["--cas", &cas],
        20,
    );
    run.assert_checks(
        &server,
        &[
            "phone_registered",
            "cas_send_reached_device",
            "phone_got_text",
            "phone_from_is_cas_user",
            "phone_send_accepted",
            "cas_got_text",
            "cas_from_is_phone_user",
        ],
    );
    let summary = &run.summary;
    let context = || run.context(&server);
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
