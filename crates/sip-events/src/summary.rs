//! RFC 3842 `application/simple-message-summary` bodies (message-waiting indication).
//!
//! The body is a status line (`Messages-Waiting: yes|no`), an optional `Message-Account`, one
//! summary line per message-context class (RFC 3458 classes: `Voice-Message: 2/8 (0/2)` =
//! new/old (urgent new/urgent old), urgent counts being a subset of new/old), then optional
//! blocks of message headers, each block after an empty line (§5.2).
//!
//! Parsing is tolerant of header-name case, whitespace around values, CRLF or LF line ends
//! and unknown header lines in the summary part (kept in [`Summary::extra`]); it refuses
//! lines that are not `name: value`, a missing or invalid status line, and malformed counts.
//! Input size is bounded and nothing panics. Not here: which systems hold which messages
//! (the MWI service aggregates) nor the transport.

use thiserror::Error;

/// RFC 3842 §5.1: the MIME type.
pub const CONTENT_TYPE: &str = "application/simple-message-summary";

/// Largest body [`parse`] accepts.
pub const MAX_BYTES: usize = 64 * 1024;

/// A message-context class (RFC 3458 §4.2, the summary-line names of RFC 3842 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MsgClass {
    /// `Voice-Message`
    Voice,
    /// `Fax-Message`
    Fax,
    /// `Pager-Message`
    Pager,
    /// `Multimedia-Message`
    Multimedia,
    /// `Text-Message`
    Text,
    /// `None` (no context class)
    None,
}

/// Counts of one class: `new/old (urgent_new/urgent_old)`; urgent counts are included in the
/// new/old counts (RFC 3842 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Counts {
    /// Messages not yet heard.
    pub new: u32,
    /// Messages heard and kept.
    pub old: u32,
    /// Urgent messages among `new`.
    pub urgent_new: u32,
    /// Urgent messages among `old`.
    pub urgent_old: u32,
}

/// One header block of the optional message headers (`To`, `From`, `Subject`, `Date`,
/// `Priority`, `Message-ID`, …), in order, values trimmed.
pub type MessageHeaders = Vec<(String, String)>;

/// A parsed or composed message-summary body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// `Messages-Waiting: yes`.
    pub waiting: bool,
    /// `Message-Account` URI.
    pub account: Option<String>,
    /// One entry per class, in body order, each class at most once.
    pub classes: Vec<(MsgClass, Counts)>,
    /// Unknown `name: value` lines of the summary part, kept in order.
    pub extra: Vec<(String, String)>,
    /// Optional message header blocks (§5.2 `opt-msg-headers`).
    pub messages: Vec<MessageHeaders>,
}

/// Why a message-summary body was refused (maps to SIP 400).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SummaryError {
    /// Not UTF-8 text.
    #[error("body is not UTF-8")]
    NotText,
    /// Larger than [`MAX_BYTES`].
    #[error("body too large")]
    TooLarge,
    /// No `Messages-Waiting` line.
    #[error("missing Messages-Waiting")]
    MissingStatus,
    /// `Messages-Waiting` neither yes nor no.
    #[error("invalid Messages-Waiting value")]
    InvalidStatus,
    /// A class line whose counts do not parse.
    #[error("invalid counts on line {0}")]
    InvalidCounts(usize),
    /// A line that is not `name: value`.
    #[error("malformed line {0}")]
    Malformed(usize),
}

/// Parses a message-summary body.
pub fn parse(input: &[u8]) -> Result<Summary, SummaryError> {
    if input.len() > MAX_BYTES {
        return Err(SummaryError::TooLarge);
    }
    let text = std::str::from_utf8(input).map_err(|_| SummaryError::NotText)?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut out = Summary::default();
    let mut status = None;
    let mut n = 0usize;
    // Summary part: up to the first empty line after some content.
    for line in lines.by_ref() {
        n += 1;
        if line.trim().is_empty() {
            if status.is_none() && out.extra.is_empty() && out.classes.is_empty() {
                continue; // leading blank lines
            }
            break;
        }
        let (name, value) = header(line).ok_or(SummaryError::Malformed(n))?;
        if name.eq_ignore_ascii_case("Messages-Waiting") {
            status = Some(match value.to_ascii_lowercase().as_str() {
                "yes" => true,
                "no" => false,
                _ => return Err(SummaryError::InvalidStatus),
            });
        } else if name.eq_ignore_ascii_case("Message-Account") {
            out.account = Some(value.to_owned()).filter(|v| !v.is_empty());
        } else if let Some(class) = MsgClass::from_header(name) {
            let counts = Counts::parse(value).ok_or(SummaryError::InvalidCounts(n))?;
            out.set(class, counts);
        } else {
            out.extra.push((name.to_owned(), value.to_owned()));
        }
    }
    out.waiting = status.ok_or(SummaryError::MissingStatus)?;
    // Message header blocks, separated by empty lines.
    let mut block: MessageHeaders = Vec::new();
    for line in lines {
        n += 1;
        if line.trim().is_empty() {
            if !block.is_empty() {
                out.messages.push(std::mem::take(&mut block));
            }
            continue;
        }
        let (name, value) = header(line).ok_or(SummaryError::Malformed(n))?;
        block.push((name.to_owned(), value.to_owned()));
    }
    if !block.is_empty() {
        out.messages.push(block);
    }
    Ok(out)
}

/// `name: value` with a token name; value trimmed.
fn header(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once(':')?;
    let name = name.trim();
    let token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b));
    token.then_some((name, value.trim()))
}

impl MsgClass {
    /// Every class, in RFC 3458 order.
    pub const ALL: [MsgClass; 6] = [
        MsgClass::Voice,
        MsgClass::Fax,
        MsgClass::Pager,
        MsgClass::Multimedia,
        MsgClass::Text,
        MsgClass::None,
    ];

    /// The summary-line header name (`Voice-Message` …).
    pub fn header_name(self) -> &'static str {
        match self {
            MsgClass::Voice => "Voice-Message",
            MsgClass::Fax => "Fax-Message",
            MsgClass::Pager => "Pager-Message",
            MsgClass::Multimedia => "Multimedia-Message",
            MsgClass::Text => "Text-Message",
            MsgClass::None => "None",
        }
    }

    /// The class of a summary-line header name (case-insensitive).
    pub fn from_header(name: &str) -> Option<MsgClass> {
        MsgClass::ALL
            .into_iter()
            .find(|c| c.header_name().eq_ignore_ascii_case(name))
    }
}

impl Counts {
    /// Parses `new/old` or `new/old (urgent_new/urgent_old)`, whitespace-tolerant.
    pub fn parse(value: &str) -> Option<Counts> {
        let (main, urgent) = match value.split_once('(') {
            Some((m, rest)) => {
                let inner = rest.trim_end().strip_suffix(')')?;
                (m, Some(inner))
            }
            None => (value, None),
        };
        let (new, old) = pair(main)?;
        let (urgent_new, urgent_old) = match urgent {
            Some(u) => pair(u)?,
            None => (0, 0),
        };
        Some(Counts {
            new,
            old,
            urgent_new,
            urgent_old,
        })
    }
}

fn pair(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('/')?;
    Some((number(a)?, number(b)?))
}

fn number(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} ({}/{})",
            self.new, self.old, self.urgent_new, self.urgent_old
        )
    }
}

impl Summary {
    /// A summary with no classes; `waiting` as given.
    pub fn new(waiting: bool) -> Self {
        Summary {
            waiting,
            ..Summary::default()
        }
    }

    /// The counts of `class` (zero when absent).
    pub fn counts(&self, class: MsgClass) -> Counts {
        self.classes
            .iter()
            .find(|(c, _)| *c == class)
            .map_or(Counts::default(), |(_, n)| *n)
    }

    /// Sets the counts of `class` (replacing a previous line for it).
    pub fn set(&mut self, class: MsgClass, counts: Counts) {
        match self.classes.iter_mut().find(|(c, _)| *c == class) {
            Some(slot) => slot.1 = counts,
            None => self.classes.push((class, counts)),
        }
    }

    /// Serialises with CRLF line ends; the output parses back to an equal summary (values
    /// are written trimmed; line breaks inside values are replaced by spaces).
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(128);
        let _ = write!(
            out,
            "Messages-Waiting: {}\r\n",
            if self.waiting { "yes" } else { "no" }
        );
        if let Some(a) = &self.account {
            let _ = write!(out, "Message-Account: {}\r\n", clean(a));
        }
        for (class, counts) in &self.classes {
            let _ = write!(out, "{}: {counts}\r\n", class.header_name());
        }
        for (name, value) in &self.extra {
            let _ = write!(out, "{}: {}\r\n", clean(name), clean(value));
        }
        for block in &self.messages {
            out.push_str("\r\n");
            for (name, value) in block {
                let _ = write!(out, "{}: {}\r\n", clean(name), clean(value));
            }
        }
        out
    }
}

/// One line's worth of text: no CR/LF, trimmed.
fn clean(s: &str) -> String {
    s.replace(['\r', '\n'], " ").trim().to_owned()
}
