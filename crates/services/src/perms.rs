//! The permission model: a role grants actions (`topic.action`, `topic.*` or `*`); every user
//! has one role. The grant table is cached in memory and replaced atomically when an
//! administrator changes it, so the next request is judged by the new rule.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use store::{RoleGrants, Store, StoreError};

use crate::bus::{Bus, BusEvent};

/// The actions one role may take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermSet {
    pub role: String,
    grants: HashSet<String>,
}

impl PermSet {
    pub fn new(role: &str, grants: impl IntoIterator<Item = String>) -> PermSet {
        PermSet {
            role: role.to_owned(),
            grants: grants.into_iter().collect(),
        }
    }

    /// True if `action` (`topic.action`) is granted directly, by `topic.*`, or by `*`.
    pub fn allows(&self, action: &str) -> bool {
        if self.grants.contains("*") || self.grants.contains(action) {
            return true;
        }
        match action.split_once('.') {
            Some((topic, _)) => self.grants.contains(&format!("{topic}.*")),
            None => false,
        }
    }

    /// The granted patterns, sorted (sent to clients in `permissions.changed`).
    pub fn list(&self) -> Vec<String> {
        let mut v: Vec<String> = self.grants.iter().cloned().collect();
        v.sort();
        v
    }
}

/// The cached grant table plus user roles, shared by every face.
#[derive(Debug, Clone)]
pub struct Permissions {
    store: Store,
    bus: Bus,
    roles: Arc<RwLock<HashMap<String, Arc<PermSet>>>>,
    user_roles: Arc<RwLock<HashMap<String, String>>>,
}

impl Permissions {
    pub async fn load(store: Store, bus: Bus) -> Result<Permissions, StoreError> {
        let p = Permissions {
            store,
            bus,
            roles: Arc::default(),
            user_roles: Arc::default(),
        };
        p.reload_roles().await?;
        Ok(p)
    }

    async fn reload_roles(&self) -> Result<(), StoreError> {
        let roles = self.store.roles().await?;
        let map = roles
            .into_iter()
            .map(|RoleGrants { role, actions }| {
                let set = Arc::new(PermSet::new(&role, actions));
                (role, set)
            })
            .collect();
        if let Ok(mut w) = self.roles.write() {
            *w = map;
        }
        Ok(())
    }

    /// The role of `user@domain`, read from the store once and cached.
    pub async fn role_of(&self, domain: &str, user: &str) -> Result<String, StoreError> {
        let key = format!("{user}@{domain}");
        if let Some(r) = self
            .user_roles
            .read()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(r);
        }
        let role = self.store.user_role(domain, user).await?;
        if let Ok(mut w) = self.user_roles.write() {
            w.insert(key, role.clone());
        }
        Ok(role)
    }

    /// The current permissions of a role (empty for an unknown role).
    pub fn of_role(&self, role: &str) -> Arc<PermSet> {
        self.roles
            .read()
            .ok()
            .and_then(|m| m.get(role).cloned())
            .unwrap_or_else(|| Arc::new(PermSet::new(role, [])))
    }

    pub fn roles(&self) -> Vec<Arc<PermSet>> {
        let mut v: Vec<Arc<PermSet>> = self
            .roles
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.role.cmp(&b.role));
        v
    }

    /// Grants or revokes, then tells every affected session through the bus.
    pub async fn set_grant(&self, role: &str, action: &str, allow: bool) -> Result<(), StoreError> {
        self.store.set_grant(role, action, allow).await?;
        self.reload_roles().await?;
        self.bus.publish(BusEvent::PermissionsChanged {
            role: role.to_owned(),
        });
        Ok(())
    }

    pub async fn add_role(&self, role: &str) -> Result<(), StoreError> {
        self.store.add_role(role).await?;
        self.reload_roles().await
    }

    pub async fn set_user_role(
        &self,
        domain: &str,
        user: &str,
        role: &str,
    ) -> Result<(), StoreError> {
        self.store.set_user_role(domain, user, role).await?;
        let key = format!("{user}@{domain}");
        if let Ok(mut w) = self.user_roles.write() {
            w.insert(key.clone(), role.to_owned());
        }
        self.bus.publish(BusEvent::UserRoleChanged { user: key });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = PermSet::new("user", ["dir.*".to_owned(), "history.read".to_owned()]);
        assert!(p.allows("dir.read"));
        assert!(p.allows("history.read"));
        assert!(!p.allows("history.delete"));
        assert!(!p.allows("admin.users"));
        assert!(PermSet::new("admin", ["*".to_owned()]).allows("admin.users"));
    }
}
