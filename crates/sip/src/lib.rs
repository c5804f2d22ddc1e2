//! SIP message syntax (RFC 3261 §7, §20, §25): zero-copy parsing, lossless printing, typed
//! header access, a stream framer, and digest arithmetic.
//!
//! Pure: no sockets, files, clocks or randomness. What to do with a message is decided by
//! `sip-txn`, `services` and `sip-server`.

pub mod builder;
pub mod digest;
pub mod error;
pub mod framer;
mod head;
pub mod header;
pub mod message;
pub mod method;
pub mod scan;
pub mod uri;
pub mod values;

pub use builder::{Builder, response_to, stamp_via};
pub use error::{ParseError, ParseErrorKind};
pub use framer::{Frame, Framer};
pub use header::HeaderName;
pub use message::{Framing, Limits, Message, parse_datagram};
pub use method::Method;
pub use uri::{Host, SipUri, Uri};
pub use values::{AuthParams, CSeq, ContactValue, NameAddr, Via};
