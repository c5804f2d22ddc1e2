use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use store::{MwiCounts, MwiMessage, MwiSystem, Store, StoreError};

use super::*;
use crate::bus::{Bus, BusEvent};
use crate::provider::BoxFuture;

const B: &str = "bob@example.com";
const PBX: &str = "pbx@example.com";

async fn setup(local: Option<Arc<dyn LocalVoicemail>>) -> (Store, Bus, Mwi) {
    let store = Store::open_memory().await.unwrap();
    store
        .mwi_put_system(&MwiSystem {
            name: "pbx".into(),
            kind: "sip".into(),
            label: "PBX".into(),
            account: Some(PBX.into()),
            activation: "send".into(),
        })
        .await
        .unwrap();
    store.mwi_assign(B, "pbx", Some("4711")).await.unwrap();
    let bus = Bus::new(1024);
    let mwi = start(store.clone(), bus.clone(), MwiConfig::default(), local)
        .await
        .unwrap();
    (store, bus, mwi)
}

fn counts(new: u32, old: u32) -> MwiCounts {
    MwiCounts {
        new,
        old,
        ..MwiCounts::default()
    }
}

fn report(new: u32, old: u32) -> Report {
    Report {
        system: "pbx".into(),
        aor: B.into(),
        counts: counts(new, old),
        messages: vec![MwiMessage {
            id: "m1".into(),
            at: Some(5),
            ani: Some("1001".into()),
            dnis: Some("2000".into()),
            new: true,
            ..MwiMessage::default()
        }],
    }
}

/// The next `mwi` notice on the bus.
async fn next_notice(
    rx: &mut tokio::sync::broadcast::Receiver<BusEvent>,
) -> serde_json::Map<String, Value> {
    let wait = async {
        loop {
            if let Ok(BusEvent::Notice {
                topic,
                event,
                always,
                ..
            }) = rx.recv().await
                && topic == "mwi"
            {
                assert!(always);
                return event;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(2), wait)
        .await
        .unwrap()
}

#[tokio::test]
async fn only_the_system_account_reports_for_its_users() {
    let (_, _, mwi) = setup(None).await;
    // By mailbox id, by user name, by user@domain.
    for name in ["4711", "bob", B] {
        assert_eq!(
            mwi.authorize(PBX, None, name, "example.com"),
            Ok(("pbx".into(), B.into()))
        );
    }
    assert_eq!(
        mwi.authorize(B, None, "bob", "example.com"),
        Err(MwiError::NotASystem(B.into()))
    );
    assert!(matches!(
        mwi.authorize(PBX, None, "alice", "example.com"),
        Err(MwiError::NotServed { .. })
    ));
    assert_eq!(
        mwi.authorize(PBX, Some("nope"), "bob", "example.com"),
        Err(MwiError::NoSuchSystem("nope".into()))
    );
}

#[tokio::test]
async fn reports_are_stored_announced_and_survive_a_restart() {
    let (store, bus, mwi) = setup(None).await;
    let mut rx = bus.subscribe();
    let view = mwi.report_wait(report(2, 1)).await.unwrap();
    assert_eq!(view.total, counts(2, 1));
    assert!(mwi.summary(B).waiting);
    let ev = next_notice(&mut rx).await;
    assert_eq!(ev["message"], "changed");
    assert_eq!(ev["changed"], "pbx");
    assert_eq!(ev["systems"][1]["messages"][0]["dnis"], "2000");
    // Bad counts are refused; the same report again changes nothing.
    let mut bad = report(1, 0);
    bad.counts.urgent_new = 2;
    assert!(matches!(
        mwi.report_wait(bad).await,
        Err(MwiError::Invalid(_))
    ));
    mwi.report_wait(report(2, 1)).await.unwrap();
    // Nobody was online: both notices wait in the store... only one (no change the 2nd time).
    assert_eq!(store.mwi_pending_notices(B).await.unwrap().len(), 1);
    // A new handle on the same store sees the same counts.
    let again = start(store.clone(), Bus::new(16), MwiConfig::default(), None)
        .await
        .unwrap();
    assert_eq!(again.view(B), mwi.view(B));
}

#[tokio::test]
async fn offline_notices_are_pushed_at_login() {
    let (store, bus, mwi) = setup(None).await;
    mwi.report_wait(report(1, 0)).await.unwrap();
    mwi.report_wait(report(2, 0)).await.unwrap();
    let mut rx = bus.subscribe();
    bus.publish(BusEvent::SessionStarted { user: B.into() });
    let first = next_notice(&mut rx).await;
    let second = next_notice(&mut rx).await;
    assert_eq!(
        (first["total"]["new"].clone(), first["stored"].clone()),
        (1.into(), true.into())
    );
    assert_eq!(second["total"]["new"], 2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(store.mwi_pending_notices(B).await.unwrap().is_empty());
    // With a session online, new notices are not kept.
    mwi.report_wait(report(3, 0)).await.unwrap();
    assert!(store.mwi_pending_notices(B).await.unwrap().is_empty());
}

#[tokio::test]
async fn activation_local_honoured_external_sent() {
    let (store, bus, mwi) = setup(None).await;
    mwi.report_wait(report(2, 0)).await.unwrap();
    let mut rx = bus.subscribe();
    // The system account has a device: the command is sent to it.
    bus.publish(BusEvent::Registration {
        aor: PBX.into(),
        contacts: 1,
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(mwi.activate(B, "pbx", false, B).await, Ok(true));
    let mut sent = None;
    while let Ok(Ok(ev)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
        if let BusEvent::SipMessageOut { to, body, .. } = ev
            && to == PBX
        {
            sent = Some(body);
        }
    }
    assert_eq!(
        sent.as_deref(),
        Some("mwi deactivate mailbox=4711 user=bob@example.com")
    );
    assert!(!mwi.summary(B).waiting);
    assert_eq!(
        mwi.activate(B, "nope", false, B).await,
        Err(MwiError::NoSuchSystem("nope".into()))
    );
    assert!(matches!(
        mwi.activate("carol@example.com", "pbx", false, B).await,
        Err(MwiError::NotServed { .. })
    ));
    let log = store.mwi_activations(B).await.unwrap();
    assert_eq!(log.len(), 1);
}

#[derive(Default)]
struct FakeVoicemail(Mutex<HashMap<String, LocalMailbox>>);

impl LocalVoicemail for FakeVoicemail {
    fn mailbox<'a>(&'a self, aor: &'a str) -> BoxFuture<'a, Result<LocalMailbox, StoreError>> {
        let mb = self.0.lock().unwrap().get(aor).cloned().unwrap_or_default();
        Box::pin(async move { Ok(mb) })
    }

    fn mailboxes(&self) -> BoxFuture<'_, Result<Vec<(String, LocalMailbox)>, StoreError>> {
        let all: Vec<_> = self.0.lock().unwrap().clone().into_iter().collect();
        Box::pin(async move { Ok(all) })
    }
}

#[tokio::test]
async fn our_voicemail_counts_follow_the_mailbox_and_can_be_switched_off() {
    let fake = Arc::new(FakeVoicemail::default());
    fake.0.lock().unwrap().insert(
        B.into(),
        LocalMailbox {
            counts: counts(1, 0),
            messages: Vec::new(),
        },
    );
    let (_, bus, mwi) = setup(Some(fake.clone())).await;
    let mut rx = bus.subscribe();
    // Resynchronised at start.
    next_notice(&mut rx).await;
    assert_eq!(mwi.view(B).systems[0].counts, counts(1, 0));
    fake.0.lock().unwrap().insert(
        B.into(),
        LocalMailbox {
            counts: counts(0, 1),
            messages: Vec::new(),
        },
    );
    mwi.voicemail_changed(B);
    let ev = next_notice(&mut rx).await;
    assert_eq!(ev["changed"], "local");
    assert_eq!(mwi.view(B).total, counts(0, 1));
    assert_eq!(mwi.activate(B, LOCAL_SYSTEM, false, B).await, Ok(false));
    assert_eq!(mwi.view(B).total, counts(0, 0));
}
