//! `cargo +nightly fuzz run rtp`: see `src/rtp.rs`.
#![no_main]

#[path = "../src/rtp.rs"]
mod target;

libfuzzer_sys::fuzz_target!(|data: &[u8]| target::rtp(data));
