//! RFC 6665 notifier bookkeeping: header rendering, expiry clamping and the NOTIFY delivery
//! policy (481 ends it, transient failures are retried with the latest state, a subscription
//! outlives spent retries until its expiry).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use sip_events::subscription::{
    DeliveryAction, ExpiryPolicy, IntervalTooBrief, NotifyFailure, NotifyOutcome, Reason,
    RetryPolicy, SubState, Subscription, SubscriptionStateHeader,
};

fn ok() -> NotifyOutcome {
    NotifyOutcome::Response {
        status: 200,
        retry_after: None,
    }
}

fn status(status: u16) -> NotifyOutcome {
    NotifyOutcome::Response {
        status,
        retry_after: None,
    }
}

#[test]
fn header_rendering_and_parsing() {
    let h = |state, expires| SubscriptionStateHeader {
        state,
        expires,
        retry_after: None,
    };
    assert_eq!(
        h(SubState::Active, Some(600)).to_string(),
        "active;expires=600"
    );
    assert_eq!(
        h(SubState::Pending, Some(30)).to_string(),
        "pending;expires=30"
    );
    assert_eq!(
        h(SubState::Terminated(Reason::Timeout), None).to_string(),
        "terminated;reason=timeout"
    );
    let probation = SubscriptionStateHeader {
        state: SubState::Terminated(Reason::Probation),
        expires: None,
        retry_after: Some(60),
    };
    assert_eq!(
        probation.to_string(),
        "terminated;reason=probation;retry-after=60"
    );
    for v in [
        "active;expires=600",
        "pending;expires=30",
        "terminated;reason=timeout",
    ] {
        assert_eq!(SubscriptionStateHeader::parse(v).unwrap().to_string(), v);
    }
    assert_eq!(
        SubscriptionStateHeader::parse(" Active ; Expires=582 ;x=y").unwrap(),
        h(SubState::Active, Some(582))
    );
    assert_eq!(SubscriptionStateHeader::parse("bogus"), None);
    assert_eq!(
        SubscriptionStateHeader::parse("terminated;reason=whatever"),
        None
    );
    assert_eq!(SubscriptionStateHeader::parse("active;expires=x"), None);
}

#[test]
fn reason_tokens() {
    let all = [
        (Reason::Deactivated, "deactivated"),
        (Reason::Probation, "probation"),
        (Reason::Rejected, "rejected"),
        (Reason::Timeout, "timeout"),
        (Reason::Giveup, "giveup"),
        (Reason::Noresource, "noresource"),
        (Reason::Invariant, "invariant"),
    ];
    for (r, t) in all {
        assert_eq!(r.as_str(), t);
        assert_eq!(Reason::parse(&t.to_uppercase()), Some(r));
    }
}

#[test]
fn expiry_clamp() {
    let p = ExpiryPolicy {
        min: 60,
        max: 3600,
        default: 600,
    };
    assert_eq!(p.clamp(None), Ok(600));
    assert_eq!(p.clamp(Some(0)), Ok(0));
    assert_eq!(p.clamp(Some(59)), Err(IntervalTooBrief { min_expires: 60 }));
    assert_eq!(p.clamp(Some(60)), Ok(60));
    assert_eq!(p.clamp(Some(86_400)), Ok(3600));
}

#[test]
fn failure_classification() {
    let policy = RetryPolicy::default();
    assert_eq!(ok().failure(&policy), None);
    assert_eq!(status(202).failure(&policy), None);
    for s in [
        481, 404, 405, 410, 416, 480, 482, 483, 484, 485, 489, 501, 502, 604,
    ] {
        assert_eq!(
            status(s).failure(&policy),
            Some(NotifyFailure::Terminate),
            "{s}"
        );
    }
    for s in [408, 500, 503, 486, 403, 600, 603, 302] {
        assert_eq!(
            status(s).failure(&policy),
            Some(NotifyFailure::Retry),
            "{s}"
        );
    }
    assert_eq!(
        NotifyOutcome::Timeout.failure(&policy),
        Some(NotifyFailure::Retry)
    );
    let strict = RetryPolicy {
        timeout_terminates: true,
        ..policy
    };
    assert_eq!(
        NotifyOutcome::Timeout.failure(&strict),
        Some(NotifyFailure::Terminate)
    );
}

#[test]
fn backoff_schedule() {
    let p = RetryPolicy::default();
    let delays: Vec<_> = (0..=8)
        .map(|a| p.next_delay(a).map(|d| d.as_secs()))
        .collect();
    assert_eq!(
        delays,
        vec![
            None,
            Some(2),
            Some(4),
            Some(8),
            Some(16),
            Some(32),
            Some(64),
            None,
            None
        ]
    );
    let big = RetryPolicy {
        max_attempts: 100,
        ..p
    };
    assert_eq!(big.next_delay(100), Some(Duration::from_secs(64)));
}

#[test]
fn initial_notify_then_only_changes() {
    let t0 = Instant::now();
    let mut s = Subscription::new(t0, 600, SubState::Active, RetryPolicy::default());
    assert_eq!(s.header(t0).to_string(), "active;expires=600");
    assert_eq!(s.poll_notify(t0), Some(0));
    assert_eq!(s.poll_notify(t0), None, "one NOTIFY in flight at a time");
    assert_eq!(s.on_notify_result(t0, ok()), DeliveryAction::Idle);
    assert_eq!(s.poll_notify(t0), None, "nothing new");
    s.state_changed(5);
    s.state_changed(3); // older version: ignored
    assert_eq!(s.poll_notify(t0), Some(5));
    assert_eq!(s.on_notify_result(t0, ok()), DeliveryAction::Idle);
    assert_eq!(s.poll_notify(t0), None);
    let later = t0 + Duration::from_secs(18);
    assert_eq!(s.header(later).to_string(), "active;expires=582");
}

#[test]
fn change_during_flight_is_sent_after() {
    let t0 = Instant::now();
    let mut s = Subscription::new(t0, 600, SubState::Active, RetryPolicy::default());
    assert_eq!(s.poll_notify(t0), Some(0));
    s.state_changed(1);
    s.state_changed(2);
    assert_eq!(s.poll_notify(t0), None);
    assert_eq!(s.on_notify_result(t0, ok()), DeliveryAction::Idle);
    assert_eq!(
        s.poll_notify(t0),
        Some(2),
        "latest state, intermediate skipped"
    );
}

#[test]
fn failed_notify_is_retried_with_latest_state_and_backoff() {
    let t0 = Instant::now();
    let mut s = Subscription::new(t0, 3600, SubState::Active, RetryPolicy::default());
    assert_eq!(s.poll_notify(t0), Some(0));
    assert_eq!(s.on_notify_result(t0, ok()), DeliveryAction::Idle);
    s.state_changed(1);
    assert_eq!(s.poll_notify(t0), Some(1));
    let t1 = t0 + Duration::from_secs(32);
    assert_eq!(
        s.on_notify_result(t1, NotifyOutcome::Timeout),
        DeliveryAction::RetryAt(t1 + Duration::from_secs(2))
    );
    assert_eq!(s.next_timeout(), Some(t1 + Duration::from_secs(2)));
    s.state_changed(2);
    assert_eq!(
        s.poll_notify(t1 + Duration::from_secs(1)),
        None,
        "backing off"
    );
    let t2 = t1 + Duration::from_secs(2);
    assert_eq!(
        s.poll_notify(t2),
        Some(2),
        "the retry carries the newest state"
    );
    assert_eq!(
        s.on_notify_result(t2, status(503)),
        DeliveryAction::RetryAt(t2 + Duration::from_secs(4))
    );
    assert_eq!(s.failures(), 2);
    let t3 = t2 + Duration::from_secs(4);
    assert_eq!(s.poll_notify(t3), Some(2));
    assert_eq!(s.on_notify_result(t3, ok()), DeliveryAction::Idle);
    assert_eq!(s.failures(), 0);
    assert_eq!(s.state(), SubState::Active);
}

#[test]
fn retry_after_hint_lengthens_the_delay() {
    let t0 = Instant::now();
    let mut s = Subscription::new(t0, 3600, SubState::Active, RetryPolicy::default());
    s.poll_notify(t0);
    let out = NotifyOutcome::Response {
        status: 503,
        retry_after: Some(Duration::from_secs(30)),
    };
    assert_eq!(
        s.on_notify_result(t0, out),
        DeliveryAction::RetryAt(t0 + Duration::from_secs(30))
    );
}

#[test]
fn spent_retries_keep_the_subscription_until_next_change() {
    let policy = RetryPolicy {
        max_attempts: 2,
        ..RetryPolicy::default()
    };
    let mut now = Instant::now();
    let mut s = Subscription::new(now, 3600, SubState::Active, policy);
    let mut actions = Vec::new();
    while s.poll_notify(now).is_some() {
        let a = s.on_notify_result(now, NotifyOutcome::Timeout);
        actions.push(a);
        match a {
            DeliveryAction::RetryAt(t) => now = t,
            _ => break,
        }
    }
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert_eq!(actions[2], DeliveryAction::Idle, "not removed");
    assert!(!s.is_expired(now));
    assert_eq!(
        s.poll_notify(now + Duration::from_secs(600)),
        None,
        "quiet until a change"
    );
    s.state_changed(9);
    assert_eq!(s.poll_notify(now), Some(9));
}

#[test]
fn notify_481_removes() {
    let t0 = Instant::now();
    let mut s = Subscription::new(t0, 600, SubState::Active, RetryPolicy::default());
    s.poll_notify(t0);
    assert_eq!(s.on_notify_result(t0, status(481)), DeliveryAction::Remove);
    assert_eq!(
        s.on_notify_result(t0, ok()),
        DeliveryAction::Idle,
        "nothing in flight"
    );
}

#[test]
fn pending_to_active_refresh_and_expiry() {
    let t0 = Instant::now();
    let mut s = Subscription::new(t0, 600, SubState::Pending, RetryPolicy::default());
    assert_eq!(s.header(t0).to_string(), "pending;expires=600");
    assert_eq!(s.poll_notify(t0), Some(0));
    s.on_notify_result(t0, ok());
    s.set_state(SubState::Active);
    assert_eq!(
        s.poll_notify(t0),
        Some(0),
        "authorization change needs a NOTIFY"
    );
    s.on_notify_result(t0, ok());
    let t1 = t0 + Duration::from_secs(300);
    s.refresh(t1, 600);
    assert_eq!(
        s.poll_notify(t1),
        Some(0),
        "a refresh is answered with a NOTIFY"
    );
    s.on_notify_result(t1, ok());
    assert_eq!(s.expires_at(), t1 + Duration::from_secs(600));
    assert!(!s.is_expired(t1 + Duration::from_secs(599)));
    assert!(s.is_expired(t1 + Duration::from_secs(600)));
    assert_eq!(s.remaining(t1 + Duration::from_secs(700)), 0);
    s.set_state(SubState::Terminated(Reason::Timeout));
    assert_eq!(s.header(t1).to_string(), "terminated;reason=timeout");
}
