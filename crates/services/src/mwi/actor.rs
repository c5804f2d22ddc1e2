//! The MWI actor: the one writer of message-waiting state. Reports, activation commands,
//! voicemail changes and configuration reloads are applied in order: store first (the
//! counts and, in the same transaction, the notice for CAS clients), then the cache, then
//! the bus (`MwiChanged` for the SIP face, an `mwi` `changed` notice for every CAS session
//! of the user, a `SipMessageOut` text for their devices).
//!
//! A notice written while the user had no CAS session stays pending and is pushed at their
//! next login (`SessionStarted`), so a restart loses nothing. The short MESSAGE text to
//! devices is the exception, by choice: which text each user's devices already got is
//! kept in memory only (`last_text`), so after a restart a device that registers again may
//! get the current text once more — a duplicate, never a loss (phones also get the state
//! from their `message-summary` subscription); storing it would cost a write per change
//! for a cosmetic gain. Sessions and devices are
//! counted from the bus like the IM delivery does. The CLI edits systems and profiles in the
//! store; the actor notices through `mwi_config_version` (polled every second).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{Value, json};
use store::{LOCAL_SYSTEM, MwiCounts, MwiMessage, MwiState, Store, StoreError};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, error, warn};

use super::{Cache, Mwi, MwiConfig, MwiError, Report, View};
use crate::bus::{Audience, Bus, BusEvent};
use crate::provider::BoxFuture;

/// How often the store's configuration version is polled.
const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// Our voicemail's state of one mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalMailbox {
    pub counts: MwiCounts,
    pub messages: Vec<MwiMessage>,
}

/// How MWI reads our own voicemail (`services::voicemail` implements it in the wiring).
pub trait LocalVoicemail: Send + Sync {
    /// The mailbox of `aor` (`user@domain`); empty when it has none.
    fn mailbox<'a>(&'a self, aor: &'a str) -> BoxFuture<'a, Result<LocalMailbox, StoreError>>;
    /// Every mailbox holding a message (resynchronised at start).
    fn mailboxes(&self) -> BoxFuture<'_, Result<Vec<(String, LocalMailbox)>, StoreError>>;
}

pub(crate) enum Command {
    Report {
        report: Report,
        reply: Option<oneshot::Sender<Result<View, MwiError>>>,
    },
    Activate {
        aor: String,
        system: String,
        active: bool,
        by: String,
        reply: oneshot::Sender<Result<bool, MwiError>>,
    },
    LocalChanged {
        aor: String,
    },
}

/// Loads the cache, starts the actor and returns the handle. It listens to the bus from
/// this call on.
pub async fn start(
    store: Store,
    bus: Bus,
    cfg: MwiConfig,
    local: Option<Arc<dyn LocalVoicemail>>,
) -> Result<Mwi, StoreError> {
    let events = bus.subscribe();
    let cache = Arc::new(RwLock::new(load(&store).await?));
    let version = store.mwi_config_version().await?;
    let mut devices: HashMap<String, usize> = HashMap::new();
    for b in store.load_bindings(unix_ms() / 1000).await? {
        *devices.entry(b.aor).or_default() += 1;
    }
    let (tx, rx) = mpsc::channel(4096);
    let mwi = Mwi {
        cache: cache.clone(),
        tx,
        cfg: Arc::new(cfg),
        store: store.clone(),
        publications: Arc::new(std::sync::Mutex::new(
            sip_events::publication::Publications::new(super::PUBLICATION_POLICY),
        )),
    };
    let actor = Actor {
        store,
        bus,
        mwi: mwi.clone(),
        cache,
        local,
        version,
        sessions: HashMap::new(),
        devices,
        last_text: HashMap::new(),
    };
    tokio::spawn(actor.run(rx, events));
    Ok(mwi)
}

async fn load(store: &Store) -> Result<Cache, StoreError> {
    let mut c = Cache {
        systems: store.mwi_systems().await?,
        ..Cache::default()
    };
    for p in store.mwi_profiles().await? {
        c.profiles.entry(p.aor.clone()).or_default().push(p);
    }
    for s in store.mwi_user_settings().await? {
        c.settings.insert(s.aor.clone(), s);
    }
    for s in store.mwi_states().await? {
        c.states.entry(s.aor.clone()).or_default().push(s);
    }
    Ok(c)
}

struct Actor {
    store: Store,
    bus: Bus,
    mwi: Mwi,
    cache: Arc<RwLock<Cache>>,
    local: Option<Arc<dyn LocalVoicemail>>,
    version: i64,
    sessions: HashMap<String, usize>,
    devices: HashMap<String, usize>,
    /// The last text sent to each user's devices (not repeated at re-registration).
    last_text: HashMap<String, String>,
}

impl Actor {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut events: broadcast::Receiver<BusEvent>,
    ) {
        if let Err(e) = self.resync_local().await {
            error!(error = %e, "cannot read the voicemail counts");
        }
        let mut tick = tokio::time::interval(RELOAD_EVERY);
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd).await,
                    None => return,
                },
                ev = events.recv() => match ev {
                    Ok(ev) => self.on_bus(ev).await,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        warn!(lost = n, "message-waiting lagged behind the bus");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tick.tick() => {
                    if let Err(e) = self.reload().await {
                        error!(error = %e, "cannot reload the message-waiting configuration");
                    }
                }
            }
        }
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Report { report, reply } => {
                let result = self.report(report).await;
                if let Err(e) = &result {
                    debug!(error = %e, "message-waiting report refused");
                }
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
            }
            Command::Activate {
                aor,
                system,
                active,
                by,
                reply,
            } => {
                let _ = reply.send(self.activate(&aor, &system, active, &by).await);
            }
            Command::LocalChanged { aor } => {
                if let Err(e) = self.local_changed(&aor).await {
                    error!(error = %e, "cannot read the voicemail counts");
                }
            }
        }
    }

    async fn on_bus(&mut self, ev: BusEvent) {
        match ev {
            BusEvent::SessionStarted { user } => {
                *self.sessions.entry(user.clone()).or_default() += 1;
                self.mirror_sessions(&user);
                if let Err(e) = self.session_started(&user).await {
                    error!(error = %e, "cannot deliver stored message-waiting notices");
                }
            }
            BusEvent::SessionEnded { user, .. } => {
                if let Some(n) = self.sessions.get_mut(&user) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.sessions.remove(&user);
                    }
                }
                self.mirror_sessions(&user);
            }
            BusEvent::VoicemailChanged { aor, .. } => {
                if let Err(e) = self.local_changed(&aor).await {
                    error!(error = %e, "cannot read the voicemail counts");
                }
            }
            BusEvent::Registration { aor, contacts } => {
                if contacts == 0 {
                    self.devices.remove(&aor);
                } else {
                    self.devices.insert(aor.clone(), contacts);
                    self.text_to_devices(&aor, &self.mwi.view(&aor));
                }
            }
            _ => {}
        }
    }

    /// The profile's client list reads the session count from the cache.
    fn mirror_sessions(&self, user: &str) {
        if let Ok(mut cache) = self.cache.write() {
            match self.sessions.get(user) {
                Some(n) => {
                    cache.sessions.insert(user.to_owned(), *n);
                }
                None => {
                    cache.sessions.remove(user);
                }
            }
        }
    }

    async fn report(&mut self, r: Report) -> Result<View, MwiError> {
        r.validate()?;
        let aor = r.aor.clone();
        let state = MwiState {
            aor: r.aor,
            system: r.system,
            counts: r.counts,
            messages: r.messages,
            updated_at: unix_ms(),
        };
        self.apply(state).await.map_err(|e| {
            error!(error = %e, "cannot store a message-waiting report");
            MwiError::Store
        })?;
        Ok(self.mwi.view(&aor))
    }

    /// Stores a system's new state for a user and tells everyone, unless nothing changed.
    async fn apply(&mut self, state: MwiState) -> Result<(), StoreError> {
        let aor = state.aor.clone();
        let system = state.system.clone();
        let (unchanged, new_view) = {
            let cache = self.cache.read().map_err(|_| poisoned())?;
            let old = cache
                .states
                .get(&aor)
                .and_then(|v| v.iter().find(|s| s.system == system));
            let unchanged =
                old.is_some_and(|o| o.counts == state.counts && o.messages == state.messages);
            let mut states = cache.states.get(&aor).cloned().unwrap_or_default();
            states.retain(|s| s.system != system);
            states.push(state.clone());
            let none = Vec::new();
            let view = super::view::aggregate(
                &aor,
                &cache.systems,
                cache.profiles.get(&aor).unwrap_or(&none),
                &states,
            );
            (unchanged, view)
        };
        if unchanged {
            debug!(aor = %aor, system = %system, "message-waiting report without change");
            return Ok(());
        }
        let event = notice(&new_view, Some(&system), state.updated_at);
        let pending = !self.sessions.contains_key(&aor);
        self.store
            .mwi_put_state(&state, &Value::Object(event.clone()).to_string(), pending)
            .await?;
        if let Ok(mut cache) = self.cache.write() {
            let states = cache.states.entry(aor.clone()).or_default();
            states.retain(|s| s.system != system);
            states.push(state);
        }
        debug!(aor = %aor, system = %system, new = new_view.total.new, "message-waiting changed");
        self.announce(&aor, &new_view, event);
        Ok(())
    }

    /// Tells the SIP face, the user's CAS sessions and devices.
    fn announce(&mut self, aor: &str, view: &View, event: serde_json::Map<String, Value>) {
        self.bus.publish(BusEvent::MwiChanged {
            aor: aor.to_owned(),
        });
        self.bus.publish(BusEvent::Notice {
            topic: "mwi".into(),
            key: None,
            audience: Audience::Users(vec![aor.to_owned()]),
            event,
            always: true,
        });
        self.text_to_devices(aor, view);
    }

    /// A short text to the user's registered devices, when enabled and not sent already.
    fn text_to_devices(&mut self, aor: &str, view: &View) {
        if !self.devices.contains_key(aor) || !self.mwi.message_text(aor) {
            return;
        }
        let text = view.text();
        let first = !self.last_text.contains_key(aor);
        if self.last_text.get(aor) == Some(&text) || (first && !view.waiting()) {
            return;
        }
        let domain = aor.split_once('@').map_or("", |(_, d)| d);
        self.bus.publish(BusEvent::SipMessageOut {
            from: format!("{}@{domain}", self.mwi.from_user()),
            to: aor.to_owned(),
            content_type: "text/plain".into(),
            body: text.clone(),
        });
        self.last_text.insert(aor.to_owned(), text);
    }

    /// An announcement without a new report (activation, profile change), stored too.
    async fn announce_stored(&mut self, aor: &str) -> Result<(), StoreError> {
        let view = self.mwi.view(aor);
        let at = unix_ms();
        let event = notice(&view, None, at);
        let pending = !self.sessions.contains_key(aor);
        self.store
            .mwi_insert_notice(aor, at, &Value::Object(event.clone()).to_string(), pending)
            .await?;
        self.announce(aor, &view, event);
        Ok(())
    }

    async fn activate(
        &mut self,
        aor: &str,
        system: &str,
        active: bool,
        by: &str,
    ) -> Result<bool, MwiError> {
        let (sys, mailbox) = {
            let cache = self.cache.read().map_err(|_| MwiError::Store)?;
            let sys = cache
                .systems
                .iter()
                .find(|s| s.name == system)
                .cloned()
                .ok_or_else(|| MwiError::NoSuchSystem(system.to_owned()))?;
            let row = cache
                .profiles
                .get(aor)
                .and_then(|ps| ps.iter().find(|p| p.system == system));
            if sys.name != LOCAL_SYSTEM && row.is_none() {
                return Err(MwiError::NotServed {
                    system: system.to_owned(),
                    user: aor.to_owned(),
                });
            }
            (sys, row.and_then(|r| r.mailbox.clone()))
        };
        let mut sent = false;
        if sys.activation == "send"
            && let Some(account) = &sys.account
        {
            // The command goes to the system account's registered devices.
            sent = self.devices.contains_key(account);
            let domain = aor.split_once('@').map_or("", |(_, d)| d);
            let verb = if active { "activate" } else { "deactivate" };
            let mailbox = mailbox.as_deref().unwrap_or(aor);
            self.bus.publish(BusEvent::SipMessageOut {
                from: format!("{}@{domain}", self.mwi.from_user()),
                to: account.clone(),
                content_type: "text/plain".into(),
                body: format!("mwi {verb} mailbox={mailbox} user={aor}"),
            });
        }
        let at = unix_ms();
        self.store
            .mwi_set_active(aor, system, active, sent, by, at)
            .await
            .map_err(|e| {
                error!(error = %e, "cannot record a message-waiting activation");
                MwiError::Store
            })?;
        if let Ok(mut cache) = self.cache.write() {
            let rows = cache.profiles.entry(aor.to_owned()).or_default();
            match rows.iter_mut().find(|p| p.system == system) {
                Some(p) => p.active = active,
                None => rows.push(store::MwiProfile {
                    aor: aor.to_owned(),
                    system: system.to_owned(),
                    mailbox: None,
                    active,
                }),
            }
        }
        self.announce_stored(aor).await.map_err(|e| {
            error!(error = %e, "cannot store a message-waiting notice");
            MwiError::Store
        })?;
        Ok(sent)
    }

    async fn session_started(&mut self, aor: &str) -> Result<(), StoreError> {
        let pending = self.store.mwi_pending_notices(aor).await?;
        for (_, _, text) in &pending {
            let Ok(Value::Object(mut event)) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            event.insert("stored".into(), json!(true));
            self.bus.publish(BusEvent::Notice {
                topic: "mwi".into(),
                key: None,
                audience: Audience::Users(vec![aor.to_owned()]),
                event,
                always: true,
            });
        }
        if let Some((last, _, _)) = pending.last() {
            debug!(aor = %aor, count = pending.len(), "stored message-waiting notices pushed");
            self.store.mwi_notices_delivered(aor, *last).await?;
        }
        Ok(())
    }

    async fn local_changed(&mut self, aor: &str) -> Result<(), StoreError> {
        let Some(local) = self.local.clone() else {
            return Ok(());
        };
        let mb = local.mailbox(aor).await?;
        self.apply_local(aor, mb).await
    }

    async fn apply_local(&mut self, aor: &str, mb: LocalMailbox) -> Result<(), StoreError> {
        self.apply(MwiState {
            aor: aor.to_owned(),
            system: LOCAL_SYSTEM.to_owned(),
            counts: mb.counts,
            messages: mb.messages,
            updated_at: unix_ms(),
        })
        .await
    }

    /// Makes the stored counts of our voicemail equal its mailboxes (after a crash or an
    /// upgrade).
    async fn resync_local(&mut self) -> Result<(), StoreError> {
        let Some(local) = self.local.clone() else {
            return Ok(());
        };
        let boxes = local.mailboxes().await?;
        let known: Vec<String> = self
            .cache
            .read()
            .map(|c| {
                c.states
                    .iter()
                    .filter(|(_, v)| v.iter().any(|s| s.system == LOCAL_SYSTEM))
                    .map(|(aor, _)| aor.clone())
                    .collect()
            })
            .unwrap_or_default();
        for aor in known.iter().filter(|a| !boxes.iter().any(|(b, _)| b == *a)) {
            self.apply_local(aor, LocalMailbox::default()).await?;
        }
        for (aor, mb) in boxes {
            self.apply_local(&aor, mb).await?;
        }
        Ok(())
    }

    /// Re-reads systems, profiles and settings when the CLI changed them; users whose
    /// profile changed are told.
    async fn reload(&mut self) -> Result<(), StoreError> {
        let version = self.store.mwi_config_version().await?;
        if version == self.version {
            return Ok(());
        }
        self.version = version;
        let fresh = load(&self.store).await?;
        let changed: Vec<String> = {
            let mut cache = self.cache.write().map_err(|_| poisoned())?;
            let mut users: Vec<String> = cache
                .profiles
                .keys()
                .chain(fresh.profiles.keys())
                .filter(|aor| cache.profiles.get(*aor) != fresh.profiles.get(*aor))
                .cloned()
                .collect();
            if cache.systems != fresh.systems {
                users.extend(cache.profiles.keys().cloned());
            }
            users.sort();
            users.dedup();
            cache.systems = fresh.systems;
            cache.profiles = fresh.profiles;
            cache.settings = fresh.settings;
            cache.states = fresh.states;
            users
        };
        debug!(
            users = changed.len(),
            "message-waiting configuration reloaded"
        );
        for aor in changed {
            self.announce_stored(&aor).await?;
        }
        Ok(())
    }
}

fn poisoned() -> StoreError {
    StoreError::Corrupt("message-waiting cache")
}

/// The `changed` event: the whole view, which system changed (if a report did) and when.
fn notice(view: &View, system: Option<&str>, at: i64) -> serde_json::Map<String, Value> {
    let mut o = view.to_json();
    o.insert("message".into(), json!("changed"));
    o.insert("changed".into(), json!(system));
    o.insert("at".into(), json!(at));
    o
}

/// Unix milliseconds (report and notice times).
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
