//! RTCP (RFC 3550 §6): parse compound packets (SR, RR, SDES, BYE, APP; other types kept
//! raw) and write SR/RR, SDES CNAME and BYE. Does not schedule reports (§6.3 timing is the
//! caller's, with time as an input) and does not parse feedback (RFC 4585) contents.

use crate::RtpError;

/// RTCP packet types (RFC 3550 §12.1).
pub const SR: u8 = 200;
pub const RR: u8 = 201;
pub const SDES: u8 = 202;
pub const BYE: u8 = 203;
pub const APP: u8 = 204;
/// SDES item type CNAME (§6.5.1).
pub const SDES_CNAME: u8 = 1;

/// Sender information of an SR (§6.4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderInfo {
    /// 64-bit NTP timestamp (seconds since 1900 in the high word, fraction in the low).
    pub ntp_timestamp: u64,
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
}

/// One reception report block (§6.4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportBlock {
    pub ssrc: u32,
    pub fraction_lost: u8,
    /// Signed 24-bit cumulative number of packets lost (negative with duplicates).
    pub cumulative_lost: i32,
    pub highest_sequence: u32,
    pub jitter: u32,
    /// Middle 32 bits of the last SR's NTP timestamp, 0 if none received.
    pub last_sr: u32,
    /// Delay since that SR in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// Sender report (PT 200).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderReport {
    pub ssrc: u32,
    pub info: SenderInfo,
    pub reports: Vec<ReportBlock>,
}

/// Receiver report (PT 201).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiverReport {
    pub ssrc: u32,
    pub reports: Vec<ReportBlock>,
}

/// One SDES item (§6.5): type and raw value (UTF-8 by spec, not checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdesItem<'a> {
    pub kind: u8,
    pub value: &'a [u8],
}

/// One SDES chunk: an SSRC/CSRC and its items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdesChunk<'a> {
    pub ssrc: u32,
    pub items: Vec<SdesItem<'a>>,
}

/// Goodbye (PT 203, §6.6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bye<'a> {
    pub ssrcs: Vec<u32>,
    pub reason: Option<&'a [u8]>,
}

/// Application-defined (PT 204, §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct App<'a> {
    pub subtype: u8,
    pub ssrc: u32,
    pub name: [u8; 4],
    pub data: &'a [u8],
}

/// One packet of a compound RTCP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket<'a> {
    SenderReport(SenderReport),
    ReceiverReport(ReceiverReport),
    Sdes(Vec<SdesChunk<'a>>),
    Bye(Bye<'a>),
    App(App<'a>),
    /// Any other type (e.g. RTPFB/PSFB 205/206, XR 207), body after the 4-byte header.
    Other {
        packet_type: u8,
        count: u8,
        body: &'a [u8],
    },
}

/// Parses a compound RTCP datagram (§6.1): every packet must be version 2 and its length
/// field must fit the datagram exactly.
pub fn parse_compound(buf: &[u8]) -> Result<Vec<RtcpPacket<'_>>, RtpError> {
    let _ = buf;
    Err(RtpError::Rtcp("not implemented"))
}
