//! The voicemail IVR as pure state machines (GUIDE rule 2): feed one [`Input`] with
//! `handle_input`, then drain `poll_output` for [`Command`]s. No I/O, no clock: digits,
//! the end of a playback or recording, timer expiry and hang-up come in as inputs; what to
//! play, record or store goes out as commands.
//!
//! Two machines: [`Deposit`] (a caller leaves a message) and [`Access`] (the owner calls
//! the voicemail number: PIN, menu, playback, greeting). [`Command::Service`] commands are
//! executed by [`super::IvrCall`], which feeds their results back; [`Command::Media`]
//! commands are for the media engine.
//!
//! Driver contract for media:
//! - `Play(clips)` replaces whatever plays; `PlayDone` is sent when the list finished (not
//!   when it was stopped by `StopPlay`, a new `Play`, or `Record`).
//! - `Record { path, max }` writes a WAV file; `RecordDone { duration }` is sent once,
//!   whether it ended by `StopRecord`, by reaching `max`, or because the caller hung up.
//! - `CollectDigits { timeout, .. }` arms one timer: `Timeout` is sent when no digit arrived
//!   within `timeout` after the current playback finished (or after the command when
//!   nothing plays). A digit or a newer `CollectDigits` disarms it. Every DTMF digit is
//!   sent as `Digit` whether or not a timer is armed.
//! - After `HangUp` (or `Input::HangUp`) the machine is done once `is_done()`.

mod access;
mod deposit;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

pub use access::{Access, AccessConfig};
pub use deposit::{Deposit, DepositConfig};

use super::{Folder, MessageId};

/// Something to play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clip {
    /// A prompt by name (`prompts::PROMPTS`).
    Prompt(&'static str),
    /// A WAV file: a message or a greeting.
    File(PathBuf),
    /// A number spoken as words (`prompts::number`).
    Number(u32),
    /// A dialled string spoken digit by digit (`prompts::digits`).
    Digits(String),
}

/// A message as the access menu sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: MessageId,
    pub path: PathBuf,
    /// The caller (ANI) as stored.
    pub caller: String,
    pub heard: bool,
}

/// What happens to the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The current `Play` list finished.
    PlayDone,
    /// A DTMF digit (`0`–`9`, `*`, `#`, `A`–`D`).
    Digit(char),
    /// The recording ended (stopped, at its maximum, or by hang-up).
    RecordDone { duration: Duration },
    /// The `CollectDigits` timer expired.
    Timeout,
    /// The caller hung up.
    HangUp,
    /// Answer to `Service::VerifyPin`.
    PinChecked(bool),
    /// Answer to `Service::Counts`: unheard and saved messages.
    Counts { new: u32, saved: u32 },
    /// Answer to `Service::List`.
    Listed(Vec<Item>),
    /// Answer to `Service::StoreMessage`: the id, or `None` when the recording was
    /// discarded (too short).
    Stored(Option<MessageId>),
    /// Answer to `Service::StoreGreeting`.
    GreetingStored,
    /// A service command failed.
    Failed,
}

/// What the media engine does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    Play(Vec<Clip>),
    StopPlay,
    Record {
        path: PathBuf,
        max: Duration,
    },
    StopRecord,
    /// `max`: how many digits the machine wants at most (informational; every digit is sent
    /// as it comes).
    CollectDigits {
        max: usize,
        timeout: Duration,
    },
    HangUp,
}

/// What the voicemail service does (executed by `IvrCall`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    VerifyPin(String),
    Counts,
    List(Folder),
    MarkHeard(MessageId),
    Save(MessageId),
    Delete(MessageId),
    /// Keep the deposit recording (answered with `Stored`).
    StoreMessage {
        duration: Duration,
    },
    /// Drop the deposit recording.
    Discard,
    /// Keep the recorded greeting (answered with `GreetingStored` or `Failed`).
    StoreGreeting {
        duration: Duration,
    },
    DiscardGreeting,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Media(Media),
    Service(Service),
}

/// How long a caller has to press a key after a menu.
pub const MENU_TIMEOUT: Duration = Duration::from_secs(8);
/// Recordings shorter than this are not kept.
pub const MIN_RECORDING: Duration = Duration::from_secs(1);

/// Common output queue.
#[derive(Debug, Default)]
struct Out(std::collections::VecDeque<Command>);

impl Out {
    fn media(&mut self, m: Media) {
        self.0.push_back(Command::Media(m));
    }

    fn service(&mut self, s: Service) {
        self.0.push_back(Command::Service(s));
    }

    fn play(&mut self, clips: Vec<Clip>) {
        self.media(Media::Play(clips));
    }

    fn prompts(&mut self, names: &[&'static str]) {
        self.play(names.iter().map(|n| Clip::Prompt(n)).collect());
    }

    fn collect(&mut self, max: usize) {
        self.media(Media::CollectDigits {
            max,
            timeout: MENU_TIMEOUT,
        });
    }

    fn pop(&mut self) -> Option<Command> {
        self.0.pop_front()
    }
}
