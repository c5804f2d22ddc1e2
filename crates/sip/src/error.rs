//! Parse errors and the one place they map to a SIP status (RFC 4475 §3.1.2).

use crate::header::HeaderName;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("message larger than the limit")]
    TooLarge,
    #[error("too many header fields")]
    TooManyHeaders,
    #[error("header section not terminated")]
    Truncated,
    #[error("header section is not UTF-8")]
    NotUtf8,
    #[error("control character in header section")]
    BadChar,
    #[error("malformed start line")]
    BadStartLine,
    #[error("unsupported SIP version")]
    UnsupportedVersion,
    #[error("malformed Request-URI")]
    BadRequestUri,
    #[error("malformed header field")]
    BadHeader,
    #[error("missing {0:?} header")]
    Missing(HeaderName),
    #[error("invalid {0:?} header")]
    Invalid(HeaderName),
    #[error("{0:?} header appears more than once")]
    DuplicateHeader(HeaderName),
    #[error("CSeq method does not match the request method")]
    CSeqMismatch,
    /// An unknown method whose CSeq names another: RFC 4475 §3.1.2.18 prefers 501 to 400.
    #[error("unknown method, and the CSeq method does not match it")]
    UnknownMethodMismatch,
    #[error("body shorter than Content-Length")]
    BodyTruncated,
    #[error("Content-Length missing on a stream transport")]
    MissingContentLength,
}

/// Why a message was rejected, and whether it looked like a request (only requests are
/// answered; a broken response is dropped, RFC 4475 §3.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    pub kind: ParseErrorKind,
    pub is_request: bool,
}

impl ParseError {
    pub fn new(kind: ParseErrorKind, is_request: bool) -> Self {
        ParseError { kind, is_request }
    }

    /// The status a server answers a request with, `None` for responses (dropped).
    pub fn status(&self) -> Option<(u16, &'static str)> {
        if !self.is_request {
            return None;
        }
        Some(match self.kind {
            ParseErrorKind::UnsupportedVersion => (505, "Version Not Supported"),
            // Limits of this server rather than syntax errors (§21.5.14).
            ParseErrorKind::TooLarge | ParseErrorKind::TooManyHeaders => (513, "Message Too Large"),
            ParseErrorKind::UnknownMethodMismatch => (501, "Not Implemented"),
            _ => (400, "Bad Request"),
        })
    }
}
