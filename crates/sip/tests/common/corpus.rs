//! The torture corpora of `tests/corpus/` (RFC 4475, RFC 5118) and their `expectations.tsv`.

use std::path::{Path, PathBuf};

pub struct Case {
    pub file: String,
    pub section: String,
    pub kind: String,
    pub expect: String,
    pub note: String,
}

pub fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name)
}

pub fn load(dir: &Path) -> Vec<Case> {
    let tsv = std::fs::read_to_string(dir.join("expectations.tsv")).unwrap();
    tsv.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.splitn(5, '\t').collect();
            assert_eq!(f.len(), 5, "bad expectations row: {l}");
            Case {
                file: f[0].to_owned(),
                section: f[1].to_owned(),
                kind: f[2].to_owned(),
                expect: f[3].to_owned(),
                note: f[4].to_owned(),
            }
        })
        .collect()
}

/// The fix-ups the expectations ask a harness to apply to archive files that are broken as
/// files, not as messages (RFC 5118's LF-only files with stale Content-Length, and two files
/// without the empty line that ends the header section).
pub fn prepare(case: &Case, mut raw: Vec<u8>) -> Vec<u8> {
    if case.note.contains("LF to CRLF") && case.note.contains("recompute") {
        let text = String::from_utf8(raw).unwrap().replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap();
        let body = body.replace('\n', "\r\n");
        let head: Vec<String> = head
            .lines()
            .map(|l| {
                let name = l.split(':').next().unwrap_or("").trim();
                if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
                    format!("Content-Length: {}", body.len())
                } else {
                    l.to_owned()
                }
            })
            .collect();
        raw = format!("{}\r\n\r\n{body}", head.join("\r\n")).into_bytes();
    }
    if case.note.contains("append CRLF") {
        raw.extend_from_slice(b"\r\n");
    }
    raw
}
