//! `cargo +nightly fuzz run framer`: stream framing under any chunking, then parsing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sip_fuzz::framer(data));
