//! `dir`: the directory provider. The system directory is the users of the caller's domain
//! (never another domain's); personal contacts, distribution lists and speed dials belong
//! to one user, and another user's object answers 404 (not 403), so its existence does not
//! leak. Contacts can be imported from vCard and CSV files. Lookups can carry presence (from
//! `services::presence`, only what the caller may see) and subscribe to its changes.
//!
//! What it does not do: parse SIP, or keep its own copy of the users (the store is read on
//! every lookup, so a user added by an administrator appears at once).

mod contact;
mod csv;
mod import;
mod lists;
mod lookup;
mod presence;
mod spec;
mod vcard;

use std::sync::Arc;

use cas_proto::{CasError, Object, Request, TopicSpec};
use serde_json::{Value, json};
use store::{Store, StoreError};

use crate::bus::{Audience, Bus, BusEvent};
use crate::provider::{BoxFuture, Caller, Outcome, Provider, store_error};

pub use contact::Contact;
pub use spec::SPEC;

use lookup::{Field, Query};
use presence::Watchers;

/// Contacts one user may keep.
const MAX_CONTACTS: usize = 10_000;

pub struct Directory {
    store: Store,
    bus: Bus,
    presence: crate::presence::Presence,
    watchers: Arc<Watchers>,
    /// The domains' users as directory entries, rebuilt only when the store's
    /// `directory_version` changes (a lookup then costs a scan, not a query of every user).
    system: std::sync::Mutex<std::collections::HashMap<String, SystemEntries>>,
    /// Personal contacts per `user@domain`, dropped on every write through this provider
    /// and whenever users change.
    personal: std::sync::Mutex<std::collections::HashMap<String, PersonalEntries>>,
    /// The store's `directory_version`, polled once a second by a background task, so a
    /// lookup costs no query to know whether its caches are current.
    version: Arc<std::sync::atomic::AtomicI64>,
}

/// A user's personal contacts with the `directory_version` they were read at.
type PersonalEntries = (i64, Arc<Vec<(i64, Contact)>>);

/// A domain's users as entries, with the `directory_version` they were read at.
type SystemEntries = (i64, Arc<Vec<Contact>>);

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A lookup result before it becomes JSON.
enum EntryId {
    /// A user of the domain, `user@domain`.
    System(String),
    /// A personal contact.
    Personal(i64),
}

impl Directory {
    /// The directory over `store`; lookups show `presence` and follow it on the bus.
    pub async fn new(
        store: Store,
        bus: Bus,
        presence: crate::presence::Presence,
    ) -> Result<Directory, StoreError> {
        let watchers = Arc::new(Watchers::default());
        presence::follow(
            watchers.clone(),
            presence.clone(),
            bus.clone(),
            bus.subscribe(),
        );
        let version = Arc::new(std::sync::atomic::AtomicI64::new(
            store.directory_version().await?,
        ));
        let (poll_store, poll_version) = (store.clone(), version.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                if let Ok(v) = poll_store.directory_version().await {
                    poll_version.store(v, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        Ok(Directory {
            store,
            bus,
            presence,
            watchers,
            system: std::sync::Mutex::default(),
            personal: std::sync::Mutex::default(),
            version,
        })
    }

    async fn run(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        // The face checks this too; checking here keeps the provider safe on its own.
        if let Some(action) = SPEC.message(&req.message).and_then(|m| m.action) {
            caller.require(action)?;
        }
        let read_only = matches!(
            req.message.as_str(),
            "lookup_contacts" | "contact_get" | "lists" | "speed_dials"
        );
        if !read_only && let Ok(mut m) = self.personal.lock() {
            // Any write may change the caller's contacts; read them afresh next time.
            m.remove(&caller.aor());
        }
        match req.message.as_str() {
            "lookup_contacts" => self.lookup(caller, req).await,
            "contact_add" => self.contact_add(caller, req).await,
            "contact_get" => {
                let id = id(req)?;
                let c = self.contact(caller, id).await?;
                Ok(one("contact", personal(caller, id, &c, Field::ALL)))
            }
            "contact_update" => self.contact_update(caller, req).await,
            "contact_delete" => {
                let id = id(req)?;
                self.store
                    .delete_contact(&caller.domain, &caller.user, id)
                    .await
                    .map_err(store_error)?;
                self.tell_owner(
                    caller,
                    "contact_changed",
                    json!({"change": "deleted", "id": id}),
                );
                Ok(Object::new())
            }
            "lists" => self.lists(caller).await,
            "list_create" => self.list_create(caller, req).await,
            "list_delete" => self.list_delete(caller, req).await,
            "list_add" => self.list_member(caller, req, true).await,
            "list_remove" => self.list_member(caller, req, false).await,
            "speed_dials" => self.speed_dials(caller).await,
            "speed_dial_set" => self.speed_dial_set(caller, req).await,
            "speed_dial_delete" => self.speed_dial_delete(caller, req).await,
            "import" => {
                let format = import::Format::named(req.str("format")?)?;
                self.import(caller, format, req.str("data")?).await
            }
            "upload" => self.upload(caller, req).await,
            other => Err(CasError::not_found(format!("unknown message dir.{other}"))),
        }
    }

    /// The system directory of a domain, from the cache when users did not change.
    async fn system_entries(&self, domain: &str) -> Result<Arc<Vec<Contact>>, CasError> {
        let version = self.version.load(std::sync::atomic::Ordering::Relaxed);
        let cached = self.system.lock().ok().and_then(|m| {
            m.get(domain)
                .filter(|(v, _)| *v == version)
                .map(|(_, c)| c.clone())
        });
        if let Some(c) = cached {
            return Ok(c);
        }
        let users = self.store.users(domain).await.map_err(store_error)?;
        let entries: Arc<Vec<Contact>> = Arc::new(
            users
                .into_iter()
                .map(|u| {
                    let aor = crate::registrar::aor_key(&u, domain);
                    Contact {
                        sip: format!("sip:{aor}"),
                        name: u,
                        ..Contact::default()
                    }
                })
                .collect(),
        );
        if let Ok(mut m) = self.system.lock() {
            m.insert(domain.to_owned(), (version, entries.clone()));
        }
        Ok(entries)
    }

    async fn lookup(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let query = Query::from_request(req)?;
        let (system_too, personal_too) = match req.opt_str("scope")?.unwrap_or("all") {
            "all" => (true, true),
            "system" => (true, false),
            "personal" => (false, true),
            other => {
                return Err(CasError::bad_request(format!(
                    "unknown scope '{other}' (all, system or personal)"
                )));
            }
        };
        let with_presence = req.opt_bool("presence")?.unwrap_or(false);
        let mut entries: Vec<(EntryId, Contact)> = Vec::new();
        if system_too {
            let users = self.system_entries(&caller.domain).await?;
            // Only matching entries are copied out of the cache.
            entries.extend(users.iter().filter(|c| query.matches(c)).map(|c| {
                let aor = c.sip.trim_start_matches("sip:").to_owned();
                (EntryId::System(aor), c.clone())
            }));
        }
        if personal_too {
            let mine = self.contacts_cached(caller).await?;
            entries.extend(
                mine.iter()
                    .filter(|(_, c)| query.matches(c))
                    .map(|(id, c)| (EntryId::Personal(*id), c.clone())),
            );
        }
        let (total, page) = query.run(entries);
        let mut watched = Vec::new();
        let mut out = Vec::with_capacity(page.len());
        for (id, c) in page {
            let local = match &id {
                EntryId::System(aor) => Some(aor.clone()),
                EntryId::Personal(_) => contact::local_aor(&c.sip, &caller.domain),
            };
            let mut o = match id {
                EntryId::System(aor) => system(&aor, &c, query.returned()),
                EntryId::Personal(id) => personal(caller, id, &c, query.returned()),
            };
            if let Some(aor) = local {
                if with_presence {
                    let state = presence::presence_value(&self.presence, &caller.aor(), &aor);
                    o.insert("presence".into(), state);
                }
                watched.push(aor);
            }
            out.push(Value::Object(o));
        }
        if req.subscribe {
            self.watchers.watch(&caller.aor(), watched);
        }
        let mut body = Object::new();
        body.insert("contacts".into(), Value::Array(out));
        body.insert("total".into(), json!(total));
        Ok(body)
    }

    async fn contact_add(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let mut c = Contact::default();
        c.apply(&req.fields).map_err(CasError::bad_request)?;
        let c = c.normalized().map_err(CasError::bad_request)?;
        let ids = self
            .store
            .add_contacts(
                &caller.domain,
                &caller.user,
                &[c.card()],
                MAX_CONTACTS,
                unix_now(),
            )
            .await
            .map_err(store_error)?;
        let id = ids.first().copied().ok_or_else(CasError::internal)?;
        self.tell_owner(
            caller,
            "contact_changed",
            json!({"change": "added", "id": id}),
        );
        Ok(one("contact", personal(caller, id, &c, Field::ALL)))
    }

    async fn contact_update(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let id = id(req)?;
        let mut c = self.contact(caller, id).await?;
        c.apply(&req.fields).map_err(CasError::bad_request)?;
        let c = c.normalized().map_err(CasError::bad_request)?;
        self.store
            .update_contact(&caller.domain, &caller.user, id, &c.card(), unix_now())
            .await
            .map_err(store_error)?;
        self.tell_owner(
            caller,
            "contact_changed",
            json!({"change": "updated", "id": id}),
        );
        Ok(one("contact", personal(caller, id, &c, Field::ALL)))
    }

    /// One of the caller's contacts; another user's is "not found".
    async fn contact(&self, caller: &Caller, id: i64) -> Result<Contact, CasError> {
        let card = self
            .store
            .contact(&caller.domain, &caller.user, id)
            .await
            .map_err(store_error)?;
        Contact::from_card(&card).ok_or_else(|| {
            tracing::error!(contact = id, "unreadable contact card");
            CasError::internal()
        })
    }

    /// The caller's contacts; an unreadable card is logged and skipped, not fatal.
    async fn contacts(&self, caller: &Caller) -> Result<Vec<(i64, Contact)>, CasError> {
        Ok(self.contacts_cached(caller).await?.as_ref().clone())
    }

    /// The caller's contacts, from the cache when nothing changed since they were read.
    async fn contacts_cached(&self, caller: &Caller) -> Result<Arc<Vec<(i64, Contact)>>, CasError> {
        let version = self.version.load(std::sync::atomic::Ordering::Relaxed);
        let key = caller.aor();
        let cached = self.personal.lock().ok().and_then(|m| {
            m.get(&key)
                .filter(|(v, _)| *v == version)
                .map(|(_, c)| c.clone())
        });
        if let Some(c) = cached {
            return Ok(c);
        }
        let rows = self
            .store
            .contacts(&caller.domain, &caller.user)
            .await
            .map_err(store_error)?;
        let list: Arc<Vec<(i64, Contact)>> = Arc::new(
            rows.into_iter()
                .filter_map(|(id, card)| {
                    let c = Contact::from_card(&card);
                    if c.is_none() {
                        tracing::error!(contact = id, "unreadable contact card");
                    }
                    c.map(|c| (id, c))
                })
                .collect(),
        );
        if let Ok(mut m) = self.personal.lock() {
            m.insert(key, (version, list.clone()));
        }
        Ok(list)
    }

    /// Tells the caller's other sessions (subscribed to `dir`) what changed.
    fn tell_owner(&self, caller: &Caller, message: &str, body: Value) {
        let mut event = body.as_object().cloned().unwrap_or_default();
        event.insert("message".into(), json!(message));
        self.bus.publish(BusEvent::Notice {
            topic: SPEC.topic.into(),
            key: None,
            audience: Audience::Users(vec![caller.aor()]),
            event,
            always: false,
        });
    }
}

impl Provider for Directory {
    fn spec(&self) -> &'static TopicSpec {
        &SPEC
    }

    fn handle<'a>(
        &'a self,
        caller: &'a Caller,
        req: &'a Request,
    ) -> BoxFuture<'a, Result<Outcome, CasError>> {
        Box::pin(async move { self.run(caller, req).await.map(Outcome::Done) })
    }
}

fn id(req: &Request) -> Result<i64, CasError> {
    req.fields
        .get("id")
        .and_then(Value::as_i64)
        .ok_or_else(|| CasError::bad_request("field 'id' must be an integer"))
}

fn one(key: &str, o: Object) -> Object {
    let mut body = Object::new();
    body.insert(key.into(), Value::Object(o));
    body
}

fn system(aor: &str, c: &Contact, fields: &[Field]) -> Object {
    let mut o = c.object(fields);
    o.insert("kind".into(), json!("system"));
    o.insert("user".into(), json!(aor));
    o.insert(
        "permissions".into(),
        json!({"edit": false, "delete": false, "call": true}),
    );
    o
}

fn personal(caller: &Caller, id: i64, c: &Contact, fields: &[Field]) -> Object {
    let write = caller.perms.allows("dir.write");
    let mut o = c.object(fields);
    o.insert("kind".into(), json!("personal"));
    o.insert("id".into(), json!(id));
    o.insert(
        "permissions".into(),
        json!({"edit": write, "delete": write, "call": true}),
    );
    o
}

#[cfg(test)]
mod tests;
