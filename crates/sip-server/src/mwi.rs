//! Message-waiting on the SIP face (RFC 3842): reports from external voicemail systems and
//! unsolicited NOTIFYs to registered devices. Subscriptions to `message-summary` are served
//! by the event framework (`subscribe.rs`/`notify.rs`), which reads `Mwi::summary`.
//!
//! An external system reports with an out-of-dialog NOTIFY (`Event: message-summary`) or a
//! PUBLISH (RFC 3903) of the same package, digest-authenticated as its system account (its
//! From). The Request-URI names the user: their mailbox id on that system, or their user
//! name. The body is `application/simple-message-summary` (RFC 3842 §5.2), full state; the
//! optional message-header blocks carry ANI (`From`), DNIS (`To`), time (`Date`), id
//! (`Message-ID`), `Priority` and `Message-Status` (see `services::mwi::report`). The
//! report is queued for the MWI service and answered 200 at once; a PUBLISH gets an
//! `SIP-ETag` and its `Expires`, and ending a publication (`Expires: 0`, or letting it
//! expire) keeps the counts: a voicemail system's last report stays true until it sends
//! another one.
//!
//! Unsolicited NOTIFYs (`[mwi] unsolicited_notify`, per user) go to every registered device
//! of the user that has no `message-summary` subscription, on each change only — never at
//! registration, so a re-registering phone is not flooded (baresip's MWI loop is triggered
//! by fast answers at start, see phones/NOTES.md §2). What this module does not do: keep
//! counts (the MWI service does), decide who may report (`Mwi::authorize`).

use services::mwi::{MwiError, Report, report};
use services::registrar::aor_key;
use sip::{Builder, HeaderName, Message};
use sip_txn::ServerTxnId;
use tracing::debug;

use crate::core::Core;
use crate::dialog::via;
use crate::subscribe::Package;
use crate::transport::{Target, Transport};
use crate::util::{random_token, unix_now};

/// RFC 3842 §5.1.
const SUMMARY_TYPE: &str = "application/simple-message-summary";
/// Expiry granted to an MWI PUBLISH without Expires (RFC 3903 §6 step 5).
const PUBLISH_EXPIRES: u32 = 3600;

/// A SIP refusal: status, reason phrase, extra header rows.
type Refusal = (u16, &'static str, Vec<(&'static str, String)>);

/// The one place an `MwiError` becomes a SIP status.
fn refusal(e: &MwiError) -> Refusal {
    match e {
        MwiError::NotASystem(_) => (403, "Not a Voicemail System", Vec::new()),
        MwiError::NotServed { .. } | MwiError::NoSuchSystem(_) => {
            (404, "No Such Mailbox", Vec::new())
        }
        MwiError::Invalid(_) => (400, "Invalid Message Summary", Vec::new()),
        MwiError::Busy | MwiError::Stopped => (
            503,
            "Service Unavailable",
            vec![("Retry-After", "5".to_owned())],
        ),
        MwiError::Store => (500, "Server Internal Error", Vec::new()),
    }
}

/// True for `Event: message-summary` (parameters ignored).
pub fn is_message_summary(msg: &Message) -> bool {
    msg.header(HeaderName::Event).is_some_and(|e| {
        e.split(';')
            .next()
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("message-summary"))
    })
}

impl Core {
    /// An out-of-dialog NOTIFY: `message-summary` from a voicemail system; anything else is
    /// no subscription of ours (481, RFC 6665 §4.1.3).
    pub fn on_out_of_dialog_notify(&mut self, txn: ServerTxnId, msg: Message, source: Target) {
        if !is_message_summary(&msg) {
            self.respond(txn, &msg, 481, "Subscription Does Not Exist", &[]);
            return;
        }
        let Some((user, domain)) = self.authenticate(txn, &msg, source) else {
            return;
        };
        if msg.body().is_empty() {
            // A NOTIFY without state (e.g. the first of a subscription) says nothing.
            self.respond(txn, &msg, 200, "OK", &[]);
            return;
        }
        if let Err((code, reason, rows)) = self.mwi_report(&msg, &aor_key(&user, &domain)) {
            self.respond(txn, &msg, code, reason, &rows);
            return;
        }
        self.respond(txn, &msg, 200, "OK", &[]);
    }

    /// A PUBLISH of `message-summary` by `publisher` (`user@domain`, already authenticated
    /// by `publish.rs`).
    pub fn on_mwi_publish(&mut self, txn: ServerTxnId, msg: &Message, publisher: &str) {
        let expires = msg
            .expires()
            .unwrap_or(PUBLISH_EXPIRES)
            .min(PUBLISH_EXPIRES);
        let etag = msg
            .header_named("SIP-If-Match")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        if msg.body().is_empty() {
            // Refresh or removal (RFC 3903 §6): nothing to store, counts are kept.
            if etag.is_none() {
                self.respond(txn, msg, 400, "Missing Body", &[]);
                return;
            }
        } else if let Err((code, reason, rows)) = self.mwi_report(msg, publisher) {
            self.respond(txn, msg, code, reason, &rows);
            return;
        }
        let etag = etag.unwrap_or_else(|| random_token(16));
        let rows = [("SIP-ETag", etag), ("Expires", expires.to_string())];
        self.respond(txn, msg, 200, "OK", &rows);
    }

    /// Checks and queues one report; the refusal otherwise.
    fn mwi_report(&mut self, msg: &Message, account: &str) -> Result<(), Refusal> {
        let ct = msg.content_type().unwrap_or_default();
        let base = ct.split(';').next().unwrap_or_default().trim();
        if !base.eq_ignore_ascii_case(SUMMARY_TYPE) {
            return Err((
                415,
                "Unsupported Media Type",
                vec![("Accept", SUMMARY_TYPE.to_owned())],
            ));
        }
        let summary = sip_events::summary::parse(msg.body()).map_err(|e| {
            debug!(error = %e, account = %account, "invalid message summary");
            (400, "Invalid Message Summary", Vec::new())
        })?;
        let target = msg
            .uri()
            .and_then(|u| u.as_sip().cloned())
            .and_then(|u| Some((u.user_unescaped()?, u.host_text.to_owned())))
            .or_else(|| {
                let to = msg.to()?;
                let u = to.uri.as_sip()?;
                Some((u.user_unescaped()?, u.host_text.to_owned()))
            });
        let Some((name, host)) = target else {
            return Err((404, "No Such Mailbox", Vec::new()));
        };
        let Some(domain) = self.dir.local_domain(&host).map(str::to_owned) else {
            return Err((403, "Relaying Denied", Vec::new()));
        };
        let mwi = self.deps.mwi.clone();
        let (system, aor) = mwi
            .authorize(account, None, &name, &domain)
            .map_err(|e| refusal(&e))?;
        let (counts, messages) = report::from_summary(&summary);
        let r = Report {
            system,
            aor,
            counts,
            messages,
        };
        r.validate().map_err(|e| refusal(&e))?;
        debug!(account = %account, aor = %r.aor, new = r.counts.new, "voicemail system report");
        mwi.report(r).map_err(|e| refusal(&e))
    }

    /// Sends the aggregated summary to every registered device of `aor` that has no
    /// `message-summary` subscription, when the user's setting says so.
    pub fn mwi_unsolicited(&mut self, aor: &str) {
        let mwi = self.deps.mwi.clone();
        if !mwi.unsolicited_notify(aor) {
            return;
        }
        let Some((user, domain)) = aor.split_once('@') else {
            return;
        };
        let subscribed: Vec<std::net::SocketAddr> = self
            .subs
            .of_presentity(Package::MessageSummary, aor)
            .into_iter()
            .filter_map(|id| self.subs.subs.get(&id).map(|s| s.target.addr))
            .collect();
        let body = mwi.summary(aor).to_text();
        let bindings = self.location.lookup(&aor_key(user, domain), unix_now());
        for b in bindings {
            let (Some(transport), Ok(addr)) =
                (Transport::from_token(&b.transport), b.source.parse())
            else {
                continue;
            };
            if subscribed.contains(&addr) {
                continue;
            }
            let target = Target { transport, addr };
            let local = self.transports.local_addr(transport, addr.ip());
            let mut m = Builder::request("NOTIFY", &b.contact);
            m.header("Via", &via(local, transport));
            m.header("Max-Forwards", "70");
            m.header_fmt(
                "From",
                format_args!(
                    "<sip:{}@{domain}>;tag={}",
                    mwi.from_user(),
                    random_token(10)
                ),
            );
            m.header_fmt("To", format_args!("<sip:{aor}>"));
            m.header_fmt("Call-ID", format_args!("{}@switchboard", random_token(20)));
            m.header("CSeq", "1 NOTIFY");
            m.header("Event", "message-summary");
            m.header("Subscription-State", "active");
            let bytes = m.finish(Some(SUMMARY_TYPE), body.as_bytes());
            debug!(aor = %aor, peer = %addr, "unsolicited message-summary");
            self.fire_and_forget(target, bytes);
        }
    }
}
