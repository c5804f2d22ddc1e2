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

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, have, repo};
use serde_json::Value;

#[test]
fn baresip_watcher_follows_publications_and_calls() {
    if !have("baresip") || !have("python3") {
        return;
    }
    let t0 = Instant::now();
    let server = Server::default_start();
    let work = tempfile::tempdir().unwrap();
    let port = server.addr.port().to_string();
    // The phones use the server's address as their domain, an alias of the default domain.
    let domain = format!("127.0.0.1:{port}");
    let out_path = work.path().join("presence_test.out");
    let err_path = work.path().join("presence_test.err");
    let mut child = Command::new("python3")
        .arg(repo().join("tests/phones/presence_test.py"))
        .args([
            "127.0.0.1",
            &port,
            &domain,
            "alice",
            &server.password("alice"),
            "bob",
            &server.password("bob"),
        ])
        .args(["--deadline", "20", "--workdir"])
        .arg(work.path().join("run"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    // presence_test.py bounds itself; this is the backstop (kill by PID).
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
        let log = |who: &str| {
            std::fs::read_to_string(work.path().join(format!("run/{who}/baresip.log")))
                .unwrap_or_default()
        };
        format!(
            "{stdout}\n{stderr}\n--- alice\n{}\n--- bob\n{}\n--- server\n{}",
            log("alice"),
            log("bob"),
            server.stderr_text()
        )
    };
    assert!(
        status.is_some_and(|s| s.success()),
        "presence_test.py failed ({status:?}):\n{}",
        context()
    );
    let summary: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON summary ({e}):\n{}", context()));
    assert_eq!(summary["ok"], true, "{}", context());
    for check in [
        "a_sees_b_online",
        "a_sees_b_offline",
        "a_sees_b_online_again",
        "b_rings",
        "a_sees_b_busy_while_ringing",
        "call_established",
        "a_sees_b_busy_on_call",
        "a_sees_b_online_after_call",
    ] {
        assert_eq!(summary["checks"][check], true, "{check}: {}", context());
    }
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
}
