//! Replays `fuzz/corpus/rtp/*` through the fuzz target's own body (`fuzz/src/rtp.rs`), so
//! every seed and every minimised crash kept there is a regression test of `cargo test`.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../fuzz/src/rtp.rs"]
mod target;

use std::path::Path;

#[test]
fn rtp_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/rtp");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| target::rtp(&data));
        assert!(outcome.is_ok(), "{} fails", path.display());
        n += 1;
    }
    assert!(n >= 8, "too few seeds in {}", dir.display());
}
