//! Presence as the directory shows it: the presence service's compound view
//! (`services::presence`), filtered by the same authorization as the `presence` topic, so a
//! lookup never shows what the caller may not see. Also who watches whom: a session that
//! looked users up with `subscribe: true` hears `presence_changed` when what it may see of
//! them changes (and when it becomes allowed to see them).
//!
//! A lookup does not ask for authorization: browsing the directory never lists the caller as
//! a pending watcher (`presence.get` / `presence.subscribe` do).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::bus::{Audience, Bus, BusEvent};
use crate::presence::{Authz, Presence, Rollup, render};

/// Users one watcher follows one by one; beyond that it follows its whole domain, which
/// keeps the table bounded by the number of users.
const MAX_WATCHED: usize = 2000;

#[derive(Default)]
struct State {
    /// Watched AOR → watchers (AORs).
    watchers: HashMap<String, HashSet<String>>,
    /// How many AORs each watcher follows.
    watching: HashMap<String, usize>,
    /// Watchers that follow every user of their domain.
    watch_all: HashSet<String>,
}

/// Who follows whom through subscribed lookups.
#[derive(Default)]
pub struct Watchers {
    state: Mutex<State>,
}

/// The `presence` object of a directory entry for `watcher`: `{state, classes, mobile, note,
/// activities}` (state = the most available class), or `{authorized: false}`.
pub fn presence_value(presence: &Presence, watcher: &str, aor: &str) -> Value {
    if presence.may_see(watcher, aor) != Authz::Allow {
        return json!({"authorized": false});
    }
    let (version, view) = presence.view(aor);
    let mut o = render::json(aor, version, &view, Rollup::Compound);
    for k in ["user", "rollup", "version", "authorized"] {
        o.remove(k);
    }
    Value::Object(o)
}

fn domain_of(aor: &str) -> &str {
    aor.rsplit_once('@').map_or("", |(_, d)| d)
}

/// `user@domain` with the domain lower-cased; a scheme is dropped.
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

impl Watchers {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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

    /// Who follows `aor`, sorted.
    pub fn of(&self, aor: &str) -> Vec<String> {
        let aor = key(aor);
        let st = self.lock();
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
        who
    }
}

/// Follows the presence service on the bus and tells each watcher allowed to see a user
/// when that user's presence changed, or when the watcher became allowed to see it.
pub fn follow(
    watchers: Arc<Watchers>,
    presence: Presence,
    bus: Bus,
    mut rx: broadcast::Receiver<BusEvent>,
) {
    tokio::spawn(async move {
        loop {
            let (aor, only) = match rx.recv().await {
                Ok(BusEvent::PresenceChanged { aor, .. }) => (aor, None),
                Ok(BusEvent::PresenceAuthChanged {
                    presentity,
                    watcher,
                }) => (presentity, Some(watcher)),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(lost = n, "directory presence follower lagged");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let user = key(&aor);
            let who: Vec<String> = watchers
                .of(&user)
                .into_iter()
                .filter(|w| only.as_ref().is_none_or(|o| o == w))
                .filter(|w| presence.may_see(w, &user) == Authz::Allow)
                .collect();
            if who.is_empty() {
                continue;
            }
            // Everyone allowed sees the same object.
            let value = presence_value(&presence, &user, &user);
            let mut event = cas_proto::Object::new();
            event.insert("message".into(), json!("presence_changed"));
            event.insert("user".into(), json!(user));
            event.insert("presence".into(), value);
            bus.publish(BusEvent::Notice {
                topic: "dir".into(),
                key: Some(user),
                audience: Audience::Users(who),
                event,
                always: false,
            });
        }
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn watchers_of_a_user() {
        let w = Watchers::default();
        w.watch("alice@example.test", ["bob@EXAMPLE.test".to_owned()]);
        w.watch("carol@example.test", ["sip:bob@example.test".to_owned()]);
        assert_eq!(
            w.of("bob@example.test"),
            ["alice@example.test", "carol@example.test"]
        );
        assert!(w.of("dan@example.test").is_empty());
    }

    #[test]
    fn heavy_watchers_follow_their_domain() {
        let w = Watchers::default();
        let many = (0..=MAX_WATCHED).map(|i| format!("u{i}@example.test"));
        w.watch("alice@example.test", many);
        assert_eq!(w.of("zed@example.test"), ["alice@example.test"]);
        assert!(w.of("zed@other.test").is_empty());
        assert!(w.lock().watchers.is_empty());
    }
}
