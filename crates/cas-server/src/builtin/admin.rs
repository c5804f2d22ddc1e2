//! `admin`: users, roles, grants and plug-in credentials. A grant change reaches every
//! affected session as `permissions.changed` (through the bus) and rules the next request.

use std::sync::Arc;

use cas_proto::catalogue::{FieldKind as K, opt, req};
use cas_proto::{CasError, MessageSpec, Object, Request, TopicSpec};
use rand::Rng as _;
use rand::distributions::Alphanumeric;
use serde_json::json;
use services::perms::Permissions;
use services::provider::{BoxFuture, Caller, Outcome, Provider, store_error};
use sha2::{Digest as _, Sha256};
use store::Store;

use crate::hub::Hub;

pub static SPEC: TopicSpec = TopicSpec {
    topic: "admin",
    doc: "Administration of users, roles and grants, and plug-in credentials.",
    restricted: true,
    messages: &[
        MessageSpec {
            message: "user_list",
            action: Some("admin.users"),
            fields: &[opt("domain", K::Str, "domain")],
            doc: "Users of a domain with their roles.",
            reply: "`users`: list of `{user, role}`",
            is_async: false,
        },
        MessageSpec {
            message: "user_add",
            action: Some("admin.users"),
            fields: &[
                req("user", K::Str, "name"),
                req("password", K::Str, "password"),
                opt("domain", K::Str, "domain"),
                opt("role", K::Str, "role (default user)"),
            ],
            doc: "Creates a user.",
            reply: "`user`",
            is_async: false,
        },
        MessageSpec {
            message: "user_remove",
            action: Some("admin.users"),
            fields: &[req("user", K::Str, "name"), opt("domain", K::Str, "domain")],
            doc: "Removes a user and their registrations.",
            reply: "nothing",
            is_async: false,
        },
        MessageSpec {
            message: "user_passwd",
            action: Some("admin.users"),
            fields: &[
                req("user", K::Str, "name"),
                req("password", K::Str, "new password"),
                opt("domain", K::Str, "domain"),
            ],
            doc: "Sets a password.",
            reply: "nothing",
            is_async: false,
        },
        MessageSpec {
            message: "user_role",
            action: Some("admin.roles"),
            fields: &[
                req("user", K::Str, "name"),
                req("role", K::Str, "role"),
                opt("domain", K::Str, "domain"),
            ],
            doc: "Gives a user a role; their sessions get `permissions.changed`.",
            reply: "nothing",
            is_async: false,
        },
        MessageSpec {
            message: "role_list",
            action: Some("admin.roles"),
            fields: &[],
            doc: "Roles and their granted actions.",
            reply: "`roles`: list of `{role, actions}`",
            is_async: false,
        },
        MessageSpec {
            message: "role_add",
            action: Some("admin.roles"),
            fields: &[req("role", K::Str, "role name")],
            doc: "Creates a role with no grants.",
            reply: "nothing",
            is_async: false,
        },
        MessageSpec {
            message: "grant",
            action: Some("admin.roles"),
            fields: &[
                req("role", K::Str, "role"),
                req("action", K::Str, "`topic.action`, `topic.*` or `*`"),
            ],
            doc: "Grants an action; sessions of the role get `permissions.changed` within a second.",
            reply: "`actions` of the role",
            is_async: false,
        },
        MessageSpec {
            message: "revoke",
            action: Some("admin.roles"),
            fields: &[req("role", K::Str, "role"), req("action", K::Str, "action")],
            doc: "Revokes an action; the next request of those sessions is judged by the new rule.",
            reply: "`actions` of the role",
            is_async: false,
        },
        MessageSpec {
            message: "session_list",
            action: Some("admin.users"),
            fields: &[opt(
                "user",
                K::Str,
                "only this user's sessions (`user@domain`)",
            )],
            doc: "Live sessions: who, over which transport, idle for how long, subscribed to what.",
            reply: "`sessions`: list of `{id, user, domain, role, transport, idle_s, subscriptions}`",
            is_async: false,
        },
        MessageSpec {
            message: "plugin_credential",
            action: Some("admin.plugins"),
            fields: &[req("name", K::Str, "plug-in name")],
            doc: "Issues (or replaces) the credential a plug-in presents on `/cas/plugin`. Shown once.",
            reply: "`name`, `credential`",
            is_async: false,
        },
    ],
    events: &[],
    actions: &["admin.users", "admin.roles", "admin.plugins"],
};

pub struct Admin {
    pub store: Store,
    pub hub: Arc<Hub>,
    pub perms: Permissions,
    pub default_domain: String,
}

pub fn secret_hash(secret: &str) -> String {
    sip::digest::hex(&Sha256::digest(secret.as_bytes()))
}

fn obj(v: serde_json::Value) -> Object {
    match v {
        serde_json::Value::Object(o) => o,
        _ => Object::new(),
    }
}

impl Admin {
    fn domain(&self, req: &Request) -> Result<String, CasError> {
        Ok(req
            .opt_str("domain")?
            .unwrap_or(&self.default_domain)
            .to_owned())
    }

    fn role_actions(&self, role: &str) -> Object {
        obj(json!({"role": role, "actions": self.perms.of_role(role).list()}))
    }

    async fn run(&self, req: &Request) -> Result<Object, CasError> {
        let d = self.domain(req)?;
        match req.message.as_str() {
            "user_list" => {
                let mut users = Vec::new();
                for u in self.store.users(&d).await.map_err(store_error)? {
                    let role = self.perms.role_of(&d, &u).await.map_err(store_error)?;
                    users.push(json!({"user": u, "role": role}));
                }
                Ok(obj(json!({"domain": d, "users": users})))
            }
            "user_add" => {
                let user = req.str("user")?;
                self.store
                    .add_user(&d, user, req.str("password")?)
                    .await
                    .map_err(store_error)?;
                if let Some(role) = req.opt_str("role")? {
                    self.perms
                        .set_user_role(&d, user, role)
                        .await
                        .map_err(store_error)?;
                }
                Ok(obj(json!({"user": user, "domain": d})))
            }
            "user_remove" => {
                self.store
                    .remove_user(&d, req.str("user")?)
                    .await
                    .map_err(store_error)?;
                Ok(Object::new())
            }
            "user_passwd" => {
                self.store
                    .set_password(&d, req.str("user")?, req.str("password")?)
                    .await
                    .map_err(store_error)?;
                Ok(Object::new())
            }
            "user_role" => {
                self.perms
                    .set_user_role(&d, req.str("user")?, req.str("role")?)
                    .await
                    .map_err(store_error)?;
                Ok(Object::new())
            }
            "role_list" => {
                let roles: Vec<_> = self
                    .perms
                    .roles()
                    .iter()
                    .map(|p| json!({"role": p.role, "actions": p.list()}))
                    .collect();
                Ok(obj(json!({"roles": roles})))
            }
            "role_add" => {
                self.perms
                    .add_role(req.str("role")?)
                    .await
                    .map_err(store_error)?;
                Ok(Object::new())
            }
            "grant" | "revoke" => {
                let role = req.str("role")?;
                let action = req.str("action")?;
                let valid = action == "*"
                    || action
                        .split_once('.')
                        .is_some_and(|(t, a)| !t.is_empty() && !a.is_empty());
                if !valid {
                    return Err(CasError::bad_request(
                        "action must be 'topic.action', 'topic.*' or '*'",
                    ));
                }
                self.perms
                    .set_grant(role, action, req.message == "grant")
                    .await
                    .map_err(store_error)?;
                Ok(self.role_actions(role))
            }
            "session_list" => Ok(self.session_list(req.opt_str("user")?)),
            "plugin_credential" => {
                let name = req.str("name")?;
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(CasError::bad_request(
                        "plug-in names use letters, digits, '-' and '_'",
                    ));
                }
                let secret: String = rand::thread_rng()
                    .sample_iter(&Alphanumeric)
                    .take(32)
                    .map(char::from)
                    .collect();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
                    .unwrap_or(0);
                self.store
                    .set_plugin_credential(name, &secret_hash(&secret), now)
                    .await
                    .map_err(store_error)?;
                Ok(obj(json!({"name": name, "credential": secret})))
            }
            other => Err(CasError::not_found(format!(
                "unknown message admin.{other}"
            ))),
        }
    }

    fn session_list(&self, user: Option<&str>) -> Object {
        let sessions: Vec<_> = self
            .hub
            .list()
            .into_iter()
            .filter(|s| user.is_none_or(|u| u == format!("{}@{}", s.info.user, s.info.domain)))
            .map(|s| {
                let subs: Vec<_> = s
                    .subscriptions
                    .iter()
                    .map(|(to, key)| json!({"to": to, "key": key}))
                    .collect();
                json!({"id": s.info.id, "user": s.info.user, "domain": s.info.domain,
                    "role": s.info.role, "transport": s.transport,
                    "idle_s": s.idle.as_secs(), "subscriptions": subs})
            })
            .collect();
        obj(json!({ "sessions": sessions }))
    }
}

impl Provider for Admin {
    fn spec(&self) -> &'static TopicSpec {
        &SPEC
    }

    fn handle<'a>(
        &'a self,
        _caller: &'a Caller,
        req: &'a Request,
    ) -> BoxFuture<'a, Result<Outcome, CasError>> {
        Box::pin(async move { self.run(req).await.map(Outcome::Done) })
    }
}
