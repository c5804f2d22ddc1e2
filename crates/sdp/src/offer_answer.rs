//! RFC 3264 offer/answer for the media engine: answering an offer (same m-lines in order,
//! rejected streams with port 0, codec intersection keeping the offerer's payload numbers,
//! direction mirrored, ptime), building an offer for server-originated calls, reading the
//! negotiated result of an exchange, and rewriting connection data for media anchoring.
//! Not here: ICE, SRTP, bundle, video codecs.

use std::net::{IpAddr, SocketAddr};

use crate::session::{Direction, MediaKind, Origin, Session};

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

/// Answers `offer` (RFC 3264 §6). `port(index, kind)` allocates a local port for an
/// acceptable stream; `None` rejects it.
pub fn answer(
    offer: &Session,
    local: &Capabilities,
    ids: SessionIds,
    port: &mut dyn FnMut(usize, &MediaKind) -> Option<u16>,
) -> Result<Session, OfferAnswerError> {
    let _ = (offer, local, port);
    Ok(Session::new(origin(local, ids)))
}

/// An offer with one audio stream on `port` (RFC 3264 §5).
pub fn offer(local: &Capabilities, ids: SessionIds, port: u16) -> Session {
    let _ = port;
    Session::new(origin(local, ids))
}

/// The active streams of a completed exchange, seen from the side that owns `local`.
pub fn negotiated(local: &Session, remote: &Session) -> Vec<Stream> {
    let _ = (local, remote);
    Vec::new()
}

/// Points `session` at the anchor: `c=` becomes `addr` at session level, media-level `c=`
/// and ICE/`a=rtcp` lines are removed, and m-line `i` gets `ports[i]` (rejected streams keep
/// port 0).
pub fn rewrite_connection(
    session: &mut Session,
    addr: IpAddr,
    ports: &[u16],
) -> Result<(), OfferAnswerError> {
    let _ = (session, addr, ports);
    Ok(())
}

fn origin(local: &Capabilities, ids: SessionIds) -> Origin {
    let c = crate::session::Connection::new(local.address);
    Origin {
        username: local.username.clone(),
        session_id: ids.id,
        session_version: ids.version,
        net_type: c.net_type,
        addr_type: c.addr_type,
        address: c.address,
    }
}
