//! Leaving a message: the personal greeting (or the default prompt), a beep, the recording.
//! `#` ends the recording (and skips the greeting); hanging up keeps what was said; a
//! recording shorter than the minimum is discarded; the recorder stops itself at the maximum.

use std::path::PathBuf;
use std::time::Duration;

use super::{Clip, Command, Input, MIN_RECORDING, Media, Out, Service};

/// What a deposit needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositConfig {
    /// The mailbox's greeting (or the operator's default greeting); `None`: the
    /// `vm-unavailable` prompt.
    pub greeting: Option<PathBuf>,
    /// Where the recording goes (a `tmp/*.part` file of the mailbox).
    pub record_to: PathBuf,
    pub max: Duration,
    pub min: Duration,
}

impl DepositConfig {
    pub fn new(greeting: Option<PathBuf>, record_to: PathBuf, max: Duration) -> DepositConfig {
        DepositConfig {
            greeting,
            record_to,
            max,
            min: MIN_RECORDING,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Greeting,
    Recording,
    /// Waiting for `RecordDone` after `StopRecord`.
    Stopping {
        hung_up: bool,
    },
    /// Waiting for `Stored`.
    Storing {
        hung_up: bool,
    },
    /// Saying goodbye; hangs up after `PlayDone`.
    Closing,
    Done,
}

/// The deposit machine.
#[derive(Debug)]
pub struct Deposit {
    cfg: DepositConfig,
    state: State,
    out: Out,
}

impl Deposit {
    /// Starts playing the greeting and the beep.
    pub fn new(cfg: DepositConfig) -> Deposit {
        let mut out = Out::default();
        let greeting = match &cfg.greeting {
            Some(path) => Clip::File(path.clone()),
            None => Clip::Prompt("vm-unavailable"),
        };
        out.play(vec![greeting, Clip::Prompt("beep")]);
        Deposit {
            cfg,
            state: State::Greeting,
            out,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    pub fn poll_output(&mut self) -> Option<Command> {
        self.out.pop()
    }

    pub fn handle_input(&mut self, input: Input) {
        self.state = match (self.state, input) {
            (State::Done, _) => State::Done,
            (State::Greeting, Input::PlayDone) => self.record(),
            (State::Greeting, Input::Digit('#')) => {
                self.out.media(Media::StopPlay);
                self.record()
            }
            (State::Greeting, Input::HangUp) => {
                self.out.service(Service::Discard);
                State::Done
            }
            (State::Recording, Input::Digit('#')) => {
                self.out.media(Media::StopRecord);
                State::Stopping { hung_up: false }
            }
            (State::Recording, Input::HangUp) => {
                self.out.media(Media::StopRecord);
                State::Stopping { hung_up: true }
            }
            (State::Recording, Input::RecordDone { duration }) => self.finish(duration, false),
            (State::Stopping { hung_up }, Input::RecordDone { duration }) => {
                self.finish(duration, hung_up)
            }
            (State::Stopping { .. }, Input::HangUp) => State::Stopping { hung_up: true },
            (State::Storing { hung_up }, Input::Stored(Some(_))) => {
                self.close(hung_up, &["vm-message-saved", "vm-goodbye"])
            }
            (State::Storing { hung_up }, Input::Stored(None)) => {
                self.close(hung_up, &["vm-too-short", "vm-goodbye"])
            }
            (State::Storing { hung_up }, Input::Failed) => {
                self.close(hung_up, &["vm-error", "vm-goodbye"])
            }
            (State::Storing { .. }, Input::HangUp) => State::Storing { hung_up: true },
            (State::Closing, Input::PlayDone) => {
                self.out.media(Media::HangUp);
                State::Done
            }
            (State::Closing, Input::HangUp) => State::Done,
            // Digits other than `#`, and anything unexpected, change nothing.
            (s, _) => s,
        };
    }

    fn record(&mut self) -> State {
        self.out.media(Media::Record {
            path: self.cfg.record_to.clone(),
            max: self.cfg.max,
        });
        State::Recording
    }

    fn finish(&mut self, duration: Duration, hung_up: bool) -> State {
        if duration < self.cfg.min {
            self.out.service(Service::Discard);
            return self.close(hung_up, &["vm-too-short", "vm-goodbye"]);
        }
        self.out.service(Service::StoreMessage { duration });
        State::Storing { hung_up }
    }

    fn close(&mut self, hung_up: bool, prompts: &[&'static str]) -> State {
        if hung_up {
            return State::Done;
        }
        self.out.prompts(prompts);
        State::Closing
    }
}
