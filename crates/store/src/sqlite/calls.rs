//! Call records for call history.

use super::{Db, narrow};
use crate::{CallRecord, Result};

type CallRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    i64,
    String,
    i64,
);

impl Db {
    pub(crate) async fn insert_call(&self, rec: &CallRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO calls (id, call_id, caller, callee, caller_device, callee_device,
                                started_at, answered_at, ended_at, disposition, status)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&rec.id)
        .bind(&rec.call_id)
        .bind(&rec.caller)
        .bind(&rec.callee)
        .bind(&rec.caller_device)
        .bind(&rec.callee_device)
        .bind(rec.started_at)
        .bind(rec.answered_at)
        .bind(rec.ended_at)
        .bind(&rec.disposition)
        .bind(i64::from(rec.status))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn calls_for_user(
        &self,
        user_aor: &str,
        limit: u32,
    ) -> Result<Vec<CallRecord>> {
        let rows: Vec<CallRow> = sqlx::query_as(
            "SELECT id, call_id, caller, callee, caller_device, callee_device, started_at,
                    answered_at, ended_at, disposition, status
             FROM calls WHERE caller = ?1 OR callee = ?1
             ORDER BY started_at DESC, rowid DESC LIMIT ?2",
        )
        .bind(user_aor)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(call_record).collect()
    }
}

fn call_record(row: CallRow) -> Result<CallRecord> {
    let (id, call_id, caller, callee, caller_device, callee_device) =
        (row.0, row.1, row.2, row.3, row.4, row.5);
    let (started_at, answered_at, ended_at, disposition, status) =
        (row.6, row.7, row.8, row.9, row.10);
    Ok(CallRecord {
        id,
        call_id,
        caller,
        callee,
        caller_device,
        callee_device,
        started_at,
        answered_at,
        ended_at,
        disposition,
        status: narrow(status, "calls.status")?,
    })
}
