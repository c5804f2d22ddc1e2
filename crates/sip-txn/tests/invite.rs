//! INVITE transactions over the simulated network (RFC 3261 §17.1.1, §17.2.1, §13.3.1.4,
//! RFC 6026).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::msg::{cancel_for, is_ack, request, standard_tu};
use common::{NetParams, Sim, UAC, UAS, gaps};
use sip_txn::{Input, Output};
use std::time::Duration;

fn invite() -> sip::Message {
    request("INVITE", Some("z9hG4bKinv1"), "call-1", 1)
}

#[test]
fn invite_180_200_retransmits_2xx_until_ack() {
    let mut sim = Sim::new(1, NetParams::default());
    sim.tu = standard_tu(vec![(0, 180), (2000, 200)]);
    let mut acks_dropped = 0;
    sim.drop = Box::new(move |from, m| {
        let drop = from == UAC && is_ack(m) && acks_dropped < 2;
        acks_dropped += usize::from(drop);
        drop
    });
    let id = sim.send_request(invite());
    sim.run();

    assert_eq!(
        sim.sent_times(UAC, "INVITE"),
        [0],
        "100 Trying stops Timer A"
    );
    assert_eq!(sim.sent_times(UAS, "100"), [10]);
    // §13.3.1.4: 2xx at T1, 2*T1 ... until the (third) ACK arrives.
    assert_eq!(sim.sent_times(UAS, "200"), [2010, 2510, 3510]);
    // RFC 6026: the UAC TU sees every 2xx; 1xx once each.
    assert_eq!(sim.responses(id), [100, 180, 200, 200, 200]);
    assert_eq!(sim.count(UAS, |o| matches!(o, Output::Ack { .. })), 1);
    assert_eq!(
        sim.count(UAS, |o| matches!(o, Output::AckTimeout { .. })),
        0
    );
    assert_eq!(sim.requests().len(), 1);
    assert_eq!(
        sim.count(UAS, |o| matches!(o, Output::ServerTerminated { .. })),
        1
    );
    assert!(sim.nodes[0].is_empty() && sim.nodes[1].is_empty());
    assert!(sim.errors.is_empty(), "{:?}", sim.errors);
}

#[test]
fn invite_486_is_acked_by_the_layer_and_retransmissions_absorbed() {
    let mut sim = Sim::new(2, NetParams::default());
    sim.tu = standard_tu(vec![(0, 486)]);
    let mut first = true;
    sim.drop = Box::new(move |from, m| {
        let drop = from == UAC && is_ack(m) && first;
        first &= !drop;
        drop
    });
    let id = sim.send_request(invite());
    sim.run_for(Duration::from_secs(10));

    // The first ACK is lost: Timer G resends the 486, the UAC layer ACKs it again.
    assert_eq!(sim.sent_times(UAS, "486"), [10, 510]);
    let acks: Vec<_> = sim
        .sent(UAC)
        .into_iter()
        .filter(|(_, m)| is_ack(m))
        .collect();
    assert_eq!(acks.len(), 2);
    let ack = &acks[0].1;
    assert_eq!(ack.top_via().unwrap().branch(), Some("z9hG4bKinv1"));
    assert_eq!(ack.cseq().unwrap().method, "ACK");
    assert_eq!(ack.to().unwrap().tag(), Some("bob1"));
    assert_eq!(
        sim.responses(id),
        [100, 486],
        "the retransmitted 486 is absorbed"
    );
    assert_eq!(sim.count(UAS, |o| matches!(o, Output::Ack { .. })), 0);
    // UAS: Confirmed, Timer I (T4) ends it; UAC: Completed until Timer D (32 s).
    assert_eq!(sim.nodes[1].len(), (0, 0));
    assert_eq!(sim.nodes[0].len(), (1, 0));
    sim.run();
    assert_eq!(sim.nodes[0].len(), (0, 0));
    assert_eq!(
        sim.count(UAS, |o| matches!(o, Output::AckTimeout { .. })),
        0
    );
}

#[test]
fn timer_h_reports_ack_timeout() {
    let mut sim = Sim::new(3, NetParams::default());
    sim.tu = standard_tu(vec![(0, 486)]);
    sim.drop = Box::new(|from, m| from == UAC && is_ack(m));
    sim.send_request(invite());
    sim.run();

    let times = sim.sent_times(UAS, "486");
    // Timer G: T1 doubling capped at T2, until Timer H (64*T1 = 32 s).
    assert_eq!(gaps(&times)[..5], [500, 1000, 2000, 4000, 4000]);
    assert!(gaps(&times).iter().all(|g| *g <= 4000));
    assert!(*times.last().unwrap() < 32_010);
    let h = sim
        .log
        .iter()
        .find(|e| matches!(e.out, Output::AckTimeout { .. }))
        .expect("Timer H");
    assert_eq!(sim.ms(h.at), 32_010);
    assert_eq!(
        sim.count(UAS, |o| matches!(o, Output::AckTimeout { .. })),
        1
    );
    assert_eq!(
        sim.count(UAS, |o| matches!(o, Output::ServerTerminated { .. })),
        1
    );
}

#[test]
fn timer_l_reports_ack_timeout_for_unacknowledged_2xx() {
    let mut sim = Sim::new(4, NetParams::default());
    sim.tu = standard_tu(vec![(0, 200)]);
    sim.drop = Box::new(|from, m| from == UAC && is_ack(m));
    let id = sim.send_request(invite());
    sim.run();

    let times = sim.sent_times(UAS, "200");
    assert_eq!(gaps(&times)[..4], [500, 1000, 2000, 4000]);
    assert!(gaps(&times).iter().all(|g| *g <= 4000));
    assert_eq!(
        sim.count(UAS, |o| matches!(o, Output::AckTimeout { .. })),
        1
    );
    // The UAC TU saw every 2xx copy while its transaction was Accepted (Timer M = 32 s).
    assert_eq!(
        sim.responses(id).iter().filter(|s| **s == 200).count(),
        times.len()
    );
    assert!(sim.nodes[0].is_empty() && sim.nodes[1].is_empty());
}

#[test]
fn timer_b_times_out_unanswered_invite() {
    let mut sim = Sim::new(5, NetParams::default());
    sim.drop = Box::new(|from, _| from == UAC);
    let id = sim.send_request(invite());
    sim.run();

    // Timer A doubles without the T2 cap (§17.1.1.2).
    let times = sim.sent_times(UAC, "INVITE");
    assert_eq!(times, [0, 500, 1500, 3500, 7500, 15_500, 31_500]);
    assert_eq!(sim.timeouts(id), 1);
    let b = sim
        .log
        .iter()
        .find(|e| {
            matches!(
                e.out,
                Output::ClientTimeout {
                    transport_error: false,
                    ..
                }
            )
        })
        .unwrap();
    assert_eq!(sim.ms(b.at), 32_000);
    assert!(sim.nodes[0].is_empty());
}

#[test]
fn cancel_matches_the_invite() {
    let mut sim = Sim::new(6, NetParams::default());
    let mut uas = standard_tu(vec![(0, 180), (5000, 200)]);
    let inv = invite();
    let cancel = cancel_for(&inv);
    sim.tu = Box::new(move |side, out| {
        let mut v = uas(side, out);
        if let Output::Response { msg, .. } = out
            && side == UAC
            && msg.status() == Some(180)
        {
            v.push((
                Duration::ZERO,
                Input::SendRequest {
                    id: sip_txn::ClientTxnId(99),
                    msg: cancel.clone(),
                    target: UAS,
                    reliable: false,
                },
            ));
        }
        v
    });
    let id = sim.send_request(inv);
    sim.run();

    let reqs = sim.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].1, "INVITE");
    assert_eq!((reqs[1].1.as_str(), reqs[1].2), ("CANCEL", Some(reqs[0].0)));
    assert_eq!(sim.responses(sip_txn::ClientTxnId(99)), [200]);
    assert_eq!(sim.responses(id), [100, 180, 487]);
    // The 487 is ACKed by the layer with the INVITE's branch.
    let acks: Vec<_> = sim
        .sent(UAC)
        .into_iter()
        .filter(|(_, m)| is_ack(m))
        .collect();
    assert_eq!(acks.len(), 1);
    // The planned 200 comes too late: the transaction is gone.
    assert_eq!(sim.errors.len(), 1);
    assert!(sim.nodes[0].is_empty() && sim.nodes[1].is_empty());
}

#[test]
fn reliable_transport_sets_no_retransmission_timers() {
    let params = NetParams {
        reliable: true,
        ..NetParams::default()
    };
    let mut sim = Sim::new(7, params);
    sim.tu = standard_tu(vec![(40_000, 486)]);
    sim.drop = Box::new(|from, m| from == UAS && m.status() == Some(100));
    let id = sim.send_request(invite());
    sim.run_for(Duration::from_secs(10));
    // No 1xx reached the UAC, yet Timer A is not set on a reliable transport.
    assert_eq!(sim.sent_times(UAC, "INVITE"), [0]);
    sim.run();
    // Timer B still bounds Calling.
    assert_eq!(sim.timeouts(id), 1);

    let mut sim = Sim::new(8, params);
    sim.tu = standard_tu(vec![(0, 486)]);
    let id = sim.send_request(invite());
    sim.run_for(Duration::from_millis(100));
    assert_eq!(sim.responses(id), [100, 486]);
    assert_eq!(sim.sent_times(UAS, "486"), [10], "no Timer G");
    // Timers D and I are zero: both sides are done once the ACK is through.
    assert!(sim.nodes[0].is_empty() && sim.nodes[1].is_empty());
    assert_eq!(sim.nodes[0].poll_timeout(), None);

    let mut sim = Sim::new(9, params);
    sim.tu = standard_tu(vec![(0, 200)]);
    let id = sim.send_request(request("OPTIONS", Some("z9hG4bKopt"), "call-2", 1));
    sim.run_for(Duration::from_millis(100));
    assert_eq!(sim.responses(id), [200]);
    assert!(
        sim.nodes[0].is_empty() && sim.nodes[1].is_empty(),
        "Timers K and J are zero"
    );
}
