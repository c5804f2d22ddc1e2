//! PROTOS c07-sip (University of Oulu, 2002): 4,527 INVITEs, each with one anomaly. Every
//! case is filled in the way the PROTOS jar did before sending it over UDP and parsed as a
//! datagram with default limits: nothing may panic, the valid case 0 must parse, and anomalies
//! confined to the SDP body must not make the SIP parser reject the message.
//!
//! Format (corpus `SOURCE.md`): per case, two records `<decimal length><SP><bytes>`: the
//! INVITE template and the teardown (CANCEL) template.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sip::{Framing, Limits, Message};

#[path = "support/protos.rs"]
mod support;

const CASES: usize = 4527;

fn corpus() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/corpus/protos-c07-sip"
    ))
}

/// (case number, file bytes), from the gzip'd tar.
fn cases() -> Vec<(usize, Vec<u8>)> {
    let gz = std::fs::File::open(corpus().join("c07-sip-cases.tar.gz")).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
    let mut out = Vec::with_capacity(CASES);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        let Some(n) = path.file_name().and_then(|f| f.to_str()?.parse().ok()) else {
            continue;
        };
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push((n, data));
    }
    out.sort_by_key(|(n, _)| *n);
    out
}

/// Case number ranges of the 54 groups, from `GROUPS.tsv`.
fn groups() -> Vec<(String, usize, usize)> {
    let tsv = std::fs::read_to_string(corpus().join("GROUPS.tsv")).unwrap();
    tsv.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].to_owned(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

/// The tester's and target's addresses the PROTOS jar filled in.
const ADDRS: support::Addrs = support::Addrs {
    to: "bob@192.0.2.10",
    from: "protos@192.0.2.20",
    ip: "192.0.2.20",
    port: 5060,
};

fn records(file: &[u8]) -> (Vec<u8>, Vec<u8>) {
    support::records(file)
}

fn fill(template: &[u8], case: usize) -> Vec<u8> {
    support::fill(template, case, &ADDRS)
}

fn parse(raw: Vec<u8>) -> Result<Message, sip::ParseError> {
    Message::parse(raw.into(), Framing::Datagram, &Limits::default())
}

#[derive(Default)]
struct Tally {
    accepted: usize,
    rejected: BTreeMap<u16, usize>,
}

#[test]
fn protos_c07_sip_invites() {
    let cases = cases();
    assert_eq!(cases.len(), CASES);
    let mut by_case = Vec::with_capacity(CASES);
    let mut teardown_ok = 0;
    for (n, file) in &cases {
        let (invite, teardown) = records(file);
        let invite = fill(&invite, *n);
        let size = invite.len();
        let got = std::panic::catch_unwind(|| parse(invite).map(|m| touch(&m)));
        let got = got.unwrap_or_else(|_| panic!("case {n} panicked"));
        by_case.push((*n, size, got.map_err(|e| e.status().map_or(0, |s| s.0))));
        if parse(fill(&teardown, *n)).is_ok() {
            teardown_ok += 1;
        }
    }

    let valid = parse(fill(&records(&cases[0].1).0, 0)).expect("case 0 (valid) must parse");
    assert_eq!(valid.method(), "INVITE");
    assert_eq!(valid.call_id(), Some("0@192.0.2.20"));
    assert!(valid.body().starts_with(b"v=0\r\n"));
    assert!(valid.body().ends_with(b"a=rtpmap:0 PCMU/8000\r\n"));

    let mut report =
        String::from("group                           accepted rejected (status: count)\n");
    let (mut acc, mut rej) = (0, 0);
    for (name, first, count) in groups() {
        let mut t = Tally::default();
        for (n, size, r) in &by_case[first..first + count] {
            match r {
                Ok(()) => t.accepted += 1,
                Err(code) => *t.rejected.entry(*code).or_default() += 1,
            }
            // Anomalies in the SDP body are the SDP parser's business: the SIP message around
            // them is well formed unless it no longer fits the size limit.
            if name.starts_with("sdp-") && *size <= Limits::default().max_size {
                assert!(r.is_ok(), "case {n} ({name}): body anomaly rejected: {r:?}");
            }
        }
        let rejected: usize = t.rejected.values().sum();
        acc += t.accepted;
        rej += rejected;
        report += &format!(
            "{name:<32}{:>8}{:>9} {:?}\n",
            t.accepted, rejected, t.rejected
        );
    }
    report += &format!(
        "{:<32}{acc:>8}{rej:>9}\nteardown records accepted: {teardown_ok}\n",
        "total"
    );
    println!("{report}");
    assert_eq!(acc + rej, CASES);
}

/// Every accessor, so a lazily typed header cannot hide a panic.
fn touch(m: &Message) {
    let _ = (
        m.uri(),
        m.top_via(),
        m.from(),
        m.to(),
        m.cseq(),
        m.call_id(),
    );
    let _ = (
        m.contacts(),
        m.vias(),
        m.max_forwards(),
        m.expires(),
        m.content_type(),
    );
    let _ = (
        m.content_length(),
        m.body(),
        m.message_bytes(),
        m.method_kind(),
    );
    for (name, _, _) in m.headers() {
        let _ = m.header_values(name);
    }
}
