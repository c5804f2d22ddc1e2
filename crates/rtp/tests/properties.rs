//! Property tests: RTP write∘parse round trip, G.711 laws, RTCP round trip, and arbitrary
//! bytes never panicking any parser.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../fuzz/src/rtp.rs"]
mod target;

use proptest::prelude::*;
use rtp::{
    Csrcs, Extension, G711, ReceiverReport, ReportBlock, RtcpPacket, RtpHeader, RtpPacket,
    SenderInfo, SenderReport, parse_compound,
};

prop_compose! {
    fn header()(pt in 0u8..128, seq: u16, ts: u32, ssrc: u32, marker: bool,
                csrcs in proptest::collection::vec(any::<u32>(), 0..=15)) -> RtpHeader {
        let mut h = RtpHeader::new(pt, seq, ts, ssrc);
        h.marker = marker;
        h.csrcs = Csrcs::new(&csrcs).unwrap();
        h
    }
}

prop_compose! {
    fn block()(ssrc: u32, fraction_lost: u8, lost in -0x80_0000i32..=0x7f_ffff,
               highest_sequence: u32, jitter: u32, last_sr: u32, dlsr: u32) -> ReportBlock {
        ReportBlock { ssrc, fraction_lost, cumulative_lost: lost, highest_sequence, jitter,
                      last_sr, delay_since_last_sr: dlsr }
    }
}

proptest! {
    #[test]
    fn rtp_write_then_parse_is_identity(
        mut h in header(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        ext in proptest::option::of((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..16))),
        padding in 0u8..=255,
    ) {
        let ext_data: Option<(u16, Vec<u8>)> = ext.map(|(p, mut d)| { d.truncate(d.len() / 4 * 4); (p, d) });
        h.extension = ext_data.is_some();
        h.padding = padding != 0;
        let p = RtpPacket {
            header: h,
            extension: ext_data.as_ref().map(|(profile, data)| Extension { profile: *profile, data }),
            payload: &payload,
            padding,
        };
        let mut out = Vec::new();
        p.write(&mut out).unwrap();
        prop_assert_eq!(out.len(), p.len());
        prop_assert_eq!(RtpPacket::parse(&out).unwrap(), p);
        let mut fixed = vec![0u8; out.len()];
        prop_assert_eq!(p.write_to(&mut fixed).unwrap(), out.len());
        prop_assert_eq!(fixed, out);
    }

    #[test]
    fn rtp_parse_then_write_is_identity(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        target::rtp(&data);
    }

    #[test]
    fn rtcp_round_trip(ssrc: u32, ntp: u64, rtp_ts: u32, packets: u32, octets: u32,
                       sr_blocks in proptest::collection::vec(block(), 0..=31),
                       rr_blocks in proptest::collection::vec(block(), 0..=31)) {
        let sr = SenderReport {
            ssrc,
            info: SenderInfo { ntp_timestamp: ntp, rtp_timestamp: rtp_ts, packet_count: packets, octet_count: octets },
            reports: sr_blocks,
        };
        let rr = ReceiverReport { ssrc, reports: rr_blocks };
        let mut buf = Vec::new();
        sr.write(&mut buf).unwrap();
        rr.write(&mut buf).unwrap();
        rtp::write_sdes_cname(ssrc, b"cname", &mut buf);
        let parsed = parse_compound(&buf).unwrap();
        prop_assert_eq!(&parsed[0], &RtcpPacket::SenderReport(sr));
        prop_assert_eq!(&parsed[1], &RtcpPacket::ReceiverReport(rr));
        prop_assert_eq!(parsed.len(), 3);
    }

    #[test]
    fn g711_decode_encode_is_stable(sample: i16) {
        for law in [G711::Ulaw, G711::Alaw] {
            let code = law.encode_sample(sample);
            let back = law.decode_sample(code);
            // Re-encoding a decoded value gives the same code (quantisation is idempotent).
            prop_assert_eq!(law.encode_sample(back), code);
            // And the quantised value keeps the sign (zero aside).
            prop_assert!(i32::from(back) * i32::from(sample) >= 0 || sample.unsigned_abs() < 16);
        }
    }
}

#[test]
fn g711_every_code_round_trips_through_slices() {
    let codes: Vec<u8> = (0..=255).collect();
    for law in [G711::Ulaw, G711::Alaw] {
        let mut pcm = Vec::new();
        law.decode(&codes, &mut pcm);
        let mut again = Vec::new();
        law.encode(&pcm, &mut again);
        let expected: Vec<u8> = codes
            .iter()
            .map(|&c| {
                if law == G711::Ulaw && c == 0x7f {
                    0xff
                } else {
                    c
                }
            })
            .collect();
        assert_eq!(again, expected, "{law:?}");
    }
}
