//! The in-memory table behind [`super::Presence`]: every person's sources, their current view
//! and version, rendered documents, rules and CAS watchers. Plain data plus the mutations the
//! service performs under its lock; announcing changes happens outside the lock.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use bytes::Bytes;
use serde_json::json;
use sip_events::pidf::Document;
use sip_events::publication::{self, Etag, Outcome, PubError, PubPolicy, Publications};
use store::Binding;

use super::auth::Rules;
use super::model::{
    CallActivity, Classes, DeviceInfo, Manual, ModeEffect, PublishError, PublishReq, Published,
    Rollup, View,
};
use super::rollup::{self, Sources};
use super::{MAX_PUBLISH_EXPIRES, MIN_PUBLISH_EXPIRES, render};
use crate::bus::{Audience, Bus, BusEvent};

/// One publication's event state: the device it came from and its document.
#[derive(Debug, Clone)]
pub(super) struct Publication {
    pub device: String,
    pub doc: Document,
}

/// Everything known about one person.
#[derive(Debug, Default)]
pub(super) struct Person {
    pub devices: Vec<DeviceInfo>,
    pub calls: HashMap<String, CallActivity>,
    pub sessions: usize,
    /// CAS sessions (ids) that declared themselves mobile.
    pub mobile: HashSet<u64>,
    pub manual: Option<Manual>,
    pub note: Option<String>,
    pub mode: ModeEffect,
    pub view: View,
    /// 0 until the first change.
    pub version: u64,
    /// PIDF per rollup for `version`.
    pub rendered: [Option<Bytes>; 3],
}

impl Person {
    fn sources<'a>(
        &'a self,
        publications: &'a Publications<Publication>,
        aor: &str,
    ) -> Sources<'a> {
        Sources {
            registered: &self.devices,
            published: publications
                .entries(aor)
                .map(|e| (e.body.device.as_str(), &e.body.doc))
                .collect(),
            calls: self.calls.values().copied().collect(),
            sessions: self.sessions,
            mobile: !self.mobile.is_empty(),
            manual: self.manual,
            note: self.note.as_deref(),
            mode: self.mode,
        }
    }
}

/// A person's view changed: what to announce.
#[derive(Debug, Clone)]
pub(super) struct Change {
    pub aor: String,
    pub version: u64,
    pub view: View,
    /// Authorized CAS watchers with the rollup they asked for.
    pub watchers: Vec<(String, Rollup)>,
}

impl Change {
    pub fn announce(&self, bus: &Bus) {
        bus.publish(BusEvent::PresenceChanged {
            aor: self.aor.clone(),
            version: self.version,
        });
        for rollup in Rollup::ALL {
            let users: Vec<String> = self
                .watchers
                .iter()
                .filter(|(_, r)| *r == rollup)
                .map(|(w, _)| w.clone())
                .collect();
            if users.is_empty() {
                continue;
            }
            let mut event = render::json(&self.aor, self.version, &self.view, rollup);
            event.insert("message".into(), json!("presence"));
            bus.publish(BusEvent::Notice {
                topic: "presence".into(),
                key: Some(self.aor.clone()),
                audience: Audience::Users(users),
                event,
                // Following is per user (see `provider`), not a session subscription.
                always: true,
            });
        }
    }
}

#[derive(Debug)]
pub(super) struct Table {
    pub people: HashMap<String, Person>,
    /// RFC 3903 publications per presentity.
    pub publications: Publications<Publication>,
    /// Presentity → rules (absent: defaults).
    pub rules: HashMap<String, Rules>,
    /// Presentity → CAS watchers (`user@domain`) and the rollup each asked for.
    pub watchers: HashMap<String, HashMap<String, Rollup>>,
    /// Presentity → watchers that asked [`super::Presence::authorize`] (SIP subscribers) and
    /// how many of their subscriptions live, so a change of visibility or default policy can
    /// be announced to each of them; a pair goes with its last subscription
    /// ([`super::Presence::forget_asker`]).
    pub askers: HashMap<String, HashMap<String, u32>>,
    /// Watcher → the presentities it watches (to forget them when its last session ends).
    pub watching: HashMap<String, HashSet<String>>,
    /// The server's same-domain default, copied in so decisions need no other state.
    pub same_domain: super::SameDomain,
    /// Live publications one presentity may hold.
    max_publications: usize,
    next_version: u64,
}

impl Table {
    pub fn new(same_domain: super::SameDomain, max_publications: usize) -> Table {
        Table {
            people: HashMap::new(),
            publications: Publications::new(PubPolicy {
                min: MIN_PUBLISH_EXPIRES,
                max: MAX_PUBLISH_EXPIRES,
                default: MAX_PUBLISH_EXPIRES,
            }),
            rules: HashMap::new(),
            watchers: HashMap::new(),
            askers: HashMap::new(),
            watching: HashMap::new(),
            same_domain,
            max_publications: max_publications.max(1),
            next_version: 0,
        }
    }

    pub fn person(&mut self, aor: &str) -> &mut Person {
        self.people.entry(aor.to_owned()).or_default()
    }

    /// Recomputes `aor`'s view; a new version and the change when it differs.
    pub fn refresh(&mut self, aor: &str) -> Option<Change> {
        let p = self.people.get(aor)?;
        let view = rollup::view(&p.sources(&self.publications, aor));
        if view == p.view {
            return None;
        }
        self.next_version += 1;
        let version = self.next_version;
        let p = self.people.get_mut(aor)?;
        p.view = view.clone();
        p.version = version;
        p.rendered = Default::default();
        let watchers = self.authorized_watchers(aor);
        Some(Change {
            aor: aor.to_owned(),
            version,
            view,
            watchers,
        })
    }

    /// `watcher`'s CAS sessions follow `presentity` under `rollup` from now on.
    pub fn watch(&mut self, watcher: &str, presentity: &str, rollup: Rollup) {
        self.watchers
            .entry(presentity.to_owned())
            .or_default()
            .insert(watcher.to_owned(), rollup);
        self.watching
            .entry(watcher.to_owned())
            .or_default()
            .insert(presentity.to_owned());
    }

    /// `watcher` stops following `presentity`.
    pub fn unwatch(&mut self, watcher: &str, presentity: &str) {
        if let Some(ws) = self.watchers.get_mut(presentity) {
            ws.remove(watcher);
            if ws.is_empty() {
                self.watchers.remove(presentity);
            }
        }
        if let Some(set) = self.watching.get_mut(watcher) {
            set.remove(presentity);
            if set.is_empty() {
                self.watching.remove(watcher);
            }
        }
    }

    /// `watcher` has no CAS session left: it follows nobody.
    pub fn unwatch_all(&mut self, watcher: &str) {
        for presentity in self.watching.remove(watcher).unwrap_or_default() {
            if let Some(ws) = self.watchers.get_mut(&presentity) {
                ws.remove(watcher);
                if ws.is_empty() {
                    self.watchers.remove(&presentity);
                }
            }
        }
    }

    /// The CAS watchers of `aor` allowed to see it now.
    pub fn authorized_watchers(&self, aor: &str) -> Vec<(String, Rollup)> {
        let Some(ws) = self.watchers.get(aor) else {
            return Vec::new();
        };
        let rules = self.rules.get(aor);
        ws.iter()
            .filter(|(w, _)| {
                super::auth::decide(rules, self.same_domain, w, aor) == super::Authz::Allow
            })
            .map(|(w, r)| (w.clone(), *r))
            .collect()
    }

    /// The PIDF of `aor` under `rollup` and its version, cached until the next change. A
    /// person never seen is rendered offline without being added to the table.
    pub fn rendered(&mut self, aor: &str, rollup: Rollup) -> (u64, Bytes) {
        let Some(p) = self.people.get_mut(aor) else {
            return (0, Bytes::from(render::pidf(aor, &View::default(), rollup)));
        };
        if let Some(b) = p.rendered.get(rollup.index()).and_then(Clone::clone) {
            return (p.version, b);
        }
        let bytes = Bytes::from(render::pidf(aor, &p.view, rollup));
        if let Some(slot) = p.rendered.get_mut(rollup.index()) {
            *slot = Some(bytes.clone());
        }
        (p.version, bytes)
    }

    pub fn publish(
        &mut self,
        aor: &str,
        device: &str,
        req: PublishReq,
        now: Instant,
    ) -> Result<Published, PublishError> {
        self.person(aor);
        if req.etag.is_none() && req.doc.is_some() {
            self.make_room(aor, now);
        }
        let outcome = self
            .publications
            .apply(
                now,
                publication::Request {
                    resource: aor,
                    if_match: req.etag.as_deref(),
                    expires: Some(req.expires),
                    body: req.doc.map(|doc| Publication {
                        device: device.to_owned(),
                        doc,
                    }),
                    etag_seed: rand::random::<u64>(),
                },
            )
            .map_err(|e| match e {
                PubError::UnknownEtag => PublishError::UnknownEtag,
                PubError::IntervalTooBrief { min_expires } => {
                    PublishError::IntervalTooBrief { min: min_expires }
                }
                PubError::MissingBody => PublishError::MissingBody,
            })?;
        if let Outcome::Created { etag, .. } = &outcome {
            self.drop_older(aor, device, etag, now);
        }
        Ok(match outcome {
            Outcome::Created { etag, expires }
            | Outcome::Refreshed { etag, expires }
            | Outcome::Modified { etag, expires } => Published {
                etag: etag.0,
                expires,
            },
            Outcome::Removed => Published {
                etag: req.etag.unwrap_or_default(),
                expires: 0,
            },
        })
    }

    /// A device's new initial publication replaces its older ones: phones that send two
    /// initial PUBLISHes at once keep only one etag (phones/NOTES.md §1.3), and the other
    /// must not speak for the device until it expires. A refresh of a dropped one gets 412
    /// and the phone publishes afresh (RFC 3903 §6).
    fn drop_older(&mut self, aor: &str, device: &str, newest: &Etag, now: Instant) {
        let older: Vec<String> = self
            .publications
            .entries(aor)
            .filter(|e| e.body.device == device && e.etag != *newest)
            .map(|e| e.etag.0.clone())
            .collect();
        for etag in older {
            let removal = publication::Request {
                resource: aor,
                if_match: Some(&etag),
                expires: Some(0),
                body: None,
                etag_seed: 0,
            };
            let _ = self.publications.apply(now, removal);
        }
    }

    /// Before a new initial publication: when `aor` holds its maximum, the publications
    /// closest to expiry go, so one user publishing from ever new flows (or ever new etags)
    /// cannot grow the table, while their newest device is always heard.
    fn make_room(&mut self, aor: &str, now: Instant) {
        let mut live: Vec<(Instant, String)> = self
            .publications
            .entries(aor)
            .map(|e| (e.expires_at, e.etag.0.clone()))
            .collect();
        let excess = (live.len() + 1).saturating_sub(self.max_publications);
        if excess == 0 {
            return;
        }
        live.sort();
        for (_, etag) in live.into_iter().take(excess) {
            let removal = publication::Request {
                resource: aor,
                if_match: Some(&etag),
                expires: Some(0),
                body: None,
                etag_seed: 0,
            };
            let _ = self.publications.apply(now, removal);
        }
    }

    /// Drops expired publications; the changes they cause.
    pub fn expire(&mut self, now: Instant) -> Vec<Change> {
        let mut gone: Vec<String> = self
            .publications
            .expire(now)
            .into_iter()
            .map(|(aor, _)| aor)
            .collect();
        gone.dedup();
        gone.iter().filter_map(|aor| self.refresh(aor)).collect()
    }

    /// Registered devices from the stored bindings (classes unknown: voice and IM, until the
    /// SIP face reports them).
    pub fn load_bindings(&mut self, bindings: &[Binding]) {
        let mut by_aor: HashMap<String, Vec<DeviceInfo>> = HashMap::new();
        for b in bindings {
            let list = by_aor.entry(key(&b.aor)).or_default();
            list.push(DeviceInfo {
                key: b.instance.clone().unwrap_or_else(|| b.contact.clone()),
                classes: Classes::PHONE,
            });
        }
        for (aor, devices) in by_aor {
            self.person(&aor).devices = devices;
            self.refresh(&aor);
        }
    }

    /// The call handling mode of `aor` (`user@domain`) is now `mode`.
    pub fn set_mode(&mut self, aor: &str, mode: ModeEffect) -> Option<Change> {
        if mode == ModeEffect::None && !self.people.contains_key(aor) {
            return None;
        }
        self.person(aor).mode = mode;
        self.refresh(aor)
    }
}

/// `user@domain` (domain lower-cased) from `user@domain` or a SIP URI.
pub fn key(aor: &str) -> String {
    let s = aor.trim();
    let s = s
        .strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or(s);
    let bare = ["sips:", "sip:", "pres:"]
        .iter()
        .find_map(|scheme| {
            s.get(..scheme.len())
                .filter(|h| h.eq_ignore_ascii_case(scheme))
                .and_then(|_| s.get(scheme.len()..))
        })
        .unwrap_or(s);
    match bare.rsplit_once('@') {
        Some((user, host)) => {
            let host = host.split([';', '?', ':', '>']).next().unwrap_or_default();
            crate::registrar::aor_key(user, host)
        }
        None => bare.to_owned(),
    }
}
