//! Properties under a hostile network: random loss (< 50 %), duplication, reordering and
//! delay; and arbitrary input sequences never panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::msg::{request, respond, standard_tu};
use common::{NetParams, Sim, UAS, XorShift};
use proptest::prelude::*;
use sip_txn::{Endpoint, Input, Output, ServerTxnId, Timers};

fn params() -> impl Strategy<Value = NetParams> {
    (0u32..50, 0u32..30, 0u32..50, 0u64..2000, 0u64..100).prop_map(
        |(loss, dup, reorder, reorder_ms, jitter_ms)| NetParams {
            loss,
            dup,
            reorder,
            reorder_ms,
            jitter_ms,
            ..NetParams::default()
        },
    )
}

fn plan() -> impl Strategy<Value = Vec<(u64, u16)>> {
    prop_oneof![
        (0u64..3000).prop_map(|d| vec![(d, 200)]),
        (0u64..3000, 300u16..700).prop_map(|(d, s)| vec![(0, 100), (d, s)]),
        (0u64..40_000).prop_map(|d| vec![(d, 404)]),
        Just(vec![]),
    ]
}

/// Starts `n` transactions of `method`, 100 ms apart, and runs to quiescence.
fn run(
    seed: u64,
    p: NetParams,
    plan: Vec<(u64, u16)>,
    method: &str,
    n: u32,
) -> (Sim, Vec<sip_txn::ClientTxnId>) {
    let mut sim = Sim::new(seed, p);
    sim.tu = standard_tu(plan);
    let mut ids = Vec::new();
    for i in 0..n {
        let msg = request(
            method,
            Some(&format!("z9hG4bKp{i}")),
            &format!("call-{i}"),
            i + 1,
        );
        ids.push(sim.send_request(msg));
        sim.run_for(Duration::from_millis(u64::from(i + 1) * 100));
    }
    sim.run_for(Duration::from_secs(600));
    (sim, ids)
}

/// The UAS TU sees each transaction's request at most once (by branch).
fn requests_once(sim: &Sim) -> bool {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for o in sim.outputs(UAS) {
        if let Output::Request { msg, .. } = o {
            *seen
                .entry(msg.top_via().unwrap().branch().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    seen.values().all(|n| *n == 1)
}

proptest! {
    #[test]
    fn non_invite_ends_with_one_final_or_one_timeout(
        seed in any::<u64>(), p in params(), plan in plan(), n in 1u32..4,
    ) {
        let (sim, ids) = run(seed, p, plan, "OPTIONS", n);
        for id in ids {
            let finals = sim.responses(id).iter().filter(|s| **s >= 200).count();
            prop_assert_eq!(finals + sim.timeouts(id), 1, "{:?}", sim.responses(id));
        }
        prop_assert!(requests_once(&sim));
        prop_assert!(sim.errors.is_empty(), "{:?}", sim.errors);
        prop_assert!(sim.nodes[0].is_empty());
    }

    #[test]
    fn invite_outcomes_are_consistent(
        seed in any::<u64>(), p in params(), plan in plan(), n in 1u32..3,
    ) {
        let (sim, ids) = run(seed, p, plan, "INVITE", n);
        for id in ids {
            let r = sim.responses(id);
            let ok = r.iter().filter(|s| (200..300).contains(*s)).count();
            let failed = r.iter().filter(|s| **s >= 300).count() + sim.timeouts(id);
            prop_assert!(failed <= 1, "{:?}", r);
            prop_assert!(ok == 0 || failed == 0, "{:?}", r);
        }
        prop_assert!(requests_once(&sim));
        let ack_timeouts = sim.count(UAS, |o| matches!(o, Output::AckTimeout { .. }));
        prop_assert!(ack_timeouts <= n as usize);
    }

    #[test]
    fn arbitrary_inputs_never_panic(seed in any::<u64>(), steps in 1usize..200) {
        let mut rng = XorShift::new(seed);
        let t0 = Instant::now();
        let mut now = t0;
        let mut ep: Endpoint<u8> = Endpoint::new(Timers::default())
            .with_max_transactions(8)
            .with_max_completed(8);
        let methods = ["INVITE", "ACK", "CANCEL", "OPTIONS", "BYE"];
        let branches = [Some("z9hG4bKa"), Some("z9hG4bKb"), Some("old"), None];
        for _ in 0..steps {
            let method = methods[rng.below(5) as usize];
            let branch = branches[rng.below(4) as usize];
            let req = request(method, branch, "c", 1 + rng.below(2) as u32);
            let status = [100, 180, 200, 486, 503][rng.below(5) as usize];
            let resp = respond(&request("INVITE", branch, "c", 1), status, Some("t"));
            let input = match rng.below(7) {
                0 => Input::Received { msg: req, source: 1, reliable: rng.percent(20) },
                1 => Input::Received { msg: resp, source: 1, reliable: false },
                2 => {
                    let id = ep.new_client_id();
                    Input::SendRequest { id, msg: req, target: rng.below(2) as u8, reliable: rng.percent(20) }
                }
                3 => {
                    let r = if rng.percent(10) { req } else { respond(&req, status, Some("t")) };
                    Input::SendResponse { txn: ServerTxnId(rng.below(10)), response: r }
                }
                4 => Input::TransportError { target: rng.below(3) as u8 },
                _ => {
                    now += Duration::from_millis(rng.below(10_000));
                    Input::Timeout
                }
            };
            let _ = ep.handle_input(now, input);
            while ep.poll_output().is_some() {}
            let (c, s) = ep.len();
            // Live transactions and completed non-INVITE ones are bounded apart.
            let done = ep.completed_len();
            prop_assert!(c <= 8 && s - done <= 8 && done <= 8);
            prop_assert!(ep.poll_timeout().is_none_or(|t| t >= t0));
        }
    }
}
