//! Replays `fuzz/corpus/{pidf,summary}/*` through the fuzz targets' own bodies
//! (`fuzz/src/events.rs`), so every seed and every minimised crash kept there is a regression
//! test of `cargo test -p sip-events`.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../fuzz/src/events.rs"]
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
fn pidf_corpus() {
    replay("pidf", targets::pidf);
}

#[test]
fn summary_corpus() {
    replay("summary", targets::summary);
}

/// The test corpora of this crate are seeds too.
#[test]
fn test_corpora_pass_the_fuzz_invariants() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    for (dir, run) in [
        ("pidf", targets::pidf as fn(&[u8])),
        ("summary", targets::summary),
    ] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            run(&data);
        }
    }
}
