//! PIDF presence documents: RFC 3863 (`<presence>`, `<tuple>`, `<status>`, `<basic>`,
//! `<contact>`, `<note>`, `<timestamp>`), the RFC 4479 data model (`dm:person`, `dm:device`,
//! `dm:deviceID`) and the RFC 4480 RPID elements this server acts on (`activities`, `class`,
//! `user-input`, `place-type`), plus RFC 5196 media capabilities (`caps:servcaps`
//! audio/video/text).
//!
//! Parsing is namespace-aware (prefixes vary between clients), strict where RFC 3863 is
//! (`<basic>` is `open` or `closed`, `entity` and tuple `id` are required, an unknown element
//! marked `mustUnderstand` is refused, §4.1.5) and tolerant elsewhere (unknown extension
//! elements are skipped). Input size, element count and depth are bounded; nothing panics.
//! Generation writes the default PIDF namespace and the literal prefixes `dm:`, `rpid:` and
//! `caps:` (baresip's parser is a regex that needs exactly `<basic>` and `<rpid:…>`).
//!
//! Not here: RPID elements without a field below (mood, place-is, privacy, sphere …) are
//! dropped on parse; composition and policy (rollup, privacy filtering) belong to the presence
//! service.

mod read;
mod tree;
mod write;

use thiserror::Error;

/// RFC 3863 §4.1.1: the PIDF namespace.
pub const NS_PIDF: &str = "urn:ietf:params:xml:ns:pidf";
/// RFC 4479 §6: the data-model namespace (`dm:`).
pub const NS_DM: &str = "urn:ietf:params:xml:ns:pidf:data-model";
/// RFC 4480 §5: the RPID namespace (`rpid:`).
pub const NS_RPID: &str = "urn:ietf:params:xml:ns:pidf:rpid";
/// RFC 5196 §4: the service-capabilities namespace (`caps:`).
pub const NS_CAPS: &str = "urn:ietf:params:xml:ns:pidf:caps";
/// RFC 3863 §4.1.1: the MIME type of a PIDF document.
pub const CONTENT_TYPE: &str = "application/pidf+xml";

/// A presence document (RFC 3863 §4.1.1 `<presence>` + RFC 4479 §3 persons and devices).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Document {
    /// The `entity` attribute: the presentity's URI (required).
    pub entity: String,
    /// `<tuple>` elements (services), in document order.
    pub tuples: Vec<Tuple>,
    /// `<dm:person>` elements.
    pub persons: Vec<Person>,
    /// `<dm:device>` elements.
    pub devices: Vec<Device>,
    /// `<note>` children of `<presence>`.
    pub notes: Vec<Note>,
}

/// `<note>` with its optional `xml:lang` (RFC 3863 §4.1.6).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Note {
    /// The text, unescaped.
    pub text: String,
    /// `xml:lang`, if given.
    pub lang: Option<String>,
}

/// `<basic>` status (RFC 3863 §4.1.4): only these two values are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Basic {
    /// `open`: the service can accept communication.
    Open,
    /// `closed`.
    Closed,
}

/// A `<contact>` priority (RFC 3863 §4.1.3): a q-value in thousandths, 0..=1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(pub u16);

/// RFC 5196 §3 media capabilities of a tuple's service (`caps:servcaps`): `None` = not said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct MediaCaps {
    /// `caps:audio`.
    pub audio: Option<bool>,
    /// `caps:video`.
    pub video: Option<bool>,
    /// `caps:text` (real-time text / IM).
    pub text: Option<bool>,
}

/// `<tuple>` (RFC 3863 §4.1.2), a service of the presentity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tuple {
    /// `id` attribute (required; not unique across users, see phones/NOTES.md).
    pub id: String,
    /// `<status><basic>`; a tuple may carry only extension status.
    pub basic: Option<Basic>,
    /// `<contact>` URI.
    pub contact: Option<String>,
    /// `<contact priority="…">`.
    pub priority: Option<Priority>,
    /// `<note>` children.
    pub notes: Vec<Note>,
    /// `<timestamp>` (RFC 3339 text, kept verbatim).
    pub timestamp: Option<String>,
    /// RPID `<class>` (RFC 4480 §3.3).
    pub class: Option<String>,
    /// RFC 4479 `<dm:deviceID>`: the device this service runs on.
    pub device_id: Option<String>,
    /// RFC 4480 `<user-input>` inside `<status>` or the tuple.
    pub user_input: Option<UserInput>,
    /// RFC 5196 media capabilities.
    pub caps: MediaCaps,
}

/// `<dm:person>` (RFC 4479 §3.1, RFC 4480 person elements).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Person {
    /// `id` attribute (required).
    pub id: String,
    /// `<rpid:activities>`; empty when absent or empty (baresip sends `<rpid:activities/>`).
    pub activities: Vec<Activity>,
    /// `<dm:note>` children.
    pub notes: Vec<Note>,
    /// `<rpid:place-type>` text (first token or text content).
    pub place_type: Option<String>,
    /// `<rpid:user-input>`.
    pub user_input: Option<UserInput>,
    /// RPID `<class>`.
    pub class: Option<String>,
    /// `<dm:timestamp>`.
    pub timestamp: Option<String>,
}

/// `<dm:device>` (RFC 4479 §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Device {
    /// `id` attribute (required).
    pub id: String,
    /// `<dm:deviceID>` (a URN; required by RFC 4479, tolerated when missing).
    pub device_id: Option<String>,
    /// `<rpid:user-input>`.
    pub user_input: Option<UserInput>,
    /// `<dm:note>` children.
    pub notes: Vec<Note>,
    /// `<dm:timestamp>`.
    pub timestamp: Option<String>,
}

/// RFC 4480 §3.12 `<user-input>`: whether a human used the device/service recently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserInput {
    /// `active`.
    Active,
    /// `idle` (reachable, nobody at the keyboard).
    Idle,
}

/// RFC 4480 §3.2 activities.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Activity {
    /// `appointment`
    Appointment,
    /// `away`
    Away,
    /// `breakfast`
    Breakfast,
    /// `busy`
    Busy,
    /// `dinner`
    Dinner,
    /// `holiday`
    Holiday,
    /// `in-transit`
    InTransit,
    /// `looking-for-work`
    LookingForWork,
    /// `meal`
    Meal,
    /// `meeting`
    Meeting,
    /// `on-the-phone`
    OnThePhone,
    /// `performance`
    Performance,
    /// `permanent-absence`
    PermanentAbsence,
    /// `playing`
    Playing,
    /// `presentation`
    Presentation,
    /// `shopping`
    Shopping,
    /// `sleeping`
    Sleeping,
    /// `spectator`
    Spectator,
    /// `steering`
    Steering,
    /// `travel`
    Travel,
    /// `tv`
    Tv,
    /// `unknown`
    Unknown,
    /// `vacation`
    Vacation,
    /// `working`
    Working,
    /// `worship`
    Worship,
    /// `<other>text</other>`
    Other(String),
}

/// Why a PIDF document was refused; every variant maps to SIP 400 (or 415 for a body that is
/// not PIDF at all, which the caller decides from the Content-Type).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PidfError {
    /// Not well-formed XML (or a DOCTYPE, which PIDF never needs).
    #[error("malformed XML: {0}")]
    Xml(String),
    /// The root is not `<presence>` in the PIDF namespace.
    #[error("root element is not PIDF <presence>")]
    NotPidf,
    /// `entity` attribute missing (RFC 3863 §4.1.1).
    #[error("missing entity attribute")]
    MissingEntity,
    /// An element that needs an `id` has none (tuple, person, device).
    #[error("<{0}> without id")]
    MissingId(&'static str),
    /// `<basic>` other than `open`/`closed` (RFC 3863 §4.1.4).
    #[error("invalid <basic> value")]
    InvalidBasic,
    /// A value that the schema types (priority, boolean, user-input) does not allow.
    #[error("invalid <{0}> value")]
    InvalidValue(&'static str),
    /// An element marked `mustUnderstand="true"` that is not understood (RFC 3863 §4.1.5).
    #[error("unsupported element marked mustUnderstand: {0}")]
    MustUnderstand(String),
    /// Size, depth or element-count limit exceeded.
    #[error("document exceeds limit: {0}")]
    TooLarge(&'static str),
}

/// Bounds on what `parse_with` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of input.
    pub max_bytes: usize,
    /// Element nesting depth.
    pub max_depth: usize,
    /// Elements in the whole document.
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 64 * 1024,
            max_depth: 16,
            max_elements: 4096,
        }
    }
}

/// Parses a PIDF document with the default [`Limits`].
pub fn parse(input: &[u8]) -> Result<Document, PidfError> {
    parse_with(input, &Limits::default())
}

/// Parses a PIDF document within `limits`.
pub fn parse_with(input: &[u8], limits: &Limits) -> Result<Document, PidfError> {
    let root = tree::build(input, limits)?;
    read::document(&root)
}

impl Document {
    /// A document for `entity` with nothing in it.
    pub fn new(entity: impl Into<String>) -> Self {
        Document {
            entity: entity.into(),
            ..Document::default()
        }
    }

    /// Serialises to PIDF XML with `dm`, `rpid` (and `caps` when used) declared; the output
    /// parses back to an equal document.
    pub fn to_xml(&self) -> String {
        write::document(self)
    }
}

impl Basic {
    /// The RFC 3863 token.
    pub fn as_str(self) -> &'static str {
        match self {
            Basic::Open => "open",
            Basic::Closed => "closed",
        }
    }
}

impl UserInput {
    /// The RFC 4480 token.
    pub fn as_str(self) -> &'static str {
        match self {
            UserInput::Active => "active",
            UserInput::Idle => "idle",
        }
    }
}

impl Priority {
    /// Parses an RFC 3261 q-value (`0`, `0.8`, `1.000` …).
    pub fn parse(s: &str) -> Option<Priority> {
        let s = s.trim();
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let whole: u16 = match int {
            "0" => 0,
            "1" => 1000,
            _ => return None,
        };
        let mut thousandths = 0u16;
        for (i, b) in frac.bytes().enumerate() {
            let scale = [100u16, 10, 1].get(i).copied().unwrap_or(0);
            thousandths += u16::from(b - b'0') * scale;
        }
        if whole == 1000 && thousandths != 0 {
            return None;
        }
        Some(Priority(whole + thousandths))
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            0 => f.write_str("0"),
            v if v >= 1000 => f.write_str("1"),
            v => {
                let digits = format!("{v:03}");
                write!(f, "0.{}", digits.trim_end_matches('0'))
            }
        }
    }
}

/// Token table for [`Activity`] (RFC 4480 §3.2), `Other` excluded.
const ACTIVITIES: &[(Activity, &str)] = &[
    (Activity::Appointment, "appointment"),
    (Activity::Away, "away"),
    (Activity::Breakfast, "breakfast"),
    (Activity::Busy, "busy"),
    (Activity::Dinner, "dinner"),
    (Activity::Holiday, "holiday"),
    (Activity::InTransit, "in-transit"),
    (Activity::LookingForWork, "looking-for-work"),
    (Activity::Meal, "meal"),
    (Activity::Meeting, "meeting"),
    (Activity::OnThePhone, "on-the-phone"),
    (Activity::Performance, "performance"),
    (Activity::PermanentAbsence, "permanent-absence"),
    (Activity::Playing, "playing"),
    (Activity::Presentation, "presentation"),
    (Activity::Shopping, "shopping"),
    (Activity::Sleeping, "sleeping"),
    (Activity::Spectator, "spectator"),
    (Activity::Steering, "steering"),
    (Activity::Travel, "travel"),
    (Activity::Tv, "tv"),
    (Activity::Unknown, "unknown"),
    (Activity::Vacation, "vacation"),
    (Activity::Working, "working"),
    (Activity::Worship, "worship"),
];

impl Activity {
    /// The element name of this activity (`other` for [`Activity::Other`]).
    pub fn token(&self) -> &str {
        ACTIVITIES
            .iter()
            .find(|(a, _)| a == self)
            .map_or("other", |(_, t)| t)
    }

    /// The activity named by an RPID element's local name; `None` for unknown names and for
    /// `other` (whose text the caller supplies).
    pub fn from_token(token: &str) -> Option<Activity> {
        ACTIVITIES
            .iter()
            .find(|(_, t)| *t == token)
            .map(|(a, _)| a.clone())
    }
}
