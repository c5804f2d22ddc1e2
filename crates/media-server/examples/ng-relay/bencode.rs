//! Bencode (the BitTorrent encoding rtpengine's ng control protocol carries over UDP):
//! integers `i42e`, byte strings `3:abc`, lists `l…e`, dictionaries `d…e` with byte-string
//! keys. Parsing is bounded (nesting depth, input length) and never panics on hostile input.
//!
//! Does not: check that dictionary keys are sorted (rtpengine does not either).

use std::collections::BTreeMap;

/// One bencoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Dict(BTreeMap<Vec<u8>, Value>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BencodeError {
    #[error("truncated input")]
    Truncated,
    #[error("unexpected byte at {0}")]
    Unexpected(usize),
    #[error("bad number at {0}")]
    Number(usize),
    #[error("nesting too deep")]
    TooDeep,
    #[error("trailing bytes after the value")]
    Trailing,
}

const MAX_DEPTH: usize = 32;

impl Value {
    /// A dictionary's entry.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(d) => d.get(key.as_bytes()),
            _ => None,
        }
    }

    /// A byte-string entry as text.
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// A dictionary from `(key, value)` pairs of text.
    pub fn dict<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
        Value::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), Value::Bytes(v.as_bytes().to_vec())))
                .collect(),
        )
    }

    /// The encoded form (dictionary keys sorted, as the spec wants).
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            Value::Bytes(b) => {
                out.extend_from_slice(format!("{}:", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Value::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode(out);
                }
                out.push(b'e');
            }
            Value::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    Value::Bytes(k.clone()).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }
}

/// Parses exactly one value spanning all of `input`.
pub fn parse(input: &[u8]) -> Result<Value, BencodeError> {
    let (v, end) = value(input, 0, 0)?;
    if end != input.len() {
        return Err(BencodeError::Trailing);
    }
    Ok(v)
}

fn byte(input: &[u8], at: usize) -> Result<u8, BencodeError> {
    input.get(at).copied().ok_or(BencodeError::Truncated)
}

/// Digits (with an optional leading `-`) up to `stop`; returns the number and the index
/// after `stop`.
fn number(input: &[u8], at: usize, stop: u8) -> Result<(i64, usize), BencodeError> {
    let rest = input.get(at..).ok_or(BencodeError::Truncated)?;
    let len = rest
        .iter()
        .position(|&b| b == stop)
        .ok_or(BencodeError::Truncated)?;
    let digits = rest.get(..len).ok_or(BencodeError::Truncated)?;
    let n = std::str::from_utf8(digits)
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= 19)
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or(BencodeError::Number(at))?;
    Ok((n, at + len + 1))
}

fn value(input: &[u8], at: usize, depth: usize) -> Result<(Value, usize), BencodeError> {
    if depth > MAX_DEPTH {
        return Err(BencodeError::TooDeep);
    }
    match byte(input, at)? {
        b'i' => {
            let (n, end) = number(input, at + 1, b'e')?;
            Ok((Value::Int(n), end))
        }
        b'l' => {
            let mut at = at + 1;
            let mut items = Vec::new();
            while byte(input, at)? != b'e' {
                let (v, next) = value(input, at, depth + 1)?;
                items.push(v);
                at = next;
            }
            Ok((Value::List(items), at + 1))
        }
        b'd' => {
            let mut at = at + 1;
            let mut map = BTreeMap::new();
            while byte(input, at)? != b'e' {
                let (k, next) = value(input, at, depth + 1)?;
                let Value::Bytes(k) = k else {
                    return Err(BencodeError::Unexpected(at));
                };
                let (v, next) = value(input, next, depth + 1)?;
                map.insert(k, v);
                at = next;
            }
            Ok((Value::Dict(map), at + 1))
        }
        b'0'..=b'9' => {
            let (n, start) = number(input, at, b':')?;
            let n = usize::try_from(n).map_err(|_| BencodeError::Number(at))?;
            let end = start.checked_add(n).ok_or(BencodeError::Number(at))?;
            let bytes = input.get(start..end).ok_or(BencodeError::Truncated)?;
            Ok((Value::Bytes(bytes.to_vec()), end))
        }
        _ => Err(BencodeError::Unexpected(at)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_of_an_offer() {
        let msg = b"d7:call-id3:abc7:command5:offer3:sdp4:v=0\ne";
        let v = parse(msg).unwrap();
        assert_eq!(v.str("command"), Some("offer"));
        assert_eq!(v.str("sdp"), Some("v=0\n"));
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(out, msg);
    }

    #[test]
    fn hostile_inputs_are_errors() {
        for bad in [
            &b""[..],
            b"d",
            b"i12",
            b"99999999999999999999:x",
            b"5:abc",
            b"di1ei2ee",
            b"x",
            b"i1ei2e",
            b"-1:",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = vec![b'l'; 100];
        assert_eq!(parse(&deep), Err(BencodeError::TooDeep));
    }
}
