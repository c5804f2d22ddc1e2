//! Playback over a simulated clock: pacing (50 packets/s), RTP sequence/timestamp/marker
//! rules (RFC 3550 §5.1, RFC 3551 §4.1), end-of-playback timing, replacement, RTCP.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::time::{Duration, Instant};

use common::{PEER, addr, drain, events, run_until};
use media::{
    Codec, Command, EndpointConfig, Event, Input, Output, PlayId, Session, ToneGenerator, goertzel,
};
use rtp::RtpPacket;

fn session(t0: Instant) -> (Session, EndpointConfig) {
    let mut cfg = EndpointConfig::new(addr(PEER), Codec::Pcmu, 0xdead_beef);
    cfg.initial_seq = 65_530; // wraps during the test
    cfg.initial_ts = 4_294_967_000;
    (Session::new(t0, cfg.clone()), cfg)
}

fn sent(log: &[(Instant, Output)]) -> Vec<(Instant, Vec<u8>)> {
    log.iter()
        .filter_map(|(t, o)| match o {
            Output::RtpOut { to, bytes } => {
                assert_eq!(*to, addr(PEER));
                Some((*t, bytes.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn one_second_is_fifty_paced_packets_then_playback_done() {
    let t0 = Instant::now();
    let (mut s, cfg) = session(t0);
    let tone = ToneGenerator::new(440.0, 8000).clip(8000);
    let mut log = Vec::new();
    s.handle_input(
        t0,
        Input::Command(Command::Play {
            id: PlayId(3),
            clips: vec![tone],
        }),
    );
    drain(&mut s, t0, &mut log);
    run_until(&mut s, t0 + Duration::from_secs(3), &mut log);

    let packets = sent(&log);
    assert_eq!(packets.len(), 50);
    let mut pcm = Vec::new();
    for (k, (at, bytes)) in packets.iter().enumerate() {
        assert_eq!(
            *at,
            t0 + Duration::from_millis(20 * k as u64),
            "packet {k} paced"
        );
        let p = RtpPacket::parse(bytes).unwrap();
        assert_eq!(p.header.sequence, cfg.initial_seq.wrapping_add(k as u16));
        assert_eq!(
            p.header.timestamp,
            cfg.initial_ts.wrapping_add(160 * k as u32)
        );
        assert_eq!(p.header.ssrc, 0xdead_beef);
        assert_eq!(p.header.payload_type, 0);
        assert_eq!(p.header.marker, k == 0, "marker only on the first packet");
        assert_eq!(p.payload.len(), 160);
        Codec::Pcmu.decode(p.payload, &mut pcm);
    }
    assert!(goertzel(&pcm, 440.0) > 100.0 * goertzel(&pcm, 1000.0));

    let done: Vec<_> = events(&log)
        .into_iter()
        .filter(|(_, e)| matches!(e, Event::PlaybackDone { .. }))
        .collect();
    assert_eq!(
        done,
        vec![(
            t0 + Duration::from_secs(1),
            Event::PlaybackDone { id: PlayId(3) }
        )]
    );
}

#[test]
fn a_sequence_of_clips_plays_seamlessly() {
    let t0 = Instant::now();
    let (mut s, _) = session(t0);
    let a: media::Clip = vec![1000i16; 1000].into();
    let b: media::Clip = vec![-1000i16; 1000].into();
    let mut log = Vec::new();
    s.handle_input(
        t0,
        Input::Command(Command::Play {
            id: PlayId(1),
            clips: vec![a, b.clone(), b],
        }),
    );
    run_until(&mut s, t0 + Duration::from_secs(1), &mut log);
    let packets = sent(&log);
    assert_eq!(packets.len(), 19); // 3000 samples = 18.75 frames
    let mut pcm = Vec::new();
    for (_, bytes) in &packets {
        Codec::Pcmu.decode(RtpPacket::parse(bytes).unwrap().payload, &mut pcm);
    }
    assert!(pcm[..1000].iter().all(|&x| x > 900));
    assert!(pcm[1000..3000].iter().all(|&x| x < -900));
    assert!(
        pcm[3000..].iter().all(|&x| x.abs() < 10),
        "padding is silence"
    );
    let done = events(&log);
    assert_eq!(
        done,
        vec![(
            t0 + Duration::from_millis(380),
            Event::PlaybackDone { id: PlayId(1) }
        )]
    );
}

#[test]
fn replacing_and_stopping_report_the_old_playback() {
    let t0 = Instant::now();
    let (mut s, _) = session(t0);
    let clip = ToneGenerator::new(440.0, 8000).clip(8000);
    let mut log = Vec::new();
    s.handle_input(
        t0,
        Input::Command(Command::Play {
            id: PlayId(1),
            clips: vec![clip.clone()],
        }),
    );
    run_until(&mut s, t0 + Duration::from_millis(200), &mut log);
    let t1 = t0 + Duration::from_millis(210);
    s.handle_input(
        t1,
        Input::Command(Command::Play {
            id: PlayId(2),
            clips: vec![clip],
        }),
    );
    drain(&mut s, t1, &mut log);
    let t2 = t0 + Duration::from_millis(300);
    run_until(&mut s, t2, &mut log);
    s.handle_input(t2, Input::Command(Command::StopPlayback));
    drain(&mut s, t2, &mut log);
    run_until(&mut s, t0 + Duration::from_secs(2), &mut log);
    assert_eq!(
        events(&log),
        vec![
            (t1, Event::PlaybackStopped { id: PlayId(1) }),
            (t2, Event::PlaybackStopped { id: PlayId(2) })
        ]
    );
    let packets = sent(&log);
    // 11 frames of the first (0..=200 ms), then 5 of the second (210..=290 ms).
    assert_eq!(packets.len(), 16);
    let seqs: Vec<u16> = packets
        .iter()
        .map(|(_, b)| RtpPacket::parse(b).unwrap().header.sequence)
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
        "sequence numbers stay consecutive"
    );
    let second = RtpPacket::parse(&packets[11].1).unwrap();
    assert!(second.header.marker, "a new playback starts a talkspurt");
    let first = RtpPacket::parse(&packets[0].1).unwrap();
    assert_eq!(
        second.header.timestamp.wrapping_sub(first.header.timestamp),
        210 * 8,
        "timestamps follow the clock"
    );
}

#[test]
fn rtcp_sender_report_every_five_seconds() {
    let t0 = Instant::now();
    let (mut s, _) = session(t0);
    let mut log = Vec::new();
    let clip = ToneGenerator::new(440.0, 8000).clip(8000 * 4);
    s.handle_input(
        t0,
        Input::Command(Command::Play {
            id: PlayId(1),
            clips: vec![clip],
        }),
    );
    run_until(&mut s, t0 + Duration::from_secs(11), &mut log);
    let reports: Vec<_> = log
        .iter()
        .filter_map(|(t, o)| match o {
            Output::RtcpOut { to, bytes } => Some((*t, *to, bytes[1])),
            _ => None,
        })
        .collect();
    let rtcp = addr("192.0.2.10:40001");
    assert_eq!(
        reports,
        vec![
            (t0 + Duration::from_secs(5), rtcp, 200),
            (t0 + Duration::from_secs(10), rtcp, 201)
        ],
        "SR while sending, RR after"
    );
}

#[test]
fn hangup_stops_everything_and_goes_quiet() {
    let t0 = Instant::now();
    let (mut s, _) = session(t0);
    let mut log = Vec::new();
    s.handle_input(
        t0,
        Input::Command(Command::Play {
            id: PlayId(9),
            clips: vec![vec![5i16; 8000].into()],
        }),
    );
    s.handle_input(t0, Input::Command(Command::Hangup));
    drain(&mut s, t0, &mut log);
    assert_eq!(s.poll_timeout(), None);
    assert!(s.is_closed());
    assert_eq!(
        events(&log),
        vec![(t0, Event::PlaybackStopped { id: PlayId(9) })]
    );
}

#[test]
fn media_follows_a_latched_nat_address() {
    let t0 = Instant::now();
    let mut cfg = EndpointConfig::new(addr(PEER), Codec::Pcmu, 5);
    cfg.latching = media::Latching::SameIp {
        window: Duration::from_secs(2),
    };
    let mut s = Session::new(t0, cfg);
    let natted = addr("192.0.2.10:61234");
    let bytes = common::phone_audio(t0, 9, 1, 0, Codec::Pcmu, &[0; 160])
        .remove(0)
        .1;
    let mut log = Vec::new();
    s.handle_input(
        t0,
        Input::RtpIn {
            from: natted,
            bytes: &bytes,
        },
    );
    s.handle_input(
        t0,
        Input::Command(Command::Play {
            id: PlayId(1),
            clips: vec![vec![0i16; 160].into()],
        }),
    );
    drain(&mut s, t0, &mut log);
    assert!(
        matches!(&log[0].1, Output::RtpOut { to, .. } if *to == natted),
        "{log:?}"
    );
    assert_eq!(s.endpoint().peer(), natted);
    assert!(events(&log).is_empty(), "latching is not a rejection");
}

#[test]
fn frames_the_driver_was_too_late_for_are_skipped_not_burst() {
    let t0 = Instant::now();
    let (mut s, cfg) = session(t0);
    let mut log = Vec::new();
    s.handle_input(
        t0,
        Input::Command(Command::Play {
            id: PlayId(1),
            clips: vec![vec![0i16; 8000].into()],
        }),
    );
    drain(&mut s, t0, &mut log);
    // The driver stalls for 600 ms, then resumes.
    let late = t0 + Duration::from_millis(600);
    s.handle_input(late, Input::Tick);
    drain(&mut s, late, &mut log);
    run_until(&mut s, t0 + Duration::from_secs(2), &mut log);
    let packets = sent(&log);
    let at_resume = packets.iter().filter(|(t, _)| *t == late).count();
    assert_eq!(
        at_resume, 11,
        "only frames due in the last 200 ms (400..=600 ms) go out at once"
    );
    assert_eq!(
        packets.len(),
        50 - 19,
        "frames 1..=19 (20..=380 ms) were skipped"
    );
    let last = RtpPacket::parse(&packets.last().unwrap().1).unwrap();
    assert_eq!(
        last.header.timestamp,
        cfg.initial_ts.wrapping_add(49 * 160),
        "timestamps stay on the clock"
    );
    assert!(events(&log).contains(&(
        t0 + Duration::from_secs(1),
        Event::PlaybackDone { id: PlayId(1) }
    )));
}
