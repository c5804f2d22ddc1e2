//! Interop for message-waiting (RFC 3842) with real baresip phones, end to end through our
//! voicemail: bob's phone (baresip with its `mwi` module, subscribed to its own
//! `message-summary`) does not answer alice's call, alice's phone leaves a message (a WAV
//! ending in a 440 Hz tone), bob's phone shows `Messages-Waiting: yes` with
//! `Voice-Message: 1/0`; bob dials the voicemail number, hears the tone, deletes it with `7`,
//! and his phone shows `Messages-Waiting: no`, `0/0`. Bob's CAS client gets the same two
//! changes as `mwi` events. The phones are driven by `tests/phones/mwi_test.py` (which also
//! checks that baresip's mwi.c subscribe storm, phones/NOTES.md §2, did not happen).
//!
//! baresip must be installed (`apt-get install baresip-core`); a missing peer skips the test.

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
use common::rtp::short_prompts;
use common::{Server, ServerOpts, have};

#[test]
fn baresip_phone_shows_message_waiting_and_its_drop() {
    if !have("baresip") || !have("python3") {
        return;
    }
    let t0 = Instant::now();
    let prompts = short_prompts(300);
    let server = Server::start(ServerOpts::config(&format!(
        "[calls]\nring_timeout = 1\n[voicemail]\ndefault_pin = \"1234\"\n[media]\nport_min = 33000\nport_max = 33999\nprompts_dir = \"{}\"\n",
        prompts.path().display()
    )));
    let mut bob_cas = CasClient::login(&server, "bob");
    bob_cas.events(0);
    let before = bob_cas.call("mwi", "get", serde_json::json!({}));
    assert_eq!(before["total"]["new"], 0, "{before}");

    let run = run_script(&server, "mwi_test.py", ["alice", "bob"], &["1234"], 19);
    eprintln!("{}", run.stdout);
    run.assert_checks(
        &server,
        &[
            "b_subscribed",
            "b_rang",
            "a_answered_by_voicemail",
            "a_hung_up_at_eof",
            "b_mwi_yes_1_new",
            "b_vm_established",
            "b_heard_tone",
            "b_mwi_no_after_delete",
            "b_no_subscribe_storm",
        ],
    );

    // Bob's CAS client heard both changes of our system: one new message, then none.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut totals: Vec<(u64, u64)> = Vec::new();
    while Instant::now() < deadline && totals.last() != Some(&(0, 0)) {
        for e in bob_cas.events(1) {
            if e["topic"] == "mwi" && e["changed"] == "local" {
                totals.push((
                    e["total"]["new"].as_u64().unwrap(),
                    e["total"]["old"].as_u64().unwrap(),
                ));
            }
        }
    }
    assert!(totals.contains(&(1, 0)), "{totals:?}");
    assert_eq!(totals.last(), Some(&(0, 0)), "{totals:?}");
    let after = bob_cas.call("mwi", "get", serde_json::json!({}));
    assert_eq!(after["waiting"], false, "{after}");
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
}
