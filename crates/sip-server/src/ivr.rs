//! The task that drives one voicemail IVR call: the pure machine (through
//! `services::voicemail::IvrCall`, which executes its service commands) on one side, the
//! media engine's endpoint on the other, and the SIP core for hang-ups.
//!
//! It runs on the media engine's runtime, not on the SIP thread: the voicemail service
//! awaits the database and files. It only hears from the SIP core through a channel
//! (`TaskIn::HangUp` when the caller sent BYE) and tells it when to hang up (`Note`).
//! Timers of the machine's driver contract (`CollectDigits` timeout counted from the end of
//! the current playback) are kept here.

use std::time::Duration;

use media_server::{Clip, EndpointId, MediaEvent, MediaServer};
use services::voicemail::Voicemail;
use services::voicemail::ivr::{self, Input, Media};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// What the SIP core tells a running IVR task.
#[derive(Debug)]
pub enum TaskIn {
    /// The phone hung up (BYE) or never acknowledged the answer.
    HangUp,
}

/// What an IVR task tells the SIP core.
#[derive(Debug)]
pub enum Note {
    /// End the call (send BYE) — the machine hung up.
    HangUp(u64),
    /// The task is over; forget the call (BYE first if it is still up).
    Done(u64),
    /// A play-on-phone call answered and playback started.
    PlaybackStarted(u64),
    /// An anchored call's relay saw no media for the inactivity timeout (`anchor.rs`).
    RelayInactive(media_server::RelayId),
}

/// Which machine a call runs.
#[derive(Debug, Clone)]
pub enum Kind {
    /// Leave a message in `mailbox` (`user@domain`): ANI `caller`, DNIS `called`.
    Deposit {
        mailbox: String,
        caller: String,
        called: String,
    },
    /// The owner's mailbox menu.
    Access { aor: String },
}

/// Everything a task needs.
pub struct Task {
    pub key: u64,
    pub kind: Kind,
    pub vm: Voicemail,
    pub media: MediaServer,
    pub ep: EndpointId,
    pub events: mpsc::UnboundedReceiver<MediaEvent>,
    pub from_core: mpsc::UnboundedReceiver<TaskIn>,
    pub to_core: mpsc::UnboundedSender<Note>,
    /// Longest call; the call is hung up then.
    pub max: Duration,
}

/// The `CollectDigits` timer (driver contract in `services::voicemail::ivr`).
#[derive(Debug, Clone, Copy)]
enum DigitTimer {
    Off,
    /// Starts counting when the current playback ends.
    AfterPlay(Duration),
    At(Instant),
}

struct Driver {
    playing: bool,
    timer: DigitTimer,
    hung_up: bool,
}

pub async fn run(mut t: Task) {
    let started = match &t.kind {
        Kind::Deposit {
            mailbox,
            caller,
            called,
        } => t.vm.deposit_call(mailbox, caller, called).await,
        Kind::Access { aor } => t.vm.access_call(aor).await,
    };
    let mut call = match started {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "voicemail call could not start");
            let _ = t.media.play(t.ep, vec![Clip::Prompt("vm-error".into())]);
            tokio::time::sleep(Duration::from_secs(2)).await;
            finish(&t, true);
            return;
        }
    };
    let deadline = Instant::now() + t.max;
    let mut d = Driver {
        playing: false,
        timer: DigitTimer::Off,
        hung_up: false,
    };
    let first = call.start().await;
    d.execute(&t, first);
    let mut media_gone = false;
    while !call.is_done() {
        let timer_at = match d.timer {
            DigitTimer::At(at) => at,
            _ => deadline,
        };
        let input = tokio::select! {
            ev = t.events.recv(), if !media_gone => match ev {
                Some(MediaEvent::PlayDone { .. }) => {
                    d.playing = false;
                    if let DigitTimer::AfterPlay(dur) = d.timer {
                        d.timer = DigitTimer::At(Instant::now() + dur);
                    }
                    Input::PlayDone
                }
                Some(MediaEvent::Digit { digit, .. }) => {
                    d.timer = DigitTimer::Off;
                    Input::Digit(digit)
                }
                Some(MediaEvent::Recorded { duration_ms, ok, .. }) => {
                    if !ok {
                        warn!("recording failed");
                    }
                    Input::RecordDone { duration: Duration::from_millis(duration_ms) }
                }
                Some(MediaEvent::MediaTimeout { .. }) => {
                    // The phone is gone: end the call (BYE) as a hang-up.
                    info!(key = t.key, "no RTP from the phone, hanging up");
                    if !d.hung_up {
                        d.hung_up = true;
                        let _ = t.to_core.send(Note::HangUp(t.key));
                    }
                    Input::HangUp
                }
                None => {
                    media_gone = true;
                    if d.hung_up { break } else { Input::HangUp }
                }
            },
            msg = t.from_core.recv(), if !d.hung_up => match msg {
                Some(TaskIn::HangUp) | None => {
                    d.hung_up = true;
                    Input::HangUp
                }
            },
            _ = tokio::time::sleep_until(timer_at) => {
                if Instant::now() >= deadline && !d.hung_up {
                    debug!("voicemail call reached its maximum duration");
                    d.hung_up = true;
                    let _ = t.to_core.send(Note::HangUp(t.key));
                    Input::HangUp
                } else {
                    d.timer = DigitTimer::Off;
                    Input::Timeout
                }
            }
        };
        let hangup = matches!(input, Input::HangUp);
        let cmds = call.input(input).await;
        d.execute(&t, cmds);
        if hangup {
            // Finishes a recording in progress (its `Recorded` event follows).
            t.media.close(t.ep);
            d.hung_up = true;
        }
    }
    finish(&t, !d.hung_up);
    drop(call);
}

fn finish(t: &Task, hang_up: bool) {
    t.media.close(t.ep);
    if hang_up {
        let _ = t.to_core.send(Note::HangUp(t.key));
    }
    let _ = t.to_core.send(Note::Done(t.key));
}

impl Driver {
    fn execute(&mut self, t: &Task, cmds: Vec<Media>) {
        for c in cmds {
            let r = match c {
                Media::Play(clips) => {
                    self.playing = true;
                    t.media.play(t.ep, clips.into_iter().map(clip).collect())
                }
                Media::StopPlay => {
                    self.playing = false;
                    t.media.stop_play(t.ep)
                }
                Media::Record { path, max } => {
                    self.playing = false;
                    let _ = t.media.stop_play(t.ep);
                    t.media.record(t.ep, path, max)
                }
                Media::StopRecord => t.media.stop_record(t.ep),
                Media::CollectDigits { timeout, .. } => {
                    self.timer = if self.playing {
                        DigitTimer::AfterPlay(timeout)
                    } else {
                        DigitTimer::At(Instant::now() + timeout)
                    };
                    Ok(())
                }
                Media::HangUp => {
                    if !self.hung_up {
                        self.hung_up = true;
                        let _ = t.to_core.send(Note::HangUp(t.key));
                    }
                    Ok(())
                }
            };
            if let Err(e) = r {
                debug!(error = %e, "media command on a closed endpoint");
            }
        }
    }
}

fn clip(c: ivr::Clip) -> Clip {
    match c {
        ivr::Clip::Prompt(p) => Clip::Prompt(p.to_owned()),
        ivr::Clip::File(f) => Clip::File(f),
        // `IvrCall` expands numbers and digit strings; keep a pause if one slips through.
        ivr::Clip::Number(_) | ivr::Clip::Digits(_) => Clip::Silence(200),
    }
}

/// A play-on-phone call: play `file` once the phone answered, then hang up.
pub async fn play_on_phone(
    key: u64,
    media: MediaServer,
    ep: EndpointId,
    file: std::path::PathBuf,
    mut events: mpsc::UnboundedReceiver<MediaEvent>,
    mut from_core: mpsc::UnboundedReceiver<TaskIn>,
    to_core: mpsc::UnboundedSender<Note>,
) {
    let _ = media.play(ep, vec![Clip::Silence(300), Clip::File(file)]);
    let _ = to_core.send(Note::PlaybackStarted(key));
    let mut hang_up = true;
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(MediaEvent::PlayDone { .. }) | None => break,
                Some(MediaEvent::MediaTimeout { .. }) => {
                    info!(key, "no RTP from the phone, hanging up");
                    break;
                }
                Some(_) => {}
            },
            _ = from_core.recv() => {
                hang_up = false;
                break;
            }
        }
    }
    media.close(ep);
    if hang_up {
        let _ = to_core.send(Note::HangUp(key));
    }
    let _ = to_core.send(Note::Done(key));
}
