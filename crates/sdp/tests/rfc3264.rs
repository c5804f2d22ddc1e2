//! RFC 3264 offer/answer behaviour, filed by section; examples from RFC 3264 §10 and
//! RFC 4317 where they apply to an audio-only engine.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use sdp::{
    Capabilities, Codec, Direction, MediaKind, OfferAnswerError, SessionIds, answer,
    has_active_video, negotiated, offer, parse, rewrite_connection,
};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const IDS: SessionIds = SessionIds { id: 77, version: 1 };

fn caps() -> Capabilities {
    Capabilities::new(LOCAL)
}

fn ports(base: u16) -> impl FnMut(usize, &MediaKind) -> Option<u16> {
    move |i, _| Some(base + 2 * i as u16)
}

fn answer_text(offer_text: &str, local: &Capabilities) -> sdp::Session {
    let o = parse(offer_text).unwrap();
    answer(&o, local, IDS, &mut ports(49174)).unwrap()
}

const RFC3264_10_1_OFFER: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com\r\n\
s=\r\n\
c=IN IP4 host.atlanta.example.com\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 97\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:97 iLBC/8000\r\n\
m=video 51372 RTP/AVP 31 32\r\n\
a=rtpmap:31 H261/90000\r\n\
a=rtpmap:32 MPV/90000\r\n";

fn audio_offer(extra: &str) -> String {
    format!(
        "v=0\r\no=alice 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
         m=audio 5004 RTP/AVP 0 8 97\r\na=rtpmap:97 telephone-event/8000\r\na=fmtp:97 0-16\r\n{extra}"
    )
}

/// §10.1: same m-lines in order; audio accepted with PCMU (offerer's first common codec);
/// video, which this engine does not do, rejected with port 0 and a format listed (§6).
#[test]
fn s10_1_basic_exchange_rejects_video() {
    let a = answer_text(RFC3264_10_1_OFFER, &caps());
    assert_eq!(a.media.len(), 2);
    assert_eq!(a.media[0].kind, MediaKind::Audio);
    assert_eq!(a.media[0].port, 49174);
    assert_eq!(a.media[0].formats, ["0"]);
    assert_eq!(a.media[0].rtpmap(0).unwrap().encoding, "PCMU");
    assert_eq!(a.media[1].kind, MediaKind::Video);
    assert_eq!(a.media[1].port, 0);
    assert_eq!(a.media[1].formats, ["31"]);
    assert_eq!(a.media[1].attributes, []);
    assert_eq!(a.origin.session_id, 77);
    assert_eq!(a.connection.as_ref().unwrap().address, "192.0.2.1");
    assert!(!has_active_video(&a));
    assert!(has_active_video(&parse(RFC3264_10_1_OFFER).unwrap()));
}

/// §6.1: the answer keeps the offerer's payload type numbers, including a dynamic
/// telephone-event number and its fmtp.
#[test]
fn s6_1_payload_numbers_are_mirrored() {
    let a = answer_text(&audio_offer(""), &caps());
    let m = &a.media[0];
    assert_eq!(m.formats, ["0", "97"]);
    assert_eq!(m.rtpmap(97).unwrap().encoding, "telephone-event");
    assert_eq!(m.fmtp(97), Some("0-16"));
    assert_eq!(m.ptime(), Some(20));
    assert_eq!(m.direction_attribute(), Some(Direction::SendRecv));

    let mut all = caps();
    all.single_codec = false;
    let a = answer_text(&audio_offer(""), &all);
    assert_eq!(a.media[0].formats, ["0", "8", "97"]);
}

/// §6.1: the answerer's preferences only filter; order is the offerer's. A-law only.
#[test]
fn s6_1_codec_intersection() {
    let mut local = caps();
    local.codecs = vec![Codec::Pcma];
    let a = answer_text(&audio_offer(""), &local);
    assert_eq!(a.media[0].formats, ["8", "97"]);

    let no_common = audio_offer("").replace("RTP/AVP 0 8 97", "RTP/AVP 18 97");
    let o = parse(&no_common).unwrap();
    assert_eq!(
        answer(&o, &caps(), IDS, &mut ports(1000)),
        Err(OfferAnswerError::NoCommonMedia)
    );
    // telephone-event alone is not a voice codec.
    local.telephone_event = false;
    let a = answer_text(&audio_offer(""), &local);
    assert_eq!(a.media[0].formats, ["8"]);
}

/// Opus (RFC 7587) is matched by name, 48000 and 2 channels, with its dynamic number, and
/// telephone-event at 48 kHz goes with it.
#[test]
fn opus_when_enabled() {
    let text = "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n\
        m=audio 5004 RTP/AVP 96 0 99 101\r\na=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n\
        a=rtpmap:99 telephone-event/48000\r\na=rtpmap:101 telephone-event/8000\r\n";
    let a = answer_text(text, &caps());
    assert_eq!(a.media[0].formats, ["0", "101"]);
    let a = answer_text(text, &caps().with_opus());
    assert_eq!(a.media[0].formats, ["96", "99"]);
    assert_eq!(a.media[0].fmtp(96), Some("useinbandfec=1"));
    assert_eq!(a.media[0].rtpmap(96).unwrap().channels, Some(2));
}

/// §6.1 direction table: sendonly ↔ recvonly, inactive stays inactive.
#[test]
fn s6_1_directions() {
    for (offered, answered) in [
        ("a=sendonly\r\n", Direction::RecvOnly),
        ("a=recvonly\r\n", Direction::SendOnly),
        ("a=inactive\r\n", Direction::Inactive),
        ("a=sendrecv\r\n", Direction::SendRecv),
        ("", Direction::SendRecv),
    ] {
        let a = answer_text(&audio_offer(offered), &caps());
        assert_eq!(a.direction(0), answered, "{offered:?}");
    }
    // A local preference intersects.
    let mut local = caps();
    local.direction = Direction::SendOnly;
    let a = answer_text(&audio_offer(""), &local);
    assert_eq!(a.direction(0), Direction::SendOnly);
    let a = answer_text(&audio_offer("a=sendonly\r\n"), &local);
    assert_eq!(a.direction(0), Direction::Inactive);
}

/// §8.4 and RFC 4317 hold: a=sendonly (or inactive) puts on hold, answered recvonly; the
/// old way, c=0.0.0.0, is detected too and answered without sending.
#[test]
fn s8_4_hold_and_resume() {
    let hold = parse(audio_offer("a=sendonly\r\n")).unwrap();
    assert!(hold.is_hold());
    assert!(parse(audio_offer("a=inactive\r\n")).unwrap().is_hold());
    assert!(!parse(audio_offer("a=recvonly\r\n")).unwrap().is_hold());
    assert!(!parse(audio_offer("")).unwrap().is_hold());
    let old = audio_offer("").replace("c=IN IP4 198.51.100.7", "c=IN IP4 0.0.0.0");
    let old = parse(old).unwrap();
    assert!(old.is_hold());
    let a = answer(&old, &caps(), IDS, &mut ports(1000)).unwrap();
    assert_eq!(a.direction(0), Direction::RecvOnly);
    // Session-level direction applies to every stream.
    let session_level = audio_offer("").replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
    assert!(parse(session_level).unwrap().is_hold());
}

/// The result of an exchange, read from both sides.
#[test]
fn negotiated_streams_from_both_sides() {
    let o = parse(audio_offer("a=rtcp:6000 IN IP4 198.51.100.8\r\n")).unwrap();
    let a = answer(&o, &caps(), IDS, &mut ports(40000)).unwrap();
    let ours = negotiated(&a, &o);
    assert_eq!(ours.len(), 1);
    let s = &ours[0];
    assert_eq!(s.local_port, 40000);
    assert_eq!(s.remote, Some("198.51.100.7:5004".parse().unwrap()));
    assert_eq!(s.remote_rtcp, Some("198.51.100.8:6000".parse().unwrap()));
    assert_eq!((s.codec, s.payload_type), (Codec::Pcmu, 0));
    assert_eq!(s.telephone_event, Some(97));
    assert_eq!(s.receive, [(0, Codec::Pcmu)]);
    assert_eq!(s.direction, Direction::SendRecv);
    assert_eq!(s.ptime, 20);

    let theirs = negotiated(&o, &a);
    assert_eq!(theirs[0].remote, Some(SocketAddr::new(LOCAL, 40000)));
    assert_eq!(theirs[0].remote_rtcp, Some(SocketAddr::new(LOCAL, 40001)));

    // Rejected video is not a stream; a held peer gets no media from us.
    let o = parse(RFC3264_10_1_OFFER).unwrap();
    let a = answer(&o, &caps(), IDS, &mut ports(40000)).unwrap();
    assert_eq!(negotiated(&a, &o).len(), 1);
    let held = parse(audio_offer("a=sendonly\r\n")).unwrap();
    let a = answer(&held, &caps(), IDS, &mut ports(40000)).unwrap();
    assert_eq!(negotiated(&a, &held)[0].direction, Direction::RecvOnly);
}

/// Server-originated offers parse back, and a peer's answer to them negotiates.
#[test]
fn s5_offer_for_server_calls() {
    let o = offer(&caps().with_opus(), IDS, 30000);
    let text = o.to_string();
    assert!(
        text.contains("m=audio 30000 RTP/AVP 111 0 8 101 110\r\n"),
        "{text}"
    );
    assert_eq!(parse(&text).unwrap(), o);
    let peer = Capabilities::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9)));
    let a = answer(
        &o,
        &peer,
        SessionIds { id: 5, version: 5 },
        &mut ports(7000),
    )
    .unwrap();
    let s = &negotiated(&o, &a)[0];
    assert_eq!(
        (s.codec, s.payload_type, s.telephone_event),
        (Codec::Pcmu, 0, Some(101))
    );
}

/// Streams the peer disabled (port 0) and unsupported profiles are rejected; a port
/// allocator that runs dry rejects too.
#[test]
fn s6_rejections() {
    let text = audio_offer("")
        + "m=audio 0 RTP/AVP 0\r\nm=audio 7000 RTP/SAVP 0\r\nm=audio 7002 RTP/AVP 0\r\n";
    let o = parse(&text).unwrap();
    let a = answer(&o, &caps(), IDS, &mut |i, _| (i != 3).then_some(2000)).unwrap();
    let p: Vec<u16> = a.media.iter().map(|m| m.port).collect();
    assert_eq!(p, [2000, 0, 0, 0]);
    assert_eq!(a.media[2].proto, "RTP/SAVP");
    let empty = parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n").unwrap();
    assert_eq!(
        answer(&empty, &caps(), IDS, &mut ports(1)),
        Err(OfferAnswerError::NoMedia)
    );
}

/// Anchoring: one session-level c=, our ports, peer transport attributes gone.
#[test]
fn rewrite_connection_for_anchoring() {
    let text = audio_offer(
        "c=IN IP4 203.0.113.5\r\na=rtcp:6001\r\na=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n",
    ) + "m=video 0 RTP/AVP 31\r\n";
    let mut s = parse(&text).unwrap();
    let anchor: IpAddr = "192.0.2.50".parse().unwrap();
    assert!(rewrite_connection(&mut s, anchor, &[1]).is_err());
    rewrite_connection(&mut s, anchor, &[30000, 30002]).unwrap();
    let out = s.to_string();
    assert!(out.contains("c=IN IP4 192.0.2.50\r\n"));
    assert!(!out.contains("203.0.113.5") && !out.contains("c=IN IP4 198.51.100.7"));
    assert!(!out.contains("a=rtcp:") && !out.contains("candidate"));
    assert_eq!(s.media[0].port, 30000);
    assert_eq!(s.media[1].port, 0);
    assert_eq!(s.media[0].fmtp(97), Some("0-16"));
    let v6: IpAddr = "2001:db8::1".parse().unwrap();
    rewrite_connection(&mut s, v6, &[1, 2]).unwrap();
    assert!(s.to_string().contains("c=IN IP6 2001:db8::1\r\n"));
}
