//! What an instant message may be, decided once for both faces: the accepted content type,
//! the size limit, and how a recipient is named. Pure: no store, no clock.

use cas_proto::{CasError, ErrorCode};

/// The only content type stored and relayed (RFC 3428 §8 makes `text/plain` mandatory;
/// everything else, e.g. `text/html` or is-composing notices, is refused rather than shown
/// raw on a phone).
pub const TEXT_PLAIN: &str = "text/plain";

/// Largest text accepted, in bytes. RFC 3428 §9 keeps MESSAGE under 1300 bytes on UDP only
/// when the path is unknown; our own UDP sends are bounded by the SIP face's message size.
pub const MAX_TEXT_BYTES: usize = 8 * 1024;

/// Why a message or its recipient was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImError {
    #[error("content type {0} is not supported; send text/plain")]
    UnsupportedType(String),
    #[error("the message is {0} bytes; the limit is {MAX_TEXT_BYTES}")]
    TooLarge(usize),
    #[error("the message is empty")]
    Empty,
    #[error("the message is not UTF-8 text")]
    NotUtf8,
    #[error("{0:?} is not a user name, user@domain or sip: URI")]
    BadAddress(String),
}

impl From<ImError> for CasError {
    fn from(e: ImError) -> CasError {
        let code = match e {
            ImError::UnsupportedType(_) => ErrorCode::UnsupportedFormat,
            ImError::TooLarge(_) => ErrorCode::TooLarge,
            ImError::Empty | ImError::NotUtf8 | ImError::BadAddress(_) => ErrorCode::BadRequest,
        };
        CasError::new(code, e.to_string())
    }
}

/// The media type of a `Content-Type` value if we accept it, parameters (`charset`) dropped.
pub fn accepted_type(content_type: &str) -> Result<&'static str, ImError> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if media.eq_ignore_ascii_case(TEXT_PLAIN) {
        Ok(TEXT_PLAIN)
    } else {
        Err(ImError::UnsupportedType(media.to_owned()))
    }
}

/// Checks the size and emptiness of a text.
pub fn check_text(text: &str) -> Result<(), ImError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(ImError::TooLarge(text.len()));
    }
    if text.trim().is_empty() {
        return Err(ImError::Empty);
    }
    Ok(())
}

/// A message body off the wire: UTF-8, within the limits.
pub fn body_text(body: &[u8]) -> Result<&str, ImError> {
    if body.len() > MAX_TEXT_BYTES {
        return Err(ImError::TooLarge(body.len()));
    }
    let text = std::str::from_utf8(body).map_err(|_| ImError::NotUtf8)?;
    check_text(text)?;
    Ok(text)
}

/// `(user, lower-cased domain)` of a recipient written as `bob`, `bob@example.com`,
/// `sip:bob@example.com` or `<sip:bob@example.com;transport=tcp>`; a bare name is in
/// `default_domain`. Whether the user exists is for the caller to check.
pub fn parse_peer(to: &str, default_domain: &str) -> Result<(String, String), ImError> {
    let bad = || ImError::BadAddress(to.to_owned());
    let s = to.trim();
    let s = s
        .strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or(s);
    let s = strip_scheme(s, "sips:")
        .or_else(|| strip_scheme(s, "sip:"))
        .unwrap_or(s);
    let (user, host) = s.split_once('@').unwrap_or((s, default_domain));
    // URI parameters and a port name a device, not a user's domain (user names may hold
    // `;` and `?`, so only the host part is cut).
    let domain = host.split([';', '?', ':']).next().unwrap_or_default();
    if user.is_empty() || domain.is_empty() || store::validate_user(user).is_err() {
        return Err(bad());
    }
    Ok((user.to_owned(), domain.to_ascii_lowercase()))
}

fn strip_scheme<'a>(s: &'a str, scheme: &str) -> Option<&'a str> {
    let head = s.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| s.get(scheme.len()..))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers() {
        let d = "example.com";
        let bob = Ok(("bob".to_owned(), "example.com".to_owned()));
        assert_eq!(parse_peer("bob", d), bob);
        assert_eq!(parse_peer(" bob@EXAMPLE.com ", d), bob);
        assert_eq!(parse_peer("sip:bob@example.com", d), bob);
        assert_eq!(parse_peer("SIP:bob@example.com:5060", d), bob);
        assert_eq!(parse_peer("<sips:bob@example.com;transport=tcp>", d), bob);
        assert_eq!(
            parse_peer("carol@other.org", d),
            Ok(("carol".to_owned(), "other.org".to_owned()))
        );
        for bad in ["", "@example.com", "sip:", "bob@", "a b"] {
            assert!(parse_peer(bad, d).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn content_and_size() {
        assert_eq!(accepted_type("text/plain"), Ok(TEXT_PLAIN));
        assert_eq!(accepted_type("Text/Plain; charset=UTF-8"), Ok(TEXT_PLAIN));
        assert_eq!(
            accepted_type("text/html"),
            Err(ImError::UnsupportedType("text/html".into()))
        );
        assert!(check_text("hi").is_ok());
        assert_eq!(check_text("  "), Err(ImError::Empty));
        let big = "x".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(check_text(&big), Err(ImError::TooLarge(MAX_TEXT_BYTES + 1)));
        assert_eq!(body_text(b"\xff\xfe"), Err(ImError::NotUtf8));
        assert_eq!(body_text(b"hello"), Ok("hello"));
        let e: CasError = ImError::UnsupportedType("x/y".into()).into();
        assert_eq!(e.code.code(), 415);
    }
}
