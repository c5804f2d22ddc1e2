//! RTCP (RFC 3550 §6) for an [`Endpoint`](crate::Endpoint): receiver statistics (§A.1
//! sequence tracking, §A.3 loss, §A.8 interarrival jitter), the last sender report heard
//! (LSR/DLSR), and the compound report we send: SR (§6.4.1) when we sent media since the last
//! report, else RR (§6.4.2), always followed by SDES CNAME (§6.5.1).
//!
//! Does not: randomise the report interval (§6.3.1 wants [0.5, 1.5] × T; a fixed interval per
//! leg is harmless at two participants), handle BYE/APP, or track more than one remote source.

use std::time::{Duration, Instant};

/// Interval between our reports (§6.2 minimum is 5 s).
pub(crate) const INTERVAL: Duration = Duration::from_secs(5);
const MAX_DROPOUT: u16 = 3000;
const PT_SR: u8 = 200;
const PT_RR: u8 = 201;
const PT_SDES: u8 = 202;

/// Statistics about the one remote source we receive from.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReceiveStats {
    ssrc: Option<u32>,
    base_seq: u16,
    max_seq: u16,
    cycles: u32,
    pub(crate) received: u64,
    expected_prior: u64,
    received_prior: u64,
    last_transit: Option<i64>,
    /// Interarrival jitter in timestamp units × 16 (§A.8).
    jitter16: i64,
    /// Middle 32 bits of the last SR's NTP timestamp and when it arrived.
    last_sr: Option<(u32, Instant)>,
}

impl ReceiveStats {
    /// Accounts one RTP packet; `arrival` is the arrival time in timestamp units.
    pub(crate) fn on_rtp(&mut self, ssrc: u32, seq: u16, ts: u32, arrival: u32) {
        if self.ssrc != Some(ssrc) {
            *self = ReceiveStats {
                ssrc: Some(ssrc),
                base_seq: seq,
                max_seq: seq,
                last_sr: self.last_sr,
                ..Default::default()
            };
        } else {
            let delta = seq.wrapping_sub(self.max_seq);
            if delta != 0 && delta < MAX_DROPOUT {
                if seq < self.max_seq {
                    self.cycles = self.cycles.wrapping_add(1 << 16);
                }
                self.max_seq = seq;
            }
        }
        self.received += 1;
        let transit = i64::from(arrival.wrapping_sub(ts) as i32);
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            self.jitter16 += d - ((self.jitter16 + 8) >> 4);
        }
        self.last_transit = Some(transit);
    }

    /// Notes an incoming RTCP compound packet's sender report, if it starts with one.
    pub(crate) fn on_rtcp(&mut self, now: Instant, bytes: &[u8]) {
        if bytes.len() >= 28
            && bytes.first().map(|b| b >> 6) == Some(2)
            && bytes.get(1) == Some(&PT_SR)
            && let Some(mid) = bytes.get(10..14).and_then(|b| <[u8; 4]>::try_from(b).ok())
        {
            self.last_sr = Some((u32::from_be_bytes(mid), now));
        }
    }

    fn extended_max(&self) -> u64 {
        u64::from(self.cycles) + u64::from(self.max_seq)
    }

    /// The report block about the remote source (§6.4.1), if we heard it.
    fn report_block(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        let Some(ssrc) = self.ssrc else {
            return false;
        };
        let expected = self.extended_max().saturating_sub(u64::from(self.base_seq)) + 1;
        let lost = expected as i64 - self.received as i64;
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval.saturating_sub(received_interval);
        let fraction = (lost_interval << 8)
            .checked_div(expected_interval)
            .unwrap_or(0);
        let cumulative = lost.clamp(-0x80_0000, 0x7f_ffff) as u32 & 0xff_ffff;
        out.extend_from_slice(&ssrc.to_be_bytes());
        out.extend_from_slice(&((fraction.min(255) as u32) << 24 | cumulative).to_be_bytes());
        out.extend_from_slice(&(self.extended_max() as u32).to_be_bytes());
        out.extend_from_slice(&((self.jitter16 >> 4) as u32).to_be_bytes());
        let (lsr, dlsr) = match self.last_sr {
            Some((lsr, at)) => {
                let since = now.saturating_duration_since(at);
                (lsr, (since.as_secs_f64() * 65536.0) as u32)
            }
            None => (0, 0),
        };
        out.extend_from_slice(&lsr.to_be_bytes());
        out.extend_from_slice(&dlsr.to_be_bytes());
        true
    }

    /// Cumulative packets lost so far (may be negative with duplicates, §6.4.1).
    pub(crate) fn lost(&self) -> i64 {
        if self.ssrc.is_none() {
            return 0;
        }
        let expected = self.extended_max().saturating_sub(u64::from(self.base_seq)) + 1;
        expected as i64 - self.received as i64
    }

    /// Interarrival jitter in timestamp units.
    pub(crate) fn jitter(&self) -> u32 {
        (self.jitter16 >> 4) as u32
    }
}

/// What we sent since the leg started, for the SR sender info.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SendStats {
    pub(crate) packets: u32,
    pub(crate) octets: u32,
    pub(crate) sent_since_report: bool,
}

/// The sender info of an SR: NTP time (zero when no wall clock is known, §6.4.1) and the RTP
/// timestamp of the same instant.
pub(crate) struct SenderInfo {
    pub(crate) ntp: u64,
    pub(crate) rtp_ts: u32,
}

/// Builds our compound report: SR or RR, then SDES with the CNAME.
pub(crate) fn build_report(
    now: Instant,
    ssrc: u32,
    cname: &str,
    sender: Option<SenderInfo>,
    send: &SendStats,
    recv: &mut ReceiveStats,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + cname.len());
    let pt = if sender.is_some() { PT_SR } else { PT_RR };
    out.extend_from_slice(&[0x80, pt, 0, 0]);
    out.extend_from_slice(&ssrc.to_be_bytes());
    if let Some(info) = sender {
        out.extend_from_slice(&info.ntp.to_be_bytes());
        out.extend_from_slice(&info.rtp_ts.to_be_bytes());
        out.extend_from_slice(&send.packets.to_be_bytes());
        out.extend_from_slice(&send.octets.to_be_bytes());
    }
    if recv.report_block(now, &mut out)
        && let Some(first) = out.first_mut()
    {
        *first |= 1;
    }
    set_length(&mut out, 0);
    let sdes = out.len();
    out.extend_from_slice(&[0x81, PT_SDES, 0, 0]);
    out.extend_from_slice(&ssrc.to_be_bytes());
    let name = cname.as_bytes().get(..255).unwrap_or(cname.as_bytes());
    out.push(1);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.push(0);
    while out.len() % 4 != 0 {
        out.push(0);
    }
    set_length(&mut out, sdes);
    out
}

/// Fills in the length field (in 32-bit words minus one) of the packet starting at `start`.
fn set_length(out: &mut [u8], start: usize) {
    let words = ((out.len() - start) / 4).saturating_sub(1) as u16;
    if let Some(field) = out.get_mut(start + 2..start + 4) {
        field.copy_from_slice(&words.to_be_bytes());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_wrap_are_counted() {
        let mut s = ReceiveStats::default();
        for (i, seq) in [65534u16, 65535, 1, 2].iter().enumerate() {
            s.on_rtp(9, *seq, i as u32 * 160, i as u32 * 160);
        }
        assert_eq!(s.extended_max(), 65536 + 2);
        assert_eq!(s.lost(), 1);
        assert_eq!(s.jitter(), 0);
    }

    #[test]
    fn receiver_report_layout() {
        let t0 = Instant::now();
        let mut s = ReceiveStats::default();
        s.on_rtp(0xabcd, 10, 0, 0);
        s.on_rtp(0xabcd, 12, 320, 320);
        let bytes = build_report(t0, 0x1234, "sb", None, &SendStats::default(), &mut s);
        assert_eq!(&bytes[..2], &[0x81, PT_RR]);
        assert_eq!(u16::from_be_bytes([bytes[2], bytes[3]]), 7);
        assert_eq!(&bytes[8..12], &0xabcdu32.to_be_bytes());
        assert_eq!(bytes[12], 85); // 1 of 3 lost = 0.333 × 256
        assert_eq!(bytes[32 + 1], PT_SDES);
        assert_eq!(bytes.len() % 4, 0);
        assert!(rtp::is_rtcp(&bytes));
    }

    #[test]
    fn sender_report_carries_sender_info() {
        let t0 = Instant::now();
        let send = SendStats {
            packets: 50,
            octets: 8000,
            sent_since_report: true,
        };
        let info = SenderInfo {
            ntp: 0x0102_0304_0506_0708,
            rtp_ts: 77,
        };
        let bytes = build_report(t0, 1, "x", Some(info), &send, &mut ReceiveStats::default());
        assert_eq!(&bytes[..2], &[0x80, PT_SR]);
        assert_eq!(u16::from_be_bytes([bytes[2], bytes[3]]), 6);
        assert_eq!(&bytes[20..24], &50u32.to_be_bytes());
        let mut peer = ReceiveStats::default();
        peer.on_rtcp(t0, &bytes);
        assert_eq!(peer.last_sr.map(|x| x.0), Some(0x0304_0506));
    }
}
