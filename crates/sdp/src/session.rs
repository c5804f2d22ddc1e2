//! The SDP data model (RFC 8866 §5): a session description with its media descriptions,
//! owned strings so it can be kept and edited, plus the accessors offer/answer needs
//! (rtpmap/fmtp/ptime, direction, hold). Parsing is in [`crate::parse`], printing in
//! [`crate::print`]; field order and unknown attributes are preserved for round trips.

use std::net::IpAddr;

/// `o=` (RFC 8866 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: u64,
    pub session_version: u64,
    pub net_type: String,
    pub addr_type: String,
    pub address: String,
}

/// `c=` (§5.7): address as written (may carry `/ttl` or `/count` for multicast).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub net_type: String,
    pub addr_type: String,
    pub address: String,
}

impl Connection {
    /// `IN IP4`/`IN IP6` connection data for `addr`.
    pub fn new(addr: IpAddr) -> Self {
        Self {
            net_type: "IN".into(),
            addr_type: if addr.is_ipv4() { "IP4" } else { "IP6" }.into(),
            address: addr.to_string(),
        }
    }

    /// The unicast address, when it is a plain IP literal (no `/ttl`, not an FQDN).
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }

    /// `c=IN IP4 0.0.0.0`, the RFC 2543 way of putting a call on hold (RFC 3264 §8.4).
    pub fn is_unspecified(&self) -> bool {
        self.ip().is_some_and(|a| a.is_unspecified())
    }
}

/// `b=` (§5.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth {
    pub kind: String,
    pub value: u64,
}

/// `t=` with its `r=` lines (§5.9, §5.10).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timing {
    pub start: u64,
    pub stop: u64,
    pub repeats: Vec<String>,
}

/// `a=name` or `a=name:value` (§5.13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub value: Option<String>,
}

impl Attribute {
    /// A property attribute (`a=name`).
    pub fn flag(name: &str) -> Self {
        Self {
            name: name.into(),
            value: None,
        }
    }

    /// A value attribute (`a=name:value`).
    pub fn value(name: &str, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: Some(value.into()),
        }
    }
}

/// Media type of an `m=` line (§5.14).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
    Text,
    Application,
    Message,
    Other(String),
}

impl MediaKind {
    /// Parses the token (case-sensitive as registered, lower case).
    pub fn from_token(token: &str) -> Self {
        match token {
            "audio" => Self::Audio,
            "video" => Self::Video,
            "text" => Self::Text,
            "application" => Self::Application,
            "message" => Self::Message,
            other => Self::Other(other.into()),
        }
    }

    /// The token as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
            Self::Text => "text",
            Self::Application => "application",
            Self::Message => "message",
            Self::Other(s) => s,
        }
    }
}

/// Stream direction (RFC 3264 §5.1; RFC 8866 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// Parses a direction attribute name.
    pub fn from_attribute(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Self::SendRecv),
            "sendonly" => Some(Self::SendOnly),
            "recvonly" => Some(Self::RecvOnly),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }

    /// The direction as seen from the other side (sendonly ↔ recvonly).
    pub fn reversed(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            d => d,
        }
    }

    /// True when this side sends.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// True when this side receives.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }

    /// What both directions allow (the intersection of their send and receive abilities).
    pub fn min_with(self, other: Self) -> Self {
        Self::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }

    /// The direction with the given send/receive abilities.
    pub fn from_flags(send: bool, recv: bool) -> Self {
        match (send, recv) {
            (true, true) => Self::SendRecv,
            (true, false) => Self::SendOnly,
            (false, true) => Self::RecvOnly,
            (false, false) => Self::Inactive,
        }
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]` (§6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u16>,
}

/// One `m=` section (§5.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: MediaKind,
    pub port: u16,
    /// `/<number of ports>` when present.
    pub port_count: Option<u16>,
    pub proto: String,
    pub formats: Vec<String>,
    /// `i=`.
    pub title: Option<String>,
    pub connection: Option<Connection>,
    pub bandwidths: Vec<Bandwidth>,
    /// `k=` (obsolete, kept for round trips).
    pub key: Option<String>,
    pub attributes: Vec<Attribute>,
}

impl Media {
    /// An `m=` section with no attributes.
    pub fn new(kind: MediaKind, port: u16, proto: &str, formats: Vec<String>) -> Self {
        Self {
            kind,
            port,
            port_count: None,
            proto: proto.into(),
            formats,
            title: None,
            connection: None,
            bandwidths: Vec::new(),
            key: None,
            attributes: Vec::new(),
        }
    }

    /// Values of every attribute named `name`.
    pub fn attributes_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Option<&'a str>> {
        self.attributes
            .iter()
            .filter(move |a| a.name == name)
            .map(|a| a.value.as_deref())
    }

    /// First value of attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .filter(|a| a.name == name)
            .find_map(|a| a.value.as_deref())
    }

    /// True when a property attribute `name` is present.
    pub fn has_attribute(&self, name: &str) -> bool {
        self.attributes.iter().any(|a| a.name == name)
    }

    /// The media-level direction attribute, if any (the last one wins).
    pub fn direction_attribute(&self) -> Option<Direction> {
        self.attributes
            .iter()
            .rev()
            .find_map(|a| Direction::from_attribute(&a.name))
    }

    /// Replaces any direction attributes with `dir`.
    pub fn set_direction(&mut self, dir: Direction) {
        self.attributes
            .retain(|a| Direction::from_attribute(&a.name).is_none());
        self.attributes.push(Attribute::flag(dir.as_str()));
    }

    /// True for RTP profiles (`RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF` …), whose formats
    /// are payload type numbers.
    pub fn is_rtp(&self) -> bool {
        self.proto.split('/').any(|p| p == "RTP")
    }

    /// The formats that are RTP payload type numbers (0–127).
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter(|&pt| pt < 128)
    }

    /// Every well-formed `a=rtpmap`.
    pub fn rtpmaps(&self) -> impl Iterator<Item = RtpMap> + '_ {
        self.attributes_named("rtpmap")
            .flatten()
            .filter_map(parse_rtpmap)
    }

    /// The `a=rtpmap` of `pt`, or the RFC 3551 static assignment for PCMU (0), GSM (3),
    /// PCMA (8), G722 (9), CN (13), G729 (18) when none is given.
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap> {
        self.rtpmaps()
            .find(|m| m.payload_type == pt)
            .or_else(|| static_rtpmap(pt))
    }

    /// The `a=fmtp` parameters of `pt`.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.attributes_named("fmtp").flatten().find_map(|v| {
            let (p, params) = v.split_once(' ').unwrap_or((v, ""));
            (p.parse::<u8>().ok() == Some(pt)).then(|| params.trim())
        })
    }

    /// `a=ptime` in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute("ptime").and_then(|v| v.trim().parse().ok())
    }

    /// True when the stream is rejected or disabled (port 0).
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }
}

/// A whole session description (§5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub origin: Origin,
    /// `s=` (a single space when the offerer has no name, per §5.3 "s= ").
    pub name: String,
    pub info: Option<String>,
    pub uri: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub connection: Option<Connection>,
    pub bandwidths: Vec<Bandwidth>,
    pub times: Vec<Timing>,
    /// `z=` as written.
    pub zone: Option<String>,
    pub key: Option<String>,
    pub attributes: Vec<Attribute>,
    pub media: Vec<Media>,
}

impl Session {
    /// A session with origin, `s=-`, `t=0 0` and nothing else.
    pub fn new(origin: Origin) -> Self {
        Self {
            origin,
            name: "-".into(),
            info: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            times: vec![Timing::default()],
            zone: None,
            key: None,
            attributes: Vec::new(),
            media: Vec::new(),
        }
    }

    /// The session-level direction attribute, if any.
    pub fn direction_attribute(&self) -> Option<Direction> {
        self.attributes
            .iter()
            .rev()
            .find_map(|a| Direction::from_attribute(&a.name))
    }

    /// Effective direction of media `index`: media level, else session level, else
    /// sendrecv (RFC 3264 §5.1).
    pub fn direction(&self, index: usize) -> Direction {
        self.media
            .get(index)
            .and_then(Media::direction_attribute)
            .or_else(|| self.direction_attribute())
            .unwrap_or_default()
    }

    /// The connection data that applies to media `index` (media level, else session).
    pub fn connection_for(&self, index: usize) -> Option<&Connection> {
        self.media
            .get(index)
            .and_then(|m| m.connection.as_ref())
            .or(self.connection.as_ref())
    }

    /// True when media `index` is active and put on hold: `sendonly`/`inactive`, or
    /// connection address 0.0.0.0 (RFC 3264 §8.4).
    pub fn media_is_hold(&self, index: usize) -> bool {
        let Some(m) = self.media.get(index) else {
            return false;
        };
        if m.port == 0 {
            return false;
        }
        matches!(
            self.direction(index),
            Direction::SendOnly | Direction::Inactive
        ) || self
            .connection_for(index)
            .is_some_and(Connection::is_unspecified)
    }

    /// True when the description puts the call on hold: at least one active stream, and
    /// every active stream is held (see [`Session::media_is_hold`]).
    pub fn is_hold(&self) -> bool {
        let active: Vec<usize> = (0..self.media.len())
            .filter(|&i| self.media.get(i).is_some_and(|m| m.port != 0))
            .collect();
        !active.is_empty() && active.iter().all(|&i| self.media_is_hold(i))
    }

    /// First session-level attribute value named `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .filter(|a| a.name == name)
            .find_map(|a| a.value.as_deref())
    }
}

/// True when `session` has a video stream that is neither rejected nor inactive.
pub fn has_active_video(session: &Session) -> bool {
    session.media.iter().enumerate().any(|(i, m)| {
        m.kind == MediaKind::Video && m.port != 0 && session.direction(i) != Direction::Inactive
    })
}

fn parse_rtpmap(value: &str) -> Option<RtpMap> {
    let (pt, rest) = value.trim().split_once(' ')?;
    let mut parts = rest.trim().split('/');
    let encoding = parts.next()?.trim();
    let clock_rate = parts.next()?.trim().parse().ok()?;
    let channels = match parts.next() {
        Some(c) => Some(c.trim().parse().ok()?),
        None => None,
    };
    if encoding.is_empty() || parts.next().is_some() {
        return None;
    }
    Some(RtpMap {
        payload_type: pt.parse().ok().filter(|&p: &u8| p < 128)?,
        encoding: encoding.into(),
        clock_rate,
        channels,
    })
}

fn static_rtpmap(pt: u8) -> Option<RtpMap> {
    let (encoding, clock_rate) = match pt {
        0 => ("PCMU", 8000),
        3 => ("GSM", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        13 => ("CN", 8000),
        18 => ("G729", 8000),
        _ => return None,
    };
    Some(RtpMap {
        payload_type: pt,
        encoding: encoding.into(),
        clock_rate,
        channels: None,
    })
}
