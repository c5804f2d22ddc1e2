//! Recording over a simulated network: a known tone survives reordering, jitter and 5 % loss
//! (lost frames become silence, the timeline is kept); `#` ends the recording and its tone is
//! cut; hang-up keeps everything said; the maximum duration holds.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::time::{Duration, Instant};

use common::{
    PEER, addr, drain, events, feed, phone_audio, phone_event, recorded, run_until,
    zero_crossing_freq,
};
use media::{
    Codec, Command, EndpointConfig, Event, Input, RecordConfig, RecordStop, Session, ToneGenerator,
    goertzel,
};

const SSRC: u32 = 0x0bad_cafe;
const TS0: u32 = 4_294_960_000; // wraps during the test

fn session(t0: Instant, cfg: RecordConfig) -> Session {
    let mut s = Session::new(t0, EndpointConfig::new(addr(PEER), Codec::Pcma, 42));
    s.handle_input(t0, Input::Command(Command::Record(cfg)));
    s
}

fn finished(log: &[(Instant, media::Output)]) -> Vec<(u64, RecordStop)> {
    events(log)
        .into_iter()
        .filter_map(|(_, e)| match e {
            Event::RecordingFinished {
                samples,
                reason,
                duration,
            } => {
                assert_eq!(duration, Duration::from_millis(samples / 8));
                Some((samples, reason))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_tone_survives_reordering_jitter_and_five_percent_loss() {
    let t0 = Instant::now();
    let mut s = session(t0, RecordConfig::default());
    let tone = ToneGenerator::new(440.0, 8000).clip(16_000);
    let mut packets = phone_audio(
        t0 + Duration::from_millis(100),
        SSRC,
        65_500,
        TS0,
        Codec::Pcma,
        &tone,
    );
    for (k, p) in packets.iter_mut().enumerate() {
        p.0 += Duration::from_millis((k as u64 * 7) % 15); // jitter 0–14 ms
    }
    for k in (3..98).step_by(10) {
        let later = packets[k + 1].0;
        packets.swap(k, k + 1); // k+1 arrives before k
        packets[k].0 = later;
        packets[k + 1].0 = later;
    }
    let lost: Vec<usize> = (10..100).step_by(20).collect(); // 5 of 100
    let arriving: Vec<_> = packets
        .iter()
        .enumerate()
        .filter(|(k, _)| !lost.contains(k))
        .map(|(_, p)| p.clone())
        .collect();
    let mut log = Vec::new();
    feed(&mut s, addr(PEER), &arriving, &mut log);
    let end = t0 + Duration::from_secs(3);
    run_until(&mut s, end, &mut log);
    s.handle_input(end, Input::Command(Command::Hangup));
    drain(&mut s, end, &mut log);

    let pcm = recorded(&log);
    assert_eq!(pcm.len(), 16_000, "every frame, lost ones as silence");
    assert_eq!(finished(&log), vec![(16_000, RecordStop::Hangup)]);
    let silent: Vec<usize> = pcm
        .chunks(160)
        .enumerate()
        .filter(|(_, f)| f.iter().all(|x| x.abs() < 50))
        .map(|(k, _)| k)
        .collect();
    assert_eq!(silent, lost, "silence exactly where packets were lost");
    for (k, frame) in pcm.chunks(800).enumerate() {
        let f = zero_crossing_freq(frame);
        if !lost.iter().any(|l| l * 160 / 800 == k) {
            assert!((f - 440.0).abs() < 10.0, "block {k}: {f} Hz");
        }
    }
    assert!(goertzel(&pcm, 440.0) > 100.0 * goertzel(&pcm, 1000.0));
}

#[test]
fn hash_ends_the_recording_and_its_tone_is_cut() {
    let t0 = Instant::now();
    let mut s = session(t0, RecordConfig::default());
    let mut audio = ToneGenerator::new(440.0, 8000).clip(8000).to_vec();
    // The phone keeps sending audio while the key is down (the tone leaks in band).
    audio.extend_from_slice(&ToneGenerator::dual(941.0, 1477.0, 12000).clip(1600));
    let mut packets = phone_audio(t0, SSRC, 1, TS0, Codec::Pcma, &audio);
    let hash_ts = TS0.wrapping_add(8000);
    let at = t0 + Duration::from_millis(1000);
    packets.insert(
        51,
        (
            at,
            phone_event(SSRC, 500, hash_ts, 101, 11, false, 160, true),
        ),
    );
    let mut log = Vec::new();
    feed(&mut s, addr(PEER), &packets, &mut log);
    run_until(&mut s, t0 + Duration::from_secs(2), &mut log);

    let pcm = recorded(&log);
    assert_eq!(pcm.len(), 8000, "audio up to the start of the # event");
    assert!(goertzel(&pcm, 941.0) * 100.0 < goertzel(&pcm, 440.0));
    assert_eq!(finished(&log), vec![(8000, RecordStop::Digit('#'))]);
    let digits: Vec<_> = events(&log)
        .into_iter()
        .filter(|(_, e)| matches!(e, Event::Dtmf { .. }))
        .collect();
    assert_eq!(digits, vec![(at, Event::Dtmf { digit: '#' })]);
}

#[test]
fn in_band_hash_also_ends_the_recording_without_its_tone() {
    let t0 = Instant::now();
    let cfg = EndpointConfig {
        dtmf_payload_type: None,
        ..EndpointConfig::new(addr(PEER), Codec::Pcma, 42)
    };
    let mut s = Session::new(t0, cfg);
    s.handle_input(t0, Input::Command(Command::Record(RecordConfig::default())));
    let mut audio = ToneGenerator::new(440.0, 8000).clip(8000).to_vec();
    audio.extend_from_slice(&ToneGenerator::dual(941.0, 1477.0, 12000).clip(1600));
    let packets = phone_audio(t0, SSRC, 1, TS0, Codec::Pcma, &audio);
    let mut log = Vec::new();
    feed(&mut s, addr(PEER), &packets, &mut log);
    run_until(&mut s, t0 + Duration::from_secs(2), &mut log);
    assert_eq!(recorded(&log).len(), 8000, "cut where the tone began");
    assert_eq!(finished(&log), vec![(8000, RecordStop::Digit('#'))]);
}

#[test]
fn hang_up_keeps_what_was_said() {
    let t0 = Instant::now();
    let mut s = session(t0, RecordConfig::default());
    let audio = ToneGenerator::new(440.0, 8000).clip(12_000);
    let packets = phone_audio(t0, SSRC, 1, TS0, Codec::Pcma, &audio);
    let mut log = Vec::new();
    feed(&mut s, addr(PEER), &packets, &mut log);
    let bye = packets.last().unwrap().0 + Duration::from_millis(5);
    s.handle_input(bye, Input::Command(Command::Hangup));
    drain(&mut s, bye, &mut log);
    assert_eq!(
        recorded(&log).len(),
        12_000,
        "the frames still in the jitter buffer are kept"
    );
    assert_eq!(finished(&log), vec![(12_000, RecordStop::Hangup)]);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn the_maximum_duration_holds() {
    let t0 = Instant::now();
    let cfg = RecordConfig {
        max: Duration::from_secs(1),
        ..RecordConfig::default()
    };
    let mut s = session(t0, cfg);
    let audio = ToneGenerator::new(440.0, 8000).clip(16_000);
    let packets = phone_audio(t0, SSRC, 1, TS0, Codec::Pcma, &audio);
    let mut log = Vec::new();
    feed(&mut s, addr(PEER), &packets, &mut log);
    run_until(&mut s, t0 + Duration::from_secs(3), &mut log);
    assert_eq!(recorded(&log).len(), 8000);
    assert_eq!(finished(&log), vec![(8000, RecordStop::MaxDuration)]);
}

#[test]
fn a_silent_caller_still_ends_at_the_maximum() {
    let t0 = Instant::now();
    let cfg = RecordConfig {
        max: Duration::from_secs(2),
        ..RecordConfig::default()
    };
    let mut s = session(t0, cfg);
    let mut log = Vec::new();
    run_until(&mut s, t0 + Duration::from_secs(5), &mut log);
    // At the maximum plus the jitter buffer delay (200 ms) and one tick.
    let ends: Vec<_> = events(&log).into_iter().map(|(t, _)| t).collect();
    assert_eq!(ends.len(), 1);
    assert!(ends[0] >= t0 + Duration::from_secs(2) && ends[0] <= t0 + Duration::from_millis(2250));
    assert_eq!(finished(&log), vec![(0, RecordStop::MaxDuration)]);
}

#[test]
fn media_from_another_source_is_not_recorded() {
    let t0 = Instant::now();
    let mut s = session(t0, RecordConfig::default());
    let audio = ToneGenerator::new(440.0, 8000).clip(8000);
    let packets = phone_audio(t0, SSRC, 1, TS0, Codec::Pcma, &audio);
    let mut log = Vec::new();
    let intruder = addr("203.0.113.66:40000");
    feed(&mut s, intruder, &packets, &mut log);
    run_until(&mut s, t0 + Duration::from_secs(2), &mut log);
    s.handle_input(
        t0 + Duration::from_secs(2),
        Input::Command(Command::StopRecording),
    );
    drain(&mut s, t0 + Duration::from_secs(2), &mut log);
    assert!(recorded(&log).is_empty());
    assert_eq!(finished(&log), vec![(0, RecordStop::Command)]);
    let rejected: Vec<_> = events(&log)
        .into_iter()
        .filter(|(_, e)| matches!(e, Event::SourceRejected { .. }))
        .collect();
    assert_eq!(
        rejected,
        vec![(t0, Event::SourceRejected { from: intruder })],
        "reported once, not per packet"
    );
    assert_eq!(s.endpoint().stats().dropped, 50);
}
