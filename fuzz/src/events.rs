//! Bodies of the `pidf` and `summary` fuzz targets, apart from libFuzzer so that
//! `cargo test -p sip-events` replays `fuzz/corpus/{pidf,summary}/` through this very code
//! (`crates/sip-events/tests/fuzz_corpus.rs` includes this file). Kept out of `lib.rs`, which
//! the `sip` crate's replay includes and which must not depend on `sip-events`.
//! Each target panics on a broken invariant, not only on a crash.

use sip_events::{pidf, summary};

/// Parses `data` as PIDF; a parsed document must serialise to XML that parses back equal,
/// and serialising that again must give the same bytes.
pub fn pidf(data: &[u8]) {
    let Ok(doc) = pidf::parse(data) else {
        return;
    };
    let xml = doc.to_xml();
    let again = pidf::parse(xml.as_bytes()).expect("generated PIDF parses");
    assert_eq!(again, doc, "PIDF round trip changed the document");
    assert_eq!(again.to_xml(), xml, "PIDF serialisation is not stable");
}

/// Parses `data` as a message-summary; a parsed summary must round-trip through `to_text`.
pub fn summary(data: &[u8]) {
    let Ok(s) = summary::parse(data) else {
        return;
    };
    let text = s.to_text();
    let again = summary::parse(text.as_bytes()).expect("generated summary parses");
    assert_eq!(again, s, "summary round trip changed the body");
}
