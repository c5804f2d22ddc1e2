//! Matching rules: §17.2.3 (RFC 3261 branch and the RFC 2543 fallback), §9.2 (CANCEL),
//! §13.3.1.4 (the 2xx ACK), §17.1.3 (client side).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::msg::{ack_for_2xx, cancel_for, request, respond};
use sip::Message;
use sip_txn::{Endpoint, Input, Output, ServerTxnId, Timers};

fn drain(ep: &mut Endpoint<u8>) -> Vec<Output<u8>> {
    std::iter::from_fn(|| ep.poll_output()).collect()
}

fn recv(ep: &mut Endpoint<u8>, t: Instant, msg: Message) -> Vec<Output<u8>> {
    ep.handle_input(
        t,
        Input::Received {
            msg,
            source: 1,
            reliable: false,
        },
    )
    .unwrap();
    drain(ep)
}

fn answer(
    ep: &mut Endpoint<u8>,
    t: Instant,
    txn: ServerTxnId,
    response: Message,
) -> Vec<Output<u8>> {
    ep.handle_input(t, Input::SendResponse { txn, response })
        .unwrap();
    drain(ep)
}

fn timeout(ep: &mut Endpoint<u8>, t: Instant) -> Vec<Output<u8>> {
    ep.handle_input(t, Input::Timeout).unwrap();
    drain(ep)
}

fn new_txn(outs: &[Output<u8>]) -> ServerTxnId {
    outs.iter()
        .find_map(|o| match o {
            Output::Request { txn, .. } => Some(*txn),
            _ => None,
        })
        .expect("a new request")
}

fn transmitted(outs: &[Output<u8>]) -> Vec<u16> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Transmit { bytes, .. } => sip::parse_datagram(bytes.clone()).unwrap().status(),
            _ => None,
        })
        .collect()
}

/// The ACK an RFC 2543 UAC sends for a non-2xx: no branch, the response's To tag.
fn legacy_ack(invite: &Message, to_tag: &str) -> Message {
    let text = format!(
        "ACK {} SIP/2.0\r\nVia: SIP/2.0/UDP uac.example.com:5060\r\nFrom: {}\r\nTo: <sip:bob@example.com>;tag={to_tag}\r\nCall-ID: {}\r\nCSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
        invite.uri_str(),
        invite.header(sip::HeaderName::From).unwrap(),
        invite.call_id().unwrap(),
        invite.cseq().unwrap().seq,
    );
    sip::parse_datagram(text.into_bytes()).unwrap()
}

#[test]
fn rfc2543_invite_without_branch_and_ack_matched_by_to_tag() {
    let t = Instant::now();
    let mut ep = Endpoint::new(Timers::default());
    let invite = request("INVITE", None, "legacy-1", 1);
    let outs = recv(&mut ep, t, invite.clone());
    let txn = new_txn(&outs);
    assert_eq!(transmitted(&outs), [100]);
    let again = recv(&mut ep, t, invite.clone());
    assert_eq!(
        transmitted(&again),
        [100],
        "retransmission gets the last response"
    );
    assert!(again.iter().all(|o| !matches!(o, Output::Request { .. })));

    answer(&mut ep, t, txn, respond(&invite, 486, Some("srv")));
    // An ACK with another To tag is not this transaction's: it goes to the TU.
    let outs = recv(&mut ep, t, legacy_ack(&invite, "other"));
    assert!(matches!(outs[..], [Output::Ack { .. }]));
    let outs = recv(&mut ep, t, legacy_ack(&invite, "srv"));
    assert!(outs.is_empty(), "matched ACK is absorbed: {outs:?}");
    // Confirmed: no more 486 retransmissions, Timer I ends it after T4.
    let outs = timeout(&mut ep, t + Duration::from_secs(5));
    assert!(matches!(outs[..], [Output::ServerTerminated { txn: x }] if x == txn));
    assert!(ep.is_empty());
}

#[test]
fn rfc2543_2xx_ack_stops_retransmission() {
    let t = Instant::now();
    let mut ep = Endpoint::new(Timers::default());
    let invite = request("INVITE", None, "legacy-2", 1);
    let txn = new_txn(&recv(&mut ep, t, invite.clone()));
    answer(&mut ep, t, txn, respond(&invite, 200, Some("srv")));
    let outs = recv(&mut ep, t, legacy_ack(&invite, "srv"));
    assert!(matches!(outs[..], [Output::Ack { .. }]));
    let outs = timeout(&mut ep, t + Duration::from_secs(1));
    assert!(transmitted(&outs).is_empty(), "2xx retransmission stopped");
    let outs = timeout(&mut ep, t + Duration::from_secs(32));
    assert!(
        matches!(outs[..], [Output::ServerTerminated { .. }]),
        "{outs:?}"
    );
}

#[test]
fn rfc2543_cancel_finds_the_invite() {
    let t = Instant::now();
    let mut ep = Endpoint::new(Timers::default());
    let invite = request("INVITE", None, "legacy-3", 1);
    let inv = new_txn(&recv(&mut ep, t, invite.clone()));
    let outs = recv(&mut ep, t, cancel_for(&invite));
    assert!(matches!(outs[..], [Output::Request { cancels: Some(c), .. }] if c == inv));
    // A CANCEL for an INVITE that is not there matches nothing.
    let stray = cancel_for(&request("INVITE", None, "legacy-4", 1));
    assert!(matches!(
        recv(&mut ep, t, stray)[..],
        [Output::Request { cancels: None, .. }]
    ));
}

#[test]
fn non_cookie_branch_uses_rfc2543_rules() {
    let t = Instant::now();
    let mut ep = Endpoint::new(Timers::default());
    // Same pre-3261 branch, different calls: two transactions, not one.
    let a = request("OPTIONS", Some("1234"), "legacy-5", 1);
    let b = request("OPTIONS", Some("1234"), "legacy-6", 1);
    new_txn(&recv(&mut ep, t, a));
    new_txn(&recv(&mut ep, t, b));
    assert_eq!(ep.len(), (0, 2));
}

#[test]
fn ack_for_2xx_matched_by_call_id_cseq_and_from_tag() {
    let t = Instant::now();
    let mut ep = Endpoint::new(Timers::default());
    let invite = request("INVITE", Some("z9hG4bKm1"), "call-m", 7);
    let txn = new_txn(&recv(&mut ep, t, invite.clone()));
    let ok = respond(&invite, 200, Some("srv"));
    answer(&mut ep, t, txn, ok.clone());
    let outs = recv(&mut ep, t, invite.clone());
    assert_eq!(
        transmitted(&outs),
        [200],
        "INVITE retransmission in Accepted gets the 2xx"
    );

    let forged = ack_for_2xx(&ok, Some("z9hG4bKa1"));
    let forged = String::from_utf8(forged.to_vec())
        .unwrap()
        .replace("tag=alice1", "tag=mallory");
    let outs = recv(
        &mut ep,
        t,
        sip::parse_datagram(forged.into_bytes()).unwrap(),
    );
    assert!(matches!(outs[..], [Output::Ack { .. }]));
    let outs = timeout(&mut ep, t + Duration::from_millis(500));
    assert_eq!(
        transmitted(&outs),
        [200],
        "a different From tag does not stop it"
    );

    let ack = sip::parse_datagram(ack_for_2xx(&ok, Some("z9hG4bKa2"))).unwrap();
    assert!(matches!(recv(&mut ep, t, ack)[..], [Output::Ack { .. }]));
    let outs = timeout(&mut ep, t + Duration::from_secs(10));
    assert!(transmitted(&outs).is_empty());
    let outs = timeout(&mut ep, t + Duration::from_secs(32));
    assert!(
        matches!(outs[..], [Output::ServerTerminated { .. }]),
        "no AckTimeout: {outs:?}"
    );
}

#[test]
fn client_matching_uses_branch_and_cseq_method() {
    let t = Instant::now();
    let mut ep: Endpoint<u8> = Endpoint::new(Timers::default());
    let invite = request("INVITE", Some("z9hG4bKc1"), "call-c", 1);
    let cancel = cancel_for(&invite);
    let (i, c) = (ep.new_client_id(), ep.new_client_id());
    for (id, msg) in [(i, invite.clone()), (c, cancel.clone())] {
        ep.handle_input(
            t,
            Input::SendRequest {
                id,
                msg,
                target: 1,
                reliable: false,
            },
        )
        .unwrap();
    }
    drain(&mut ep);
    let outs = recv(&mut ep, t, respond(&cancel, 200, Some("b")));
    assert!(matches!(outs[..], [Output::Response { txn, .. }] if txn == c));
    let outs = recv(&mut ep, t, respond(&invite, 487, Some("b")));
    assert!(
        matches!(outs[..], [Output::Transmit { .. }, Output::Response { txn, .. }] if txn == i)
    );
    let other = request("INVITE", Some("z9hG4bKzz"), "call-c", 1);
    assert!(matches!(
        recv(&mut ep, t, respond(&other, 180, None))[..],
        [Output::StrayResponse { .. }]
    ));
}

#[test]
fn non_invite_retransmission_absorbed_in_trying_then_answered() {
    let t = Instant::now();
    let mut ep = Endpoint::new(Timers::default());
    let req = request("REGISTER", Some("z9hG4bKr1"), "call-r", 3);
    let txn = new_txn(&recv(&mut ep, t, req.clone()));
    assert!(recv(&mut ep, t, req.clone()).is_empty(), "Trying absorbs");
    answer(&mut ep, t, txn, respond(&req, 200, Some("r")));
    assert_eq!(transmitted(&recv(&mut ep, t, req.clone())), [200]);
    let outs = timeout(&mut ep, t + Duration::from_secs(32));
    assert!(matches!(outs[..], [Output::ServerTerminated { .. }]));
    // After Timer J the same request is new again.
    new_txn(&recv(&mut ep, t + Duration::from_secs(33), req));
}
