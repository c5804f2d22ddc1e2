//! DTMF collection (RFC 4733 §2.5: one event = one timestamp; redundant updates and three end
//! packets; the start packet may be lost) and in-band detection when no telephone-event was
//! negotiated.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::time::{Duration, Instant};

use common::{PEER, addr, drain, events, feed, phone_audio, phone_event};
use media::{Codec, EndpointConfig, Event, Input, Session, ToneGenerator};

fn digits(log: &[(Instant, media::Output)]) -> String {
    events(log)
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::Dtmf { digit } => Some(digit),
            _ => None,
        })
        .collect()
}

#[test]
fn one_digit_despite_three_end_packets_and_a_lost_start() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, EndpointConfig::new(addr(PEER), Codec::Pcmu, 1));
    let mut log = Vec::new();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    // Event '5' at ts 8000: start packet (marker, seq 10) lost.
    let first = [
        (ms(20), phone_event(9, 11, 8000, 101, 5, false, 320, false)),
        (ms(40), phone_event(9, 12, 8000, 101, 5, false, 480, false)),
        (ms(60), phone_event(9, 13, 8000, 101, 5, true, 640, false)),
        (ms(80), phone_event(9, 14, 8000, 101, 5, true, 640, false)),
        (ms(100), phone_event(9, 15, 8000, 101, 5, true, 640, false)),
    ];
    feed(&mut s, addr(PEER), &first, &mut log);
    assert_eq!(digits(&log), "5");
    // The same key again is a new event (new timestamp), reported again; a duplicate of the
    // old end packet arriving late is not.
    let second = [
        (
            ms(300),
            phone_event(9, 16, 10_000, 101, 5, false, 160, true),
        ),
        (ms(310), phone_event(9, 15, 8000, 101, 5, true, 640, false)),
        (
            ms(320),
            phone_event(9, 17, 10_000, 101, 5, true, 320, false),
        ),
        (
            ms(340),
            phone_event(9, 18, 10_000, 101, 5, true, 320, false),
        ),
        (
            ms(360),
            phone_event(9, 19, 10_000, 101, 5, true, 320, false),
        ),
        (
            ms(400),
            phone_event(9, 20, 12_000, 101, 11, false, 160, true),
        ),
    ];
    feed(&mut s, addr(PEER), &second, &mut log);
    assert_eq!(digits(&log), "55#");
}

#[test]
fn events_from_another_source_are_ignored() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, EndpointConfig::new(addr(PEER), Codec::Pcmu, 1));
    let mut log = Vec::new();
    let bytes = phone_event(9, 1, 800, 101, 1, false, 160, true);
    s.handle_input(
        t0,
        Input::RtpIn {
            from: addr("203.0.113.5:40000"),
            bytes: &bytes,
        },
    );
    drain(&mut s, t0, &mut log);
    assert_eq!(digits(&log), "");
}

#[test]
fn in_band_tones_when_no_telephone_event_was_negotiated() {
    let t0 = Instant::now();
    let cfg = EndpointConfig {
        dtmf_payload_type: None,
        ..EndpointConfig::new(addr(PEER), Codec::Pcmu, 1)
    };
    let mut s = Session::new(t0, cfg);
    let mut audio = Vec::new();
    for (low, high) in [(770.0, 1336.0), (941.0, 1477.0)] {
        audio.extend_from_slice(&ToneGenerator::dual(low, high, 12000).clip(800));
        audio.extend_from_slice(&[0i16; 800]);
    }
    audio.extend_from_slice(&ToneGenerator::new(440.0, 12000).clip(1600));
    let packets = phone_audio(t0, 3, 1, 0, Codec::Pcmu, &audio);
    let mut log = Vec::new();
    feed(&mut s, addr(PEER), &packets, &mut log);
    assert_eq!(digits(&log), "5#");
}

#[test]
fn sent_digits_are_rfc4733_sequences_a_detector_reads_once_each() {
    let t0 = Instant::now();
    let mut s = Session::new(t0, EndpointConfig::new(addr(PEER), Codec::Pcmu, 1));
    let mut log = Vec::new();
    for digit in ['4', '2', 'x'] {
        let cmd = media::Command::SendDtmf {
            digit,
            duration: Duration::from_millis(100),
        };
        s.handle_input(t0, Input::Command(cmd));
    }
    drain(&mut s, t0, &mut log);
    common::run_until(&mut s, t0 + Duration::from_secs(2), &mut log);
    let mut detector = rtp::DtmfDetector::new();
    let mut got = String::new();
    let mut per_event: std::collections::BTreeMap<u32, usize> = Default::default();
    let mut seqs = Vec::new();
    for (_, o) in &log {
        if let media::Output::RtpOut { bytes, .. } = o {
            let p = rtp::RtpPacket::parse(bytes).unwrap();
            assert_eq!(p.header.payload_type, 101);
            seqs.push(p.header.sequence);
            *per_event.entry(p.header.timestamp).or_default() += 1;
            if let Some(d) = detector.on_packet(p.header.timestamp, p.payload) {
                got.push(d.digit);
            }
        }
    }
    assert_eq!(got, "42", "the invalid 'x' is ignored");
    assert_eq!(per_event.len(), 2, "one timestamp per event");
    assert!(
        per_event.values().all(|&n| n == 4 + 3),
        "updates every 20 ms then three end packets: {per_event:?}"
    );
    assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
}
