//! DTMF digits from a call leg: RFC 4733 telephone-events (through `rtp`'s detector, which
//! reports each event once however many redundant update and end packets arrive, and also
//! when the start packet was lost), and optionally in-band tones found with the Goertzel
//! algorithm on decoded audio (ITU-T Q.23 frequencies; for peers that negotiated no
//! telephone-event).
//!
//! In-band rules: per 20 ms frame, the strongest row and column frequencies must each carry
//! a clear share of the frame's energy and beat the other frequencies of their group by 6 dB;
//! a digit is reported after two consecutive frames agree (≥ 40 ms, Q.24 asks for ≥ 40 ms),
//! and not again until a frame without it.
//!
//! Sending: [`DtmfQueue`] schedules the RFC 4733 §2.5.1 packet sequences of `rtp`'s sender
//! (one timestamp per event, updates every 20 ms, three end packets), digits back to back
//! with a 60 ms pause.
//!
//! Does not: detect tones other than DTMF (fax CNG, busy), or tell talk-off from real tones
//! beyond those checks.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rtp::{DtmfDetector, DtmfFrame, DtmfSender, RtpPacket};

use crate::tone::goertzel;

const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// A digit and the RTP timestamp where it started (for trimming a recording at `#`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digit {
    /// `0`–`9`, `*`, `#`, `A`–`D`.
    pub digit: char,
    /// RTP timestamp of the event's start (RFC 4733 §2.3.4), or of the frame for in-band.
    pub timestamp: u32,
}

/// Collects digits; see the module doc.
#[derive(Debug, Clone)]
pub struct DtmfCollector {
    events: DtmfDetector,
    inband: Option<Inband>,
}

#[derive(Debug, Clone, Default)]
struct Inband {
    /// A key seen in the previous frame, and the timestamp where it began.
    candidate: Option<(char, u32)>,
    reported: Option<char>,
}

impl DtmfCollector {
    /// A collector; `inband` also scans decoded audio for tones.
    pub fn new(inband: bool) -> Self {
        DtmfCollector {
            events: DtmfDetector::new(),
            inband: inband.then(Inband::default),
        }
    }

    /// Feeds a telephone-event packet; the digit the first time its event is seen.
    pub fn on_event(&mut self, packet: &RtpPacket<'_>) -> Option<Digit> {
        let ts = packet.header.timestamp;
        let d = self.events.on_packet(ts, packet.payload)?;
        Some(Digit {
            digit: d.digit,
            timestamp: d.timestamp,
        })
    }

    /// Feeds one frame of decoded audio whose first sample has RTP timestamp `ts` (in-band
    /// detection; does nothing unless enabled). The digit's timestamp is where its tone began.
    pub fn on_pcm(&mut self, ts: u32, pcm: &[i16]) -> Option<Digit> {
        let inband = self.inband.as_mut()?;
        let key = detect(pcm);
        let Some(digit) = key else {
            inband.candidate = None;
            inband.reported = None;
            return None;
        };
        match inband.candidate {
            Some((c, start)) if c == digit => {
                if inband.reported == key {
                    return None;
                }
                inband.reported = key;
                Some(Digit {
                    digit,
                    timestamp: start,
                })
            }
            _ => {
                inband.candidate = Some((digit, ts));
                None
            }
        }
    }
}

/// Pause between two digits we send.
const INTER_DIGIT: Duration = Duration::from_millis(60);

/// RFC 4733 packets waiting for their time; see the module doc.
#[derive(Debug, Default)]
pub(crate) struct DtmfQueue {
    frames: VecDeque<(Instant, DtmfFrame)>,
    free_at: Option<Instant>,
}

impl DtmfQueue {
    /// Queues `digit` for `duration`, starting at `now` or after the digits already queued;
    /// `ts_at` gives the RTP timestamp of the start instant, counting at `clock_rate` (the
    /// codec's: 48000 with Opus, RFC 4733 §2.1). False for a non-DTMF character.
    pub(crate) fn push(
        &mut self,
        now: Instant,
        digit: char,
        duration: Duration,
        clock_rate: u32,
        ts_at: impl Fn(Instant) -> u32,
    ) -> bool {
        let start = self.free_at.map_or(now, |t| t.max(now));
        let sender = DtmfSender {
            clock_rate,
            ..DtmfSender::default()
        };
        let Ok(frames) = sender.frames(digit, ts_at(start), duration) else {
            return false;
        };
        let last = frames.last().map_or(Duration::ZERO, |f| f.offset);
        self.frames
            .extend(frames.into_iter().map(|f| (start + f.offset, f)));
        self.free_at = Some(start + last + INTER_DIGIT);
        true
    }

    /// When the next packet is due.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        self.frames.front().map(|(t, _)| *t)
    }

    /// The next packet due at `now`.
    pub(crate) fn pop(&mut self, now: Instant) -> Option<DtmfFrame> {
        if self.poll_timeout()? > now {
            return None;
        }
        self.frames.pop_front().map(|(_, f)| f)
    }
}

/// The DTMF key present in `pcm`, if any (see the module doc).
fn detect(pcm: &[i16]) -> Option<char> {
    if pcm.len() < 100 {
        return None;
    }
    let energy: f64 = pcm
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / (pcm.len() as f64);
    // About -40 dBm0: quieter frames are silence or noise.
    if energy < 100_000.0 {
        return None;
    }
    let (row, row_power, row_second) = strongest(pcm, &ROWS);
    let (col, col_power, col_second) = strongest(pcm, &COLS);
    // A pure sine of amplitude A has mean energy A²/2 and Goertzel power ≈ A²/4.
    let share = (row_power + col_power) * 2.0 / energy;
    if share < 0.6 || row_power < 4.0 * row_second || col_power < 4.0 * col_second {
        return None;
    }
    // Twist: the two tones within 8 dB of each other (Q.24 allows 8/4 dB).
    let twist = row_power / col_power;
    if !(0.16..=6.3).contains(&twist) {
        return None;
    }
    KEYS.get(row).and_then(|r| r.get(col)).copied()
}

/// Index, power and runner-up power of the strongest frequency in `freqs`.
fn strongest(pcm: &[i16], freqs: &[f64; 4]) -> (usize, f64, f64) {
    let mut best = (0, 0.0, 0.0);
    for (i, &f) in freqs.iter().enumerate() {
        let p = goertzel(pcm, f);
        if p > best.1 {
            best = (i, p, best.1);
        } else if p > best.2 {
            best.2 = p;
        }
    }
    best
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::tone::ToneGenerator;

    fn frames_of(digit_freqs: (f64, f64), frames: usize) -> Vec<Vec<i16>> {
        let mut g = ToneGenerator::dual(digit_freqs.0, digit_freqs.1, 12000);
        (0..frames).map(|_| g.clip(160).to_vec()).collect()
    }

    #[test]
    fn every_key_is_detected_in_band() {
        for (r, row) in ROWS.iter().enumerate() {
            for (c, col) in COLS.iter().enumerate() {
                let frame = frames_of((*row, *col), 1).remove(0);
                assert_eq!(detect(&frame), Some(KEYS[r][c]), "{row}+{col}");
            }
        }
    }

    #[test]
    fn speech_like_single_tone_and_silence_are_not_digits() {
        assert_eq!(detect(&ToneGenerator::new(697.0, 12000).clip(160)), None);
        assert_eq!(detect(&ToneGenerator::new(1000.0, 12000).clip(160)), None);
        assert_eq!(detect(&[0; 160]), None);
    }

    #[test]
    fn in_band_digit_is_reported_once_per_press() {
        let mut c = DtmfCollector::new(true);
        let mut got = Vec::new();
        let press = frames_of((941.0, 1477.0), 5);
        let quiet = vec![vec![0i16; 160]; 3];
        for (i, f) in press.iter().chain(&quiet).chain(&press).enumerate() {
            if let Some(d) = c.on_pcm(i as u32 * 160, f) {
                got.push(d.digit);
            }
        }
        assert_eq!(got, vec!['#', '#']);
    }

    #[test]
    fn in_band_is_off_unless_asked() {
        let mut c = DtmfCollector::new(false);
        for f in frames_of((697.0, 1209.0), 4) {
            assert_eq!(c.on_pcm(0, &f), None);
        }
    }
}
