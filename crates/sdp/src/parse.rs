//! Parsing SDP text (RFC 8866 §9 grammar) into a [`Session`]. Tolerant where real bodies
//! deviate harmlessly (LF-only line ends, a missing final line end, trailing whitespace),
//! strict on structure: `v=0` first, then `o=`, `s=`, at least one `t=`, known type letters
//! in the §5 order, `c=` at session level or in every media section. Sizes are bounded by
//! [`Limits`]; nothing here panics on any input.

use crate::session::{Attribute, Bandwidth, Connection, Media, MediaKind, Origin, Session, Timing};

/// Bounds applied while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_media: usize,
    /// Attributes per level (session or one media section).
    pub max_attributes: usize,
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024,
            max_media: 32,
            max_attributes: 256,
            max_line: 4096,
        }
    }
}

/// Why a body is not a valid session description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("body is not UTF-8")]
    NotUtf8,
    #[error("body exceeds the limit of {0}")]
    TooLarge(&'static str),
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: &'static str },
    #[error("missing required line {0}=")]
    Missing(char),
    #[error("line {line}: {kind}= not allowed here")]
    Order { line: usize, kind: char },
    #[error("media section {0} has no connection data")]
    NoConnection(usize),
}

/// Parses `input` with default [`Limits`].
pub fn parse(input: impl AsRef<[u8]>) -> Result<Session, SdpError> {
    parse_with(input.as_ref(), &Limits::default())
}

/// Parses `input` under `limits`.
pub fn parse_with(input: &[u8], limits: &Limits) -> Result<Session, SdpError> {
    if input.len() > limits.max_bytes {
        return Err(SdpError::TooLarge("body size"));
    }
    let text = std::str::from_utf8(input).map_err(|_| SdpError::NotUtf8)?;
    let mut p = Parser::default();
    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.len() > limits.max_line {
            return Err(SdpError::TooLarge("line length"));
        }
        if raw.trim().is_empty() {
            continue;
        }
        let syntax = |reason| SdpError::Syntax { line, reason };
        if raw.contains(['\r', '\0']) {
            return Err(syntax("CR or NUL inside a line"));
        }
        let mut chars = raw.chars();
        let (Some(kind), Some('=')) = (chars.next(), chars.next()) else {
            return Err(syntax("expected <type>="));
        };
        let value = chars.as_str();
        p.line(line, kind, value, limits)?;
    }
    p.finish()
}

/// What has been read so far.
#[derive(Default)]
struct Parser {
    version: bool,
    origin: Option<Origin>,
    session: Option<Session>,
    media: Option<Media>,
}

impl Parser {
    fn line(
        &mut self,
        line: usize,
        kind: char,
        value: &str,
        limits: &Limits,
    ) -> Result<(), SdpError> {
        let syntax = |reason| SdpError::Syntax { line, reason };
        let order = SdpError::Order { line, kind };
        // `s=` keeps its value verbatim ("s= " is the customary empty name).
        let trimmed = if kind == 's' { value } else { value.trim_end() };
        if !self.version {
            if kind != 'v' {
                return Err(SdpError::Missing('v'));
            }
            if trimmed != "0" {
                return Err(syntax("version must be 0"));
            }
            self.version = true;
            return Ok(());
        }
        let Some(session) = self.session.as_mut() else {
            return self.preamble(line, kind, trimmed);
        };
        if kind == 'm' {
            if let Some(m) = self.media.take() {
                session.media.push(m);
            }
            if session.media.len() >= limits.max_media {
                return Err(SdpError::TooLarge("media sections"));
            }
            self.media = Some(media_line(trimmed).ok_or_else(|| syntax("bad m= line"))?);
            return Ok(());
        }
        if let Some(m) = self.media.as_mut() {
            match kind {
                'i' if m.title.is_none() => m.title = Some(trimmed.into()),
                'c' if m.connection.is_none() => {
                    m.connection = Some(connection(trimmed).ok_or_else(|| syntax("bad c= line"))?);
                }
                'b' => m
                    .bandwidths
                    .push(bandwidth(trimmed).ok_or_else(|| syntax("bad b= line"))?),
                'k' if m.key.is_none() => m.key = Some(trimmed.into()),
                'a' => {
                    if m.attributes.len() >= limits.max_attributes {
                        return Err(SdpError::TooLarge("attributes"));
                    }
                    m.attributes
                        .push(attribute(trimmed).ok_or_else(|| syntax("bad a= line"))?);
                }
                _ => return Err(order),
            }
            return Ok(());
        }
        let s = session;
        match kind {
            'i' if s.info.is_none() => s.info = Some(trimmed.into()),
            'u' if s.uri.is_none() => s.uri = Some(trimmed.into()),
            'e' => s.emails.push(trimmed.into()),
            'p' => s.phones.push(trimmed.into()),
            'c' if s.connection.is_none() => {
                s.connection = Some(connection(trimmed).ok_or_else(|| syntax("bad c= line"))?);
            }
            'b' => s
                .bandwidths
                .push(bandwidth(trimmed).ok_or_else(|| syntax("bad b= line"))?),
            't' => {
                if s.times.len() >= limits.max_attributes {
                    return Err(SdpError::TooLarge("t= lines"));
                }
                s.times
                    .push(timing(trimmed).ok_or_else(|| syntax("bad t= line"))?);
            }
            'r' => match s.times.last_mut() {
                Some(t) if !trimmed.is_empty() => t.repeats.push(trimmed.into()),
                _ => return Err(order),
            },
            'z' if s.zone.is_none() => s.zone = Some(trimmed.into()),
            'k' if s.key.is_none() => s.key = Some(trimmed.into()),
            'a' => {
                if s.attributes.len() >= limits.max_attributes {
                    return Err(SdpError::TooLarge("attributes"));
                }
                s.attributes
                    .push(attribute(trimmed).ok_or_else(|| syntax("bad a= line"))?);
            }
            _ => return Err(order),
        }
        Ok(())
    }

    /// `o=` then `s=`, before anything else.
    fn preamble(&mut self, line: usize, kind: char, value: &str) -> Result<(), SdpError> {
        let syntax = |reason| SdpError::Syntax { line, reason };
        match (kind, &self.origin) {
            ('o', None) => {
                self.origin = Some(origin(value).ok_or_else(|| syntax("bad o= line"))?);
                Ok(())
            }
            ('s', Some(o)) => {
                let mut s = Session::new(o.clone());
                s.times.clear();
                s.name = value.into();
                self.session = Some(s);
                Ok(())
            }
            (_, None) => Err(SdpError::Missing('o')),
            (_, Some(_)) => Err(SdpError::Missing('s')),
        }
    }

    fn finish(mut self) -> Result<Session, SdpError> {
        if !self.version {
            return Err(SdpError::Missing('v'));
        }
        let Some(mut s) = self.session.take() else {
            return Err(SdpError::Missing(if self.origin.is_some() {
                's'
            } else {
                'o'
            }));
        };
        if let Some(m) = self.media.take() {
            s.media.push(m);
        }
        if s.times.is_empty() {
            return Err(SdpError::Missing('t'));
        }
        if s.connection.is_none()
            && let Some(i) = s
                .media
                .iter()
                .position(|m| m.connection.is_none() && m.port != 0)
        {
            return Err(SdpError::NoConnection(i));
        }
        Ok(s)
    }
}

fn origin(v: &str) -> Option<Origin> {
    let mut t = v.split_whitespace();
    let o = Origin {
        username: t.next()?.into(),
        session_id: t.next()?.parse().ok()?,
        session_version: t.next()?.parse().ok()?,
        net_type: t.next()?.into(),
        addr_type: t.next()?.into(),
        address: t.next()?.into(),
    };
    t.next().is_none().then_some(o)
}

fn connection(v: &str) -> Option<Connection> {
    let mut t = v.split_whitespace();
    let c = Connection {
        net_type: t.next()?.into(),
        addr_type: t.next()?.into(),
        address: t.next()?.into(),
    };
    t.next().is_none().then_some(c)
}

fn bandwidth(v: &str) -> Option<Bandwidth> {
    let (kind, value) = v.split_once(':')?;
    if !is_token(kind) {
        return None;
    }
    Some(Bandwidth {
        kind: kind.into(),
        value: value.trim().parse().ok()?,
    })
}

fn timing(v: &str) -> Option<Timing> {
    let mut t = v.split_whitespace();
    let timing = Timing {
        start: t.next()?.parse().ok()?,
        stop: t.next()?.parse().ok()?,
        repeats: Vec::new(),
    };
    t.next().is_none().then_some(timing)
}

fn attribute(v: &str) -> Option<Attribute> {
    let (name, value) = match v.split_once(':') {
        Some((n, val)) => (n, Some(val.to_string())),
        None => (v, None),
    };
    is_token(name).then(|| Attribute {
        name: name.into(),
        value,
    })
}

fn media_line(v: &str) -> Option<Media> {
    let mut t = v.split_whitespace();
    let kind = t.next().filter(|k| is_token(k))?;
    let port_field = t.next()?;
    let (port, port_count) = match port_field.split_once('/') {
        Some((p, n)) => (p.parse().ok()?, Some(n.parse().ok()?)),
        None => (port_field.parse().ok()?, None),
    };
    let proto = t.next().filter(|p| p.split('/').all(is_token))?;
    let formats: Vec<String> = t.map(String::from).collect();
    if !formats.iter().all(|f| is_token(f)) {
        return None;
    }
    let mut m = Media::new(MediaKind::from_token(kind), port, proto, formats);
    m.port_count = port_count;
    Some(m)
}

/// RFC 8866 §9 `token`: visible ASCII except the separators SDP reserves.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            matches!(b, 0x21 | 0x23..=0x27 | 0x2a..=0x2b | 0x2d..=0x2e | 0x30..=0x39 | 0x41..=0x5a | 0x5e..=0x7e)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str =
        "v=0\no=- 1 2 IN IP4 192.0.2.1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n";

    #[test]
    fn required_lines_and_order() {
        assert!(parse(OK).is_ok());
        assert_eq!(parse(""), Err(SdpError::Missing('v')));
        assert_eq!(parse(&OK[4..]), Err(SdpError::Missing('v')));
        assert_eq!(parse("v=0\ns=-\n"), Err(SdpError::Missing('o')));
        assert_eq!(
            parse("v=0\no=- 1 2 IN IP4 a\nt=0 0\n"),
            Err(SdpError::Missing('s'))
        );
        assert_eq!(
            parse(OK.replace("t=0 0\n", "")),
            Err(SdpError::Missing('t'))
        );
        assert_eq!(
            parse(OK.replace("c=IN IP4 192.0.2.1\n", "")),
            Err(SdpError::NoConnection(0))
        );
        // A rejected stream needs no connection data.
        assert!(parse(OK.replace("c=IN IP4 192.0.2.1\n", "").replace("4000", "0")).is_ok());
        assert!(matches!(
            parse(OK.replace("v=0", "v=1")),
            Err(SdpError::Syntax { .. })
        ));
        assert!(matches!(
            parse(format!("{OK}t=0 0\n")),
            Err(SdpError::Order { kind: 't', .. })
        ));
        assert!(matches!(
            parse(format!("{OK}x=1\n")),
            Err(SdpError::Order { kind: 'x', .. })
        ));
        assert!(matches!(
            parse(format!("{OK}r=1\n")),
            Err(SdpError::Order { .. })
        ));
        assert!(matches!(
            parse(format!("{OK}c=IN IP4 1.2.3.4\nc=IN IP4 1.2.3.4\n")),
            Err(SdpError::Order { .. })
        ));
        assert!(matches!(
            parse(format!("{OK}a\n")),
            Err(SdpError::Syntax { .. })
        ));
        assert!(matches!(
            parse(format!("{OK}a=:x\n")),
            Err(SdpError::Syntax { .. })
        ));
        assert!(matches!(
            parse(OK.replace("4000", "70000")),
            Err(SdpError::Syntax { .. })
        ));
        assert!(matches!(
            parse(OK.replace("o=- 1 2", "o=- x 2")),
            Err(SdpError::Syntax { .. })
        ));
        assert_eq!(parse([0xff, 0xfe]), Err(SdpError::NotUtf8));
    }

    #[test]
    fn limits() {
        let many_media = format!("{OK}{}", "m=audio 0 RTP/AVP 0\n".repeat(40));
        assert_eq!(parse(many_media), Err(SdpError::TooLarge("media sections")));
        let many_attrs = format!("{OK}{}", "a=x\n".repeat(300));
        assert_eq!(parse(many_attrs), Err(SdpError::TooLarge("attributes")));
        let big = format!("{OK}a=x:{}\n", "y".repeat(70_000));
        assert_eq!(parse(big), Err(SdpError::TooLarge("body size")));
        let small = Limits {
            max_line: 10,
            ..Limits::default()
        };
        assert_eq!(
            parse_with(OK.as_bytes(), &small),
            Err(SdpError::TooLarge("line length"))
        );
    }

    #[test]
    fn tolerant_of_line_ends_and_trailing_blanks() {
        let crlf = OK.replace('\n', "\r\n");
        let no_final = OK.trim_end();
        let trailing = OK.replace("RTP/AVP 0\n", "RTP/AVP 0  \n\n\n");
        let a = parse(OK).unwrap();
        assert_eq!(parse(crlf).unwrap(), a);
        assert_eq!(parse(no_final).unwrap(), a);
        assert_eq!(parse(trailing).unwrap(), a);
    }
}
