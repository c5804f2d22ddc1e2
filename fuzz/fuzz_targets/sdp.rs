//! `cargo +nightly fuzz run sdp`: see `src/sdp.rs`.
#![no_main]

#[path = "../src/sdp.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::sdp(data));
