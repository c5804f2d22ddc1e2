//! Loading the stored presence state at start and writing changes behind, in order, through
//! one task: the table is changed first (under its lock, where the write is also queued), so
//! the SIP thread never waits for the database and two changes of one row cannot be stored
//! in the wrong order. A CAS request that wants its change durable before replying waits for
//! the write's acknowledgement.

use store::{PresenceSettings, Store, StoreError};
use tokio::sync::{mpsc, oneshot};
use tracing::{error, warn};

use super::auth::{Decision, SameDomain};
use super::model::{Manual, ModeEffect};
use super::table::{Table, key};
use crate::callmode::Mode;

type Ack = oneshot::Sender<Result<(), StoreError>>;

#[derive(Debug)]
enum Write {
    Settings(PresenceSettings),
    Decision {
        presentity: String,
        watcher: String,
        decision: Option<Decision>,
    },
}

/// The queue to the writer task.
#[derive(Debug, Clone)]
pub(super) struct Writer {
    tx: mpsc::UnboundedSender<(Write, Option<Ack>)>,
}

impl Writer {
    pub fn decision(&self, presentity: &str, watcher: &str, d: Option<Decision>, ack: Option<Ack>) {
        let w = Write::Decision {
            presentity: presentity.to_owned(),
            watcher: watcher.to_owned(),
            decision: d,
        };
        self.send(w, ack);
    }

    /// Stores `aor`'s settings as the table holds them now (call under the table's lock).
    pub fn settings(&self, table: &Table, aor: &str, ack: Option<Ack>) {
        let rules = table.rules.get(aor);
        let person = table.people.get(aor);
        let s = PresenceSettings {
            aor: aor.to_owned(),
            visible: rules.is_none_or(|r| r.visible),
            same_domain: rules
                .and_then(|r| r.same_domain)
                .map(|d| d.as_str().to_owned()),
            status: person.and_then(|p| p.manual).map(|m| m.as_str().to_owned()),
            note: person.and_then(|p| p.note.clone()),
        };
        self.send(Write::Settings(s), ack);
    }

    fn send(&self, w: Write, ack: Option<Ack>) {
        if self.tx.send((w, ack)).is_err() {
            error!("presence store writer is gone; change kept in memory only");
        }
    }
}

/// Starts the writer task on the current runtime.
pub(super) fn spawn(store: Store) -> Writer {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Write, Option<Ack>)>();
    tokio::spawn(async move {
        while let Some((w, ack)) = rx.recv().await {
            let now = crate::im::delivery::unix_ms() / 1000;
            let r = match &w {
                Write::Settings(s) => store.set_presence_settings(s, now).await,
                Write::Decision {
                    presentity,
                    watcher,
                    decision,
                } => {
                    let d = decision.map(Decision::as_str);
                    store
                        .set_presence_decision(presentity, watcher, d, now)
                        .await
                }
            };
            if let Err(e) = &r {
                error!(error = %e, "presence change not stored");
            }
            if let Some(ack) = ack {
                let _ = ack.send(r);
            }
        }
    });
    Writer { tx }
}

/// Fills `table` with the stored settings, decisions and call handling modes.
pub(super) async fn load(store: &Store, table: &mut Table) -> Result<(), StoreError> {
    for s in store.presence_settings().await? {
        let aor = key(&s.aor);
        let rules = table.rules.entry(aor.clone()).or_default();
        rules.visible = s.visible;
        rules.same_domain = s.same_domain.as_deref().and_then(SameDomain::parse);
        let manual = s.status.as_deref().and_then(Manual::parse);
        if manual.is_some() || s.note.is_some() {
            let p = table.person(&aor);
            p.manual = manual;
            p.note = s.note;
            table.refresh(&aor);
        }
    }
    for (presentity, watcher, decision) in store.presence_decisions().await? {
        match Decision::parse(&decision) {
            Some(d) => {
                table
                    .rules
                    .entry(key(&presentity))
                    .or_default()
                    .watchers
                    .insert(key(&watcher), d);
            }
            None => warn!(decision = %decision, "unknown stored presence decision ignored"),
        }
    }
    for (aor, mode, _) in store.call_modes().await? {
        if let Ok(m) = Mode::parse(&mode) {
            table.set_mode(&key(&aor), ModeEffect::of(m));
        }
    }
    Ok(())
}
