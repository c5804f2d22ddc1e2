//! JSON and XML encodings of the same message structure, with size and nesting limits checked
//! before any tree is built, so hostile bodies cost little.

use serde_json::Value;

use crate::error::{CasError, ErrorCode};
use crate::xml;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// From a Content-Type or Accept value; `None` for anything else.
    pub fn from_content_type(ct: &str) -> Option<Format> {
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "application/json" | "text/json" => Some(Format::Json),
            "application/xml" | "text/xml" => Some(Format::Xml),
            m if m.ends_with("+json") => Some(Format::Json),
            m if m.ends_with("+xml") => Some(Format::Xml),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 1 << 20,
            max_depth: 32,
        }
    }
}

/// Decodes one message body.
pub fn decode(bytes: &[u8], format: Format, limits: &Limits) -> Result<Value, CasError> {
    if bytes.len() > limits.max_bytes {
        return Err(CasError::new(
            ErrorCode::TooLarge,
            format!(
                "body of {} bytes exceeds the limit of {}",
                bytes.len(),
                limits.max_bytes
            ),
        ));
    }
    match format {
        Format::Json => {
            let depth = json_depth(bytes);
            if depth > limits.max_depth {
                return Err(CasError::new(
                    ErrorCode::TooLarge,
                    format!(
                        "nesting depth {depth} exceeds the limit of {}",
                        limits.max_depth
                    ),
                ));
            }
            serde_json::from_slice(bytes)
                .map_err(|e| CasError::bad_request(format!("malformed JSON: {e}")))
        }
        Format::Xml => xml::decode(bytes, limits.max_depth),
    }
}

/// Encodes a value; infallible for values built by this crate.
pub fn encode(value: &Value, format: Format) -> Vec<u8> {
    match format {
        Format::Json => serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec()),
        Format::Xml => xml::encode(value).into_bytes(),
    }
}

/// Maximum bracket nesting outside strings; a cheap pre-check before parsing.
fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for &c in bytes {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_are_enforced_before_parsing() {
        let deep = "[".repeat(100) + &"]".repeat(100);
        let e = decode(deep.as_bytes(), Format::Json, &Limits::default()).unwrap_err();
        assert_eq!(e.code, ErrorCode::TooLarge);
        let big = vec![b' '; 2 << 20];
        let e = decode(&big, Format::Json, &Limits::default()).unwrap_err();
        assert_eq!(e.code, ErrorCode::TooLarge);
        // Brackets inside strings do not count.
        let s = json!({"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}).to_string();
        assert!(decode(s.as_bytes(), Format::Json, &Limits::default()).is_ok());
        let e = decode(b"{\"a\":", Format::Json, &Limits::default()).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
    }

    #[test]
    fn content_types() {
        assert_eq!(
            Format::from_content_type("application/json; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(Format::from_content_type("TEXT/XML"), Some(Format::Xml));
        assert_eq!(Format::from_content_type("text/plain"), None);
    }
}
