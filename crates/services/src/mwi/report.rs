//! What an external voicemail system reports for one user, and how an RFC 3842 body becomes
//! one (pure).
//!
//! A report is full state (RFC 3842 §5.2 bodies are): it replaces the counts and message
//! list the system reported before. Counts come from the `Voice-Message` line (other classes
//! are not voicemail and are ignored). Supplemental information comes from the optional
//! message-header blocks of §5.2, one block per message:
//!
//! ```text
//! Message-ID: <id>                     the system's id (else the block number)
//! From: <sip:1001@pbx.example>         the caller (ANI): the URI's user part, or the value
//! To: <sip:2000@pbx.example>           the number called (DNIS), likewise
//! Date: Tue, 05 Nov 2026 10:42:00 GMT  RFC 2822 date, ISO 8601 `…T…Z`, or Unix ms
//! Subject: …                           optional
//! Priority: urgent                     optional (`urgent` or `emergency` marks it urgent)
//! Message-Status: old                  optional (`new` is the default)
//! ```

use sip_events::summary::{MessageHeaders, MsgClass, Summary};
use store::{MwiCounts, MwiMessage};

use super::MwiError;

/// Most messages kept per (user, system) report.
pub const MAX_MESSAGES: usize = 200;

/// One system's full state for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub system: String,
    /// `user@domain`.
    pub aor: String,
    pub counts: MwiCounts,
    pub messages: Vec<MwiMessage>,
}

impl Report {
    /// Checks the counts' invariants (urgent counts are a subset, RFC 3842 §5.2) and the
    /// size of the message list.
    pub fn validate(&self) -> Result<(), MwiError> {
        let c = self.counts;
        if c.urgent_new > c.new || c.urgent_old > c.old {
            return Err(MwiError::Invalid(
                "urgent counts exceed the new/old counts".into(),
            ));
        }
        if self.messages.len() > MAX_MESSAGES {
            return Err(MwiError::Invalid(format!(
                "at most {MAX_MESSAGES} messages per report"
            )));
        }
        Ok(())
    }
}

/// Counts and messages of an RFC 3842 summary.
pub fn from_summary(s: &Summary) -> (MwiCounts, Vec<MwiMessage>) {
    let counts = s
        .classes
        .iter()
        .find(|(class, _)| *class == MsgClass::Voice)
        .map(|(_, c)| MwiCounts {
            new: c.new,
            old: c.old,
            urgent_new: c.urgent_new,
            urgent_old: c.urgent_old,
        })
        .unwrap_or_default();
    let messages = s
        .messages
        .iter()
        .take(MAX_MESSAGES)
        .enumerate()
        .map(|(i, block)| message(i, block))
        .collect();
    (counts, messages)
}

fn message(index: usize, block: &MessageHeaders) -> MwiMessage {
    let get = |name: &str| {
        block
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let urgent = get("Priority")
        .is_some_and(|p| p.eq_ignore_ascii_case("urgent") || p.eq_ignore_ascii_case("emergency"));
    let new = !get("Message-Status").is_some_and(|s| s.eq_ignore_ascii_case("old"));
    MwiMessage {
        id: get("Message-ID")
            .map(|v| v.trim_matches(|c| c == '<' || c == '>').to_owned())
            .unwrap_or_else(|| (index + 1).to_string()),
        at: get("Date").and_then(parse_time),
        ani: get("From").map(number),
        dnis: get("To").map(number),
        subject: get("Subject").map(str::to_owned),
        urgent,
        new,
    }
}

/// The user part of a `<sip:1001@host>` / `"Name" <tel:+1555>` value, or the value itself.
pub fn number(v: &str) -> String {
    let inner = match (v.find('<'), v.rfind('>')) {
        (Some(a), Some(b)) if a < b => v.get(a + 1..b).unwrap_or(v),
        _ => v,
    };
    let inner = inner.trim();
    let rest = ["sip:", "sips:", "tel:"].iter().find_map(|scheme| {
        inner
            .get(..scheme.len())
            .filter(|p| p.eq_ignore_ascii_case(scheme))
            .and_then(|_| inner.get(scheme.len()..))
    });
    match rest {
        Some(r) => r.split(['@', ';', '?']).next().unwrap_or(r).to_owned(),
        None => inner.to_owned(),
    }
}

/// Unix milliseconds of an RFC 2822 date (`Tue, 05 Nov 2026 10:42:00 GMT`, zone `GMT`, `UT`,
/// `Z` or `±hhmm`), an ISO 8601 UTC time (`2026-11-05T10:42:00Z`), or plain Unix ms.
pub fn parse_time(v: &str) -> Option<i64> {
    let v = v.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse().ok();
    }
    if v.as_bytes().get(4) == Some(&b'-')
        && let Some((date, time)) = v.split_once(['T', 't', ' '])
    {
        let mut d = date.split('-').map(str::parse::<i64>);
        let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
        let time = time
            .strip_suffix('Z')
            .or_else(|| time.strip_suffix("+00:00"))?;
        let secs = hms(time.split('.').next()?)?;
        return Some((days_from_civil(y, m, day)? * 86_400 + secs) * 1000);
    }
    let v = v.split_once(',').map_or(v, |(_, rest)| rest);
    let parts: Vec<&str> = v.split_whitespace().collect();
    let [day, month, year, time, zone @ ..] = parts.as_slice() else {
        return None;
    };
    let m = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]
    .iter()
    .position(|name| month.eq_ignore_ascii_case(name))?;
    let days = days_from_civil(
        year.parse().ok()?,
        i64::try_from(m).ok()? + 1,
        day.parse().ok()?,
    )?;
    let offset = match zone.first().copied().unwrap_or("GMT") {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        z => {
            let sign = match z.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let n: i64 = z.get(1..)?.parse().ok()?;
            sign * ((n / 100) * 3600 + (n % 100) * 60)
        }
    };
    Some((days * 86_400 + hms(time)? - offset) * 1000)
}

fn hms(t: &str) -> Option<i64> {
    let mut p = t.split(':').map(str::parse::<i64>);
    let (h, m) = (p.next()?.ok()?, p.next()?.ok()?);
    let s = p.next().transpose().ok()?.unwrap_or(0);
    ((0..24).contains(&h) && (0..60).contains(&m) && (0..=60).contains(&s))
        .then_some(h * 3600 + m * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1..=9999).contains(&y) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}
