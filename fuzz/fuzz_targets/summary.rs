//! `cargo +nightly fuzz run summary`: message-summary parse, then `to_text` → parse must be
//! lossless.
#![no_main]

// Each target uses one of the two bodies.
#[allow(dead_code)]
#[path = "../src/events.rs"]
mod events;

libfuzzer_sys::fuzz_target!(|data: &[u8]| events::summary(data));
