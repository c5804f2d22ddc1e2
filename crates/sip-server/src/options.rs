//! Out-of-dialog MESSAGE (RFC 3428) from a phone to a local user: authenticated against its
//! From, checked (`text/plain` only, size), and handed to the IM service as `SipMessageIn`.
//!
//! The SIP face does not relay the MESSAGE itself: the IM service stores it as conversation
//! history and fans it out to the recipient's CAS sessions and, through `SipMessageOut`
//! (see `bridge.rs`), to every registered device, so each copy leaves by one path only.
//!
//! The answer is `200 OK` when the recipient has a registered device to push it to, and
//! `202 Accepted` otherwise (RFC 3428 §7: accepted but not known to be delivered; the IM
//! service pushes it to CAS sessions or keeps it for the next login or registration). The
//! core cannot see CAS sessions, so a recipient with only a CAS client also gets a 202.

use services::bus::BusEvent;
use services::im::rules::{self, ImError};
use services::registrar::aor_key;
use sip::Message;
use sip_txn::ServerTxnId;
use tracing::debug;

use crate::core::Core;
use crate::transport::Target;
use crate::util::unix_now;

impl Core {
    pub fn on_message(&mut self, txn: ServerTxnId, msg: Message, source: Target) {
        let Some((sender, sender_domain)) = self.authenticate(txn, &msg, source) else {
            return;
        };
        let Some(uri) = msg.uri().and_then(|u| u.as_sip().cloned()) else {
            return;
        };
        let Some(domain) = self.dir.local_domain(uri.host_text).map(str::to_owned) else {
            self.respond(txn, &msg, 403, "Relaying Denied", &[]);
            return;
        };
        let user = uri.user_unescaped().unwrap_or_default();
        if !self.dir.user_exists(&domain, &user) {
            self.respond(txn, &msg, 404, "Not Found", &[]);
            return;
        }
        // RFC 3428 §5: a MESSAGE without Content-Type is plain text.
        let checked = rules::accepted_type(msg.content_type().unwrap_or(rules::TEXT_PLAIN))
            .and_then(|ct| Ok((ct, rules::body_text(msg.body())?)));
        let (content_type, text) = match checked {
            Ok(ok) => ok,
            Err(e) => {
                let (code, reason, extra) = refusal(&e);
                self.respond(txn, &msg, code, reason, &extra);
                return;
            }
        };
        let from = aor_key(&sender, &sender_domain);
        let to = aor_key(&user, &domain);
        let devices = self.location.lookup(&to, unix_now()).len()
            + self.cas_sessions.get(&to).copied().unwrap_or(0);
        debug!(from = %from, to = %to, devices, "instant message from a device");
        self.deps.bus.publish(BusEvent::SipMessageIn {
            from,
            to,
            content_type: content_type.to_owned(),
            body: text.to_owned(),
        });
        // 200 when someone is reachable now (a device or a CAS client), 202 when the IM
        // service keeps it for later (RFC 3428 §7).
        if devices > 0 {
            self.respond(txn, &msg, 200, "OK", &[]);
        } else {
            self.respond(txn, &msg, 202, "Accepted", &[]);
        }
    }
}

/// The SIP answer to a refused message (the one place `ImError` becomes a status).
fn refusal(e: &ImError) -> (u16, &'static str, Vec<(&'static str, String)>) {
    match e {
        ImError::UnsupportedType(_) => (
            415,
            "Unsupported Media Type",
            vec![("Accept", rules::TEXT_PLAIN.to_owned())],
        ),
        ImError::TooLarge(_) => (413, "Request Entity Too Large", Vec::new()),
        ImError::Empty => (400, "Empty Message", Vec::new()),
        ImError::NotUtf8 => (400, "Message Is Not UTF-8", Vec::new()),
        ImError::BadAddress(_) => (400, "Bad Request-URI", Vec::new()),
    }
}
