//! Write-behind persistence: the core never awaits the database. Binding changes are
//! coalesced per AOR and written in batches; call records are appended. On shutdown the
//! queue is drained before the server reports done.

use std::collections::HashMap;
use std::time::Duration;

use store::{Binding, CallRecord, Store};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};

use crate::transport::Event;

pub enum Persist {
    Bindings { aor: String, bindings: Vec<Binding> },
    Call(CallRecord),
}

pub type PersistTx = mpsc::UnboundedSender<Persist>;

/// `bus` hears of each call once its record is stored, so readers find it.
pub fn spawn(store: Store, bus: services::bus::Bus) -> (PersistTx, oneshot::Receiver<()>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Persist>();
    let (done_tx, done_rx) = oneshot::channel();
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            // A short pause gathers what arrives meanwhile into one transaction: under load
            // one commit covers many registrations, idle it only delays the write.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut bindings: HashMap<String, Vec<Binding>> = HashMap::new();
            let mut calls = Vec::new();
            let mut next = Some(first);
            // Everything queued meanwhile goes into the same transaction (bounded).
            let mut taken = 0usize;
            while let Some(item) = next {
                taken += 1;
                match item {
                    Persist::Bindings { aor, bindings: b } => {
                        bindings.insert(aor, b);
                    }
                    Persist::Call(c) => calls.push(c),
                }
                next = if taken < 5_000 {
                    rx.try_recv().ok()
                } else {
                    None
                };
            }
            if !bindings.is_empty() {
                let sets: Vec<(String, Vec<Binding>)> = bindings.into_iter().collect();
                if let Err(e) = store.save_bindings_many(&sets).await {
                    error!(aors = sets.len(), error = %e, "cannot persist bindings");
                }
            }
            for c in calls {
                if let Err(e) = store.insert_call(&c).await {
                    error!(call_id = %c.call_id, error = %e, "cannot persist call record");
                }
                bus.publish(services::bus::BusEvent::CallEnded(c));
            }
        }
        let _ = done_tx.send(());
    });
    (tx, done_rx)
}

/// Re-reads users and domains when they changed (CLI, CAS admin), polling a cheap version
/// counter, so changes reach a running server within `every`.
pub fn spawn_directory_refresh(
    store: Store,
    default_domain: String,
    every: Duration,
    events: mpsc::Sender<Event>,
) {
    tokio::spawn(async move {
        let mut seen = store.directory_version().await.ok();
        loop {
            tokio::time::sleep(every).await;
            let version = store.directory_version().await.ok();
            if version.is_some() && version == seen {
                continue;
            }
            seen = version;
            let (domains, users) = match (store.domains().await, store.all_credentials().await) {
                (Ok(d), Ok(u)) => (d, u),
                (Err(e), _) | (_, Err(e)) => {
                    warn!(error = %e, "directory refresh failed");
                    continue;
                }
            };
            let mut dir = services::directory::Directory::new(&default_domain);
            dir.replace(domains, users);
            if events.send(Event::Directory(dir)).await.is_err() {
                return;
            }
        }
    });
}
