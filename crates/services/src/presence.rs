//! Unified presence (issue 4): one truthful status per person and service class, rolled up
//! from every device, behind the person's virtual address.
//!
//! [`Presence`] is the service: a table behind one `Mutex` (short critical sections, never
//! held across an await, no I/O inside), so the SIP thread calls it synchronously:
//! [`Presence::publish`] (RFC 3903 publications), [`Presence::devices`] (registrations),
//! [`Presence::call_activity`] (the call engine), [`Presence::authorize`] and
//! [`Presence::render`] (RFC 3863 PIDF, cached per version and rollup). CAS sessions, the
//! user's manual status, note and "mobile" flag and the call handling mode come in through the
//! bus follower ([`follow`]) and the CAS topic ([`provider`]). Every change that alters what
//! watchers see bumps the person's version and publishes `BusEvent::PresenceChanged` plus a
//! CAS `presence` event to the authorized CAS watchers.
//!
//! What watchers get names only `sip:user@domain`: no contact, address, port, instance id or
//! device count ever leaves this module ([`render`]).
//!
//! Not here: SUBSCRIBE/NOTIFY (the SIP face keeps its subscriptions and asks
//! `authorize`/`render`), parsing PIDF (`sip_events::pidf`), routing by service class.

pub mod auth;
mod follow;
pub mod model;
mod persist;
mod provider;
pub mod render;
pub mod rollup;
mod spec;
mod table;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use store::{Store, StoreError};

use crate::bus::Bus;

pub use auth::{Decision, Rules, SameDomain};
pub use model::{
    Authz, CallActivity, Class, Classes, DeviceInfo, Manual, ModeEffect, PublishError, PublishReq,
    Published, Rollup, State, Summary, View,
};
pub use provider::PresenceTopic;
pub use spec::SPEC;

use table::{Change, Table};

/// Shortest and longest publication interval granted (RFC 3903 §6 steps 5 and 7).
pub const MIN_PUBLISH_EXPIRES: u32 = 60;
pub const MAX_PUBLISH_EXPIRES: u32 = 3600;

/// Live publications one presentity may hold by default (e.g. 32 devices, one etag each).
pub const MAX_PUBLICATIONS: usize = 32;

/// Live SIP subscriptions one watcher may hold by default.
pub const MAX_SUBSCRIPTIONS_PER_WATCHER: usize = 500;

/// The server's presence settings (`[presence]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceConfig {
    /// What a watcher of the same domain without a decision gets.
    pub same_domain_default: SameDomain,
    /// Live publications per presentity; a new initial publication beyond it replaces the
    /// one closest to expiry (`[presence] max_publications_per_presentity`).
    pub max_publications: usize,
    /// Live SIP subscriptions one watcher may hold (`[presence]
    /// max_subscriptions_per_watcher`); the SIP face refuses more.
    pub max_subscriptions_per_watcher: usize,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        PresenceConfig {
            same_domain_default: SameDomain::default(),
            max_publications: MAX_PUBLICATIONS,
            max_subscriptions_per_watcher: MAX_SUBSCRIPTIONS_PER_WATCHER,
        }
    }
}

/// The presence service; clones share one table.
#[derive(Debug, Clone)]
pub struct Presence {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    table: Mutex<Table>,
    bus: Bus,
    writes: persist::Writer,
    config: PresenceConfig,
    /// Set at the first [`Presence::devices`] call: from then on the SIP face reports
    /// devices itself and the bus's registration counts are ignored.
    direct_devices: AtomicBool,
}

impl Presence {
    /// Loads the stored rules, statuses and registrations, and starts the bus follower, the
    /// store writer and the expiry sweep. Call before the faces start.
    pub async fn start(
        store: Store,
        bus: Bus,
        config: PresenceConfig,
    ) -> Result<Presence, StoreError> {
        let rx = bus.subscribe();
        let mut table = Table::new(config.same_domain_default, config.max_publications);
        persist::load(&store, &mut table).await?;
        let bindings = store
            .load_bindings(crate::im::delivery::unix_ms() / 1000)
            .await?;
        table.load_bindings(&bindings);
        let p = Presence {
            inner: Arc::new(Inner {
                table: Mutex::new(table),
                bus,
                writes: persist::spawn(store),
                config,
                direct_devices: AtomicBool::new(false),
            }),
        };
        follow::spawn(p.clone(), rx);
        Ok(p)
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.inner.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `f` to the table and announces the changes it reports (outside the lock).
    fn change<T>(&self, f: impl FnOnce(&mut Table, &PresenceConfig) -> (T, Vec<Change>)) -> T {
        let (out, changes) = {
            let mut t = self.lock();
            f(&mut t, &self.inner.config)
        };
        for c in changes {
            c.announce(&self.inner.bus);
        }
        out
    }

    /// A PUBLISH for `aor` (`user@domain`) from the device `device_key` (RFC 3903 §6):
    /// initial (no etag, a document), refresh (etag, no document), modify (etag, document),
    /// remove (etag, `expires` 0). Every success gets a new entity tag. A device's new initial
    /// publication replaces its older ones, so two initial PUBLISHes racing from one phone
    /// leave one publication.
    pub fn publish(
        &self,
        aor: &str,
        device_key: &str,
        req: PublishReq,
        now: Instant,
    ) -> Result<Published, PublishError> {
        let aor = table::key(aor);
        self.change(|t, _| {
            let r = t.publish(&aor, device_key, req, now);
            let changes = t.refresh(&aor).into_iter().collect();
            (r, changes)
        })
    }

    /// The registered devices of `aor` now (empty: none). Replaces what was known.
    pub fn devices(&self, aor: &str, devices: Vec<DeviceInfo>) {
        self.inner.direct_devices.store(true, Ordering::Relaxed);
        self.set_devices(aor, devices);
    }

    fn set_devices(&self, aor: &str, devices: Vec<DeviceInfo>) {
        let aor = table::key(aor);
        self.change(|t, _| {
            t.person(&aor).devices = devices;
            ((), t.refresh(&aor).into_iter().collect())
        });
    }

    /// One call of `aor` changed (`None`: it ended). `call_key` is any id unique per call.
    pub fn call_activity(&self, aor: &str, call_key: &str, activity: Option<CallActivity>) {
        let aor = table::key(aor);
        self.change(|t, _| {
            let p = t.person(&aor);
            match activity {
                Some(a) => {
                    p.calls.insert(call_key.to_owned(), a);
                }
                None => {
                    p.calls.remove(call_key);
                }
            }
            ((), t.refresh(&aor).into_iter().collect())
        });
    }

    /// May `watcher` see `presentity` (both `user@domain` or SIP URIs)? For a new subscription
    /// (the SIP face): the pair is remembered, so a later change of the presentity's
    /// visibility or same-domain policy is announced to this watcher (`PresenceAuthChanged`);
    /// each call must be paired with one [`Presence::forget_asker`] when that subscription
    /// ends. Lookups and re-checks use [`Presence::may_see`].
    pub fn authorize(&self, watcher: &str, presentity: &str) -> Authz {
        let (w, p) = (table::key(watcher), table::key(presentity));
        let mut t = self.lock();
        let authz = auth::decide(
            t.rules.get(&p),
            self.inner.config.same_domain_default,
            &w,
            &p,
        );
        // Remembered so a later change of the presentity's rules reaches this watcher.
        *t.askers.entry(p).or_default().entry(w).or_default() += 1;
        authz
    }

    /// One subscription that asked [`Presence::authorize`] ended: when it was the watcher's
    /// last one to `presentity`, the pair is dropped, so the list stays as small as the live
    /// subscriptions.
    pub fn forget_asker(&self, watcher: &str, presentity: &str) {
        let (w, p) = (table::key(watcher), table::key(presentity));
        let mut t = self.lock();
        let Some(askers) = t.askers.get_mut(&p) else {
            return;
        };
        if let Some(n) = askers.get_mut(&w) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                askers.remove(&w);
            }
        }
        if askers.is_empty() {
            t.askers.remove(&p);
        }
    }

    /// How many (presentity, watcher) pairs are remembered for rule changes.
    pub fn askers(&self) -> usize {
        self.lock().askers.values().map(HashMap::len).sum()
    }

    /// May `watcher` see `presentity`, without remembering that it asked.
    pub fn may_see(&self, watcher: &str, presentity: &str) -> Authz {
        let (w, p) = (table::key(watcher), table::key(presentity));
        let t = self.lock();
        auth::decide(
            t.rules.get(&p),
            self.inner.config.same_domain_default,
            &w,
            &p,
        )
    }

    /// Lists `watcher` as waiting for `presentity`'s decision, unless already decided (a
    /// blocked watcher is never listed). The presentity's CAS sessions subscribed to
    /// `presence` get a `watcher` event.
    pub fn add_pending(&self, watcher: &str, presentity: &str) {
        let (w, p) = (table::key(watcher), table::key(presentity));
        let default = self.inner.config.same_domain_default;
        let listed = {
            let mut t = self.lock();
            if auth::should_list_pending(t.rules.get(&p), default, &w, &p) {
                t.rules
                    .entry(p.clone())
                    .or_default()
                    .watchers
                    .insert(w.clone(), Decision::Pending);
                // Queued under the lock: a decision made right after is stored after this.
                self.inner
                    .writes
                    .decision(&p, &w, Some(Decision::Pending), None);
                true
            } else {
                false
            }
        };
        if listed {
            provider::tell_pending(&self.inner.bus, &p, &w);
        }
    }

    /// The PIDF document (`application/pidf+xml`) of `presentity` under `rollup`, with the
    /// version it shows; cached until the next change. `None` for a malformed address.
    pub fn render(&self, presentity: &str, rollup: Rollup) -> Option<(u64, Bytes)> {
        let aor = table::key(presentity);
        if !aor.contains('@') {
            return None;
        }
        let mut t = self.lock();
        Some(t.rendered(&aor, rollup))
    }

    /// The compound view of `presentity` and its version (no authorization check).
    pub fn view(&self, presentity: &str) -> (u64, View) {
        let aor = table::key(presentity);
        let t = self.lock();
        t.people
            .get(&aor)
            .map_or_else(|| (0, View::default()), |p| (p.version, p.view.clone()))
    }

    /// Drops publications that expired by `now` (the sweep calls this every second).
    pub fn expire(&self, now: Instant) {
        self.change(|t, _| ((), t.expire(now)));
    }

    /// The settings the service was started with.
    pub fn config(&self) -> PresenceConfig {
        self.inner.config
    }
}
