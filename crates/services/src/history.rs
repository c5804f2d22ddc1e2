//! Call history, the CAS `history` topic: every call a user placed, received or missed, across
//! all their devices or for one device, built from the call records the SIP core writes.
//! Users annotate entries and delete them from their own view (the other party keeps theirs).
//!
//! New entries are announced live: on `BusEvent::CallEnded` each party's subscribed sessions
//! get `entry_added` with the entry as that party sees it (the direction differs per side).
//!
//! Per-device history covers the calls a device took part in: the caller's device, and the
//! callee's device that answered. A missed call rang every device, so it belongs to none.

mod entry;

pub use entry::{Direction, entry_json};

use cas_proto::catalogue::{FieldKind as K, opt, req};
use cas_proto::{CasError, MessageSpec, Object, Request, TopicSpec};
use serde_json::{Value, json};
use store::{CallRecord, Store};
use tokio::sync::broadcast::error::RecvError;
use tracing::warn;

use crate::bus::{Audience, Bus, BusEvent};
use crate::perms::Permissions;
use crate::provider::{BoxFuture, Caller, Outcome, Provider, store_error};
use crate::registrar::aor_key;

/// Entries per `list` unless asked otherwise, and at most.
const DEFAULT_MAX: u64 = 50;
const MAX_MAX: u64 = 500;

pub static SPEC: TopicSpec = TopicSpec {
    topic: "history",
    doc: "Call history per user and per device, newest first. An entry: `id`, `direction` \
          (`placed`, `received`, `missed`), `peer` (SIP URI), `device` (the user's contact URI \
          in the call, absent for missed calls), `started_at`, `answered_at`, `ended_at` (Unix \
          ms), `duration_s`, `disposition` (`answered`, `missed`, `busy`, `rejected`, `failed`, \
          `cancelled`), `status` (final SIP status), `note`, `permissions` `{delete, annotate}`. \
          Subscribe (e.g. `list` with `subscribe: true`) for `entry_added`.",
    restricted: true,
    messages: &[
        MessageSpec {
            message: "list",
            action: Some("history.read"),
            fields: &[
                opt(
                    "filter",
                    K::Str,
                    "`all` (default), `placed`, `received` or `missed`",
                ),
                opt("device", K::Str, "only calls of this device (contact URI)"),
                opt("max", K::Int, "entries to return, 1–500 (default 50)"),
                opt(
                    "before",
                    K::Int,
                    "only calls started before this time (Unix ms), to page",
                ),
            ],
            doc: "The user's history.",
            reply: "`entries`, `more` (older entries exist), `next_before` (pass as `before` \
                    for the next page), `permissions`",
            is_async: false,
        },
        MessageSpec {
            message: "devices",
            action: Some("history.read"),
            fields: &[],
            doc: "The user's devices seen in their history, most recently used first.",
            reply: "`devices`: list of `{device, last_used, calls}`",
            is_async: false,
        },
        MessageSpec {
            message: "note",
            action: Some("history.annotate"),
            fields: &[
                req("id", K::Str, "entry id"),
                req(
                    "text",
                    K::Str,
                    "the note (up to 1000 characters); empty clears it",
                ),
            ],
            doc: "Sets or replaces the user's note on an entry; the other party does not see it.",
            reply: "`entry`",
            is_async: false,
        },
        MessageSpec {
            message: "delete",
            action: Some("history.delete"),
            fields: &[req("id", K::Str, "entry id")],
            doc: "Removes an entry from the user's history only.",
            reply: "`id`, `deleted: true`",
            is_async: false,
        },
    ],
    events: &[
        ("entry_added", "`entry`: a call of the user ended"),
        ("entry_updated", "`entry`: the user's note changed"),
        ("entry_deleted", "`id`: the user deleted an entry"),
    ],
    actions: &["history.read", "history.annotate", "history.delete"],
};

/// The `history` provider.
pub struct History {
    store: Store,
    bus: Bus,
}

impl History {
    /// Also starts announcing ended calls to their parties (`entry_added`), judged by each
    /// party's role at that moment.
    pub fn start(store: Store, bus: Bus, perms: Permissions) -> History {
        let mut rx = bus.subscribe();
        let out = bus.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(BusEvent::CallEnded(rec)) => announce(&out, &perms, &rec).await,
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => {
                        warn!(lost = n, "history bus listener lagged");
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
        History { store, bus }
    }

    async fn list(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let filter = entry::check_filter(req.opt_str("filter")?.unwrap_or("all"))?;
        let device = req.opt_str("device")?;
        let max = req.opt_u64("max")?.unwrap_or(DEFAULT_MAX);
        if max == 0 {
            return Err(CasError::bad_request("max must be at least 1"));
        }
        let max = u32::try_from(max.min(MAX_MAX)).unwrap_or(u32::MAX);
        let before = req
            .opt_u64("before")?
            .map(i64::try_from)
            .transpose()
            .map_err(|_| CasError::bad_request("before is out of range"))?;
        let party = party(caller);
        // One more than asked tells whether another page exists.
        let mut rows = self
            .store
            .history(&party, filter, device, before, max.saturating_add(1))
            .await
            .map_err(store_error)?;
        let more = rows.len() > max as usize;
        rows.truncate(max as usize);
        let mut o = Object::new();
        if more && let Some((last, _)) = rows.last() {
            o.insert("next_before".into(), json!(last.started_at));
        }
        let entries: Vec<Value> = rows
            .iter()
            .map(|(rec, note)| {
                Value::Object(entry_json(rec, &party, note.as_deref(), &caller.perms))
            })
            .collect();
        o.insert("entries".into(), Value::Array(entries));
        o.insert("more".into(), json!(more));
        o.insert("permissions".into(), entry::permissions(&caller.perms));
        Ok(o)
    }

    async fn devices(&self, caller: &Caller) -> Result<Object, CasError> {
        let rows = self
            .store
            .history_devices(&party(caller))
            .await
            .map_err(store_error)?;
        let list: Vec<Value> = rows
            .into_iter()
            .map(|(device, last_used, calls)| {
                json!({"device": device, "last_used": last_used, "calls": calls})
            })
            .collect();
        let mut o = Object::new();
        o.insert("devices".into(), Value::Array(list));
        Ok(o)
    }

    async fn note(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let id = req.str("id")?;
        let text = req.str("text")?;
        if text.chars().count() > entry::MAX_NOTE {
            return Err(CasError::bad_request(format!(
                "a note has at most {} characters",
                entry::MAX_NOTE
            )));
        }
        let party = party(caller);
        let note = (!text.trim().is_empty()).then_some(text);
        self.store
            .set_history_note(&party, id, note)
            .await
            .map_err(store_error)?;
        let (rec, note) = self
            .store
            .history_entry(&party, id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| CasError::not_found(format!("no such history entry {id}")))?;
        let entry = Value::Object(entry_json(&rec, &party, note.as_deref(), &caller.perms));
        self.notify(caller, "entry_updated", "entry", entry.clone());
        let mut o = Object::new();
        o.insert("entry".into(), entry);
        Ok(o)
    }

    async fn delete(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let id = req.str("id")?;
        self.store
            .hide_history_entry(&party(caller), id)
            .await
            .map_err(store_error)?;
        self.notify(caller, "entry_deleted", "id", json!(id));
        let mut o = Object::new();
        o.insert("id".into(), json!(id));
        o.insert("deleted".into(), json!(true));
        Ok(o)
    }

    /// Tells the user's subscribed sessions (including the one that asked) of a change.
    fn notify(&self, caller: &Caller, message: &str, field: &str, value: Value) {
        let mut event = Object::new();
        event.insert("message".into(), json!(message));
        event.insert(field.into(), value);
        self.bus.publish(BusEvent::Notice {
            topic: SPEC.topic.to_owned(),
            key: None,
            audience: Audience::Users(vec![aor_key(&caller.user, &caller.domain)]),
            event,
            always: false,
        });
    }
}

impl Provider for History {
    fn spec(&self) -> &'static TopicSpec {
        &SPEC
    }

    fn handle<'a>(
        &'a self,
        caller: &'a Caller,
        req: &'a Request,
    ) -> BoxFuture<'a, Result<Outcome, CasError>> {
        Box::pin(async move {
            let body = match req.message.as_str() {
                "list" => self.list(caller, req).await?,
                "devices" => self.devices(caller).await?,
                "note" => self.note(caller, req).await?,
                "delete" => self.delete(caller, req).await?,
                other => {
                    return Err(CasError::not_found(format!(
                        "unknown message history.{other}"
                    )));
                }
            };
            Ok(Outcome::Done(body))
        })
    }
}

/// The caller as the call records name them.
fn party(caller: &Caller) -> String {
    format!("sip:{}", aor_key(&caller.user, &caller.domain))
}

/// Publishes `entry_added` to each party of an ended call, as that party sees it.
async fn announce(bus: &Bus, perms: &Permissions, rec: &CallRecord) {
    let mut parties = vec![rec.caller.as_str()];
    if rec.callee != rec.caller {
        parties.push(rec.callee.as_str());
    }
    for party in parties {
        let Some((user, domain)) = party.strip_prefix("sip:").and_then(|a| a.split_once('@'))
        else {
            continue;
        };
        let role = match perms.role_of(domain, user).await {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "cannot read a role for a history notice");
                continue;
            }
        };
        let set = perms.of_role(&role);
        if !set.allows("history.read") {
            continue;
        }
        let mut event = Object::new();
        event.insert("message".into(), json!("entry_added"));
        event.insert(
            "entry".into(),
            Value::Object(entry_json(rec, party, None, &set)),
        );
        bus.publish(BusEvent::Notice {
            topic: SPEC.topic.to_owned(),
            key: None,
            audience: Audience::Users(vec![format!("{user}@{domain}")]),
            event,
            always: false,
        });
    }
}

#[cfg(test)]
mod tests;
