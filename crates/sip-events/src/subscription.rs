//! RFC 6665 notifier-side bookkeeping for one subscription, as a pure state machine with time
//! as an input: the subscription state and its `Subscription-State` header (§4.1.3, §8.2.3),
//! expiry clamping with 423 Interval Too Brief (§4.2.1.1), and the NOTIFY delivery policy.
//!
//! Delivery policy (why it is not "one failure kills it"): RFC 6665 §4.2.2 requires removal
//! after a 481 and says the notifier SHOULD remove the subscription when a NOTIFY times out
//! (Timer F). Real phones drop an odd NOTIFY (busy CPU, lossy Wi-Fi), and removing the
//! subscription there leaves the watcher's lamp stale until its next refresh, which is the
//! failure the product brief forbids. So: 481 and the responses RFC 5057 §5.1 calls
//! dialog- or usage-destroying terminate; a timeout, 408, 5xx and the remaining failures are
//! retried with exponential backoff, always with the LATEST state, one NOTIFY in flight at a
//! time; when the retries are spent the subscription stays (it still ends at its expiry) and
//! the next state change tries again. `RetryPolicy::timeout_terminates` restores the RFC's
//! SHOULD for operators who want it.
//!
//! Not here: dialogs, message building, transactions (the SIP face), authorization (the
//! presence service).

use std::time::{Duration, Instant};

use thiserror::Error;

/// RFC 6665 §4.1.3 / §8.2.3 subscription states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubState {
    /// Accepted, waiting for authorization: NOTIFYs carry no state.
    Pending,
    /// Authorized: NOTIFYs carry state.
    Active,
    /// Over, with the reason sent in the final NOTIFY.
    Terminated(Reason),
}

/// RFC 6665 §4.1.3 termination reasons (registered tokens, §8.2.3 / IANA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `deactivated`: re-subscribe at once.
    Deactivated,
    /// `probation`: re-subscribe later (`retry-after`).
    Probation,
    /// `rejected`: authorization refused; do not re-subscribe.
    Rejected,
    /// `timeout`: not refreshed in time.
    Timeout,
    /// `giveup`: the notifier could not obtain authorization in time.
    Giveup,
    /// `noresource`: the resource no longer exists.
    Noresource,
    /// `invariant`: the resource cannot change; do not re-subscribe.
    Invariant,
}

impl Reason {
    /// The RFC token.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Deactivated => "deactivated",
            Reason::Probation => "probation",
            Reason::Rejected => "rejected",
            Reason::Timeout => "timeout",
            Reason::Giveup => "giveup",
            Reason::Noresource => "noresource",
            Reason::Invariant => "invariant",
        }
    }

    /// Parses a token (case-insensitive); unknown tokens are `None` (RFC 6665 §4.1.3 says
    /// treat them like no reason).
    pub fn parse(token: &str) -> Option<Reason> {
        [
            Reason::Deactivated,
            Reason::Probation,
            Reason::Rejected,
            Reason::Timeout,
            Reason::Giveup,
            Reason::Noresource,
            Reason::Invariant,
        ]
        .into_iter()
        .find(|r| r.as_str().eq_ignore_ascii_case(token.trim()))
    }
}

/// A `Subscription-State` header value (RFC 6665 §8.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriptionStateHeader {
    /// The state (with its reason when terminated).
    pub state: SubState,
    /// `expires=` in seconds (pending/active).
    pub expires: Option<u32>,
    /// `retry-after=` in seconds (terminated, probation/giveup).
    pub retry_after: Option<u32>,
}

/// Error for an expiry that is too short: answer 423 with `Min-Expires: min_expires`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("interval too brief (min {min_expires})")]
pub struct IntervalTooBrief {
    /// The value for the `Min-Expires` header.
    pub min_expires: u32,
}

/// Expiry bounds of an event package (RFC 6665 §4.2.1.1, §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPolicy {
    /// Shorter requests (other than 0) get 423.
    pub min: u32,
    /// Longer requests are shortened to this.
    pub max: u32,
    /// Used when the request has no `Expires`.
    pub default: u32,
}

/// The result of a NOTIFY transaction, as the SIP face saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyOutcome {
    /// A final response with this status (2xx = delivered).
    Response {
        /// The status code.
        status: u16,
        /// `Retry-After` of the response, if any.
        retry_after: Option<Duration>,
    },
    /// No final response: Timer F fired or the transport failed.
    Timeout,
}

/// How a failed NOTIFY bears on the subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyFailure {
    /// The subscription (or its dialog) is gone at the subscriber: remove it, send nothing.
    Terminate,
    /// Transient: send the latest state again later.
    Retry,
}

/// Backoff for failed NOTIFYs: `initial`, doubled per attempt, capped at `max_delay`, at most
/// `max_attempts` retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Largest delay.
    pub max_delay: Duration,
    /// Retries after the first failure; 0 disables retrying.
    pub max_attempts: u32,
    /// Terminate on a NOTIFY timeout (RFC 6665 §4.2.2 SHOULD) instead of retrying.
    pub timeout_terminates: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_secs(2),
            max_delay: Duration::from_secs(64),
            max_attempts: 6,
            timeout_terminates: false,
        }
    }
}

/// What the caller should do after [`Subscription::on_notify_result`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryAction {
    /// Nothing to do now ([`Subscription::poll_notify`] may have more).
    Idle,
    /// Retry at this instant (call [`Subscription::poll_notify`] then).
    RetryAt(Instant),
    /// Remove the subscription; do not send a final NOTIFY.
    Remove,
}

/// Notifier state of one subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    state: SubState,
    expires_at: Instant,
    retry: RetryPolicy,
    /// Version of the newest resource state (caller's numbering).
    version: u64,
    /// Bumped on every change that needs a NOTIFY (new version, refresh, state change).
    generation: u64,
    /// Generation the subscriber has (delivered, or given up on after spent retries).
    settled: Option<u64>,
    /// Generation of the NOTIFY in flight.
    in_flight: Option<u64>,
    /// Failures since the last success.
    failures: u32,
    /// Not before this instant (backoff).
    hold_until: Option<Instant>,
}

impl SubState {
    /// The state token (`pending`, `active`, `terminated`).
    pub fn as_str(self) -> &'static str {
        match self {
            SubState::Pending => "pending",
            SubState::Active => "active",
            SubState::Terminated(_) => "terminated",
        }
    }
}

impl std::fmt::Display for SubscriptionStateHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.state.as_str())?;
        if let SubState::Terminated(reason) = self.state {
            write!(f, ";reason={}", reason.as_str())?;
        } else if let Some(e) = self.expires {
            write!(f, ";expires={e}")?;
        }
        if let Some(r) = self.retry_after {
            write!(f, ";retry-after={r}")?;
        }
        Ok(())
    }
}

impl SubscriptionStateHeader {
    /// Parses a `Subscription-State` value (for NOTIFYs received from external notifiers).
    /// Unknown parameters are ignored; `terminated` without a known reason is `None` (the
    /// caller decides; RFC 6665 §4.1.3 treats it like no reason given).
    pub fn parse(value: &str) -> Option<SubscriptionStateHeader> {
        let mut parts = value.split(';');
        let token = parts.next()?.trim();
        let mut reason = None;
        let mut expires = None;
        let mut retry_after = None;
        for p in parts {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let v = v.trim().trim_matches('"');
            match k.trim().to_ascii_lowercase().as_str() {
                "reason" => reason = Some(Reason::parse(v)?),
                "expires" => expires = Some(v.parse().ok()?),
                "retry-after" => retry_after = Some(v.parse().ok()?),
                _ => {}
            }
        }
        let state = match token.to_ascii_lowercase().as_str() {
            "pending" => SubState::Pending,
            "active" => SubState::Active,
            "terminated" => SubState::Terminated(reason?),
            _ => return None,
        };
        Some(SubscriptionStateHeader {
            state,
            expires,
            retry_after,
        })
    }
}

impl ExpiryPolicy {
    /// The expiry to grant for a requested one: `None` → default, 0 stays 0 (unsubscribe),
    /// below `min` → [`IntervalTooBrief`], above `max` → `max`.
    pub fn clamp(&self, requested: Option<u32>) -> Result<u32, IntervalTooBrief> {
        match requested {
            None => Ok(self.default.clamp(self.min, self.max.max(self.min))),
            Some(0) => Ok(0),
            Some(e) if e < self.min => Err(IntervalTooBrief {
                min_expires: self.min,
            }),
            Some(e) => Ok(e.min(self.max.max(self.min))),
        }
    }
}

impl NotifyOutcome {
    /// Classifies a failed NOTIFY; `None` for a 2xx (or provisional, which is not final).
    pub fn failure(self, policy: &RetryPolicy) -> Option<NotifyFailure> {
        match self {
            NotifyOutcome::Timeout if policy.timeout_terminates => Some(NotifyFailure::Terminate),
            NotifyOutcome::Timeout => Some(NotifyFailure::Retry),
            NotifyOutcome::Response { status, .. } => classify_status(status),
        }
    }
}

/// RFC 6665 §4.2.2 (481 MUST remove) and RFC 5057 §5.1 (dialog- and usage-destroying
/// responses); everything else that failed is worth retrying.
fn classify_status(status: u16) -> Option<NotifyFailure> {
    match status {
        100..=299 => None,
        404 | 405 | 410 | 416 | 480..=485 | 489 | 501 | 502 | 604 => Some(NotifyFailure::Terminate),
        _ => Some(NotifyFailure::Retry),
    }
}

impl RetryPolicy {
    /// Delay before retry number `attempt` (1-based), or `None` when retries are spent.
    pub fn next_delay(&self, attempt: u32) -> Option<Duration> {
        if attempt == 0 || attempt > self.max_attempts {
            return None;
        }
        let factor = 1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX);
        Some(
            self.initial
                .checked_mul(factor)
                .unwrap_or(self.max_delay)
                .min(self.max_delay),
        )
    }
}

impl Subscription {
    /// A subscription accepted at `now` for `expires` seconds in `state` (`Pending` until
    /// authorized, or `Active`). The initial NOTIFY (version 0 = "current state") is due.
    pub fn new(now: Instant, expires: u32, state: SubState, retry: RetryPolicy) -> Self {
        Subscription {
            state,
            expires_at: now + Duration::from_secs(u64::from(expires)),
            retry,
            version: 0,
            generation: 0,
            settled: None,
            in_flight: None,
            failures: 0,
            hold_until: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> SubState {
        self.state
    }

    /// When it expires.
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    /// Whole seconds left (rounded down), 0 once expired.
    pub fn remaining(&self, now: Instant) -> u32 {
        let secs = self.expires_at.saturating_duration_since(now).as_secs();
        u32::try_from(secs).unwrap_or(u32::MAX)
    }

    /// Expired at `now` (the caller then sends `terminated;reason=timeout` and removes it).
    pub fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires_at
    }

    /// A refreshing SUBSCRIBE granted `expires` seconds (0 = unsubscribe: the caller sends a
    /// final NOTIFY with `terminated;reason=timeout`, RFC 6665 §4.2.1.4). A NOTIFY is due.
    pub fn refresh(&mut self, now: Instant, expires: u32) {
        self.expires_at = now + Duration::from_secs(u64::from(expires));
        self.bump();
    }

    /// Changes the state (e.g. `Pending` → `Active` on authorization, `Terminated(..)`);
    /// a NOTIFY is due when it changed.
    pub fn set_state(&mut self, state: SubState) {
        if self.state != state {
            self.state = state;
            self.bump();
        }
    }

    /// The `Subscription-State` value to put in the NOTIFY sent at `now`.
    pub fn header(&self, now: Instant) -> SubscriptionStateHeader {
        SubscriptionStateHeader {
            state: self.state,
            expires: match self.state {
                SubState::Terminated(_) => None,
                _ => Some(self.remaining(now)),
            },
            retry_after: None,
        }
    }

    /// The resource state changed to `version` (monotonic, chosen by the caller); a NOTIFY
    /// is due when it is newer than what the subscription has seen.
    pub fn state_changed(&mut self, version: u64) {
        if version > self.version {
            self.version = version;
            self.bump();
        }
    }

    fn bump(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// If a NOTIFY should be sent at `now`, returns the resource version to put in it (always
    /// the newest) and marks it in flight; `None` while one is in flight, while backing off,
    /// or when the subscriber already has the newest state.
    pub fn poll_notify(&mut self, now: Instant) -> Option<u64> {
        if self.in_flight.is_some() || self.hold_until.is_some_and(|t| now < t) {
            return None;
        }
        if self.settled == Some(self.generation) {
            return None;
        }
        self.hold_until = None;
        self.in_flight = Some(self.generation);
        Some(self.version)
    }

    /// The next instant [`Subscription::poll_notify`] needs calling for a retry, if any.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.hold_until
    }

    /// Feeds the outcome of the NOTIFY in flight.
    pub fn on_notify_result(&mut self, now: Instant, outcome: NotifyOutcome) -> DeliveryAction {
        let Some(sent) = self.in_flight.take() else {
            return DeliveryAction::Idle;
        };
        match outcome.failure(&self.retry) {
            None => {
                self.settled = Some(sent);
                self.failures = 0;
                self.hold_until = None;
                DeliveryAction::Idle
            }
            Some(NotifyFailure::Terminate) => DeliveryAction::Remove,
            Some(NotifyFailure::Retry) => {
                self.failures = self.failures.saturating_add(1);
                let hinted = match outcome {
                    NotifyOutcome::Response { retry_after, .. } => retry_after,
                    NotifyOutcome::Timeout => None,
                };
                match self.retry.next_delay(self.failures) {
                    Some(d) => {
                        let at = now + hinted.map_or(d, |h| h.max(d));
                        self.hold_until = Some(at);
                        DeliveryAction::RetryAt(at)
                    }
                    None => {
                        // Retries spent: keep the subscription; the next change tries again.
                        self.failures = 0;
                        self.hold_until = None;
                        self.settled = Some(sent);
                        DeliveryAction::Idle
                    }
                }
            }
        }
    }

    /// Consecutive failed NOTIFYs since the last delivered one.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}
