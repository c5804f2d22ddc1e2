//! A tiny numbered-migration runner: `schema_version` records what has been applied.
//!
//! sqlx's own migrator is not used because it is tied to its macros feature and to one
//! database flavour per binary; this keeps one list per backend, embedded at compile time.

use sqlx::SqlitePool;

use super::BEGIN_WRITE;
use crate::{Result, StoreError};

/// `(version, sql)` in ascending order. Released entries are never edited, only appended.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_permissions.sql"),
    ),
    (
        3,
        include_str!("../../migrations/sqlite/0003_directory.sql"),
    ),
    (
        4,
        include_str!("../../migrations/sqlite/0004_call_handling.sql"),
    ),
    (5, include_str!("../../migrations/sqlite/0005_history.sql")),
    (6, include_str!("../../migrations/sqlite/0006_im.sql")),
    (
        7,
        include_str!("../../migrations/sqlite/0007_directory_version.sql"),
    ),
    (8, include_str!("../../migrations/sqlite/0008_presence.sql")),
    (
        9,
        include_str!("../../migrations/sqlite/0009_voicemail.sql"),
    ),
    (10, include_str!("../../migrations/sqlite/0010_mwi.sql")),
    (
        11,
        include_str!("../../migrations/sqlite/0011_binding_classes.sql"),
    ),
];

pub(super) async fn run(pool: &SqlitePool) -> Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version    INTEGER PRIMARY KEY,
            applied_at INTEGER NOT NULL
        )",
    )
    .execute(pool)
    .await?;

    // One write transaction for the check and all steps, so two processes starting at once
    // cannot both apply the same migration.
    let mut tx = pool.begin_with(BEGIN_WRITE).await?;
    let current: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        .fetch_one(&mut *tx)
        .await?;
    let supported = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    if current > supported {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO schema_version (version, applied_at) VALUES (?, strftime('%s', 'now'))",
        )
        .bind(version)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_ascend_from_one() {
        let versions: Vec<i64> = MIGRATIONS.iter().map(|(v, _)| *v).collect();
        let expected: Vec<i64> = (1..=versions.len() as i64).collect();
        assert_eq!(versions, expected);
    }
}
