//! NOTIFY sending for every subscription (RFC 6665 §4.2.2), the subscription timers and the
//! fan-out of state changes.
//!
//! - **One NOTIFY outstanding per subscription.** A change while one is in flight only marks
//!   the subscription dirty; when the answer comes the *latest* state goes out (coalescing:
//!   a watcher never receives stale intermediate states in a burst). CSeq grows with each
//!   NOTIFY of the dialog (`Dialog::request`).
//! - **Failures do not kill a subscription silently** (`sip_events::subscription` decides):
//!   `481` and the other dialog- or usage-destroying answers of RFC 5057 §5.1 remove it
//!   (§4.2.2: the watcher has forgotten the dialog). A timeout, 408, 5xx and other failures
//!   keep it and retry with exponential backoff (1 s doubling to 64 s, at most 6 retries, or
//!   the response's `Retry-After` but never sooner than 1 s), each retry carrying the state
//!   current *at that moment*.
//!   When the retries are spent the subscription still lives until its expiry and the next
//!   change tries again. So a watcher's lamp is right again after a transient failure,
//!   instead of staying stale until its next refresh.
//! - **Expiry** sends `terminated;reason=timeout` (§4.2.2); the subscription is forgotten
//!   once that final NOTIFY is answered (or fails).
//! - **Fan-out** (`PresenceChanged`): subscriptions are indexed by presentity; the document
//!   is rendered once per rollup policy and the same `Bytes` goes into every NOTIFY.
//! - **Virtual address**: the NOTIFY's From is the presentity as the watcher addressed it,
//!   its Contact is this server; no device address appears outside the body, and the body
//!   comes from the presence service, which names only the presentity.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::Message;
use sip_txn::{ClientTxnId, Input};
use tracing::{debug, info, warn};

use sip_events::subscription::{NotifyFailure, NotifyOutcome, RetryPolicy};

use crate::core::Core;
use crate::glue::{self, Authz, Rollup};
use crate::subscribe::{Package, State, SubId};
use crate::transport::Target;

/// Backoff for failed NOTIFYs.
const RETRY: RetryPolicy = RetryPolicy {
    initial: Duration::from_secs(1),
    max_delay: Duration::from_secs(64),
    max_attempts: 6,
    timeout_terminates: false,
};

/// A rendered body: (version, bytes), shared by every NOTIFY of one fan-out.
type Body = Option<(u64, Bytes)>;

impl Core {
    /// Sends the subscription's current state, or marks it to be sent once the outstanding
    /// NOTIFY is answered or the retry is due.
    pub fn notify_sub(&mut self, id: SubId) {
        let Some(sub) = self.subs.subs.get_mut(&id) else {
            return;
        };
        sub.dirty = true;
        if sub.in_flight.is_some() || sub.retry_at.is_some() {
            return;
        }
        let body = self.body_for(id);
        self.send_notify(id, body);
    }

    /// What a NOTIFY of this subscription carries now: nothing for a watcher that may not see
    /// the state (pending, blocked), the document otherwise.
    fn body_for(&self, id: SubId) -> Body {
        let sub = self.subs.subs.get(&id)?;
        if !sub.allowed || sub.state == State::Pending {
            return None;
        }
        match sub.package {
            Package::Presence => glue::render(self, &sub.presentity, sub.rollup),
            Package::MessageSummary => glue::summary(self, &sub.presentity).map(|b| (0, b)),
        }
    }

    /// Builds and sends one NOTIFY in the subscription's dialog.
    fn send_notify(&mut self, id: SubId, body: Body) {
        let now = Instant::now();
        let Some(sub) = self.subs.subs.get_mut(&id) else {
            return;
        };
        // Rounded up: a fresh subscription says exactly what the 200 granted.
        let remaining = sub
            .expires_at
            .saturating_duration_since(now)
            .as_millis()
            .div_ceil(1000);
        let state = match sub.state {
            State::Active => format!("active;expires={remaining}"),
            State::Pending => format!("pending;expires={remaining}"),
            State::Terminated(reason) => format!("terminated;reason={reason}"),
        };
        let target = sub.target;
        let local = self
            .transports
            .local_addr(target.transport, target.addr.ip());
        let ct = sub.package.content_type();
        let bytes = sub.notify(local, &state, body.as_ref().map(|(_, b)| (ct, b.as_ref())));
        sub.dirty = false;
        sub.sent_version = body.as_ref().map(|(v, _)| *v).or(sub.sent_version);
        match self.send_own_request(target, bytes) {
            Some(txn) => {
                if let Some(sub) = self.subs.subs.get_mut(&id) {
                    sub.in_flight = Some(txn);
                }
                self.subs.by_txn.insert(txn, id);
            }
            None => self.notify_failed(id, NotifyOutcome::Timeout),
        }
    }

    /// Starts the client transaction of a NOTIFY we built: indexed for the transaction
    /// layer, not re-validated (`Core::send_request` parses as if it came off the wire).
    fn send_own_request(&mut self, target: Target, bytes: Bytes) -> Option<ClientTxnId> {
        let msg = match Message::parse_own(bytes) {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "built an unparsable NOTIFY");
                return None;
            }
        };
        let id = self.txn.new_client_id();
        self.input(Input::SendRequest {
            id,
            msg,
            target,
            reliable: target.transport.is_reliable(),
        });
        Some(id)
    }

    /// A response to one of our NOTIFYs; false when the transaction is not a NOTIFY.
    pub fn on_notify_response(&mut self, txn: ClientTxnId, msg: &Message) -> bool {
        let Some(id) = self.subs.by_txn.get(&txn).copied() else {
            return false;
        };
        let Some(code) = msg.status() else {
            return true;
        };
        if code < 200 {
            return true;
        }
        self.subs.by_txn.remove(&txn);
        if self.subs.by_txn.is_empty() && self.subs.by_txn.capacity() > 1024 {
            // A fan-out to thousands is over: give the index's memory back.
            self.subs.by_txn.shrink_to_fit();
        }
        let Some(sub) = self.subs.subs.get_mut(&id) else {
            return true;
        };
        sub.in_flight = None;
        if (200..300).contains(&code) {
            sub.failures = 0;
            self.notify_done(id);
            return true;
        }
        let retry_after = msg
            .header_named("Retry-After")
            .and_then(|v| sip::values::parse_delta_seconds(v.split(';').next().unwrap_or("")))
            .map(|s| Duration::from_secs(u64::from(s)));
        debug!(status = code, watcher = %sub.watcher, "NOTIFY refused");
        self.notify_failed(
            id,
            NotifyOutcome::Response {
                status: code,
                retry_after,
            },
        );
        true
    }

    /// Timer F or a transport error for one of our NOTIFYs; false when it is not one.
    pub fn on_notify_timeout(&mut self, txn: ClientTxnId) -> bool {
        let Some(id) = self.subs.by_txn.remove(&txn) else {
            return false;
        };
        if let Some(sub) = self.subs.subs.get_mut(&id) {
            sub.in_flight = None;
            debug!(watcher = %sub.watcher, "NOTIFY timed out, will retry");
        }
        self.notify_failed(id, NotifyOutcome::Timeout);
        true
    }

    /// After a 2xx: forget a terminated subscription, or send what changed meanwhile.
    fn notify_done(&mut self, id: SubId) {
        let Some(sub) = self.subs.subs.get(&id) else {
            return;
        };
        match (sub.state, sub.dirty) {
            (_, true) => self.notify_sub(id),
            (State::Terminated(_), false) => self.drop_sub(id),
            _ => {}
        }
    }

    /// A failed NOTIFY: remove the subscription when the watcher has forgotten it, else
    /// retry later with the latest state (unless the subscription is ending anyway).
    fn notify_failed(&mut self, id: SubId, outcome: NotifyOutcome) {
        let Some(sub) = self.subs.subs.get_mut(&id) else {
            return;
        };
        let terminal = outcome.failure(&RETRY) == Some(NotifyFailure::Terminate);
        if terminal || matches!(sub.state, State::Terminated(_)) {
            // Forgotten by the watcher, or the final NOTIFY failed: nothing more is owed.
            info!(watcher = %sub.watcher, ?outcome, "NOTIFY failed for good, subscription removed");
            self.drop_sub(id);
            return;
        }
        sub.failures = sub.failures.saturating_add(1);
        sub.dirty = true;
        let retry_after = match outcome {
            NotifyOutcome::Response { retry_after, .. } => retry_after,
            NotifyOutcome::Timeout => None,
        };
        // Retries spent: the next change (or the expiry) sends again. A `Retry-After` picks
        // the delay but counts as an attempt and is never below the first backoff, so a
        // watcher answering `503 Retry-After: 0` forever cannot make us loop.
        let Some(backoff) = RETRY.next_delay(sub.failures) else {
            return;
        };
        let delay = retry_after.map_or(backoff, |ra| ra.max(RETRY.initial));
        let at = Instant::now() + delay.min(Duration::from_secs(3600));
        // Past the expiry, the expiry's final NOTIFY is the next one.
        if at < sub.expires_at {
            self.subs.set_retry(id, Some(at));
        }
    }

    /// Expiries (final NOTIFY with reason timeout) and due retries.
    pub fn sub_timers(&mut self, now: Instant) {
        let (expired, retry) = self.subs.due(now);
        for id in expired {
            self.subs.set_retry(id, None);
            let terminated = self
                .subs
                .subs
                .get(&id)
                .is_some_and(|s| matches!(s.state, State::Terminated(_)));
            if terminated {
                // Its final NOTIFY went unanswered for a whole expiry period.
                self.drop_sub(id);
                continue;
            }
            debug!(sub = id, "subscription expired");
            self.subs.terminate(id, "timeout");
            // Bounded lifetime for the final NOTIFY's bookkeeping.
            self.subs.set_expiry(id, now + Duration::from_secs(64));
            self.notify_sub(id);
        }
        for id in retry {
            if self
                .subs
                .subs
                .get(&id)
                .is_some_and(|s| s.in_flight.is_none())
            {
                self.notify_sub(id);
            }
        }
    }

    /// Fan-out of a presence change to every active subscription of `aor`.
    pub fn presence_changed(&mut self, aor: &str, version: u64) {
        let ids = self.subs.of_presentity(Package::Presence, aor);
        if ids.is_empty() {
            return;
        }
        let mut rendered: [Option<Body>; 3] = [None, None, None];
        let mut sent = 0usize;
        for id in ids {
            let Some(sub) = self.subs.subs.get_mut(&id) else {
                continue;
            };
            if sub.state != State::Active || !sub.allowed {
                continue;
            }
            if !sub.dirty && sub.sent_version.is_some_and(|v| v >= version) {
                continue;
            }
            if sub.in_flight.is_some() || sub.retry_at.is_some() {
                sub.dirty = true;
                continue;
            }
            let slot = match sub.rollup {
                Rollup::Compound => 0,
                Rollup::MostAvailable => 1,
                Rollup::SemiAvailable => 2,
            };
            let rollup = sub.rollup;
            let body = match rendered.get_mut(slot) {
                Some(Some(b)) => b.clone(),
                Some(cell) => {
                    let b = glue::render(self, aor, rollup);
                    *cell = Some(b.clone());
                    b
                }
                None => None,
            };
            self.send_notify(id, body);
            sent += 1;
        }
        debug!(aor = %aor, version, notifies = sent, "presence fan-out");
    }

    /// Re-asks the presence service whether `watcher` may see `presentity`.
    pub fn presence_auth_changed(&mut self, presentity: &str, watcher: &str) {
        for id in self.subs.of_presentity(Package::Presence, presentity) {
            let Some(sub) = self.subs.subs.get(&id) else {
                continue;
            };
            if &*sub.watcher != watcher {
                continue;
            }
            let now = glue::may_see(self, watcher, presentity);
            let Some(sub) = self.subs.subs.get_mut(&id) else {
                continue;
            };
            match (sub.state, now) {
                (State::Pending, Authz::Allow) => {
                    sub.state = State::Active;
                    sub.allowed = true;
                    self.notify_sub(id);
                }
                (State::Active, Authz::Pending | Authz::Deny) => {
                    // Withdrawn: end it without saying why (polite blocking, RFC 5025).
                    sub.allowed = false;
                    self.subs.terminate(id, "deactivated");
                    self.notify_sub(id);
                }
                _ => {}
            }
        }
    }

    /// New message counts for `aor`: NOTIFY its message-summary subscriptions.
    pub fn mwi_changed(&mut self, aor: &str) {
        for id in self.subs.of_presentity(Package::MessageSummary, aor) {
            self.notify_sub(id);
        }
    }
}
