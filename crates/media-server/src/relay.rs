//! One anchored call: four sockets (RTP and RTCP facing each leg) in one task, every datagram
//! judged by `media::Relay` and sent on from the receive buffer (no copy, no allocation).
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

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

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

/// The inactivity timeout and what to do when it expires.
pub(crate) struct Watch {
    pub inactivity: Option<Duration>,
    pub on_inactive: Box<dyn Fn() + Send>,
}

fn known(p: &RelayPeer) -> bool {
    p.rtp.port() != 0
}

/// Runs until `Close` or until the handle is dropped; the leases go back to the pool then.
pub(crate) async fn run(
    a: Lease,
    b: Lease,
    watch: Watch,
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
    let mut relay = Relay::new(Instant::now(), unknown, unknown);
    let mut peers = [unknown, unknown];
    // Each leg's latest description holds the stream.
    let mut held = [false, false];
    // Inactivity is counted from here (both peers known, or the last peer change).
    let mut since: Option<Instant> = None;
    let mut reported = false;
    let mut bufs = [[0u8; 2048]; 4];
    let [b0, b1, b2, b3] = &mut bufs;
    loop {
        let on_hold = held.iter().any(|h| *h);
        let due = match (watch.inactivity, since) {
            (Some(t), Some(since)) if !reported && !on_hold => {
                let last = [Leg::A, Leg::B]
                    .into_iter()
                    .filter_map(|l| relay.last_activity(l))
                    .fold(since, Instant::max);
                Some(last + t)
            }
            _ => None,
        };
        let sleep_to = due.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let (leg, ch, r, buf): (Leg, Channel, std::io::Result<(usize, SocketAddr)>, &[u8]) = tokio::select! {
            r = s.a_rtp.recv_from(b0) => (Leg::A, Channel::Rtp, r, &b0[..]),
            r = s.a_rtcp.recv_from(b1) => (Leg::A, Channel::Rtcp, r, &b1[..]),
            r = s.b_rtp.recv_from(b2) => (Leg::B, Channel::Rtp, r, &b2[..]),
            r = s.b_rtcp.recv_from(b3) => (Leg::B, Channel::Rtcp, r, &b3[..]),
            cmd = cmds.recv() => {
                match cmd {
                    Some(RelayCmd::Peer(leg, p)) => {
                        let now = Instant::now();
                        let ix = match leg {
                            Leg::A => 0,
                            Leg::B => 1,
                        };
                        if let Some(h) = held.get_mut(ix) {
                            *h = p.held;
                        }
                        let p = relay_peer(p);
                        relay.set_peer(now, leg, p);
                        if let Some(slot) = peers.get_mut(ix) {
                            *slot = p;
                        }
                        if peers.iter().all(known) {
                            since = Some(now);
                            reported = false;
                        }
                        continue;
                    }
                    Some(RelayCmd::Close) | None => break,
                }
            }
            _ = tokio::time::sleep_until(sleep_to.into()), if due.is_some() => {
                debug!("relay inactive");
                reported = true;
                (watch.on_inactive)();
                continue;
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
                reported = false;
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
