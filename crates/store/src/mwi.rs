//! Message-waiting (migration 0010): voicemail systems, users' profiles (their systems,
//! mailbox ids, activation flags, delivery settings), the counts and per-message details
//! each system last reported per user, the notices kept for offline CAS clients, and the
//! activation commands as recorded.
//!
//! Users are `user@domain` strings as the MWI service writes them; this module does not
//! aggregate, decide who is online, or validate that a user exists.

use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;

use crate::{Result, Store, StoreError};

/// Writes take the write lock up front (see `sqlite::BEGIN_WRITE`).
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// The name of our own voicemail system (always present, in every user's profile).
pub const LOCAL_SYSTEM: &str = "local";

/// One voicemail system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MwiSystem {
    pub name: String,
    /// `local`, `sip` or `cas`.
    pub kind: String,
    pub label: String,
    /// `user@domain` of the system account, for external systems.
    pub account: Option<String>,
    /// `send` or `record`.
    pub activation: String,
}

/// A system in a user's profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MwiProfile {
    pub aor: String,
    pub system: String,
    pub mailbox: Option<String>,
    pub active: bool,
}

/// Per-user delivery settings; `None` follows the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MwiUserSettings {
    pub aor: String,
    pub message_text: Option<bool>,
    pub unsolicited_notify: Option<bool>,
}

/// Message counts of one class (RFC 3842 §5.2: `new/old (urgent_new/urgent_old)`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MwiCounts {
    pub new: u32,
    pub old: u32,
    pub urgent_new: u32,
    pub urgent_old: u32,
}

/// What a system reported about one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MwiMessage {
    pub id: String,
    /// Unix milliseconds.
    pub at: Option<i64>,
    /// The caller (ANI).
    pub ani: Option<String>,
    /// The number called (DNIS).
    pub dnis: Option<String>,
    pub subject: Option<String>,
    pub urgent: bool,
    pub new: bool,
}

/// The last report of one system for one user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MwiState {
    pub aor: String,
    pub system: String,
    pub counts: MwiCounts,
    pub messages: Vec<MwiMessage>,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// `(id, at (ms), event JSON)` of a stored notice.
pub type MwiNotice = (i64, i64, String);

/// A registered device as its owner's profile lists it: no contact or source address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MwiDevice {
    pub user_agent: Option<String>,
    /// `udp` or `tcp`.
    pub transport: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// Declared service classes (`voice,video,im`), if known.
    pub classes: Option<String>,
}

fn count(row: &SqliteRow, col: &'static str) -> Result<u32> {
    let v: i64 = row.try_get(col)?;
    u32::try_from(v).map_err(|_| StoreError::Corrupt("mwi_counts"))
}

fn check_system(s: &MwiSystem) -> Result<()> {
    let invalid = |why: &str| {
        Err(StoreError::Invalid {
            what: "voicemail system",
            why: why.to_owned(),
        })
    };
    if s.name.is_empty() || s.name.len() > 64 || s.name.contains(char::is_whitespace) {
        return invalid("the name must be 1–64 characters without spaces");
    }
    if s.name == LOCAL_SYSTEM && s.kind != "local" {
        return invalid("`local` is our own voicemail");
    }
    match s.kind.as_str() {
        "sip" | "cas" if s.account.as_deref().is_some_and(|a| a.contains('@')) => {}
        "sip" | "cas" => return invalid("an external system needs an account user@domain"),
        "local" if s.name == LOCAL_SYSTEM => {}
        _ => return invalid("kind is sip or cas"),
    }
    if !matches!(s.activation.as_str(), "send" | "record") {
        return invalid("activation is send or record");
    }
    Ok(())
}

impl Store {
    /// The live registered devices of `aor` (`user@domain`), oldest binding first.
    pub async fn mwi_devices(&self, aor: &str, now_unix: i64) -> Result<Vec<MwiDevice>> {
        let rows = sqlx::query(
            "SELECT user_agent, transport, expires_at, classes FROM bindings
             WHERE aor = ? AND expires_at > ? ORDER BY id",
        )
        .bind(aor)
        .bind(now_unix)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MwiDevice {
                    user_agent: r.try_get("user_agent")?,
                    transport: r.try_get("transport")?,
                    expires_at: r.try_get("expires_at")?,
                    classes: r.try_get("classes")?,
                })
            })
            .collect()
    }

    /// Bumped whenever systems, profiles or user settings change.
    pub async fn mwi_config_version(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT v FROM mwi_config_version WHERE id = 1")
                .fetch_one(self.db.pool())
                .await?,
        )
    }

    /// Every system, `local` included, by name.
    pub async fn mwi_systems(&self) -> Result<Vec<MwiSystem>> {
        let rows = sqlx::query(
            "SELECT name, kind, label, account, activation FROM mwi_systems ORDER BY name",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MwiSystem {
                    name: r.try_get("name")?,
                    kind: r.try_get("kind")?,
                    label: r.try_get("label")?,
                    account: r.try_get("account")?,
                    activation: r.try_get("activation")?,
                })
            })
            .collect()
    }

    /// Adds or replaces a system (the `local` one only keeps kind `local`).
    pub async fn mwi_put_system(&self, s: &MwiSystem) -> Result<()> {
        check_system(s)?;
        sqlx::query(
            "INSERT INTO mwi_systems (name, kind, label, account, activation)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, label = excluded.label,
                 account = excluded.account, activation = excluded.activation",
        )
        .bind(&s.name)
        .bind(&s.kind)
        .bind(&s.label)
        .bind(&s.account)
        .bind(&s.activation)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Removes an external system with its profiles and reports.
    pub async fn mwi_remove_system(&self, name: &str) -> Result<()> {
        if name == LOCAL_SYSTEM {
            return Err(StoreError::Invalid {
                what: "voicemail system",
                why: "`local` cannot be removed".into(),
            });
        }
        let mut tx = self.db.pool().begin_with(BEGIN_WRITE).await?;
        sqlx::query("DELETE FROM mwi_messages WHERE system = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM mwi_systems WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "voicemail system",
                id: name.to_owned(),
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every profile row (the cache is warmed with all of them).
    pub async fn mwi_profiles(&self) -> Result<Vec<MwiProfile>> {
        let rows = sqlx::query(
            "SELECT aor, system, mailbox, active FROM mwi_profiles ORDER BY aor, system",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MwiProfile {
                    aor: r.try_get("aor")?,
                    system: r.try_get("system")?,
                    mailbox: r.try_get("mailbox")?,
                    active: r.try_get::<i64, _>("active")? != 0,
                })
            })
            .collect()
    }

    /// Puts `system` into `aor`'s profile with its mailbox id there (keeps the activation
    /// flag of an existing row).
    pub async fn mwi_assign(&self, aor: &str, system: &str, mailbox: Option<&str>) -> Result<()> {
        let known: Option<String> =
            sqlx::query_scalar("SELECT name FROM mwi_systems WHERE name = ?")
                .bind(system)
                .fetch_optional(self.db.pool())
                .await?;
        if known.is_none() {
            return Err(StoreError::NotFound {
                what: "voicemail system",
                id: system.to_owned(),
            });
        }
        sqlx::query(
            "INSERT INTO mwi_profiles (aor, system, mailbox) VALUES (?, ?, ?)
             ON CONFLICT (aor, system) DO UPDATE SET mailbox = excluded.mailbox",
        )
        .bind(aor)
        .bind(system)
        .bind(mailbox)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Takes `system` out of `aor`'s profile and forgets its reports for them.
    pub async fn mwi_unassign(&self, aor: &str, system: &str) -> Result<()> {
        let mut tx = self.db.pool().begin_with(BEGIN_WRITE).await?;
        for sql in [
            "DELETE FROM mwi_messages WHERE aor = ? AND system = ?",
            "DELETE FROM mwi_counts WHERE aor = ? AND system = ?",
            "DELETE FROM mwi_profiles WHERE aor = ? AND system = ?",
        ] {
            sqlx::query(sql)
                .bind(aor)
                .bind(system)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sets the activation flag of `(aor, system)` (creating the profile row for `local`)
    /// and records the command. Returns the id of the record.
    pub async fn mwi_set_active(
        &self,
        aor: &str,
        system: &str,
        active: bool,
        sent: bool,
        by: &str,
        at_ms: i64,
    ) -> Result<i64> {
        let mut tx = self.db.pool().begin_with(BEGIN_WRITE).await?;
        sqlx::query(
            "INSERT INTO mwi_profiles (aor, system, active) VALUES (?, ?, ?)
             ON CONFLICT (aor, system) DO UPDATE SET active = excluded.active",
        )
        .bind(aor)
        .bind(system)
        .bind(i64::from(active))
        .execute(&mut *tx)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO mwi_activations (aor, system, active, at, sent, by)
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(aor)
        .bind(system)
        .bind(i64::from(active))
        .bind(at_ms)
        .bind(i64::from(sent))
        .bind(by)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Recorded activation commands of a user, oldest first:
    /// `(system, active, at (ms), sent, by)`.
    pub async fn mwi_activations(
        &self,
        aor: &str,
    ) -> Result<Vec<(String, bool, i64, bool, String)>> {
        let rows = sqlx::query(
            "SELECT system, active, at, sent, by FROM mwi_activations WHERE aor = ? ORDER BY id",
        )
        .bind(aor)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("system")?,
                    r.try_get::<i64, _>("active")? != 0,
                    r.try_get("at")?,
                    r.try_get::<i64, _>("sent")? != 0,
                    r.try_get("by")?,
                ))
            })
            .collect()
    }

    /// Every user's delivery settings.
    pub async fn mwi_user_settings(&self) -> Result<Vec<MwiUserSettings>> {
        let rows = sqlx::query("SELECT aor, message_text, unsolicited_notify FROM mwi_users")
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(MwiUserSettings {
                    aor: r.try_get("aor")?,
                    message_text: r.try_get::<Option<i64>, _>("message_text")?.map(|v| v != 0),
                    unsolicited_notify: r
                        .try_get::<Option<i64>, _>("unsolicited_notify")?
                        .map(|v| v != 0),
                })
            })
            .collect()
    }

    pub async fn mwi_put_user_settings(&self, s: &MwiUserSettings) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO mwi_users (aor, message_text, unsolicited_notify)
             VALUES (?, ?, ?)",
        )
        .bind(&s.aor)
        .bind(s.message_text.map(i64::from))
        .bind(s.unsolicited_notify.map(i64::from))
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Every stored report with its messages (the cache is warmed with all of them).
    pub async fn mwi_states(&self) -> Result<Vec<MwiState>> {
        let rows = sqlx::query(
            "SELECT aor, system, new, old, urgent_new, urgent_old, updated_at
             FROM mwi_counts ORDER BY aor, system",
        )
        .fetch_all(self.db.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(MwiState {
                aor: r.try_get("aor")?,
                system: r.try_get("system")?,
                counts: MwiCounts {
                    new: count(r, "new")?,
                    old: count(r, "old")?,
                    urgent_new: count(r, "urgent_new")?,
                    urgent_old: count(r, "urgent_old")?,
                },
                messages: Vec::new(),
                updated_at: r.try_get("updated_at")?,
            });
        }
        let msgs = sqlx::query(
            "SELECT aor, system, msg_id, at, ani, dnis, subject, urgent, is_new
             FROM mwi_messages ORDER BY aor, system, seq",
        )
        .fetch_all(self.db.pool())
        .await?;
        for m in &msgs {
            let aor: String = m.try_get("aor")?;
            let system: String = m.try_get("system")?;
            let Some(state) = out.iter_mut().find(|s| s.aor == aor && s.system == system) else {
                continue;
            };
            state.messages.push(MwiMessage {
                id: m.try_get("msg_id")?,
                at: m.try_get("at")?,
                ani: m.try_get("ani")?,
                dnis: m.try_get("dnis")?,
                subject: m.try_get("subject")?,
                urgent: m.try_get::<i64, _>("urgent")? != 0,
                new: m.try_get::<i64, _>("is_new")? != 0,
            });
        }
        Ok(out)
    }

    /// Replaces what `state.system` reported for `state.aor` (counts and messages) and
    /// stores the notice about it in the same transaction (`pending` when the user has no
    /// CAS client to push it to). Returns the notice id.
    pub async fn mwi_put_state(
        &self,
        state: &MwiState,
        notice: &str,
        pending: bool,
    ) -> Result<i64> {
        let mut tx = self.db.pool().begin_with(BEGIN_WRITE).await?;
        sqlx::query("DELETE FROM mwi_messages WHERE aor = ? AND system = ?")
            .bind(&state.aor)
            .bind(&state.system)
            .execute(&mut *tx)
            .await?;
        let c = state.counts;
        sqlx::query(
            "INSERT INTO mwi_counts (aor, system, new, old, urgent_new, urgent_old, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (aor, system) DO UPDATE SET new = excluded.new, old = excluded.old,
                 urgent_new = excluded.urgent_new, urgent_old = excluded.urgent_old,
                 updated_at = excluded.updated_at",
        )
        .bind(&state.aor)
        .bind(&state.system)
        .bind(i64::from(c.new))
        .bind(i64::from(c.old))
        .bind(i64::from(c.urgent_new))
        .bind(i64::from(c.urgent_old))
        .bind(state.updated_at)
        .execute(&mut *tx)
        .await?;
        for (seq, m) in state.messages.iter().enumerate() {
            sqlx::query(
                "INSERT INTO mwi_messages
                     (aor, system, seq, msg_id, at, ani, dnis, subject, urgent, is_new)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&state.aor)
            .bind(&state.system)
            .bind(i64::try_from(seq).unwrap_or(i64::MAX))
            .bind(&m.id)
            .bind(m.at)
            .bind(&m.ani)
            .bind(&m.dnis)
            .bind(&m.subject)
            .bind(i64::from(m.urgent))
            .bind(i64::from(m.new))
            .execute(&mut *tx)
            .await?;
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO mwi_notices (aor, at, event, pending) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(&state.aor)
        .bind(state.updated_at)
        .bind(notice)
        .bind(i64::from(pending))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Stores a notice that came without a new report (activation, profile change).
    pub async fn mwi_insert_notice(
        &self,
        aor: &str,
        at_ms: i64,
        notice: &str,
        pending: bool,
    ) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO mwi_notices (aor, at, event, pending) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(aor)
        .bind(at_ms)
        .bind(notice)
        .bind(i64::from(pending))
        .fetch_one(self.db.pool())
        .await?)
    }

    /// Notices waiting for `aor`'s next CAS session, oldest first.
    pub async fn mwi_pending_notices(&self, aor: &str) -> Result<Vec<MwiNotice>> {
        let rows = sqlx::query(
            "SELECT id, at, event FROM mwi_notices WHERE aor = ? AND pending = 1 ORDER BY id",
        )
        .bind(aor)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("at")?, r.try_get("event")?)))
            .collect()
    }

    /// Clears the pending flag of `aor`'s notices up to id `up_to`.
    pub async fn mwi_notices_delivered(&self, aor: &str, up_to: i64) -> Result<()> {
        sqlx::query("UPDATE mwi_notices SET pending = 0 WHERE aor = ? AND pending = 1 AND id <= ?")
            .bind(aor)
            .bind(up_to)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    const B: &str = "bob@example.com";

    fn pbx() -> MwiSystem {
        MwiSystem {
            name: "pbx".into(),
            kind: "sip".into(),
            label: "Old PBX".into(),
            account: Some("pbx@example.com".into()),
            activation: "send".into(),
        }
    }

    #[tokio::test]
    async fn systems_profiles_and_version() {
        let s = Store::open_memory().await.unwrap();
        let v0 = s.mwi_config_version().await.unwrap();
        assert_eq!(s.mwi_systems().await.unwrap()[0].name, LOCAL_SYSTEM);
        s.mwi_put_system(&pbx()).await.unwrap();
        let mut bad = pbx();
        bad.account = None;
        assert!(s.mwi_put_system(&bad).await.is_err());
        assert!(s.mwi_assign(B, "nope", None).await.is_err());
        s.mwi_assign(B, "pbx", Some("4711")).await.unwrap();
        s.mwi_set_active(B, "pbx", false, true, B, 5).await.unwrap();
        s.mwi_assign(B, "pbx", Some("4712")).await.unwrap();
        let p = s.mwi_profiles().await.unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].mailbox.as_deref(), p[0].active),
            (Some("4712"), false)
        );
        assert!(s.mwi_config_version().await.unwrap() > v0);
        let log = s.mwi_activations(B).await.unwrap();
        assert_eq!(log, [("pbx".into(), false, 5, true, B.into())]);
        assert!(s.mwi_remove_system(LOCAL_SYSTEM).await.is_err());
        s.mwi_remove_system("pbx").await.unwrap();
        assert!(s.mwi_profiles().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn states_replace_and_notices_wait() {
        let s = Store::open_memory().await.unwrap();
        s.mwi_put_system(&pbx()).await.unwrap();
        let mut st = MwiState {
            aor: B.into(),
            system: "pbx".into(),
            counts: MwiCounts {
                new: 2,
                old: 1,
                urgent_new: 1,
                urgent_old: 0,
            },
            messages: vec![
                MwiMessage {
                    id: "m1".into(),
                    at: Some(1000),
                    ani: Some("1001".into()),
                    dnis: Some("2000".into()),
                    new: true,
                    ..MwiMessage::default()
                },
                MwiMessage {
                    id: "m2".into(),
                    new: true,
                    urgent: true,
                    ..MwiMessage::default()
                },
            ],
            updated_at: 7,
        };
        let n1 = s.mwi_put_state(&st, "{\"a\":1}", true).await.unwrap();
        assert_eq!(s.mwi_states().await.unwrap(), [st.clone()]);
        st.messages.truncate(1);
        st.counts.new = 1;
        let n2 = s.mwi_put_state(&st, "{\"a\":2}", true).await.unwrap();
        s.mwi_put_state(&st, "{\"a\":3}", false).await.unwrap();
        assert_eq!(s.mwi_states().await.unwrap(), [st]);
        let pending = s.mwi_pending_notices(B).await.unwrap();
        assert_eq!(pending.iter().map(|n| n.0).collect::<Vec<_>>(), [n1, n2]);
        s.mwi_notices_delivered(B, n2).await.unwrap();
        assert!(s.mwi_pending_notices(B).await.unwrap().is_empty());
    }
}
