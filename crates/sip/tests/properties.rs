//! Property tests of the parser (RFC 3261 §7, §20, §25): generated valid messages parse to the
//! values they were printed from, however liberally printed; `Builder` output round-trips;
//! arbitrary and mutated bytes never panic; the stream framer does not care how bytes arrive.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "../../../fuzz/src/lib.rs"]
mod targets;

use bytes::Bytes;
use proptest::prelude::*;
use sip::{Builder, Frame, Framer, Framing, Limits, Message, parse_datagram};

use common::{Model, assert_matches, build, model, render};

/// 256 cases by default; `PROPTEST_CASES=20000` for a long run. Failures are kept as fuzz
/// corpus files, not in proptest's regression files.
fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Prints a parsed message again with `Builder`, row by row from the unfolded values.
fn reprint(m: &Message) -> Bytes {
    let mut b = match m.status() {
        Some(code) => Builder::response(code, m.reason()),
        None => Builder::request(m.method(), m.uri_str()),
    };
    for (_, raw_name, value) in m.headers() {
        let n = raw_name.to_ascii_lowercase();
        if n != "content-length" && n != "l" && n != "content-type" && n != "c" {
            b.header(raw_name, value);
        }
    }
    b.finish(m.content_type(), m.body())
}

fn check(raw: &[u8], want: &Model) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(raw);
    let m =
        parse_datagram(raw.to_vec()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    assert_matches(&m, want).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    prop_assert_eq!(&m.message_bytes()[..], raw, "not lossless");
    let s = Message::parse(
        Bytes::copy_from_slice(raw),
        Framing::Stream,
        &Limits::default(),
    )
    .map_err(|e| TestCaseError::fail(format!("stream: {e}")))?;
    assert_matches(&s, want).map_err(TestCaseError::fail)?;
    targets::exercise(&m, raw);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Folding, compact names, odd LWS, several values per row: the typed values are the
    /// generated ones.
    #[test]
    fn rendered_messages_parse_to_their_model(m in model()) {
        check(&render(&m), &m)?;
    }

    /// parse(print(x)) == x for the crate's own printer, and printing a parsed message again
    /// keeps every typed value.
    #[test]
    fn builder_round_trips(m in model()) {
        let built = build(&m);
        check(&built, &m)?;
        let parsed = parse_datagram(built.clone()).unwrap();
        let again = reprint(&parsed);
        check(&again, &m)?;
        let liberal = parse_datagram(render(&m)).unwrap();
        check(&reprint(&liberal), &m)?;
    }

    /// No input makes the parser panic, and what parses keeps every promise.
    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        targets::parse_message(&data);
        targets::framer(&data);
    }

    /// Valid messages with a few bytes changed, inserted or removed: the likeliest hostile
    /// input to reach deep into the parser.
    #[test]
    fn mutated_messages_never_panic(
        m in model(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..6),
    ) {
        let mut raw = render(&m);
        for (at, op, byte) in edits {
            let i = at.index(raw.len() + 1);
            match op {
                0 if i < raw.len() => raw[i] = byte,
                1 => raw.insert(i, byte),
                _ if i < raw.len() => {
                    raw.remove(i);
                }
                _ => {}
            }
        }
        targets::parse_message(&raw);
        let mut framed = vec![7u8];
        framed.extend_from_slice(&raw);
        targets::framer(&framed);
    }

    /// A stream of messages and pings frames the same under any chunking, and each frame is
    /// exactly one of the messages sent.
    #[test]
    fn framer_ignores_chunking(
        msgs in prop::collection::vec((model(), any::<bool>(), any::<bool>()), 1..4),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for (m, ping, crlf) in &msgs {
            if *ping {
                stream.extend_from_slice(b"\r\n\r\n");
                want.push(Frame::Ping);
            }
            if *crlf {
                stream.extend_from_slice(b"\r\n");
            }
            let raw = render(m);
            stream.extend_from_slice(&raw);
            want.push(Frame::Message(Bytes::from(raw)));
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(stream.len());
        let mut framer = Framer::new(Limits::default().max_size);
        let (mut got, mut from) = (Vec::new(), 0);
        for to in cuts {
            framer.push(&stream[from..to]);
            from = to;
            while let Some(frame) = framer.next_frame().unwrap() {
                got.push(frame);
            }
        }
        prop_assert_eq!(&got, &want);
        prop_assert_eq!(framer.pending(), 0);
        for (frame, (m, _, _)) in got.iter().filter_map(|f| match f {
            Frame::Message(b) => Some(b),
            Frame::Ping => None,
        }).zip(&msgs) {
            let parsed = Message::parse(frame.clone(), Framing::Stream, &Limits::default()).unwrap();
            assert_matches(&parsed, m).map_err(TestCaseError::fail)?;
        }
    }
}
