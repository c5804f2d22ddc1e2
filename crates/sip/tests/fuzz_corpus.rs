//! Replays `fuzz/corpus/<target>/*` through the fuzz targets' own bodies, so every seed and
//! every minimised crash kept there is a regression test of `cargo test`.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../fuzz/src/lib.rs"]
mod targets;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{} fails", path.display());
        n += 1;
    }
    assert!(n > 0, "no seeds in {}", dir.display());
}

#[test]
fn every_corpus_directory_is_a_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for entry in std::fs::read_dir(root).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            // pidf and summary are sip-events' targets (crates/sip-events/tests/fuzz_corpus.rs).
            ["parse_message", "framer", "pidf", "summary", "rtp", "sdp"].contains(&name.as_str()),
            "{name}"
        );
    }
}

#[test]
fn parse_message_corpus() {
    replay("parse_message", targets::parse_message);
}

#[test]
fn framer_corpus() {
    replay("framer", targets::framer);
}
