//! Receive-side statistics (RFC 3550 §6.4.1, Appendix A.1, A.3, A.8): sequence tracking
//! with wraparound and probation, loss counts, interarrival jitter, report blocks; and
//! send-side counters for SRs. Time is an input; nothing here reads a clock.

use std::time::{Duration, Instant};

use crate::rtcp::{ReportBlock, SenderInfo};

/// What [`ReceiveStats::on_packet`] made of a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqStatus {
    /// In order or acceptably reordered: counted.
    Valid,
    /// Source not yet validated (A.1 probation); counted once validated.
    Probation,
    /// A large jump: counted only if the next packet confirms the new sequence (A.1).
    BadSequence,
    /// The source restarted its sequence; statistics were reset.
    Restarted,
}

/// Packets in sequence needed before a source is valid (A.1 `MIN_SEQUENTIAL`).
const MIN_SEQUENTIAL: u32 = 2;
/// Largest forward jump still taken as loss (A.1 `MAX_DROPOUT`).
const MAX_DROPOUT: u16 = 3000;
/// Largest backward step still taken as reordering (A.1 `MAX_MISORDER`).
const MAX_MISORDER: u16 = 100;
const SEQ_MOD: u32 = 1 << 16;

/// Reception statistics for one source.
#[derive(Debug, Clone)]
pub struct ReceiveStats {
    clock_rate: u32,
    started: bool,
    max_seq: u16,
    /// Shifted count of sequence number wraps.
    cycles: u32,
    base_seq: u32,
    /// Sequence number that would confirm a jump (A.1 `bad_seq`), > 0xffff when none.
    bad_seq: u32,
    probation: u32,
    received: u64,
    expected_prior: u64,
    received_prior: u64,
    /// Reference instant for arrival times in timestamp units.
    epoch: Option<Instant>,
    transit: Option<i64>,
    /// Jitter scaled by 16 (A.8, integer form).
    jitter_q4: u64,
}

impl ReceiveStats {
    /// Statistics for a source whose RTP clock runs at `clock_rate` Hz.
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate,
            started: false,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: SEQ_MOD + 1,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            epoch: None,
            transit: None,
            jitter_q4: 0,
        }
    }

    /// Accounts one received packet (A.1 `update_seq`, A.8 jitter). Callers may still use
    /// packets reported as `Probation`; `BadSequence` ones are better dropped.
    pub fn on_packet(&mut self, sequence: u16, rtp_timestamp: u32, arrival: Instant) -> SeqStatus {
        let status = self.update_seq(sequence);
        if matches!(status, SeqStatus::Valid | SeqStatus::Restarted) {
            self.update_jitter(rtp_timestamp, arrival);
        }
        status
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    fn update_seq(&mut self, seq: u16) -> SeqStatus {
        if !self.started {
            self.started = true;
            self.init_seq(seq);
            self.max_seq = seq.wrapping_sub(1);
            self.probation = MIN_SEQUENTIAL;
        }
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return SeqStatus::Valid;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SeqStatus::Probation;
        }
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(SEQ_MOD);
            }
            self.max_seq = seq;
        } else if u32::from(udelta) <= SEQ_MOD - u32::from(MAX_MISORDER) {
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets after a jump: the source restarted (A.1).
                self.init_seq(seq);
                self.received += 1;
                self.transit = None;
                return SeqStatus::Restarted;
            }
            self.bad_seq = (u32::from(seq) + 1) & (SEQ_MOD - 1);
            return SeqStatus::BadSequence;
        }
        // Otherwise a duplicate or reordered packet: counted, max unchanged.
        self.received += 1;
        SeqStatus::Valid
    }

    fn update_jitter(&mut self, rtp_timestamp: u32, arrival: Instant) {
        let epoch = *self.epoch.get_or_insert(arrival);
        let elapsed = arrival.saturating_duration_since(epoch);
        let arrival_ts = (elapsed.as_nanos() * u128::from(self.clock_rate) / 1_000_000_000) as i64;
        // Only differences matter; wrap the RTP timestamp into the same 32-bit space.
        let transit = (arrival_ts as u32).wrapping_sub(rtp_timestamp) as i32 as i64;
        if let Some(prev) = self.transit {
            let d = (transit - prev).unsigned_abs();
            // J += (|D| - J) / 16, kept scaled by 16 (A.8).
            self.jitter_q4 = self.jitter_q4 + d - ((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    /// Extended highest sequence number received (cycles in the high 16 bits).
    pub fn extended_highest(&self) -> u32 {
        self.cycles | u32::from(self.max_seq)
    }

    /// Packets expected since the source became valid.
    pub fn expected(&self) -> u64 {
        if !self.started || self.probation > 0 {
            return 0;
        }
        (u64::from(self.cycles) + u64::from(self.max_seq) + 1)
            .saturating_sub(u64::from(self.base_seq))
    }

    /// Packets received since the source became valid (duplicates included, as A.3).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Cumulative packets lost (expected − received; negative with duplicates).
    pub fn cumulative_lost(&self) -> i64 {
        self.expected() as i64 - self.received as i64
    }

    /// Interarrival jitter estimate in timestamp units (A.8).
    pub fn jitter(&self) -> u32 {
        u32::try_from(self.jitter_q4 >> 4).unwrap_or(u32::MAX)
    }

    /// A report block for `ssrc`; computes fraction lost since the previous call (A.3).
    /// `last_sr` / `delay_since_last_sr` come from the caller's SR bookkeeping.
    pub fn report_block(
        &mut self,
        ssrc: u32,
        last_sr: u32,
        delay_since_last_sr: u32,
    ) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.saturating_sub(self.expected_prior);
        let received_interval = self.received.saturating_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost().clamp(-0x80_0000, 0x7f_ffff) as i32,
            highest_sequence: self.extended_highest(),
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        }
    }
}

/// Send-side counters for sender reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendStats {
    pub packets: u32,
    pub octets: u32,
    pub last_rtp_timestamp: u32,
}

impl SendStats {
    /// Counts one sent packet carrying `payload_len` bytes.
    pub fn on_sent(&mut self, payload_len: usize, rtp_timestamp: u32) {
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload_len as u32);
        self.last_rtp_timestamp = rtp_timestamp;
    }

    /// Sender info for an SR; `since_unix_epoch` is the wall clock, an input.
    pub fn sender_info(&self, since_unix_epoch: Duration) -> SenderInfo {
        SenderInfo {
            ntp_timestamp: ntp_timestamp(since_unix_epoch),
            rtp_timestamp: self.last_rtp_timestamp,
            packet_count: self.packets,
            octet_count: self.octets,
        }
    }
}

/// NTP timestamp (RFC 3550 §4) of a wall-clock time given as time since the Unix epoch.
pub fn ntp_timestamp(since_unix_epoch: Duration) -> u64 {
    const UNIX_TO_NTP: u64 = 2_208_988_800;
    let secs = since_unix_epoch.as_secs().wrapping_add(UNIX_TO_NTP);
    let frac = (u64::from(since_unix_epoch.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probation_then_loss_and_wraparound() {
        let t = Instant::now();
        let mut s = ReceiveStats::new(8000);
        assert_eq!(s.on_packet(65530, 0, t), SeqStatus::Probation);
        assert_eq!(s.on_packet(65531, 160, t), SeqStatus::Valid);
        for seq in [65532u16, 65533, 65535, 0, 1, 3] {
            assert_eq!(s.on_packet(seq, 0, t), SeqStatus::Valid);
        }
        // 65531..=3 is 9 packets, 7 received.
        assert_eq!(s.expected(), 9);
        assert_eq!(s.received(), 7);
        assert_eq!(s.cumulative_lost(), 2);
        assert_eq!(s.extended_highest(), 0x1_0003);
        let b = s.report_block(42, 0, 0);
        assert_eq!(b.fraction_lost, (2 * 256 / 9) as u8);
        assert_eq!(b.cumulative_lost, 2);
        // The next interval with no loss reports 0.
        s.on_packet(4, 0, t);
        assert_eq!(s.report_block(42, 0, 0).fraction_lost, 0);
        // A late packet and a duplicate count as received (loss can go negative, A.3).
        s.on_packet(2, 0, t);
        assert_eq!(s.cumulative_lost(), 1);
        s.on_packet(4, 0, t);
        s.on_packet(4, 0, t);
        assert_eq!(s.cumulative_lost(), -1);
    }

    #[test]
    fn large_jump_needs_confirmation() {
        let t = Instant::now();
        let mut s = ReceiveStats::new(8000);
        s.on_packet(10, 0, t);
        s.on_packet(11, 0, t);
        assert_eq!(s.on_packet(20000, 0, t), SeqStatus::BadSequence);
        assert_eq!(s.on_packet(20001, 0, t), SeqStatus::Restarted);
        assert_eq!(s.expected(), 1);
        assert_eq!(s.on_packet(20002, 0, t), SeqStatus::Valid);
        assert_eq!(s.cumulative_lost(), 0);
    }

    #[test]
    fn jitter_follows_a8() {
        let t0 = Instant::now();
        let mut s = ReceiveStats::new(8000);
        // Perfectly paced packets: no jitter.
        for i in 0..10u32 {
            let at = t0 + Duration::from_millis(20 * u64::from(i));
            s.on_packet(i as u16, i * 160, at);
        }
        assert_eq!(s.jitter(), 0);
        // Alternate 10 ms early/late: |D| = 80 samples each time; J converges towards 80.
        for i in 10..400u32 {
            let skew = if i % 2 == 0 { 10 } else { 0 };
            let at = t0 + Duration::from_millis(20 * u64::from(i) + skew);
            s.on_packet(i as u16, i * 160, at);
        }
        assert!((75..=80).contains(&s.jitter()), "{}", s.jitter());
    }

    #[test]
    fn ntp_and_sender_info() {
        assert_eq!(ntp_timestamp(Duration::ZERO), 2_208_988_800u64 << 32);
        assert_eq!(
            ntp_timestamp(Duration::from_millis(500)) & 0xffff_ffff,
            0x8000_0000
        );
        let mut s = SendStats::default();
        s.on_sent(160, 320);
        s.on_sent(160, 480);
        let i = s.sender_info(Duration::from_secs(1));
        assert_eq!(
            (i.packet_count, i.octet_count, i.rtp_timestamp),
            (2, 320, 480)
        );
    }
}
