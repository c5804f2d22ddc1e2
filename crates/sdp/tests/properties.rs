//! Property tests: print∘parse is the identity on generated descriptions, arbitrary bytes
//! and mutated real bodies never panic (and satisfy the fuzz target's invariants).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../fuzz/src/sdp.rs"]
mod target;

use proptest::prelude::*;
use sdp::{Attribute, Bandwidth, Connection, Media, MediaKind, Origin, Session, Timing, parse};

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9.+_-]{0,11}"
}

/// Text without line ends, no leading/trailing blanks (parsing trims trailing ones).
fn text() -> impl Strategy<Value = String> {
    "[!-~]([ -~]{0,20}[!-~])?"
}

fn connection() -> impl Strategy<Value = Connection> {
    (any::<[u8; 4]>(), any::<bool>()).prop_map(|(ip, v6)| {
        if v6 {
            Connection::new(
                std::net::Ipv6Addr::from(
                    [ip, ip, ip, ip]
                        .concat()
                        .as_slice()
                        .try_into()
                        .map(|a: [u8; 16]| a)
                        .unwrap(),
                )
                .into(),
            )
        } else {
            Connection::new(std::net::Ipv4Addr::from(ip).into())
        }
    })
}

fn attribute() -> impl Strategy<Value = Attribute> {
    (
        token(),
        proptest::option::of(prop_oneof![text(), Just(String::new())]),
    )
        .prop_map(|(name, value)| Attribute { name, value })
}

fn bandwidth() -> impl Strategy<Value = Bandwidth> {
    (token(), any::<u64>()).prop_map(|(kind, value)| Bandwidth { kind, value })
}

fn media() -> impl Strategy<Value = Media> {
    (
        prop_oneof![
            Just(MediaKind::Audio),
            Just(MediaKind::Video),
            Just(MediaKind::Application),
            token().prop_map(|t| MediaKind::from_token(&t))
        ],
        any::<u16>(),
        proptest::option::of(1u16..8),
        prop_oneof![
            Just("RTP/AVP".to_string()),
            Just("UDP/TLS/RTP/SAVPF".to_string()),
            token()
        ],
        proptest::collection::vec(token(), 0..6),
        proptest::option::of(text()),
        proptest::option::of(connection()),
        proptest::collection::vec(bandwidth(), 0..2),
        proptest::option::of(text()),
        proptest::collection::vec(attribute(), 0..6),
    )
        .prop_map(
            |(
                kind,
                port,
                port_count,
                proto,
                formats,
                title,
                connection,
                bandwidths,
                key,
                attributes,
            )| {
                let mut m = Media::new(kind, port, &proto, formats);
                m.port_count = port_count;
                m.title = title;
                m.connection = connection;
                m.bandwidths = bandwidths;
                m.key = key;
                m.attributes = attributes;
                m
            },
        )
}

fn session() -> impl Strategy<Value = Session> {
    (
        (token(), any::<u64>(), any::<u64>(), connection()),
        prop_oneof![text(), Just(String::new()), Just(" ".to_string())],
        (
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::collection::vec(text(), 0..2),
            proptest::collection::vec(text(), 0..2),
        ),
        connection(),
        proptest::collection::vec(bandwidth(), 0..2),
        proptest::collection::vec(
            (
                any::<u64>(),
                any::<u64>(),
                proptest::collection::vec(text(), 0..2),
            ),
            1..3,
        ),
        (proptest::option::of(text()), proptest::option::of(text())),
        proptest::collection::vec(attribute(), 0..6),
        proptest::collection::vec(media(), 0..4),
    )
        .prop_map(
            |(
                (user, id, version, oc),
                name,
                (info, uri, emails, phones),
                c,
                bandwidths,
                times,
                (zone, key),
                attributes,
                media,
            )| {
                let mut s = Session::new(Origin {
                    username: user,
                    session_id: id,
                    session_version: version,
                    net_type: oc.net_type,
                    addr_type: oc.addr_type,
                    address: oc.address,
                });
                s.name = name;
                s.info = info;
                s.uri = uri;
                s.emails = emails;
                s.phones = phones;
                s.connection = Some(c);
                s.bandwidths = bandwidths;
                s.times = times
                    .into_iter()
                    .map(|(start, stop, repeats)| Timing {
                        start,
                        stop,
                        repeats,
                    })
                    .collect();
                s.zone = zone;
                s.key = key;
                s.attributes = attributes;
                s.media = media;
                s
            },
        )
}

proptest! {
    #[test]
    fn print_then_parse_is_identity(s in session()) {
        let text = s.to_string();
        prop_assert_eq!(parse(&text).unwrap(), s.clone());
        // LF-only line ends parse the same.
        prop_assert_eq!(parse(text.replace("\r\n", "\n")).unwrap(), s);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        target::sdp(&data);
    }

    #[test]
    fn mutated_real_bodies_never_panic(pick in 0usize..4, cut in 0usize..400, insert in "[ -~\r\n]{0,8}") {
        let bodies = [
            include_str!("corpus/baresip-1.sdp"),
            include_str!("corpus/linphone-1.sdp"),
            include_str!("corpus/rfc3264-10.1-offer.sdp"),
            include_str!("corpus/webrtc-style-offer.sdp"),
        ];
        let body = bodies[pick];
        let at = (0..=cut.min(body.len())).rev().find(|&i| body.is_char_boundary(i)).unwrap_or(0);
        let mutated = format!("{}{}{}", &body[..at], insert, &body[at..]);
        target::sdp(mutated.as_bytes());
        let truncated = &body.as_bytes()[..at];
        target::sdp(truncated);
    }
}
