//! The SUBSCRIBE server (RFC 6665 §4.2) for the event packages we serve: `presence`
//! (RFC 3856) and `message-summary` (RFC 3842). It creates, refreshes and ends subscription
//! dialogs; `notify.rs` sends the NOTIFYs and runs the timers.
//!
//! - Every initial SUBSCRIBE is digest-authenticated against its From (a subscription is
//!   state). In-dialog refreshes are matched by Call-ID, our tag and the watcher's From tag
//!   (481 otherwise), and routed here *before* the B2BUA's relay (`core.rs`); one from
//!   another flow than the subscription's is authenticated again and must be the watcher's.
//! - A watcher holds at most `[presence] max_subscriptions_per_watcher` subscriptions; one
//!   more is `403 Too Many Subscriptions` (a quota: RFC 3261 §21.4.4 "do not repeat").
//! - No user enumeration: a presentity of our domain that does not exist is answered like
//!   one that hides its presence (202 + a pending NOTIFY without state), never 404.
//! - An unknown package is answered `489 Bad Event` with `Allow-Events` (§4.2.1.1). A missing
//!   `Accept` means the package's default type (`application/pidf+xml` resp.
//!   `application/simple-message-summary`, RFC 3856 §6.7, RFC 3842 §5.1); an `Accept` that
//!   excludes it gets `406` (§4.2.1.1).
//! - Expires: missing means 3600 s (RFC 3856 §6.4, RFC 3842 §5.1); below the minimum gets
//!   `423` + `Min-Expires`; above the maximum is shortened. The bounds are `[presence]
//!   subscribe_min_expires`/`subscribe_max_expires` (60 s and 3600 s by default).
//!   `Expires: 0` is a fetch (initial) or an unsubscribe (in dialog): one final NOTIFY
//!   `terminated;reason=timeout` with the state.
//! - Authorization (presence only; `message-summary` is for the mailbox owner alone, 403
//!   otherwise): `Allow` → `200` and an `active` NOTIFY with the document; `Pending` → `202`
//!   and a `pending` NOTIFY **without any state**; `Deny` is answered exactly like `Pending`
//!   (RFC 5025 §3.2.1 "polite blocking": a blocked watcher cannot tell that it is blocked,
//!   so the rejection reason `rejected` of RFC 6665 §4.2.2 is never used). A watcher whose
//!   permission is withdrawn gets `terminated;reason=deactivated`; its next SUBSCRIBE then
//!   stays pending.
//! - `Event: presence;rollup=most-available|semi-available|compound` picks the rollup
//!   policy of that subscription (compound by default).

pub mod store;

use std::sync::Arc;
use std::time::{Duration, Instant};

use services::registrar::aor_key;
use sip::{HeaderName, Message, Method, response_to};
use sip_txn::ServerTxnId;
use tracing::debug;

use crate::core::Core;
use crate::dialog::contact_uri;
use crate::glue::{self, Authz, Rollup};
use crate::transport::Target;

pub use store::{State, SubId, Subscriptions};

/// The packages we notify, for `Allow-Events` (RFC 6665 §8.2.2).
pub const ALLOW_EVENTS: &str = "presence, message-summary";
/// Subscription duration when the SUBSCRIBE has no Expires (RFC 3856 §6.4, RFC 3842 §5.1).
const DEFAULT_EXPIRES: u32 = 3600;

/// An event package we serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Package {
    Presence,
    MessageSummary,
}

impl Package {
    pub fn parse(token: &str) -> Option<Package> {
        let t = token.trim();
        if t.eq_ignore_ascii_case("presence") {
            Some(Package::Presence)
        } else if t.eq_ignore_ascii_case("message-summary") {
            Some(Package::MessageSummary)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Package::Presence => "presence",
            Package::MessageSummary => "message-summary",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Package::Presence => "application/pidf+xml",
            Package::MessageSummary => "application/simple-message-summary",
        }
    }
}

/// An `Event` header value: package, `id` and `rollup` parameters (RFC 6665 §8.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventHeader {
    pub package: Option<Package>,
    pub id: Option<String>,
    pub rollup: Option<Rollup>,
    /// An `id` that is no token (or longer than 64): it would be echoed into every NOTIFY's
    /// `Event`, so such a request is refused (400) rather than trusted.
    pub bad_id: bool,
}

impl EventHeader {
    pub fn of(msg: &Message) -> Option<EventHeader> {
        let v = msg.header(HeaderName::Event)?;
        let mut parts = v.split(';');
        let package = Package::parse(parts.next().unwrap_or_default());
        let mut id = None;
        let mut rollup = None;
        let mut bad_id = false;
        for p in parts {
            let (k, val) = p.split_once('=').unwrap_or((p, ""));
            let k = k.trim();
            if k.eq_ignore_ascii_case("id") {
                let val = val.trim();
                bad_id |=
                    val.is_empty() || val.len() > 64 || !val.bytes().all(sip::scan::is_token_char);
                id = Some(val.to_owned()).filter(|_| !bad_id);
            } else if k.eq_ignore_ascii_case("rollup") {
                rollup = Rollup::parse(val);
            }
        }
        Some(EventHeader {
            package,
            id,
            rollup,
            bad_id,
        })
    }
}

/// Whether the `Accept` rows allow `ct` (none at all means the package default, §4.2.1.1).
fn accepts(msg: &Message, ct: &str) -> bool {
    let rows = msg.header_values(HeaderName::Accept);
    let (major, _) = ct.split_once('/').unwrap_or((ct, ""));
    rows.is_empty()
        || rows.iter().flat_map(|r| r.split(',')).any(|a| {
            let a = a.split(';').next().unwrap_or_default().trim();
            a.eq_ignore_ascii_case(ct)
                || a == "*/*"
                || a.strip_suffix("/*")
                    .is_some_and(|m| m.eq_ignore_ascii_case(major))
        })
}

/// True when the request has an `Expires` that is not delta-seconds (RFC 3261 §20.19): it is
/// refused (400) instead of being taken as "no Expires".
pub fn bad_expires(msg: &Message) -> bool {
    msg.header(HeaderName::Expires).is_some() && msg.expires().is_none()
}

impl Core {
    /// The (min, max) subscription durations (`[presence] subscribe_min_expires`,
    /// `subscribe_max_expires`).
    pub fn event_bounds(&self) -> (u32, u32) {
        let (min, max) = self.cfg.subscribe_expires;
        (min, max.max(min))
    }

    /// Checks a requested Expires; `Err(min)` means 423 with that Min-Expires.
    pub fn grant_expires(&self, requested: Option<u32>) -> Result<u32, u32> {
        let (min, max) = self.event_bounds();
        let req = requested.unwrap_or_else(|| DEFAULT_EXPIRES.clamp(min, max));
        if req != 0 && req < min {
            return Err(min);
        }
        Ok(req.min(max))
    }

    /// An initial SUBSCRIBE (no To tag).
    pub fn on_subscribe(&mut self, txn: ServerTxnId, msg: Message, source: Target) {
        let Some((user, domain)) = self.authenticate(txn, &msg, source) else {
            return;
        };
        let watcher = aor_key(&user, &domain);
        let cap = glue::max_subscriptions_per_watcher(self);
        if self.subs.of_watcher(&watcher) >= cap {
            // A per-user quota, not an overload: 403 says "do not repeat" (RFC 3261
            // §21.4.4), where 503 would invite a retry or a failover.
            debug!(watcher = %watcher, cap, "subscription refused: per-watcher cap");
            self.respond(txn, &msg, 403, "Too Many Subscriptions", &[]);
            return;
        }
        let Some(ev) = EventHeader::of(&msg) else {
            self.bad_event(txn, &msg);
            return;
        };
        let Some(package) = ev.package else {
            self.bad_event(txn, &msg);
            return;
        };
        if ev.bad_id {
            self.respond(txn, &msg, 400, "Invalid Event id", &[]);
            return;
        }
        if bad_expires(&msg) {
            self.respond(txn, &msg, 400, "Invalid Expires", &[]);
            return;
        }
        let Some(uri) = msg.uri().and_then(|u| u.as_sip().cloned()) else {
            self.respond(txn, &msg, 416, "Unsupported URI Scheme", &[]);
            return;
        };
        let Some(pdomain) = self.dir.local_domain(uri.host_text).map(str::to_owned) else {
            self.respond(txn, &msg, 403, "Relaying Denied", &[]);
            return;
        };
        let puser = uri.user_unescaped().unwrap_or_default();
        let presentity = aor_key(&puser, &pdomain);
        // Before any existence check: whose mailbox it is says nothing about who exists.
        if package == Package::MessageSummary && presentity != watcher {
            self.respond(txn, &msg, 403, "Not Your Mailbox", &[]);
            return;
        }
        // No user enumeration: a user that does not exist is answered like one who hides
        // their presence (202, a pending NOTIFY without state), never 404.
        let exists = self.dir.user_exists(&pdomain, &puser);
        if !accepts(&msg, package.content_type()) {
            let accept = [("Accept", package.content_type().to_owned())];
            self.respond(txn, &msg, 406, "Not Acceptable", &accept);
            return;
        }
        let Some(remote_target) = msg.contacts().first().and_then(|c| match c {
            sip::ContactValue::Addr(a) => Some(a.uri.raw().to_owned()),
            sip::ContactValue::Star => None,
        }) else {
            self.respond(txn, &msg, 400, "Missing Contact", &[]);
            return;
        };
        let granted = match self.grant_expires(msg.expires()) {
            Ok(g) => g,
            Err(min) => {
                let rows = [("Min-Expires", min.to_string())];
                self.respond(txn, &msg, 423, "Interval Too Brief", &rows);
                return;
            }
        };
        let asked = package == Package::Presence && exists;
        let authz = match package {
            Package::Presence if exists => glue::authorize(self, &watcher, &presentity),
            Package::Presence => Authz::Deny,
            Package::MessageSummary => Authz::Allow,
        };
        let state = match (granted, authz) {
            (0, _) => State::Terminated("timeout"),
            (_, Authz::Allow) => State::Active,
            (_, Authz::Pending | Authz::Deny) => State::Pending,
        };
        let from = msg.from();
        let from_tag = from.as_ref().and_then(|f| f.tag()).unwrap_or_default();
        let inserted = self.subs.insert(store::NewSub {
            package,
            presentity: Arc::from(presentity.as_str()),
            watcher: Arc::from(watcher.as_str()),
            event_id: ev.id.as_deref(),
            rollup: ev.rollup.unwrap_or_default(),
            to: msg.header(HeaderName::To).unwrap_or_default(),
            from: msg.header(HeaderName::From).unwrap_or_default(),
            from_tag,
            call_id: msg.call_id().unwrap_or_default(),
            record_route: msg.header_values(HeaderName::RecordRoute),
            remote_target: &remote_target,
            target: source,
            remote_cseq: msg.cseq().map_or(0, |c| c.seq),
            expires_at: Instant::now() + Duration::from_secs(u64::from(granted)),
            state,
            asked,
            allowed: authz == Authz::Allow,
        });
        let Some(id) = inserted else {
            if asked {
                glue::forget_asker(self, &watcher, &presentity);
            }
            self.respond(txn, &msg, 400, "Header Too Long", &[]);
            return;
        };
        let tag = self
            .subs
            .subs
            .get(&id)
            .map(|s| s.tag(id))
            .unwrap_or_default();
        let (code, reason) = if authz == Authz::Allow {
            (200, "OK")
        } else {
            (202, "Accepted")
        };
        self.subscribe_answer(txn, &msg, source, (code, reason), &tag, granted);
        if authz == Authz::Pending {
            glue::add_pending(self, &watcher, &presentity);
        }
        debug!(package = package.name(), watcher = %watcher, presentity = %presentity, expires = granted, "subscription created");
        if granted == 0 {
            // A fetch (§4.4.3): one final NOTIFY, with the state only for allowed watchers.
            self.subs.terminate(id, "timeout");
        }
        self.notify_sub(id);
    }

    /// A SUBSCRIBE inside one of our subscription dialogs: refresh or unsubscribe
    /// (RFC 6665 §4.2.1.2–§4.2.1.4). Returns false when the dialog is not a subscription.
    ///
    /// The dialog is Call-ID, our tag *and* the watcher's From tag (RFC 3261 §12): a request
    /// with our Call-ID and tag but another From tag is not in the dialog (481), so knowing
    /// the Call-ID is not enough to extend or cancel someone's subscription. A refresh from
    /// a flow other than the subscription's is digest-authenticated as the watcher.
    pub fn on_subscribe_in_dialog(
        &mut self,
        txn: ServerTxnId,
        msg: &Message,
        source: Target,
    ) -> bool {
        if msg.method_kind() != Method::Subscribe {
            return false;
        }
        let Some(id) = msg
            .call_id()
            .zip(msg.to().and_then(|t| t.tag().map(str::to_owned)))
            .and_then(|(c, t)| self.subs.find(c, &t))
        else {
            return false;
        };
        let Some(sub) = self.subs.subs.get(&id) else {
            return false;
        };
        let from = msg.from();
        if from.as_ref().and_then(|f| f.tag()).unwrap_or_default() != sub.watcher_tag() {
            debug!(sub = id, "in-dialog SUBSCRIBE with a foreign From tag");
            self.respond(txn, msg, 481, "Subscription Does Not Exist", &[]);
            return true;
        }
        if source != sub.target {
            let watcher = sub.watcher.clone();
            let Some((user, domain)) = self.authenticate(txn, msg, source) else {
                return true;
            };
            if aor_key(&user, &domain) != *watcher {
                self.respond(txn, msg, 403, "Not the Watcher", &[]);
                return true;
            }
        }
        let Some(sub) = self.subs.subs.get(&id) else {
            return true;
        };
        if matches!(sub.state, State::Terminated(_)) {
            self.respond(txn, msg, 481, "Subscription Does Not Exist", &[]);
            return true;
        }
        let cseq = msg.cseq().map_or(0, |c| c.seq);
        if cseq <= sub.remote_cseq {
            self.respond(txn, msg, 500, "Out of Order", &[]);
            return true;
        }
        let package = sub.package;
        let pending = sub.state == State::Pending;
        let tag = sub.tag(id);
        let Some(ev) = EventHeader::of(msg).filter(|e| e.package == Some(package)) else {
            self.bad_event(txn, msg);
            return true;
        };
        if ev.bad_id {
            self.respond(txn, msg, 400, "Invalid Event id", &[]);
            return true;
        }
        if ev.id.as_deref() != sub.event_id() {
            // Another `id` in this dialog would be a second subscription sharing the dialog
            // (RFC 6665 §4.5.2); we keep one per dialog, so that one does not exist.
            self.respond(txn, msg, 481, "Subscription Does Not Exist", &[]);
            return true;
        }
        if bad_expires(msg) {
            self.respond(txn, msg, 400, "Invalid Expires", &[]);
            return true;
        }
        let granted = match self.grant_expires(msg.expires()) {
            Ok(g) => g,
            Err(min) => {
                let rows = [("Min-Expires", min.to_string())];
                self.respond(txn, msg, 423, "Interval Too Brief", &rows);
                return true;
            }
        };
        if let Some(sub) = self.subs.subs.get_mut(&id) {
            sub.remote_cseq = cseq;
            // SUBSCRIBE is a target refresh request (RFC 6665 §4.1.2.4); the flow it came
            // on is where NOTIFYs go from now on.
            if let Some(sip::ContactValue::Addr(a)) = msg.contacts().first() {
                let _ = sub.set_remote_target(a.uri.raw());
            }
            sub.target = source;
            sub.dirty = true;
        }
        let (code, reason) = if pending {
            (202, "Accepted")
        } else {
            (200, "OK")
        };
        self.subscribe_answer(txn, msg, source, (code, reason), &tag, granted);
        if granted == 0 {
            self.subs.terminate(id, "timeout");
        } else {
            self.subs
                .set_expiry(id, Instant::now() + Duration::from_secs(u64::from(granted)));
        }
        debug!(
            package = package.name(),
            expires = granted,
            "subscription refreshed"
        );
        self.notify_sub(id);
        true
    }

    /// Forgets a subscription; the presence service forgets that its watcher asked.
    pub fn drop_sub(&mut self, id: SubId) {
        if let Some(sub) = self.subs.remove(id)
            && sub.asked
        {
            glue::forget_asker(self, &sub.watcher, &sub.presentity);
        }
    }

    /// The 2xx to a SUBSCRIBE: our tag, Contact, the granted Expires (§4.2.1.1).
    fn subscribe_answer(
        &mut self,
        txn: ServerTxnId,
        msg: &Message,
        source: Target,
        (code, reason): (u16, &str),
        tag: &str,
        granted: u32,
    ) {
        let mut b = response_to(msg, code, reason, Some(tag));
        b.header("Server", "switchboard");
        let local = self
            .transports
            .local_addr(source.transport, source.addr.ip());
        b.header("Contact", &contact_uri(local, source.transport));
        b.header_fmt("Expires", format_args!("{granted}"));
        b.header("Allow-Events", ALLOW_EVENTS);
        self.send_response(txn, b.finish_empty());
    }

    pub fn bad_event(&mut self, txn: ServerTxnId, msg: &Message) {
        let rows = [("Allow-Events", ALLOW_EVENTS.to_owned())];
        self.respond(txn, msg, 489, "Bad Event", &rows);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn msg(extra: &str) -> Message {
        let s = format!(
            "SUBSCRIBE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c\r\nCSeq: 1 SUBSCRIBE\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        sip::parse_datagram(s.into_bytes()).unwrap()
    }

    #[test]
    fn event_header_params() {
        let e = EventHeader::of(&msg("Event: presence;id=7;rollup=most-available\r\n")).unwrap();
        assert_eq!(e.package, Some(Package::Presence));
        assert_eq!(e.id.as_deref(), Some("7"));
        assert_eq!(e.rollup, Some(Rollup::MostAvailable));
        let e = EventHeader::of(&msg("Event: Message-Summary\r\n")).unwrap();
        assert_eq!(e.package, Some(Package::MessageSummary));
        let e = EventHeader::of(&msg("Event: dialog\r\n")).unwrap();
        assert_eq!(e.package, None);
        assert!(EventHeader::of(&msg("")).is_none());
    }

    #[test]
    fn accept_rows() {
        let pidf = "application/pidf+xml";
        assert!(accepts(&msg(""), pidf));
        assert!(accepts(&msg("Accept: application/pidf+xml\r\n"), pidf));
        assert!(accepts(&msg("Accept: text/plain, application/*\r\n"), pidf));
        assert!(accepts(&msg("Accept: */*\r\n"), pidf));
        assert!(!accepts(&msg("Accept: application/xpidf+xml\r\n"), pidf));
        assert!(!accepts(&msg("Accept: text/*\r\n"), pidf));
    }
}
