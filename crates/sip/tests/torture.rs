//! RFC 4475 (SIP torture messages) and RFC 5118 (IPv6 torture messages) replayed against the
//! `expectations.tsv` beside each corpus: valid messages parse, every typed accessor works and
//! printing is lossless; invalid requests are answered with the expected status and invalid
//! responses dropped; application-level cases (`app`) parse, so the server can apply the rule.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::fmt::Write as _;

mod common;

use common::corpus::{Case, corpus, load, prepare};
use sip::{ContactValue, HeaderName, Message, parse_datagram};

/// Parses and checks one case; `Ok` carries the result column of the table.
fn check(case: &Case, raw: &[u8]) -> Result<String, String> {
    let parsed = parse_datagram(raw.to_vec());
    match (case.kind.as_str(), case.expect.as_str(), parsed) {
        ("valid", "parse", Ok(m)) => {
            check_valid(&m, raw)?;
            check_specific(&case.file, &m)?;
            Ok("parsed, accessors ok, lossless".into())
        }
        ("invalid", "drop", Err(e)) if e.status().is_none() => Ok(format!("dropped ({e})")),
        ("invalid", code, Err(e))
            if e.status().map(|s| s.0.to_string()).as_deref() == Some(code) =>
        {
            Ok(format!("{code} ({e})"))
        }
        ("app", _, Ok(m)) => {
            check_valid(&m, raw)?;
            check_specific(&case.file, &m)?;
            Ok(format!("parsed; {} is the server's", case.expect))
        }
        ("app", "400", Err(e)) if e.status().map(|s| s.0) == Some(400) => {
            // The RFC's answer is 400 and the parser already gives it (missing or repeated
            // single-value headers, conflicting Content-Length).
            Ok(format!("400 from the parser ({e})"))
        }
        (_, _, Ok(_)) => Err("parsed, expected a rejection".into()),
        (_, _, Err(e)) => Err(format!("rejected: {e} -> {:?}", e.status())),
    }
}

fn check_valid(m: &Message, raw: &[u8]) -> Result<(), String> {
    let fail = |what: &str| Err(format!("accessor failed: {what}"));
    if m.top_via().is_none() || m.vias().iter().any(Option::is_none) {
        return fail("via");
    }
    if m.from().is_none() || m.to().is_none() {
        return fail("from/to");
    }
    if m.cseq().is_none() || m.call_id().is_none_or(str::is_empty) {
        return fail("cseq/call-id");
    }
    if m.contacts().len() != m.header_values(HeaderName::Contact).len() {
        return fail("contacts");
    }
    if m.is_request() && m.uri().is_none() {
        return fail("uri");
    }
    if !m.is_request() && m.status().is_none() {
        return fail("status");
    }
    let bytes = m.message_bytes();
    if raw.get(..bytes.len()) != Some(&bytes[..]) || !bytes.ends_with(m.body()) {
        return Err("message_bytes is not the input up to the end of the body".into());
    }
    if m.as_bytes()[..] != *raw {
        return Err("as_bytes differs from the input".into());
    }
    Ok(())
}

/// What the notes single out, checked on the typed values.
fn check_specific(file: &str, m: &Message) -> Result<(), String> {
    let ok = match file {
        "esc02.dat" => m.contacts().len() == 2 && m.method() == "RE%47IST%45R",
        "longreq.dat" => m.vias().len() == 34,
        "dblreq.dat" => m.method() == "REGISTER" && m.body().is_empty(),
        "intmeth.dat" => {
            m.method() == "!interesting-Method0123456789_*+`.%indeed'~"
                && m.to().and_then(|t| t.display()).as_deref() == Some("BEL:\x07 NUL:\0 DEL:\x7f")
        }
        "semiuri.dat" => m
            .uri()
            .and_then(|u| u.as_sip().and_then(|s| s.user_unescaped()))
            .is_some_and(|u| u == "user;par=u@example.net"),
        "transports.dat" => {
            let t: Vec<_> = m
                .vias()
                .into_iter()
                .flatten()
                .map(|v| v.transport)
                .collect();
            t == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
        }
        "noreason.dat" => m.status() == Some(100) && m.reason().is_empty(),
        "unreason.dat" => m.reason().starts_with("= 2**3 * 5**2 "),
        "cparam01.dat" => m.contacts().iter().any(|c| match c {
            ContactValue::Addr(a) => {
                a.param("unknownparam").is_some()
                    && a.uri.as_sip().is_some_and(|u| u.params.is_empty())
            }
            ContactValue::Star => false,
        }),
        "cparam02.dat" => m.contacts().iter().any(|c| match c {
            ContactValue::Addr(a) => a
                .uri
                .as_sip()
                .is_some_and(|u| u.param("unknownparam").is_some()),
            ContactValue::Star => false,
        }),
        "port-ambiguous" => m
            .uri()
            .and_then(|u| {
                u.as_sip()
                    .map(|s| s.port.is_none() && s.host_text.ends_with(":5070]"))
            })
            .unwrap_or(false),
        "port-unambiguous" => m
            .uri()
            .and_then(|u| u.as_sip().map(|s| s.port == Some(5070)))
            .unwrap_or(false),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err("typed values differ from what the RFC describes".into())
    }
}

fn replay(name: &str) -> String {
    let dir = corpus(name);
    let cases = load(&dir);
    let listed: BTreeSet<&str> = cases.iter().map(|c| c.file.as_str()).collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| !f.starts_with('.') && !f.ends_with(".md") && !f.ends_with(".tsv"))
        .filter(|f| f != "SHA256SUMS")
        .collect();
    let on_disk: BTreeSet<&str> = on_disk.iter().map(String::as_str).collect();
    assert_eq!(
        listed, on_disk,
        "expectations.tsv and the files of {name} differ"
    );

    let mut table = String::new();
    let mut failures = Vec::new();
    for case in &cases {
        let raw = prepare(case, std::fs::read(dir.join(&case.file)).unwrap());
        let row = match check(case, &raw) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!(
                    "{} ({} {}): {e}",
                    case.file, case.kind, case.expect
                ));
                format!("FAIL: {e}")
            }
        };
        let _ = writeln!(
            table,
            "{:<30} {:<9} {:<8} {:<6} {row}",
            case.file, case.section, case.kind, case.expect
        );
    }
    println!("{table}");
    assert!(
        failures.is_empty(),
        "{name} failures:\n{}",
        failures.join("\n")
    );
    table
}

#[test]
fn rfc4475_torture_messages() {
    replay("rfc4475");
}

#[test]
fn rfc5118_ipv6_torture_messages() {
    replay("rfc5118");
}
