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
//! 200 is sent only once the report is stored (a system that got 200 may forget it: a
//! crash must not lose it): a helper task waits for the MWI actor and hands the answer
//! back to the core (`Event::Deferred`), which never waits itself. PUBLISH follows
//! RFC 3903 §6 (`services::Mwi::publication`): each 200 carries a new `SIP-ETag` and the
//! granted `Expires`; a refresh (`SIP-If-Match`, no body) only extends, a modify
//! (`SIP-If-Match` + body) stores the new state, an unknown or expired tag is 412 before
//! anything is stored. Ending a publication (`Expires: 0`, or letting it expire) keeps the
//! counts: a voicemail system's last report stays true until it sends another one.
//!
//! Unsolicited NOTIFYs (`[mwi] unsolicited_notify`, per user) go to every registered device
//! of the user that has no `message-summary` subscription, on each change only — never at
//! registration, so a re-registering phone is not flooded (baresip's MWI loop is triggered
//! by fast answers at start, see phones/NOTES.md §2). What this module does not do: keep
//! counts (the MWI service does), decide who may report (`Mwi::authorize`).

use std::time::Instant;

use services::mwi::{MwiError, Report, report};
use services::registrar::aor_key;
use sip::{Builder, HeaderName, Message};
use sip_events::publication::{Outcome, PubError};
use sip_txn::ServerTxnId;
use tracing::{debug, warn};

use crate::core::Core;
use crate::dialog::via;
use crate::subscribe::Package;
use crate::transport::{Deferred, Event, Target, Transport};
use crate::util::{random_token, unix_now};

/// RFC 3842 §5.1.
const SUMMARY_TYPE: &str = "application/simple-message-summary";

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

/// The one place a publication error becomes a SIP status (RFC 3903 §6).
fn pub_refusal(e: &PubError) -> Refusal {
    match e {
        PubError::UnknownEtag => (412, "Conditional Request Failed", Vec::new()),
        PubError::IntervalTooBrief { min_expires } => (
            423,
            "Interval Too Brief",
            vec![("Min-Expires", min_expires.to_string())],
        ),
        PubError::MissingBody => (400, "Missing Body", Vec::new()),
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
        let account = aor_key(&user, &domain);
        let report = self
            .mwi_target(&msg, &account)
            .and_then(|(system, aor)| mwi_parse(&msg, &account, system, aor));
        match report {
            Err((code, reason, rows)) => self.respond(txn, &msg, code, reason, &rows),
            Ok(r) => self.mwi_store_then(txn, msg, r, |core, txn, msg| {
                core.respond(txn, msg, 200, "OK", &[]);
            }),
        }
    }

    /// A PUBLISH of `message-summary` by `publisher` (`user@domain`, already authenticated
    /// by `publish.rs`): RFC 3903 §6 with the counts stored before the 200.
    pub fn on_mwi_publish(&mut self, txn: ServerTxnId, msg: &Message, publisher: &str) {
        let (system, aor) = match self.mwi_target(msg, publisher) {
            Ok(t) => t,
            Err((code, reason, rows)) => return self.respond(txn, msg, code, reason, &rows),
        };
        let resource = format!("{system} {aor}");
        let if_match = msg
            .header_named("SIP-If-Match")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        let mwi = self.deps.mwi.clone();
        if let Some(tag) = &if_match
            && !mwi.publication_known(Instant::now(), &resource, tag)
        {
            let (code, reason, rows) = pub_refusal(&PubError::UnknownEtag);
            return self.respond(txn, msg, code, reason, &rows);
        }
        let expires = msg.expires();
        if msg.body().is_empty() {
            // Refresh or removal: nothing to store, the counts are kept.
            return self.mwi_publication(txn, msg, &resource, if_match.as_deref(), expires, false);
        }
        if expires == Some(0) && if_match.is_none() {
            // An initial publication that ends at once stores nothing (RFC 3903 §6).
            return self.mwi_publication(txn, msg, &resource, None, expires, true);
        }
        match mwi_parse(msg, publisher, system, aor) {
            Err((code, reason, rows)) => self.respond(txn, msg, code, reason, &rows),
            Ok(r) => self.mwi_store_then(txn, msg.clone(), r, move |core, txn, msg| {
                core.mwi_publication(txn, msg, &resource, if_match.as_deref(), expires, true);
            }),
        }
    }

    /// Applies the publication step and answers it.
    fn mwi_publication(
        &mut self,
        txn: ServerTxnId,
        msg: &Message,
        resource: &str,
        if_match: Option<&str>,
        expires: Option<u32>,
        has_body: bool,
    ) {
        let seed = rand::random::<u64>();
        let step =
            self.deps
                .mwi
                .publication(Instant::now(), resource, if_match, expires, has_body, seed);
        match step {
            Ok(
                Outcome::Created { etag, expires }
                | Outcome::Refreshed { etag, expires }
                | Outcome::Modified { etag, expires },
            ) => {
                let rows = [("SIP-ETag", etag.0), ("Expires", expires.to_string())];
                self.respond(txn, msg, 200, "OK", &rows);
            }
            Ok(Outcome::Removed) => {
                self.respond(txn, msg, 200, "OK", &[("Expires", "0".to_owned())]);
            }
            Err(e) => {
                let (code, reason, rows) = pub_refusal(&e);
                self.respond(txn, msg, code, reason, &rows);
            }
        }
    }

    /// Stores `report` from a helper task (the core never awaits the store) and answers
    /// with `done` on the core thread once it is stored, or with the refusal.
    fn mwi_store_then(
        &mut self,
        txn: ServerTxnId,
        msg: Message,
        report: Report,
        done: impl FnOnce(&mut Core, ServerTxnId, &Message) + Send + 'static,
    ) {
        let mwi = self.deps.mwi.clone();
        let events = self.transports.events();
        tokio::spawn(async move {
            let stored = mwi.report_wait(report).await.map(|_| ());
            let job = Deferred(Box::new(move |core: &mut Core| match stored {
                Ok(()) => done(core, txn, &msg),
                Err(e) => {
                    let (code, reason, rows) = refusal(&e);
                    core.respond(txn, &msg, code, reason, &rows);
                }
            }));
            if events.send(Event::Deferred(job)).await.is_err() {
                warn!("sip core gone before a voicemail system report was answered");
            }
        });
    }

    /// The system that `account` reports for and the user the request names (Request-URI,
    /// else To: their mailbox id on that system or their user name).
    fn mwi_target(&self, msg: &Message, account: &str) -> Result<(String, String), Refusal> {
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
        self.deps
            .mwi
            .authorize(account, None, &name, &domain)
            .map_err(|e| refusal(&e))
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

/// The report a request's body carries (RFC 3842 §5.2), checked.
fn mwi_parse(msg: &Message, account: &str, system: String, aor: String) -> Result<Report, Refusal> {
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
    let (counts, messages) = report::from_summary(&summary);
    let r = Report {
        system,
        aor,
        counts,
        messages,
    };
    r.validate().map_err(|e| refusal(&e))?;
    debug!(account = %account, aor = %r.aor, new = r.counts.new, "voicemail system report");
    Ok(r)
}
