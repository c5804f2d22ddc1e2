//! Body of the `rtp` fuzz target, apart from libFuzzer so that `cargo test -p rtp` replays
//! `fuzz/corpus/rtp` through this very code (`crates/rtp/tests/fuzz_corpus.rs` includes this
//! file, as does `fuzz_targets/rtp.rs`). Panics on a broken invariant, not only on a crash.

/// RTP, RTCP and telephone-event parsing; a parsed RTP packet must write back to its input
/// (padding octets aside), and the DTMF detector and jitter buffer must survive whatever
/// they are fed.
pub fn rtp(data: &[u8]) {
    if let Ok(p) = rtp::RtpPacket::parse(data) {
        let mut out = Vec::new();
        p.write(&mut out).expect("a parsed packet writes");
        // Padding octets other than the count are written as zero (RFC 3550 §5.1 leaves them
        // unspecified), so compare everything else.
        let body = data.len() - usize::from(p.padding);
        assert_eq!(
            out[..body],
            data[..body],
            "RTP write is not the inverse of parse"
        );
        assert_eq!(out.len(), data.len());
        assert_eq!(p.len(), data.len());
        let mut det = rtp::DtmfDetector::new();
        let _ = det.on_packet(p.header.timestamp, p.payload);
    }
    if let Ok(packets) = rtp::parse_compound(data) {
        for packet in packets {
            match packet {
                rtp::RtcpPacket::SenderReport(sr) => {
                    let mut out = Vec::new();
                    sr.write(&mut out).expect("a parsed SR writes");
                    let again = rtp::parse_compound(&out).expect("a written SR parses");
                    assert_eq!(again, [rtp::RtcpPacket::SenderReport(sr)]);
                }
                rtp::RtcpPacket::ReceiverReport(rr) => {
                    let mut out = Vec::new();
                    rr.write(&mut out).expect("a parsed RR writes");
                    let again = rtp::parse_compound(&out).expect("a written RR parses");
                    assert_eq!(again, [rtp::RtcpPacket::ReceiverReport(rr)]);
                }
                _ => {}
            }
        }
    }
    let _ = rtp::TelephoneEvent::parse(data);
    // Every 6 bytes drive the jitter buffer: seq, ts, ssrc bit, time step.
    let start = std::time::Instant::now();
    let mut jb = rtp::JitterBuffer::new(rtp::JitterConfig {
        max_packets: 8,
        ..rtp::JitterConfig::default()
    });
    let mut now = start;
    for c in data.chunks_exact(6) {
        let info = rtp::PacketInfo {
            ssrc: u32::from(c[4] & 1),
            sequence: u16::from_be_bytes([c[0], c[1]]),
            timestamp: u32::from(u16::from_be_bytes([c[2], c[3]])) * 8,
            marker: c[4] & 2 != 0,
            payload_type: 0,
        };
        now += std::time::Duration::from_millis(u64::from(c[5]));
        jb.push(info, (), now);
        assert!(jb.len() <= 8, "jitter buffer exceeds its bound");
        let mut popped = 0;
        while jb.pop(now).is_some() {
            popped += 1;
            assert!(popped < 2000, "jitter buffer pops forever");
        }
    }
}
