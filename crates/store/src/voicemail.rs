//! Voicemail rows (migration 0009): mailboxes (PIN hash) and message metadata. The audio is
//! in files that `services::voicemail` owns; this module only keeps the rows, including the
//! `state` column of the crash protocol (`pending` → `ready` → `deleting`).
//!
//! Mailboxes are `user@domain` strings as the voicemail service writes them; nothing here
//! checks that the user exists or decides who may see what.

use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;

use crate::{Result, Store};

/// One message row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmRow {
    pub id: i64,
    pub mailbox: String,
    pub caller: String,
    pub called: String,
    /// Unix milliseconds.
    pub received_at: i64,
    pub duration_ms: i64,
    pub subject: String,
    pub heard: bool,
    /// `new` or `saved`.
    pub folder: String,
    /// `pending`, `ready` or `deleting`.
    pub state: String,
    /// `call`, `forward`, `reply` or `send`.
    pub origin: String,
}

/// What a new (pending) message row starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVm<'a> {
    pub mailbox: &'a str,
    pub caller: &'a str,
    pub called: &'a str,
    pub received_at: i64,
    pub subject: &'a str,
    pub origin: &'a str,
}

const COLUMNS: &str =
    "id, mailbox, caller, called, received_at, duration_ms, subject, heard, folder, state, origin";

fn vm_row(row: &SqliteRow) -> Result<VmRow> {
    Ok(VmRow {
        id: row.try_get("id")?,
        mailbox: row.try_get("mailbox")?,
        caller: row.try_get("caller")?,
        called: row.try_get("called")?,
        received_at: row.try_get("received_at")?,
        duration_ms: row.try_get("duration_ms")?,
        subject: row.try_get("subject")?,
        heard: row.try_get::<i64, _>("heard")? != 0,
        folder: row.try_get("folder")?,
        state: row.try_get("state")?,
        origin: row.try_get("origin")?,
    })
}

impl Store {
    /// Inserts a `pending` message (its audio is not written yet); returns its id.
    pub async fn vm_insert_pending(&self, m: &NewVm<'_>) -> Result<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO vm_messages (mailbox, caller, called, received_at, subject, origin, state)
             VALUES (?, ?, ?, ?, ?, ?, 'pending') RETURNING id",
        )
        .bind(m.mailbox)
        .bind(m.caller)
        .bind(m.called)
        .bind(m.received_at)
        .bind(m.subject)
        .bind(m.origin)
        .fetch_one(self.db.pool())
        .await?;
        Ok(id)
    }

    /// `pending` → `ready` once the file is in place. False if the row is not pending.
    pub async fn vm_set_ready(&self, id: i64, duration_ms: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE vm_messages SET state = 'ready', duration_ms = ?
             WHERE id = ? AND state = 'pending'",
        )
        .bind(duration_ms)
        .bind(id)
        .execute(self.db.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// `ready` → `deleting` (the first step of a delete). False if no such ready message.
    pub async fn vm_mark_deleting(&self, mailbox: &str, id: i64) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE vm_messages SET state = 'deleting'
             WHERE id = ? AND mailbox = ? AND state = 'ready'",
        )
        .bind(id)
        .bind(mailbox)
        .execute(self.db.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Removes a row whatever its state.
    pub async fn vm_delete_row(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM vm_messages WHERE id = ?")
            .bind(id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// The ready messages of a mailbox (one folder, or all), oldest first.
    pub async fn vm_messages(&self, mailbox: &str, folder: Option<&str>) -> Result<Vec<VmRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM vm_messages
             WHERE mailbox = ? AND state = 'ready' AND (? IS NULL OR folder = ?)
             ORDER BY id"
        );
        let rows = sqlx::query(&sql)
            .bind(mailbox)
            .bind(folder)
            .bind(folder)
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(vm_row).collect()
    }

    /// One ready message of a mailbox.
    pub async fn vm_message(&self, mailbox: &str, id: i64) -> Result<Option<VmRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM vm_messages WHERE id = ? AND mailbox = ? AND state = 'ready'"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(mailbox)
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(vm_row).transpose()
    }

    /// Every row in every state (reconciliation and integrity checks).
    pub async fn vm_all_rows(&self) -> Result<Vec<VmRow>> {
        let sql = format!("SELECT {COLUMNS} FROM vm_messages ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(self.db.pool()).await?;
        rows.iter().map(vm_row).collect()
    }

    /// Sets `heard`, and `folder` when given, of a ready message. False if there is none.
    pub async fn vm_update_flags(
        &self,
        mailbox: &str,
        id: i64,
        heard: bool,
        folder: Option<&str>,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE vm_messages SET heard = ?, folder = COALESCE(?, folder)
             WHERE id = ? AND mailbox = ? AND state = 'ready'",
        )
        .bind(i64::from(heard))
        .bind(folder)
        .bind(id)
        .bind(mailbox)
        .execute(self.db.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Replaces the subject of a ready message. False if there is none.
    pub async fn vm_set_subject(&self, mailbox: &str, id: i64, subject: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE vm_messages SET subject = ? WHERE id = ? AND mailbox = ? AND state = 'ready'",
        )
        .bind(subject)
        .bind(id)
        .bind(mailbox)
        .execute(self.db.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// `(unheard, heard)` ready messages of a mailbox.
    pub async fn vm_counts(&self, mailbox: &str) -> Result<(u32, u32)> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(heard = 0), 0) AS new, COALESCE(SUM(heard = 1), 0) AS old
             FROM vm_messages WHERE mailbox = ? AND state = 'ready'",
        )
        .bind(mailbox)
        .fetch_one(self.db.pool())
        .await?;
        let new: i64 = row.try_get("new")?;
        let old: i64 = row.try_get("old")?;
        Ok((clamp(new), clamp(old)))
    }

    /// `(mailbox, unheard, heard)` of every mailbox holding a ready message.
    pub async fn vm_all_counts(&self) -> Result<Vec<(String, u32, u32)>> {
        let rows = sqlx::query(
            "SELECT mailbox, SUM(heard = 0) AS new, SUM(heard = 1) AS old
             FROM vm_messages WHERE state = 'ready' GROUP BY mailbox ORDER BY mailbox",
        )
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let new: i64 = r.try_get("new")?;
                let old: i64 = r.try_get("old")?;
                Ok((r.try_get("mailbox")?, clamp(new), clamp(old)))
            })
            .collect()
    }

    /// The PIN hash of a mailbox (`None`: never set).
    pub async fn vm_pin_hash(&self, mailbox: &str) -> Result<Option<String>> {
        let v: Option<Option<String>> =
            sqlx::query_scalar("SELECT pin_hash FROM vm_mailboxes WHERE aor = ?")
                .bind(mailbox)
                .fetch_optional(self.db.pool())
                .await?;
        Ok(v.flatten())
    }

    pub async fn vm_set_pin_hash(&self, mailbox: &str, hash: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO vm_mailboxes (aor, pin_hash, updated_at) VALUES (?, ?, ?)
             ON CONFLICT (aor) DO UPDATE SET pin_hash = excluded.pin_hash,
                                             updated_at = excluded.updated_at",
        )
        .bind(mailbox)
        .bind(hash)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }
}

fn clamp(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lifecycle() {
        let s = Store::open_memory().await.unwrap();
        let m = NewVm {
            mailbox: "bob@example.com",
            caller: "sip:alice@example.com",
            called: "bob",
            received_at: 1000,
            subject: "",
            origin: "call",
        };
        let id = s.vm_insert_pending(&m).await.unwrap();
        assert!(
            s.vm_messages("bob@example.com", None)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(s.vm_counts("bob@example.com").await.unwrap(), (0, 0));
        assert!(s.vm_set_ready(id, 2500).await.unwrap());
        assert!(!s.vm_set_ready(id, 2500).await.unwrap());
        assert_eq!(s.vm_counts("bob@example.com").await.unwrap(), (1, 0));
        assert!(
            s.vm_update_flags("bob@example.com", id, true, Some("saved"))
                .await
                .unwrap()
        );
        assert!(
            !s.vm_update_flags("eve@example.com", id, true, None)
                .await
                .unwrap()
        );
        let row = s.vm_message("bob@example.com", id).await.unwrap().unwrap();
        assert_eq!((row.heard, row.folder.as_str()), (true, "saved"));
        assert_eq!(
            s.vm_all_counts().await.unwrap(),
            vec![("bob@example.com".to_owned(), 0, 1)]
        );
        assert!(s.vm_set_subject("bob@example.com", id, "hi").await.unwrap());
        assert!(s.vm_mark_deleting("bob@example.com", id).await.unwrap());
        assert_eq!(s.vm_counts("bob@example.com").await.unwrap(), (0, 0));
        assert_eq!(s.vm_all_rows().await.unwrap().len(), 1);
        s.vm_delete_row(id).await.unwrap();
        assert!(s.vm_all_rows().await.unwrap().is_empty());
        assert_eq!(s.vm_pin_hash("bob@example.com").await.unwrap(), None);
        s.vm_set_pin_hash("bob@example.com", "x$y", 1)
            .await
            .unwrap();
        s.vm_set_pin_hash("bob@example.com", "a$b", 2)
            .await
            .unwrap();
        assert_eq!(
            s.vm_pin_hash("bob@example.com").await.unwrap().as_deref(),
            Some("a$b")
        );
    }
}
