//! One anchored call: four sockets (RTP and RTCP facing each leg), every datagram judged by
//! `media::Relay` and sent on from the receive buffer (no copy, no allocation). The I/O loop
//! that waits on the sockets is the data plane (`plane.rs`); this is the per-call state it
//! drives, one readable socket at a time.
//!
//! Until a leg's phone has described its media, that leg's peer is unknown and everything
//! from it is dropped. Either peer can move later (re-INVITE). Sends never wait: a full
//! socket buffer drops the packet, as the network would.
//!
//! Inactivity: once both peers are known, a relay on which no packet was forwarded in
//! either direction for the timeout reports it once (and again after traffic resumed and
//! stopped anew); it keeps running until closed. While either phone's latest description
//! holds the stream (`sendonly`, `recvonly`, `inactive` or `0.0.0.0`, RFC 3264 §8.4) the
//! count is suspended: a held call is silent by design. It starts afresh when both phones
//! describe `sendrecv` media again.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use media::{Channel, Forward, Leg, Relay, RelayPeer};
use tracing::{debug, trace};

use crate::negotiate::Peer;
use crate::pool::Lease;

/// The inactivity timeout and what to do when it expires.
pub(crate) struct Watch {
    pub inactivity: Option<Duration>,
    pub on_inactive: Box<dyn Fn() + Send>,
}

/// Socket `ix` (0..4) of a call: A's RTP, A's RTCP, B's RTP, B's RTCP.
fn leg_channel(ix: usize) -> (Leg, Channel) {
    match ix {
        0 => (Leg::A, Channel::Rtp),
        1 => (Leg::A, Channel::Rtcp),
        2 => (Leg::B, Channel::Rtp),
        _ => (Leg::B, Channel::Rtcp),
    }
}

fn leg_index(leg: Leg) -> usize {
    match leg {
        Leg::A => 0,
        Leg::B => 1,
    }
}

fn known(p: &RelayPeer) -> bool {
    p.rtp.port() != 0
}

/// The state of one anchored call; see the module doc.
pub(crate) struct Call {
    a: Lease,
    b: Lease,
    relay: Relay,
    peers: [RelayPeer; 2],
    /// Each leg's latest description holds the stream.
    held: [bool; 2],
    /// Inactivity is counted from here (both peers known, or the last peer change).
    since: Option<Instant>,
    reported: bool,
    watch: Watch,
}

impl Call {
    pub fn new(now: Instant, a: Lease, b: Lease, watch: Watch) -> Call {
        let unknown = RelayPeer {
            rtp: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            rtcp: None,
            latching: media::Latching::Strict,
        };
        Call {
            a,
            b,
            relay: Relay::new(now, unknown, unknown),
            peers: [unknown, unknown],
            held: [false, false],
            since: None,
            reported: false,
            watch,
        }
    }

    /// The four sockets, in the order of `leg_channel`.
    pub fn sockets(&self) -> [&UdpSocket; 4] {
        [&self.a.rtp, &self.a.rtcp, &self.b.rtp, &self.b.rtcp]
    }

    fn socket(&self, leg: Leg, ch: Channel) -> &UdpSocket {
        match (leg, ch) {
            (Leg::A, Channel::Rtp) => &self.a.rtp,
            (Leg::A, Channel::Rtcp) => &self.a.rtcp,
            (Leg::B, Channel::Rtp) => &self.b.rtp,
            (Leg::B, Channel::Rtcp) => &self.b.rtcp,
        }
    }

    /// A new description from `leg`'s phone.
    pub fn set_peer(&mut self, now: Instant, leg: Leg, p: Peer) {
        let ix = leg_index(leg);
        if let Some(h) = self.held.get_mut(ix) {
            *h = p.held;
        }
        let p = RelayPeer {
            rtp: p.rtp,
            rtcp: p.rtcp,
            latching: media::Latching::Strict,
        };
        self.relay.set_peer(now, leg, p);
        if let Some(slot) = self.peers.get_mut(ix) {
            *slot = p;
        }
        if self.peers.iter().all(known) {
            self.since = Some(now);
            self.reported = false;
        }
    }

    /// When inactivity is to be reported, if it is being watched at all.
    pub fn due(&self) -> Option<Instant> {
        let on_hold = self.held.iter().any(|h| *h);
        match (self.watch.inactivity, self.since) {
            (Some(t), Some(since)) if !self.reported && !on_hold => {
                let last = [Leg::A, Leg::B]
                    .into_iter()
                    .filter_map(|l| self.relay.last_activity(l))
                    .fold(since, Instant::max);
                Some(last + t)
            }
            _ => None,
        }
    }

    /// Reports inactivity if it is due at `now`; returns when to look again.
    pub fn check(&mut self, now: Instant) -> Option<Instant> {
        let due = self.due()?;
        if due > now {
            return Some(due);
        }
        debug!("relay inactive");
        self.reported = true;
        (self.watch.on_inactive)();
        None
    }

    /// Socket `ix` is readable: receives one datagram into `buf` and forwards it. Returns the
    /// new inactivity deadline when this packet re-armed a watch that had already reported.
    pub fn readable(&mut self, now: Instant, ix: usize, buf: &mut [u8]) -> Option<Instant> {
        let (leg, ch) = leg_channel(ix);
        let (n, from) = match self.socket(leg, ch).recv_from(buf) {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
            Err(e) => {
                trace!(error = %e, "relay receive failed");
                return None;
            }
        };
        let packet = buf.get(..n)?;
        match self.relay.forward(now, leg, ch, from, packet) {
            Forward::To { to, channel } => {
                let _ = self.socket(leg.other(), channel).send_to(packet, to);
                if self.reported {
                    self.reported = false;
                    return self.due();
                }
                None
            }
            Forward::Drop(reason) => {
                trace!(?reason, peer = %from, "relay dropped a packet");
                None
            }
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let st = self.relay.stats();
        debug!(
            a_to_b = st.packets[0],
            b_to_a = st.packets[1],
            dropped_a = st.dropped[0],
            dropped_b = st.dropped[1],
            "relay closed"
        );
    }
}
