//! Stateless answers to requests that could not be parsed (RFC 3261 §8.2, RFC 4475 §3.1.2).
//!
//! The message is broken, so the header rows a response needs (Via, From, To, Call-ID, CSeq)
//! are copied from the raw lines without interpretation, as far as they exist. Without a Via
//! there is nowhere to answer, so no answer.

use bytes::Bytes;
use sip::Builder;

/// Builds `status reason` for a raw request, with a Warning-free plain reason phrase and the
/// parse problem in the body-less `Reason`-like `X-Error` row for operators.
pub fn stateless_error(raw: &[u8], status: u16, reason: &str, detail: &str) -> Option<Bytes> {
    let head_end = raw
        .windows(2)
        .position(|w| w == b"\n\n")
        .into_iter()
        .chain(raw.windows(4).position(|w| w == b"\r\n\r\n"))
        .min()
        .unwrap_or(raw.len())
        .min(8192);
    let head = String::from_utf8_lossy(raw.get(..head_end)?);
    let mut rows: Vec<(&str, &str)> = Vec::new();
    for line in head.split('\n').skip(1) {
        let line = line.trim_end_matches('\r');
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let canonical = match name.trim().to_ascii_lowercase().as_str() {
            "via" | "v" => "Via",
            "from" | "f" => "From",
            "to" | "t" => "To",
            "call-id" | "i" => "Call-ID",
            "cseq" => "CSeq",
            _ => continue,
        };
        let value = value.trim();
        if value.is_empty() || value.len() > 1024 || value.chars().any(char::is_control) {
            continue;
        }
        rows.push((canonical, value));
    }
    if !rows.iter().any(|(n, _)| *n == "Via") {
        return None;
    }
    let mut b = Builder::response(status, reason);
    for (n, v) in rows {
        b.header(n, v);
    }
    let detail: String = detail.chars().filter(|c| !c.is_control()).collect();
    b.header(
        "Warning",
        &format!("399 switchboard \"{}\"", detail.replace('"', "'")),
    );
    Some(b.finish_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_broken_request_and_ignores_rowless_garbage() {
        let raw = b"INVITE sip:x SIP/7.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n";
        let r = stateless_error(raw, 505, "Version Not Supported", "unsupported").unwrap();
        let m = sip::parse_datagram(r).unwrap();
        assert_eq!(m.status(), Some(505));
        // LF-only lines and missing rows still get an answer as long as there is a Via.
        let raw = b"INVITE sip:x SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nCSeq: 1 INVITE\n\n";
        let r = stateless_error(raw, 400, "Bad Request", "missing From").unwrap();
        assert!(
            r.starts_with(b"SIP/2.0 400 Bad Request\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n")
        );
        assert!(stateless_error(b"\x00\x01garbage", 400, "Bad Request", "x").is_none());
    }
}
