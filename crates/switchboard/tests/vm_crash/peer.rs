//! The SIP side of the voicemail crash tests that is theirs alone: a call to the server that
//! points an RTP peer (common/rtp.rs) at the engine, a BYE that does not wait for a server
//! that may be dead, and the message-summary fetch that reads a phone's MWI. RTP, tones and
//! WAV helpers are common's (common/rtp.rs, common/calls.rs).

use crate::common::calls::{self, in_dialog};
use crate::common::rtp::{RtpPeer, media_addr, offer};
use crate::common::{self, DOMAIN, Server, Ua, WAIT};
use sip::Message;

/// A call answered by the server (by voicemail or the mailbox number).
pub struct Call {
    pub invite: common::Request,
    pub ok: Message,
}

/// Calls `user` (e.g. `bob`, `*98`); it must be answered with 200 within [`WAIT`]. ACKs it and
/// points `rtp` at the engine.
pub fn call(ua: &mut Ua, user: &str, rtp: &mut RtpPeer) -> Call {
    let uri = format!("sip:{user}@{DOMAIN}");
    let (invite, ok) = calls::call(ua, &uri, &offer(rtp.port()), WAIT);
    calls::ack(ua, &invite, &ok);
    rtp.to = media_addr(ok.body());
    Call { invite, ok }
}

/// Sends BYE in `call`'s dialog without waiting for the answer.
pub fn send_bye(ua: &mut Ua, call: &Call) {
    let b = in_dialog(ua, "BYE", &call.invite, &call.ok);
    ua.send(&b);
}

/// What a phone of `user` is told (`Messages-Waiting`, `Voice-Message` new/old) and the body:
/// a message-summary fetch (SUBSCRIBE with `Expires: 0`, RFC 6665 §4.4.3) and its NOTIFY.
pub fn phone_summary(srv: &Server, user: &str) -> (bool, (u64, u64), String) {
    let mut ua = Ua::new(srv, user);
    ua.new_call();
    let uri = format!("sip:{user}@{DOMAIN}");
    let sub = ua
        .request("SUBSCRIBE", &uri, &format!("<{uri}>"))
        .header("Contact", &format!("<{}>", ua.contact_uri()))
        .header("Event", "message-summary")
        .header("Accept", "application/simple-message-summary")
        .header("Expires", "0");
    let resp = ua.authenticated(&sub, None);
    assert!(matches!(resp.status(), Some(200 | 202)), "{resp:?}");
    let notify = ua
        .recv_where(WAIT, |m| m.method() == "NOTIFY")
        .expect("a NOTIFY for the message-summary fetch");
    ua.reply(&notify, 200, "OK", &common::token("t"), &[], None);
    let body = String::from_utf8_lossy(notify.body()).into_owned();
    let (waiting, [new, old, ..]) = common::mwi_state(&notify)
        .unwrap_or_else(|| panic!("not a message-summary NOTIFY:\n{body}"));
    (waiting, (new.into(), old.into()), body)
}
