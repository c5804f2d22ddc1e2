//! Presence as the directory shows it until the presence service exists: a user is
//! `registered` while at least one device is registered, `offline` otherwise. Also who
//! watches whom: a session that looked users up with `subscribe: true` hears when their
//! state flips.
//!
//! The state starts from the stored bindings and follows `BusEvent::Registration`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use store::{Binding, Store};
use tokio::sync::broadcast;

use crate::bus::{Audience, Bus, BusEvent};

/// Users one watcher follows one by one; beyond that it follows its whole domain, which
/// keeps the table bounded by the number of users.
const MAX_WATCHED: usize = 2000;

#[derive(Default)]
struct State {
    /// Live contacts per AOR (`user@domain`); absent = none.
    live: HashMap<String, usize>,
    /// Watched AOR → watchers (AORs).
    watchers: HashMap<String, HashSet<String>>,
    /// How many AORs each watcher follows.
    watching: HashMap<String, usize>,
    /// Watchers that follow every user of their domain.
    watch_all: HashSet<String>,
}

#[derive(Default)]
pub struct Presence {
    state: Mutex<State>,
}

/// The `presence` object of a directory entry.
pub fn presence_value(registered: bool) -> Value {
    json!({"state": if registered { "registered" } else { "offline" }})
}

fn domain_of(aor: &str) -> &str {
    aor.rsplit_once('@').map_or("", |(_, d)| d)
}

/// Bindings may carry a scheme; the bus uses `user@domain`.
fn key(aor: &str) -> String {
    let bare = aor
        .strip_prefix("sips:")
        .or_else(|| aor.strip_prefix("sip:"))
        .unwrap_or(aor);
    match bare.rsplit_once('@') {
        Some((user, domain)) => crate::registrar::aor_key(user, domain),
        None => bare.to_owned(),
    }
}

impl Presence {
    pub fn from_bindings(bindings: &[Binding]) -> Presence {
        let p = Presence::default();
        p.reset(bindings);
        p
    }

    /// Replaces the registration state (watchers stay); nobody is told.
    pub fn reset(&self, bindings: &[Binding]) {
        let mut live: HashMap<String, usize> = HashMap::new();
        for b in bindings {
            *live.entry(key(&b.aor)).or_default() += 1;
        }
        self.lock().live = live;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn registered(&self, aor: &str) -> bool {
        self.lock().live.get(&key(aor)).is_some_and(|n| *n > 0)
    }

    /// `watcher` follows `users` from now on.
    pub fn watch(&self, watcher: &str, users: impl IntoIterator<Item = String>) {
        let mut st = self.lock();
        if st.watch_all.contains(watcher) {
            return;
        }
        for u in users {
            let added = st
                .watchers
                .entry(key(&u))
                .or_default()
                .insert(watcher.to_owned());
            if added {
                let n = st.watching.entry(watcher.to_owned()).or_default();
                *n += 1;
                if *n > MAX_WATCHED {
                    st.watching.remove(watcher);
                    for set in st.watchers.values_mut() {
                        set.remove(watcher);
                    }
                    st.watchers.retain(|_, set| !set.is_empty());
                    st.watch_all.insert(watcher.to_owned());
                    return;
                }
            }
        }
    }

    /// Records a registration change; if the user's state flipped, returns the new state
    /// and who watches the user.
    pub fn update(&self, aor: &str, contacts: usize) -> Option<(bool, Vec<String>)> {
        let aor = key(aor);
        let mut st = self.lock();
        let was = st.live.get(&aor).is_some_and(|n| *n > 0);
        if contacts == 0 {
            st.live.remove(&aor);
        } else {
            st.live.insert(aor.clone(), contacts);
        }
        let now = contacts > 0;
        if was == now {
            return None;
        }
        let domain = domain_of(&aor);
        let mut who: Vec<String> = st
            .watchers
            .get(&aor)
            .map(|w| w.iter().cloned().collect())
            .unwrap_or_default();
        who.extend(
            st.watch_all
                .iter()
                .filter(|w| domain_of(w).eq_ignore_ascii_case(domain))
                .cloned(),
        );
        who.sort();
        who.dedup();
        Some((now, who))
    }
}

/// Follows registrations on the bus and tells watchers when a state flips. After missing
/// events (a lagging receiver) the state is read again from the store.
pub fn follow(
    presence: Arc<Presence>,
    store: Store,
    bus: Bus,
    mut rx: broadcast::Receiver<BusEvent>,
) {
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(BusEvent::Registration { aor, contacts }) => {
                    let Some((registered, watchers)) = presence.update(&aor, contacts) else {
                        continue;
                    };
                    if watchers.is_empty() {
                        continue;
                    }
                    let user = key(&aor);
                    let mut event = cas_proto::Object::new();
                    event.insert("message".into(), json!("presence_changed"));
                    event.insert("user".into(), json!(user));
                    event.insert("presence".into(), presence_value(registered));
                    bus.publish(BusEvent::Notice {
                        topic: "dir".into(),
                        key: Some(user),
                        audience: Audience::Users(watchers),
                        event,
                        always: false,
                    });
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(lost = n, "directory presence follower lagged");
                    match store.load_bindings(super::unix_now()).await {
                        Ok(b) => presence.reset(&b),
                        Err(e) => tracing::warn!(error = %e, "cannot reload registrations"),
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(aor: &str) -> Binding {
        Binding {
            aor: aor.into(),
            contact: "sip:x@127.0.0.1".into(),
            expires_at: 0,
            q: None,
            call_id: "c".into(),
            cseq: 1,
            instance: None,
            transport: "udp".into(),
            source: "127.0.0.1:5060".into(),
            user_agent: None,
        }
    }

    #[test]
    fn state_flips_reach_watchers_only() {
        let p = Presence::from_bindings(&[binding("bob@example.test")]);
        assert!(p.registered("bob@EXAMPLE.test"));
        assert!(!p.registered("carol@example.test"));
        p.watch("alice@example.test", ["bob@example.test".to_owned()]);
        // More devices: no flip.
        assert_eq!(p.update("bob@example.test", 2), None);
        assert_eq!(
            p.update("bob@example.test", 0),
            Some((false, vec!["alice@example.test".to_owned()]))
        );
        assert_eq!(p.update("carol@example.test", 1), Some((true, vec![])));
    }

    #[test]
    fn heavy_watchers_follow_their_domain() {
        let p = Presence::default();
        let many = (0..=MAX_WATCHED).map(|i| format!("u{i}@example.test"));
        p.watch("alice@example.test", many);
        assert_eq!(
            p.update("zed@example.test", 1),
            Some((true, vec!["alice@example.test".to_owned()]))
        );
        assert_eq!(p.update("zed@other.test", 1), Some((true, vec![])));
        assert!(p.lock().watchers.is_empty());
    }
}
