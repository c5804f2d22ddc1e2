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

/// Reception statistics for one source.
#[derive(Debug, Clone)]
pub struct ReceiveStats {
    clock_rate: u32,
}

impl ReceiveStats {
    /// Statistics for a source whose RTP clock runs at `clock_rate` Hz.
    pub fn new(clock_rate: u32) -> Self {
        Self { clock_rate }
    }

    /// Accounts one received packet.
    pub fn on_packet(&mut self, sequence: u16, rtp_timestamp: u32, arrival: Instant) -> SeqStatus {
        let _ = (sequence, rtp_timestamp, arrival, self.clock_rate);
        SeqStatus::Valid
    }

    /// Extended highest sequence number received (cycles in the high 16 bits).
    pub fn extended_highest(&self) -> u32 {
        0
    }

    /// Packets expected since the first one.
    pub fn expected(&self) -> u64 {
        0
    }

    /// Packets received (including duplicates, as A.3 counts them).
    pub fn received(&self) -> u64 {
        0
    }

    /// Cumulative packets lost (expected − received; negative with duplicates).
    pub fn cumulative_lost(&self) -> i64 {
        0
    }

    /// Interarrival jitter estimate in timestamp units (A.8).
    pub fn jitter(&self) -> u32 {
        0
    }

    /// A report block for `ssrc`; computes fraction lost since the previous call (A.3).
    /// `last_sr` / `delay_since_last_sr` come from the caller's SR bookkeeping.
    pub fn report_block(
        &mut self,
        ssrc: u32,
        last_sr: u32,
        delay_since_last_sr: u32,
    ) -> ReportBlock {
        ReportBlock {
            ssrc,
            last_sr,
            delay_since_last_sr,
            ..ReportBlock::default()
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
