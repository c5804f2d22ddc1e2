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

/// Most report blocks / SSRCs / chunks one packet can carry (5-bit count).
const MAX_COUNT: usize = 31;

/// Parses a compound RTCP datagram (§6.1): every packet must be version 2 and its length
/// field must fit the datagram; padding is honoured on any packet. Reduced-size RTCP (RFC
/// 5506) is accepted, so the first packet need not be an SR or RR.
pub fn parse_compound(buf: &[u8]) -> Result<Vec<RtcpPacket<'_>>, RtpError> {
    let mut out = Vec::new();
    let mut rest = buf;
    if rest.is_empty() {
        return Err(RtpError::Truncated("RTCP header"));
    }
    while !rest.is_empty() {
        let [b0, pt, l0, l1] = *rest
            .first_chunk::<4>()
            .ok_or(RtpError::Truncated("RTCP header"))?;
        if b0 >> 6 != 2 {
            return Err(RtpError::Version(b0 >> 6));
        }
        let len = (usize::from(u16::from_be_bytes([l0, l1])) + 1) * 4;
        let packet = rest.get(..len).ok_or(RtpError::RtcpLength)?;
        rest = rest.get(len..).unwrap_or(&[]);
        let mut body = packet.get(4..).unwrap_or(&[]);
        if b0 & 0x20 != 0 {
            let pad = usize::from(*body.last().ok_or(RtpError::Padding)?);
            if pad == 0 || pad > body.len() {
                return Err(RtpError::Padding);
            }
            body = body.get(..body.len() - pad).unwrap_or(&[]);
        }
        let count = b0 & 0x1f;
        out.push(parse_one(pt, count, body)?);
    }
    Ok(out)
}

fn parse_one(pt: u8, count: u8, body: &[u8]) -> Result<RtcpPacket<'_>, RtpError> {
    let mut r = Reader(body);
    let n = usize::from(count);
    Ok(match pt {
        SR => {
            let ssrc = r.u32()?;
            let info = SenderInfo {
                ntp_timestamp: (u64::from(r.u32()?) << 32) | u64::from(r.u32()?),
                rtp_timestamp: r.u32()?,
                packet_count: r.u32()?,
                octet_count: r.u32()?,
            };
            let reports = report_blocks(&mut r, n)?;
            RtcpPacket::SenderReport(SenderReport {
                ssrc,
                info,
                reports,
            })
        }
        RR => {
            let ssrc = r.u32()?;
            let reports = report_blocks(&mut r, n)?;
            RtcpPacket::ReceiverReport(ReceiverReport { ssrc, reports })
        }
        SDES => {
            let mut chunks = Vec::with_capacity(n);
            for _ in 0..n {
                chunks.push(sdes_chunk(&mut r)?);
            }
            RtcpPacket::Sdes(chunks)
        }
        BYE => {
            let mut ssrcs = Vec::with_capacity(n);
            for _ in 0..n {
                ssrcs.push(r.u32()?);
            }
            let reason = match r.0.split_first() {
                Some((&len, text)) => Some(
                    text.get(..usize::from(len))
                        .ok_or(RtpError::Truncated("BYE reason"))?,
                ),
                None => None,
            };
            RtcpPacket::Bye(Bye { ssrcs, reason })
        }
        APP => {
            let ssrc = r.u32()?;
            let name = r.u32()?.to_be_bytes();
            RtcpPacket::App(App {
                subtype: count,
                ssrc,
                name,
                data: r.0,
            })
        }
        _ => RtcpPacket::Other {
            packet_type: pt,
            count,
            body,
        },
    })
}

fn report_blocks(r: &mut Reader<'_>, n: usize) -> Result<Vec<ReportBlock>, RtpError> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let ssrc = r.u32()?;
        let lost = r.u32()?;
        // 24-bit two's complement in the low bits.
        let cumulative_lost = ((lost << 8) as i32) >> 8;
        out.push(ReportBlock {
            ssrc,
            fraction_lost: (lost >> 24) as u8,
            cumulative_lost,
            highest_sequence: r.u32()?,
            jitter: r.u32()?,
            last_sr: r.u32()?,
            delay_since_last_sr: r.u32()?,
        });
    }
    Ok(out)
}

fn sdes_chunk<'a>(r: &mut Reader<'a>) -> Result<SdesChunk<'a>, RtpError> {
    let start = r.0.len();
    let ssrc = r.u32()?;
    let mut items = Vec::new();
    loop {
        let kind = r.u8()?;
        if kind == 0 {
            // The null item ends the chunk, padded with nulls to a 32-bit boundary.
            let used = start - r.0.len();
            r.skip((4 - used % 4) % 4)?;
            return Ok(SdesChunk { ssrc, items });
        }
        let len = usize::from(r.u8()?);
        let value = r.take(len)?;
        items.push(SdesItem { kind, value });
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RtpError> {
        let head = self.0.get(..n).ok_or(RtpError::Truncated("RTCP body"))?;
        self.0 = self.0.get(n..).unwrap_or(&[]);
        Ok(head)
    }

    fn skip(&mut self, n: usize) -> Result<(), RtpError> {
        self.take(n).map(|_| ())
    }

    fn u8(&mut self) -> Result<u8, RtpError> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    fn u32(&mut self) -> Result<u32, RtpError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes(
            b.try_into().map_err(|_| RtpError::Truncated("RTCP body"))?,
        ))
    }
}

impl SenderReport {
    /// Appends this SR (§6.4.1) to `out`; at most 31 report blocks.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), RtpError> {
        let start = header(out, SR, self.reports.len(), 6 + 6 * self.reports.len())?;
        put32(out, self.ssrc);
        put32(out, (self.info.ntp_timestamp >> 32) as u32);
        put32(out, self.info.ntp_timestamp as u32);
        put32(out, self.info.rtp_timestamp);
        put32(out, self.info.packet_count);
        put32(out, self.info.octet_count);
        write_blocks(out, &self.reports);
        debug_assert_eq!(out.len() - start, 28 + 24 * self.reports.len());
        Ok(())
    }
}

impl ReceiverReport {
    /// Appends this RR (§6.4.2) to `out`; at most 31 report blocks.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), RtpError> {
        header(out, RR, self.reports.len(), 1 + 6 * self.reports.len())?;
        put32(out, self.ssrc);
        write_blocks(out, &self.reports);
        Ok(())
    }
}

impl Bye<'_> {
    /// Appends this BYE (§6.6); the reason is cut to 255 bytes.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), RtpError> {
        let reason = self.reason.map(|r| r.get(..255).unwrap_or(r));
        let reason_words = reason.map_or(0, |r| (r.len() + 1).div_ceil(4));
        header(out, BYE, self.ssrcs.len(), self.ssrcs.len() + reason_words)?;
        for &s in &self.ssrcs {
            put32(out, s);
        }
        if let Some(r) = reason {
            let start = out.len();
            out.push(r.len() as u8);
            out.extend_from_slice(r);
            out.resize(start + reason_words * 4, 0);
        }
        Ok(())
    }
}

/// Appends an SDES packet with one chunk carrying a CNAME (§6.5.1); the CNAME is cut to
/// 255 bytes.
pub fn write_sdes_cname(ssrc: u32, cname: &[u8], out: &mut Vec<u8>) {
    let cname = cname.get(..255).unwrap_or(cname);
    // ssrc + type + len + text + at least one null, padded to 32 bits.
    let words = (4 + 2 + cname.len() + 1).div_ceil(4);
    let _ = header(out, SDES, 1, words);
    let start = out.len();
    put32(out, ssrc);
    out.push(SDES_CNAME);
    out.push(cname.len() as u8);
    out.extend_from_slice(cname);
    out.resize(start + words * 4, 0);
}

/// Writes a packet header for `words` 32-bit words of body.
fn header(out: &mut Vec<u8>, pt: u8, count: usize, words: usize) -> Result<usize, RtpError> {
    if count > MAX_COUNT {
        return Err(RtpError::RtcpCount(count));
    }
    let length = u16::try_from(words).map_err(|_| RtpError::RtcpCount(count))?;
    let start = out.len();
    out.reserve(4 + words * 4);
    out.push(0x80 | count as u8);
    out.push(pt);
    out.extend_from_slice(&length.to_be_bytes());
    Ok(start)
}

fn write_blocks(out: &mut Vec<u8>, blocks: &[ReportBlock]) {
    for b in blocks {
        put32(out, b.ssrc);
        let lost = (b.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32) & 0x00ff_ffff;
        put32(out, (u32::from(b.fraction_lost) << 24) | lost);
        put32(out, b.highest_sequence);
        put32(out, b.jitter);
        put32(out, b.last_sr);
        put32(out, b.delay_since_last_sr);
    }
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(ssrc: u32, lost: i32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: 12,
            cumulative_lost: lost,
            highest_sequence: 0x0001_0005,
            jitter: 33,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65536,
        }
    }

    #[test]
    fn compound_sr_sdes_bye_round_trip() {
        let sr = SenderReport {
            ssrc: 0xaabb_ccdd,
            info: SenderInfo {
                ntp_timestamp: 0x0102_0304_0506_0708,
                rtp_timestamp: 160,
                packet_count: 10,
                octet_count: 1600,
            },
            reports: vec![block(1, -3), block(2, 0x7f_ffff)],
        };
        let rr = ReceiverReport {
            ssrc: 7,
            reports: vec![block(9, 5)],
        };
        let bye = Bye {
            ssrcs: vec![0xaabb_ccdd],
            reason: Some(b"done"),
        };
        let mut buf = Vec::new();
        sr.write(&mut buf).unwrap();
        assert_eq!(buf.len(), 28 + 48);
        rr.write(&mut buf).unwrap();
        write_sdes_cname(0xaabb_ccdd, b"sw@example.com", &mut buf);
        bye.write(&mut buf).unwrap();
        assert_eq!(buf.len() % 4, 0);
        let packets = parse_compound(&buf).unwrap();
        assert_eq!(packets.len(), 4);
        assert_eq!(packets[0], RtcpPacket::SenderReport(sr));
        assert_eq!(packets[1], RtcpPacket::ReceiverReport(rr));
        let RtcpPacket::Sdes(chunks) = &packets[2] else {
            panic!("{:?}", packets[2]);
        };
        assert_eq!(chunks[0].ssrc, 0xaabb_ccdd);
        assert_eq!(
            chunks[0].items,
            [SdesItem {
                kind: SDES_CNAME,
                value: b"sw@example.com"
            }]
        );
        assert_eq!(packets[3], RtcpPacket::Bye(bye));
    }

    #[test]
    fn app_other_and_padding() {
        // APP with subtype 3, name "TEST", 4 data bytes, padded by 4.
        let mut buf = vec![
            0xa3, APP, 0, 4, 0, 0, 0, 1, b'T', b'E', b'S', b'T', 1, 2, 3, 4,
        ];
        buf.extend_from_slice(&[0, 0, 0, 4]);
        buf.extend_from_slice(&[0x81, 205, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
        let p = parse_compound(&buf).unwrap();
        assert_eq!(
            p[0],
            RtcpPacket::App(App {
                subtype: 3,
                ssrc: 1,
                name: *b"TEST",
                data: &[1, 2, 3, 4]
            })
        );
        assert!(matches!(
            p[1],
            RtcpPacket::Other {
                packet_type: 205,
                count: 1,
                ..
            }
        ));
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(parse_compound(&[]).is_err());
        assert!(parse_compound(&[0x80, RR, 0, 1, 0, 0]).is_err()); // length past end
        assert!(parse_compound(&[0x40, RR, 0, 0]).is_err()); // version 1
        assert!(parse_compound(&[0x81, RR, 0, 1, 0, 0, 0, 1]).is_err()); // block missing
        assert!(parse_compound(&[0x81, SDES, 0, 1, 0, 0, 0, 1]).is_err()); // no null item
        assert!(parse_compound(&[0xa0, RR, 0, 1, 0, 0, 0, 0]).is_err()); // padding 0
        assert!(parse_compound(&[0x80, BYE, 0, 1, 5, 1, 2, 3]).is_err()); // reason too long
        let too_many = ReceiverReport {
            ssrc: 1,
            reports: vec![ReportBlock::default(); 32],
        };
        assert!(too_many.write(&mut Vec::new()).is_err());
    }
}
