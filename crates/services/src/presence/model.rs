//! The vocabulary of presence: service classes, per-class states, the sources a person's
//! presence is built from (devices, publications, calls, CAS sessions, the user's own status
//! and call handling mode), rollup policies and authorization answers. Pure: no locks, no
//! store, no clock.

use std::fmt;

use sip_events::pidf::Activity;

/// The service classes presence is reported for (issue 4: voice, video, IM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Classes {
    pub voice: bool,
    pub video: bool,
    pub im: bool,
}

impl Classes {
    /// A device that only publishes and declares nothing: it takes calls.
    pub const VOICE: Classes = Classes {
        voice: true,
        video: false,
        im: false,
    };
    /// A registered phone that declares nothing (RFC 3840 tags): calls and MESSAGE, as the
    /// SIP face assumes.
    pub const PHONE: Classes = Classes {
        voice: true,
        video: false,
        im: true,
    };

    pub fn has(self, class: Class) -> bool {
        match class {
            Class::Voice => self.voice,
            Class::Video => self.video,
            Class::Im => self.im,
        }
    }
}

/// One service class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    Voice,
    Video,
    Im,
}

impl Class {
    pub const ALL: [Class; 3] = [Class::Voice, Class::Video, Class::Im];

    /// The name used in replies and as the PIDF tuple id.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Voice => "voice",
            Class::Video => "video",
            Class::Im => "im",
        }
    }
}

/// A registered device as the SIP face describes it: `key` is opaque (never shown to anyone)
/// and must be the same for a device's registration and its PUBLISHes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub key: String,
    pub classes: Classes,
}

/// What the call engine says about one call of a user. Watchers only ever learn "busy" and
/// the RPID activity `on-the-phone`, never who is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallActivity {
    Ringing,
    OnCall,
    OnHold,
}

/// The state of one service class, ordered from least to most available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum State {
    /// No device (or session) for that class: nobody can be reached.
    #[default]
    Offline,
    /// Reachable but occupied: on a call, ringing, do-not-disturb, in a meeting.
    Busy,
    /// Reachable but not there: manual away, out of office.
    Away,
    /// Reachable and idle.
    Available,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Offline => "offline",
            State::Busy => "busy",
            State::Away => "away",
            State::Available => "available",
        }
    }
}

/// The status a user sets by hand (CAS `presence.set`); `None` in the model = automatic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Manual {
    /// Explicitly available: devices and calls decide, as with no status.
    Available,
    Away,
    Busy,
    /// Do not disturb: shown as busy.
    Dnd,
}

impl Manual {
    pub const ALL: [Manual; 4] = [Manual::Available, Manual::Away, Manual::Busy, Manual::Dnd];

    pub fn as_str(self) -> &'static str {
        match self {
            Manual::Available => "available",
            Manual::Away => "away",
            Manual::Busy => "busy",
            Manual::Dnd => "dnd",
        }
    }

    pub fn parse(s: &str) -> Option<Manual> {
        Manual::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// What the user's call handling mode (`services::callmode`) means for presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ModeEffect {
    /// `available` and `custom`: nothing.
    #[default]
    None,
    /// `meeting`: busy, activity `meeting`.
    Meeting,
    /// `out_of_office`: away, activity `away`.
    OutOfOffice,
    /// `extended_absence`: away, activity `vacation`.
    ExtendedAbsence,
}

impl ModeEffect {
    pub fn of(mode: crate::callmode::Mode) -> ModeEffect {
        use crate::callmode::Mode;
        match mode {
            Mode::Available | Mode::Custom => ModeEffect::None,
            Mode::Meeting => ModeEffect::Meeting,
            Mode::OutOfOffice => ModeEffect::OutOfOffice,
            Mode::ExtendedAbsence => ModeEffect::ExtendedAbsence,
        }
    }
}

/// How a watcher wants the classes summarised (issue 4 "Rollup").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Rollup {
    /// One state: the most available class.
    MostAvailable,
    /// One state; `semi-available` when available on some but not all classes that have a
    /// device (docs/cas-guide.md, "Presence").
    SemiAvailable,
    /// Every class, plus IM, mobile, note and activities.
    #[default]
    Compound,
}

impl Rollup {
    pub const ALL: [Rollup; 3] = [
        Rollup::MostAvailable,
        Rollup::SemiAvailable,
        Rollup::Compound,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rollup::MostAvailable => "most-available",
            Rollup::SemiAvailable => "semi-available",
            Rollup::Compound => "compound",
        }
    }

    /// `most-available`, `semi-available` or `compound` (`_` accepted for `-`).
    pub fn parse(s: &str) -> Option<Rollup> {
        let s = s.trim().replace('_', "-").to_ascii_lowercase();
        Rollup::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Rollup::MostAvailable => 0,
            Rollup::SemiAvailable => 1,
            Rollup::Compound => 2,
        }
    }
}

/// May this watcher see this presentity?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Authz {
    Allow,
    /// The presentity has not decided yet (RFC 6665 `Subscription-State: pending`).
    Pending,
    Deny,
}

impl Authz {
    pub fn as_str(self) -> &'static str {
        match self {
            Authz::Allow => "allow",
            Authz::Pending => "pending",
            Authz::Deny => "deny",
        }
    }
}

/// The summary of one person as watchers see it (the compound view; rollups derive from it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct View {
    pub voice: State,
    pub video: State,
    pub im: State,
    /// A CAS client declared itself mobile.
    pub mobile: bool,
    /// The user's note (CAS), or else the newest note a device published.
    pub note: Option<String>,
    /// RPID activities (RFC 4480 §3.2), sorted by token, without duplicates.
    pub activities: Vec<Activity>,
}

impl View {
    pub fn class(&self, class: Class) -> State {
        match class {
            Class::Voice => self.voice,
            Class::Video => self.video,
            Class::Im => self.im,
        }
    }
}

/// One rolled-up state word: a [`State`] or `semi-available`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Summary {
    State(State),
    SemiAvailable,
}

impl Summary {
    pub fn as_str(self) -> &'static str {
        match self {
            Summary::State(s) => s.as_str(),
            Summary::SemiAvailable => "semi-available",
        }
    }

    /// Reachable at all (PIDF `basic` open).
    pub fn is_open(self) -> bool {
        self != Summary::State(State::Offline)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a PUBLISH was refused (RFC 3903 §6); the SIP face maps it with [`PublishError::status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// `SIP-If-Match` names no live publication of this presentity (§6 step 4).
    #[error("unknown entity tag")]
    UnknownEtag,
    /// `Expires` below the minimum (§6 step 5); the answer carries `Min-Expires`.
    #[error("publication interval too brief, at least {min} s")]
    IntervalTooBrief { min: u32 },
    /// An initial PUBLISH without a body (§6 step 6).
    #[error("an initial publication needs a body")]
    MissingBody,
}

impl PublishError {
    /// The SIP status code (RFC 3903 §6).
    pub fn status(&self) -> u16 {
        match self {
            PublishError::UnknownEtag => 412,
            PublishError::IntervalTooBrief { .. } => 423,
            PublishError::MissingBody => 400,
        }
    }
}

/// A PUBLISH as the SIP face hands it over: `etag` from `SIP-If-Match`, `expires` as granted
/// by the `Expires` header (or the default), `doc` the parsed body (none for a refresh or
/// removal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReq {
    pub etag: Option<String>,
    pub expires: u32,
    pub doc: Option<sip_events::pidf::Document>,
}

/// A PUBLISH accepted: the new entity tag (`SIP-ETag`) and the granted `Expires`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub etag: String,
    pub expires: u32,
}
