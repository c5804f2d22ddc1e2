//! Non-INVITE transactions over the simulated network (RFC 3261 §17.1.2, §17.2.2), and
//! the layer's bookkeeping: transport errors, stray responses, bounded state.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::msg::{request, respond, standard_tu};
use common::{NetParams, Sim, UAC, UAS, gaps};
use sip_txn::{Endpoint, Input, Output, Timers, TxnError};

fn options(branch: &str) -> sip::Message {
    request("OPTIONS", Some(branch), "call-n", 1)
}

#[test]
fn retransmissions_cap_at_t2_then_timer_f() {
    let mut sim = Sim::new(1, NetParams::default());
    sim.drop = Box::new(|from, _| from == UAC);
    let id = sim.send_request(options("z9hG4bKo1"));
    sim.run();

    let times = sim.sent_times(UAC, "OPTIONS");
    assert_eq!(
        gaps(&times),
        [500, 1000, 2000, 4000, 4000, 4000, 4000, 4000, 4000, 4000]
    );
    assert_eq!(sim.timeouts(id), 1);
    let f = sim
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
    assert_eq!(sim.ms(f.at), 32_000);
    assert!(sim.responses(id).is_empty());
    assert!(sim.nodes[0].is_empty());
}

#[test]
fn proceeding_retransmits_every_t2() {
    let mut sim = Sim::new(2, NetParams::default());
    sim.tu = standard_tu(vec![(0, 100), (10_000, 200)]);
    let id = sim.send_request(options("z9hG4bKo2"));
    sim.run();

    // A 1xx at 20 ms moves to Proceeding: the next E fires at T1, then every T2.
    assert_eq!(sim.sent_times(UAC, "OPTIONS"), [0, 500, 4500, 8500]);
    // Each retransmission in Proceeding is answered with the last provisional.
    assert_eq!(sim.sent_times(UAS, "100").len(), 4);
    assert_eq!(sim.requests().len(), 1);
    assert_eq!(sim.responses(id), [100, 100, 100, 100, 200]);
    assert!(sim.nodes[0].is_empty() && sim.nodes[1].is_empty());
}

#[test]
fn server_absorbs_duplicated_requests() {
    let params = NetParams {
        dup: 100,
        jitter_ms: 30,
        ..NetParams::default()
    };
    let mut sim = Sim::new(3, params);
    sim.tu = standard_tu(vec![(0, 200)]);
    let id = sim.send_request(options("z9hG4bKo3"));
    sim.run();

    assert_eq!(sim.requests().len(), 1, "the TU sees the request once");
    // Copies arriving after the answer get it again; earlier ones are absorbed (Trying).
    let arrivals = sim.sent_times(UAC, "OPTIONS").len() * 2;
    assert!((1..=arrivals).contains(&sim.sent_times(UAS, "200").len()));
    assert_eq!(sim.responses(id), [200], "the duplicated final is absorbed");
    assert!(sim.nodes[0].is_empty() && sim.nodes[1].is_empty());
}

#[test]
fn timers_k_and_j_end_completed_transactions() {
    let mut sim = Sim::new(4, NetParams::default());
    sim.tu = standard_tu(vec![(0, 200)]);
    sim.send_request(options("z9hG4bKo4"));
    sim.run_for(Duration::from_millis(5019));
    assert_eq!(
        sim.nodes[0].len(),
        (1, 0),
        "Timer K = T4 after the 200 at 20 ms"
    );
    sim.run_for(Duration::from_millis(5020));
    assert_eq!(sim.nodes[0].len(), (0, 0));
    assert_eq!(sim.nodes[1].len(), (0, 1), "Timer J = 64*T1");
    sim.run();
    assert_eq!(sim.nodes[1].len(), (0, 0));
    let j = sim
        .log
        .iter()
        .find(|e| matches!(e.out, Output::ServerTerminated { .. }))
        .unwrap();
    assert_eq!(sim.ms(j.at), 32_010);
}

#[test]
fn transport_error_ends_transactions() {
    let t = Instant::now();
    let mut ep: Endpoint<u8> = Endpoint::new(Timers::default());
    let id = ep.new_client_id();
    let msg = options("z9hG4bKo5");
    ep.handle_input(
        t,
        Input::SendRequest {
            id,
            msg: msg.clone(),
            target: 7,
            reliable: true,
        },
    )
    .unwrap();
    ep.handle_input(
        t,
        Input::Received {
            msg: msg.clone(),
            source: 7,
            reliable: true,
        },
    )
    .unwrap();
    assert_eq!(ep.len(), (1, 1));
    ep.handle_input(t, Input::TransportError { target: 7 })
        .unwrap();
    let outs: Vec<_> = std::iter::from_fn(|| ep.poll_output()).collect();
    assert!(
        outs.iter().any(
            |o| matches!(o, Output::ClientTimeout { txn, transport_error: true } if *txn == id)
        )
    );
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::ServerTerminated { .. }))
    );
    assert_eq!(ep.len(), (0, 0));
    assert_eq!(ep.poll_timeout(), None);
}

#[test]
fn stray_responses_and_misuse_are_reported() {
    let t = Instant::now();
    let mut ep: Endpoint<u8> = Endpoint::new(Timers::default());
    let req = options("z9hG4bKo6");
    let resp = respond(&req, 200, Some("x"));
    ep.handle_input(
        t,
        Input::Received {
            msg: resp.clone(),
            source: 1,
            reliable: false,
        },
    )
    .unwrap();
    assert!(matches!(
        ep.poll_output(),
        Some(Output::StrayResponse { .. })
    ));

    let id = ep.new_client_id();
    let no_branch = request("OPTIONS", None, "c", 1);
    let send = |msg: sip::Message| Input::SendRequest {
        id,
        msg,
        target: 1,
        reliable: false,
    };
    assert!(matches!(
        ep.handle_input(t, send(no_branch)),
        Err(TxnError::MissingBranch)
    ));
    let ack = request("ACK", Some("z9hG4bKa"), "c", 1);
    assert!(matches!(
        ep.handle_input(t, send(ack)),
        Err(TxnError::AckTransaction)
    ));
    assert!(matches!(
        ep.handle_input(t, send(resp.clone())),
        Err(TxnError::NotARequest)
    ));
    ep.handle_input(t, send(req.clone())).unwrap();
    assert!(matches!(
        ep.handle_input(t, send(req.clone())),
        Err(TxnError::DuplicateId(_))
    ));
    let other = ep.new_client_id();
    let dup = Input::SendRequest {
        id: other,
        msg: req.clone(),
        target: 1,
        reliable: false,
    };
    assert!(matches!(
        ep.handle_input(t, dup),
        Err(TxnError::DuplicateBranch)
    ));

    let unknown = Input::SendResponse {
        txn: sip_txn::ServerTxnId(42),
        response: resp,
    };
    assert!(matches!(
        ep.handle_input(t, unknown),
        Err(TxnError::UnknownTransaction(_))
    ));
}

#[test]
fn second_final_is_refused() {
    let t = Instant::now();
    let mut ep: Endpoint<u8> = Endpoint::new(Timers::default());
    let req = options("z9hG4bKo7");
    ep.handle_input(
        t,
        Input::Received {
            msg: req.clone(),
            source: 1,
            reliable: false,
        },
    )
    .unwrap();
    let Some(Output::Request { txn, .. }) = ep.poll_output() else {
        panic!()
    };
    let ok = Input::SendResponse {
        txn,
        response: respond(&req, 200, Some("x")),
    };
    ep.handle_input(t, ok.clone()).unwrap();
    assert!(matches!(
        ep.handle_input(t, ok),
        Err(TxnError::InvalidState { status: 200, .. })
    ));
    let not_response = Input::SendResponse { txn, response: req };
    assert!(matches!(
        ep.handle_input(t, not_response),
        Err(TxnError::NotAResponse)
    ));
}

#[test]
fn bounded_state_refuses_new_transactions() {
    let t = Instant::now();
    let mut ep: Endpoint<u8> = Endpoint::new(Timers::default()).with_max_transactions(1);
    let first = options("z9hG4bKb1");
    ep.handle_input(
        t,
        Input::Received {
            msg: first.clone(),
            source: 1,
            reliable: false,
        },
    )
    .unwrap();
    // A retransmission of a live transaction is still absorbed.
    ep.handle_input(
        t,
        Input::Received {
            msg: first,
            source: 1,
            reliable: false,
        },
    )
    .unwrap();
    let second = options("z9hG4bKb2");
    match ep.handle_input(
        t,
        Input::Received {
            msg: second,
            source: 1,
            reliable: false,
        },
    ) {
        Err(TxnError::Overloaded(m)) => {
            assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bKb2"))
        }
        other => panic!("{other:?}"),
    }
    // An ACK never creates a transaction, so it is never refused.
    let ack = request("ACK", Some("z9hG4bKb3"), "call-n", 1);
    ep.handle_input(
        t,
        Input::Received {
            msg: ack,
            source: 1,
            reliable: false,
        },
    )
    .unwrap();
    assert_eq!(ep.len(), (0, 1));
    let _ = UAS;
}
