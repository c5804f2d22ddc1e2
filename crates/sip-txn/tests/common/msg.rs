//! Message builders for the tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bytes::Bytes;
use sip::{Builder, HeaderName, Message};
use sip_txn::{Input, Output};

use super::UAS;

/// A request from alice's UA; `branch` None gives an RFC 2543 style Via.
pub fn request(method: &str, branch: Option<&str>, call_id: &str, seq: u32) -> Message {
    let mut b = Builder::request(method, "sip:bob@example.com");
    match branch {
        Some(br) => b.header_fmt(
            "Via",
            format_args!("SIP/2.0/UDP uac.example.com:5060;branch={br}"),
        ),
        None => b.header("Via", "SIP/2.0/UDP uac.example.com:5060"),
    };
    b.header("Max-Forwards", "70")
        .header("From", "<sip:alice@example.com>;tag=alice1")
        .header("To", "<sip:bob@example.com>")
        .header("Call-ID", call_id)
        .header_fmt("CSeq", format_args!("{seq} {method}"));
    if method == "INVITE" {
        b.header("Contact", "<sip:alice@uac.example.com>");
    }
    sip::parse_datagram(b.finish_empty()).unwrap()
}

/// The CANCEL for `invite` (§9.1): same Request-URI, top Via, From, To, Call-ID, CSeq number.
pub fn cancel_for(invite: &Message) -> Message {
    let mut b = Builder::request("CANCEL", invite.uri_str());
    b.header("Via", invite.header_values(HeaderName::Via)[0])
        .header("Max-Forwards", "70")
        .header("From", invite.header(HeaderName::From).unwrap())
        .header("To", invite.header(HeaderName::To).unwrap())
        .header("Call-ID", invite.call_id().unwrap())
        .header_fmt(
            "CSeq",
            format_args!("{} CANCEL", invite.cseq().unwrap().seq),
        );
    sip::parse_datagram(b.finish_empty()).unwrap()
}

pub fn respond(req: &Message, code: u16, tag: Option<&str>) -> Message {
    sip::parse_datagram(sip::response_to(req, code, "Reason", tag).finish_empty()).unwrap()
}

/// The UAC core's ACK for a 2xx (§13.2.2.4): a new branch, the To of the response.
pub fn ack_for_2xx(resp: &Message, branch: Option<&str>) -> Bytes {
    let mut b = Builder::request("ACK", "sip:bob@uas.example.com");
    match branch {
        Some(br) => b.header_fmt(
            "Via",
            format_args!("SIP/2.0/UDP uac.example.com:5060;branch={br}"),
        ),
        None => b.header("Via", "SIP/2.0/UDP uac.example.com:5060"),
    };
    b.header("Max-Forwards", "70")
        .header("From", resp.header(HeaderName::From).unwrap())
        .header("To", resp.header(HeaderName::To).unwrap())
        .header("Call-ID", resp.call_id().unwrap())
        .header_fmt("CSeq", format_args!("{} ACK", resp.cseq().unwrap().seq));
    b.finish_empty()
}

/// A UAC TU that ACKs every 2xx it is given, as §13.2.2.4 asks.
pub fn ack_every_2xx(out: &Output<u8>) -> Option<Input<u8>> {
    match out {
        Output::Response { msg, .. }
            if msg.status().is_some_and(|s| (200..300).contains(&s))
                && msg.cseq().is_some_and(|c| c.method == "INVITE") =>
        {
            Some(Input::SendStateless {
                target: UAS,
                bytes: ack_for_2xx(msg, Some("z9hG4bKack2xx")),
            })
        }
        _ => None,
    }
}

pub fn is_ack(m: &Message) -> bool {
    m.method() == "ACK"
}

/// A TU pair: the UAC ACKs every 2xx; the UAS answers each new request per `plan`
/// (delay ms, status), answers CANCEL with 200 and the cancelled INVITE with 487.
pub fn standard_tu(plan: Vec<(u64, u16)>) -> super::Tu {
    use std::collections::HashMap;
    use std::time::Duration;
    let mut requests: HashMap<sip_txn::ServerTxnId, Message> = HashMap::new();
    Box::new(move |side, out| {
        if side != UAS {
            return ack_every_2xx(out)
                .map(|i| (Duration::ZERO, i))
                .into_iter()
                .collect();
        }
        let Output::Request {
            txn, msg, cancels, ..
        } = out
        else {
            return Vec::new();
        };
        requests.insert(*txn, msg.clone());
        if msg.method() == "CANCEL" {
            let mut v = vec![(
                Duration::ZERO,
                Input::SendResponse {
                    txn: *txn,
                    response: respond(msg, 200, Some("bob1")),
                },
            )];
            if let Some(invite) = cancels.and_then(|c| requests.get(&c).map(|m| (c, m))) {
                v.push((
                    Duration::ZERO,
                    Input::SendResponse {
                        txn: invite.0,
                        response: respond(invite.1, 487, Some("bob1")),
                    },
                ));
            }
            return v;
        }
        plan.iter()
            .map(|(ms, code)| {
                (
                    Duration::from_millis(*ms),
                    Input::SendResponse {
                        txn: *txn,
                        response: respond(msg, *code, Some("bob1")),
                    },
                )
            })
            .collect()
    })
}
