//! RFC 3903 ESC store: initial, refresh, modify, remove, 412 on an unknown etag, 423 on a
//! too-brief expiry, expiry, and concurrent initial publications as separate entries.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use sip_events::publication::{Etag, Outcome, PubError, PubPolicy, Publications, Request};

const ALICE: &str = "sip:alice@example.com";

fn req<'a>(
    if_match: Option<&'a str>,
    expires: Option<u32>,
    body: Option<&'static str>,
    seed: u64,
) -> Request<'a, &'static str> {
    Request {
        resource: ALICE,
        if_match,
        expires,
        body,
        etag_seed: seed,
    }
}

fn etag(o: &Outcome) -> String {
    match o {
        Outcome::Created { etag, .. }
        | Outcome::Refreshed { etag, .. }
        | Outcome::Modified { etag, .. } => etag.0.clone(),
        Outcome::Removed => panic!("no etag"),
    }
}

fn bodies(p: &Publications<&'static str>) -> Vec<&'static str> {
    p.entries(ALICE).map(|e| e.body).collect()
}

#[test]
fn lifecycle() {
    let t0 = Instant::now();
    let mut p = Publications::new(PubPolicy::default());
    let created = p.apply(t0, req(None, Some(120), Some("open"), 1)).unwrap();
    assert_eq!(
        created,
        Outcome::Created {
            etag: Etag("0000000000000001".into()),
            expires: 120
        }
    );
    let e1 = etag(&created);

    // Refresh: no body, extends and changes the etag; the old one is dead.
    let t1 = t0 + Duration::from_secs(100);
    let refreshed = p.apply(t1, req(Some(&e1), Some(120), None, 2)).unwrap();
    assert!(matches!(refreshed, Outcome::Refreshed { expires: 120, .. }));
    let e2 = etag(&refreshed);
    assert_ne!(e1, e2);
    assert_eq!(
        p.apply(t1, req(Some(&e1), Some(120), None, 3)),
        Err(PubError::UnknownEtag)
    );
    assert_eq!(
        p.entries(ALICE).next().unwrap().expires_at,
        t1 + Duration::from_secs(120)
    );

    // Modify: body replaces.
    let modified = p
        .apply(t1, req(Some(&e2), None, Some("closed"), 4))
        .unwrap();
    assert!(matches!(modified, Outcome::Modified { expires: 3600, .. }));
    assert_eq!(bodies(&p), vec!["closed"]);

    // Remove.
    let e3 = etag(&modified);
    assert_eq!(
        p.apply(t1, req(Some(&e3), Some(0), None, 5)),
        Ok(Outcome::Removed)
    );
    assert!(p.is_empty());
    assert_eq!(
        p.apply(t1, req(Some(&e3), Some(0), None, 6)),
        Err(PubError::UnknownEtag)
    );
}

#[test]
fn errors_leave_state_untouched() {
    let t0 = Instant::now();
    let mut p = Publications::new(PubPolicy {
        min: 60,
        max: 3600,
        default: 3600,
    });
    let e = etag(&p.apply(t0, req(None, Some(600), Some("open"), 7)).unwrap());
    assert_eq!(
        p.apply(t0, req(None, Some(600), None, 8)),
        Err(PubError::MissingBody)
    );
    assert_eq!(
        p.apply(t0, req(Some(&e), Some(10), Some("x"), 8)),
        Err(PubError::IntervalTooBrief { min_expires: 60 })
    );
    assert_eq!(
        p.apply(t0, req(Some("nope"), Some(600), Some("x"), 8)),
        Err(PubError::UnknownEtag)
    );
    assert_eq!(bodies(&p), vec!["open"]);
    assert_eq!(p.entries(ALICE).next().unwrap().etag.0, e);
    assert_eq!(p.len(), 1);
}

#[test]
fn expires_is_clamped_and_zero_initial_stores_nothing() {
    let t0 = Instant::now();
    let mut p = Publications::new(PubPolicy::default());
    assert!(matches!(
        p.apply(t0, req(None, Some(999_999), Some("a"), 1)),
        Ok(Outcome::Created { expires: 3600, .. })
    ));
    assert_eq!(
        p.apply(t0, req(None, Some(0), Some("b"), 2)),
        Ok(Outcome::Removed)
    );
    assert_eq!(p.len(), 1);
}

#[test]
fn concurrent_initial_publications_are_separate_entries() {
    // baresip: two initial PUBLISHes a few ms apart, same body, no SIP-If-Match, same seed
    // by bad luck: two entries, two distinct etags.
    let t0 = Instant::now();
    let mut p = Publications::new(PubPolicy::default());
    let a = etag(&p.apply(t0, req(None, Some(60), Some("open"), 42)).unwrap());
    let b = etag(
        &p.apply(
            t0 + Duration::from_millis(3),
            req(None, Some(60), Some("open"), 42),
        )
        .unwrap(),
    );
    assert_ne!(a, b);
    assert_eq!(bodies(&p), vec!["open", "open"]);
    // The client keeps refreshing only the second; the first expires alone.
    let t1 = t0 + Duration::from_secs(54);
    let b2 = etag(&p.apply(t1, req(Some(&b), Some(60), None, 43)).unwrap());
    assert_eq!(p.next_expiry(), Some(t0 + Duration::from_secs(60)));
    let gone = p.expire(t0 + Duration::from_secs(60));
    assert_eq!(gone, vec![(ALICE.to_owned(), Etag(a.clone()))]);
    assert_eq!(
        p.entries(ALICE)
            .map(|e| e.etag.0.clone())
            .collect::<Vec<_>>(),
        vec![b2]
    );
}

#[test]
fn expired_etag_is_unknown_even_before_sweep() {
    let t0 = Instant::now();
    let mut p = Publications::new(PubPolicy::default());
    let e = etag(&p.apply(t0, req(None, Some(60), Some("open"), 1)).unwrap());
    let late = t0 + Duration::from_secs(61);
    assert_eq!(
        p.apply(late, req(Some(&e), Some(60), None, 2)),
        Err(PubError::UnknownEtag)
    );
    assert_eq!(p.expire(late).len(), 1);
    assert_eq!(p.next_expiry(), None);
}

#[test]
fn resources_are_independent() {
    let t0 = Instant::now();
    let mut p = Publications::new(PubPolicy::default());
    let e = etag(&p.apply(t0, req(None, None, Some("open"), 1)).unwrap());
    let bob = Request {
        resource: "sip:bob@example.com",
        if_match: Some(e.as_str()),
        expires: None,
        body: None,
        etag_seed: 2,
    };
    assert_eq!(
        p.apply(t0, bob),
        Err(PubError::UnknownEtag),
        "an etag is scoped to its resource"
    );
    assert_eq!(p.entries("sip:bob@example.com").count(), 0);
}
