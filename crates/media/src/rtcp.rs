//! RTCP bookkeeping for an [`Endpoint`](crate::Endpoint) (RFC 3550 §6), built on `rtp`'s
//! statistics (§A.1, §A.3, §A.8) and packet writers: what we heard from the one remote source,
//! the last sender report it sent (for LSR/DLSR, §6.4.1), what we sent, and the compound
//! report we send every [`INTERVAL`]: SR (§6.4.1) when we sent media since the last report,
//! else RR (§6.4.2), always followed by SDES CNAME (§6.5.1, §6.1).
//!
//! Does not: randomise the report interval (§6.3.1 wants [0.5, 1.5] × T; a fixed interval per
//! leg is harmless at two participants), send BYE, or track more than one remote source (a
//! new SSRC restarts the statistics).

use std::time::{Duration, Instant};

use rtp::{ReceiveStats, ReceiverReport, RtcpPacket, SendStats, SenderInfo, SenderReport};

use crate::SAMPLE_RATE;

/// Interval between our reports (§6.2 minimum is 5 s).
pub(crate) const INTERVAL: Duration = Duration::from_secs(5);

/// One leg's RTCP state; see the module doc.
#[derive(Debug, Clone)]
pub(crate) struct Rtcp {
    remote_ssrc: Option<u32>,
    recv: ReceiveStats,
    send: SendStats,
    sent_since_report: bool,
    /// Middle 32 bits of the last SR's NTP timestamp and when it arrived.
    last_sr: Option<(u32, Instant)>,
}

impl Default for Rtcp {
    fn default() -> Self {
        Rtcp {
            remote_ssrc: None,
            recv: ReceiveStats::new(SAMPLE_RATE),
            send: SendStats::default(),
            sent_since_report: false,
            last_sr: None,
        }
    }
}

impl Rtcp {
    /// Accounts one accepted RTP packet.
    pub(crate) fn on_rtp(&mut self, ssrc: u32, seq: u16, ts: u32, arrival: Instant) {
        if self.remote_ssrc != Some(ssrc) {
            self.remote_ssrc = Some(ssrc);
            self.recv = ReceiveStats::new(SAMPLE_RATE);
        }
        self.recv.on_packet(seq, ts, arrival);
    }

    /// Notes the sender report in an incoming compound packet, if any.
    pub(crate) fn on_rtcp(&mut self, now: Instant, bytes: &[u8]) {
        let Ok(packets) = rtp::parse_compound(bytes) else {
            return;
        };
        for packet in packets {
            if let RtcpPacket::SenderReport(sr) = packet {
                self.last_sr = Some(((sr.info.ntp_timestamp >> 16) as u32, now));
            }
        }
    }

    /// Accounts one RTP packet we sent.
    pub(crate) fn on_sent(&mut self, payload_len: usize, ts: u32) {
        self.send.on_sent(payload_len, ts);
        self.sent_since_report = true;
    }

    /// Our compound report at `now`. `ntp` is the wall clock as an NTP timestamp (zero when
    /// unknown, §6.4.1) and `rtp_ts` the RTP timestamp of the same instant.
    pub(crate) fn report(
        &mut self,
        now: Instant,
        ssrc: u32,
        cname: &str,
        ntp: u64,
        rtp_ts: u32,
    ) -> Vec<u8> {
        let reports: Vec<_> = self
            .remote_ssrc
            .map(|remote| {
                let (lsr, dlsr) = self.last_sr.map_or((0, 0), |(lsr, at)| {
                    let since = now.saturating_duration_since(at).as_secs_f64();
                    (lsr, (since * 65536.0) as u32)
                });
                self.recv.report_block(remote, lsr, dlsr)
            })
            .into_iter()
            .collect();
        let mut out = Vec::with_capacity(64 + cname.len());
        // One report block and a 7-bit payload type: the writers cannot fail here.
        let _ = if self.sent_since_report {
            let info = SenderInfo {
                ntp_timestamp: ntp,
                rtp_timestamp: rtp_ts,
                packet_count: self.send.packets,
                octet_count: self.send.octets,
            };
            SenderReport {
                ssrc,
                info,
                reports,
            }
            .write(&mut out)
        } else {
            ReceiverReport { ssrc, reports }.write(&mut out)
        };
        rtp::write_sdes_cname(ssrc, cname.as_bytes(), &mut out);
        self.sent_since_report = false;
        out
    }

    /// Packets accepted from the peer.
    pub(crate) fn received(&self) -> u64 {
        self.recv.received()
    }

    /// Cumulative packets lost by the peer's stream (negative with duplicates, §6.4.1).
    pub(crate) fn lost(&self) -> i64 {
        self.recv.cumulative_lost()
    }

    /// Interarrival jitter in timestamp units.
    pub(crate) fn jitter(&self) -> u32 {
        self.recv.jitter()
    }

    /// Packets we sent.
    pub(crate) fn sent(&self) -> u64 {
        u64::from(self.send.packets)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn receiver_report_after_loss() {
        let t0 = Instant::now();
        let mut r = Rtcp::default();
        for (k, seq) in [10u16, 11, 12, 14].iter().enumerate() {
            r.on_rtp(
                0xabcd,
                *seq,
                160 * u32::from(*seq),
                t0 + Duration::from_millis(20 * k as u64),
            );
        }
        let bytes = r.report(t0, 0x1234, "sb", 0, 0);
        let packets = rtp::parse_compound(&bytes).unwrap();
        let RtcpPacket::ReceiverReport(rr) = &packets[0] else {
            panic!("{packets:?}")
        };
        assert_eq!(rr.ssrc, 0x1234);
        assert_eq!(rr.reports[0].ssrc, 0xabcd);
        assert_eq!(rr.reports[0].cumulative_lost, 1);
        assert!(
            matches!(&packets[1], RtcpPacket::Sdes(chunks) if chunks[0].items[0].value == b"sb")
        );
    }

    #[test]
    fn sender_report_then_receiver_report_and_lsr() {
        let t0 = Instant::now();
        let mut r = Rtcp::default();
        r.on_sent(160, 1000);
        let sr = r.report(t0, 1, "x", 0x0102_0304_0506_0708, 77);
        let packets = rtp::parse_compound(&sr).unwrap();
        let RtcpPacket::SenderReport(s) = &packets[0] else {
            panic!("{packets:?}")
        };
        assert_eq!(
            (
                s.info.rtp_timestamp,
                s.info.packet_count,
                s.info.octet_count
            ),
            (77, 1, 160)
        );
        assert!(rtp::is_rtcp(&sr));
        let rr = r.report(t0, 1, "x", 0, 0);
        assert_eq!(rr[1], 201, "nothing sent since: RR");
        let mut peer = Rtcp::default();
        peer.on_rtcp(t0, &sr);
        assert_eq!(peer.last_sr.map(|x| x.0), Some(0x0304_0506));
    }
}
