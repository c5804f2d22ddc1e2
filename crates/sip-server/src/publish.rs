//! PUBLISH (RFC 3903) for `Event: presence`: the SIP face checks and parses, the presence
//! service keeps the publications (entity tags, expiry, composition).
//!
//! - Digest-authenticated against From; the authenticated user must be the presentity of
//!   the Request-URI (403 otherwise: nobody publishes someone else's presence).
//! - `Event: message-summary` (an external voicemail system reporting, RFC 3842) is handed
//!   to `crate::mwi` (helper G's module); any other package gets 489 with `Allow-Events`.
//! - A body must be `application/pidf+xml` (415 with `Accept` otherwise) and a valid PIDF
//!   document (400 otherwise, e.g. `<basic>unknown</basic>`); a refused PUBLISH changes
//!   nothing that was published before.
//! - `SIP-If-Match` selects the publication to refresh (no body), modify (body) or remove
//!   (`Expires: 0`); an unknown tag is 412 (§6 step 4). `Expires` below the minimum is 423
//!   with `Min-Expires`, above the maximum is shortened (`services::presence`'s bounds,
//!   60 s and 3600 s). The 200 carries `SIP-ETag` and the granted `Expires` (§6 step 8).
//! - The publishing device is recognised by the flow it publishes from (its registration's
//!   source address), so its publication and its registration count as one device.

use services::registrar::aor_key;
use sip::Message;
use sip_txn::ServerTxnId;
use tracing::debug;

use crate::core::Core;
use crate::glue::{self, PublishFail};
use crate::subscribe::{ALLOW_EVENTS, EventHeader, Package};
use crate::transport::Target;
use crate::util::unix_now;

const PIDF: &str = "application/pidf+xml";

/// The SIP answer to a refused publication (the one place it becomes a status).
fn refusal(e: &PublishFail) -> (u16, &'static str, Vec<(&'static str, String)>) {
    match e {
        PublishFail::UnknownEtag => (412, "Conditional Request Failed", Vec::new()),
        PublishFail::IntervalTooBrief(min) => (
            423,
            "Interval Too Brief",
            vec![("Min-Expires", min.to_string())],
        ),
        PublishFail::MissingBody => (400, "Missing Body", Vec::new()),
    }
}

/// The granted publication interval (RFC 3903 §6 steps 5 and 7: the presence service's
/// bounds, 3600 s without Expires); `Err(min)` means 423 with that Min-Expires.
fn publish_expires(requested: Option<u32>) -> Result<u32, u32> {
    use services::presence::{MAX_PUBLISH_EXPIRES, MIN_PUBLISH_EXPIRES};
    match requested {
        None => Ok(MAX_PUBLISH_EXPIRES.min(3600)),
        Some(0) => Ok(0),
        Some(e) if e < MIN_PUBLISH_EXPIRES => Err(MIN_PUBLISH_EXPIRES),
        Some(e) => Ok(e.min(MAX_PUBLISH_EXPIRES)),
    }
}

impl Core {
    pub fn on_publish(&mut self, txn: ServerTxnId, msg: Message, source: Target) {
        let Some((user, domain)) = self.authenticate(txn, &msg, source) else {
            return;
        };
        let publisher = aor_key(&user, &domain);
        match EventHeader::of(&msg).and_then(|e| e.package) {
            Some(Package::Presence) => {}
            Some(Package::MessageSummary) => {
                // [mwi] External voicemail systems publish message-summary (RFC 3842):
                // helper G's `crate::mwi` takes it from here.
                self.on_mwi_publish(txn, &msg, &publisher);
                return;
            }
            None => {
                let rows = [("Allow-Events", ALLOW_EVENTS.to_owned())];
                self.respond(txn, &msg, 489, "Bad Event", &rows);
                return;
            }
        }
        let Some(uri) = msg.uri().and_then(|u| u.as_sip().cloned()) else {
            self.respond(txn, &msg, 416, "Unsupported URI Scheme", &[]);
            return;
        };
        let Some(pdomain) = self.dir.local_domain(uri.host_text).map(str::to_owned) else {
            self.respond(txn, &msg, 403, "Relaying Denied", &[]);
            return;
        };
        let presentity = aor_key(&uri.user_unescaped().unwrap_or_default(), &pdomain);
        if presentity != publisher {
            self.respond(txn, &msg, 403, "Publisher Is Not the Presentity", &[]);
            return;
        }
        if crate::subscribe::bad_expires(&msg) {
            self.respond(txn, &msg, 400, "Invalid Expires", &[]);
            return;
        }
        let expires = match publish_expires(msg.expires()) {
            Ok(e) => e,
            Err(min) => {
                let rows = [("Min-Expires", min.to_string())];
                self.respond(txn, &msg, 423, "Interval Too Brief", &rows);
                return;
            }
        };
        let doc = if msg.body().is_empty() {
            None
        } else {
            let ct = msg.content_type().unwrap_or_default();
            let base = ct.split(';').next().unwrap_or_default().trim();
            if !base.eq_ignore_ascii_case(PIDF) {
                let rows = [("Accept", PIDF.to_owned())];
                self.respond(txn, &msg, 415, "Unsupported Media Type", &rows);
                return;
            }
            match sip_events::pidf::parse(msg.body()) {
                Ok(d) => Some(d),
                Err(e) => {
                    debug!(error = %e, presentity = %presentity, "invalid PIDF published");
                    self.respond(txn, &msg, 400, "Invalid PIDF Document", &[]);
                    return;
                }
            }
        };
        let etag = msg
            .header_named("SIP-If-Match")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        // The device publishing: the binding registered from this flow, else the flow itself.
        let flow = source.addr.to_string();
        let device = self
            .location
            .lookup(&presentity, unix_now())
            .iter()
            .find(|b| b.source == flow)
            .map_or_else(
                || crate::devices::flow_key(&presentity, &flow),
                crate::devices::device_key,
            );
        match glue::publish(self, &presentity, &device, etag, expires, doc) {
            Ok((etag, granted)) => {
                let mut rows = vec![("Expires", granted.to_string())];
                if granted > 0 {
                    rows.push(("SIP-ETag", etag));
                }
                self.respond(txn, &msg, 200, "OK", &rows);
            }
            Err(e) => {
                let (code, reason, rows) = refusal(&e);
                self.respond(txn, &msg, code, reason, &rows);
            }
        }
    }
}
