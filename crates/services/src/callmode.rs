//! Call handling modes, the CAS `config` topic: each user has a current mode (available, in a
//! meeting, out of office, extended absence, or a custom one they name) and per mode a
//! forwarding choice — ring my devices, forward to a user or number, straight to voicemail.
//!
//! Choices are stored (migration 0004) and mirrored in [`CallModes`], the table the SIP face
//! consults for every call through `routing::CallPolicy`. The menu offers only what the
//! caller's role allows: `config.write` to change anything, `config.forward` to forward to a
//! target, `config.voicemail` to send calls straight to voicemail. Revoking a permission does
//! not undo a choice already made; it stops new ones.
//!
//! Not here: voicemail itself (the SIP face answers 480 until it exists), time-of-day rules,
//! and forwarding to external numbers (needs a trunk; such targets are kept as typed).

mod modes;
mod table;

pub use modes::{Forward, Mode, UserModes};
pub use table::{CallModes, resolve};

use cas_proto::catalogue::{FieldKind as K, opt, req};
use cas_proto::{CasError, MessageSpec, Object, Request, TopicSpec};
use serde_json::{Value, json};
use store::Store;

use crate::bus::{Audience, Bus, BusEvent};
use crate::provider::{BoxFuture, Caller, Outcome, Provider, store_error};
use crate::registrar::aor_key;

pub static SPEC: TopicSpec = TopicSpec {
    topic: "config",
    doc: "Call handling modes: `available`, `meeting`, `out_of_office`, `extended_absence` and \
          `custom` (named by the user). Per mode a forwarding: `{\"action\": \"ring_devices\"}`, \
          `{\"action\": \"forward\", \"target\": \"carol\" | \"sip:carol@example.com\" | number}` \
          or `{\"action\": \"voicemail\"}`. Defaults: available and custom ring the devices, the \
          others go to voicemail. Calls are routed by the current mode at once. `permissions`: \
          `set`, `configure`, `forward`, `voicemail`.",
    restricted: true,
    messages: &[
        MessageSpec {
            message: "get",
            action: Some("config.read"),
            fields: &[],
            doc: "The current mode and what it does with a new call.",
            reply: "`mode`, `label` (custom only), `forwarding`, `permissions`",
            is_async: false,
        },
        MessageSpec {
            message: "set",
            action: Some("config.write"),
            fields: &[
                req("mode", K::Str, "the mode to make current"),
                opt(
                    "label",
                    K::Str,
                    "name of the custom mode (1–64 characters); kept for next time",
                ),
            ],
            doc: "Makes a mode current; the user's subscribed sessions get `mode_changed`.",
            reply: "as `get`",
            is_async: false,
        },
        MessageSpec {
            message: "configure",
            action: Some("config.write"),
            fields: &[
                req("mode", K::Str, "the mode to configure"),
                req("action", K::Str, "`ring_devices`, `forward` or `voicemail`"),
                opt(
                    "target",
                    K::Str,
                    "for `forward`: a user name, number or SIP URI",
                ),
            ],
            doc: "Sets what a new call does in a mode. `forward` needs `config.forward`, \
                  `voicemail` needs `config.voicemail`. A bare name or number naming a local \
                  user forwards to that user; other targets are kept and answered 480 until \
                  external calls exist.",
            reply: "`mode`, `label`, `forwarding` (with `resolved`: the local user a target \
                    names), `current`, `permissions`",
            is_async: false,
        },
        MessageSpec {
            message: "modes",
            action: Some("config.read"),
            fields: &[],
            doc: "Every mode with its forwarding.",
            reply: "`modes`: list of `{mode, label, forwarding, current}`; `permissions`",
            is_async: false,
        },
        MessageSpec {
            message: "menu",
            action: Some("config.read"),
            fields: &[],
            doc: "The choices this user may make: the modes (none without `config.write`) and \
                  the forwarding actions their permissions allow.",
            reply: "`current`, `modes`: list of `{mode, label}`, `actions`: list of strings, \
                    `permissions`",
            is_async: false,
        },
    ],
    events: &[
        (
            "mode_changed",
            "`mode`, `label`, `forwarding`: the user's current mode changed",
        ),
        (
            "forwarding_changed",
            "`mode`, `label`, `forwarding`, `current`: a mode's forwarding changed",
        ),
    ],
    actions: &[
        "config.read",
        "config.write",
        "config.forward",
        "config.voicemail",
    ],
};

/// The `config` provider.
pub struct CallHandling {
    store: Store,
    bus: Bus,
    modes: CallModes,
}

impl CallHandling {
    /// `modes` is the table the SIP face also reads (see [`CallModes::load`]).
    pub fn new(store: Store, bus: Bus, modes: CallModes) -> CallHandling {
        CallHandling { store, bus, modes }
    }

    fn get(&self, caller: &Caller) -> Object {
        let user = self.modes.user(&key(caller));
        with_permissions(user.mode_json(user.mode), caller)
    }

    async fn set(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let mode = Mode::parse(req.str("mode")?)?;
        let label = req.opt_str("label")?;
        if let Some(l) = label {
            if mode != Mode::Custom {
                return Err(CasError::bad_request("a label names the custom mode only"));
            }
            modes::check_label(l)?;
        }
        self.store
            .set_call_mode(&caller.domain, &caller.user, mode.as_str(), label)
            .await
            .map_err(store_error)?;
        let aor = key(caller);
        let user = self.modes.update(&aor, |u| {
            u.mode = mode;
            if let Some(l) = label {
                u.custom_label = Some(l.to_owned());
            }
        });
        let body = user.mode_json(mode);
        self.notify(&aor, "mode_changed", body.clone());
        Ok(with_permissions(body, caller))
    }

    async fn configure(&self, caller: &Caller, req: &Request) -> Result<Object, CasError> {
        let mode = Mode::parse(req.str("mode")?)?;
        let target = req.opt_str("target")?;
        let action = req.str("action")?;
        let forward = match action {
            "ring_devices" => Forward::RingDevices,
            "voicemail" => {
                caller.require("config.voicemail")?;
                Forward::Voicemail
            }
            "forward" => {
                caller.require("config.forward")?;
                let target =
                    target.ok_or_else(|| CasError::bad_request("forward needs a 'target'"))?;
                modes::check_target(target)?;
                let resolved = resolve(&self.store, &caller.domain, target)
                    .await
                    .map_err(store_error)?;
                Forward::Forward {
                    target: target.to_owned(),
                    resolved,
                }
            }
            other => {
                return Err(CasError::bad_request(format!(
                    "unknown action '{other}': ring_devices, forward or voicemail"
                )));
            }
        };
        if target.is_some() && action != "forward" {
            return Err(CasError::bad_request("'target' is for action forward only"));
        }
        self.store
            .set_call_forwarding(
                &caller.domain,
                &caller.user,
                mode.as_str(),
                forward.action(),
                forward.target(),
            )
            .await
            .map_err(store_error)?;
        let aor = key(caller);
        let user = self.modes.update(&aor, |u| {
            u.forwards.insert(mode, forward);
        });
        let mut body = user.mode_json(mode);
        body.insert("current".into(), json!(user.mode == mode));
        self.notify(&aor, "forwarding_changed", body.clone());
        Ok(with_permissions(body, caller))
    }

    fn list(&self, caller: &Caller) -> Object {
        let user = self.modes.user(&key(caller));
        let list: Vec<Value> = Mode::ALL
            .into_iter()
            .map(|m| {
                let mut o = user.mode_json(m);
                o.insert("current".into(), json!(user.mode == m));
                Value::Object(o)
            })
            .collect();
        let mut o = Object::new();
        o.insert("modes".into(), Value::Array(list));
        with_permissions(o, caller)
    }

    fn menu(&self, caller: &Caller) -> Object {
        let user = self.modes.user(&key(caller));
        let p = MenuRights::of(caller);
        let modes: Vec<Value> = if p.write {
            Mode::ALL
                .into_iter()
                .map(|m| {
                    let mut o = Object::new();
                    o.insert("mode".into(), json!(m.as_str()));
                    if let Some(l) = user.label(m) {
                        o.insert("label".into(), json!(l));
                    }
                    Value::Object(o)
                })
                .collect()
        } else {
            Vec::new()
        };
        let actions: Vec<&str> = modes::ACTIONS
            .into_iter()
            .filter(|a| p.allows_action(a))
            .collect();
        let mut o = Object::new();
        o.insert("current".into(), json!(user.mode.as_str()));
        o.insert("modes".into(), Value::Array(modes));
        o.insert("actions".into(), json!(actions));
        with_permissions(o, caller)
    }

    fn notify(&self, aor: &str, message: &str, mut body: Object) {
        body.insert("message".into(), json!(message));
        self.bus.publish(BusEvent::Notice {
            topic: SPEC.topic.to_owned(),
            key: None,
            audience: Audience::Users(vec![aor.to_owned()]),
            event: body,
            always: false,
        });
    }
}

impl Provider for CallHandling {
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
                "get" => self.get(caller),
                "set" => self.set(caller, req).await?,
                "configure" => self.configure(caller, req).await?,
                "modes" => self.list(caller),
                "menu" => self.menu(caller),
                other => {
                    return Err(CasError::not_found(format!(
                        "unknown message config.{other}"
                    )));
                }
            };
            Ok(Outcome::Done(body))
        })
    }
}

fn key(caller: &Caller) -> String {
    aor_key(&caller.user, &caller.domain)
}

/// What the caller's role lets them change, judged at request time.
struct MenuRights {
    write: bool,
    forward: bool,
    voicemail: bool,
}

impl MenuRights {
    fn of(caller: &Caller) -> MenuRights {
        let write = caller.perms.allows("config.write");
        MenuRights {
            write,
            forward: write && caller.perms.allows("config.forward"),
            voicemail: write && caller.perms.allows("config.voicemail"),
        }
    }

    fn allows_action(&self, action: &str) -> bool {
        match action {
            "ring_devices" => self.write,
            "forward" => self.forward,
            "voicemail" => self.voicemail,
            _ => false,
        }
    }
}

fn with_permissions(mut o: Object, caller: &Caller) -> Object {
    let p = MenuRights::of(caller);
    o.insert(
        "permissions".into(),
        json!({"set": p.write, "configure": p.write, "forward": p.forward,
               "voicemail": p.voicemail}),
    );
    o
}

#[cfg(test)]
mod tests;
