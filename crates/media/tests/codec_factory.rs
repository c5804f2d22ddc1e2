//! A codec provided by the I/O side (as Opus is, through libopus in `media-server`): the
//! session uses the factory's encoder for playback and separate decoders for the recording
//! and in-band DTMF, and counts RTP time at the codec's 48 kHz clock (RFC 7587 §4.1) while
//! its PCM stays 8 kHz. The fake codec here carries PCM as little-endian bytes, so the test
//! checks the plumbing and the clock arithmetic, not a real Opus.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{PEER, addr, drain, feed, phone_event, run_until};
use media::{
    Codec, CodecFactory, Command, Decoder, Encoder, EndpointConfig, Event, Input, Output, PlayId,
    RecordConfig, RecordStop, Session, ToneGenerator,
};
use rtp::{RtpHeader, RtpPacket};

const SSRC: u32 = 77;
const TS0: u32 = 4_000_000_000; // wraps during the test
const PT: u8 = 96;
const EVENT_PT: u8 = 110;

#[derive(Debug)]
struct Fake;
impl Encoder for Fake {
    fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) {
        out.extend(pcm.iter().flat_map(|s| s.to_le_bytes()));
    }
}
impl Decoder for Fake {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) {
        out.extend(
            payload
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]])),
        );
    }
    fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) {
        out.resize(out.len() + samples, 7);
    }
}
#[derive(Debug)]
struct Factory;
impl CodecFactory for Factory {
    fn encoder(&self, c: Codec) -> Option<Box<dyn Encoder>> {
        (c == Codec::Opus).then(|| Box::new(Fake) as Box<dyn Encoder>)
    }
    fn decoder(&self, c: Codec) -> Option<Box<dyn Decoder>> {
        (c == Codec::Opus).then(|| Box::new(Fake) as Box<dyn Decoder>)
    }
}

fn session(t0: Instant, dtmf: Option<u8>) -> Session {
    let cfg = EndpointConfig {
        payload_type: PT,
        dtmf_payload_type: dtmf,
        rtcp: false,
        ..EndpointConfig::new(addr(PEER), Codec::Opus, 42)
    };
    Session::with_codecs(t0, cfg, Arc::new(Factory))
}

/// 20 ms packets of `pcm` with 48 kHz timestamps (960 per frame), `skip` left out.
fn phone(t0: Instant, pcm: &[i16], skip: Option<usize>) -> Vec<(Instant, Vec<u8>)> {
    pcm.chunks(160)
        .enumerate()
        .filter(|(k, _)| Some(*k) != skip)
        .map(|(k, chunk)| {
            let mut payload = Vec::new();
            Fake.encode(chunk, &mut payload);
            let h = RtpHeader::new(PT, k as u16, TS0.wrapping_add(960 * k as u32), SSRC);
            let mut bytes = Vec::new();
            RtpPacket::new(h, &payload).write(&mut bytes).unwrap();
            (t0 + Duration::from_millis(20 * k as u64), bytes)
        })
        .collect()
}

fn recorded(log: &[(Instant, Output)]) -> Vec<i16> {
    log.iter()
        .filter_map(|(_, o)| match o {
            Output::Record { pcm } => Some(pcm.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn playback_is_encoded_by_the_factory_at_a_48_khz_clock() {
    let t0 = Instant::now();
    let mut s = session(t0, Some(EVENT_PT));
    let clip = ToneGenerator::new(440.0, 8000).clip(1600);
    s.handle_input(
        t0,
        Input::Command(Command::Play {
            id: PlayId(1),
            clips: vec![clip.clone()],
        }),
    );
    let mut log = Vec::new();
    drain(&mut s, t0, &mut log);
    run_until(&mut s, t0 + Duration::from_millis(500), &mut log);
    let packets: Vec<_> = log
        .iter()
        .filter_map(|(_, o)| match o {
            Output::RtpOut { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(packets.len(), 10);
    let mut pcm = Vec::new();
    let mut ts = Vec::new();
    for b in &packets {
        let p = RtpPacket::parse(b).unwrap();
        assert_eq!(p.header.payload_type, PT);
        ts.push(p.header.timestamp);
        Fake.decode(p.payload, &mut pcm);
    }
    assert!(
        ts.windows(2).all(|w| w[1].wrapping_sub(w[0]) == 960),
        "{ts:?}"
    );
    assert_eq!(&pcm[..], &clip[..]);
    // DTMF we send counts at 48 kHz too: 100 ms = 4800 units in the final packets.
    s.handle_input(
        t0 + Duration::from_millis(500),
        Input::Command(Command::SendDtmf {
            digit: '5',
            duration: Duration::from_millis(100),
        }),
    );
    let mut log = Vec::new();
    run_until(&mut s, t0 + Duration::from_secs(1), &mut log);
    let last = log
        .iter()
        .rev()
        .find_map(|(_, o)| match o {
            Output::RtpOut { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .unwrap();
    let p = RtpPacket::parse(&last).unwrap();
    assert_eq!(p.header.payload_type, EVENT_PT);
    assert_eq!(u16::from_be_bytes([p.payload[2], p.payload[3]]), 4800);
}

#[test]
fn recording_counts_48_khz_timestamps_as_8_khz_samples() {
    let t0 = Instant::now();
    let mut s = session(t0, Some(EVENT_PT));
    s.handle_input(t0, Input::Command(Command::Record(RecordConfig::default())));
    let audio = ToneGenerator::new(440.0, 8000).clip(8000).to_vec();
    // Packet 10 is lost (concealed by the decoder); `#` starts at 0.9 s (43 200 units).
    let mut packets = phone(t0, &audio, Some(10));
    let hash_ts = TS0.wrapping_add(43_200);
    let at = t0 + Duration::from_millis(950);
    let pos = packets.iter().position(|(t, _)| *t > at).unwrap();
    packets.insert(
        pos,
        (
            at,
            phone_event(SSRC, 500, hash_ts, EVENT_PT, 11, false, 960, true),
        ),
    );
    let mut log = Vec::new();
    feed(&mut s, addr(PEER), &packets, &mut log);
    run_until(&mut s, t0 + Duration::from_secs(2), &mut log);
    let pcm = recorded(&log);
    assert_eq!(pcm.len(), 7200, "0.9 s at 8 kHz, up to the # event");
    assert!(
        pcm[1600..1760].iter().all(|&x| x == 7),
        "lost frame concealed"
    );
    assert_eq!(&pcm[..1600], &audio[..1600]);
    assert_eq!(&pcm[1760..], &audio[1760..7200]);
    let finished: Vec<_> = log
        .iter()
        .filter_map(|(_, o)| match o {
            Output::Event(Event::RecordingFinished {
                samples, reason, ..
            }) => Some((*samples, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(finished, vec![(7200, RecordStop::Digit('#'))]);
}

#[test]
fn in_band_dtmf_uses_its_own_decoder() {
    let t0 = Instant::now();
    let mut s = session(t0, None);
    let mut audio = ToneGenerator::new(440.0, 8000).clip(1600).to_vec();
    audio.extend_from_slice(&ToneGenerator::dual(770.0, 1336.0, 12000).clip(1600));
    let packets = phone(t0, &audio, None);
    let mut log = Vec::new();
    feed(&mut s, addr(PEER), &packets, &mut log);
    let digits: Vec<_> = log
        .iter()
        .filter_map(|(_, o)| match o {
            Output::Event(Event::Dtmf { digit }) => Some(*digit),
            _ => None,
        })
        .collect();
    assert_eq!(digits, vec!['5']);
}
