//! Call handling modes (the CAS `config` topic): each user's current mode, the label of their
//! `custom` mode, and per mode what a new call does (ring the devices, forward, voicemail).
//!
//! Rows exist only for choices a user made; defaults live in `services::callmode`. The CHECK
//! constraints of migration 0004 reject unknown modes and actions; this module does not
//! interpret them. Rows go with their user (ON DELETE CASCADE).

use sqlx::Row as _;

use crate::{Result, Store, StoreError};

/// `(user@domain, mode, custom label)`, the domain in lower case.
pub type ModeRow = (String, String, Option<String>);
/// `(user@domain, mode, action, target)`, the domain in lower case.
pub type ForwardingRow = (String, String, String, Option<String>);

impl Store {
    /// Every user's stored mode, to warm the in-memory table the call router reads.
    pub async fn call_modes(&self) -> Result<Vec<ModeRow>> {
        let rows = sqlx::query(
            "SELECT u.name || '@' || lower(d.name), m.mode, m.custom_label
             FROM call_modes m JOIN users u ON u.id = m.user_id
             JOIN domains d ON d.id = u.domain_id ORDER BY 1",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Every stored per-mode forwarding.
    pub async fn call_forwardings(&self) -> Result<Vec<ForwardingRow>> {
        let rows = sqlx::query(
            "SELECT u.name || '@' || lower(d.name), f.mode, f.action, f.target
             FROM call_forwardings f JOIN users u ON u.id = f.user_id
             JOIN domains d ON d.id = u.domain_id ORDER BY 1, 2",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    /// Makes `mode` current. A `custom_label` of `None` keeps the label stored before, so
    /// switching to `available` and back does not lose the name of the custom mode.
    pub async fn set_call_mode(
        &self,
        domain: &str,
        user: &str,
        mode: &str,
        custom_label: Option<&str>,
    ) -> Result<()> {
        let user_id = self.call_handling_user(domain, user).await?;
        sqlx::query(
            "INSERT INTO call_modes (user_id, mode, custom_label) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_id) DO UPDATE SET mode = excluded.mode,
                 custom_label = COALESCE(excluded.custom_label, call_modes.custom_label)",
        )
        .bind(user_id)
        .bind(mode)
        .bind(custom_label)
        .execute(self.db.pool())
        .await
        .map_err(|e| constraint(e, "call handling mode"))?;
        Ok(())
    }

    /// Sets what a new call does while `mode` is current.
    pub async fn set_call_forwarding(
        &self,
        domain: &str,
        user: &str,
        mode: &str,
        action: &str,
        target: Option<&str>,
    ) -> Result<()> {
        let user_id = self.call_handling_user(domain, user).await?;
        sqlx::query(
            "INSERT INTO call_forwardings (user_id, mode, action, target) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (user_id, mode) DO UPDATE SET action = excluded.action,
                 target = excluded.target",
        )
        .bind(user_id)
        .bind(mode)
        .bind(action)
        .bind(target)
        .execute(self.db.pool())
        .await
        .map_err(|e| constraint(e, "call forwarding"))?;
        Ok(())
    }

    async fn call_handling_user(&self, domain: &str, user: &str) -> Result<i64> {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT u.id FROM users u JOIN domains d ON d.id = u.domain_id
             WHERE d.name = ? AND u.name = ?",
        )
        .bind(domain)
        .bind(user)
        .fetch_optional(self.db.pool())
        .await?;
        id.ok_or_else(|| StoreError::NoSuchUser {
            domain: domain.to_owned(),
            name: user.to_owned(),
        })
    }
}

/// A CHECK violation means the caller passed a mode or action the schema does not know.
fn constraint(e: sqlx::Error, what: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.message().contains("CHECK constraint") => {
            StoreError::Invalid {
                what,
                why: "unknown mode or action".to_owned(),
            }
        }
        _ => StoreError::Database(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn modes_and_forwardings_round_trip() {
        let s = Store::open_memory().await.unwrap();
        s.add_domain("Example.COM").await.unwrap();
        s.add_user("Example.COM", "bob", "pw").await.unwrap();
        assert!(s.call_modes().await.unwrap().is_empty());

        s.set_call_mode("Example.COM", "bob", "custom", Some("Gym"))
            .await
            .unwrap();
        s.set_call_mode("example.com", "bob", "meeting", None)
            .await
            .unwrap();
        assert_eq!(
            s.call_modes().await.unwrap(),
            [(
                "bob@example.com".to_owned(),
                "meeting".to_owned(),
                Some("Gym".to_owned())
            )]
        );

        s.set_call_forwarding("example.com", "bob", "meeting", "forward", Some("carol"))
            .await
            .unwrap();
        s.set_call_forwarding("example.com", "bob", "meeting", "voicemail", None)
            .await
            .unwrap();
        let f = s.call_forwardings().await.unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].2, "voicemail");
        assert_eq!(f[0].3, None);

        let bad = s
            .set_call_forwarding("example.com", "bob", "meeting", "teleport", None)
            .await;
        assert!(matches!(bad, Err(StoreError::Invalid { .. })), "{bad:?}");
        let nobody = s
            .set_call_mode("example.com", "nobody", "meeting", None)
            .await;
        assert!(matches!(nobody, Err(StoreError::NoSuchUser { .. })));

        // The settings go with the user.
        s.remove_user("example.com", "bob").await.unwrap();
        assert!(s.call_modes().await.unwrap().is_empty());
        assert!(s.call_forwardings().await.unwrap().is_empty());
    }
}
