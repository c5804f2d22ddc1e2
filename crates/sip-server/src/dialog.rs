//! One leg's dialog state (RFC 3261 §12) and the requests built within it; CANCEL per §9.1.

use std::net::SocketAddr;

use bytes::Bytes;
use sip::{Builder, HeaderName, Message};

use crate::transport::{Target, Transport};
use crate::util::new_branch;

/// The dialog of one B2BUA leg, seen from our side.
#[derive(Debug, Clone)]
pub struct Dialog {
    pub call_id: String,
    /// Our identity with our tag: the From of requests we send.
    pub local: String,
    pub local_tag: String,
    /// The peer's identity, with its tag once known: the To of requests we send.
    pub remote: String,
    /// The peer's Contact: Request-URI of requests we send.
    pub remote_target: String,
    /// Route set (§12.1): Route rows of requests we send, in order.
    pub route_set: Vec<String>,
    /// Where the peer is reached (its flow: NAT and TCP friendly).
    pub target: Target,
    pub local_cseq: u32,
}

/// Our Contact URI on a transport.
pub fn contact_uri(local: SocketAddr, transport: Transport) -> String {
    match transport {
        Transport::Udp => format!("<sip:{local}>"),
        Transport::Tcp => format!("<sip:{local};transport=tcp>"),
    }
}

/// A top Via with a fresh branch and rport (RFC 3581).
pub fn via(local: SocketAddr, transport: Transport) -> String {
    format!(
        "SIP/2.0/{} {local};branch={};rport",
        transport.via_token(),
        new_branch()
    )
}

impl Dialog {
    /// A new request in this dialog (§12.2.1.1). `extra` rows go before the body.
    pub fn request(
        &mut self,
        method: &str,
        local: SocketAddr,
        extra: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Bytes {
        self.local_cseq = self.local_cseq.saturating_add(1);
        let mut b = Builder::request(method, &self.remote_target);
        b.header("Via", &via(local, self.target.transport));
        b.header("Max-Forwards", "70");
        b.header("From", &self.local);
        b.header("To", &self.remote);
        b.header("Call-ID", &self.call_id);
        b.header_fmt("CSeq", format_args!("{} {method}", self.local_cseq));
        for r in &self.route_set {
            b.header("Route", r);
        }
        if method != "BYE" && method != "CANCEL" {
            b.header("Contact", &contact_uri(local, self.target.transport));
        }
        for (n, v) in extra {
            b.header(n, v);
        }
        match body {
            Some((ct, body)) => b.finish(Some(ct), body),
            None => b.finish_empty(),
        }
    }

    /// The ACK for a 2xx to the INVITE with sequence number `cseq` (§13.2.2.4).
    pub fn ack(&self, cseq: u32, local: SocketAddr, body: Option<(&str, &[u8])>) -> Bytes {
        let mut b = Builder::request("ACK", &self.remote_target);
        b.header("Via", &via(local, self.target.transport));
        b.header("Max-Forwards", "70");
        b.header("From", &self.local);
        b.header("To", &self.remote);
        b.header("Call-ID", &self.call_id);
        b.header_fmt("CSeq", format_args!("{cseq} ACK"));
        for r in &self.route_set {
            b.header("Route", r);
        }
        match body {
            Some((ct, body)) => b.finish(Some(ct), body),
            None => b.finish_empty(),
        }
    }

    /// Learns the remote tag, target and route set from a response that establishes the
    /// dialog (§12.1.2: Record-Route in reverse order).
    pub fn establish(&mut self, resp: &Message) {
        if let Some(to) = resp.header(HeaderName::To) {
            self.remote = to.to_owned();
        }
        if let Some(sip::ContactValue::Addr(c)) = resp.contacts().first() {
            self.remote_target = c.uri.raw().to_owned();
        }
        let mut rr: Vec<String> = resp
            .header_values(HeaderName::RecordRoute)
            .into_iter()
            .map(str::to_owned)
            .collect();
        rr.reverse();
        self.route_set = rr;
    }
}

/// CANCEL for a request we sent (§9.1): same Request-URI, top Via, From, To, Call-ID and
/// CSeq number; Route rows copied.
pub fn cancel_for(invite: &Message) -> Option<Bytes> {
    let via = invite
        .header_values(HeaderName::Via)
        .first()
        .map(|v| (*v).to_owned())?;
    let cseq = invite.cseq()?.seq;
    let mut b = Builder::request("CANCEL", invite.uri_str());
    b.header("Via", &via);
    b.header("Max-Forwards", "70");
    b.header("From", invite.header(HeaderName::From)?);
    b.header("To", invite.header(HeaderName::To)?);
    b.header("Call-ID", invite.call_id()?);
    b.header_fmt("CSeq", format_args!("{cseq} CANCEL"));
    for r in invite.header_values(HeaderName::Route) {
        b.header("Route", r);
    }
    Some(b.finish_empty())
}
