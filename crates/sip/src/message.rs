//! The SIP message (RFC 3261 §7): a zero-copy index over the received bytes.
//!
//! Parsing validates what every element relies on (start line, Via, From, To, Call-ID, CSeq,
//! Max-Forwards, Content-Length, Contact) and indexes every header; other headers are typed
//! lazily on access. The original bytes are kept, so forwarding a message unchanged is
//! byte-identical.

use std::net::SocketAddr;
use std::ops::Range;

use bytes::Bytes;

use crate::error::{ParseError, ParseErrorKind as K};
use crate::head::{LineIter, find_head_end, has_bare_control, unfold};
use crate::header::HeaderName;
use crate::method::Method;
use crate::scan::{is_token_char, is_word_char, split_commas};
use crate::uri::Uri;
use crate::values::{CSeq, ContactValue, NameAddr, Via, parse_delta_seconds};

/// Bounds applied while parsing, so hostile input costs little.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_size: usize,
    pub max_headers: usize,
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_size: 65_535,
            max_headers: 256,
            max_line: 16_384,
        }
    }
}

/// How the bytes arrived: a datagram may omit Content-Length, a stream may not (§18.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Datagram,
    Stream,
}

#[derive(Debug, Clone)]
struct HeaderIdx {
    name: HeaderName,
    name_range: Range<usize>,
    value: Range<usize>,
}

#[derive(Debug, Clone)]
enum Start {
    Request {
        method: Range<usize>,
        uri: Range<usize>,
    },
    Response {
        code: u16,
        reason: Range<usize>,
    },
}

/// A parsed SIP request or response.
#[derive(Debug, Clone)]
pub struct Message {
    raw: Bytes,
    /// `raw` with line folding replaced by spaces (the same buffer when nothing was folded).
    text: Bytes,
    start: Start,
    headers: Vec<HeaderIdx>,
    body: Range<usize>,
    received: Option<SocketAddr>,
}

impl Message {
    /// Parses one message. For datagrams, bytes after Content-Length are ignored (§18.3).
    pub fn parse(raw: Bytes, framing: Framing, limits: &Limits) -> Result<Message, ParseError> {
        Message::parse_with(raw, framing, limits, true)
    }

    /// Indexes a message this process built itself (with [`crate::Builder`]), skipping the
    /// validation of header values that [`Message::parse`] does for network input.
    pub fn parse_own(raw: Bytes) -> Result<Message, ParseError> {
        Message::parse_with(raw, Framing::Datagram, &Limits::default(), false)
    }

    fn parse_with(
        raw: Bytes,
        framing: Framing,
        limits: &Limits,
        validate: bool,
    ) -> Result<Message, ParseError> {
        // Decided from the first bytes so that even the cheapest rejections know whether to
        // answer (requests) or drop (responses).
        let is_request = !starts_with_sip_version(&raw);
        let err = |k| ParseError::new(k, is_request);
        if raw.len() > limits.max_size {
            return Err(err(K::TooLarge));
        }
        let head_end = find_head_end(&raw).ok_or(err(K::Truncated))?;
        let head = raw.get(..head_end.0).unwrap_or_default();
        if std::str::from_utf8(head).is_err() {
            return Err(err(K::NotUtf8));
        }
        if has_bare_control(head) {
            return Err(err(K::BadChar));
        }
        let text = unfold(&raw, head_end.0);
        let mut msg = Message {
            raw: raw.clone(),
            text,
            start: Start::Response {
                code: 0,
                reason: 0..0,
            },
            headers: Vec::with_capacity(16),
            body: 0..0,
            received: None,
        };
        msg.index(head_end.0, limits).map_err(err)?;
        if validate {
            msg.validate().map_err(err)?;
        }
        let available = raw.len() - head_end.1;
        let body_len = match msg.content_length().map_err(err)? {
            Some(n) if n > available => return Err(err(K::BodyTruncated)),
            Some(n) => n,
            None if framing == Framing::Stream => return Err(err(K::MissingContentLength)),
            None => available,
        };
        msg.body = head_end.1..head_end.1 + body_len;
        Ok(msg)
    }

    fn index(&mut self, head_end: usize, limits: &Limits) -> Result<(), K> {
        let text = self.text.clone();
        let head = text.get(..head_end).unwrap_or_default();
        let mut lines = LineIter::new(head);
        let first = lines.next().ok_or(K::BadStartLine)?;
        if first.len() > limits.max_line {
            return Err(K::TooLarge);
        }
        self.start = parse_start(head, first)?;
        for line in lines {
            if line.len() > limits.max_line {
                return Err(K::TooLarge);
            }
            let l = head.get(line.clone()).unwrap_or_default();
            if l.first().is_some_and(|c| *c == b' ' || *c == b'\t') {
                // Folding was removed; a continuation here means one before any header.
                return Err(K::BadHeader);
            }
            let colon = l.iter().position(|c| *c == b':').ok_or(K::BadHeader)?;
            let name_bytes = l.get(..colon).unwrap_or_default();
            let name_len = name_bytes
                .iter()
                .rposition(|c| *c != b' ' && *c != b'\t')
                .map_or(0, |i| i + 1);
            let name_bytes = name_bytes.get(..name_len).unwrap_or_default();
            if name_bytes.is_empty() || !name_bytes.iter().all(|c| is_token_char(*c)) {
                return Err(K::BadHeader);
            }
            let mut vstart = colon + 1;
            while l.get(vstart).is_some_and(|c| *c == b' ' || *c == b'\t') {
                vstart += 1;
            }
            let mut vend = l.len();
            while vend > vstart && l.get(vend - 1).is_some_and(|c| *c == b' ' || *c == b'\t') {
                vend -= 1;
            }
            let name = HeaderName::parse(std::str::from_utf8(name_bytes).unwrap_or(""));
            if self.headers.len() >= limits.max_headers {
                return Err(K::TooManyHeaders);
            }
            self.headers.push(HeaderIdx {
                name,
                name_range: line.start..line.start + name_len,
                value: line.start + vstart..line.start + vend,
            });
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), K> {
        for h in HeaderName::ALL_SINGLE {
            if self.headers.iter().filter(|x| x.name == h).count() > 1 {
                return Err(K::DuplicateHeader(h));
            }
        }
        let vias = self.vias();
        if vias.is_empty() {
            return Err(K::Missing(HeaderName::Via));
        }
        if vias.iter().any(Option::is_none) {
            return Err(K::Invalid(HeaderName::Via));
        }
        for h in [HeaderName::From, HeaderName::To] {
            let v = self.header(h).ok_or(K::Missing(h))?;
            NameAddr::parse(v).ok_or(K::Invalid(h))?;
        }
        let call_id = self.call_id().ok_or(K::Missing(HeaderName::CallId))?;
        if call_id.is_empty() || !call_id.bytes().all(|c| is_word_char(c) || c == b'@') {
            return Err(K::Invalid(HeaderName::CallId));
        }
        let cseq = self
            .header(HeaderName::CSeq)
            .ok_or(K::Missing(HeaderName::CSeq))?;
        let cseq = CSeq::parse(cseq).ok_or(K::Invalid(HeaderName::CSeq))?;
        if let Start::Request { .. } = self.start
            && cseq.method != self.method()
        {
            return Err(match Method::parse(self.method()) {
                Method::Other => K::UnknownMethodMismatch,
                _ => K::CSeqMismatch,
            });
        }
        if let Some(mf) = self.header(HeaderName::MaxForwards)
            && parse_max_forwards(mf).is_none()
        {
            return Err(K::Invalid(HeaderName::MaxForwards));
        }
        for v in self.header_values(HeaderName::Contact) {
            ContactValue::parse(v).ok_or(K::Invalid(HeaderName::Contact))?;
        }
        if let Some(e) = self.header(HeaderName::Expires) {
            parse_delta_seconds(e).ok_or(K::Invalid(HeaderName::Expires))?;
        }
        if let Some(d) = self.header(HeaderName::Date)
            && !d.ends_with("GMT")
        {
            return Err(K::Invalid(HeaderName::Date));
        }
        Ok(())
    }

    // ----- start line -----

    pub fn is_request(&self) -> bool {
        matches!(self.start, Start::Request { .. })
    }

    /// The request method as written; empty for responses (see [`Message::cseq`]).
    pub fn method(&self) -> &str {
        match &self.start {
            Start::Request { method, .. } => self.str_at(method.clone()),
            Start::Response { .. } => "",
        }
    }

    /// The method of a request, or of the request a response answers (from CSeq).
    pub fn method_kind(&self) -> Method {
        match &self.start {
            Start::Request { method, .. } => Method::parse(self.str_at(method.clone())),
            Start::Response { .. } => self
                .cseq()
                .map_or(Method::Other, |c| Method::parse(c.method)),
        }
    }

    /// The Request-URI text.
    pub fn uri_str(&self) -> &str {
        match &self.start {
            Start::Request { uri, .. } => self.str_at(uri.clone()),
            Start::Response { .. } => "",
        }
    }

    pub fn uri(&self) -> Option<Uri<'_>> {
        Uri::parse(self.uri_str())
    }

    /// Status code of a response.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            Start::Response { code, .. } => Some(code),
            Start::Request { .. } => None,
        }
    }

    pub fn reason(&self) -> &str {
        match &self.start {
            Start::Response { reason, .. } => self.str_at(reason.clone()),
            Start::Request { .. } => "",
        }
    }

    // ----- headers -----

    /// Every header row as (name, name as written, unfolded value).
    pub fn headers(&self) -> impl Iterator<Item = (HeaderName, &str, &str)> {
        self.headers.iter().map(|h| {
            (
                h.name,
                self.str_at(h.name_range.clone()),
                self.str_at(h.value.clone()),
            )
        })
    }

    /// The first row of a known header.
    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| self.str_at(h.value.clone()))
    }

    /// The first row of any header by name (for headers without a [`HeaderName`]).
    pub fn header_named(&self, name: &str) -> Option<&str> {
        let known = HeaderName::parse(name);
        self.headers()
            .find(|(n, raw, _)| {
                if known == HeaderName::Other {
                    raw.eq_ignore_ascii_case(name)
                        || HeaderName::expand_compact(raw)
                            .is_some_and(|l| l.eq_ignore_ascii_case(name))
                } else {
                    *n == known
                }
            })
            .map(|(_, _, v)| v)
    }

    /// Every value of a header, rows in order, list rows split at top-level commas.
    pub fn header_values(&self, name: HeaderName) -> Vec<&str> {
        let mut out = Vec::new();
        for h in self.headers.iter().filter(|h| h.name == name) {
            let v = self.str_at(h.value.clone());
            if name.is_list() {
                out.extend(split_commas(v).filter(|s| !s.is_empty()));
            } else {
                out.push(v);
            }
        }
        out
    }

    /// All Via values, top first; `None` entries are unparsable values.
    pub fn vias(&self) -> Vec<Option<Via<'_>>> {
        self.header_values(HeaderName::Via)
            .into_iter()
            .map(Via::parse)
            .collect()
    }

    pub fn top_via(&self) -> Option<Via<'_>> {
        self.header_values(HeaderName::Via)
            .first()
            .and_then(|v| Via::parse(v))
    }

    pub fn from(&self) -> Option<NameAddr<'_>> {
        self.header(HeaderName::From).and_then(NameAddr::parse)
    }

    pub fn to(&self) -> Option<NameAddr<'_>> {
        self.header(HeaderName::To).and_then(NameAddr::parse)
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header(HeaderName::CallId)
    }

    pub fn cseq(&self) -> Option<CSeq<'_>> {
        self.header(HeaderName::CSeq).and_then(CSeq::parse)
    }

    pub fn contacts(&self) -> Vec<ContactValue<'_>> {
        self.header_values(HeaderName::Contact)
            .into_iter()
            .filter_map(ContactValue::parse)
            .collect()
    }

    /// Max-Forwards, if present and valid.
    pub fn max_forwards(&self) -> Option<u8> {
        self.header(HeaderName::MaxForwards)
            .and_then(parse_max_forwards)
    }

    pub fn expires(&self) -> Option<u32> {
        self.header(HeaderName::Expires)
            .and_then(parse_delta_seconds)
    }

    /// Content-Length, `Ok(None)` when absent.
    pub fn content_length(&self) -> Result<Option<usize>, K> {
        match self.header(HeaderName::ContentLength) {
            None => Ok(None),
            Some(v) if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) => v
                .parse::<usize>()
                .map(Some)
                .map_err(|_| K::Invalid(HeaderName::ContentLength)),
            Some(_) => Err(K::Invalid(HeaderName::ContentLength)),
        }
    }

    pub fn content_type(&self) -> Option<&str> {
        self.header(HeaderName::ContentType)
    }

    pub fn body(&self) -> &[u8] {
        self.raw.get(self.body.clone()).unwrap_or_default()
    }

    /// The bytes as received (including anything after the body on a datagram).
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    /// The bytes of this message only (start line through body).
    pub fn message_bytes(&self) -> Bytes {
        self.raw.slice(..self.body.end.min(self.raw.len()))
    }

    /// The transport source of a request, to stamp `received`/`rport` into responses (§18.2.1,
    /// RFC 3581).
    pub fn set_received(&mut self, from: SocketAddr) {
        self.received = Some(from);
    }

    pub fn received(&self) -> Option<SocketAddr> {
        self.received
    }

    fn str_at(&self, r: Range<usize>) -> &str {
        self.text
            .get(r)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

impl HeaderName {
    const ALL_SINGLE: [HeaderName; 8] = [
        HeaderName::CallId,
        HeaderName::CSeq,
        HeaderName::From,
        HeaderName::To,
        HeaderName::MaxForwards,
        HeaderName::ContentLength,
        HeaderName::ContentType,
        HeaderName::Expires,
    ];
}

fn parse_start(head: &[u8], line: Range<usize>) -> Result<Start, K> {
    let l = head.get(line.clone()).unwrap_or_default();
    let s = std::str::from_utf8(l).map_err(|_| K::NotUtf8)?;
    let off = line.start;
    if let Some(rest) = strip_sip_slash(s) {
        let (ver, rest) = rest.split_once(' ').ok_or(K::BadStartLine)?;
        check_version(ver)?;
        let code_txt = rest.get(..3).ok_or(K::BadStartLine)?;
        let after = rest.get(3..).ok_or(K::BadStartLine)?;
        if !code_txt.bytes().all(|c| c.is_ascii_digit())
            || !(after.is_empty() || after.starts_with(' '))
        {
            return Err(K::BadStartLine);
        }
        let code: u16 = code_txt.parse().map_err(|_| K::BadStartLine)?;
        if !(100..=699).contains(&code) {
            return Err(K::BadStartLine);
        }
        let reason_start = off + 4 + ver.len() + 1 + 3 + usize::from(!after.is_empty());
        return Ok(Start::Response {
            code,
            reason: reason_start..line.end,
        });
    }
    let mut parts = s.split(' ');
    let (Some(m), Some(u), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(K::BadStartLine);
    };
    if m.is_empty() || !m.bytes().all(is_token_char) {
        return Err(K::BadStartLine);
    }
    let ver = strip_sip_slash(v).ok_or(K::BadStartLine)?;
    check_version(ver)?;
    let uri = Uri::parse(u).ok_or(K::BadRequestUri)?;
    if uri.as_sip().is_some_and(|s| s.headers.is_some()) {
        // §19.1.5: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
        return Err(K::BadRequestUri);
    }
    let mstart = off;
    let ustart = mstart + m.len() + 1;
    Ok(Start::Request {
        method: mstart..mstart + m.len(),
        uri: ustart..ustart + u.len(),
    })
}

/// `1*DIGIT` up to 255, leading zeros allowed (§20.22).
fn parse_max_forwards(v: &str) -> Option<u8> {
    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v = v.trim_start_matches('0');
    if v.len() > 3 {
        return None;
    }
    u8::try_from(v.parse::<u16>().unwrap_or(0)).ok()
}

/// "SIP/" in any case: the SIP-Version string is case-insensitive (§7.1).
fn strip_sip_slash(s: &str) -> Option<&str> {
    let (p, rest) = (s.get(..4)?, s.get(4..)?);
    p.eq_ignore_ascii_case("SIP/").then_some(rest)
}

fn starts_with_sip_version(raw: &[u8]) -> bool {
    raw.get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
}

/// `2.0` (leading zeros tolerated); other well-formed versions are unsupported (505).
pub(crate) fn check_version(v: &str) -> Result<(), K> {
    let (maj, min) = v.split_once('.').ok_or(K::BadStartLine)?;
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    if !digits(maj) || !digits(min) {
        return Err(K::BadStartLine);
    }
    if maj.trim_start_matches('0') != "2" || !min.bytes().all(|c| c == b'0') {
        return Err(K::UnsupportedVersion);
    }
    Ok(())
}

/// Convenience for tests and tools: parse a datagram with default limits.
pub fn parse_datagram(raw: impl Into<Bytes>) -> Result<Message, ParseError> {
    Message::parse(raw.into(), Framing::Datagram, &Limits::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOLDED: &[u8] = b"INVITE sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\nTO :\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\nfrom   : \"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8\r\nMaX-fOrWaRdS: 0068\r\nCall-ID: wsinv.ndaksdj@192.0.2.1\r\nContent-Length   : 4\r\ncseq: 0009\r\n  INVITE\r\nVia  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw\r\ns :\r\nNewFangledHeader:   newfangled value\r\n continued newfangled value\r\nUnknownHeaderWithUnusualValue: ;;,,;;,;\r\nContent-Type: application/sdp\r\nv:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ,\r\n SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239\r\nm:\"Quoted string \\\"\\\"\" <sip:jdrosen@example.com> ; newparam =\r\n      newvalue ;\r\n  secondparam ; q = 0.33\r\n\r\nv=0\r\n";

    #[test]
    fn folded_whitespace_message() {
        let m = parse_datagram(FOLDED).unwrap();
        assert_eq!(m.method(), "INVITE");
        assert_eq!(m.to().unwrap().tag(), Some("1918181833n"));
        assert_eq!(m.from().unwrap().tag(), Some("98asjd8"));
        assert_eq!(m.max_forwards(), Some(68));
        assert_eq!(m.cseq().unwrap().seq, 9);
        let vias = m.vias();
        assert_eq!(vias.len(), 3);
        assert_eq!(vias[2].as_ref().unwrap().branch(), Some("z9hG4bK30239"));
        assert_eq!(m.body(), b"v=0\r");
        assert_eq!(&m.as_bytes()[..], FOLDED);
        match &m.contacts()[0] {
            ContactValue::Addr(a) => assert_eq!(a.q(), Some(0.33)),
            ContactValue::Star => panic!(),
        }
    }

    #[test]
    fn rejects() {
        let base = "OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@example.com>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        assert!(parse_datagram(base.as_bytes().to_vec()).is_ok());
        let cases = [
            (base.replace("SIP/2.0\r\nVia", "SIP/7.0\r\nVia"), 505),
            (base.replace("OPTIONS sip", "OPTIONS  sip"), 400),
            (base.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"), 400),
            (base.replace("Content-Length: 0", "Content-Length: 10"), 400),
            (base.replace("Content-Length: 0", "Content-Length: -9"), 400),
            (base.replace("Call-ID: c\r\n", ""), 400),
            (
                base.replace("Call-ID: c\r\n", "Call-ID: c\r\nCall-ID: d\r\n"),
                400,
            ),
        ];
        for (msg, status) in cases {
            let e = parse_datagram(msg.into_bytes()).unwrap_err();
            assert_eq!(e.status().unwrap().0, status, "{e:?}");
        }
        // Leading zeros are fine in Max-Forwards; the SIP-Version is case-insensitive (§7.1).
        let m = parse_datagram(
            base.replace("Content-Length", "Max-Forwards: 0000\r\nl")
                .into_bytes(),
        );
        assert_eq!(m.unwrap().max_forwards(), Some(0));
        let lower = base.replace("SIP/2.0\r\nVia", "sip/2.0\r\nVia");
        assert!(parse_datagram(lower.into_bytes()).is_ok());
        let resp = "sip/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";
        assert_eq!(
            parse_datagram(resp.as_bytes().to_vec()).unwrap().status(),
            Some(200)
        );
        let refer = base.replace("Content-Length", "r: <sip:c@example.com>\r\nl");
        let m = parse_datagram(refer.into_bytes()).unwrap();
        assert_eq!(m.header_named("refer-to"), Some("<sip:c@example.com>"));
        let e = parse_datagram(&b"SIP/2.0 4294967301 better not break the receiver\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n"[..]).unwrap_err();
        assert!(e.status().is_none());
    }
}
