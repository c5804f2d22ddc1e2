//! Simulated-time helpers shared by the media tests: a driver that runs a [`Session`] from
//! timeout to timeout, and a "phone" that turns PCM into the RTP packets a peer would send.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::too_many_arguments
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media::{Codec, Input, Output, Session};
use rtp::{RtpHeader, RtpPacket, TelephoneEvent};

pub const PEER: &str = "192.0.2.10:40000";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Drains every output, stamping it with `now`.
pub fn drain(s: &mut Session, now: Instant, log: &mut Vec<(Instant, Output)>) {
    while let Some(o) = s.poll_output() {
        log.push((now, o));
    }
}

/// Runs the session from its timeouts until `end`, collecting outputs.
pub fn run_until(s: &mut Session, end: Instant, log: &mut Vec<(Instant, Output)>) {
    while let Some(t) = s.poll_timeout() {
        if t > end {
            break;
        }
        s.handle_input(t, Input::Tick);
        drain(s, t, log);
    }
}

/// Feeds `packets` (arrival time, bytes) from `from`, running timeouts in between.
pub fn feed(
    s: &mut Session,
    from: SocketAddr,
    packets: &[(Instant, Vec<u8>)],
    log: &mut Vec<(Instant, Output)>,
) {
    for (at, bytes) in packets {
        run_until(s, *at, log);
        s.handle_input(*at, Input::RtpIn { from, bytes });
        drain(s, *at, log);
    }
}

/// The RTP packets (one per 20 ms frame) a phone sends for `pcm`: sequence numbers from
/// `seq0`, timestamps from `ts0`, marker on the first; each with its nominal send time.
pub fn phone_audio(
    start: Instant,
    ssrc: u32,
    seq0: u16,
    ts0: u32,
    codec: Codec,
    pcm: &[i16],
) -> Vec<(Instant, Vec<u8>)> {
    pcm.chunks(160)
        .enumerate()
        .map(|(k, chunk)| {
            let mut payload = Vec::new();
            codec.encode(chunk, &mut payload);
            let mut h = RtpHeader::new(
                codec.static_payload_type(),
                seq0.wrapping_add(k as u16),
                ts0.wrapping_add(160 * k as u32),
                ssrc,
            );
            h.marker = k == 0;
            let mut bytes = Vec::new();
            RtpPacket::new(h, &payload).write(&mut bytes).unwrap();
            (start + Duration::from_millis(20 * k as u64), bytes)
        })
        .collect()
}

/// One RFC 4733 packet for `event` at event timestamp `ts`.
pub fn phone_event(
    ssrc: u32,
    seq: u16,
    ts: u32,
    pt: u8,
    event: u8,
    end: bool,
    duration: u16,
    marker: bool,
) -> Vec<u8> {
    let payload = TelephoneEvent {
        event,
        end,
        volume: 10,
        duration,
    }
    .to_bytes();
    let mut h = RtpHeader::new(pt, seq, ts, ssrc);
    h.marker = marker;
    let mut bytes = Vec::new();
    RtpPacket::new(h, &payload).write(&mut bytes).unwrap();
    bytes
}

/// PCM of every `Output::Record` chunk, concatenated.
pub fn recorded(log: &[(Instant, Output)]) -> Vec<i16> {
    log.iter()
        .filter_map(|(_, o)| match o {
            Output::Record { pcm } => Some(pcm.as_slice()),
            _ => None,
        })
        .flatten()
        .copied()
        .collect()
}

/// Every event with its time.
pub fn events(log: &[(Instant, Output)]) -> Vec<(Instant, media::Event)> {
    log.iter()
        .filter_map(|(t, o)| match o {
            Output::Event(e) => Some((*t, *e)),
            _ => None,
        })
        .collect()
}

/// Frequency estimated from zero crossings (rising and falling) over `pcm`.
pub fn zero_crossing_freq(pcm: &[i16]) -> f64 {
    let crossings = pcm.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f64 / 2.0 / (pcm.len() as f64 / 8000.0)
}
