//! Bodies of the fuzz targets, apart from libFuzzer so that `cargo test -p sip` replays
//! `fuzz/corpus/` through this very code (`crates/sip/tests/fuzz_corpus.rs` includes this
//! file). Each target panics on a broken invariant, not only on a crash.

use bytes::Bytes;
use sip::uri::unescape;
use sip::{
    AuthParams, CSeq, ContactValue, Frame, Framer, Framing, HeaderName, Host, Limits, Message,
    Method, NameAddr, Uri, Via, parse_datagram, response_to,
};

/// Parses `data` as a datagram and as a stream message; a parsed message must be a prefix of
/// the input, answerable, and every accessor must work on it.
pub fn parse_message(data: &[u8]) {
    let limits = Limits::default();
    for framing in [Framing::Datagram, Framing::Stream] {
        match Message::parse(Bytes::copy_from_slice(data), framing, &limits) {
            Ok(m) => exercise(&m, data),
            Err(e) => {
                let _ = (e.status(), e.to_string());
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        values(text);
    }
}

/// Feeds the stream in chunks whose size comes from the first byte: the frames must be those
/// of feeding it whole, and each parsed frame must be exactly one message.
pub fn framer(data: &[u8]) {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let max = 4096;
    let whole = frames(stream, stream.len().max(1), max);
    let chunked = frames(stream, usize::from(first % 61) + 1, max);
    assert_eq!(whole, chunked, "framing depends on chunking");
    for frame in whole.into_iter().flatten() {
        if let Frame::Message(bytes) = frame
            && let Ok(m) = Message::parse(bytes.clone(), Framing::Stream, &Limits::default())
        {
            assert_eq!(
                m.message_bytes(),
                bytes,
                "framer and parser disagree on the length"
            );
            exercise(&m, &bytes);
        }
    }
}

/// Frames up to and including the first error.
fn frames(
    stream: &[u8],
    chunk: usize,
    max: usize,
) -> Vec<Result<Frame, sip::framer::FramingError>> {
    let mut f = Framer::new(max);
    let mut out = Vec::new();
    for piece in stream.chunks(chunk) {
        f.push(piece);
        loop {
            match f.next_frame() {
                Ok(Some(frame)) => out.push(Ok(frame)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
        assert!(f.pending() <= max + chunk, "framer buffers past its limit");
    }
    out
}

/// Every accessor of a parsed message, and the invariants a parsed message promises.
pub fn exercise(m: &Message, input: &[u8]) {
    let bytes = m.message_bytes();
    assert!(
        input.starts_with(&bytes),
        "message_bytes is not a prefix of the input"
    );
    assert!(
        bytes.ends_with(m.body()),
        "body is not the tail of message_bytes"
    );
    assert_eq!(m.as_bytes().as_ref(), input);

    // What parsing validated stays valid through the accessors.
    let top = m.top_via().expect("a parsed message has a top Via");
    assert!(m.vias().iter().all(Option::is_some));
    let from = m.from().expect("From parses");
    let to = m.to().expect("To parses");
    let cseq = m.cseq().expect("CSeq parses");
    let call_id = m.call_id().expect("Call-ID present");
    assert_eq!(
        m.contacts().len(),
        m.header_values(HeaderName::Contact).len()
    );
    assert!(m.content_length().is_ok());
    if m.is_request() {
        assert!(m.uri().is_some(), "a parsed request has a Request-URI");
        assert_eq!(m.status(), None);
        assert_eq!(cseq.method, m.method());
    } else {
        assert!(m.status().is_some_and(|s| (100..700).contains(&s)));
    }

    let _ = (
        m.method(),
        m.method_kind(),
        m.uri_str(),
        m.reason(),
        m.max_forwards(),
    );
    let _ = (m.expires(), m.content_type(), m.received());
    via(&top);
    name_addr(&from);
    name_addr(&to);
    if let Some(u) = m.uri() {
        uri(&u);
    }
    for c in m.contacts() {
        if let ContactValue::Addr(a) = c {
            name_addr(&a);
        }
    }
    for (name, raw, value) in m.headers() {
        let _ = (
            name.as_str(),
            name.is_list(),
            name.is_single(),
            m.header_named(raw),
        );
        let _ = m.header_values(name);
        if matches!(
            name,
            HeaderName::Authorization
                | HeaderName::ProxyAuthorization
                | HeaderName::WwwAuthenticate
                | HeaderName::ProxyAuthenticate
        ) {
            auth(value);
        }
        if matches!(name, HeaderName::Route | HeaderName::RecordRoute) {
            for v in m.header_values(name) {
                if let Some(a) = NameAddr::parse(v) {
                    name_addr(&a);
                }
            }
        }
    }

    // A parsed request can always be answered, and the answer parses back to the same dialog.
    if m.is_request() {
        let mut req = m.clone();
        req.set_received(([192, 0, 2, 1], 5060).into());
        let resp = response_to(&req, 200, "OK", Some("fz")).finish_empty();
        let r = parse_datagram(resp).expect("response_to output parses");
        assert_eq!(r.call_id(), Some(call_id));
        assert_eq!(
            r.cseq().map(|c| (c.seq, c.method)),
            Some((cseq.seq, cseq.method))
        );
        assert_eq!(r.vias().len(), m.vias().len());
        assert_eq!(r.top_via().and_then(|v| v.branch()), top.branch());
        assert_eq!(r.from().and_then(|f| f.tag()), from.tag());
    }
}

fn via(v: &Via<'_>) {
    let _ = (
        v.branch(),
        v.is_rfc3261_branch(),
        v.param("received"),
        v.param("rport"),
    );
    let _ = v.host.matches(v.host_text);
    assert!(Host::parse(v.host_text).is_some());
    let _ = v.host.to_string();
}

fn name_addr(a: &NameAddr<'_>) {
    let _ = (a.tag(), a.display(), a.expires(), a.q(), a.param("x"));
    uri(&a.uri);
}

fn uri(u: &Uri<'_>) {
    let _ = u.raw();
    if let Some(s) = u.as_sip() {
        let _ = (s.param("transport"), s.transport(), s.user_unescaped());
        let _ = (s.host.to_string(), s.host.matches(s.host_text));
        if let Some(p) = s.password {
            let _ = unescape(p);
        }
    }
}

fn auth(v: &str) {
    if let Some(a) = AuthParams::parse(v) {
        let _ = (
            a.is_digest(),
            a.has_duplicates(),
            a.get("realm"),
            a.raw("nonce"),
        );
    }
}

/// The value parsers on raw text, as a header value could reach them.
fn values(text: &str) {
    let _ = Via::parse(text).map(|v| via(&v));
    let _ = NameAddr::parse(text).map(|a| name_addr(&a));
    let _ = Uri::parse(text).map(|u| uri(&u));
    let _ = CSeq::parse(text);
    let _ = ContactValue::parse(text);
    let _ = Host::parse(text);
    let _ = Method::parse(text).as_str();
    let _ = HeaderName::parse(text);
    auth(text);
}
