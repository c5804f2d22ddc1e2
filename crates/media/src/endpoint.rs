//! One RTP leg between us and a negotiated peer (RFC 3550, RFC 3551 profile).
//!
//! Receiving: a datagram is checked against the [`SourceFilter`] (media from any other source
//! is dropped), parsed with `rtp`, and classified by payload type into audio (the negotiated
//! G.711 type) or telephone-event (RFC 4733); anything else is dropped. RTCP arriving on the
//! RTP port (RFC 5761 mux) is consumed for statistics.
//!
//! Sending: our SSRC, initial sequence number and initial timestamp are inputs (RFC 3550 §5.1
//! wants them random; the I/O side draws them). The RTP timestamp of a frame is derived from
//! the time the frame is due, `initial_ts + clock rate × (due − start)`, so it advances
//! exactly 160 (G.711) or 960 (Opus, 48 kHz clock, RFC 7587 §4.1) per 20 ms frame and keeps
//! counting across pauses (§5.1: it reflects the sampling instant); the sequence number
//! increases by one per packet sent. Frames are encoded by the [`Encoder`] the leg was given.
//!
//! RTCP: a compound SR/RR + SDES every 5 s to the peer's RTCP address (see [`crate::rtcp`]).
//!
//! Does not: SRTP, RTP header extensions of our own, more than one remote SSRC in the
//! statistics.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtp::{RtpHeader, RtpPacket};

use crate::codec::{Codec, CodecFactory, Encoder, G711Codecs};
use crate::filter::{DropReason, Latching, SourceFilter};
use crate::rtcp::{self, Rtcp};

/// Negotiated parameters of one leg (from the SDP offer/answer) plus our own choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The peer's RTP address (`c=` + `m=` port). `0.0.0.0` means on hold: nothing accepted.
    pub remote_rtp: SocketAddr,
    /// The peer's RTCP address (`a=rtcp` or RTP port + 1); `None` with `a=rtcp-mux`.
    pub remote_rtcp: Option<SocketAddr>,
    /// The negotiated audio codec.
    pub codec: Codec,
    /// Its payload type (static 0/8 for G.711, dynamic for Opus: the offer decides).
    pub payload_type: u8,
    /// Payload type of `telephone-event` at the codec's clock rate (RFC 4733), if negotiated.
    pub dtmf_payload_type: Option<u8>,
    /// Our SSRC (random, an input).
    pub ssrc: u32,
    /// Sequence number of our first packet (random, an input).
    pub initial_seq: u16,
    /// RTP timestamp of the leg's start instant (random, an input).
    pub initial_ts: u32,
    /// Source filtering policy (default strict).
    pub latching: Latching,
    /// Our RTCP CNAME (RFC 3550 §6.5.1), e.g. `switchboard@host`.
    pub cname: String,
    /// Wall-clock time (since the Unix epoch) at the leg's start, for SR NTP timestamps;
    /// `None` sends zero NTP timestamps (allowed by §6.4.1).
    pub wallclock: Option<Duration>,
    /// Whether to send RTCP reports.
    pub rtcp: bool,
}

impl EndpointConfig {
    /// Defaults around the essentials: RTCP at `remote_rtp` port + 1, static payload type,
    /// `telephone-event` at 101, strict source filtering; sequence and timestamp seeds
    /// derived from `ssrc` (which must itself be random).
    pub fn new(remote_rtp: SocketAddr, codec: Codec, ssrc: u32) -> Self {
        let mut rtcp_addr = remote_rtp;
        rtcp_addr.set_port(remote_rtp.port().wrapping_add(1));
        EndpointConfig {
            remote_rtp,
            remote_rtcp: Some(rtcp_addr),
            codec,
            payload_type: codec.static_payload_type(),
            dtmf_payload_type: Some(101),
            ssrc,
            initial_seq: (ssrc >> 16) as u16 ^ 0x5a5a,
            initial_ts: ssrc.rotate_left(11),
            latching: Latching::Strict,
            cname: "switchboard".to_owned(),
            wallclock: None,
            rtcp: true,
        }
    }
}

/// A received datagram after filtering and classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received<'a> {
    /// Audio in the negotiated codec.
    Audio(RtpPacket<'a>),
    /// An RFC 4733 telephone-event packet.
    Event(RtpPacket<'a>),
    /// RTCP multiplexed on the RTP port; consumed.
    Rtcp,
    /// Dropped, and why.
    Dropped(DropReason),
}

/// Per-leg counters (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointStats {
    /// Packets accepted from the peer.
    pub received: u64,
    /// Packets dropped (wrong source, malformed, unknown payload type).
    pub dropped: u64,
    /// Packets we sent.
    pub sent: u64,
    /// Cumulative packets lost by the peer's stream (RFC 3550 §6.4.1).
    pub lost: i64,
    /// Interarrival jitter in timestamp units (§A.8).
    pub jitter: u32,
}

/// One RTP leg; see the module doc.
#[derive(Debug)]
pub struct Endpoint {
    cfg: EndpointConfig,
    /// `None`: the codec is not available, nothing is sent.
    encoder: Option<Box<dyn Encoder>>,
    filter: SourceFilter,
    start: Instant,
    next_seq: u16,
    rtcp: Rtcp,
    dropped: u64,
    next_report: Instant,
}

impl Endpoint {
    /// A leg starting at `now` with the built-in (G.711) codecs.
    pub fn new(now: Instant, cfg: EndpointConfig) -> Self {
        Self::with_codecs(now, cfg, &G711Codecs)
    }

    /// A leg starting at `now` whose encoder comes from `codecs` (Opus from the I/O side).
    pub fn with_codecs(now: Instant, cfg: EndpointConfig, codecs: &dyn CodecFactory) -> Self {
        let encoder = codecs.encoder(cfg.codec);
        let filter = SourceFilter::new(now, cfg.remote_rtp, cfg.remote_rtcp, cfg.latching);
        Endpoint {
            next_seq: cfg.initial_seq,
            cfg,
            encoder,
            filter,
            start: now,
            rtcp: Rtcp::default(),
            dropped: 0,
            next_report: now + rtcp::INTERVAL,
        }
    }

    /// The negotiated parameters.
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// Changes the peer's addresses (re-INVITE); the latching window restarts.
    pub fn set_peer(&mut self, now: Instant, rtp: SocketAddr, rtcp: Option<SocketAddr>) {
        self.cfg.remote_rtp = rtp;
        self.cfg.remote_rtcp = rtcp;
        self.filter = SourceFilter::new(now, rtp, rtcp, self.cfg.latching);
    }

    /// Where our media goes (the latched address once latched).
    pub fn peer(&self) -> SocketAddr {
        self.filter.rtp_peer()
    }

    /// Filters, parses and classifies a datagram received on the RTP port.
    pub fn receive<'a>(&mut self, now: Instant, from: SocketAddr, bytes: &'a [u8]) -> Received<'a> {
        let received = self.classify(now, from, bytes);
        if matches!(received, Received::Dropped(_)) {
            self.dropped += 1;
        }
        received
    }

    fn classify<'a>(&mut self, now: Instant, from: SocketAddr, bytes: &'a [u8]) -> Received<'a> {
        if rtp::is_rtcp(bytes) {
            return match self.filter.check_rtcp(from) {
                Ok(()) => {
                    self.rtcp.on_rtcp(now, bytes);
                    Received::Rtcp
                }
                Err(e) => Received::Dropped(e),
            };
        }
        let Ok(packet) = RtpPacket::parse(bytes) else {
            return Received::Dropped(DropReason::Malformed);
        };
        let pt = packet.header.payload_type;
        let is_audio = pt == self.cfg.payload_type;
        if !is_audio && Some(pt) != self.cfg.dtmf_payload_type {
            return Received::Dropped(DropReason::Malformed);
        }
        if let Err(e) = self.filter.check_rtp(now, from) {
            return Received::Dropped(e);
        }
        let h = &packet.header;
        self.rtcp.on_rtp(h.ssrc, h.sequence, h.timestamp, now);
        if is_audio {
            Received::Audio(packet)
        } else {
            Received::Event(packet)
        }
    }

    /// Accounts a datagram received on the RTCP port; `Err` when it is not from the peer.
    pub fn receive_rtcp(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
    ) -> Result<(), DropReason> {
        let checked = self.filter.check_rtcp(from);
        match checked {
            Ok(()) => self.rtcp.on_rtcp(now, bytes),
            Err(_) => self.dropped += 1,
        }
        checked
    }

    /// Encodes one frame of PCM due at `due` into an RTP packet for the peer (`None` when
    /// the codec has no encoder or the encoder produced nothing).
    pub fn send_audio(
        &mut self,
        due: Instant,
        pcm: &[i16],
        marker: bool,
    ) -> Option<(SocketAddr, Vec<u8>)> {
        let mut payload = Vec::with_capacity(pcm.len());
        self.encoder.as_mut()?.encode(pcm, &mut payload);
        if payload.is_empty() {
            return None;
        }
        let ts = self.ts_at(due);
        Some(self.send_payload(self.cfg.payload_type, marker, ts, &payload))
    }

    /// Builds an RTP packet with the next sequence number around an already encoded payload
    /// (e.g. an RFC 4733 event from `rtp`'s sender).
    pub fn send_payload(
        &mut self,
        pt: u8,
        marker: bool,
        ts: u32,
        payload: &[u8],
    ) -> (SocketAddr, Vec<u8>) {
        let mut header = RtpHeader::new(pt & 0x7f, self.next_seq, ts, self.cfg.ssrc);
        header.marker = marker;
        self.next_seq = self.next_seq.wrapping_add(1);
        let mut bytes = Vec::with_capacity(header.len() + payload.len());
        // Cannot fail: the payload type is masked to 7 bits and there is no extension.
        let _ = RtpPacket::new(header, payload).write(&mut bytes);
        self.rtcp.on_sent(payload.len(), ts);
        (self.peer(), bytes)
    }

    /// The RTP timestamp of instant `at` on our clock (see the module doc).
    pub fn ts_at(&self, at: Instant) -> u32 {
        let nanos = at.saturating_duration_since(self.start).as_nanos();
        let samples = nanos * u128::from(self.cfg.codec.clock_rate()) / 1_000_000_000;
        self.cfg.initial_ts.wrapping_add(samples as u32)
    }

    /// When the next RTCP report is due (`None` when reports are off).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.cfg.rtcp.then_some(self.next_report)
    }

    /// Our RTCP report and its destination, when one is due at `now`.
    pub fn poll_rtcp(&mut self, now: Instant) -> Option<(SocketAddr, Vec<u8>)> {
        if !self.cfg.rtcp || now < self.next_report {
            return None;
        }
        while self.next_report <= now {
            self.next_report += rtcp::INTERVAL;
        }
        if self.filter.rtp_peer().ip().is_unspecified() {
            return None;
        }
        let since = now.saturating_duration_since(self.start);
        let ntp = self
            .cfg
            .wallclock
            .map_or(0, |w| rtp::ntp_timestamp(w + since));
        let ts = self.ts_at(now);
        let bytes = self
            .rtcp
            .report(now, self.cfg.ssrc, &self.cfg.cname, ntp, ts);
        Some((self.filter.rtcp_peer(), bytes))
    }

    /// Counters so far.
    pub fn stats(&self) -> EndpointStats {
        EndpointStats {
            received: self.rtcp.received(),
            dropped: self.dropped,
            sent: self.rtcp.sent(),
            lost: self.rtcp.lost(),
            jitter: self.rtcp.jitter(),
        }
    }
}
