//! `cargo +nightly fuzz run pidf`: PIDF parse, then serialise → parse must be lossless.
#![no_main]

// Each target uses one of the two bodies.
#[allow(dead_code)]
#[path = "../src/events.rs"]
mod events;

libfuzzer_sys::fuzz_target!(|data: &[u8]| events::pidf(data));
