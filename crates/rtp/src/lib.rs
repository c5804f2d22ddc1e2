//! RTP/RTCP (RFC 3550), G.711 µ-law/A-law, RFC 4733 telephone-events, jitter buffer (PURE).
//!
//! Everything here works on byte slices and values handed in by the caller: no sockets, no
//! clock (time is an [`std::time::Instant`] input), no randomness (SSRCs and initial
//! sequence numbers are inputs). Parsers return [`RtpError`] on malformed input and never
//! panic. Not here: SRTP, RTP header-extension elements (RFC 8285), codecs other than G.711
//! (Opus lives in the media server), port allocation and timers.

pub mod g711;
pub mod jitter;
pub mod packet;
pub mod rtcp;
pub mod stats;
pub mod telephone_event;

pub use g711::{G711, alaw_decode, alaw_encode, ulaw_decode, ulaw_encode};
pub use jitter::{JitterBuffer, JitterConfig, JitterStats, PacketInfo, Playout, PushOutcome};
pub use packet::{Csrcs, Extension, RtpHeader, RtpPacket, is_rtcp, peek_ssrc};
pub use rtcp::{
    App, Bye, ReceiverReport, ReportBlock, RtcpPacket, SdesChunk, SdesItem, SenderInfo,
    SenderReport, parse_compound, write_sdes_cname,
};
pub use stats::{ReceiveStats, SendStats, SeqStatus, ntp_timestamp};
pub use telephone_event::{
    DtmfDetector, DtmfDigit, DtmfFrame, DtmfSender, TelephoneEvent, digit_to_event, event_to_digit,
};

/// Errors from parsing or writing RTP, RTCP and telephone-event payloads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("truncated packet: {0}")]
    Truncated(&'static str),
    #[error("unsupported RTP version {0}")]
    Version(u8),
    #[error("invalid padding")]
    Padding,
    #[error("payload type {0} does not fit in 7 bits")]
    PayloadType(u8),
    #[error("extension data of {0} bytes is not a whole number of 32-bit words")]
    ExtensionLength(usize),
    #[error("buffer too small: {0} bytes needed")]
    BufferTooSmall(usize),
    #[error("RTCP length field does not match the datagram")]
    RtcpLength,
    #[error("too many items for one RTCP packet: {0}")]
    RtcpCount(usize),
    #[error("invalid RTCP packet: {0}")]
    Rtcp(&'static str),
    #[error("not a DTMF digit: {0:?}")]
    Digit(char),
}
