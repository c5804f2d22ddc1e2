//! Playback of PCM clips as a paced sequence of 20 ms frames.
//!
//! A playback is a list of clips (e.g. prompt + message + prompt) played back to back as one
//! continuous stream: a frame may span the end of one clip and the start of the next, and the
//! last frame is padded with silence. Frame `k` of a playback started at `t0` is due at
//! `t0 + k × 20 ms`; the playback is done when the last frame's audio has been played out,
//! at `t0 + frames × 20 ms`, which is when [`Played::Done`] is returned. A late caller gets
//! every overdue frame at once (with its original due time, so RTP timestamps stay exact).
//!
//! Does not: encode or send (the [`Session`](crate::Session) does), decode files.

use std::time::Instant;

use crate::{Clip, FRAME_SAMPLES, PTIME};

/// Caller-chosen identity of one playback, echoed in its done/stopped event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PlayId(pub u64);

/// What [`Player::next`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Played {
    /// A frame was written into the buffer; `first` marks the start of a talkspurt.
    Frame {
        /// When this frame is due on the wire.
        due: Instant,
        /// First frame of this playback (RTP marker bit, RFC 3551 §4.1).
        first: bool,
    },
    /// The playback ended (all of its audio has been played out).
    Done(PlayId),
}

#[derive(Debug)]
struct Playback {
    id: PlayId,
    clips: Vec<Clip>,
    clip: usize,
    offset: usize,
    start: Instant,
    frames: u32,
    exhausted: bool,
}

/// Plays clips as paced frames; see the module doc.
#[derive(Debug, Default)]
pub struct Player {
    current: Option<Playback>,
}

impl Player {
    /// An idle player.
    pub fn new() -> Self {
        Player::default()
    }

    /// Starts playing `clips` now, replacing (and returning the id of) any current playback.
    pub fn play(&mut self, now: Instant, id: PlayId, clips: Vec<Clip>) -> Option<PlayId> {
        let old = self.stop();
        self.current = Some(Playback {
            id,
            clips,
            clip: 0,
            offset: 0,
            start: now,
            frames: 0,
            exhausted: false,
        });
        old
    }

    /// Stops the current playback, returning its id.
    pub fn stop(&mut self) -> Option<PlayId> {
        self.current.take().map(|p| p.id)
    }

    /// Whether a playback is in progress.
    pub fn is_playing(&self) -> bool {
        self.current.is_some()
    }

    /// When [`Player::next`] has something to return.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.current.as_ref().map(|p| p.due(p.frames))
    }

    /// Writes the next due frame into `frame`, or reports the end of the playback; `None` when
    /// nothing is due at `now`.
    pub fn next(&mut self, now: Instant, frame: &mut [i16; FRAME_SAMPLES]) -> Option<Played> {
        let playback = self.current.as_mut()?;
        let due = playback.due(playback.frames);
        if due > now {
            return None;
        }
        if playback.exhausted || !playback.fill(frame) {
            let id = playback.id;
            self.current = None;
            return Some(Played::Done(id));
        }
        let first = playback.frames == 0;
        playback.frames = playback.frames.saturating_add(1);
        Some(Played::Frame { due, first })
    }
}

impl Playback {
    fn due(&self, frame: u32) -> Instant {
        self.start + PTIME * frame
    }

    /// Copies the next frame's samples (padding with silence); false when no sample is left.
    fn fill(&mut self, frame: &mut [i16; FRAME_SAMPLES]) -> bool {
        let mut written = 0;
        while written < FRAME_SAMPLES {
            let Some(clip) = self.clips.get(self.clip) else {
                break;
            };
            let rest = clip.get(self.offset..).unwrap_or_default();
            let n = rest.len().min(FRAME_SAMPLES - written);
            if let (Some(dst), Some(src)) = (frame.get_mut(written..written + n), rest.get(..n)) {
                dst.copy_from_slice(src);
            }
            written += n;
            self.offset += n;
            if self.offset >= clip.len() {
                self.clip += 1;
                self.offset = 0;
            }
        }
        if written == 0 {
            return false;
        }
        if let Some(tail) = frame.get_mut(written..) {
            tail.fill(0);
        }
        self.exhausted = self.clip >= self.clips.len();
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn clip(len: usize, value: i16) -> Clip {
        vec![value; len].into()
    }

    #[test]
    fn frames_span_clips_and_the_last_is_padded() {
        let t0 = Instant::now();
        let mut p = Player::new();
        p.play(t0, PlayId(1), vec![clip(100, 1), clip(100, 2)]);
        let mut f = [0i16; FRAME_SAMPLES];
        assert_eq!(
            p.next(t0, &mut f),
            Some(Played::Frame {
                due: t0,
                first: true
            })
        );
        assert_eq!((f[99], f[100], f[159]), (1, 2, 2));
        assert_eq!(p.next(t0, &mut f), None);
        let t1 = t0 + PTIME;
        assert_eq!(
            p.next(t1, &mut f),
            Some(Played::Frame {
                due: t1,
                first: false
            })
        );
        assert_eq!((f[39], f[40]), (2, 0));
        assert_eq!(p.poll_timeout(), Some(t0 + PTIME * 2));
        assert_eq!(
            p.next(t0 + PTIME * 2, &mut f),
            Some(Played::Done(PlayId(1)))
        );
        assert!(!p.is_playing());
    }

    #[test]
    fn an_empty_playback_is_done_at_once() {
        let t0 = Instant::now();
        let mut p = Player::new();
        p.play(t0, PlayId(7), vec![]);
        let mut f = [0i16; FRAME_SAMPLES];
        assert_eq!(p.next(t0, &mut f), Some(Played::Done(PlayId(7))));
    }

    #[test]
    fn replacing_returns_the_old_id() {
        let t0 = Instant::now();
        let mut p = Player::new();
        p.play(t0, PlayId(1), vec![clip(800, 1)]);
        assert_eq!(p.play(t0, PlayId(2), vec![clip(800, 1)]), Some(PlayId(1)));
        assert_eq!(p.stop(), Some(PlayId(2)));
        assert_eq!(p.stop(), None);
    }
}
