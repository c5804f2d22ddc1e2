//! Call history as one party sees it: the call records the SIP core wrote, seen from the
//! caller's or the callee's side, with that party's note and without the entries that party
//! deleted (migration 0005, `history_marks`).
//!
//! A party is a `sip:user@domain` URI exactly as in `calls.caller` / `calls.callee`. The
//! direction of an entry follows from the record: the caller placed it; the callee received
//! it when it was answered and missed it otherwise. Deleting only hides the entry for that
//! party; the record stays for the other one.

use sqlx::Row as _;
use sqlx::sqlite::SqliteRow;

use crate::{CallRecord, Result, Store, StoreError};

/// One entry: the call and the party's note on it.
pub type HistoryRow = (CallRecord, Option<String>);

/// `(device contact URI, last call started at (ms), number of calls)`.
pub type DeviceRow = (String, i64, i64);

const COLUMNS: &str = "c.id, c.call_id, c.caller, c.callee, c.caller_device, c.callee_device,
    c.started_at, c.answered_at, c.ended_at, c.disposition, c.status, m.note";

/// The calls `?1` took part in and did not hide.
const VISIBLE: &str = "FROM calls c LEFT JOIN history_marks m ON m.call = c.id AND m.party = ?1
    WHERE (c.caller = ?1 OR c.callee = ?1) AND COALESCE(m.hidden, 0) = 0";

impl Store {
    /// Newest first. `direction` is `all`, `placed`, `received` or `missed`; `device` keeps
    /// the calls where that contact URI was the party's device; `before` (ms) pages back.
    pub async fn history(
        &self,
        party: &str,
        direction: &str,
        device: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<HistoryRow>> {
        if !matches!(direction, "all" | "placed" | "received" | "missed") {
            return Err(StoreError::Invalid {
                what: "history filter",
                why: format!("{direction:?} is not all, placed, received or missed"),
            });
        }
        let sql = format!(
            "SELECT {COLUMNS} {VISIBLE}
               AND (?2 IS NULL OR c.started_at < ?2)
               AND (?3 IS NULL OR (c.caller = ?1 AND c.caller_device = ?3)
                               OR (c.caller <> ?1 AND c.callee_device = ?3))
               AND (?4 = 'all'
                    OR (?4 = 'placed' AND c.caller = ?1)
                    OR (?4 = 'received' AND c.caller <> ?1 AND c.answered_at IS NOT NULL)
                    OR (?4 = 'missed' AND c.caller <> ?1 AND c.answered_at IS NULL))
             ORDER BY c.started_at DESC, c.rowid DESC LIMIT ?5"
        );
        let rows = sqlx::query(&sql)
            .bind(party)
            .bind(before)
            .bind(device)
            .bind(direction)
            .bind(i64::from(limit))
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(history_row).collect()
    }

    /// One entry the party can see, by call record id.
    pub async fn history_entry(&self, party: &str, id: &str) -> Result<Option<HistoryRow>> {
        let sql = format!("SELECT {COLUMNS} {VISIBLE} AND c.id = ?2");
        let row = sqlx::query(&sql)
            .bind(party)
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        row.as_ref().map(history_row).transpose()
    }

    /// Sets (or with `None` clears) the party's note; `NotFound` unless the party can see
    /// the entry.
    pub async fn set_history_note(&self, party: &str, id: &str, note: Option<&str>) -> Result<()> {
        self.mark_history(party, id, "note = excluded.note", note, false)
            .await
    }

    /// Hides the entry from the party's history; `NotFound` unless the party can see it.
    pub async fn hide_history_entry(&self, party: &str, id: &str) -> Result<()> {
        self.mark_history(party, id, "hidden = 1", None, true).await
    }

    /// The devices the party used in the calls they can see, most recently used first.
    pub async fn history_devices(&self, party: &str) -> Result<Vec<DeviceRow>> {
        let sql = format!(
            "SELECT device, MAX(started_at), COUNT(*) FROM (
                 SELECT CASE WHEN c.caller = ?1 THEN c.caller_device ELSE c.callee_device END
                        AS device, c.started_at {VISIBLE})
             WHERE device IS NOT NULL GROUP BY device ORDER BY 2 DESC, 1"
        );
        let rows = sqlx::query(&sql)
            .bind(party)
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Upserts the party's mark in one statement: the SELECT finds nothing (and nothing is
    /// written) when the call is not the party's or is already hidden.
    async fn mark_history(
        &self,
        party: &str,
        id: &str,
        update: &str,
        note: Option<&str>,
        hidden: bool,
    ) -> Result<()> {
        let sql = format!(
            "INSERT INTO history_marks (call, party, note, hidden)
             SELECT c.id, ?1, ?3, ?4 {VISIBLE} AND c.id = ?2
             ON CONFLICT (call, party) DO UPDATE SET {update}"
        );
        let done = sqlx::query(&sql)
            .bind(party)
            .bind(id)
            .bind(note)
            .bind(hidden)
            .execute(self.db.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "history entry",
                id: id.to_owned(),
            });
        }
        Ok(())
    }
}

fn history_row(r: &SqliteRow) -> Result<HistoryRow> {
    let status: i64 = r.try_get(10)?;
    let rec = CallRecord {
        id: r.try_get(0)?,
        call_id: r.try_get(1)?,
        caller: r.try_get(2)?,
        callee: r.try_get(3)?,
        caller_device: r.try_get(4)?,
        callee_device: r.try_get(5)?,
        started_at: r.try_get(6)?,
        answered_at: r.try_get(7)?,
        ended_at: r.try_get(8)?,
        disposition: r.try_get(9)?,
        status: u16::try_from(status).map_err(|_| StoreError::Corrupt("calls.status"))?,
    };
    Ok((rec, r.try_get(11)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "sip:alice@example.com";
    const BOB: &str = "sip:bob@example.com";

    fn call(id: &str, caller: &str, callee: &str, at: i64, answered: bool) -> CallRecord {
        CallRecord {
            id: id.to_owned(),
            call_id: format!("cid-{id}"),
            caller: caller.to_owned(),
            callee: callee.to_owned(),
            caller_device: Some(format!("{caller}-phone")),
            callee_device: answered.then(|| format!("{callee}-desk")),
            started_at: at,
            answered_at: answered.then_some(at + 1000),
            ended_at: at + 5000,
            disposition: if answered { "answered" } else { "cancelled" }.to_owned(),
            status: if answered { 200 } else { 487 },
        }
    }

    async fn ids(s: &Store, party: &str, dir: &str, device: Option<&str>) -> Vec<String> {
        let rows = s.history(party, dir, device, None, 50).await.unwrap();
        rows.into_iter().map(|(c, _)| c.id).collect()
    }

    #[tokio::test]
    async fn directions_devices_notes_and_hiding() {
        let s = Store::open_memory().await.unwrap();
        s.insert_call(&call("1", ALICE, BOB, 1_000, true))
            .await
            .unwrap();
        s.insert_call(&call("2", ALICE, BOB, 2_000, false))
            .await
            .unwrap();
        s.insert_call(&call("3", BOB, ALICE, 3_000, true))
            .await
            .unwrap();

        assert_eq!(ids(&s, ALICE, "all", None).await, ["3", "2", "1"]);
        assert_eq!(ids(&s, ALICE, "placed", None).await, ["2", "1"]);
        assert_eq!(ids(&s, BOB, "received", None).await, ["1"]);
        assert_eq!(ids(&s, BOB, "missed", None).await, ["2"]);
        assert_eq!(ids(&s, ALICE, "received", None).await, ["3"]);
        let bob_desk = format!("{BOB}-desk");
        assert_eq!(ids(&s, BOB, "all", Some(&bob_desk)).await, ["1"]);
        let page = s.history(ALICE, "all", None, Some(3_000), 1).await.unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].0.id, "2");
        assert!(s.history(ALICE, "sideways", None, None, 5).await.is_err());

        let devices = s.history_devices(BOB).await.unwrap();
        assert_eq!(
            devices,
            [
                (format!("{BOB}-phone"), 3_000, 1),
                (bob_desk.clone(), 1_000, 1)
            ]
        );

        s.set_history_note(BOB, "1", Some("call back"))
            .await
            .unwrap();
        let (_, note) = s.history_entry(BOB, "1").await.unwrap().unwrap();
        assert_eq!(note.as_deref(), Some("call back"));
        // Notes are per party.
        let (_, note) = s.history_entry(ALICE, "1").await.unwrap().unwrap();
        assert_eq!(note, None);
        s.set_history_note(BOB, "1", None).await.unwrap();
        assert_eq!(s.history_entry(BOB, "1").await.unwrap().unwrap().1, None);

        // Hiding is per party and only for the party's own calls.
        s.hide_history_entry(BOB, "1").await.unwrap();
        assert_eq!(ids(&s, BOB, "all", None).await, ["3", "2"]);
        assert_eq!(ids(&s, ALICE, "all", None).await, ["3", "2", "1"]);
        assert!(s.history_entry(BOB, "1").await.unwrap().is_none());
        // Without a note first, too.
        s.hide_history_entry(ALICE, "2").await.unwrap();
        assert_eq!(ids(&s, ALICE, "all", None).await, ["3", "1"]);
        for r in [
            s.hide_history_entry(BOB, "1").await,
            s.set_history_note(BOB, "1", Some("x")).await,
            s.hide_history_entry("sip:carol@example.com", "2").await,
            s.hide_history_entry(BOB, "nope").await,
        ] {
            assert!(matches!(r, Err(StoreError::NotFound { .. })), "{r:?}");
        }
    }
}
