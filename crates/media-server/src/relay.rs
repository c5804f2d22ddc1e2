//! One anchored call: four sockets (RTP and RTCP facing each leg) in one task, every datagram
//! judged by `media::Relay` and sent on from the receive buffer (no copy, no allocation).
//!
//! Until the callee's answer arrives, B's peer is unknown and everything is dropped. Sends
//! never wait: a full socket buffer drops the packet, as the network would.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use media::{Channel, Forward, Leg, Relay, RelayPeer};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, trace, warn};

use crate::RelayCmd;
use crate::negotiate::Peer;
use crate::pool::Lease;

fn relay_peer(p: Peer) -> RelayPeer {
    RelayPeer {
        rtp: p.rtp,
        rtcp: p.rtcp,
        latching: media::Latching::Strict,
    }
}

struct Sockets {
    a_rtp: UdpSocket,
    a_rtcp: UdpSocket,
    b_rtp: UdpSocket,
    b_rtcp: UdpSocket,
}

fn tokio_sockets(a: &Lease, b: &Lease) -> std::io::Result<Sockets> {
    let conv = |s: &std::net::UdpSocket| s.try_clone().and_then(UdpSocket::from_std);
    Ok(Sockets {
        a_rtp: conv(&a.rtp)?,
        a_rtcp: conv(&a.rtcp)?,
        b_rtp: conv(&b.rtp)?,
        b_rtcp: conv(&b.rtcp)?,
    })
}

/// Runs until `Close` or until the handle is dropped; the leases go back to the pool then.
pub(crate) async fn run(
    a: Lease,
    b: Lease,
    peer_a: Peer,
    mut cmds: mpsc::UnboundedReceiver<RelayCmd>,
) {
    let s = match tokio_sockets(&a, &b) {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "relay sockets unusable");
            return;
        }
    };
    let unknown = RelayPeer {
        rtp: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        rtcp: None,
        latching: media::Latching::Strict,
    };
    let mut relay = Relay::new(Instant::now(), relay_peer(peer_a), unknown);
    let mut bufs = [[0u8; 2048]; 4];
    let [b0, b1, b2, b3] = &mut bufs;
    loop {
        let (leg, ch, r, buf): (Leg, Channel, std::io::Result<(usize, SocketAddr)>, &[u8]) = tokio::select! {
            r = s.a_rtp.recv_from(b0) => (Leg::A, Channel::Rtp, r, &b0[..]),
            r = s.a_rtcp.recv_from(b1) => (Leg::A, Channel::Rtcp, r, &b1[..]),
            r = s.b_rtp.recv_from(b2) => (Leg::B, Channel::Rtp, r, &b2[..]),
            r = s.b_rtcp.recv_from(b3) => (Leg::B, Channel::Rtcp, r, &b3[..]),
            cmd = cmds.recv() => {
                match cmd {
                    Some(RelayCmd::Answer(p)) => {
                        relay.set_peer(Instant::now(), Leg::B, relay_peer(p));
                        continue;
                    }
                    Some(RelayCmd::Close) | None => break,
                }
            }
        };
        let Ok((n, from)) = r else { continue };
        let Some(packet) = buf.get(..n) else { continue };
        match relay.forward(Instant::now(), leg, ch, from, packet) {
            Forward::To { to, channel } => {
                let out = match (leg.other(), channel) {
                    (Leg::A, Channel::Rtp) => &s.a_rtp,
                    (Leg::A, Channel::Rtcp) => &s.a_rtcp,
                    (Leg::B, Channel::Rtp) => &s.b_rtp,
                    (Leg::B, Channel::Rtcp) => &s.b_rtcp,
                };
                let _ = out.try_send_to(packet, to);
            }
            Forward::Drop(reason) => trace!(?reason, peer = %from, "relay dropped a packet"),
        }
    }
    let st = relay.stats();
    debug!(
        a_to_b = st.packets[0],
        b_to_a = st.packets[1],
        dropped_a = st.dropped[0],
        dropped_b = st.dropped[1],
        "relay closed"
    );
    drop((a, b));
}
