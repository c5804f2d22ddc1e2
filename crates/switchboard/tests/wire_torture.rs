//! Hostile input over the wire: the RFC 4475 and RFC 5118 torture messages and the 4,527
//! PROTOS c07-sip cases are sent to the running server. Every request gets the status the RFC
//! describes, broken responses are dropped, and the server keeps answering a valid OPTIONS
//! after every case, with bounded memory.
//!
//! The messages name foreign hosts, so the tests re-run themselves inside a private network
//! namespace with only loopback (`unshare -n`) when they can; nothing leaves the machine.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "../../sip/tests/support/protos.rs"]
mod protos_support;

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Server, ServerOpts};

fn corpus(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../sip/tests/corpus")
        .join(sub)
}

/// Runs `test` in a private network namespace: returns false in the parent (which re-ran the
/// test binary under `unshare -n` and checked it), true where the body should run.
fn in_private_netns(test: &str) -> bool {
    if std::env::var_os("SB_IN_NETNS").is_some() {
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status();
        assert!(
            up.is_ok_and(|s| s.success()),
            "cannot bring up loopback in the namespace"
        );
        return true;
    }
    // Inside the namespace `ip` brings loopback up; without either tool, run on the host.
    let works = Command::new("unshare")
        .args(["-n", "ip", "link", "set", "lo", "up"])
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        eprintln!("unshare -n unavailable (not root?): running {test} on the host loopback");
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("unshare")
        .args(["-n", "--"])
        .arg(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("SB_IN_NETNS", "1")
        .status()
        .unwrap();
    assert!(
        status.success(),
        "{test} failed inside the network namespace"
    );
    false
}

fn torture_server() -> Server {
    Server::start(ServerOpts {
        config: None,
        domain: Some("example.com".into()),
    })
}

/// Sends raw bytes from a fresh socket and returns the first final response's status.
fn exchange(server: SocketAddr, bytes: &[u8], wait: Duration) -> Option<u16> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.send_to(bytes, server).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, _) = s.recv_from(&mut buf).ok()?;
        let head = String::from_utf8_lossy(&buf[..n.min(64)]).into_owned();
        let code: u16 = head.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()?;
        if code >= 200 {
            return Some(code);
        }
    }
}

/// The server transaction a request would create (RFC 3261 §17.2.3): torture messages reuse
/// branches, and a reused branch is rightly absorbed as a retransmission.
fn txn_key(bytes: &[u8]) -> Option<String> {
    let m = sip::parse_datagram(bytes.to_vec()).ok()?;
    let via = m.top_via()?;
    let method = match m.method() {
        "ACK" => "INVITE",
        other => other,
    };
    Some(format!(
        "{}|{}:{:?}|{method}",
        via.branch()?,
        via.host_text,
        via.port
    ))
}

/// The liveness probe: a valid OPTIONS must be answered 200.
fn alive(server: SocketAddr, n: usize) -> bool {
    let msg = format!(
        "OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKlive{n}\r\nFrom: <sip:probe@example.com>;tag=p{n}\r\nTo: <sip:example.com>\r\nCall-ID: live-{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    (0..3).any(|_| exchange(server, msg.as_bytes(), Duration::from_millis(700)) == Some(200))
}

struct Row {
    file: String,
    kind: String,
    expect: String,
}

fn expectations(dir: &Path) -> Vec<Row> {
    std::fs::read_to_string(dir.join("expectations.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                file: f[0].into(),
                kind: f[2].into(),
                expect: f[3].into(),
            }
        })
        .collect()
}

/// Whether `got` is what the RFC asks of a registrar/B2BUA for this row.
fn acceptable(row: &Row, is_response: bool, has_via: bool, got: Option<u16>) -> bool {
    match (row.expect.as_str(), got) {
        ("drop", g) => g.is_none(),
        // Without a Via a response has nowhere to go (RFC 3261 §18.2.2): dropping is right.
        (_, g) if !has_via => g.is_none(),
        // Responses to nothing are dropped silently, valid or not.
        (_, g) if is_response => g.is_none(),
        // A valid request is processed: challenged, answered or refused by policy, never 400.
        ("parse", Some(g)) => g != 400 && g < 500 || g == 501,
        // mismatch02: the RFC prefers 501 and accepts 400.
        ("501", Some(g)) => g == 501 || g == 400,
        // Registrations that should succeed are challenged first (no credentials here).
        ("200", Some(g)) => g == 200 || g == 401,
        (want, Some(g)) => want.parse::<u16>().is_ok_and(|w| w == g),
        (_, None) => false,
    }
}

#[test]
fn rfc4475_messages_over_the_wire() {
    if !in_private_netns("rfc4475_messages_over_the_wire") {
        return;
    }
    let mut server = torture_server();
    let dir = corpus("rfc4475");
    let mut wrong = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, row) in expectations(&dir).iter().enumerate() {
        let bytes = std::fs::read(dir.join(&row.file)).unwrap();
        if let Some(key) = txn_key(&bytes)
            && !seen.insert(key)
        {
            // A fresh server, so this message is not a retransmission of an earlier one.
            server.restart();
            seen.clear();
        }
        let is_response = bytes.starts_with(b"SIP/");
        let text = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
        let has_via = text.contains("\nvia") || text.contains("\nv:") || text.contains("\nv ");
        let got = exchange(server.addr, &bytes, Duration::from_millis(400));
        if !acceptable(row, is_response, has_via, got) {
            wrong.push(format!(
                "{} ({}): expected {}, got {got:?}",
                row.file, row.kind, row.expect
            ));
        }
        assert!(
            alive(server.addr, i),
            "server stopped answering after {}",
            row.file
        );
    }
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn rfc5118_messages_over_the_wire() {
    if !in_private_netns("rfc5118_messages_over_the_wire") {
        return;
    }
    let server = torture_server();
    let dir = corpus("rfc5118");
    for (i, row) in expectations(&dir).iter().enumerate() {
        let bytes = std::fs::read(dir.join(&row.file)).unwrap();
        let got = exchange(server.addr, &bytes, Duration::from_millis(400));
        if row.file == "ipv6-bad" {
            assert_eq!(got, Some(400), "ipv6-bad");
        }
        assert!(
            alive(server.addr, i),
            "server stopped answering after {}",
            row.file
        );
    }
}

/// The INVITE record of a PROTOS case file.
fn protos_invite(file: &[u8]) -> Vec<u8> {
    protos_support::records(file).0
}

fn fill(template: &[u8], case: usize, port: u16) -> Vec<u8> {
    let addrs = protos_support::Addrs {
        to: "bob@example.com",
        from: "protos@example.com",
        ip: "127.0.0.1",
        port,
    };
    protos_support::fill(template, case, &addrs)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn protos_c07_sip_over_the_wire() {
    if !in_private_netns("protos_c07_sip_over_the_wire") {
        return;
    }
    let server = torture_server();
    let tmp = tempfile::tempdir().unwrap();
    let tar = corpus("protos-c07-sip/c07-sip-cases.tar.gz");
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(&tar)
        .arg("-C")
        .arg(tmp.path())
        .status()
        .unwrap();
    assert!(st.success());
    let mut files: Vec<PathBuf> = walk(tmp.path());
    files.sort();
    assert_eq!(files.len(), 4527, "PROTOS cases");
    let pid = server.pid().unwrap();
    let rss_before = rss_kib(pid);
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = attacker.local_addr().unwrap().port();
    let (mut udp, mut tcp) = (0, 0);
    for (i, f) in files.iter().enumerate() {
        let invite = fill(&protos_invite(&std::fs::read(f).unwrap()), i, port);
        if invite.len() <= 65_000 {
            attacker.send_to(&invite, server.addr).unwrap();
            udp += 1;
        } else if let Ok(mut s) = TcpStream::connect(server.addr) {
            use std::io::Write as _;
            let _ = s.write_all(&invite);
            tcp += 1;
        }
        // The PROTOS pass criterion: the target keeps working after every case.
        assert!(
            alive(server.addr, i),
            "server stopped answering after case {i} ({})",
            f.display()
        );
    }
    let rss_after = rss_kib(pid);
    eprintln!(
        "PROTOS: {udp} cases over UDP, {tcp} over TCP; RSS {rss_before} KiB -> {rss_after} KiB"
    );
    assert!(
        rss_after < rss_before + 256 * 1024,
        "memory grew from {rss_before} to {rss_after} KiB"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
