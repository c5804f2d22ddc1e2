//! Body of the `sdp` fuzz target, apart from libFuzzer so that `cargo test -p sdp` replays
//! `fuzz/corpus/sdp` through this very code (`crates/sdp/tests/fuzz_corpus.rs` includes this
//! file, as does `fuzz_targets/sdp.rs`). Panics on a broken invariant, not only on a crash.

/// SDP parsing; a parsed description must print to text that parses back to it, and
/// answering it must not panic and must keep the m-line count.
pub fn sdp(data: &[u8]) {
    let Ok(s) = sdp::parse(data) else {
        return;
    };
    let text = s.to_string();
    let again = sdp::parse(&text).expect("printed SDP parses");
    assert_eq!(again, s, "print is not the inverse of parse");
    let _ = (s.is_hold(), sdp::has_active_video(&s));
    for (i, m) in s.media.iter().enumerate() {
        let _ = (s.direction(i), m.rtpmaps().count(), m.ptime());
        for pt in m.payload_types() {
            let _ = (m.rtpmap(pt), m.fmtp(pt));
        }
    }
    let local = sdp::Capabilities::new([192, 0, 2, 1].into()).with_opus();
    let ids = sdp::SessionIds { id: 1, version: 1 };
    if let Ok(a) = sdp::answer(&s, &local, ids, &mut |i, _| Some(2000 + i as u16)) {
        assert_eq!(
            a.media.len(),
            s.media.len(),
            "answer changes the m-line count"
        );
        let reparsed = sdp::parse(a.to_string()).expect("our answer parses");
        assert_eq!(reparsed, a);
        let _ = sdp::negotiated(&a, &s);
    }
    let mut rewritten = s.clone();
    let ports = vec![4000; s.media.len()];
    sdp::rewrite_connection(&mut rewritten, [192, 0, 2, 9].into(), &ports).expect("ports fit");
    sdp::parse(rewritten.to_string()).expect("a rewritten description parses");
}
