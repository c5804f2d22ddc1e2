//! Call helpers on the raw test UA: register a device, place a call that must be answered,
//! acknowledge a 2xx (with or without an SDP answer), CANCEL, hang up, and answer the
//! server's requests as a device.

use std::time::Duration;

use sip::{HeaderName, Message};

use super::{DOMAIN, Request, Server, Ua, WAIT, new_branch};

/// Configuration for tests of the B2BUA's own failure statuses (480, 486): without
/// voicemail, which would otherwise answer unanswered, busy and unregistered callees.
pub const NO_VOICEMAIL: &str = "[voicemail]\nenabled = false\n";

/// `user`'s device on its own UDP socket, registered for 600 s.
pub fn registered(srv: &Server, user: &str) -> Ua {
    let mut ua = Ua::new(srv, user);
    let c = format!("<{}>", ua.contact_uri());
    assert_eq!(ua.register(&[&c], Some(600)).status(), Some(200));
    ua
}

/// Whether `m` is a `method` request.
pub fn is_request(m: &Message, method: &str) -> bool {
    m.is_request() && m.method() == method
}

/// The CANCEL of `invite` as sent (§9.1: same branch, Request-URI, From, To, Call-ID and
/// CSeq number; no body, credentials or Contact).
pub fn cancel_of(invite: &Request) -> Request {
    let mut cancel = invite.clone();
    cancel.method = "CANCEL".into();
    cancel.content_type = None;
    cancel.body.clear();
    cancel
        .headers
        .retain(|(n, _)| n != "Proxy-Authorization" && n != "Contact");
    cancel
}

/// The Contact URI of a message (the remote target of its dialog).
pub fn contact_of(m: &Message) -> Option<String> {
    match m.contacts().first() {
        Some(sip::ContactValue::Addr(a)) => Some(a.uri.raw().to_owned()),
        _ => None,
    }
}

/// A call from `ua` to `uri` (SDP `sdp`, none when empty) that must be answered with 200
/// within `wait`; returns the INVITE as sent and the 200.
pub fn call(ua: &mut Ua, uri: &str, sdp: &str, wait: Duration) -> (Request, Message) {
    ua.new_call();
    let to = format!("<{uri}>");
    let contact = format!("<{}>", ua.contact_uri());
    let mut req = ua.request("INVITE", uri, &to).header("Contact", &contact);
    if !sdp.is_empty() {
        req = req.sdp(sdp);
    }
    let r = ua.send_authenticated(&req, None);
    let ok = ua
        .recv_where(wait, |m| {
            r.answered_by(m) && m.status().is_some_and(|s| s >= 200)
        })
        .expect("a final response to the INVITE");
    assert_eq!(ok.status(), Some(200), "expected 200, got {ok:?}");
    (r, ok)
}

/// A call from `caller` to the registered `callee` offering `a_sdp`, answered by the callee
/// with `b_sdp` (tag `bobtag`) and ACKed. Returns the INVITE as sent, the 200 the caller got
/// and the INVITE the callee got.
pub fn connect(
    caller: &mut Ua,
    callee: &mut Ua,
    a_sdp: &str,
    b_sdp: &str,
) -> (Request, Message, Message) {
    caller.new_call();
    let uri = format!("sip:{}@{DOMAIN}", callee.user);
    let contact_a = format!("<{}>", caller.contact_uri());
    let req = caller
        .request("INVITE", &uri, &format!("<{uri}>"))
        .header("Contact", &contact_a)
        .sdp(a_sdp);
    let inv = caller.send_authenticated(&req, None);
    let incoming = callee
        .recv_where(WAIT, |m| m.is_request() && m.method() == "INVITE")
        .unwrap_or_else(|| panic!("{} got no INVITE", callee.user));
    let contact_b = format!("<{}>", callee.contact_uri());
    callee.reply(
        &incoming,
        200,
        "OK",
        "bobtag",
        &[("Contact", &contact_b)],
        Some(b_sdp),
    );
    let ok = caller
        .recv_where(WAIT, |m| inv.answered_by(m) && m.status() == Some(200))
        .expect("200 to the caller");
    ack(caller, &inv, &ok);
    (inv, ok, incoming)
}

/// ACK for a 2xx (new transaction, R-URI = the remote target), carrying `sdp` when given
/// (the answer to an offer in the 2xx).
pub fn ack_with(ua: &mut Ua, invite: &Request, ok: &Message, sdp: Option<&str>) {
    let mut a = invite.clone();
    a.method = "ACK".into();
    a.uri = contact_of(ok).unwrap_or_else(|| invite.uri.clone());
    a.branch = new_branch();
    a.to = ok.header(HeaderName::To).unwrap().to_owned();
    a.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("Proxy-Authorization"));
    a.content_type = None;
    a.body.clear();
    if let Some(s) = sdp {
        a = a.sdp(s);
    }
    ua.send(&a);
}

pub fn ack(ua: &mut Ua, invite: &Request, ok: &Message) {
    ack_with(ua, invite, ok, None);
}

/// A request in the dialog `invite`/`ok` established (the caller's side).
pub fn in_dialog(ua: &mut Ua, method: &str, invite: &Request, ok: &Message) -> Request {
    let target = contact_of(ok).unwrap_or_else(|| invite.uri.clone());
    let mut r = ua.request(method, &target, ok.header(HeaderName::To).unwrap());
    r.call_id = invite.call_id.clone();
    r
}

pub fn bye(ua: &mut Ua, invite: &Request, ok: &Message) -> Message {
    let b = in_dialog(ua, "BYE", invite, ok);
    ua.transact(&b)
}

/// Waits for a request `method` from the server and answers it 200 (as a device).
pub fn expect_request(ua: &mut Ua, method: &str, wait: Duration) -> Message {
    let m = ua
        .recv_where(wait, |m| m.is_request() && m.method() == method)
        .unwrap_or_else(|| panic!("{} got no {method}", ua.user));
    if method != "ACK" {
        ua.reply(&m, 200, "OK", "dev", &[], None);
    }
    m
}
