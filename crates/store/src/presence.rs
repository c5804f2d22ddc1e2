//! Presence settings and watcher decisions (migration 0008): what `services::presence` must
//! remember across a restart. Users are `user@domain` strings as the service writes them;
//! this module validates only what the schema constrains and decides nothing.

use sqlx::Row as _;

use crate::{Result, Store};

/// One user's stored presence settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PresenceSettings {
    pub aor: String,
    pub visible: bool,
    /// `allow` | `pending`; `None` = the server default.
    pub same_domain: Option<String>,
    /// `available` | `away` | `busy` | `dnd`; `None` = automatic.
    pub status: Option<String>,
    pub note: Option<String>,
}

impl Store {
    /// Every user's settings.
    pub async fn presence_settings(&self) -> Result<Vec<PresenceSettings>> {
        let rows = sqlx::query(
            "SELECT aor, visible, same_domain, status, note FROM presence_settings ORDER BY aor",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PresenceSettings {
                    aor: r.try_get(0)?,
                    visible: r.try_get::<i64, _>(1)? != 0,
                    same_domain: r.try_get(2)?,
                    status: r.try_get(3)?,
                    note: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Replaces one user's settings.
    pub async fn set_presence_settings(&self, s: &PresenceSettings, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO presence_settings
                 (aor, visible, same_domain, status, note, updated_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.aor)
        .bind(i64::from(s.visible))
        .bind(&s.same_domain)
        .bind(&s.status)
        .bind(&s.note)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Every `(presentity, watcher, decision)`.
    pub async fn presence_decisions(&self) -> Result<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT presentity, watcher, decision FROM presence_watchers
             ORDER BY presentity, watcher",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Records a decision (`allow`, `deny`, `block`, `pending`) or forgets it (`None`).
    pub async fn set_presence_decision(
        &self,
        presentity: &str,
        watcher: &str,
        decision: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let q = match decision {
            Some(d) => sqlx::query(
                "INSERT OR REPLACE INTO presence_watchers (presentity, watcher, decision, updated_at)
                 VALUES (?, ?, ?, ?)",
            )
            .bind(presentity)
            .bind(watcher)
            .bind(d)
            .bind(now),
            None => sqlx::query("DELETE FROM presence_watchers WHERE presentity = ? AND watcher = ?")
                .bind(presentity)
                .bind(watcher),
        };
        q.execute(self.db.pool()).await?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn settings_and_decisions_round_trip() {
        let s = Store::open_memory().await.unwrap();
        assert!(s.presence_settings().await.unwrap().is_empty());
        let mut bob = PresenceSettings {
            aor: "bob@example.test".into(),
            visible: false,
            same_domain: Some("pending".into()),
            status: Some("dnd".into()),
            note: Some("deep work".into()),
        };
        s.set_presence_settings(&bob, 1).await.unwrap();
        bob.status = None;
        s.set_presence_settings(&bob, 2).await.unwrap();
        assert_eq!(s.presence_settings().await.unwrap(), [bob.clone()]);
        bob.status = Some("asleep".into());
        assert!(s.set_presence_settings(&bob, 3).await.is_err());
        let (p, w) = ("bob@example.test", "eve@other.test");
        s.set_presence_decision(p, w, Some("pending"), 1)
            .await
            .unwrap();
        s.set_presence_decision(p, w, Some("allow"), 2)
            .await
            .unwrap();
        s.set_presence_decision(p, "x@y", Some("block"), 2)
            .await
            .unwrap();
        assert_eq!(
            s.presence_decisions().await.unwrap(),
            [
                (p.into(), w.into(), "allow".into()),
                (p.into(), "x@y".into(), "block".into())
            ]
        );
        s.set_presence_decision(p, w, None, 3).await.unwrap();
        assert_eq!(s.presence_decisions().await.unwrap().len(), 1);
        assert!(
            s.set_presence_decision(p, w, Some("maybe"), 3)
                .await
                .is_err()
        );
    }
}
