//! Printing messages: a small writer for requests and responses, and the §8.2.6 response
//! copy rules.

use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;

use crate::header::HeaderName;
use crate::message::Message;
use crate::values::Via;

/// Writes a message header by header; `finish` appends Content-Length and the body.
#[derive(Debug, Clone)]
pub struct Builder {
    buf: String,
}

impl Builder {
    pub fn request(method: &str, uri: &str) -> Builder {
        let mut buf = String::with_capacity(512);
        let _ = write!(buf, "{method} {uri} SIP/2.0\r\n");
        Builder { buf }
    }

    pub fn response(code: u16, reason: &str) -> Builder {
        let mut buf = String::with_capacity(512);
        let _ = write!(buf, "SIP/2.0 {code} {reason}\r\n");
        Builder { buf }
    }

    /// Appends one header row. Values must not contain CR or LF; such values are dropped so
    /// no caller can inject header rows.
    pub fn header(&mut self, name: &str, value: &str) -> &mut Self {
        if !value.contains(['\r', '\n']) && !name.contains(['\r', '\n', ':']) {
            let _ = write!(self.buf, "{name}: {value}\r\n");
        }
        self
    }

    pub fn header_fmt(&mut self, name: &str, value: std::fmt::Arguments<'_>) -> &mut Self {
        let v = value.to_string();
        self.header(name, &v)
    }

    /// Finishes with a body (Content-Type given when the body is not empty).
    pub fn finish(mut self, content_type: Option<&str>, body: &[u8]) -> Bytes {
        if let Some(ct) = content_type.filter(|_| !body.is_empty()) {
            self.header("Content-Type", ct);
        }
        let _ = write!(self.buf, "Content-Length: {}\r\n\r\n", body.len());
        let mut out = self.buf.into_bytes();
        out.extend_from_slice(body);
        Bytes::from(out)
    }

    pub fn finish_empty(self) -> Bytes {
        self.finish(None, &[])
    }
}

/// Starts a response to `req` per §8.2.6.2: Via rows (the top one stamped with `received` and
/// `rport`), From, To (tagged with `to_tag` unless it has a tag or this is a 100), Call-ID,
/// CSeq.
pub fn response_to(req: &Message, code: u16, reason: &str, to_tag: Option<&str>) -> Builder {
    let mut b = Builder::response(code, reason);
    for (i, via) in req.header_values(HeaderName::Via).into_iter().enumerate() {
        match (i, req.received()) {
            (0, Some(src)) => {
                let stamped = stamp_via(via, src);
                b.header("Via", &stamped);
            }
            _ => {
                b.header("Via", via);
            }
        }
    }
    if let Some(from) = req.header(HeaderName::From) {
        b.header("From", from);
    }
    if let Some(to) = req.header(HeaderName::To) {
        match to_tag {
            Some(tag) if code > 100 && req.to().and_then(|t| t.tag().map(str::len)).is_none() => {
                b.header_fmt("To", format_args!("{to};tag={tag}"));
            }
            _ => {
                b.header("To", to);
            }
        }
    }
    if let Some(cid) = req.call_id() {
        b.header("Call-ID", cid);
    }
    if let Some(cseq) = req.cseq() {
        b.header_fmt("CSeq", format_args!("{} {}", cseq.seq, cseq.method));
    }
    b
}

/// Adds `received` and fills `rport` in a Via value (RFC 3261 §18.2.1, RFC 3581 §4).
pub fn stamp_via(via: &str, src: SocketAddr) -> String {
    let Some(v) = Via::parse(via) else {
        return via.to_owned();
    };
    let mut out = String::with_capacity(via.len() + 40);
    let _ = write!(out, "SIP/2.0/{} {}", v.transport, v.host_text);
    if let Some(p) = v.port {
        let _ = write!(out, ":{p}");
    }
    let mut has_rport = false;
    for p in v.params.split(';') {
        let p = p.trim_matches([' ', '\t']);
        let name = p.split('=').next().unwrap_or("").trim_matches([' ', '\t']);
        if p.is_empty() || name.eq_ignore_ascii_case("received") {
            continue;
        }
        if name.eq_ignore_ascii_case("rport") {
            has_rport = true;
            let _ = write!(out, ";rport={}", src.port());
        } else {
            out.push(';');
            out.extend(p.chars().filter(|c| *c != ' ' && *c != '\t'));
        }
    }
    if has_rport || !v.host.matches(&src.ip().to_string()) {
        let _ = write!(out, ";received={}", src.ip());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::parse_datagram;

    #[test]
    fn response_copies_and_stamps() {
        let mut req = parse_datagram(
            &b"OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport, SIP/2.0/UDP p.example\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:x@example.com>\r\nCall-ID: abc\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n"[..],
        )
        .unwrap();
        req.set_received("192.0.2.9:40000".parse().unwrap());
        let out = response_to(&req, 200, "OK", Some("srv")).finish_empty();
        let resp = parse_datagram(out).unwrap();
        assert_eq!(resp.status(), Some(200));
        let vias = resp.header_values(HeaderName::Via);
        assert_eq!(
            vias[0],
            "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport=40000;received=192.0.2.9"
        );
        assert_eq!(vias.len(), 2);
        assert_eq!(resp.to().unwrap().tag(), Some("srv"));
        assert_eq!(resp.cseq().unwrap().seq, 7);
    }

    #[test]
    fn header_injection_is_dropped() {
        let mut b = Builder::request("OPTIONS", "sip:x");
        b.header("Subject", "a\r\nVia: evil");
        let out = b.finish_empty();
        assert!(!String::from_utf8_lossy(&out).contains("evil"));
    }
}
