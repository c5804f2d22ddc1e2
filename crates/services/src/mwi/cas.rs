//! The CAS `mwi` topic: a user's combined view and profile, reports from voicemail systems
//! that use a CAS system credential, and activation commands. Changes reach every session
//! of the user as `changed` events (no subscription needed), and wait for the next login
//! when none is online.

use cas_proto::catalogue::{FieldKind as K, opt, req};
use cas_proto::{CasError, ErrorCode, MessageSpec, Object, Request, TopicSpec};
use serde_json::{Value, json};
use store::MwiMessage;

use super::report::{number, parse_time};
use super::{Mwi, MwiError, Report};
use crate::provider::{BoxFuture, Caller, Outcome, Provider};

pub static SPEC: TopicSpec = TopicSpec {
    topic: "mwi",
    doc: "Message-waiting from every voicemail system of the user (ours, `local`, and \
          external ones such as an old PBX), side by side with the total. Every change \
          reaches every CAS session of the user as a `changed` event (no subscription \
          needed); notices missed while offline are pushed at the next login, oldest first, \
          marked `stored`. Phones get the aggregated RFC 3842 summary, devices that take \
          SIP MESSAGE a short text. External systems report here with their system \
          account, or over SIP (NOTIFY/PUBLISH `message-summary`).",
    restricted: true,
    messages: &[
        MessageSpec {
            message: "get",
            action: Some("mwi.read"),
            fields: &[],
            doc: "The caller's combined view.",
            reply: "`aor`, `waiting` (any new message on an active system), `total` {`new`, \
                    `old`, `urgent_new`, `urgent_old`} over the active systems, `systems` \
                    [{`system`, `label`, `kind` (`local`/`sip`/`cas`), `mailbox`, `active`, \
                    `new`, `old`, `urgent_new`, `urgent_old`, `updated_at` (ms, 0: never \
                    reported), `messages` [{`id`, `at` (ms), `ani`, `dnis`, `subject`, \
                    `urgent`, `new`}]}]",
            is_async: false,
        },
        MessageSpec {
            message: "systems",
            action: Some("mwi.read"),
            fields: &[],
            doc: "The caller's profile: their voicemail systems, their clients and how \
                  they are told. Only the caller's own profile: device addresses are never \
                  shown.",
            reply: "`systems` [{`system`, `label`, `kind`, `mailbox`, `active`, \
                    `activation` (`send`/`record`)}], `clients` {`sip_devices` \
                    [{`user_agent`, `transport`, `classes` (`voice`/`video`/`im`), \
                    `expires_in` (s)}], `cas_sessions` (live sessions, this one included)}, \
                    `delivery` {`cas`, `message_text`, `unsolicited_notify`}",
            is_async: false,
        },
        MessageSpec {
            message: "report",
            action: Some("mwi.report"),
            fields: &[
                req(
                    "user",
                    K::Str,
                    "the user: their mailbox id on the system, a user name or user@domain",
                ),
                opt(
                    "system",
                    K::Str,
                    "the reporting system (needed when one account serves several)",
                ),
                req("new", K::Int, "new (unheard) messages"),
                opt("old", K::Int, "old (heard) messages (default 0)"),
                opt("urgent_new", K::Int, "urgent among new (default 0)"),
                opt("urgent_old", K::Int, "urgent among old (default 0)"),
                opt(
                    "messages",
                    K::List,
                    "per message: {`id`, `at` (ms or RFC 3339/2822 date), `ani`, `dnis`, \
                     `subject`, `urgent`, `new`}",
                ),
            ],
            doc: "A voicemail system reports the full state of one user's mailbox (it \
                  replaces the previous report). Only the system's account may report \
                  (403 otherwise), only for users whose profile lists the system (404).",
            reply: "`system`, `user` (user@domain), `total` (the user's new total)",
            is_async: false,
        },
        MessageSpec {
            message: "activate",
            action: Some("mwi.activate"),
            fields: &[
                req("system", K::Str, "the voicemail system (`local` for ours)"),
                opt(
                    "user",
                    K::Str,
                    "whose (default: the caller; others need mwi.admin)",
                ),
            ],
            doc: "Turns message-waiting from a system on. For an external system the \
                  command is also sent to the system (SIP MESSAGE to its account) or only \
                  recorded, as the system is configured.",
            reply: "`user`, `system`, `active`, `sent`",
            is_async: false,
        },
        MessageSpec {
            message: "deactivate",
            action: Some("mwi.activate"),
            fields: &[
                req("system", K::Str, "the voicemail system (`local` for ours)"),
                opt(
                    "user",
                    K::Str,
                    "whose (default: the caller; others need mwi.admin)",
                ),
            ],
            doc: "Turns message-waiting from a system off: its messages no longer count \
                  towards the total phones see (ours sends nothing; an external system is \
                  told or the command recorded).",
            reply: "`user`, `system`, `active`, `sent`",
            is_async: false,
        },
    ],
    events: &[(
        "changed",
        "the user's combined view changed: the fields of `get`, plus `changed` (the system \
         that reported, or null), `at` (ms) and `stored` (true when it waited for this \
         login); sent to every session of the user",
    )],
    actions: &["mwi.admin"],
};

/// The `mwi` provider.
#[derive(Debug, Clone)]
pub struct MwiProvider {
    mwi: Mwi,
}

impl MwiProvider {
    pub fn new(mwi: Mwi) -> MwiProvider {
        MwiProvider { mwi }
    }

    async fn systems(&self, caller: &Caller) -> Result<Object, CasError> {
        let aor = caller.aor();
        let systems: Vec<Value> = self
            .mwi
            .profile(&aor)
            .into_iter()
            .map(|(s, row)| {
                json!({
                    "system": s.name, "label": s.label, "kind": s.kind,
                    "mailbox": row.as_ref().and_then(|r| r.mailbox.clone()),
                    "active": row.as_ref().is_none_or(|r| r.active),
                    "activation": s.activation,
                })
            })
            .collect();
        let now = super::actor::unix_ms() / 1000;
        let clients = self.mwi.clients(&aor, now).await.map_err(cas_error)?;
        let devices: Vec<Value> = clients
            .sip_devices
            .iter()
            .map(|d| {
                let classes: Vec<&str> = d
                    .classes
                    .as_deref()
                    .map(|c| {
                        c.split(',')
                            .map(str::trim)
                            .filter(|c| !c.is_empty())
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "user_agent": d.user_agent, "transport": d.transport,
                    "classes": classes, "expires_in": (d.expires_at - now).max(0),
                })
            })
            .collect();
        let mut o = Object::new();
        o.insert("systems".into(), Value::Array(systems));
        o.insert(
            "clients".into(),
            json!({"sip_devices": devices, "cas_sessions": clients.cas_sessions}),
        );
        o.insert(
            "delivery".into(),
            json!({
                "cas": true,
                "message_text": self.mwi.message_text(&aor),
                "unsolicited_notify": self.mwi.unsolicited_notify(&aor),
            }),
        );
        Ok(o)
    }

    async fn report(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let (system, aor) = self
            .mwi
            .authorize(
                &caller.aor(),
                req.opt_str("system")?,
                req.str("user")?,
                &caller.domain,
            )
            .map_err(cas_error)?;
        let count = |name: &str| -> Result<u32, CasError> {
            let v = req.opt_u64(name)?.unwrap_or(0);
            u32::try_from(v).map_err(|_| CasError::bad_request(format!("{name} is too large")))
        };
        let counts = store::MwiCounts {
            new: count("new")?,
            old: count("old")?,
            urgent_new: count("urgent_new")?,
            urgent_old: count("urgent_old")?,
        };
        let messages = match req.fields.get("messages") {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| message(i, v))
                .collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };
        let view = self
            .mwi
            .report_wait(Report {
                system: system.clone(),
                aor: aor.clone(),
                counts,
                messages,
            })
            .await
            .map_err(cas_error)?;
        let mut o = Object::new();
        o.insert("system".into(), json!(system));
        o.insert("user".into(), json!(aor));
        o.insert(
            "total".into(),
            view.to_json().remove("total").unwrap_or(Value::Null),
        );
        Ok(o)
    }

    async fn activate(
        &self,
        caller: &Caller,
        req: &Request,
        active: bool,
    ) -> Result<Object, CasError> {
        let me = caller.aor();
        let aor = match req.opt_str("user")? {
            None => me.clone(),
            Some(u) => {
                let aor = if u.contains('@') {
                    u.trim_start_matches("sip:").to_owned()
                } else {
                    format!("{u}@{}", caller.domain)
                };
                if aor != me && !caller.perms.allows("mwi.admin") {
                    return Err(CasError::not_permitted(
                        "only administrators switch message-waiting for others",
                    ));
                }
                aor
            }
        };
        let system = req.str("system")?;
        let sent = self
            .mwi
            .activate(&aor, system, active, &me)
            .await
            .map_err(cas_error)?;
        let mut o = Object::new();
        o.insert("user".into(), json!(aor));
        o.insert("system".into(), json!(system));
        o.insert("active".into(), json!(active));
        o.insert("sent".into(), json!(sent));
        Ok(o)
    }
}

/// One `messages` entry of a CAS report.
fn message(index: usize, v: &Value) -> Result<MwiMessage, CasError> {
    let Value::Object(m) = v else {
        return Err(CasError::bad_request("messages are objects"));
    };
    let text = |k: &str| -> Result<Option<String>, CasError> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(CasError::bad_request(format!("messages[].{k} is a string"))),
        }
    };
    let flag = |k: &str, default: bool| -> Result<bool, CasError> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(CasError::bad_request(format!(
                "messages[].{k} is a boolean"
            ))),
        }
    };
    let at = match m.get("at") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => {
            Some(parse_time(s).ok_or_else(|| CasError::bad_request(format!("bad time {s:?}")))?)
        }
        Some(_) => return Err(CasError::bad_request("messages[].at is a time")),
    };
    Ok(MwiMessage {
        id: text("id")?.unwrap_or_else(|| (index + 1).to_string()),
        at,
        ani: text("ani")?.map(|a| number(&a)),
        dnis: text("dnis")?.map(|d| number(&d)),
        subject: text("subject")?,
        urgent: flag("urgent", false)?,
        new: flag("new", true)?,
    })
}

/// The one place an `MwiError` becomes a CAS error.
pub fn cas_error(e: MwiError) -> CasError {
    match e {
        MwiError::NotASystem(_) => CasError::not_permitted(e.to_string()),
        MwiError::NotServed { .. } | MwiError::NoSuchSystem(_) => {
            CasError::not_found(e.to_string())
        }
        MwiError::Invalid(_) => CasError::bad_request(e.to_string()),
        MwiError::Busy | MwiError::Stopped => CasError::new(ErrorCode::Unavailable, e.to_string()),
        MwiError::Store => CasError::internal(),
    }
}

impl Provider for MwiProvider {
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
                "get" => self.mwi.view(&caller.aor()).to_json(),
                "systems" => self.systems(caller).await?,
                "report" => self.report(caller, req).await?,
                "activate" => self.activate(caller, req, true).await?,
                "deactivate" => self.activate(caller, req, false).await?,
                other => return Err(CasError::not_found(format!("unknown message mwi.{other}"))),
            };
            Ok(Outcome::Done(body))
        })
    }
}
