//! Service-level tests of presence against an in-memory store and a real bus: RFC 3903
//! publication semantics, expiry, versions and the render cache, the bus sources, rules and
//! their persistence.

use std::time::{Duration, Instant};

use sip_events::pidf::{self, Basic};
use tokio::sync::broadcast;

use super::*;
use crate::bus::BusEvent;

const BOB: &str = "bob@example.test";

async fn start(default: SameDomain) -> (Presence, Store, broadcast::Receiver<BusEvent>) {
    let store = Store::open_memory().await.unwrap();
    let bus = Bus::default();
    let rx = bus.subscribe();
    let cfg = PresenceConfig {
        same_domain_default: default,
        ..PresenceConfig::default()
    };
    let p = Presence::start(store.clone(), bus, cfg).await.unwrap();
    (p, store, rx)
}

fn doc(basic: Basic) -> pidf::Document {
    pidf::Document {
        entity: "sip:bob@example.test".into(),
        tuples: vec![pidf::Tuple {
            id: "t1".into(),
            basic: Some(basic),
            contact: Some("sip:bob@192.0.2.7:5062".into()),
            ..pidf::Tuple::default()
        }],
        ..pidf::Document::default()
    }
}

fn req(etag: Option<&str>, expires: u32, d: Option<Basic>) -> PublishReq {
    PublishReq {
        etag: etag.map(str::to_owned),
        expires,
        doc: d.map(doc),
    }
}

fn changes(rx: &mut broadcast::Receiver<BusEvent>) -> Vec<u64> {
    let mut v = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let BusEvent::PresenceChanged { aor, version } = ev {
            assert_eq!(aor, BOB);
            v.push(version);
        }
    }
    v
}

#[tokio::test]
async fn rfc3903_publications() {
    let (p, _s, mut rx) = start(SameDomain::Allow).await;
    let t0 = Instant::now();
    let voice = |p: &Presence| p.view(BOB).1.voice;
    // Initial, refresh, modify, remove; every success a new etag.
    let a = p
        .publish(BOB, "d1", req(None, 600, Some(Basic::Open)), t0)
        .unwrap();
    assert_eq!(a.expires, 600);
    assert_eq!(voice(&p), State::Available);
    let b = p
        .publish(BOB, "d1", req(Some(&a.etag), 7200, None), t0)
        .unwrap();
    assert_ne!(a.etag, b.etag);
    assert_eq!(b.expires, MAX_PUBLISH_EXPIRES);
    assert_eq!(
        p.publish(BOB, "d1", req(Some(&a.etag), 600, None), t0),
        Err(PublishError::UnknownEtag)
    );
    assert_eq!(PublishError::UnknownEtag.status(), 412);
    let e = p
        .publish(BOB, "d1", req(None, 10, Some(Basic::Open)), t0)
        .unwrap_err();
    assert_eq!(e, PublishError::IntervalTooBrief { min: 60 });
    assert_eq!(e.status(), 423);
    assert_eq!(
        p.publish(BOB, "d1", req(None, 600, None), t0),
        Err(PublishError::MissingBody)
    );
    let c = p
        .publish(BOB, "d1", req(Some(&b.etag), 600, Some(Basic::Closed)), t0)
        .unwrap();
    assert_eq!(voice(&p), State::Offline);
    // Two racing initial publications of one device: the newer replaces the older.
    let d = p
        .publish(BOB, "d1", req(None, 600, Some(Basic::Open)), t0)
        .unwrap();
    assert_eq!(voice(&p), State::Available);
    assert_eq!(
        p.publish(BOB, "d1", req(Some(&c.etag), 600, None), t0),
        Err(PublishError::UnknownEtag)
    );
    // Another device's publication is its own.
    let other = p
        .publish(BOB, "d2", req(None, 600, Some(Basic::Closed)), t0)
        .unwrap();
    let gone = p
        .publish(BOB, "d1", req(Some(&d.etag), 0, None), t0)
        .unwrap();
    assert_eq!(gone.expires, 0);
    assert_eq!(voice(&p), State::Offline, "only d2 is left, closed");
    p.publish(BOB, "d2", req(Some(&other.etag), 0, None), t0)
        .unwrap();
    // Expiry drops a publication and announces it.
    p.publish(BOB, "d1", req(None, 60, Some(Basic::Open)), t0)
        .unwrap();
    assert_eq!(voice(&p), State::Available);
    p.expire(t0 + Duration::from_secs(61));
    assert_eq!(voice(&p), State::Offline);
    let versions = changes(&mut rx);
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    assert_eq!(versions.len(), 6, "{versions:?}");
}

#[tokio::test]
async fn render_is_cached_per_version_and_names_no_device() {
    let (p, _s, _rx) = start(SameDomain::Allow).await;
    let (v0, off) = p.render("sip:bob@EXAMPLE.test", Rollup::Compound).unwrap();
    assert_eq!(v0, 0);
    assert!(p.render("nobody", Rollup::Compound).is_none());
    p.devices(
        BOB,
        vec![DeviceInfo {
            key: "10.1.2.3:5070".into(),
            classes: Classes::PHONE,
        }],
    );
    p.publish(
        BOB,
        "10.1.2.3:5070",
        req(None, 600, Some(Basic::Open)),
        Instant::now(),
    )
    .unwrap();
    let (v1, a) = p.render(BOB, Rollup::Compound).unwrap();
    let (v2, b) = p.render(BOB, Rollup::Compound).unwrap();
    assert!(v1 > v0);
    assert_eq!(v1, v2);
    assert_eq!(a.as_ptr(), b.as_ptr(), "the cached bytes are shared");
    assert_ne!(a, off);
    let xml = String::from_utf8(a.to_vec()).unwrap();
    for leak in ["10.1.2.3", "5070", "192.0.2.7", "5062", "t1"] {
        assert!(!xml.contains(leak), "{leak} in {xml}");
    }
    let parsed = pidf::parse(&a).unwrap();
    assert_eq!(parsed.entity, "sip:bob@example.test");
    let (_, most) = p.render(BOB, Rollup::MostAvailable).unwrap();
    assert_eq!(pidf::parse(&most).unwrap().tuples[0].id, "summary");
    // A call makes voice busy; ending it restores.
    p.call_activity(BOB, "c1", Some(CallActivity::Ringing));
    assert_eq!(p.view(BOB).1.voice, State::Busy);
    p.call_activity(BOB, "c1", Some(CallActivity::OnCall));
    let (v3, _) = p.render(BOB, Rollup::Compound).unwrap();
    assert!(v3 > v1);
    p.call_activity(BOB, "c1", None);
    assert_eq!(p.view(BOB).1.voice, State::Available);
    p.devices(BOB, vec![]);
    assert_eq!(p.view(BOB).1.im, State::Offline);
}

#[tokio::test]
async fn sessions_modes_and_rules_from_the_bus_and_store() {
    let (p, store, _rx) = start(SameDomain::Pending).await;
    let bus = p.inner.bus.clone();
    bus.publish(BusEvent::SessionStarted { user: BOB.into() });
    bus.publish(BusEvent::Notice {
        topic: "config".into(),
        key: None,
        audience: crate::bus::Audience::Users(vec![BOB.into()]),
        event: serde_json::json!({"message": "mode_changed", "mode": "meeting"})
            .as_object()
            .cloned()
            .unwrap(),
        always: false,
    });
    let deadline = Instant::now() + Duration::from_secs(2);
    while p.view(BOB).1.im != State::Busy {
        assert!(Instant::now() < deadline, "{:?}", p.view(BOB));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        p.view(BOB).1.activities,
        [sip_events::pidf::Activity::Meeting]
    );
    bus.publish(BusEvent::SessionEnded {
        user: BOB.into(),
        session: 9,
    });
    while p.view(BOB).1.im != State::Offline {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Pending by configuration; listed once, stored, and still there after a restart.
    let alice = "alice@example.test";
    assert_eq!(p.authorize(alice, BOB), Authz::Pending);
    assert_eq!(p.authorize(BOB, "sip:bob@example.test"), Authz::Allow);
    p.add_pending(alice, BOB);
    p.add_pending(alice, BOB);
    while store.presence_decisions().await.unwrap().is_empty() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        store.presence_decisions().await.unwrap(),
        [(BOB.into(), alice.into(), "pending".into())]
    );
    let again = Presence::start(store, Bus::default(), p.config())
        .await
        .unwrap();
    let t = again.lock();
    assert_eq!(
        t.rules.get(BOB).and_then(|r| r.watchers.get(alice)),
        Some(&Decision::Pending)
    );
}

#[tokio::test]
async fn hiding_reaches_sip_watchers_that_asked() {
    use crate::provider::{Caller, Outcome, Provider};
    let (p, store, mut rx) = start(SameDomain::Allow).await;
    let alice = "alice@example.test";
    assert_eq!(p.authorize(alice, BOB), Authz::Allow);
    // A lookup that only shows presence is not remembered.
    assert_eq!(p.may_see("carol@example.test", BOB), Authz::Allow);
    let topic = PresenceTopic::new(p.clone(), store);
    let bob = Caller {
        user: "bob".into(),
        domain: "example.test".into(),
        perms: std::sync::Arc::new(crate::perms::PermSet::new(
            "user",
            ["presence.*".to_owned()],
        )),
        session: 1,
    };
    let req = cas_proto::Request::from_value(serde_json::json!(
        {"topic": "presence", "message": "rules", "visible": false}
    ))
    .unwrap();
    let Outcome::Done(r) = topic.handle(&bob, &req).await.unwrap() else {
        panic!("rules answers at once");
    };
    assert_eq!(r["visible"], false);
    assert_eq!(p.authorize(alice, BOB), Authz::Deny);
    let mut told = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        if let BusEvent::PresenceAuthChanged {
            presentity,
            watcher,
        } = ev
        {
            assert_eq!(presentity, BOB);
            told.push(watcher);
        }
    }
    assert_eq!(told, [alice]);
}

/// A presence listener that lags behind the bus (events lost) takes the CAS sessions from
/// the hub's answer to `SessionsQuery`: a lost `SessionEnded` does not leave IM available.
#[tokio::test]
async fn lagging_listener_resyncs_sessions_from_the_hub() {
    let store = Store::open_memory().await.unwrap();
    let bus = Bus::new(16);
    let p = Presence::start(store, bus.clone(), PresenceConfig::default())
        .await
        .unwrap();
    // The CAS hub's part (cas-server answers the same way): its sessions are the truth.
    type Sessions = Vec<(String, Vec<u64>)>;
    let truth: std::sync::Arc<std::sync::Mutex<Sessions>> = std::sync::Arc::default();
    let (hub_truth, hub_bus, mut hub_rx) = (truth.clone(), bus.clone(), bus.subscribe());
    tokio::spawn(async move {
        loop {
            match hub_rx.recv().await {
                Ok(BusEvent::SessionsQuery) => {
                    let sessions = hub_truth.lock().unwrap().clone();
                    hub_bus.publish(BusEvent::SessionsSnapshot { sessions });
                }
                Err(broadcast::error::RecvError::Closed) => return,
                _ => {}
            }
        }
    });
    let im = |p: &Presence| p.view(BOB).1.im;
    let settle = || tokio::time::sleep(Duration::from_millis(50));

    *truth.lock().unwrap() = vec![(BOB.into(), vec![7])];
    bus.publish(BusEvent::SessionStarted { user: BOB.into() });
    settle().await;
    assert_eq!(im(&p), State::Available);

    // The session ends, and a burst the listener cannot keep up with buries the event.
    truth.lock().unwrap().clear();
    bus.publish(BusEvent::SessionEnded {
        user: BOB.into(),
        session: 7,
    });
    for _ in 0..64 {
        bus.publish(BusEvent::MwiChanged {
            aor: "nobody@example.test".into(),
        });
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while im(&p) != State::Offline && Instant::now() < deadline {
        settle().await;
    }
    assert_eq!(
        im(&p),
        State::Offline,
        "a lost SessionEnded left IM available"
    );

    // And the other way round: a lost start is found too.
    *truth.lock().unwrap() = vec![(BOB.into(), vec![8, 9])];
    bus.publish(BusEvent::SessionStarted { user: BOB.into() });
    for _ in 0..64 {
        bus.publish(BusEvent::MwiChanged {
            aor: "nobody@example.test".into(),
        });
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while im(&p) != State::Available && Instant::now() < deadline {
        settle().await;
    }
    assert_eq!(im(&p), State::Available);
    assert_eq!(p.lock().people.get(BOB).unwrap().sessions, 2);
}

/// A presentity holds at most `max_publications`: a new initial publication replaces the
/// one closest to expiry; pairs remembered by `authorize` go with their last subscription.
#[tokio::test]
async fn publications_are_capped_and_askers_forgotten() {
    let store = Store::open_memory().await.unwrap();
    let cfg = PresenceConfig {
        max_publications: 3,
        ..PresenceConfig::default()
    };
    let p = Presence::start(store, Bus::default(), cfg).await.unwrap();
    let t0 = Instant::now();
    let mut etags = Vec::new();
    for i in 0..5u32 {
        let e = p
            .publish(
                BOB,
                &format!("flow-{i}"),
                req(None, 600 + i * 10, Some(Basic::Open)),
                t0,
            )
            .unwrap();
        etags.push(e.etag);
        assert!(p.lock().publications.entries(BOB).count() <= 3);
    }
    // The two oldest went; the newest three refresh.
    for (i, e) in etags.iter().enumerate() {
        let r = p.publish(BOB, "x", req(Some(e), 600, None), t0);
        assert_eq!(r.is_ok(), i >= 2, "publication {i}: {r:?}");
    }

    assert_eq!(p.authorize("alice@example.test", BOB), Authz::Allow);
    assert_eq!(p.authorize("alice@example.test", BOB), Authz::Allow);
    assert_eq!(p.authorize("carol@example.test", BOB), Authz::Allow);
    assert_eq!(p.askers(), 2);
    p.forget_asker("alice@example.test", BOB);
    assert_eq!(p.askers(), 2, "alice still has a subscription");
    p.forget_asker("alice@example.test", BOB);
    p.forget_asker("carol@example.test", BOB);
    assert_eq!(p.askers(), 0);
    assert!(p.lock().askers.is_empty());
}
