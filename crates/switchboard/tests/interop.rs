//! Interop with independent peers over the wire: SIPp scenarios (RFC 3261 §10 registration
//! with digest, calls through the B2BUA incl. CANCEL and no-answer) and two headless baresip
//! phones that register, call, exchange audio both ways, send RFC 4733 DTMF and hang up.
//!
//! The peers must be installed (`apt-get install sip-tester baresip-core`); a missing peer
//! fails the test unless `SWITCHBOARD_SKIP_INTEROP=1` is set.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, ServerOpts};

use common::phones::run_script;
use common::{have, repo};

fn sipp(server: &Server, scenario: &str, args: &[&str], dir: &std::path::Path) -> Command {
    let mut c = Command::new("sipp");
    c.arg(server.addr.to_string())
        .arg("-sf")
        .arg(repo().join("tests/sipp").join(scenario))
        .args([
            "-i",
            "127.0.0.1",
            "-nostdin",
            "-m",
            "1",
            "-timeout",
            "30s",
            "-timeout_error",
        ])
        .args(["-trace_err", "-trace_msg"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// Waits for a child with a deadline; kills it by PID when late.
fn wait(mut child: Child, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn logs(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".log") {
            out += &format!(
                "--- {name}\n{}\n",
                std::fs::read_to_string(e.path()).unwrap_or_default()
            );
        }
    }
    out
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs a UAS (registers bob, then plays `uas`) and a UAC (alice calls bob with `uac`).
fn sipp_call(server: &Server, uas: &str, uac: &str, uac_extra: &[&str]) -> (bool, bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let domain = common::DOMAIN;
    let (pa, pb) = (server.password("alice"), server.password("bob"));
    let port = free_udp_port().to_string();
    let uas_child = sipp(
        server,
        "uas-register.xml",
        &[
            "-oocsf",
            &repo().join("tests/sipp").join(uas).to_string_lossy(),
            "-key",
            "domain",
            domain,
            "-key",
            "user",
            "bob",
            "-au",
            "bob",
            "-ap",
            &pb,
            "-auth_uri",
            domain,
            "-p",
            &port,
        ],
        dir.path(),
    )
    .spawn()
    .unwrap();
    // Give the UAS time to register.
    std::thread::sleep(Duration::from_millis(700));
    let callee_uri = format!("bob@{domain}");
    let mut uac_args = vec![
        "-key",
        "domain",
        domain,
        "-key",
        "user",
        "alice",
        "-s",
        "bob",
        "-au",
        "alice",
        "-ap",
        &pa,
        "-auth_uri",
        &callee_uri,
    ];
    uac_args.extend_from_slice(uac_extra);
    let uac_ok = wait(
        sipp(server, uac, &uac_args, dir.path()).spawn().unwrap(),
        40,
    )
    .success();
    let uas_ok = wait(uas_child, 40).success();
    (uac_ok, uas_ok, logs(dir.path()))
}

#[test]
fn sipp_register_with_digest() {
    if !have("sipp") {
        return;
    }
    let server = Server::default_start();
    let dir = tempfile::tempdir().unwrap();
    let pw = server.password("carol");
    let st = wait(
        sipp(
            &server,
            "register-auth.xml",
            &[
                "-key",
                "domain",
                common::DOMAIN,
                "-key",
                "user",
                "carol",
                "-au",
                "carol",
                "-ap",
                &pw,
                "-auth_uri",
                common::DOMAIN,
            ],
            dir.path(),
        )
        .spawn()
        .unwrap(),
        30,
    );
    assert!(st.success(), "sipp register failed:\n{}", logs(dir.path()));
    // A wrong password must fail the same scenario.
    let st = wait(
        sipp(
            &server,
            "register-auth.xml",
            &[
                "-key",
                "domain",
                common::DOMAIN,
                "-key",
                "user",
                "carol",
                "-au",
                "carol",
                "-ap",
                "wrong",
                "-auth_uri",
                common::DOMAIN,
                "-timeout",
                "5s",
            ],
            dir.path(),
        )
        .spawn()
        .unwrap(),
        30,
    );
    assert!(!st.success(), "a wrong password registered");
}

#[test]
fn sipp_call_answered_and_recorded() {
    if !have("sipp") {
        return;
    }
    let mut server = Server::default_start();
    let (uac, uas, logs) = sipp_call(&server, "uas-answer.xml", "uac-call.xml", &["-d", "500"]);
    assert!(
        uac && uas,
        "call failed (uac {uac}, uas {uas}):\n{logs}\n{}",
        server.stderr_text()
    );
    server.stop();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let calls = rt.block_on(async {
        let store = store::Store::open(&server.data_dir()).await.unwrap();
        store
            .calls_for_user(&format!("sip:bob@{}", common::DOMAIN), 10)
            .await
            .unwrap()
    });
    let c = calls.first().expect("a call record");
    assert_eq!(c.disposition, "answered");
    assert_eq!(c.caller, format!("sip:alice@{}", common::DOMAIN));
    assert!(c.answered_at.is_some() && c.ended_at >= c.answered_at.unwrap());
    assert!(
        c.callee_device
            .as_deref()
            .is_some_and(|d| d.contains("bob")),
        "{c:?}"
    );
}

#[test]
fn sipp_call_cancelled_by_caller() {
    if !have("sipp") {
        return;
    }
    let server = Server::default_start();
    let (uac, uas, logs) = sipp_call(&server, "uas-ring.xml", "uac-cancel.xml", &[]);
    assert!(uac && uas, "cancel failed (uac {uac}, uas {uas}):\n{logs}");
}

#[test]
fn sipp_call_not_answered_times_out() {
    if !have("sipp") {
        return;
    }
    // Without voicemail (which would answer an unanswered call, see interop_voicemail.rs).
    let server = Server::start(ServerOpts::config(
        "[calls]\nring_timeout = 2\n[voicemail]\nenabled = false\n",
    ));
    let t = Instant::now();
    let (uac, uas, logs) = sipp_call(&server, "uas-ring.xml", "uac-noanswer.xml", &[]);
    assert!(
        uac && uas,
        "no-answer failed (uac {uac}, uas {uas}):\n{logs}"
    );
    assert!(t.elapsed() < Duration::from_secs(15));
    assert!(
        logs.contains("480 Temporarily Unavailable"),
        "expected a 480 upstream:\n{logs}"
    );
}

fn baresip_call(transport: &str) {
    if !have("baresip") || !have("python3") {
        return;
    }
    let server = Server::default_start();
    let run = run_script(
        &server,
        "call_test.py",
        ["alice", "bob"],
        &["--transport", transport],
        40,
    );
    run.assert_checks(
        &server,
        &[
            "b_dtmf_1234#",
            "a_heard_peer_tone",
            "b_heard_peer_tone",
            "b_call_closed",
        ],
    );
}

#[test]
fn baresip_phones_call_over_udp() {
    baresip_call("udp");
}

#[test]
fn baresip_phones_call_over_tcp() {
    baresip_call("tcp");
}
