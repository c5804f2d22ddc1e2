//! The CAS `presence` topic (catalogue in [`super::spec`]): reads filtered by authorization,
//! the caller's own status and note, CAS subscriptions, watcher decisions and rules.
//!
//! Presence events go to every session of a following user (`always`): a provider cannot
//! subscribe a session to its topic, so following is per user, kept in the service's table
//! and dropped with the user's last session.

use cas_proto::{CasError, Object, Request, TopicSpec};
use serde_json::{Value, json};
use store::Store;
use tokio::sync::oneshot;

use super::auth::{self, Decision, SameDomain};
use super::model::{Authz, Manual, Rollup};
use super::{Presence, render};
use crate::bus::{Audience, Bus, BusEvent};
use crate::im::rules::parse_peer;
use crate::provider::{BoxFuture, Caller, Outcome, Provider, store_error};

/// Users one request may name.
const MAX_USERS: usize = 500;
/// Watcher decisions one user may keep (allow, deny and block lists together): the rules are
/// held in memory, so an authenticated user must not be able to grow them without bound.
const MAX_DECISIONS: usize = 10 * MAX_USERS;

fn too_many_decisions() -> CasError {
    CasError::bad_request(format!(
        "at most {MAX_DECISIONS} watcher decisions (allow, deny and block together)"
    ))
}
/// Users one user may follow (CAS `presence.subscribe`) at a time.
const MAX_FOLLOWED: usize = 2000;
/// Longest note, in characters.
const MAX_NOTE: usize = 256;

/// The `presence` provider.
pub struct PresenceTopic {
    presence: Presence,
    store: Store,
}

impl PresenceTopic {
    pub fn new(presence: Presence, store: Store) -> PresenceTopic {
        PresenceTopic { presence, store }
    }

    /// `user@domain` of each named user: `Ok` when the user exists, `Err` otherwise.
    async fn users(
        &self,
        caller: &Caller,
        names: Vec<String>,
    ) -> Result<Vec<Result<String, String>>, CasError> {
        if names.len() > MAX_USERS {
            return Err(CasError::bad_request(format!("at most {MAX_USERS} users")));
        }
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            let (user, domain) = parse_peer(&n, &caller.domain)?;
            let known = self
                .store
                .credentials(&domain, &user)
                .await
                .map_err(store_error)?
                .is_some();
            let aor = format!("{user}@{domain}");
            out.push(if known { Ok(aor) } else { Err(aor) });
        }
        Ok(out)
    }

    async fn get(&self, caller: &Caller, req: &Request, follow: bool) -> Result<Object, CasError> {
        let rollup = rollup(req)?;
        let mut names = req.str_list("users")?;
        if names.is_empty() {
            if follow {
                return Err(CasError::bad_request("name the users to follow"));
            }
            names.push(caller.aor());
        }
        let me = caller.aor();
        let users = self.users(caller, names).await?;
        if follow || req.subscribe {
            let mut t = self.presence.lock();
            let set = t.watching.get(&me);
            let new = users
                .iter()
                .filter(|u| {
                    let (Ok(aor) | Err(aor)) = u;
                    !set.is_some_and(|s| s.contains(aor))
                })
                .count();
            if set.map_or(0, |s| s.len()) + new > MAX_FOLLOWED {
                return Err(CasError::bad_request(format!(
                    "a user follows at most {MAX_FOLLOWED} users"
                )));
            }
            for u in &users {
                // Unknown users are followed too: `unsubscribe` must not tell them apart.
                let (Ok(aor) | Err(aor)) = u;
                t.watch(&me, aor, rollup);
            }
        }
        let mut list = Vec::new();
        for u in users {
            let o = match u {
                Ok(aor) => self.presence.seen_by(&me, &aor, rollup),
                // No user enumeration: an unknown user looks like one who hides their
                // presence, or (where a stranger would wait for a decision) like one who has
                // not decided yet.
                Err(aor) => {
                    let default = self.presence.config().same_domain_default;
                    let pending = auth::decide(None, default, &me, &aor) == Authz::Pending;
                    render::unauthorized(&aor, pending)
                }
            };
            list.push(Value::Object(o));
        }
        let mut o = Object::new();
        o.insert("presence".into(), Value::Array(list));
        Ok(o)
    }

    async fn set(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let me = caller.aor();
        let status = match req.opt_str("status")? {
            None => None,
            Some("auto") => Some(None),
            Some(s) => Some(Some(Manual::parse(s).ok_or_else(|| {
                CasError::bad_request(format!(
                    "unknown status '{s}': available, away, busy, dnd or auto"
                ))
            })?)),
        };
        let note = match req.opt_str("note")? {
            None => None,
            Some(n) => Some(check_note(n)?),
        };
        let mobile = req.opt_bool("mobile")?;
        let durable = status.is_some() || note.is_some();
        let (ack, done) = oneshot::channel();
        self.presence.change(|t, _| {
            let p = t.person(&me);
            if let Some(s) = status {
                p.manual = s;
            }
            if let Some(n) = note {
                p.note = n;
            }
            match mobile {
                Some(true) => {
                    p.mobile.insert(caller.session);
                }
                Some(false) => {
                    p.mobile.remove(&caller.session);
                }
                None => {}
            }
            if durable {
                self.presence.inner.writes.settings(t, &me, Some(ack));
            }
            ((), t.refresh(&me).into_iter().collect())
        });
        if durable {
            wait(done).await?;
        }
        let manual = self.presence.lock().people.get(&me).and_then(|p| p.manual);
        let mut o = self.presence.seen_by(&me, &me, Rollup::Compound);
        o.insert(
            "status".into(),
            json!(manual.map_or("auto", Manual::as_str)),
        );
        Ok(o)
    }

    fn unsubscribe(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let me = caller.aor();
        let names = req.str_list("users")?;
        let mut t = self.presence.lock();
        if names.is_empty() {
            t.unwatch_all(&me);
        } else {
            for n in names {
                let (user, domain) = parse_peer(&n, &caller.domain)?;
                t.unwatch(&me, &format!("{user}@{domain}"));
            }
        }
        let mut watching: Vec<String> = t
            .watching
            .get(&me)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        watching.sort();
        let mut o = Object::new();
        o.insert("watching".into(), json!(watching));
        Ok(o)
    }

    fn watchers(&self, caller: &Caller) -> Object {
        let me = caller.aor();
        let default = self.presence.config().same_domain_default;
        let t = self.presence.lock();
        let rules = t.rules.get(&me);
        let mut users: std::collections::BTreeMap<String, Option<Decision>> = rules
            .map(|r| {
                r.watchers
                    .iter()
                    .map(|(w, d)| (w.clone(), Some(*d)))
                    .collect()
            })
            .unwrap_or_default();
        let following = t.watchers.get(&me);
        for w in following.into_iter().flat_map(|m| m.keys()) {
            users.entry(w.clone()).or_insert(None);
        }
        let list: Vec<Value> = users
            .into_iter()
            .filter(|(w, _)| *w != me)
            .map(|(w, d)| {
                let authz = auth::decide(rules, default, &w, &me);
                json!({
                    "user": w,
                    "decision": d.map_or("default", Decision::as_str),
                    "authorized": authz == Authz::Allow,
                    "watching": following.is_some_and(|m| m.contains_key(&w)),
                })
            })
            .collect();
        let mut o = Object::new();
        o.insert("watchers".into(), Value::Array(list));
        o
    }

    async fn authorize(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let me = caller.aor();
        let (user, domain) = parse_peer(req.str("watcher")?, &caller.domain)?;
        let watcher = format!("{user}@{domain}");
        let decision = match req.str("decision")? {
            "forget" => None,
            d => Some(
                Decision::parse(d)
                    .filter(|d| *d != Decision::Pending)
                    .ok_or_else(|| {
                        CasError::bad_request(format!(
                            "unknown decision '{d}': allow, deny, block or forget"
                        ))
                    })?,
            ),
        };
        let (ack, done) = oneshot::channel();
        {
            let mut t = self.presence.lock();
            let r = t.rules.entry(me.clone()).or_default();
            match decision {
                Some(d) => {
                    if r.watchers.len() >= MAX_DECISIONS && !r.watchers.contains_key(&watcher) {
                        return Err(too_many_decisions());
                    }
                    r.watchers.insert(watcher.clone(), d);
                }
                None => {
                    r.watchers.remove(&watcher);
                }
            }
            self.presence
                .inner
                .writes
                .decision(&me, &watcher, decision, Some(ack));
        }
        wait(done).await?;
        self.presence
            .auth_changed(&me, std::slice::from_ref(&watcher));
        let authz = self.presence.may_see(&watcher, &me);
        let mut o = Object::new();
        o.insert("watcher".into(), json!(watcher));
        o.insert(
            "decision".into(),
            json!(decision.map_or("forget", Decision::as_str)),
        );
        o.insert("authorized".into(), json!(authz == Authz::Allow));
        Ok(o)
    }

    async fn rules(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let me = caller.aor();
        let visible = req.opt_bool("visible")?;
        let same_domain = match req.opt_str("same_domain")? {
            None => None,
            Some("default") => Some(None),
            Some(s) => Some(Some(SameDomain::parse(s).ok_or_else(|| {
                CasError::bad_request(format!(
                    "unknown same_domain '{s}': allow, pending or default"
                ))
            })?)),
        };
        let mut lists: Vec<(Decision, Vec<String>)> = Vec::new();
        for (field, d) in [
            ("allow", Decision::Allow),
            ("deny", Decision::Deny),
            ("block", Decision::Block),
        ] {
            if req.fields.contains_key(field) {
                let mut users = Vec::new();
                for n in req.str_list(field)? {
                    let (user, domain) = parse_peer(&n, &caller.domain)?;
                    users.push(format!("{user}@{domain}"));
                }
                if users.len() > 10 * MAX_USERS {
                    return Err(CasError::bad_request("list too long"));
                }
                lists.push((d, users));
            }
        }
        let writes = visible.is_some() || same_domain.is_some() || !lists.is_empty();
        if writes {
            caller.require("presence.write")?;
            self.set_rules(&me, visible, same_domain, lists).await?;
        }
        Ok(self.rules_view(&me))
    }

    async fn set_rules(
        &self,
        me: &str,
        visible: Option<bool>,
        same_domain: Option<Option<SameDomain>>,
        lists: Vec<(Decision, Vec<String>)>,
    ) -> Result<(), CasError> {
        let mut acks = Vec::new();
        let mut touched: Vec<String> = Vec::new();
        {
            let mut t = self.presence.lock();
            let before = t.rules.get(me).cloned().unwrap_or_default();
            let mut after = before.clone();
            if let Some(v) = visible {
                after.visible = v;
            }
            if let Some(s) = same_domain {
                after.same_domain = s;
            }
            for (d, users) in &lists {
                after.watchers.retain(|_, x| x != d);
                for u in users {
                    after.watchers.insert(u.clone(), *d);
                }
            }
            if after.watchers.len() > MAX_DECISIONS {
                return Err(too_many_decisions());
            }
            t.rules.insert(me.to_owned(), after.clone());
            let writes = &self.presence.inner.writes;
            let watchers: std::collections::BTreeSet<&String> = before
                .watchers
                .keys()
                .chain(after.watchers.keys())
                .collect();
            for w in watchers {
                let (b, a) = (before.watchers.get(w), after.watchers.get(w));
                if b != a {
                    let (ack, done) = oneshot::channel();
                    writes.decision(me, w, a.copied(), Some(ack));
                    acks.push(done);
                    touched.push(w.clone());
                }
            }
            if before.visible != after.visible || before.same_domain != after.same_domain {
                let (ack, done) = oneshot::channel();
                writes.settings(&t, me, Some(ack));
                acks.push(done);
                // Everyone may be affected: CAS followers, SIP watchers (those that asked
                // `authorize`) and every watcher decided about.
                touched.extend(
                    t.watchers
                        .get(me)
                        .into_iter()
                        .flat_map(|m| m.keys().cloned()),
                );
                touched.extend(t.askers.get(me).into_iter().flat_map(|m| m.keys().cloned()));
                touched.extend(after.watchers.keys().cloned());
            }
        }
        for done in acks {
            wait(done).await?;
        }
        if !touched.is_empty() {
            touched.sort();
            touched.dedup();
            self.presence.auth_changed(me, &touched);
        }
        Ok(())
    }

    fn rules_view(&self, me: &str) -> Object {
        let default = self.presence.config().same_domain_default;
        let t = self.presence.lock();
        let r = t.rules.get(me).cloned().unwrap_or_default();
        let list = |d: Decision| -> Vec<&String> {
            r.watchers
                .iter()
                .filter(|(_, x)| **x == d)
                .map(|(w, _)| w)
                .collect()
        };
        let mut o = Object::new();
        o.insert("visible".into(), json!(r.visible));
        o.insert(
            "same_domain".into(),
            json!(r.same_domain.map_or("default", SameDomain::as_str)),
        );
        o.insert("same_domain_default".into(), json!(default.as_str()));
        o.insert("allow".into(), json!(list(Decision::Allow)));
        o.insert("deny".into(), json!(list(Decision::Deny)));
        o.insert("block".into(), json!(list(Decision::Block)));
        o.insert("pending".into(), json!(list(Decision::Pending)));
        o
    }
}

impl Presence {
    /// What `watcher` may see of `aor` under `rollup`; an undecided request is listed as
    /// pending on the way.
    pub fn seen_by(&self, watcher: &str, aor: &str, rollup: Rollup) -> Object {
        match self.may_see(watcher, aor) {
            Authz::Allow => {
                let (version, view) = self.view(aor);
                render::json(aor, version, &view, rollup)
            }
            Authz::Pending => {
                self.add_pending(watcher, aor);
                render::unauthorized(aor, true)
            }
            Authz::Deny => render::unauthorized(aor, false),
        }
    }

    /// Decisions about `watchers` of `presentity` changed: tell the SIP face, and send the
    /// current state to CAS followers that may now see it.
    pub(super) fn auth_changed(&self, presentity: &str, watchers: &[String]) {
        for w in watchers {
            self.inner.bus.publish(BusEvent::PresenceAuthChanged {
                presentity: presentity.to_owned(),
                watcher: w.clone(),
            });
        }
        let followers: Vec<(String, Rollup)> = {
            let t = self.lock();
            t.authorized_watchers(presentity)
                .into_iter()
                .filter(|(w, _)| watchers.contains(w))
                .collect()
        };
        let (version, view) = self.view(presentity);
        for (w, rollup) in followers {
            let mut event = render::json(presentity, version, &view, rollup);
            event.insert("message".into(), json!("presence"));
            self.inner.bus.publish(BusEvent::Notice {
                topic: "presence".into(),
                key: Some(presentity.to_owned()),
                audience: Audience::Users(vec![w]),
                event,
                always: true,
            });
        }
    }
}

/// Tells `presentity`'s sessions that `watcher` waits for a decision.
pub(super) fn tell_pending(bus: &Bus, presentity: &str, watcher: &str) {
    let mut event = Object::new();
    event.insert("message".into(), json!("watcher"));
    event.insert("watcher".into(), json!(watcher));
    event.insert("decision".into(), json!("pending"));
    bus.publish(BusEvent::Notice {
        topic: "presence".into(),
        key: None,
        audience: Audience::Users(vec![presentity.to_owned()]),
        event,
        always: true,
    });
}

fn rollup(req: &Request) -> Result<Rollup, CasError> {
    match req.opt_str("rollup")? {
        None => Ok(Rollup::default()),
        Some(s) => Rollup::parse(s).ok_or_else(|| {
            CasError::bad_request(format!(
                "unknown rollup '{s}': compound, most-available or semi-available"
            ))
        }),
    }
}

/// A note as stored: trimmed, `None` when empty.
fn check_note(n: &str) -> Result<Option<String>, CasError> {
    let n = n.trim();
    if n.chars().count() > MAX_NOTE {
        return Err(CasError::bad_request(format!(
            "a note has at most {MAX_NOTE} characters"
        )));
    }
    if n.chars().any(char::is_control) {
        return Err(CasError::bad_request(
            "a note must not contain control characters",
        ));
    }
    Ok((!n.is_empty()).then(|| n.to_owned()))
}

async fn wait(done: oneshot::Receiver<Result<(), store::StoreError>>) -> Result<(), CasError> {
    match done.await {
        Ok(r) => r.map_err(store_error),
        Err(_) => Err(CasError::internal()),
    }
}

impl Provider for PresenceTopic {
    fn spec(&self) -> &'static TopicSpec {
        &super::SPEC
    }

    fn handle<'a>(
        &'a self,
        caller: &'a Caller,
        req: &'a Request,
    ) -> BoxFuture<'a, Result<Outcome, CasError>> {
        Box::pin(async move {
            if let Some(action) = super::SPEC.message(&req.message).and_then(|m| m.action) {
                caller.require(action)?;
            }
            let body = match req.message.as_str() {
                "get" => self.get(caller, req, false).await?,
                "subscribe" => self.get(caller, req, true).await?,
                "set" => self.set(caller, req).await?,
                "unsubscribe" => self.unsubscribe(caller, req)?,
                "watchers" => self.watchers(caller),
                "authorize" => self.authorize(caller, req).await?,
                "rules" => self.rules(caller, req).await?,
                other => {
                    return Err(CasError::not_found(format!(
                        "unknown message presence.{other}"
                    )));
                }
            };
            Ok(Outcome::Done(body))
        })
    }
}
