//! Real and RFC bodies in `tests/corpus` (see its SOURCE.md): each parses, prints back to
//! itself, and can be answered (or is refused with a typed error).

// Test helpers outside #[test] functions may fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use sdp::{Capabilities, OfferAnswerError, SessionIds, answer, parse};

fn corpus() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sdp") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    out.sort();
    assert!(out.len() >= 8, "corpus went missing");
    out
}

/// The text as this crate prints it: CRLF line ends, no blank lines.
fn normalised(text: &str) -> String {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| format!("{l}\r\n"))
        .collect()
}

#[test]
fn every_body_parses_and_prints_back_to_itself() {
    for (name, text) in corpus() {
        let s = parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.to_string(), normalised(&text), "{name}");
        assert_eq!(parse(s.to_string()).unwrap(), s, "{name}");
    }
}

#[test]
fn every_body_is_answered_or_refused() {
    let local = Capabilities::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    for (name, text) in corpus() {
        let offer = parse(&text).unwrap();
        let result = answer(
            &offer,
            &local,
            SessionIds { id: 1, version: 1 },
            &mut |i, _| Some(40000 + 2 * i as u16),
        );
        if name.starts_with("webrtc") {
            assert_eq!(result, Err(OfferAnswerError::NoCommonMedia), "{name}");
            continue;
        }
        let a = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(a.media.len(), offer.media.len(), "{name}");
        assert_eq!(parse(a.to_string()).unwrap(), a, "{name}");
        let audio = &a.media[0];
        assert_eq!(audio.port, 40000, "{name}");
        // Single codec by default: one voice format, plus telephone-event when offered.
        let voice: Vec<_> = audio
            .payload_types()
            .filter(|&pt| {
                audio
                    .rtpmap(pt)
                    .is_some_and(|m| m.encoding != "telephone-event")
            })
            .collect();
        assert_eq!(voice.len(), 1, "{name}: {audio}");
        assert!(offer.media[0].formats.contains(&voice[0].to_string()));
    }
}

#[test]
fn linphone_static_g729_fmtp_without_rtpmap() {
    let (_, text) = corpus()
        .into_iter()
        .find(|(n, _)| n == "linphone-1.sdp")
        .unwrap();
    let s = parse(&text).unwrap();
    let m = &s.media[0];
    assert_eq!(m.rtpmap(18).unwrap().encoding, "G729");
    assert_eq!(m.fmtp(18), Some("annexb=yes"));
    assert_eq!(m.rtpmap(96).unwrap().channels, Some(2));
    assert_eq!(
        s.attribute("rtcp-xr").map(|v| v.starts_with("rcvr-rtt")),
        Some(true)
    );
}
