//! A fixed-depth playout buffer (with re-anchoring at talk-spurt starts): packets go in with
//! their arrival time, frames come out when their playout time has come, in sequence order,
//! with a `Lost` marker for a gap. Time is an input. Handles sequence wraparound, late and
//! duplicate packets, SSRC changes and bounded memory. Does not decode, conceal or
//! time-stretch: callers turn `Lost` into concealment.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Settings of a [`JitterBuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// RTP clock rate of the stream (8000 for G.711).
    pub clock_rate: u32,
    /// Playout delay added to the first packet of a talk spurt.
    pub depth: Duration,
    /// Most packets held; beyond this the oldest are played out early or dropped.
    pub max_packets: usize,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            clock_rate: 8000,
            depth: Duration::from_millis(60),
            max_packets: 50,
        }
    }
}

/// What the buffer needs to know about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketInfo {
    pub ssrc: u32,
    pub sequence: u16,
    pub timestamp: u32,
    pub marker: bool,
    pub payload_type: u8,
}

/// What happened to a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Queued,
    /// Its playout slot has passed.
    Late,
    Duplicate,
    /// A new SSRC or a sequence jump: the buffer was flushed and restarted with it.
    Reset,
}

/// One step of playout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout<T> {
    Frame {
        info: PacketInfo,
        payload: T,
    },
    /// The packet with this sequence number never arrived in time.
    Lost {
        sequence: u16,
    },
}

/// Counters of what the buffer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    pub played: u64,
    pub lost: u64,
    pub late: u64,
    pub duplicate: u64,
    /// Dropped because the buffer was full (the sender runs ahead of playout).
    pub overflow: u64,
    pub resets: u64,
}

/// A sequence jump larger than this (either way) is a restart, not loss or reordering.
const MAX_JUMP: i64 = 1000;
/// Extended sequence numbers start here so that early reordering never goes negative.
const BASE: i64 = 1 << 32;

/// The playout buffer, generic over the payload container.
#[derive(Debug, Clone)]
pub struct JitterBuffer<T> {
    config: JitterConfig,
    ssrc: Option<u32>,
    /// Extended sequence number of the next packet to play.
    next: i64,
    queue: BTreeMap<i64, (PacketInfo, T)>,
    /// Playout reference: the packet with this timestamp plays at this instant.
    anchor: Option<(u32, Instant)>,
    last_played: Option<(i64, u32)>,
    stats: JitterStats,
}

impl<T> JitterBuffer<T> {
    /// An empty buffer.
    pub fn new(config: JitterConfig) -> Self {
        Self {
            config,
            ssrc: None,
            next: BASE,
            queue: BTreeMap::new(),
            anchor: None,
            last_played: None,
            stats: JitterStats::default(),
        }
    }

    /// Accepts one packet that arrived at `arrival`.
    pub fn push(&mut self, info: PacketInfo, payload: T, arrival: Instant) -> PushOutcome {
        let mut outcome = PushOutcome::Queued;
        if self.ssrc.is_some_and(|s| s != info.ssrc) {
            self.restart();
            self.stats.resets += 1;
            outcome = PushOutcome::Reset;
        }
        if self.ssrc.is_none() {
            self.ssrc = Some(info.ssrc);
            self.next = BASE + i64::from(info.sequence);
            self.anchor = Some((info.timestamp, arrival + self.config.depth));
            self.queue.insert(self.next, (info, payload));
            return outcome;
        }
        let ext = self.next + i64::from(info.sequence.wrapping_sub(self.next as u16) as i16);
        if (ext - self.next).abs() > MAX_JUMP {
            self.restart();
            self.stats.resets += 1;
            return match self.push(info, payload, arrival) {
                PushOutcome::Queued => PushOutcome::Reset,
                other => other,
            };
        }
        if ext < self.next {
            self.stats.late += 1;
            return PushOutcome::Late;
        }
        if self.queue.contains_key(&ext) {
            self.stats.duplicate += 1;
            return PushOutcome::Duplicate;
        }
        if self.queue.is_empty() {
            // Start of a talk spurt, or a timestamp jump after silence: play this packet
            // `depth` from now instead of when the old reference says.
            let due = self.due(info.timestamp);
            let latest = arrival + self.config.depth * 2;
            if info.marker || due.is_none_or(|d| d > latest) {
                self.anchor = Some((info.timestamp, arrival + self.config.depth));
                self.next = ext;
            }
        }
        if self.queue.len() >= self.config.max_packets.max(1)
            && let Some((oldest, _)) = self.queue.pop_first()
        {
            self.stats.overflow += 1;
            self.next = oldest + 1;
            if ext < self.next {
                self.stats.late += 1;
                return PushOutcome::Late;
            }
        }
        self.queue.insert(ext, (info, payload));
        outcome
    }

    /// The next frame or loss whose playout time is at or before `now`. A loss is only
    /// reported when a later packet is waiting; an empty buffer (silence, or the end of the
    /// stream) gives `None`.
    pub fn pop(&mut self, now: Instant) -> Option<Playout<T>> {
        let (&ext, (info, _)) = self.queue.first_key_value()?;
        if ext == self.next {
            let due = self.due(info.timestamp)?;
            if due > now {
                return None;
            }
            let (_, (info, payload)) = self.queue.pop_first()?;
            self.next += 1;
            self.anchor = Some((info.timestamp, due));
            self.last_played = Some((ext, info.timestamp));
            self.stats.played += 1;
            return Some(Playout::Frame { info, payload });
        }
        // A gap before `ext`: interpolate the missing packet's timestamp.
        let missing_ts = match self.last_played {
            Some((last_ext, last_ts)) if last_ext < self.next => {
                let span = i64::from(info.timestamp.wrapping_sub(last_ts) as i32);
                let steps = (self.next - last_ext) as i128;
                let total = (ext - last_ext) as i128;
                last_ts.wrapping_add((span as i128 * steps / total.max(1)) as i32 as u32)
            }
            _ => {
                let frame = self.config.clock_rate / 50;
                let back = (ext - self.next) as u32;
                info.timestamp.wrapping_sub(frame.wrapping_mul(back))
            }
        };
        if self.due(missing_ts)? > now {
            return None;
        }
        let sequence = self.next as u16;
        self.next += 1;
        self.stats.lost += 1;
        Some(Playout::Lost { sequence })
    }

    /// When the packet with `timestamp` is due, from the current reference.
    fn due(&self, timestamp: u32) -> Option<Instant> {
        let (ts, at) = self.anchor?;
        let delta = i64::from(timestamp.wrapping_sub(ts) as i32);
        let nanos = delta.unsigned_abs() as u128 * 1_000_000_000
            / u128::from(self.config.clock_rate.max(1));
        let offset = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        if delta >= 0 {
            at.checked_add(offset)
        } else {
            Some(at.checked_sub(offset).unwrap_or(at))
        }
    }

    fn restart(&mut self) {
        self.queue.clear();
        self.ssrc = None;
        self.anchor = None;
        self.last_played = None;
    }

    /// Packets currently held.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// What the buffer has done so far.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(seq: u16, ts: u32) -> PacketInfo {
        PacketInfo {
            ssrc: 1,
            sequence: seq,
            timestamp: ts,
            marker: false,
            payload_type: 0,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Pops everything due at `now`, as (seq, lost?).
    fn drain(jb: &mut JitterBuffer<u16>, now: Instant) -> Vec<(u16, bool)> {
        std::iter::from_fn(|| jb.pop(now))
            .map(|p| match p {
                Playout::Frame { info, .. } => (info.sequence, false),
                Playout::Lost { sequence } => (sequence, true),
            })
            .collect()
    }

    #[test]
    fn reorders_and_waits_for_depth() {
        let t = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        assert_eq!(jb.push(info(10, 0), 10, t), PushOutcome::Queued);
        assert_eq!(jb.push(info(12, 320), 12, t + ms(30)), PushOutcome::Queued);
        assert_eq!(jb.push(info(11, 160), 11, t + ms(35)), PushOutcome::Queued);
        assert_eq!(drain(&mut jb, t + ms(59)), []);
        assert_eq!(drain(&mut jb, t + ms(60)), [(10, false)]);
        assert_eq!(drain(&mut jb, t + ms(100)), [(11, false), (12, false)]);
        assert_eq!(jb.push(info(11, 160), 11, t + ms(101)), PushOutcome::Late);
        assert!(jb.is_empty());
    }

    #[test]
    fn gap_becomes_lost_when_its_slot_passes() {
        let t = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        jb.push(info(1, 0), 1, t);
        jb.push(info(4, 480), 4, t + ms(60));
        assert_eq!(drain(&mut jb, t + ms(60)), [(1, false)]);
        assert_eq!(drain(&mut jb, t + ms(80)), [(2, true)]);
        assert_eq!(drain(&mut jb, t + ms(100)), [(3, true)]);
        assert_eq!(
            jb.push(info(4, 480), 4, t + ms(101)),
            PushOutcome::Duplicate
        );
        assert_eq!(drain(&mut jb, t + ms(120)), [(4, false)]);
        // Nothing waiting: no endless losses.
        assert_eq!(drain(&mut jb, t + ms(1000)), []);
        let s = jb.stats();
        assert_eq!((s.played, s.lost, s.duplicate), (2, 2, 1));
    }

    #[test]
    fn sequence_wraparound() {
        let t = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        for (i, seq) in [65534u16, 0, 65535, 1].into_iter().enumerate() {
            let ts = u32::from(seq.wrapping_sub(65534)) * 160;
            jb.push(info(seq, ts), seq, t + ms(i as u64));
        }
        assert_eq!(
            drain(&mut jb, t + ms(200)),
            [(65534, false), (65535, false), (0, false), (1, false)]
        );
    }

    #[test]
    fn ssrc_change_and_jump_reset() {
        let t = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default());
        jb.push(info(1, 0), 1, t);
        jb.push(info(2, 160), 2, t);
        let mut other = info(500, 9999);
        other.ssrc = 2;
        assert_eq!(jb.push(other, 500, t + ms(10)), PushOutcome::Reset);
        assert_eq!(jb.len(), 1);
        assert_eq!(drain(&mut jb, t + ms(70)), [(500, false)]);
        let mut far = info(30000, 0);
        far.ssrc = 2;
        assert_eq!(jb.push(far, 30000, t + ms(80)), PushOutcome::Reset);
        assert_eq!(drain(&mut jb, t + ms(140)), [(30000, false)]);
    }

    #[test]
    fn talk_spurt_reanchors_and_memory_is_bounded() {
        let t = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig {
            max_packets: 4,
            ..JitterConfig::default()
        });
        jb.push(info(1, 0), 1, t);
        assert_eq!(drain(&mut jb, t + ms(60)), [(1, false)]);
        // Silence (DTX) for 10 s, then a marked packet far ahead in timestamp.
        let mut spurt = info(2, 80_000);
        spurt.marker = true;
        jb.push(spurt, 2, t + ms(10_000));
        assert_eq!(drain(&mut jb, t + ms(10_059)), []);
        assert_eq!(drain(&mut jb, t + ms(10_060)), [(2, false)]);
        for seq in 3..20u16 {
            jb.push(
                info(seq, 80_000 + 160 * u32::from(seq - 2)),
                seq,
                t + ms(10_061),
            );
            assert!(jb.len() <= 4);
        }
        assert_eq!(jb.stats().overflow, 13);
        assert_eq!(drain(&mut jb, t + ms(20_000)).len(), 4);
    }
}
