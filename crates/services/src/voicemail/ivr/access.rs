//! The mailbox menu behind the voicemail number: PIN (three tries, also from the owner's own
//! phone), the counts, then
//! - `1` new messages, `2` saved messages, `3` record the greeting, `#` hang up;
//! - while a message plays: `4` replay, `6` next, `7` delete, `9` save, `#` main menu.
//!
//! A new message counts as heard once it played to the end or was skipped or saved.

use std::path::PathBuf;
use std::time::Duration;

use super::{Clip, Command, Input, Item, MIN_RECORDING, Media, Out, Service};
use crate::voicemail::Folder;

/// Longest PIN accepted from the keypad.
const MAX_PIN: usize = 16;
/// Wrong PINs (and silent PIN prompts) before hanging up.
const PIN_TRIES: u8 = 3;
/// Menu prompts without an answer before hanging up.
const MENU_TRIES: u8 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfig {
    /// Where a new greeting is recorded (a `tmp/*.part` file of the mailbox).
    pub greeting_to: PathBuf,
    pub max_greeting: Duration,
    pub min: Duration,
}

impl AccessConfig {
    pub fn new(greeting_to: PathBuf, max_greeting: Duration) -> AccessConfig {
        AccessConfig {
            greeting_to,
            max_greeting,
            min: MIN_RECORDING,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pin,
    CheckingPin,
    Counting,
    Menu,
    Listing(Folder),
    /// A message (announcement, audio, options) plays or waits for a key.
    Playing,
    GreetingPrompt,
    GreetingRecord,
    GreetingStopping {
        hung_up: bool,
    },
    GreetingStoring,
    Closing,
    Done,
}

/// The mailbox access machine.
#[derive(Debug)]
pub struct Access {
    cfg: AccessConfig,
    state: State,
    out: Out,
    pin: String,
    pin_tries: u8,
    menu_tries: u8,
    folder: Folder,
    list: Vec<Item>,
    at: usize,
}

impl Access {
    /// Starts with the PIN prompt.
    pub fn new(cfg: AccessConfig) -> Access {
        let mut a = Access {
            cfg,
            state: State::Pin,
            out: Out::default(),
            pin: String::new(),
            pin_tries: 0,
            menu_tries: 0,
            folder: Folder::New,
            list: Vec::new(),
            at: 0,
        };
        a.ask_pin(&[]);
        a
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    pub fn poll_output(&mut self) -> Option<Command> {
        self.out.pop()
    }

    pub fn handle_input(&mut self, input: Input) {
        if input == Input::HangUp {
            if matches!(self.state, State::GreetingRecord) {
                self.out.media(Media::StopRecord);
                self.state = State::GreetingStopping { hung_up: true };
            } else if let State::GreetingStopping { .. } = self.state {
                self.state = State::GreetingStopping { hung_up: true };
            } else {
                self.state = State::Done;
            }
            return;
        }
        self.state = match self.state {
            State::Pin => self.on_pin(input),
            State::CheckingPin => self.on_pin_checked(input),
            State::Counting => self.on_counts(input),
            State::Menu => self.on_menu(input),
            State::Listing(folder) => self.on_listed(folder, input),
            State::Playing => self.on_playing(input),
            State::GreetingPrompt => self.on_greeting_prompt(input),
            State::GreetingRecord => self.on_greeting_record(input),
            State::GreetingStopping { hung_up } => self.on_greeting_stopped(hung_up, input),
            State::GreetingStoring => self.on_greeting_stored(input),
            State::Closing => match input {
                Input::PlayDone => {
                    self.out.media(Media::HangUp);
                    State::Done
                }
                _ => State::Closing,
            },
            State::Done => State::Done,
        };
    }

    fn ask_pin(&mut self, before: &[&'static str]) {
        let mut p = before.to_vec();
        p.push("vm-enter-pin");
        self.out.prompts(&p);
        self.out.collect(MAX_PIN);
    }

    fn goodbye(&mut self, before: &[&'static str]) -> State {
        let mut p = before.to_vec();
        p.push("vm-goodbye");
        self.out.prompts(&p);
        State::Closing
    }

    fn on_pin(&mut self, input: Input) -> State {
        match input {
            Input::Digit('#') => self.check_pin(),
            Input::Digit('*') => {
                self.pin.clear();
                self.ask_pin(&[]);
                State::Pin
            }
            Input::Digit(d) if d.is_ascii_digit() => {
                if self.pin.is_empty() {
                    self.out.media(Media::StopPlay);
                }
                if self.pin.len() < MAX_PIN {
                    self.pin.push(d);
                }
                self.out.collect(MAX_PIN);
                State::Pin
            }
            Input::Timeout if !self.pin.is_empty() => self.check_pin(),
            Input::Timeout => self.wrong_pin(),
            _ => State::Pin,
        }
    }

    fn check_pin(&mut self) -> State {
        let pin = std::mem::take(&mut self.pin);
        self.out.service(Service::VerifyPin(pin));
        State::CheckingPin
    }

    fn wrong_pin(&mut self) -> State {
        self.pin_tries = self.pin_tries.saturating_add(1);
        if self.pin_tries >= PIN_TRIES {
            return self.goodbye(&["vm-pin-wrong"]);
        }
        self.ask_pin(&["vm-pin-wrong"]);
        State::Pin
    }

    fn on_pin_checked(&mut self, input: Input) -> State {
        match input {
            Input::PinChecked(true) => self.count(),
            Input::PinChecked(false) => self.wrong_pin(),
            Input::Failed => self.goodbye(&["vm-error"]),
            _ => State::CheckingPin,
        }
    }

    fn count(&mut self) -> State {
        self.out.service(Service::Counts);
        State::Counting
    }

    fn on_counts(&mut self, input: Input) -> State {
        match input {
            Input::Counts { new, saved } => {
                self.out.play(vec![
                    Clip::Prompt("vm-you-have"),
                    Clip::Number(new),
                    Clip::Prompt("vm-new-messages"),
                    Clip::Prompt("vm-and"),
                    Clip::Number(saved),
                    Clip::Prompt("vm-saved-messages"),
                    Clip::Prompt("vm-main-menu"),
                ]);
                self.out.collect(1);
                State::Menu
            }
            Input::Failed => self.goodbye(&["vm-error"]),
            _ => State::Counting,
        }
    }

    fn menu(&mut self, before: &[&'static str]) -> State {
        let mut p = before.to_vec();
        p.push("vm-main-menu");
        self.out.prompts(&p);
        self.out.collect(1);
        State::Menu
    }

    fn on_menu(&mut self, input: Input) -> State {
        match input {
            Input::Digit(d @ ('1' | '2')) => {
                self.menu_tries = 0;
                self.out.media(Media::StopPlay);
                let folder = if d == '1' { Folder::New } else { Folder::Saved };
                self.out.service(Service::List(folder));
                State::Listing(folder)
            }
            Input::Digit('3') => {
                self.menu_tries = 0;
                self.out.prompts(&["vm-record-greeting", "beep"]);
                State::GreetingPrompt
            }
            Input::Digit('#') => self.goodbye(&[]),
            Input::Digit(_) => {
                self.menu_tries = 0;
                self.menu(&["vm-invalid"])
            }
            Input::Timeout => {
                self.menu_tries = self.menu_tries.saturating_add(1);
                if self.menu_tries >= MENU_TRIES {
                    self.goodbye(&[])
                } else {
                    self.menu(&[])
                }
            }
            _ => State::Menu,
        }
    }

    fn on_listed(&mut self, folder: Folder, input: Input) -> State {
        match input {
            Input::Listed(items) if items.is_empty() => self.menu(&["vm-no-messages"]),
            Input::Listed(items) => {
                self.folder = folder;
                self.list = items;
                self.at = 0;
                self.play_current(Vec::new())
            }
            Input::Failed => self.menu(&["vm-error"]),
            _ => State::Listing(folder),
        }
    }

    fn play_current(&mut self, mut clips: Vec<Clip>) -> State {
        let Some(item) = self.list.get(self.at) else {
            clips.push(Clip::Prompt("vm-no-more"));
            clips.push(Clip::Prompt("vm-main-menu"));
            self.out.play(clips);
            self.out.collect(1);
            return State::Menu;
        };
        clips.push(Clip::Prompt("vm-message"));
        clips.push(Clip::Number(u32::try_from(self.at + 1).unwrap_or(u32::MAX)));
        let number = caller_digits(&item.caller);
        if !number.is_empty() {
            clips.push(Clip::Prompt("vm-from"));
            clips.push(Clip::Digits(number));
        }
        clips.push(Clip::File(item.path.clone()));
        clips.push(Clip::Prompt("vm-message-options"));
        self.out.play(clips);
        self.out.collect(1);
        State::Playing
    }

    /// Marks the current message heard (once).
    fn heard(&mut self) {
        if let Some(item) = self.list.get_mut(self.at)
            && !item.heard
        {
            item.heard = true;
            self.out.service(Service::MarkHeard(item.id));
        }
    }

    fn next(&mut self, before: &[&'static str]) -> State {
        self.at = self.at.saturating_add(1);
        self.play_current(before.iter().map(|p| Clip::Prompt(p)).collect())
    }

    fn on_playing(&mut self, input: Input) -> State {
        let current = self.list.get(self.at).map(|i| i.id);
        match (input, current) {
            (Input::PlayDone, _) => {
                self.heard();
                State::Playing
            }
            (Input::Digit('4'), _) => {
                self.out.media(Media::StopPlay);
                self.play_current(Vec::new())
            }
            (Input::Digit('6'), _) | (Input::Timeout, _) => {
                self.out.media(Media::StopPlay);
                self.heard();
                self.next(&[])
            }
            (Input::Digit('7'), Some(id)) => {
                self.out.media(Media::StopPlay);
                self.out.service(Service::Delete(id));
                self.next(&["vm-deleted"])
            }
            (Input::Digit('9'), Some(id)) => {
                self.out.media(Media::StopPlay);
                if let Some(item) = self.list.get_mut(self.at) {
                    item.heard = true;
                }
                if self.folder == Folder::Saved {
                    self.out.service(Service::MarkHeard(id));
                } else {
                    self.out.service(Service::Save(id));
                }
                self.next(&["vm-saved"])
            }
            (Input::Digit('#'), _) => {
                self.out.media(Media::StopPlay);
                self.count()
            }
            _ => State::Playing,
        }
    }

    fn on_greeting_prompt(&mut self, input: Input) -> State {
        match input {
            Input::PlayDone | Input::Digit('#') => {
                self.out.media(Media::StopPlay);
                self.out.media(Media::Record {
                    path: self.cfg.greeting_to.clone(),
                    max: self.cfg.max_greeting,
                });
                State::GreetingRecord
            }
            _ => State::GreetingPrompt,
        }
    }

    fn on_greeting_record(&mut self, input: Input) -> State {
        match input {
            Input::Digit('#') => {
                self.out.media(Media::StopRecord);
                State::GreetingStopping { hung_up: false }
            }
            Input::RecordDone { duration } => self.greeting_recorded(duration),
            _ => State::GreetingRecord,
        }
    }

    fn on_greeting_stopped(&mut self, hung_up: bool, input: Input) -> State {
        match input {
            // An unconfirmed greeting (the caller hung up while recording) is not kept.
            Input::RecordDone { .. } if hung_up => {
                self.out.service(Service::DiscardGreeting);
                State::Done
            }
            Input::RecordDone { duration } => self.greeting_recorded(duration),
            _ => State::GreetingStopping { hung_up },
        }
    }

    fn greeting_recorded(&mut self, duration: Duration) -> State {
        if duration < self.cfg.min {
            self.out.service(Service::DiscardGreeting);
            return self.menu(&["vm-too-short"]);
        }
        self.out.service(Service::StoreGreeting { duration });
        State::GreetingStoring
    }

    fn on_greeting_stored(&mut self, input: Input) -> State {
        match input {
            Input::GreetingStored => self.menu(&["vm-greeting-saved"]),
            Input::Failed => self.menu(&["vm-error"]),
            _ => State::GreetingStoring,
        }
    }
}

/// The digits of a caller's number (`sip:+3212345@host` → `3212345`) when its user part is a
/// telephone number; empty for a name.
fn caller_digits(caller: &str) -> String {
    let s = caller.trim().trim_start_matches('<');
    let s = s
        .strip_prefix("sip:")
        .or_else(|| s.strip_prefix("sips:"))
        .or_else(|| s.strip_prefix("tel:"))
        .unwrap_or(s);
    let user = s.split(['@', ';', '>']).next().unwrap_or_default();
    let user = user.strip_prefix('+').unwrap_or(user);
    if !user.is_empty() && user.len() <= 20 && user.bytes().all(|b| b.is_ascii_digit()) {
        user.to_owned()
    } else {
        String::new()
    }
}
