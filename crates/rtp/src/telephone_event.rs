//! RFC 4733 telephone-events: the 4-byte event payload (§2.3), a sender that turns a digit
//! into the packet sequence of §2.5.1 (marker on the first packet, updates every
//! packetization interval, three end packets, one timestamp throughout), and a detector that
//! reports each received event exactly once. Tones (RFC 4733 §3 tone payload) and in-band
//! DTMF detection (Goertzel) are not here.

use std::time::Duration;

use crate::RtpError;
use crate::packet::{RtpHeader, RtpPacket};

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TelephoneEvent {
    /// Event code: 0–9, 10 = `*`, 11 = `#`, 12–15 = A–D (§3.2).
    pub event: u8,
    /// E bit: this packet ends the event.
    pub end: bool,
    /// Power level in −dBm0, 0–63.
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first four bytes of `payload` (a payload may carry redundant events after
    /// them, which are ignored).
    pub fn parse(payload: &[u8]) -> Result<Self, RtpError> {
        let [event, flags, d0, d1] = *payload
            .first_chunk::<4>()
            .ok_or(RtpError::Truncated("telephone-event"))?;
        Ok(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The 4-byte payload; the reserved bit is zero and volume is masked to 6 bits.
    pub fn to_bytes(&self) -> [u8; 4] {
        let [d0, d1] = self.duration.to_be_bytes();
        let flags = (u8::from(self.end) << 7) | (self.volume & 0x3f);
        [self.event, flags, d0, d1]
    }
}

/// The event code of a DTMF character (`0`–`9`, `*`, `#`, `A`–`D`, case-insensitive).
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        d @ 'A'..='D' => Some(d as u8 - b'A' + 12),
        _ => None,
    }
}

/// The DTMF character of an event code 0–15.
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// One packet the sender wants on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfFrame {
    /// When to send it, relative to the start of the event.
    pub offset: Duration,
    /// RTP marker bit (set on the first packet only).
    pub marker: bool,
    /// RTP timestamp: the event's start, identical for every packet of the event.
    pub timestamp: u32,
    pub event: TelephoneEvent,
}

/// Produces RFC 4733 packet sequences; the caller assigns sequence numbers from its stream
/// and sends each frame at its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfSender {
    pub clock_rate: u32,
    /// Packetization interval (20 ms by default).
    pub ptime: Duration,
    /// Volume in −dBm0 (10 by default).
    pub volume: u8,
}

impl Default for DtmfSender {
    fn default() -> Self {
        Self {
            clock_rate: 8000,
            ptime: Duration::from_millis(20),
            volume: 10,
        }
    }
}

impl DtmfSender {
    /// The frames for `digit` lasting `duration`, starting at RTP timestamp `timestamp`
    /// (RFC 4733 §2.5.1): one update per packetization interval, the first with the marker
    /// bit, each stating the duration so far; then the final duration three times with the E
    /// bit, one interval apart. The duration is at least one interval and at most 65535
    /// timestamp units (longer events would need §2.5.1.3 segments, which DTMF never does).
    /// After the event, voice resumes at `timestamp` + the final duration.
    pub fn frames(
        &self,
        digit: char,
        timestamp: u32,
        duration: Duration,
    ) -> Result<Vec<DtmfFrame>, RtpError> {
        let event = digit_to_event(digit).ok_or(RtpError::Digit(digit))?;
        let per_packet =
            (self.ptime.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000).max(1);
        let total = (duration.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000)
            .clamp(per_packet, u128::from(u16::MAX));
        let intervals = total.div_ceil(per_packet) as u32;
        let mut frames = Vec::with_capacity(intervals as usize + 2);
        let frame = |k: u32, end: bool, units: u128| DtmfFrame {
            offset: self.ptime * k,
            marker: k == 0,
            timestamp,
            event: TelephoneEvent {
                event,
                end,
                volume: self.volume & 0x3f,
                duration: units.min(u128::from(u16::MAX)) as u16,
            },
        };
        for k in 0..intervals - 1 {
            frames.push(frame(k, false, u128::from(k + 1) * per_packet));
        }
        for k in intervals - 1..intervals + 2 {
            frames.push(frame(k, true, total));
        }
        Ok(frames)
    }
}

impl DtmfFrame {
    /// Appends this frame as an RTP packet with the stream's `payload_type`, `sequence` and
    /// `ssrc`.
    pub fn write(
        &self,
        payload_type: u8,
        sequence: u16,
        ssrc: u32,
        out: &mut Vec<u8>,
    ) -> Result<(), RtpError> {
        let mut header = RtpHeader::new(payload_type, sequence, self.timestamp, ssrc);
        header.marker = self.marker;
        RtpPacket::new(header, &self.event.to_bytes()).write(out)
    }
}

/// A digit reported by [`DtmfDetector`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    pub digit: char,
    pub event: u8,
    /// RTP timestamp of the event (its identity).
    pub timestamp: u32,
}

/// How many recent events are remembered for de-duplication.
const HISTORY: usize = 8;

/// Turns received telephone-event packets into digits, each exactly once: an event is
/// identified by its RTP timestamp and code (§2.5.2.1), so retransmitted end packets, a
/// lost start packet (reported on the first update seen), a lost end packet (the next
/// event has a new timestamp) and late packets of an earlier event are all handled.
#[derive(Debug, Clone, Default)]
pub struct DtmfDetector {
    seen: std::collections::VecDeque<(u32, u8)>,
}

impl DtmfDetector {
    /// A detector with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the payload of one packet of the telephone-event payload type; returns a digit
    /// the first time its event is seen. Events above 15 (flash, tones) are ignored.
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<DtmfDigit> {
        let ev = TelephoneEvent::parse(payload).ok()?;
        let digit = event_to_digit(ev.event)?;
        let key = (timestamp, ev.event);
        if self.seen.contains(&key) {
            return None;
        }
        if self.seen.len() == HISTORY {
            self.seen.pop_front();
        }
        self.seen.push_back(key);
        Some(DtmfDigit {
            digit,
            event: ev.event,
            timestamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trip() {
        let e = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(e.to_bytes(), [11, 0x8a, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::parse(&e.to_bytes()).unwrap(), e);
        assert!(TelephoneEvent::parse(&[1, 2, 3]).is_err());
        // Reserved bit ignored on parse.
        assert_eq!(TelephoneEvent::parse(&[1, 0x40, 0, 0]).unwrap().volume, 0);
    }

    #[test]
    fn digits_map_both_ways() {
        for (i, d) in "0123456789*#ABCD".chars().enumerate() {
            assert_eq!(digit_to_event(d), Some(i as u8));
            assert_eq!(event_to_digit(i as u8), Some(d));
        }
        assert_eq!(digit_to_event('a'), Some(12));
        assert_eq!(digit_to_event('x'), None);
        assert_eq!(event_to_digit(16), None);
    }

    #[test]
    fn sender_sequence_for_100ms() {
        let frames = DtmfSender::default()
            .frames('5', 1000, Duration::from_millis(100))
            .unwrap();
        let summary: Vec<(u64, bool, bool, u16)> = frames
            .iter()
            .map(|f| {
                (
                    f.offset.as_millis() as u64,
                    f.marker,
                    f.event.end,
                    f.event.duration,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (0, true, false, 160),
                (20, false, false, 320),
                (40, false, false, 480),
                (60, false, false, 640),
                (80, false, true, 800),
                (100, false, true, 800),
                (120, false, true, 800),
            ]
        );
        assert!(
            frames
                .iter()
                .all(|f| f.timestamp == 1000 && f.event.event == 5)
        );
        // Short and long events are clamped.
        let short = DtmfSender::default()
            .frames('1', 0, Duration::ZERO)
            .unwrap();
        assert_eq!(short.len(), 3);
        assert!(short[0].marker && short.iter().all(|f| f.event.end && f.event.duration == 160));
        let long = DtmfSender::default()
            .frames('1', 0, Duration::from_secs(60))
            .unwrap();
        assert_eq!(long.last().unwrap().event.duration, u16::MAX);
        assert!(
            DtmfSender::default()
                .frames('x', 0, Duration::ZERO)
                .is_err()
        );
        let mut out = Vec::new();
        frames[0].write(101, 7, 9, &mut out).unwrap();
        let p = RtpPacket::parse(&out).unwrap();
        assert!(p.header.marker);
        assert_eq!((p.header.payload_type, p.header.sequence), (101, 7));
        assert_eq!(p.payload, [5, 10, 0, 160]);
    }

    #[test]
    fn detector_reports_each_event_once() {
        let mut d = DtmfDetector::new();
        let frames = DtmfSender::default()
            .frames('1', 100, Duration::from_millis(80))
            .unwrap();
        let digits: Vec<char> = frames
            .iter()
            .filter_map(|f| d.on_packet(f.timestamp, &f.event.to_bytes()))
            .map(|x| x.digit)
            .collect();
        assert_eq!(digits, ['1']);

        // Same digit again, new timestamp: reported again ("11").
        let again = DtmfSender::default()
            .frames('1', 2000, Duration::from_millis(80))
            .unwrap();
        // Lost start packet: the first update seen reports it.
        let got: Vec<_> = again[1..]
            .iter()
            .filter_map(|f| d.on_packet(f.timestamp, &f.event.to_bytes()))
            .collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].timestamp, 2000);
        // Late redundant end of the first event: ignored.
        let end = frames.last().unwrap();
        assert_eq!(d.on_packet(end.timestamp, &end.event.to_bytes()), None);
        // Lost end packets of '2', then '3': both reported once.
        let two = DtmfSender::default()
            .frames('2', 4000, Duration::from_millis(60))
            .unwrap();
        let three = DtmfSender::default()
            .frames('3', 5000, Duration::from_millis(60))
            .unwrap();
        let got: Vec<char> = two
            .iter()
            .filter(|f| !f.event.end)
            .chain(&three)
            .filter_map(|f| d.on_packet(f.timestamp, &f.event.to_bytes()))
            .map(|x| x.digit)
            .collect();
        assert_eq!(got, ['2', '3']);
        // Garbage and non-DTMF events are ignored.
        assert_eq!(d.on_packet(9, &[1, 2]), None);
        assert_eq!(d.on_packet(9, &[16, 0x80, 0, 0]), None);
    }
}
