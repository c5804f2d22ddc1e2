//! Distribution lists and speed dials of the caller.
//!
//! A list member is stored under a key: `contact:<id>` for a personal contact (the store
//! drops it when the contact is deleted) or `user:<user@domain>` for a user of the domain.

use std::collections::HashMap;

use cas_proto::{CasError, Object, Request};
use serde_json::{Value, json};

use super::contact::{Contact, local_aor};
use super::{Directory, one};
use crate::provider::{Caller, store_error};

/// Lists one user may keep, and members per list.
const MAX_LISTS: usize = 100;
const MAX_MEMBERS: usize = 500;
const MAX_NAME: usize = 100;
const MAX_TARGET: usize = 256;

/// A list member as the client names it.
enum Member {
    Contact(i64),
    /// `user@domain`.
    User(String),
}

impl Member {
    fn key(&self) -> String {
        match self {
            Member::Contact(id) => format!("contact:{id}"),
            Member::User(aor) => format!("user:{aor}"),
        }
    }
}

fn permissions(caller: &Caller) -> Value {
    let write = caller.perms.allows("dir.write");
    json!({"edit": write, "delete": write})
}

fn speed_dial_key(req: &Request) -> Result<u8, CasError> {
    let key = match req.fields.get("key") {
        Some(Value::String(s)) => s.trim().parse::<u8>().ok(),
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u8::try_from(n).ok()),
        _ => None,
    };
    key.filter(|k| (1..=99).contains(k))
        .ok_or_else(|| CasError::bad_request("field 'key' must be 1 to 99"))
}

impl Directory {
    /// The caller's lists with their members resolved for display.
    async fn list_objects(&self, caller: &Caller) -> Result<Vec<(i64, Object)>, CasError> {
        let lists = self
            .store
            .contact_lists(&caller.domain, &caller.user)
            .await
            .map_err(store_error)?;
        let contacts: HashMap<i64, Contact> = if lists.iter().any(|(_, _, m)| !m.is_empty()) {
            self.contacts(caller).await?.into_iter().collect()
        } else {
            HashMap::new()
        };
        Ok(lists
            .into_iter()
            .map(|(id, name, members)| {
                let members: Vec<Value> = members
                    .iter()
                    .filter_map(|m| member_object(m, &contacts))
                    .collect();
                let mut o = Object::new();
                o.insert("id".into(), json!(id));
                o.insert("name".into(), json!(name));
                o.insert("members".into(), Value::Array(members));
                o.insert("permissions".into(), permissions(caller));
                (id, o)
            })
            .collect())
    }

    async fn list_object(&self, caller: &Caller, id: i64) -> Result<Object, CasError> {
        self.list_objects(caller)
            .await?
            .into_iter()
            .find(|(l, _)| *l == id)
            .map(|(_, o)| o)
            .ok_or_else(|| CasError::not_found(format!("no such list {id}")))
    }

    pub(super) async fn lists(&self, caller: &Caller) -> Result<Object, CasError> {
        let lists: Vec<Value> = self
            .list_objects(caller)
            .await?
            .into_iter()
            .map(|(_, o)| Value::Object(o))
            .collect();
        let mut body = Object::new();
        body.insert("lists".into(), Value::Array(lists));
        Ok(body)
    }

    pub(super) async fn list_create(
        &self,
        caller: &Caller,
        req: &Request,
    ) -> Result<Object, CasError> {
        let name = req.str("name")?.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            return Err(CasError::bad_request(format!(
                "a list name has 1 to {MAX_NAME} characters, no control characters"
            )));
        }
        let held = self.list_objects(caller).await?;
        if held.len() >= MAX_LISTS {
            return Err(CasError::bad_request(format!(
                "at most {MAX_LISTS} lists per user"
            )));
        }
        if held
            .iter()
            .any(|(_, o)| o.get("name") == Some(&json!(name)))
        {
            return Err(CasError::new(
                cas_proto::ErrorCode::Conflict,
                format!("a list named {name:?} already exists"),
            ));
        }
        let id = self
            .store
            .create_contact_list(&caller.domain, &caller.user, name)
            .await
            .map_err(store_error)?;
        self.tell_owner(
            caller,
            "list_changed",
            json!({"change": "created", "id": id}),
        );
        Ok(one("list", self.list_object(caller, id).await?))
    }

    pub(super) async fn list_delete(
        &self,
        caller: &Caller,
        req: &Request,
    ) -> Result<Object, CasError> {
        let id = super::id(req)?;
        self.store
            .delete_contact_list(&caller.domain, &caller.user, id)
            .await
            .map_err(store_error)?;
        self.tell_owner(
            caller,
            "list_changed",
            json!({"change": "deleted", "id": id}),
        );
        Ok(Object::new())
    }

    /// `list_add` (`add`) or `list_remove`.
    pub(super) async fn list_member(
        &self,
        caller: &Caller,
        req: &Request,
        add: bool,
    ) -> Result<Object, CasError> {
        let id = super::id(req)?;
        let member = self.member(caller, req, add).await?;
        let (domain, user) = (&caller.domain, &caller.user);
        if add {
            let list = self.list_object(caller, id).await?;
            let held = list
                .get("members")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if held >= MAX_MEMBERS {
                return Err(CasError::bad_request(format!(
                    "at most {MAX_MEMBERS} members per list"
                )));
            }
            let contact = match &member {
                Member::Contact(c) => Some(*c),
                Member::User(_) => None,
            };
            self.store
                .add_list_member(domain, user, id, &member.key(), contact)
                .await
                .map_err(store_error)?;
        } else {
            self.store
                .remove_list_member(domain, user, id, &member.key())
                .await
                .map_err(store_error)?;
        }
        self.tell_owner(
            caller,
            "list_changed",
            json!({"change": "updated", "id": id}),
        );
        Ok(one("list", self.list_object(caller, id).await?))
    }

    /// The member a request names. A user must exist in the caller's domain when added.
    async fn member(&self, caller: &Caller, req: &Request, add: bool) -> Result<Member, CasError> {
        match req.fields.get("member") {
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Member::Contact)
                .ok_or_else(|| CasError::bad_request("a contact id is an integer")),
            Some(Value::String(s)) => {
                let s = s.trim();
                let aor = if s.contains(':') {
                    local_aor(s, &caller.domain)
                } else {
                    match s.split_once('@') {
                        Some((u, d)) if d.eq_ignore_ascii_case(&caller.domain) => {
                            Some(crate::registrar::aor_key(u, d))
                        }
                        Some(_) => None,
                        None => Some(crate::registrar::aor_key(s, &caller.domain)),
                    }
                };
                let unknown = || CasError::not_found(format!("no such user {s}"));
                let aor = aor.ok_or_else(unknown)?;
                if add {
                    let name = aor.rsplit_once('@').map_or(aor.as_str(), |(u, _)| u);
                    let exists = self
                        .store
                        .credentials(&caller.domain, name)
                        .await
                        .map_err(store_error)?
                        .is_some();
                    if !exists {
                        return Err(unknown());
                    }
                }
                Ok(Member::User(aor))
            }
            _ => Err(CasError::bad_request(
                "field 'member' must be a contact id (integer) or a user name (string)",
            )),
        }
    }

    pub(super) async fn speed_dials(&self, caller: &Caller) -> Result<Object, CasError> {
        let dials: Vec<Value> = self
            .store
            .speed_dials(&caller.domain, &caller.user)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|(key, target)| Value::Object(speed_dial(caller, key, &target)))
            .collect();
        let mut body = Object::new();
        body.insert("speed_dials".into(), Value::Array(dials));
        Ok(body)
    }

    pub(super) async fn speed_dial_set(
        &self,
        caller: &Caller,
        req: &Request,
    ) -> Result<Object, CasError> {
        let key = speed_dial_key(req)?;
        let target = req.str("target")?.trim();
        if target.is_empty()
            || target.chars().count() > MAX_TARGET
            || target.chars().any(char::is_control)
        {
            return Err(CasError::bad_request(format!(
                "a speed dial target has 1 to {MAX_TARGET} characters, no control characters"
            )));
        }
        self.store
            .set_speed_dial(&caller.domain, &caller.user, key, target)
            .await
            .map_err(store_error)?;
        self.tell_owner(
            caller,
            "speed_dial_changed",
            json!({"change": "set", "key": key.to_string()}),
        );
        Ok(one("speed_dial", speed_dial(caller, key, target)))
    }

    pub(super) async fn speed_dial_delete(
        &self,
        caller: &Caller,
        req: &Request,
    ) -> Result<Object, CasError> {
        let key = speed_dial_key(req)?;
        self.store
            .delete_speed_dial(&caller.domain, &caller.user, key)
            .await
            .map_err(store_error)?;
        self.tell_owner(
            caller,
            "speed_dial_changed",
            json!({"change": "deleted", "key": key.to_string()}),
        );
        Ok(Object::new())
    }
}

fn speed_dial(caller: &Caller, key: u8, target: &str) -> Object {
    let mut o = Object::new();
    o.insert("key".into(), json!(key.to_string()));
    o.insert("target".into(), json!(target));
    o.insert("permissions".into(), permissions(caller));
    o
}

/// A stored member key as the client sees it; a key this version does not know is skipped.
fn member_object(key: &str, contacts: &HashMap<i64, Contact>) -> Option<Value> {
    if let Some(id) = key.strip_prefix("contact:") {
        let id: i64 = id.parse().ok()?;
        let c = contacts.get(&id)?;
        return Some(json!({"kind": "personal", "id": id, "name": c.name}));
    }
    let aor = key.strip_prefix("user:")?;
    let name = aor.rsplit_once('@').map_or(aor, |(u, _)| u);
    Some(json!({"kind": "system", "user": aor, "name": name}))
}
