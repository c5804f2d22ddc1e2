//! SIP message syntax (RFC 3261 §7, §20, §25): zero-copy parsing, lossless printing, typed
//! header access, a stream framer, and digest arithmetic.
//!
//! Pure: no sockets, files, clocks or randomness. What to do with a message is decided by
//! `sip-txn`, `services` and `sip-server`.

pub mod digest;
