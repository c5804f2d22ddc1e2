//! `im`: instant messages between local users. A message sent by a CAS client or by a phone
//! (SIP MESSAGE, RFC 3428, handed over by the SIP face as `SipMessageIn`) is stored as
//! conversation history and pushed to every CAS session of the recipient (`received` event)
//! and every registered device (`SipMessageOut`); when the recipient has neither, it waits
//! and is pushed at their next login and next registration.
//!
//! The rules of what a message may be live in [`rules`] and are shared with the SIP face;
//! delivery is one actor ([`delivery`]). This module serves the CAS requests. It does not
//! send to users of other domains, nor keep receipts beyond "read".

pub mod delivery;
pub mod rules;

use cas_proto::catalogue::{FieldKind as K, opt, req};
use cas_proto::{CasError, MessageSpec, Object, Request, TopicSpec};
use serde_json::{Value, json};
use store::{Store, StoreError};

use crate::bus::{Audience, Bus, BusEvent};
use crate::provider::{BoxFuture, Caller, Outcome, Provider, store_error};
use delivery::{Delivery, Handle, Outgoing, Row};
use rules::{accepted_type, check_text, parse_peer};

/// Default and largest page of `history` and `conversations`.
const DEFAULT_PAGE: u64 = 50;
const MAX_PAGE: u64 = 500;

pub static SPEC: TopicSpec = TopicSpec {
    topic: "im",
    doc: "Instant messages between users of this server. A message reaches every CAS session \
          of its recipient as a `received` event (no subscription needed) and every \
          registered phone as a SIP MESSAGE; phones' MESSAGEs reach CAS clients the same way. \
          When the recipient has no session and no phone, the message is stored and pushed \
          at their next login and next registration. Users are named `bob`, \
          `bob@example.com` or `sip:bob@example.com`; messages are `text/plain` of at most \
          8 KiB.",
    restricted: true,
    messages: &[
        MessageSpec {
            message: "send",
            action: Some("im.send"),
            fields: &[
                req(
                    "to",
                    K::Str,
                    "the recipient: user name, user@domain or sip: URI",
                ),
                req("text", K::Str, "the message (at most 8192 bytes)"),
                opt(
                    "content_type",
                    K::Str,
                    "`text/plain` (the default and only type)",
                ),
            ],
            doc: "Sends a message; unknown recipients are 404, other types 415, too long 413.",
            reply: "`id`, `at` (ms), `to`, `delivered` {`sessions`, `devices`} (how many it \
                    was pushed to), `stored` (kept for the recipient's next login)",
            is_async: false,
        },
        MessageSpec {
            message: "history",
            action: Some("im.read"),
            fields: &[
                req("with", K::Str, "the other party"),
                opt("max", K::Int, "how many messages (default 50, at most 500)"),
                opt(
                    "before",
                    K::Int,
                    "only messages with an id below this one (paging)",
                ),
            ],
            doc: "The conversation with one user: the newest messages, oldest first.",
            reply: "`with`, `messages` [{`id`, `from`, `to`, `text`, `content_type`, `at`, \
                    `direction` (`in`/`out`), `read`, `permissions` {`reply`}}]",
            is_async: false,
        },
        MessageSpec {
            message: "conversations",
            action: Some("im.read"),
            fields: &[opt("max", K::Int, "how many (default 50, at most 500)")],
            doc: "Everyone the user exchanged messages with, most recent first.",
            reply: "`conversations` [{`with`, `unread`, `last` (a message as in history), \
                    `permissions` {`send`, `mark_read`}}]",
            is_async: false,
        },
        MessageSpec {
            message: "mark_read",
            action: Some("im.read"),
            fields: &[req("with", K::Str, "the other party")],
            doc: "Marks every message from that user read (the user's other sessions \
                  subscribed to `im` get a `read` event); stored messages still waiting for \
                  a phone are then not pushed to it.",
            reply: "`with`, `marked` (how many)",
            is_async: false,
        },
    ],
    events: &[
        (
            "received",
            "a message for this user: `id`, `from`, `to`, `text`, `content_type`, `at`, \
             `stored` (true when it waited for this login); sent to every session",
        ),
        (
            "sent",
            "a message this user sent from another client or a phone (same fields); to \
             sessions subscribed to `im` (key: the peer)",
        ),
        (
            "read",
            "this user marked a conversation read: `with`, `marked`; to sessions subscribed \
             to `im`",
        ),
    ],
    actions: &[],
};

/// The `im` provider.
#[derive(Debug, Clone)]
pub struct Im {
    store: Store,
    bus: Bus,
    delivery: Handle,
}

impl Im {
    /// Starts the delivery actor (it reads the stored bindings) and returns the provider.
    /// Call before the faces start, so no presence event is missed.
    pub async fn start(store: Store, bus: Bus) -> Result<Im, StoreError> {
        let delivery = delivery::spawn(store.clone(), bus.clone()).await?;
        Ok(Im {
            store,
            bus,
            delivery,
        })
    }

    async fn send(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let content_type = accepted_type(req.opt_str("content_type")?.unwrap_or("text/plain"))?;
        let text = req.str("text")?;
        check_text(text)?;
        let to = self.local_user(req.str("to")?, caller).await?;
        let d: Delivery = self
            .delivery
            .send(Outgoing {
                from: caller.aor(),
                to: to.clone(),
                content_type: content_type.to_owned(),
                text: text.to_owned(),
            })
            .await?;
        let mut o = Object::new();
        o.insert("id".into(), json!(d.id));
        o.insert("at".into(), json!(d.at));
        o.insert("to".into(), json!(to));
        o.insert(
            "delivered".into(),
            json!({"sessions": d.sessions, "devices": d.devices}),
        );
        o.insert("stored".into(), json!(d.stored));
        Ok(o)
    }

    async fn history(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let with = peer_aor(req.str("with")?, caller)?;
        let before = req
            .opt_u64("before")?
            .map(|b| i64::try_from(b).unwrap_or(i64::MAX));
        let me = caller.aor();
        let rows = self
            .store
            .im_history(&me, &with, before, page(req)?)
            .await
            .map_err(store_error)?;
        let can_reply = caller.perms.allows("im.send");
        let messages: Vec<Value> = rows
            .iter()
            .map(|r| Value::Object(message_view(r, &me, can_reply)))
            .collect();
        let mut o = Object::new();
        o.insert("with".into(), json!(with));
        o.insert("messages".into(), Value::Array(messages));
        Ok(o)
    }

    async fn conversations(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let me = caller.aor();
        let rows = self
            .store
            .im_conversations(&me, page(req)?)
            .await
            .map_err(store_error)?;
        let can_send = caller.perms.allows("im.send");
        let can_mark = caller.perms.allows("im.read");
        let list: Vec<Value> = rows
            .iter()
            .map(|(peer, unread, last)| {
                json!({
                    "with": peer,
                    "unread": unread,
                    "last": message_view(last, &me, can_send),
                    "permissions": {"send": can_send, "mark_read": can_mark},
                })
            })
            .collect();
        let mut o = Object::new();
        o.insert("conversations".into(), Value::Array(list));
        Ok(o)
    }

    async fn mark_read(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let with = peer_aor(req.str("with")?, caller)?;
        let me = caller.aor();
        let marked = self
            .store
            .im_mark_read(&me, &with, delivery::unix_ms())
            .await
            .map_err(store_error)?;
        let mut o = Object::new();
        o.insert("with".into(), json!(with));
        o.insert("marked".into(), json!(marked));
        if marked > 0 {
            let mut ev = o.clone();
            ev.insert("message".into(), json!("read"));
            self.bus.publish(BusEvent::Notice {
                topic: "im".into(),
                key: Some(with),
                audience: Audience::Users(vec![me]),
                event: ev,
                always: false,
            });
        }
        Ok(o)
    }

    /// `user@domain` of an existing local user, or 404.
    async fn local_user(&self, to: &str, caller: &Caller) -> Result<String, CasError> {
        let (user, domain) = parse_peer(to, &caller.domain)?;
        let known = self
            .store
            .credentials(&domain, &user)
            .await
            .map_err(store_error)?;
        match known {
            Some(_) => Ok(format!("{user}@{domain}")),
            None => Err(CasError::not_found(format!("no such user {user}@{domain}"))),
        }
    }
}

impl Provider for Im {
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
                "send" => self.send(caller, req).await?,
                "history" => self.history(caller, req).await?,
                "conversations" => self.conversations(caller, req).await?,
                "mark_read" => self.mark_read(caller, req).await?,
                other => return Err(CasError::not_found(format!("unknown message im.{other}"))),
            };
            Ok(Outcome::Done(body))
        })
    }
}

/// `user@domain` of a conversation partner (who may since have been removed).
fn peer_aor(with: &str, caller: &Caller) -> Result<String, CasError> {
    let (user, domain) = parse_peer(with, &caller.domain)?;
    Ok(format!("{user}@{domain}"))
}

fn page(req: &Request) -> Result<u32, CasError> {
    let n = req
        .opt_u64("max")?
        .unwrap_or(DEFAULT_PAGE)
        .clamp(1, MAX_PAGE);
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// One message as `me` sees it.
fn message_view(row: &Row, me: &str, can_reply: bool) -> Object {
    let (id, from, to, content_type, text, at, read_at) = row;
    let direction = if from == me { "out" } else { "in" };
    let mut o = Object::new();
    o.insert("id".into(), json!(id));
    o.insert("from".into(), json!(from));
    o.insert("to".into(), json!(to));
    o.insert("text".into(), json!(text));
    o.insert("content_type".into(), json!(content_type));
    o.insert("at".into(), json!(at));
    o.insert("direction".into(), json!(direction));
    o.insert("read".into(), json!(read_at.is_some()));
    o.insert("permissions".into(), json!({"reply": can_reply}));
    o
}

#[cfg(test)]
mod tests;
