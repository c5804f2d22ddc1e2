//! Completed non-INVITE server transactions over UDP (RFC 3261 §17.2.2), kept compactly
//! until Timer J: a retransmission gets the same final response bytes, after Timer J the
//! request is new, RFC 2543 (§17.2.3 fallback) matching still holds, the table's bound
//! drops the oldest entry instead of refusing, and a transport error ends entries (§17.2.4).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::msg::{request, respond};
use sip::{Builder, Message};
use sip_txn::{Endpoint, Input, Output, ServerTxnId, Timers};

fn drain(ep: &mut Endpoint<u8>) -> Vec<Output<u8>> {
    std::iter::from_fn(|| ep.poll_output()).collect()
}

fn recv(ep: &mut Endpoint<u8>, t: Instant, msg: &Message, source: u8) -> Vec<Output<u8>> {
    ep.handle_input(
        t,
        Input::Received {
            msg: msg.clone(),
            source,
            reliable: false,
        },
    )
    .unwrap();
    drain(ep)
}

fn new_txn(outs: &[Output<u8>]) -> Option<ServerTxnId> {
    outs.iter().find_map(|o| match o {
        Output::Request { txn, .. } => Some(*txn),
        _ => None,
    })
}

fn sent(outs: &[Output<u8>]) -> Vec<(u8, Bytes)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Transmit { target, bytes } => Some((*target, bytes.clone())),
            _ => None,
        })
        .collect()
}

fn terminated(outs: &[Output<u8>]) -> Vec<ServerTxnId> {
    outs.iter()
        .filter_map(|o| match o {
            Output::ServerTerminated { txn } => Some(*txn),
            _ => None,
        })
        .collect()
}

/// Receives `req` as new and answers it with a 200 carrying a body, so that the bytes are
/// distinctive; returns the transaction and the bytes sent.
fn complete(ep: &mut Endpoint<u8>, t: Instant, req: &Message, source: u8) -> (ServerTxnId, Bytes) {
    let txn = new_txn(&recv(ep, t, req, source)).expect("a new request");
    let mut b = sip::response_to(req, 200, "OK", Some("uas1"));
    b.header("Contact", "<sip:bob@uas.example.com>;expires=3600");
    let response = sip::parse_datagram(b.finish(Some("text/plain"), b"registered")).unwrap();
    ep.handle_input(t, Input::SendResponse { txn, response })
        .unwrap();
    let outs = drain(ep);
    let [(target, bytes)] = &sent(&outs)[..] else {
        panic!("one transmission: {outs:?}")
    };
    assert_eq!(*target, source);
    (txn, bytes.clone())
}

#[test]
fn retransmission_in_completed_gets_the_same_final_bytes() {
    let t = Instant::now();
    let mut ep = Endpoint::new(Timers::default());
    let req = request("REGISTER", Some("z9hG4bKc1"), "call-c1", 7);
    let (_, first) = complete(&mut ep, t, &req, 3);
    assert_eq!((ep.len(), ep.completed_len()), ((0, 1), 1));
    for after in [1, 4_000, 31_999] {
        let outs = recv(&mut ep, t + Duration::from_millis(after), &req, 3);
        assert_eq!(sent(&outs), [(3, first.clone())], "at {after} ms");
        assert!(new_txn(&outs).is_none(), "the TU sees the request once");
    }
    // Another branch is another transaction.
    let other = request("REGISTER", Some("z9hG4bKc2"), "call-c1", 7);
    assert!(new_txn(&recv(&mut ep, t, &other, 3)).is_some());
}

#[test]
fn after_timer_j_the_request_is_new() {
    let t = Instant::now();
    let mut ep = Endpoint::new(Timers::default());
    let req = request("MESSAGE", Some("z9hG4bKj1"), "call-j1", 1);
    let (txn, _) = complete(&mut ep, t, &req, 1);
    let j = t + Duration::from_secs(32);
    assert_eq!(ep.poll_timeout(), Some(j), "Timer J = 64*T1");
    ep.handle_input(j - Duration::from_millis(1), Input::Timeout)
        .unwrap();
    assert!(drain(&mut ep).is_empty());
    ep.handle_input(j, Input::Timeout).unwrap();
    assert_eq!(terminated(&drain(&mut ep)), [txn]);
    assert!(ep.is_empty() && ep.poll_timeout().is_none());
    let outs = recv(&mut ep, j, &req, 1);
    let again = new_txn(&outs).expect("new after Timer J");
    assert_ne!(again, txn);
    assert!(sent(&outs).is_empty(), "no stale response");
}

/// An RFC 2543 request: no branch, so the §17.2.3 fallback (Request-URI, tags, Call-ID,
/// CSeq, top Via) matches it.
fn legacy(to_tag: Option<&str>, seq: u32, via: &str) -> Message {
    let mut b = Builder::request("OPTIONS", "sip:bob@example.com");
    b.header("Via", via)
        .header("Max-Forwards", "70")
        .header("From", "<sip:alice@example.com>;tag=a1")
        .header(
            "To",
            &match to_tag {
                Some(tag) => format!("<sip:bob@example.com>;tag={tag}"),
                None => "<sip:bob@example.com>".to_owned(),
            },
        )
        .header("Call-ID", "legacy-1")
        .header_fmt("CSeq", format_args!("{seq} OPTIONS"));
    sip::parse_datagram(b.finish_empty()).unwrap()
}

#[test]
fn rfc2543_matching_holds_in_completed() {
    let t = Instant::now();
    let mut ep = Endpoint::new(Timers::default());
    let via = "SIP/2.0/UDP old.example.com:5060";
    let req = legacy(None, 4, via);
    let (_, first) = complete(&mut ep, t, &req, 2);
    // The same request, written with other whitespace in the Via, is a retransmission.
    let spaced = legacy(None, 4, "SIP/2.0/UDP  old.example.com:5060");
    for r in [&req, &spaced] {
        let outs = recv(&mut ep, t + Duration::from_secs(1), r, 2);
        assert_eq!(sent(&outs), [(2, first.clone())]);
        assert!(new_txn(&outs).is_none());
    }
    // Any matching field changed makes it another transaction.
    for other in [
        legacy(Some("x"), 4, via),
        legacy(None, 5, via),
        legacy(None, 4, "SIP/2.0/UDP other.example.com:5060"),
    ] {
        assert!(new_txn(&recv(&mut ep, t, &other, 2)).is_some());
    }
}

#[test]
fn a_second_final_in_completed_is_refused() {
    let t = Instant::now();
    let mut ep = Endpoint::new(Timers::default());
    let req = request("OPTIONS", Some("z9hG4bKs1"), "call-s1", 1);
    let (txn, _) = complete(&mut ep, t, &req, 1);
    let again = ep.handle_input(
        t,
        Input::SendResponse {
            txn,
            response: respond(&req, 500, Some("x")),
        },
    );
    assert!(
        matches!(
            again,
            Err(sip_txn::TxnError::InvalidState { status: 500, .. })
        ),
        "{again:?}"
    );
    assert!(drain(&mut ep).is_empty(), "nothing sent");
}

#[test]
fn full_table_ends_the_oldest_instead_of_refusing() {
    let t = Instant::now();
    let mut ep = Endpoint::new(Timers::default())
        .with_max_transactions(1)
        .with_max_completed(2);
    let reqs: Vec<Message> = (0..3)
        .map(|i| request("REGISTER", Some(&format!("z9hG4bKf{i}")), "call-f", i + 1))
        .collect();
    let (oldest, _) = complete(&mut ep, t, &reqs[0], 1);
    let later = t + Duration::from_secs(1);
    complete(&mut ep, later, &reqs[1], 1);
    // The live-transaction bound of 1 does not count completed entries.
    let txn = new_txn(&recv(&mut ep, later, &reqs[2], 1)).unwrap();
    ep.handle_input(
        later,
        Input::SendResponse {
            txn,
            response: respond(&reqs[2], 200, Some("t")),
        },
    )
    .unwrap();
    assert_eq!(terminated(&drain(&mut ep)), [oldest]);
    assert_eq!(ep.completed_len(), 2);
    // The dropped one is new again; the others are still answered from the table.
    assert!(new_txn(&recv(&mut ep, later, &reqs[0], 1)).is_some());
    assert_eq!(sent(&recv(&mut ep, later, &reqs[2], 1)).len(), 1);
    // Timer J still fires for the survivors, at their own deadlines.
    ep.handle_input(later + Duration::from_secs(32), Input::Timeout)
        .unwrap();
    assert_eq!(terminated(&drain(&mut ep)).len(), 2);
    assert_eq!(ep.completed_len(), 0);
}

#[test]
fn transport_error_ends_completed_entries_of_that_target() {
    let t = Instant::now();
    let mut ep = Endpoint::new(Timers::default());
    let a = request("OPTIONS", Some("z9hG4bKt1"), "call-t", 1);
    let b = request("OPTIONS", Some("z9hG4bKt2"), "call-t", 2);
    let (ta, _) = complete(&mut ep, t, &a, 5);
    complete(&mut ep, t, &b, 6);
    ep.handle_input(t, Input::TransportError { target: 5 })
        .unwrap();
    assert_eq!(terminated(&drain(&mut ep)), [ta]);
    assert_eq!(ep.completed_len(), 1);
    // The same request again later is new, and its entry outlives the removed one's
    // (now stale) deadline.
    let (ta2, first) = complete(&mut ep, t + Duration::from_secs(10), &a, 5);
    ep.handle_input(t + Duration::from_secs(32), Input::Timeout)
        .unwrap();
    assert_eq!(terminated(&drain(&mut ep)).len(), 1, "only b's Timer J");
    let outs = recv(&mut ep, t + Duration::from_secs(33), &a, 5);
    assert_eq!(sent(&outs), [(5, first)]);
    ep.handle_input(t + Duration::from_secs(42), Input::Timeout)
        .unwrap();
    assert_eq!(terminated(&drain(&mut ep)), [ta2]);
    assert!(ep.is_empty());
}
