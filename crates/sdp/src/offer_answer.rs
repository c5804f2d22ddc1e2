//! RFC 3264 offer/answer for the media engine: answering an offer (same m-lines in order,
//! rejected streams with port 0, codec intersection keeping the offerer's payload numbers,
//! direction mirrored, ptime), building an offer for server-originated calls, reading the
//! negotiated result of an exchange, and rewriting connection data for media anchoring.
//! Not here: ICE, SRTP, bundle, video codecs.

use std::net::{IpAddr, SocketAddr};

use crate::session::{Attribute, Connection, Direction, Media, MediaKind, Origin, RtpMap, Session};

/// A codec the engine can send and receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
    /// Opus, `opus/48000/2` (RFC 7587), dynamic payload type.
    Opus,
}

impl Codec {
    /// Encoding name as in `a=rtpmap`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Pcmu => "PCMU",
            Self::Pcma => "PCMA",
            Self::Opus => "opus",
        }
    }

    /// RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            Self::Pcmu | Self::Pcma => 8000,
            Self::Opus => 48000,
        }
    }

    /// Channel count in `a=rtpmap` (only Opus states one).
    pub fn channels(self) -> Option<u16> {
        match self {
            Self::Opus => Some(2),
            _ => None,
        }
    }

    /// Static payload type (RFC 3551), if the codec has one.
    pub fn static_payload_type(self) -> Option<u8> {
        match self {
            Self::Pcmu => Some(0),
            Self::Pcma => Some(8),
            Self::Opus => None,
        }
    }
}

/// What this side can do, for [`answer`] and [`offer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Address put in `c=` and `o=`.
    pub address: IpAddr,
    /// Supported codecs in local preference order (used in offers).
    pub codecs: Vec<Codec>,
    /// Accept/offer `telephone-event` (RFC 4733) at the clock rates of chosen codecs.
    pub telephone_event: bool,
    /// Packetization time in ms put in `a=ptime` (20).
    pub ptime: u32,
    /// What this side wants to do; intersected with the offer's direction.
    pub direction: Direction,
    /// Answer with only the first common voice codec (plus telephone-event) instead of all.
    pub single_codec: bool,
    /// `o=` username.
    pub username: String,
}

impl Capabilities {
    /// PCMU, PCMA and telephone-event at 20 ms, sendrecv, single codec.
    pub fn new(address: IpAddr) -> Self {
        Self {
            address,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: true,
            ptime: 20,
            direction: Direction::SendRecv,
            single_codec: true,
            username: "switchboard".into(),
        }
    }

    /// Adds Opus as the most preferred codec.
    pub fn with_opus(mut self) -> Self {
        if !self.codecs.contains(&Codec::Opus) {
            self.codecs.insert(0, Codec::Opus);
        }
        self
    }
}

/// `o=` session id and version chosen by the caller (randomness and versioning are inputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionIds {
    pub id: u64,
    pub version: u64,
}

/// Why no answer or offer could be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferAnswerError {
    /// No stream could be accepted (answer with 488 Not Acceptable Here).
    #[error("no acceptable media stream in the offer")]
    NoCommonMedia,
    /// The offer has no m-line at all.
    #[error("offer has no media")]
    NoMedia,
    /// `rewrite_connection` got a port list of the wrong length.
    #[error("{given} ports for {media} media sections")]
    PortCount { given: usize, media: usize },
}

/// The negotiated parameters of one active stream, from this side's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// Index of the m-line.
    pub index: usize,
    pub kind: MediaKind,
    /// Local RTP port (from the local description).
    pub local_port: u16,
    /// Where to send RTP; `None` when the peer gave 0.0.0.0 or a non-IP address.
    pub remote: Option<SocketAddr>,
    /// Where to send RTCP (`a=rtcp` or port + 1).
    pub remote_rtcp: Option<SocketAddr>,
    /// The codec to send and the payload type to send it with (the peer's number).
    pub codec: Codec,
    pub payload_type: u8,
    /// Every codec the peer may send to us, with its payload type.
    pub receive: Vec<(u8, Codec)>,
    /// telephone-event payload type at the codec's clock rate, if negotiated.
    pub telephone_event: Option<u8>,
    /// This side's direction.
    pub direction: Direction,
    /// Packetization time (peer's `a=ptime`, else ours, else 20).
    pub ptime: u32,
}

/// RTP profiles the engine serves (plain RTP; AVPF feedback is simply not sent).
const PROFILES: [&str; 2] = ["RTP/AVP", "RTP/AVPF"];
/// Dynamic payload types used in our own offers.
const OPUS_PT: u8 = 111;
const TELEPHONE_EVENT_PT: u8 = 101;
const TELEPHONE_EVENT_48K_PT: u8 = 110;

/// Answers `offer` (RFC 3264 §6). `port(index, kind)` allocates a local port for an
/// acceptable stream; `None` rejects it. Every m-line of the offer gets one in the answer,
/// in order; rejected ones have port 0 and mirror the offer's first format (§6). Audio over
/// `RTP/AVP(F)` is accepted when a codec is common; formats keep the offerer's payload
/// numbers and order. The direction is the offer's reversed, intersected with
/// `local.direction` (§6.1); an offer with `c=0.0.0.0` is treated as not wanting media.
pub fn answer(
    offer: &Session,
    local: &Capabilities,
    ids: SessionIds,
    port: &mut dyn FnMut(usize, &MediaKind) -> Option<u16>,
) -> Result<Session, OfferAnswerError> {
    if offer.media.is_empty() {
        return Err(OfferAnswerError::NoMedia);
    }
    let mut out = Session::new(origin(local, ids));
    out.connection = Some(Connection::new(local.address));
    let mut accepted = 0;
    for (index, offered) in offer.media.iter().enumerate() {
        let formats = if offered.port == 0 || !PROFILES.contains(&offered.proto.as_str()) {
            None
        } else {
            answer_formats(offered, local)
        };
        let allocated = formats.as_ref().and_then(|_| port(index, &offered.kind));
        let (Some(formats), Some(local_port)) = (formats, allocated) else {
            out.media.push(rejected(offered));
            continue;
        };
        accepted += 1;
        let mut m = Media::new(offered.kind.clone(), local_port, &offered.proto, Vec::new());
        for (pt, attrs) in formats {
            m.formats.push(pt.to_string());
            m.attributes.extend(attrs);
        }
        let ptime = offered.ptime().unwrap_or(local.ptime);
        m.attributes
            .push(Attribute::value("ptime", ptime.to_string()));
        let theirs = if offer
            .connection_for(index)
            .is_some_and(Connection::is_unspecified)
        {
            Direction::SendOnly.min_with(offer.direction(index))
        } else {
            offer.direction(index)
        };
        let dir = Direction::from_flags(
            theirs.receives() && local.direction.sends(),
            theirs.sends() && local.direction.receives(),
        );
        m.set_direction(dir);
        out.media.push(m);
    }
    if accepted == 0 {
        return Err(OfferAnswerError::NoCommonMedia);
    }
    Ok(out)
}

/// The formats to answer for one offered audio stream, with their `rtpmap`/`fmtp`
/// attributes, or `None` when no voice codec is common.
fn answer_formats(offered: &Media, local: &Capabilities) -> Option<Vec<(u8, Vec<Attribute>)>> {
    if offered.kind != MediaKind::Audio {
        return None;
    }
    let mut voice: Vec<(u8, Codec)> = offered
        .payload_types()
        .filter_map(|pt| {
            let map = offered.rtpmap(pt)?;
            local
                .codecs
                .iter()
                .copied()
                .find(|c| matches_codec(*c, &map))
                .map(|c| (pt, c))
        })
        .collect();
    if local.single_codec {
        voice.truncate(1);
    }
    if voice.is_empty() {
        return None;
    }
    let rates: Vec<u32> = voice.iter().map(|(_, c)| c.clock_rate()).collect();
    let mut out = Vec::new();
    for pt in offered.payload_types() {
        if let Some((_, codec)) = voice.iter().find(|(p, _)| *p == pt) {
            let mut attrs = vec![Attribute::value("rtpmap", rtpmap_value(pt, *codec))];
            if let Some(f) = offered.fmtp(pt).filter(|f| !f.is_empty()) {
                attrs.push(Attribute::value("fmtp", format!("{pt} {f}")));
            }
            out.push((pt, attrs));
        } else if local.telephone_event
            && let Some(map) = offered.rtpmap(pt)
            && map.encoding.eq_ignore_ascii_case("telephone-event")
            && rates.contains(&map.clock_rate)
            && !out
                .iter()
                .any(|(p, _)| telephone_rate(offered, *p) == Some(map.clock_rate))
        {
            let mut attrs = vec![Attribute::value(
                "rtpmap",
                format!("{pt} telephone-event/{}", map.clock_rate),
            )];
            attrs.push(Attribute::value(
                "fmtp",
                format!(
                    "{pt} {}",
                    offered.fmtp(pt).filter(|f| !f.is_empty()).unwrap_or("0-15")
                ),
            ));
            out.push((pt, attrs));
        }
    }
    Some(out)
}

/// The clock rate of `pt` when it is a telephone-event format of `m`.
fn telephone_rate(m: &Media, pt: u8) -> Option<u32> {
    m.rtpmap(pt)
        .filter(|r| r.encoding.eq_ignore_ascii_case("telephone-event"))
        .map(|r| r.clock_rate)
}

/// True when an offered `rtpmap` names `codec` (encoding names are case-insensitive, RFC
/// 4855 §3; Opus must be 48000/2 per RFC 7587 §7).
fn matches_codec(codec: Codec, map: &RtpMap) -> bool {
    map.encoding.eq_ignore_ascii_case(codec.name())
        && map.clock_rate == codec.clock_rate()
        && (codec.channels().is_none() || map.channels == codec.channels())
}

fn rtpmap_value(pt: u8, codec: Codec) -> String {
    match codec.channels() {
        Some(ch) => format!("{pt} {}/{}/{ch}", codec.name(), codec.clock_rate()),
        None => format!("{pt} {}/{}", codec.name(), codec.clock_rate()),
    }
}

/// A rejected answer stream: port 0, same media and proto, the offer's first format (RFC
/// 3264 §6: at least one format must be listed).
fn rejected(offered: &Media) -> Media {
    let formats = offered.formats.first().cloned().into_iter().collect();
    Media::new(offered.kind.clone(), 0, &offered.proto, formats)
}

/// An offer with one audio stream on `port` (RFC 3264 §5): the local codecs in preference
/// order (PCMU 0, PCMA 8, Opus 111), telephone-event 101 (and 110 at 48 kHz with Opus),
/// `a=ptime` and the local direction.
pub fn offer(local: &Capabilities, ids: SessionIds, port: u16) -> Session {
    let mut s = Session::new(origin(local, ids));
    s.connection = Some(Connection::new(local.address));
    let mut m = Media::new(MediaKind::Audio, port, "RTP/AVP", Vec::new());
    for &codec in &local.codecs {
        let pt = codec.static_payload_type().unwrap_or(OPUS_PT);
        m.formats.push(pt.to_string());
        m.attributes
            .push(Attribute::value("rtpmap", rtpmap_value(pt, codec)));
        if codec == Codec::Opus {
            m.attributes
                .push(Attribute::value("fmtp", format!("{pt} useinbandfec=1")));
        }
    }
    if local.telephone_event {
        let mut rates = vec![(TELEPHONE_EVENT_PT, 8000)];
        if local.codecs.contains(&Codec::Opus) {
            rates.push((TELEPHONE_EVENT_48K_PT, 48000));
        }
        for (pt, rate) in rates {
            m.formats.push(pt.to_string());
            m.attributes.push(Attribute::value(
                "rtpmap",
                format!("{pt} telephone-event/{rate}"),
            ));
            m.attributes
                .push(Attribute::value("fmtp", format!("{pt} 0-15")));
        }
    }
    m.attributes
        .push(Attribute::value("ptime", local.ptime.to_string()));
    m.set_direction(local.direction);
    s.media.push(m);
    s
}

/// The active streams of a completed exchange, seen from the side that owns `local`: for
/// each m-line accepted on both sides, the peer's address, the codec to send (the first of
/// the peer's formats this side also lists) and the peer's payload numbers.
pub fn negotiated(local: &Session, remote: &Session) -> Vec<Stream> {
    let mut out = Vec::new();
    for (index, (mine, theirs)) in local.media.iter().zip(&remote.media).enumerate() {
        if mine.port == 0 || theirs.port == 0 || mine.kind != theirs.kind {
            continue;
        }
        let ours: Vec<Codec> = mine
            .payload_types()
            .filter_map(|pt| codec_of(mine, pt))
            .collect();
        let receive: Vec<(u8, Codec)> = theirs
            .payload_types()
            .filter_map(|pt| codec_of(theirs, pt).map(|c| (pt, c)))
            .filter(|(_, c)| ours.contains(c))
            .collect();
        let Some(&(payload_type, codec)) = receive.first() else {
            continue;
        };
        let ip = remote.connection_for(index).and_then(Connection::ip);
        let remote_addr = ip
            .filter(|a| !a.is_unspecified())
            .map(|a| SocketAddr::new(a, theirs.port));
        let remote_rtcp = ip.filter(|a| !a.is_unspecified()).map(|a| {
            let (port, addr) =
                rtcp_attribute(theirs).unwrap_or((theirs.port.wrapping_add(1), None));
            SocketAddr::new(addr.unwrap_or(a), port)
        });
        let telephone_event = theirs
            .payload_types()
            .find(|&pt| telephone_rate(theirs, pt) == Some(codec.clock_rate()))
            .filter(|_| {
                mine.payload_types()
                    .any(|pt| telephone_rate(mine, pt) == Some(codec.clock_rate()))
            });
        let direction = if remote
            .connection_for(index)
            .is_some_and(Connection::is_unspecified)
        {
            local.direction(index).min_with(Direction::RecvOnly)
        } else {
            local.direction(index)
        };
        out.push(Stream {
            index,
            kind: mine.kind.clone(),
            local_port: mine.port,
            remote: remote_addr,
            remote_rtcp,
            codec,
            payload_type,
            receive,
            telephone_event,
            direction,
            ptime: theirs.ptime().or(mine.ptime()).unwrap_or(20),
        });
    }
    out
}

fn codec_of(m: &Media, pt: u8) -> Option<Codec> {
    let map = m.rtpmap(pt)?;
    [Codec::Pcmu, Codec::Pcma, Codec::Opus]
        .into_iter()
        .find(|&c| matches_codec(c, &map))
}

/// `a=rtcp:<port> [IN IP4 <addr>]` (RFC 3605).
fn rtcp_attribute(m: &Media) -> Option<(u16, Option<IpAddr>)> {
    let v = m.attribute("rtcp")?;
    let mut t = v.split_whitespace();
    let port = t.next()?.parse().ok()?;
    let addr = t.nth(2).and_then(|a| a.parse().ok());
    Some((port, addr))
}

/// Points `session` at the anchor: `c=` becomes `addr` at session level, media-level `c=`
/// and ICE/`a=rtcp` lines are removed (the anchor answers RTCP on port + 1), and m-line `i`
/// gets `ports[i]` (rejected streams keep port 0). The origin is left alone: the caller
/// owns its session version.
pub fn rewrite_connection(
    session: &mut Session,
    addr: IpAddr,
    ports: &[u16],
) -> Result<(), OfferAnswerError> {
    if ports.len() != session.media.len() {
        return Err(OfferAnswerError::PortCount {
            given: ports.len(),
            media: session.media.len(),
        });
    }
    let c = Connection::new(addr);
    session.connection = Some(c);
    session
        .attributes
        .retain(|a| !is_transport_attribute(&a.name));
    for (m, &port) in session.media.iter_mut().zip(ports) {
        m.connection = None;
        m.attributes.retain(|a| !is_transport_attribute(&a.name));
        if m.port != 0 {
            m.port = port;
        }
    }
    Ok(())
}

/// Attributes that describe the peer's own transport and become false once media is
/// anchored (RFC 3605 rtcp, RFC 8839 ICE).
fn is_transport_attribute(name: &str) -> bool {
    matches!(
        name,
        "rtcp"
            | "candidate"
            | "remote-candidates"
            | "end-of-candidates"
            | "ice-lite"
            | "ice-ufrag"
            | "ice-pwd"
            | "ice-options"
            | "ice-mismatch"
    )
}

fn origin(local: &Capabilities, ids: SessionIds) -> Origin {
    let c = Connection::new(local.address);
    Origin {
        username: local.username.clone(),
        session_id: ids.id,
        session_version: ids.version,
        net_type: c.net_type,
        addr_type: c.addr_type,
        address: c.address,
    }
}
