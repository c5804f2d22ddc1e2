//! Media anchoring for the B2BUA: a relay between two negotiated peers, A and B.
//!
//! A packet that arrives on the sockets facing leg A is forwarded, byte for byte, to B's
//! negotiated address (and the other way round), but only if it came from A's negotiated
//! (or latched, see [`Latching`]) address; anything else is dropped and counted. RTP goes to
//! the peer's RTP address, RTCP to its RTCP address (or the RTP address with `rtcp-mux`,
//! RFC 5761; an RTCP packet seen on a muxed RTP socket is recognised by its packet type).
//!
//! Nothing is rewritten: SSRC, sequence numbers and timestamps pass unchanged. Each peer sees
//! one coherent stream from the other end, exactly as without the relay, and a change of
//! far end (re-INVITE, transfer) shows up as a new SSRC, which RFC 3550 §8 receivers handle.
//! This keeps the hot path to two address comparisons and a few counters: [`Relay::forward`]
//! takes the received datagram by reference and answers where to send it, so the I/O side
//! sends from its own receive buffer with no copy and no allocation.
//!
//! Does not: transcode, mix, record (a recording leg is a [`Session`](crate::Session)), SRTP.

use std::net::SocketAddr;
use std::time::Instant;

use crate::filter::{DropReason, Latching, SourceFilter};

/// One side of a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The caller's side (by convention).
    A,
    /// The callee's side.
    B,
}

impl Leg {
    /// The other side.
    pub fn other(self) -> Leg {
        match self {
            Leg::A => Leg::B,
            Leg::B => Leg::A,
        }
    }

    fn index(self) -> usize {
        match self {
            Leg::A => 0,
            Leg::B => 1,
        }
    }
}

/// Which of a leg's two sockets a packet arrived on, or must leave from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The RTP socket (even port).
    Rtp,
    /// The RTCP socket (RTP port + 1).
    Rtcp,
}

/// A peer's negotiated addresses, from its SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayPeer {
    /// RTP address (`c=` + `m=` port).
    pub rtp: SocketAddr,
    /// RTCP address; `None` with `a=rtcp-mux`.
    pub rtcp: Option<SocketAddr>,
    /// Source filtering policy (default strict).
    pub latching: Latching,
}

impl RelayPeer {
    /// A strict peer with RTCP on RTP port + 1.
    pub fn new(rtp: SocketAddr) -> Self {
        let mut rtcp = rtp;
        rtcp.set_port(rtp.port().wrapping_add(1));
        RelayPeer {
            rtp,
            rtcp: Some(rtcp),
            latching: Latching::Strict,
        }
    }
}

/// The relay's verdict on one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// Send the datagram unchanged from the other leg's `channel` socket to `to`.
    To {
        /// Destination: the other peer's address.
        to: SocketAddr,
        /// Socket of the other leg to send from.
        channel: Channel,
    },
    /// Drop it.
    Drop(DropReason),
}

/// Counters per direction (index 0: A → B, 1: B → A).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayStats {
    /// Datagrams forwarded.
    pub packets: [u64; 2],
    /// Bytes forwarded.
    pub bytes: [u64; 2],
    /// Datagrams dropped, by the leg they arrived on.
    pub dropped: [u64; 2],
}

/// A two-leg relay; see the module doc.
#[derive(Debug, Clone)]
pub struct Relay {
    filters: [SourceFilter; 2],
    muxed: [bool; 2],
    last_rx: [Option<Instant>; 2],
    stats: RelayStats,
}

impl Relay {
    /// A relay between peers `a` and `b`, starting at `now` (latching windows start here).
    pub fn new(now: Instant, a: RelayPeer, b: RelayPeer) -> Self {
        let filter = |p: RelayPeer| SourceFilter::new(now, p.rtp, p.rtcp, p.latching);
        Relay {
            filters: [filter(a), filter(b)],
            muxed: [a.rtcp.is_none(), b.rtcp.is_none()],
            last_rx: [None; 2],
            stats: RelayStats::default(),
        }
    }

    /// Decides what to do with `packet`, received from `from` on `leg`'s `channel` socket.
    #[inline]
    pub fn forward(
        &mut self,
        now: Instant,
        leg: Leg,
        channel: Channel,
        from: SocketAddr,
        packet: &[u8],
    ) -> Forward {
        let i = leg.index();
        let verdict = self.judge(now, leg, channel, from, packet);
        match verdict {
            Forward::To { .. } => {
                let dir = i;
                if let (Some(p), Some(b)) = (
                    self.stats.packets.get_mut(dir),
                    self.stats.bytes.get_mut(dir),
                ) {
                    *p += 1;
                    *b += packet.len() as u64;
                }
                if let Some(t) = self.last_rx.get_mut(i) {
                    *t = Some(now);
                }
            }
            Forward::Drop(_) => {
                if let Some(d) = self.stats.dropped.get_mut(i) {
                    *d += 1;
                }
            }
        }
        verdict
    }

    fn judge(
        &mut self,
        now: Instant,
        leg: Leg,
        channel: Channel,
        from: SocketAddr,
        packet: &[u8],
    ) -> Forward {
        // RTP and RTCP are both version 2 and at least 8 bytes (RFC 3550 §5.1, §6.4).
        if packet.len() < 8 || packet.first().map(|b| b >> 6) != Some(2) {
            return Forward::Drop(DropReason::Malformed);
        }
        let rtcp = channel == Channel::Rtcp || (self.muxed(leg) && rtp::is_rtcp(packet));
        let (src, dst) = self.pair(leg);
        let checked = if rtcp {
            src.check_rtcp(from)
        } else {
            src.check_rtp(now, from)
        };
        if let Err(e) = checked {
            return Forward::Drop(e);
        }
        let to = if rtcp {
            dst.rtcp_peer()
        } else {
            dst.rtp_peer()
        };
        if to.ip().is_unspecified() || to.port() == 0 {
            return Forward::Drop(DropReason::NoPeer);
        }
        let other_muxed = self.muxed(leg.other());
        let channel = if rtcp && !other_muxed {
            Channel::Rtcp
        } else {
            Channel::Rtp
        };
        Forward::To { to, channel }
    }

    fn muxed(&self, leg: Leg) -> bool {
        self.muxed.get(leg.index()).copied().unwrap_or(false)
    }

    fn pair(&mut self, leg: Leg) -> (&mut SourceFilter, &SourceFilter) {
        let [a, b] = &mut self.filters;
        match leg {
            Leg::A => (a, b),
            Leg::B => (b, a),
        }
    }

    /// Replaces a peer's addresses (re-INVITE); its latching window restarts at `now`.
    pub fn set_peer(&mut self, now: Instant, leg: Leg, peer: RelayPeer) {
        let i = leg.index();
        if let (Some(f), Some(m)) = (self.filters.get_mut(i), self.muxed.get_mut(i)) {
            *f = SourceFilter::new(now, peer.rtp, peer.rtcp, peer.latching);
            *m = peer.rtcp.is_none();
        }
    }

    /// Where `leg`'s peer currently receives RTP (the latched address once latched).
    pub fn peer(&self, leg: Leg) -> SocketAddr {
        match leg {
            Leg::A => self.filters[0].rtp_peer(),
            Leg::B => self.filters[1].rtp_peer(),
        }
    }

    /// When a packet from `leg`'s peer was last forwarded (for media timeouts).
    pub fn last_activity(&self, leg: Leg) -> Option<Instant> {
        self.last_rx.get(leg.index()).copied().flatten()
    }

    /// Counters so far.
    pub fn stats(&self) -> RelayStats {
        self.stats
    }
}
