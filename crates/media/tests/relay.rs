//! Media anchoring: packets flow only between the negotiated peers, unchanged; everything
//! else is dropped and counted (issue 5: "media from any source other than the negotiated
//! peer is dropped").
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::time::{Duration, Instant};

use common::{addr, phone_audio};
use media::{Channel, Codec, DropReason, Forward, Latching, Leg, Relay, RelayPeer};

const A: &str = "192.0.2.1:4000";
const B: &str = "198.51.100.2:5000";

fn relay(t0: Instant) -> Relay {
    Relay::new(t0, RelayPeer::new(addr(A)), RelayPeer::new(addr(B)))
}

fn rtp_packet() -> Vec<u8> {
    phone_audio(Instant::now(), 7, 1, 1, Codec::Pcmu, &[0; 160])
        .remove(0)
        .1
}

#[test]
fn forwards_both_ways_between_the_negotiated_peers_only() {
    let t0 = Instant::now();
    let mut r = relay(t0);
    let pkt = rtp_packet();
    assert_eq!(
        r.forward(t0, Leg::A, Channel::Rtp, addr(A), &pkt),
        Forward::To {
            to: addr(B),
            channel: Channel::Rtp
        }
    );
    assert_eq!(
        r.forward(t0, Leg::B, Channel::Rtp, addr(B), &pkt),
        Forward::To {
            to: addr(A),
            channel: Channel::Rtp
        }
    );
    // Another host, another port of the peer, the other peer on the wrong leg: dropped.
    for (leg, from) in [
        (Leg::A, "203.0.113.9:4000"),
        (Leg::A, "192.0.2.1:4002"),
        (Leg::A, B),
        (Leg::B, A),
    ] {
        assert_eq!(
            r.forward(t0, leg, Channel::Rtp, addr(from), &pkt),
            Forward::Drop(DropReason::WrongSource),
            "{from}"
        );
    }
    let stats = r.stats();
    assert_eq!(stats.packets, [1, 1]);
    assert_eq!(stats.bytes, [pkt.len() as u64; 2]);
    assert_eq!(stats.dropped, [3, 1]);
    assert_eq!(r.last_activity(Leg::A), Some(t0));
}

#[test]
fn rtcp_goes_to_the_rtcp_address_and_is_filtered_too() {
    let t0 = Instant::now();
    let mut r = relay(t0);
    let rr = [0x80u8, 201, 0, 1, 0, 0, 0, 7];
    assert_eq!(
        r.forward(t0, Leg::A, Channel::Rtcp, addr("192.0.2.1:4001"), &rr),
        Forward::To {
            to: addr("198.51.100.2:5001"),
            channel: Channel::Rtcp
        }
    );
    assert_eq!(
        r.forward(t0, Leg::A, Channel::Rtcp, addr("203.0.113.9:4001"), &rr),
        Forward::Drop(DropReason::WrongSource)
    );
}

#[test]
fn rtcp_mux_on_one_side_is_demultiplexed() {
    let t0 = Instant::now();
    let a = RelayPeer {
        rtcp: None,
        ..RelayPeer::new(addr(A))
    };
    let mut r = Relay::new(t0, a, RelayPeer::new(addr(B)));
    let rr = [0x80u8, 201, 0, 1, 0, 0, 0, 7];
    assert_eq!(
        r.forward(t0, Leg::A, Channel::Rtp, addr(A), &rr),
        Forward::To {
            to: addr("198.51.100.2:5001"),
            channel: Channel::Rtcp
        }
    );
    assert_eq!(
        r.forward(t0, Leg::B, Channel::Rtcp, addr("198.51.100.2:5001"), &rr),
        Forward::To {
            to: addr(A),
            channel: Channel::Rtp
        }
    );
}

#[test]
fn packets_are_not_rewritten_and_garbage_is_dropped() {
    let t0 = Instant::now();
    let mut r = relay(t0);
    assert_eq!(
        r.forward(t0, Leg::A, Channel::Rtp, addr(A), &[0x80, 0]),
        Forward::Drop(DropReason::Malformed)
    );
    assert_eq!(
        r.forward(t0, Leg::A, Channel::Rtp, addr(A), &[0u8; 40]),
        Forward::Drop(DropReason::Malformed)
    );
    // The API takes `&[u8]`: the relay cannot modify what it forwards.
}

#[test]
fn symmetric_latching_accepts_the_peers_ip_on_another_port_once() {
    let t0 = Instant::now();
    let a = RelayPeer {
        latching: Latching::SameIp {
            window: Duration::from_secs(5),
        },
        ..RelayPeer::new(addr(A))
    };
    let mut r = Relay::new(t0, a, RelayPeer::new(addr(B)));
    let pkt = rtp_packet();
    let natted = addr("192.0.2.1:61000");
    assert_eq!(
        r.forward(t0, Leg::A, Channel::Rtp, natted, &pkt),
        Forward::To {
            to: addr(B),
            channel: Channel::Rtp
        }
    );
    assert_eq!(r.peer(Leg::A), natted);
    assert_eq!(
        r.forward(t0, Leg::B, Channel::Rtp, addr(B), &pkt),
        Forward::To {
            to: natted,
            channel: Channel::Rtp
        }
    );
    assert_eq!(
        r.forward(t0, Leg::A, Channel::Rtp, addr(A), &pkt),
        Forward::Drop(DropReason::WrongSource)
    );
}

#[test]
fn a_peer_on_hold_receives_nothing_and_reinvite_moves_it() {
    let t0 = Instant::now();
    let mut r = Relay::new(
        t0,
        RelayPeer::new(addr(A)),
        RelayPeer::new(addr("0.0.0.0:5000")),
    );
    let pkt = rtp_packet();
    assert_eq!(
        r.forward(t0, Leg::A, Channel::Rtp, addr(A), &pkt),
        Forward::Drop(DropReason::NoPeer)
    );
    r.set_peer(t0, Leg::B, RelayPeer::new(addr(B)));
    assert_eq!(
        r.forward(t0, Leg::A, Channel::Rtp, addr(A), &pkt),
        Forward::To {
            to: addr(B),
            channel: Channel::Rtp
        }
    );
}

#[test]
fn forwarding_is_cheap() {
    // Not a benchmark (that is bench/), a guard against an accidental slow path: a debug
    // build still forwards a million packets well within a second.
    let t0 = Instant::now();
    let mut r = relay(t0);
    let pkt = rtp_packet();
    let start = Instant::now();
    for i in 0..1_000_000u32 {
        let leg = if i % 2 == 0 { Leg::A } else { Leg::B };
        let from = if i % 2 == 0 { addr(A) } else { addr(B) };
        std::hint::black_box(r.forward(t0, leg, Channel::Rtp, from, &pkt));
    }
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(r.stats().packets, [500_000; 2]);
}
