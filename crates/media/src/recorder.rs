//! Recording one leg's incoming audio as continuous 8 kHz PCM.
//!
//! Packets go through `rtp`'s jitter buffer (reordering, duplicates, late packets); every
//! 20 ms the frames whose playout time has come are decoded and appended. The output follows
//! the sender's RTP timeline: a lost packet becomes a frame of silence, and a timestamp jump
//! (silence suppression, RFC 3551 §4.1) up to 10 s becomes that much silence, so the
//! recording lasts as long as the caller spoke, gaps included.
//!
//! A recording ends on [`Recorder::stop`] (command, stop digit, hang-up: everything already
//! received is kept, and with a stop digit the audio from the digit's start onwards is cut,
//! so the `#` tone is not in the message) or when it reaches its maximum duration (also
//! enforced by time, for a caller who sends nothing).
//!
//! Timestamps are in the codec's RTP clock (8 kHz for G.711, 48 kHz for Opus); the PCM is
//! always 8 kHz, one sample per [`Codec::ts_per_sample`] timestamp units. A lost packet is
//! handed to the decoder's concealment (Opus PLC; silence for G.711).
//!
//! Does not: write files (the I/O side turns [`Recorded::Pcm`] chunks into a WAV file),
//! conceal losses beyond silence, resample.

use std::time::{Duration, Instant};

use rtp::{JitterBuffer, JitterConfig, PacketInfo, Playout, RtpPacket};

use crate::codec::{Decoder, G711Codecs};
use crate::{Codec, FRAME_SAMPLES, PTIME};

/// A timestamp jump up to this long is filled with silence; larger ones are a new timeline
/// (SSRC change, sender restart) and are joined without a gap.
const MAX_GAP_SECS: u32 = 10;

/// How a recording is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordConfig {
    /// Longest recording.
    pub max: Duration,
    /// A DTMF digit that ends the recording (`Some('#')` for voicemail).
    pub stop_digit: Option<char>,
    /// Jitter buffer playout delay (default 200 ms: latency does not matter for a recording,
    /// completeness does).
    pub jitter_depth: Duration,
}

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig {
            max: Duration::from_secs(180),
            stop_digit: Some('#'),
            jitter_depth: Duration::from_millis(200),
        }
    }
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordStop {
    /// Stopped by command.
    Command,
    /// The stop digit was pressed.
    Digit(char),
    /// The caller hung up (what was said is kept).
    Hangup,
    /// The maximum duration was reached.
    MaxDuration,
}

/// What [`Recorder::poll`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The next chunk of PCM.
    Pcm(Vec<i16>),
    /// The recording is complete: `samples` in total.
    Finished {
        /// Total samples emitted.
        samples: u64,
        /// Why it ended.
        reason: RecordStop,
    },
}

/// Records one leg; see the module doc.
#[derive(Debug)]
pub struct Recorder {
    decoder: Box<dyn Decoder>,
    /// RTP timestamp units per PCM sample.
    ts_per_sample: u32,
    max_gap: u32,
    jitter: JitterBuffer<Vec<u8>>,
    next_tick: Instant,
    deadline: Instant,
    next_ts: Option<u32>,
    last_len: usize,
    samples: u64,
    max_samples: u64,
    pending: Vec<i16>,
    stopped: Option<RecordStop>,
    finished: bool,
    stop_digit: Option<char>,
}

impl Recorder {
    /// Starts recording at `now`, decoding G.711 `codec` (Opus records silence: use
    /// [`Recorder::with_decoder`]).
    pub fn new(now: Instant, codec: Codec, cfg: RecordConfig) -> Self {
        Self::with_decoder(now, codec, crate::codec::decoder(&G711Codecs, codec), cfg)
    }

    /// Starts recording at `now` a stream of `codec` decoded by `decoder`.
    pub fn with_decoder(
        now: Instant,
        codec: Codec,
        decoder: Box<dyn Decoder>,
        cfg: RecordConfig,
    ) -> Self {
        let config = JitterConfig {
            clock_rate: codec.clock_rate(),
            depth: cfg.jitter_depth,
            ..JitterConfig::default()
        };
        let max_samples = u64::try_from(cfg.max.as_millis())
            .unwrap_or(u64::MAX)
            .saturating_mul(8);
        Recorder {
            decoder,
            ts_per_sample: codec.ts_per_sample().max(1),
            max_gap: MAX_GAP_SECS * codec.clock_rate(),
            jitter: JitterBuffer::new(config),
            next_tick: now + PTIME,
            deadline: now + cfg.max + cfg.jitter_depth + PTIME,
            next_ts: None,
            last_len: FRAME_SAMPLES,
            samples: 0,
            max_samples,
            pending: Vec::new(),
            stopped: None,
            finished: false,
            stop_digit: cfg.stop_digit,
        }
    }

    /// Accepts an audio packet that arrived at `now`.
    pub fn on_audio(&mut self, now: Instant, packet: &RtpPacket<'_>) {
        if self.stopped.is_some() {
            return;
        }
        let h = &packet.header;
        let info = PacketInfo {
            ssrc: h.ssrc,
            sequence: h.sequence,
            timestamp: h.timestamp,
            marker: h.marker,
            payload_type: h.payload_type,
        };
        self.jitter.push(info, packet.payload.to_vec(), now);
    }

    /// Ends the recording now, keeping everything received; with `until`, audio at or after
    /// that RTP timestamp is cut (the stop digit's tone).
    pub fn stop(&mut self, reason: RecordStop, until: Option<u32>) {
        if self.stopped.is_some() {
            return;
        }
        self.stopped = Some(reason);
        let far = self.deadline + Duration::from_secs(3600);
        while let Some(playout) = self.jitter.pop(far) {
            self.play(playout, until);
        }
        self.limit();
    }

    /// The digit that ends this recording, if any.
    pub fn stop_digit(&self) -> Option<char> {
        self.stop_digit
    }

    /// Whether the recording has ended and reported so.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// When [`Recorder::poll`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            None
        } else if self.stopped.is_some() {
            Some(self.next_tick - PTIME)
        } else {
            Some(self.next_tick.min(self.deadline))
        }
    }

    /// The next PCM chunk or the end of the recording, if any at `now`.
    pub fn poll(&mut self, now: Instant) -> Option<Recorded> {
        if self.finished {
            return None;
        }
        if self.stopped.is_none() {
            if now >= self.next_tick {
                while self.next_tick <= now {
                    self.next_tick += PTIME;
                }
                while let Some(playout) = self.jitter.pop(now) {
                    self.play(playout, None);
                }
                self.limit();
            }
            if now >= self.deadline {
                self.stop(RecordStop::MaxDuration, None);
            }
        }
        if !self.pending.is_empty() {
            self.samples += self.pending.len() as u64;
            return Some(Recorded::Pcm(std::mem::take(&mut self.pending)));
        }
        let reason = self.stopped?;
        self.finished = true;
        Some(Recorded::Finished {
            samples: self.samples,
            reason,
        })
    }

    fn play(&mut self, playout: Playout<Vec<u8>>, until: Option<u32>) {
        match playout {
            Playout::Frame { info, payload } => {
                let ts = info.timestamp;
                if let Some(expected) = self.next_ts {
                    let gap = ts.wrapping_sub(expected);
                    if gap > 0 && gap <= self.max_gap {
                        self.silence(expected, (gap / self.ts_per_sample) as usize, until);
                    }
                }
                let mut pcm = Vec::with_capacity(payload.len().max(FRAME_SAMPLES));
                self.decoder.decode(&payload, &mut pcm);
                self.last_len = pcm.len().max(1);
                self.next_ts = Some(ts.wrapping_add(self.units(pcm.len())));
                pcm.truncate(self.keep(ts, pcm.len(), until));
                self.pending.extend_from_slice(&pcm);
            }
            Playout::Lost { .. } => {
                let ts = self.next_ts.unwrap_or(0);
                let n = self.keep(ts, self.last_len, until);
                self.decoder.conceal(n, &mut self.pending);
                let len = self.units(self.last_len);
                self.next_ts = self.next_ts.map(|t| t.wrapping_add(len));
            }
        }
    }

    fn silence(&mut self, ts: u32, len: usize, until: Option<u32>) {
        let n = self.keep(ts, len, until);
        self.pending.resize(self.pending.len() + n, 0);
    }

    /// `samples` of PCM in RTP timestamp units.
    fn units(&self, samples: usize) -> u32 {
        (samples as u32).wrapping_mul(self.ts_per_sample)
    }

    /// How many of `len` samples starting at RTP timestamp `ts` lie before `until`.
    fn keep(&self, ts: u32, len: usize, until: Option<u32>) -> usize {
        keep(ts, len, until, self.ts_per_sample)
    }

    /// Cuts at the maximum duration and stops there.
    fn limit(&mut self) {
        let total = self.samples + self.pending.len() as u64;
        if total >= self.max_samples {
            let allowed = self.max_samples.saturating_sub(self.samples);
            self.pending
                .truncate(usize::try_from(allowed).unwrap_or(usize::MAX));
            if self.stopped.is_none() {
                self.stopped = Some(RecordStop::MaxDuration);
            }
        }
    }
}

/// How many of `len` samples (each `per` timestamp units) starting at `ts` lie before
/// `until`.
fn keep(ts: u32, len: usize, until: Option<u32>, per: u32) -> usize {
    match until {
        None => len,
        Some(until) => {
            let before = until.wrapping_sub(ts) as i32;
            usize::try_from(before / per.max(1) as i32)
                .unwrap_or(0)
                .min(len)
        }
    }
}
