//! Interop for presence (RFC 3856, RFC 3903) with two real baresip phones: A watches B
//! (baresip's presence module subscribes without an `Accept` header), B publishes online and
//! offline (PUBLISH with entity tags), A's phone shows each change; a call from A to B turns
//! B's voice presence Busy for A while it rings and is answered, and Online again after the
//! hang-up (call activity from the B2BUA). The phones are driven by
//! `tests/phones/presence_test.py`, which reads A's view with baresip's `contacts` command.
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

use common::phones::run_script;
use common::{Server, have};

#[test]
fn baresip_watcher_follows_publications_and_calls() {
    if !have("baresip") || !have("python3") {
        return;
    }
    let t0 = Instant::now();
    let server = Server::default_start();
    let run = run_script(&server, "presence_test.py", ["alice", "bob"], &[], 20);
    run.assert_checks(
        &server,
        &[
            "a_sees_b_online",
            "a_sees_b_offline",
            "a_sees_b_online_again",
            "b_rings",
            "a_sees_b_busy_while_ringing",
            "call_established",
            "a_sees_b_busy_on_call",
            "a_sees_b_online_after_call",
        ],
    );
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
}
