//! The delivery actor: one task that knows who is reachable and pushes every message to the
//! recipient's CAS sessions (a `Notice` with `always`) and SIP devices (`SipMessageOut`), or
//! marks it pending and pushes it at the recipient's next login or registration.
//!
//! Sends from CAS clients (commands) and from phones (`SipMessageIn`) are handled by the same
//! task as the presence events, so a message can never be marked pending after the login
//! that should have collected it already looked for pending messages.
//!
//! Reachability is a count per user: devices follow `Registration` (initialised from the
//! stored bindings); sessions follow `SessionStarted` and `SessionEnded`.

use std::collections::HashMap;

use cas_proto::{CasError, ErrorCode, Object};
use serde_json::json;
use store::{Store, StoreError};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, error, warn};

use crate::bus::{Audience, Bus, BusEvent};

/// A message to deliver; parties are `user@domain` with a lower-case domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub from: String,
    pub to: String,
    pub content_type: String,
    pub text: String,
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    /// Unix milliseconds.
    pub at: i64,
    /// The recipient's CAS sessions and devices it was pushed to (as far as known).
    pub sessions: usize,
    pub devices: usize,
    /// Kept for the recipient's next login and registration.
    pub stored: bool,
}

/// `(id, sender, recipient, content_type, body, sent_at, read_at)`, as the store reads it.
pub type Row = (i64, String, String, String, String, i64, Option<i64>);

enum Command {
    Send {
        msg: Outgoing,
        reply: oneshot::Sender<Result<Delivery, StoreError>>,
    },
}

/// The cloneable door to the actor.
#[derive(Debug, Clone)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
}

impl Handle {
    /// Stores and delivers one message.
    pub async fn send(&self, msg: Outgoing) -> Result<Delivery, CasError> {
        let (reply, rx) = oneshot::channel();
        let gone = || CasError::new(ErrorCode::Unavailable, "instant messaging is stopping");
        self.tx
            .send(Command::Send { msg, reply })
            .await
            .map_err(|_| gone())?;
        rx.await
            .map_err(|_| gone())?
            .map_err(crate::provider::store_error)
    }
}

/// Reachable sessions and devices of one user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Reach {
    sessions: usize,
    devices: usize,
}

/// Starts the actor. It listens to the bus from this call on, so nothing published after
/// `spawn` returns is missed.
pub async fn spawn(store: Store, bus: Bus) -> Result<Handle, StoreError> {
    let events = bus.subscribe();
    let mut reach: HashMap<String, Reach> = HashMap::new();
    for b in store.load_bindings(unix_now()).await? {
        reach.entry(b.aor).or_default().devices += 1;
    }
    let (tx, rx) = mpsc::channel(1024);
    let actor = Actor { store, bus, reach };
    tokio::spawn(actor.run(rx, events));
    Ok(Handle { tx })
}

struct Actor {
    store: Store,
    bus: Bus,
    reach: HashMap<String, Reach>,
}

impl Actor {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut events: broadcast::Receiver<BusEvent>,
    ) {
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(Command::Send { msg, reply }) => {
                        let _ = reply.send(self.deliver(msg).await);
                    }
                    None => return,
                },
                ev = events.recv() => match ev {
                    Ok(ev) => self.on_bus(ev).await,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        warn!(lost = n, "instant messaging lagged behind the bus");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    async fn on_bus(&mut self, ev: BusEvent) {
        let result = match ev {
            BusEvent::SessionStarted { user } => self.session_started(user).await,
            BusEvent::SessionEnded { user, .. } => {
                if let Some(r) = self.reach.get_mut(&user) {
                    r.sessions = r.sessions.saturating_sub(1);
                    if r.sessions == 0 && r.devices == 0 {
                        self.reach.remove(&user);
                    }
                }
                Ok(())
            }
            BusEvent::Registration { aor, contacts } => self.registration(aor, contacts).await,
            BusEvent::SipMessageIn {
                from,
                to,
                content_type,
                body,
            } => {
                let msg = Outgoing {
                    from,
                    to,
                    content_type,
                    text: body,
                };
                self.deliver(msg).await.map(|_| ())
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            error!(error = %e, "instant message delivery failed");
        }
    }

    /// Stores `msg`, pending when its recipient is unreachable, and pushes it otherwise.
    async fn deliver(&mut self, msg: Outgoing) -> Result<Delivery, StoreError> {
        let reach = self.reach.get(&msg.to).copied().unwrap_or_default();
        let stored = reach.sessions == 0 && reach.devices == 0;
        let at = unix_ms();
        let (from, to, ct, text) = (&msg.from, &msg.to, &msg.content_type, &msg.text);
        let id = self.store.insert_im(from, to, ct, text, at, stored).await?;
        let row: Row = (id, msg.from, msg.to, msg.content_type, msg.text, at, None);
        debug!(id, to = %row.2, stored, "instant message");
        if !stored {
            self.push_to_sessions(&row, false);
            self.push_to_devices(&row);
        }
        self.bus.publish(BusEvent::Notice {
            topic: "im".into(),
            key: Some(row.2.clone()),
            audience: Audience::Users(vec![row.1.clone()]),
            event: event("sent", &row, false),
            always: false,
        });
        Ok(Delivery {
            id,
            at,
            sessions: reach.sessions,
            devices: reach.devices,
            stored,
        })
    }

    async fn session_started(&mut self, user: String) -> Result<(), StoreError> {
        self.reach.entry(user.clone()).or_default().sessions += 1;
        let pending = self.store.im_pending_for_sessions(&user).await?;
        for row in &pending {
            self.push_to_sessions(row, true);
        }
        if let Some(last) = pending.last() {
            debug!(user = %user, count = pending.len(), "stored messages pushed at login");
            self.store.im_delivered_to_sessions(&user, last.0).await?;
        }
        Ok(())
    }

    async fn registration(&mut self, aor: String, contacts: usize) -> Result<(), StoreError> {
        let r = self.reach.entry(aor.clone()).or_default();
        r.devices = contacts;
        if *r == Reach::default() {
            self.reach.remove(&aor);
        }
        if contacts == 0 {
            return Ok(());
        }
        let pending = self.store.im_pending_for_devices(&aor).await?;
        for row in &pending {
            self.push_to_devices(row);
        }
        if let Some(last) = pending.last() {
            debug!(aor = %aor, count = pending.len(), "stored messages pushed at registration");
            self.store.im_delivered_to_devices(&aor, last.0).await?;
        }
        Ok(())
    }

    fn push_to_sessions(&self, row: &Row, stored: bool) {
        self.bus.publish(BusEvent::Notice {
            topic: "im".into(),
            key: Some(row.1.clone()),
            audience: Audience::Users(vec![row.2.clone()]),
            event: event("received", row, stored),
            // A message reaches every session of its recipient, subscribed or not.
            always: true,
        });
    }

    fn push_to_devices(&self, row: &Row) {
        self.bus.publish(BusEvent::SipMessageOut {
            from: row.1.clone(),
            to: row.2.clone(),
            content_type: row.3.clone(),
            body: row.4.clone(),
        });
    }
}

/// The `received` / `sent` event of a message; `stored` marks one kept while its recipient
/// was offline.
fn event(name: &str, row: &Row, stored: bool) -> Object {
    let (id, from, to, content_type, text, at, _) = row;
    let mut o = Object::new();
    o.insert("message".into(), json!(name));
    o.insert("id".into(), json!(id));
    o.insert("from".into(), json!(from));
    o.insert("to".into(), json!(to));
    o.insert("content_type".into(), json!(content_type));
    o.insert("text".into(), json!(text));
    o.insert("at".into(), json!(at));
    if stored {
        o.insert("stored".into(), json!(true));
    }
    o
}

/// Unix milliseconds, the time unit of messages.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn unix_now() -> i64 {
    unix_ms() / 1000
}
