//! The ACK a client INVITE transaction sends for a 300-699 response (RFC 3261 §17.1.1.3).

use bytes::Bytes;
use sip::{Builder, HeaderName, Message};

/// Builds the ACK for a non-2xx final `response` to `request`: same Request-URI, only the
/// request's top Via, its Route rows, its From and Call-ID, the response's To (with the
/// tag), CSeq number of the request with method ACK, Max-Forwards 70 and no body.
pub(crate) fn ack_for(request: &Message, response: &Message) -> Bytes {
    let mut b = Builder::request("ACK", request.uri_str());
    if let Some(via) = request.header_values(HeaderName::Via).first() {
        b.header("Via", via);
    }
    if let Some(from) = request.header(HeaderName::From) {
        b.header("From", from);
    }
    if let Some(to) = response.header(HeaderName::To) {
        b.header("To", to);
    }
    if let Some(call_id) = request.call_id() {
        b.header("Call-ID", call_id);
    }
    if let Some(cseq) = request.cseq() {
        b.header_fmt("CSeq", format_args!("{} ACK", cseq.seq));
    }
    // §17.1.1.3: the ACK follows the same route as the INVITE, rows kept in order.
    for (name, _, value) in request.headers() {
        if name == HeaderName::Route {
            b.header("Route", value);
        }
    }
    b.header("Max-Forwards", "70");
    b.finish_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_copies_the_right_fields() {
        let invite = sip::parse_datagram(
            &b"INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP a.example;branch=z9hG4bKab, SIP/2.0/UDP p.example;branch=z9hG4bKp\r\nRoute: <sip:p1.example;lr>\r\nRoute: <sip:p2.example;lr>\r\nMax-Forwards: 69\r\nFrom: <sip:alice@a.example>;tag=fa\r\nTo: <sip:bob@b.example>\r\nCall-ID: call1\r\nCSeq: 314 INVITE\r\nContact: <sip:alice@a.example>\r\nContent-Type: application/sdp\r\nContent-Length: 3\r\n\r\nv=0"[..],
        )
        .unwrap();
        let busy = sip::parse_datagram(
            &b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP a.example;branch=z9hG4bKab\r\nFrom: <sip:alice@a.example>;tag=fa\r\nTo: <sip:bob@b.example>;tag=tb\r\nCall-ID: call1\r\nCSeq: 314 INVITE\r\nContent-Length: 0\r\n\r\n"[..],
        )
        .unwrap();
        let ack = sip::parse_datagram(ack_for(&invite, &busy)).unwrap();
        assert_eq!(ack.method(), "ACK");
        assert_eq!(ack.uri_str(), "sip:bob@b.example");
        assert_eq!(ack.vias().len(), 1);
        assert_eq!(ack.top_via().unwrap().branch(), Some("z9hG4bKab"));
        assert_eq!(ack.to().unwrap().tag(), Some("tb"));
        assert_eq!(ack.from().unwrap().tag(), Some("fa"));
        assert_eq!(ack.call_id(), Some("call1"));
        let cseq = ack.cseq().unwrap();
        assert_eq!((cseq.seq, cseq.method), (314, "ACK"));
        assert_eq!(
            ack.header_values(HeaderName::Route),
            ["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
        );
        assert_eq!(ack.max_forwards(), Some(70));
        assert!(ack.body().is_empty());
        assert!(ack.header(HeaderName::Contact).is_none());
    }
}
