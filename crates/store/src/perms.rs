//! Roles, grants, user roles and plug-in credentials (the CAS permission model).

use sqlx::Row as _;

use crate::{Result, Store, StoreError};

/// One role with its granted actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleGrants {
    pub role: String,
    pub actions: Vec<String>,
}

impl Store {
    /// A number that changes whenever users or domains change (cheap to poll).
    pub async fn directory_version(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT v FROM directory_version WHERE id = 1")
                .fetch_one(self.db.pool())
                .await?,
        )
    }

    pub async fn roles(&self) -> Result<Vec<RoleGrants>> {
        let rows = sqlx::query(
            "SELECT r.name, g.action FROM roles r LEFT JOIN grants g ON g.role = r.name
             ORDER BY r.name, g.action",
        )
        .fetch_all(self.db.pool())
        .await?;
        let mut out: Vec<RoleGrants> = Vec::new();
        for row in rows {
            let role: String = row.try_get(0)?;
            let action: Option<String> = row.try_get(1)?;
            if out.last().is_none_or(|r| r.role != role) {
                out.push(RoleGrants {
                    role: role.clone(),
                    actions: Vec::new(),
                });
            }
            if let (Some(a), Some(last)) = (action, out.last_mut()) {
                last.actions.push(a);
            }
        }
        Ok(out)
    }

    pub async fn add_role(&self, role: &str) -> Result<()> {
        sqlx::query("INSERT OR IGNORE INTO roles (name) VALUES (?)")
            .bind(role)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Grants (`allow`) or revokes an action for a role.
    pub async fn set_grant(&self, role: &str, action: &str, allow: bool) -> Result<()> {
        let exists: Option<String> = sqlx::query_scalar("SELECT name FROM roles WHERE name = ?")
            .bind(role)
            .fetch_optional(self.db.pool())
            .await?;
        if exists.is_none() {
            return Err(StoreError::NoSuchRole(role.to_owned()));
        }
        let sql = if allow {
            "INSERT OR IGNORE INTO grants (role, action) VALUES (?, ?)"
        } else {
            "DELETE FROM grants WHERE role = ? AND action = ?"
        };
        sqlx::query(sql)
            .bind(role)
            .bind(action)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// The role of a user (`user` when none was set).
    pub async fn user_role(&self, domain: &str, name: &str) -> Result<String> {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT ur.role FROM user_roles ur JOIN users u ON u.id = ur.user_id
             JOIN domains d ON d.id = u.domain_id WHERE d.name = ? AND u.name = ?",
        )
        .bind(domain)
        .bind(name)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(role.unwrap_or_else(|| "user".to_owned()))
    }

    pub async fn set_user_role(&self, domain: &str, name: &str, role: &str) -> Result<()> {
        let user_id: Option<i64> = sqlx::query_scalar(
            "SELECT u.id FROM users u JOIN domains d ON d.id = u.domain_id
             WHERE d.name = ? AND u.name = ?",
        )
        .bind(domain)
        .bind(name)
        .fetch_optional(self.db.pool())
        .await?;
        let Some(user_id) = user_id else {
            return Err(StoreError::NoSuchUser {
                domain: domain.to_owned(),
                name: name.to_owned(),
            });
        };
        let exists: Option<String> = sqlx::query_scalar("SELECT name FROM roles WHERE name = ?")
            .bind(role)
            .fetch_optional(self.db.pool())
            .await?;
        if exists.is_none() {
            return Err(StoreError::NoSuchRole(role.to_owned()));
        }
        sqlx::query("INSERT OR REPLACE INTO user_roles (user_id, role) VALUES (?, ?)")
            .bind(user_id)
            .bind(role)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    pub async fn set_plugin_credential(
        &self,
        name: &str,
        secret_hash: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO plugin_credentials (name, secret_hash, created_at) VALUES (?, ?, ?)",
        )
        .bind(name)
        .bind(secret_hash)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    pub async fn plugin_credential(&self, name: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT secret_hash FROM plugin_credentials WHERE name = ?")
                .bind(name)
                .fetch_optional(self.db.pool())
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn roles_grants_and_user_roles() {
        let s = Store::open_memory().await.unwrap();
        let roles = s.roles().await.unwrap();
        assert!(
            roles
                .iter()
                .any(|r| r.role == "admin" && r.actions == ["*"])
        );
        s.set_grant("user", "history.delete", false).await.unwrap();
        s.set_grant("user", "history.read", true).await.unwrap();
        let user = s
            .roles()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.role == "user")
            .unwrap();
        assert!(user.actions.contains(&"history.read".to_owned()));
        assert!(s.set_grant("nope", "x", true).await.is_err());
        s.add_domain("example.com").await.unwrap();
        s.add_user("example.com", "alice", "pw").await.unwrap();
        assert_eq!(s.user_role("example.com", "alice").await.unwrap(), "user");
        s.set_user_role("example.com", "alice", "admin")
            .await
            .unwrap();
        assert_eq!(s.user_role("example.com", "alice").await.unwrap(), "admin");
        s.set_plugin_credential("weather", "abc", 1).await.unwrap();
        assert_eq!(
            s.plugin_credential("weather").await.unwrap().as_deref(),
            Some("abc")
        );
    }
}
