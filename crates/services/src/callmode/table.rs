//! The in-memory table of every user's call handling, shared by the CAS provider (which
//! changes it after the store did) and the SIP face (which reads it for every call through
//! [`CallPolicy`], so a call never waits on the database).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use store::{Store, StoreError};
use tracing::warn;

use super::modes::{Forward, Mode, UserModes};
use crate::routing::{CallPolicy, Forwarding};

/// Cloneable handle to the table, keyed by `user@domain` (domain in lower case, as
/// `registrar::aor_key` writes it). Users without an entry have the defaults.
#[derive(Debug, Clone, Default)]
pub struct CallModes {
    table: Arc<RwLock<HashMap<String, UserModes>>>,
}

impl CallModes {
    /// Reads every stored choice; forwarding targets are resolved to local users now.
    pub async fn load(store: &Store) -> Result<CallModes, StoreError> {
        let mut map: HashMap<String, UserModes> = HashMap::new();
        for (aor, mode, label) in store.call_modes().await? {
            let Ok(mode) = Mode::parse(&mode) else {
                warn!(aor = %aor, "unknown stored call handling mode ignored");
                continue;
            };
            let user = map.entry(aor).or_default();
            user.mode = mode;
            user.custom_label = label;
        }
        for (aor, mode, action, target) in store.call_forwardings().await? {
            let Ok(mode) = Mode::parse(&mode) else {
                warn!(aor = %aor, "unknown stored call handling mode ignored");
                continue;
            };
            let forward = match (action.as_str(), target) {
                ("ring_devices", _) => Forward::RingDevices,
                ("voicemail", _) => Forward::Voicemail,
                ("forward", Some(target)) => {
                    let domain = aor.split_once('@').map_or("", |(_, d)| d);
                    let resolved = resolve(store, domain, &target).await?;
                    Forward::Forward { target, resolved }
                }
                _ => {
                    warn!(aor = %aor, "unusable stored call forwarding ignored");
                    continue;
                }
            };
            map.entry(aor).or_default().forwards.insert(mode, forward);
        }
        Ok(CallModes {
            table: Arc::new(RwLock::new(map)),
        })
    }

    /// A copy of one user's settings (the defaults if they never chose anything).
    pub fn user(&self, aor: &str) -> UserModes {
        self.table
            .read()
            .ok()
            .and_then(|t| t.get(aor).cloned())
            .unwrap_or_default()
    }

    /// Changes one user's settings in place; returns the result.
    pub fn update(&self, aor: &str, change: impl FnOnce(&mut UserModes)) -> UserModes {
        match self.table.write() {
            Ok(mut t) => {
                let user = t.entry(aor.to_owned()).or_default();
                change(user);
                user.clone()
            }
            // A writer panicked while holding the lock: the table is unusable, so routing
            // falls back to ringing (see `forwarding`) and the change is reported as made
            // only in the store, which the next start loads.
            Err(_) => {
                warn!(aor = %aor, "call handling table unavailable");
                let mut user = self.user(aor);
                change(&mut user);
                user
            }
        }
    }
}

impl CallPolicy for CallModes {
    fn forwarding(&self, callee_aor: &str) -> Forwarding {
        let Ok(table) = self.table.read() else {
            return Forwarding::RingDevices;
        };
        match table.get(callee_aor) {
            Some(user) => user.forward(user.mode).routing(),
            None => Mode::Available.default_forward().routing(),
        }
    }
}

/// The local user (`user@domain`) a forwarding target names, if any: a bare name or number
/// is looked up in the forwarding user's `domain`; `user@host` and `sip:user@host` when
/// `host` is a local domain. Anything else stays as typed (reaching it needs a trunk).
pub async fn resolve(
    store: &Store,
    domain: &str,
    target: &str,
) -> Result<Option<String>, StoreError> {
    let bare = strip_scheme(target);
    let (user, host) = match bare.split_once('@') {
        Some((u, rest)) => {
            // Drop URI parameters and a port: they do not change which user is meant.
            let host = rest.split([';', '?']).next().unwrap_or(rest);
            let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
            (u, host)
        }
        None => (bare, domain),
    };
    if user.is_empty() || host.is_empty() {
        return Ok(None);
    }
    let exists = store.credentials(host, user).await?.is_some();
    Ok(exists.then(|| format!("{user}@{}", host.to_ascii_lowercase())))
}

fn strip_scheme(target: &str) -> &str {
    for scheme in ["sip:", "sips:"] {
        if target
            .get(..scheme.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
        {
            return target.get(scheme.len()..).unwrap_or_default();
        }
    }
    target
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_local_users_only() {
        let s = Store::open_memory().await.unwrap();
        s.add_domain("example.test").await.unwrap();
        s.add_user("example.test", "carol", "pw").await.unwrap();
        s.add_user("example.test", "1234", "pw").await.unwrap();
        let d = "example.test";
        for (target, want) in [
            ("carol", Some("carol@example.test")),
            ("1234", Some("1234@example.test")),
            ("sip:carol@example.test", Some("carol@example.test")),
            (
                "SIP:carol@Example.TEST;transport=tcp",
                Some("carol@example.test"),
            ),
            ("carol@example.test:5060", Some("carol@example.test")),
            ("5551234", None),
            ("sip:carol@elsewhere.test", None),
            ("sip:@example.test", None),
        ] {
            let got = resolve(&s, d, target).await.unwrap();
            assert_eq!(got.as_deref(), want, "{target}");
        }
    }

    #[tokio::test]
    async fn policy_follows_the_table() {
        let s = Store::open_memory().await.unwrap();
        s.add_domain("example.test").await.unwrap();
        s.add_user("example.test", "bob", "pw").await.unwrap();
        s.add_user("example.test", "carol", "pw").await.unwrap();
        s.set_call_mode("example.test", "bob", "meeting", None)
            .await
            .unwrap();
        s.set_call_forwarding("example.test", "bob", "meeting", "forward", Some("carol"))
            .await
            .unwrap();
        let modes = CallModes::load(&s).await.unwrap();
        assert_eq!(
            modes.forwarding("bob@example.test"),
            Forwarding::ForwardTo("carol@example.test".into())
        );
        assert_eq!(
            modes.forwarding("carol@example.test"),
            Forwarding::RingDevices
        );
        modes.update("carol@example.test", |u| u.mode = Mode::OutOfOffice);
        assert_eq!(
            modes.forwarding("carol@example.test"),
            Forwarding::Voicemail
        );
        modes.update("bob@example.test", |u| u.mode = Mode::Available);
        assert_eq!(
            modes.forwarding("bob@example.test"),
            Forwarding::RingDevices
        );
    }
}
