//! SQLite backend: every SQL statement of the SQLite flavour lives under this module.

mod bindings;
mod calls;
mod directory;
mod migrate;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::{Result, StoreError};

/// File name inside the data directory.
const DB_FILE: &str = "switchboard.db";
/// How long a writer waits for another one (e.g. the CLI while the server runs) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite serialises writers anyway; a few readers are all the concurrency it can use.
const MAX_CONNECTIONS: u32 = 4;
/// Writes begin with IMMEDIATE so a read-then-write transaction takes the write lock up
/// front and waits on the busy timeout, instead of failing when it tries to upgrade.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

#[derive(Debug, Clone)]
pub(crate) struct Db {
    pool: SqlitePool,
}

impl Db {
    pub(crate) async fn open(data_dir: &Path) -> Result<Db> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join(DB_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across application crashes in WAL mode; only a power loss can
            // drop the last transactions, which is acceptable for this data.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await?;
        Db::migrated(pool).await
    }

    pub(crate) async fn open_memory() -> Result<Db> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // Every connection to ":memory:" is a separate database, so the pool must hold exactly
        // one connection and never recycle it.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Db::migrated(pool).await
    }

    /// The pool, for the feature modules of this crate (`crate::perms`, …).
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn migrated(pool: SqlitePool) -> Result<Db> {
        migrate::run(&pool).await?;
        Ok(Db { pool })
    }
}

/// Converts a stored integer back to its narrower Rust type; a failure means the row was not
/// written by this crate.
fn narrow<T: TryFrom<i64>>(value: i64, column: &'static str) -> Result<T> {
    T::try_from(value).map_err(|_| StoreError::Corrupt(column))
}
