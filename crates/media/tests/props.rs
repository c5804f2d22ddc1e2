//! Property tests: nothing that arrives from the network (any bytes, from any address, at
//! any time, interleaved with any command) makes a session or a relay panic, and the session
//! always returns to a consistent state (timeouts in the future, bounded output).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::{PEER, addr, phone_event};
use media::{
    Channel, Codec, Command, EndpointConfig, Input, Latching, Leg, PlayId, RecordConfig, Relay,
    RelayPeer, Session,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Rtp {
        peer: bool,
        port: u16,
        bytes: Vec<u8>,
    },
    Rtcp {
        peer: bool,
        bytes: Vec<u8>,
    },
    Event {
        event: u8,
        end: bool,
        ts: u32,
    },
    Wait(u16),
    Play(usize),
    Record(u16),
    Stop,
    StopRecording,
    SendDtmf(char),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (any::<bool>(), any::<u16>(), proptest::collection::vec(any::<u8>(), 0..200))
            .prop_map(|(peer, port, bytes)| Step::Rtp { peer, port, bytes }),
        4 => (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(peer, bytes)| Step::Rtcp { peer, bytes }),
        2 => (any::<u8>(), any::<bool>(), any::<u32>()).prop_map(|(event, end, ts)| Step::Event { event, end, ts }),
        // A valid-looking header with random rest: exercises the parser past the first check.
        3 => (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..200)).prop_map(|(pt, mut bytes)| {
            let mut b = vec![0x80, pt & 0x7f];
            b.append(&mut bytes);
            Step::Rtp { peer: true, port: 40000, bytes: b }
        }),
        3 => any::<u16>().prop_map(Step::Wait),
        1 => (0usize..3000).prop_map(Step::Play),
        1 => (0u16..3000).prop_map(Step::Record),
        1 => Just(Step::Stop),
        1 => Just(Step::StopRecording),
        1 => any::<char>().prop_map(Step::SendDtmf),
    ]
}

fn source(peer: bool, port: u16) -> SocketAddr {
    if peer {
        SocketAddr::new(addr(PEER).ip(), port)
    } else {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)), port)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_session_never_panics(steps in proptest::collection::vec(step(), 1..60), inband in any::<bool>(), latch in any::<bool>()) {
        let t0 = Instant::now();
        let mut cfg = EndpointConfig::new(addr(PEER), Codec::Pcmu, 77);
        if inband { cfg.dtmf_payload_type = None; }
        if latch { cfg.latching = Latching::SameIp { window: Duration::from_secs(1) }; }
        let mut s = Session::new(t0, cfg);
        let mut now = t0;
        for step in steps {
            let input = match &step {
                Step::Rtp { peer, port, bytes } => Input::RtpIn { from: source(*peer, *port), bytes },
                Step::Rtcp { peer, bytes } => Input::RtcpIn { from: source(*peer, 40001), bytes },
                Step::Event { .. } | Step::Wait(_) => Input::Tick,
                Step::Play(n) => Input::Command(Command::Play { id: PlayId(1), clips: vec![vec![100i16; *n].into()] }),
                Step::Record(ms) => Input::Command(Command::Record(RecordConfig { max: Duration::from_millis(u64::from(*ms)), ..RecordConfig::default() })),
                Step::Stop => Input::Command(Command::StopPlayback),
                Step::StopRecording => Input::Command(Command::StopRecording),
                Step::SendDtmf(digit) => Input::Command(Command::SendDtmf { digit: *digit, duration: Duration::from_millis(100) }),
            };
            if let Step::Wait(ms) = step {
                now += Duration::from_millis(u64::from(ms));
            }
            if let Step::Event { event, end, ts } = step {
                let bytes = phone_event(5, 1, ts, 101, event, end, 160, false);
                s.handle_input(now, Input::RtpIn { from: addr(PEER), bytes: &bytes });
            } else {
                s.handle_input(now, input);
            }
            let mut outputs = 0;
            while s.poll_output().is_some() {
                outputs += 1;
            }
            prop_assert!(outputs < 10_000);
            if let Some(t) = s.poll_timeout() {
                // Everything due has been done: the next timeout is in the future.
                prop_assert!(t > now, "timeout {:?} not after now", t - t0);
            }
        }
        s.handle_input(now, Input::Command(Command::Hangup));
        while s.poll_output().is_some() {}
        prop_assert!(s.is_closed());
        prop_assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn a_relay_never_panics(packets in proptest::collection::vec((any::<bool>(), any::<bool>(), any::<bool>(), any::<u16>(), proptest::collection::vec(any::<u8>(), 0..64)), 1..100)) {
        let t0 = Instant::now();
        let a = RelayPeer { rtcp: None, latching: Latching::SameIp { window: Duration::from_secs(1) }, ..RelayPeer::new(addr(PEER)) };
        let mut r = Relay::new(t0, a, RelayPeer::new(addr("198.51.100.2:5000")));
        let mut handled = 0u64;
        for (leg_a, rtcp, peer, port, bytes) in packets {
            let leg = if leg_a { Leg::A } else { Leg::B };
            let channel = if rtcp { Channel::Rtcp } else { Channel::Rtp };
            let _ = r.forward(t0, leg, channel, source(peer, port), &bytes);
            handled += 1;
        }
        let st = r.stats();
        prop_assert_eq!(st.packets[0] + st.packets[1] + st.dropped[0] + st.dropped[1], handled);
    }
}
