//! Instant messages (migration 0006, `im_messages`): every message is stored once and read
//! as the conversation history of either party; a message sent while its recipient had no
//! client online also carries two "pending" flags, one per way of reaching the user (CAS
//! sessions, SIP devices), cleared when that way delivered it.
//!
//! Parties are `user@domain` strings exactly as the IM service writes them; this module does
//! not resolve or validate users, and it decides nothing about who is online.

use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;

use crate::{Result, Store};

/// `(id, sender, recipient, content_type, body, sent_at (ms), read_at (ms))`.
pub type ImRow = (i64, String, String, String, String, i64, Option<i64>);

/// `(peer, unread messages from the peer, last message either way)`.
pub type ConversationRow = (String, i64, ImRow);

const COLUMNS: &str = "id, sender, recipient, content_type, body, sent_at, read_at";

/// Which way of reaching a recipient a pending flag is about.
#[derive(Debug, Clone, Copy)]
enum Channel {
    Sessions,
    Devices,
}

impl Channel {
    fn pending_query(self) -> &'static str {
        match self {
            Channel::Sessions => {
                "SELECT id, sender, recipient, content_type, body, sent_at, read_at
                 FROM im_messages WHERE recipient = ? AND pending_sessions = 1 ORDER BY id"
            }
            Channel::Devices => {
                "SELECT id, sender, recipient, content_type, body, sent_at, read_at
                 FROM im_messages WHERE recipient = ? AND pending_devices = 1 ORDER BY id"
            }
        }
    }

    fn delivered_update(self) -> &'static str {
        match self {
            Channel::Sessions => {
                "UPDATE im_messages SET pending_sessions = 0
                 WHERE recipient = ? AND pending_sessions = 1 AND id <= ?"
            }
            Channel::Devices => {
                "UPDATE im_messages SET pending_devices = 0
                 WHERE recipient = ? AND pending_devices = 1 AND id <= ?"
            }
        }
    }
}

fn im_row(row: &SqliteRow) -> Result<ImRow> {
    Ok((
        row.try_get("id")?,
        row.try_get("sender")?,
        row.try_get("recipient")?,
        row.try_get("content_type")?,
        row.try_get("body")?,
        row.try_get("sent_at")?,
        row.try_get("read_at")?,
    ))
}

impl Store {
    /// Stores a message; `pending` marks it for delivery at the recipient's next login and
    /// next registration. Returns its id.
    pub async fn insert_im(
        &self,
        sender: &str,
        recipient: &str,
        content_type: &str,
        body: &str,
        sent_at: i64,
        pending: bool,
    ) -> Result<i64> {
        let flag = i64::from(pending);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO im_messages
                 (sender, recipient, content_type, body, sent_at, pending_sessions, pending_devices)
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(sender)
        .bind(recipient)
        .bind(content_type)
        .bind(body)
        .bind(sent_at)
        .bind(flag)
        .bind(flag)
        .fetch_one(self.db.pool())
        .await?;
        Ok(id)
    }

    /// The conversation between `me` and `peer`, oldest first: the `limit` newest messages
    /// with an id below `before` (all when `None`).
    pub async fn im_history(
        &self,
        me: &str,
        peer: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ImRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM im_messages
             WHERE ((sender = ? AND recipient = ?) OR (sender = ? AND recipient = ?)) AND id < ?
             ORDER BY id DESC LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(me)
            .bind(peer)
            .bind(peer)
            .bind(me)
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(self.db.pool())
            .await?;
        let mut out = rows.iter().map(im_row).collect::<Result<Vec<_>>>()?;
        out.reverse();
        Ok(out)
    }

    /// Everyone `me` exchanged messages with, most recent conversation first, with the
    /// number of unread messages from them and the last message either way.
    pub async fn im_conversations(&self, me: &str, limit: u32) -> Result<Vec<ConversationRow>> {
        let rows = sqlx::query(
            "SELECT c.peer, c.unread, m.id, m.sender, m.recipient, m.content_type, m.body,
                    m.sent_at, m.read_at
             FROM (SELECT CASE WHEN sender = ? THEN recipient ELSE sender END AS peer,
                          MAX(id) AS last_id,
                          SUM(CASE WHEN recipient = ? AND read_at IS NULL THEN 1 ELSE 0 END)
                              AS unread
                   FROM im_messages WHERE sender = ? OR recipient = ?
                   GROUP BY peer) c
             JOIN im_messages m ON m.id = c.last_id
             ORDER BY m.id DESC LIMIT ?",
        )
        .bind(me)
        .bind(me)
        .bind(me)
        .bind(me)
        .bind(i64::from(limit))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("peer")?, r.try_get("unread")?, im_row(r)?)))
            .collect()
    }

    /// Marks every unread message from `peer` to `me` read (and no longer pending: a device
    /// registering later need not be told what was already read). Returns how many.
    pub async fn im_mark_read(&self, me: &str, peer: &str, now_ms: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE im_messages SET read_at = ?, pending_sessions = 0, pending_devices = 0
             WHERE recipient = ? AND sender = ? AND read_at IS NULL",
        )
        .bind(now_ms)
        .bind(me)
        .bind(peer)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Messages waiting for `recipient`'s next CAS session, oldest first.
    pub async fn im_pending_for_sessions(&self, recipient: &str) -> Result<Vec<ImRow>> {
        self.im_pending(Channel::Sessions, recipient).await
    }

    /// Messages waiting for `recipient`'s next registered device, oldest first.
    pub async fn im_pending_for_devices(&self, recipient: &str) -> Result<Vec<ImRow>> {
        self.im_pending(Channel::Devices, recipient).await
    }

    /// Clears the session flag of `recipient`'s pending messages up to id `up_to`.
    pub async fn im_delivered_to_sessions(&self, recipient: &str, up_to: i64) -> Result<()> {
        self.im_delivered(Channel::Sessions, recipient, up_to).await
    }

    /// Clears the device flag of `recipient`'s pending messages up to id `up_to`.
    pub async fn im_delivered_to_devices(&self, recipient: &str, up_to: i64) -> Result<()> {
        self.im_delivered(Channel::Devices, recipient, up_to).await
    }

    async fn im_pending(&self, channel: Channel, recipient: &str) -> Result<Vec<ImRow>> {
        let rows = sqlx::query(channel.pending_query())
            .bind(recipient)
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(im_row).collect()
    }

    async fn im_delivered(&self, channel: Channel, recipient: &str, up_to: i64) -> Result<()> {
        sqlx::query(channel.delivered_update())
            .bind(recipient)
            .bind(up_to)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "alice@example.com";
    const B: &str = "bob@example.com";
    const C: &str = "carol@example.com";

    #[tokio::test]
    async fn history_pages_back_oldest_first() {
        let s = Store::open_memory().await.unwrap();
        let mut ids = Vec::new();
        for (i, (from, to)) in [(A, B), (B, A), (A, C), (A, B)].into_iter().enumerate() {
            let at = i64::try_from(i).unwrap();
            ids.push(
                s.insert_im(from, to, "text/plain", &format!("m{i}"), at, false)
                    .await
                    .unwrap(),
            );
        }
        let all = s.im_history(A, B, None, 10).await.unwrap();
        let bodies: Vec<&str> = all.iter().map(|m| m.4.as_str()).collect();
        assert_eq!(bodies, ["m0", "m1", "m3"]);
        // The same conversation from the other side.
        assert_eq!(s.im_history(B, A, None, 10).await.unwrap(), all);
        // The newest two, then the one before them.
        let page = s.im_history(A, B, None, 2).await.unwrap();
        assert_eq!(
            page.iter().map(|m| m.4.as_str()).collect::<Vec<_>>(),
            ["m1", "m3"]
        );
        let older = s.im_history(A, B, Some(page[0].0), 2).await.unwrap();
        assert_eq!(
            older.iter().map(|m| m.4.as_str()).collect::<Vec<_>>(),
            ["m0"]
        );
    }

    #[tokio::test]
    async fn conversations_count_unread_and_mark_read() {
        let s = Store::open_memory().await.unwrap();
        s.insert_im(B, A, "text/plain", "hi", 1, false)
            .await
            .unwrap();
        s.insert_im(B, A, "text/plain", "there", 2, false)
            .await
            .unwrap();
        s.insert_im(A, C, "text/plain", "yo", 3, false)
            .await
            .unwrap();
        let convs = s.im_conversations(A, 10).await.unwrap();
        assert_eq!(convs.len(), 2);
        assert_eq!((convs[0].0.as_str(), convs[0].1), (C, 0));
        assert_eq!((convs[1].0.as_str(), convs[1].1), (B, 2));
        assert_eq!(convs[1].2.4, "there");
        assert_eq!(s.im_mark_read(A, B, 9).await.unwrap(), 2);
        assert_eq!(s.im_mark_read(A, B, 9).await.unwrap(), 0);
        let convs = s.im_conversations(A, 10).await.unwrap();
        assert_eq!(convs[1].1, 0);
        assert_eq!(convs[1].2.6, Some(9));
        // Bob's side: his own messages are never unread for him.
        assert_eq!(s.im_conversations(B, 10).await.unwrap()[0].1, 0);
    }

    #[tokio::test]
    async fn pending_flags_clear_per_channel() {
        let s = Store::open_memory().await.unwrap();
        let first = s.insert_im(A, C, "text/plain", "1", 1, true).await.unwrap();
        s.insert_im(A, C, "text/plain", "live", 2, false)
            .await
            .unwrap();
        let last = s.insert_im(B, C, "text/plain", "2", 3, true).await.unwrap();
        let pending = s.im_pending_for_sessions(C).await.unwrap();
        assert_eq!(
            pending.iter().map(|m| m.0).collect::<Vec<_>>(),
            [first, last]
        );
        s.im_delivered_to_sessions(C, first).await.unwrap();
        assert_eq!(s.im_pending_for_sessions(C).await.unwrap().len(), 1);
        assert_eq!(s.im_pending_for_devices(C).await.unwrap().len(), 2);
        s.im_delivered_to_devices(C, last).await.unwrap();
        assert!(s.im_pending_for_devices(C).await.unwrap().is_empty());
        // Reading a conversation clears what is still pending from that peer.
        s.im_mark_read(C, B, 5).await.unwrap();
        assert!(s.im_pending_for_sessions(C).await.unwrap().is_empty());
    }
}
