//! Size limits (`Limits`, `Framer::new(max)`): hostile sizes are refused early, with 513 for a
//! request (RFC 3261 §21.5.14) and silence for a response, and no limit check costs more
//! than one pass over the bytes.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Instant;

use bytes::Bytes;
use sip::framer::FramingError;
use sip::{Frame, Framer, Framing, Limits, Message, ParseError, ParseErrorKind};

const HEAD: &str = "OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:x@example.com>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n";

fn msg(extra: &str, body: &str) -> Vec<u8> {
    format!("{HEAD}{extra}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// A message of exactly `total` bytes (the body fills it up).
fn msg_of_len(total: usize) -> Vec<u8> {
    let mut n = total - msg("", "").len();
    loop {
        let m = msg("", &"b".repeat(n));
        match m.len().cmp(&total) {
            std::cmp::Ordering::Equal => return m,
            std::cmp::Ordering::Greater => n -= m.len() - total,
            std::cmp::Ordering::Less => n += total - m.len(),
        }
    }
}

fn parse(raw: Vec<u8>, limits: &Limits) -> Result<Message, ParseError> {
    Message::parse(Bytes::from(raw), Framing::Datagram, limits)
}

fn status(r: Result<Message, ParseError>) -> Option<u16> {
    r.err().and_then(|e| e.status()).map(|s| s.0)
}

#[test]
fn oversized_message_is_513_before_any_scan() {
    let limits = Limits::default();
    let big = msg("", &"x".repeat(limits.max_size));
    let e = parse(big, &limits).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::TooLarge);
    assert_eq!(e.status(), Some((513, "Message Too Large")));

    // Cheap: 64 MiB of garbage without a single line end is refused without being read
    // (debug builds scan about 100 MB/s, so a scan would show).
    let junk = vec![b'A'; 64 << 20];
    let t = Instant::now();
    let e = parse(junk, &limits).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::TooLarge);
    assert!(t.elapsed().as_millis() < 100, "{:?}", t.elapsed());

    // A response is dropped, never answered, whatever its size.
    let mut resp = b"SIP/2.0 200 OK\r\n".to_vec();
    resp.resize(limits.max_size + 1, b'a');
    assert_eq!(parse(resp, &limits).unwrap_err().status(), None);

    // Exactly at the limit is fine.
    assert!(parse(msg_of_len(limits.max_size), &limits).is_ok());
    let over = parse(msg_of_len(limits.max_size + 1), &limits);
    assert_eq!(status(over), Some(513));
}

#[test]
fn custom_size_limit() {
    let limits = Limits {
        max_size: 300,
        ..Limits::default()
    };
    assert!(parse(msg("", "hello"), &limits).is_ok());
    assert_eq!(status(parse(msg("", &"y".repeat(200)), &limits)), Some(513));
}

#[test]
fn too_many_headers() {
    let limits = Limits::default();
    let rows = |n: usize| (0..n).map(|i| format!("X-H{i}: v\r\n")).collect::<String>();
    // The fixed part has 5 rows plus Content-Length.
    assert!(parse(msg(&rows(limits.max_headers - 6), ""), &limits).is_ok());
    let e = parse(msg(&rows(limits.max_headers - 5), ""), &limits).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::TooManyHeaders);
    assert_eq!(e.status().map(|s| s.0), Some(513));
    let few = Limits {
        max_headers: 8,
        ..Limits::default()
    };
    assert!(parse(msg(&rows(2), ""), &few).is_ok());
    assert_eq!(status(parse(msg(&rows(3), ""), &few)), Some(513));
}

#[test]
fn very_long_lines() {
    let limits = Limits::default();
    let long = |n: usize| format!("Subject: {}\r\n", "s".repeat(n));
    assert!(parse(msg(&long(limits.max_line - 9), ""), &limits).is_ok());
    let e = parse(msg(&long(limits.max_line), ""), &limits).unwrap_err();
    assert_eq!(e.kind, ParseErrorKind::TooLarge);
    assert_eq!(e.status().map(|s| s.0), Some(513));

    // Folding does not hide a long field: the limit applies to the unfolded line.
    let folded = format!("Subject: {}\r\n", vec!["s".repeat(100); 200].join("\r\n "));
    assert_eq!(status(parse(msg(&folded, ""), &limits)), Some(513));

    // The start line is bounded too.
    let uri = format!("sip:{}@example.com", "u".repeat(limits.max_line));
    let raw = String::from_utf8(msg("", ""))
        .unwrap()
        .replace("sip:x@example.com SIP", &format!("{uri} SIP"));
    assert_eq!(status(parse(raw.into_bytes(), &limits)), Some(513));
}

#[test]
fn many_values_per_row_stay_linear() {
    // ~60 KB of Via values, 300 to a row (a row is bounded by `max_line`), each parsed once.
    let one = "SIP/2.0/UDP h.example.com;branch=z9hG4bKabc";
    let row = format!("Via: {}\r\n", vec![one; 300].join(","));
    let raw = msg(&row.repeat(4), "");
    assert!(raw.len() < Limits::default().max_size);
    let t = Instant::now();
    let m = parse(raw, &Limits::default()).unwrap();
    assert_eq!(m.vias().len(), 1201);
    assert!(t.elapsed().as_secs() < 2, "{:?}", t.elapsed());
    let wide = msg(&format!("Via: {}\r\n", vec![one; 400].join(",")), "");
    assert_eq!(status(parse(wide, &Limits::default())), Some(513));
}

#[test]
fn stream_limits() {
    // A Content-Length beyond the limit is refused as soon as the head is complete, before
    // any body is buffered.
    let mut f = Framer::new(65_535);
    f.push(&msg("", "")[..HEAD.len()]);
    f.push(b"Content-Length: 100000\r\n\r\n");
    assert_eq!(f.next_frame(), Err(FramingError::TooLarge));

    // A head that never ends is refused once it passes the limit, even fed a byte at a time
    // (the search for its end resumes, it does not start over: this would take minutes if
    // it were quadratic).
    let mut f = Framer::new(65_535);
    let t = Instant::now();
    f.push(b"OPTIONS sip:x SIP/2.0\r\n");
    let mut result = Ok(None);
    for _ in 0..70_000 {
        f.push(b"a");
        result = f.next_frame();
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(FramingError::TooLarge));
    assert!(f.pending() <= 65_536);
    assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());

    // A message of exactly the limit frames.
    let raw = msg_of_len(1000);
    let mut f = Framer::new(1000);
    f.push(&raw);
    assert_eq!(f.next_frame(), Ok(Some(Frame::Message(Bytes::from(raw)))));
    let mut f = Framer::new(999);
    f.push(&msg_of_len(1000));
    assert_eq!(f.next_frame(), Err(FramingError::TooLarge));
}
