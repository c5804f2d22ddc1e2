//! SDP (RFC 8866) parse and print, and RFC 3264 offer/answer (PURE).
//!
//! [`parse`] turns a body into an owned [`Session`]; `Session`'s `Display` prints it back
//! (CRLF line ends, RFC 8866 field order, attributes in their original order) so that
//! parse∘print is the identity. [`answer`] and [`offer`] implement RFC 3264 for the codecs
//! the media engine has (PCMU, PCMA, telephone-event, optionally Opus);
//! [`rewrite_connection`] points a description at the media anchor. Not here: ICE, DTLS,
//! SRTP keying, bundle, simulcast, or any I/O.

pub mod offer_answer;
pub mod parse;
pub mod print;
pub mod session;

pub use offer_answer::{
    Capabilities, Codec, OfferAnswerError, SessionIds, Stream, answer, negotiated, offer,
    rewrite_connection,
};
pub use parse::{Limits, SdpError, parse, parse_with};
pub use session::{
    Attribute, Bandwidth, Connection, Direction, Media, MediaKind, Origin, RtpMap, Session, Timing,
    has_active_video,
};
