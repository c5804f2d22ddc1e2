//! `cargo +nightly fuzz run parse_message`: datagram and stream parsing, then every accessor.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sip_fuzz::parse_message(data));
