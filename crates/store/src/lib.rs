//! Persistent state of Switchboard: domains, users (digest HA1 only), registrar bindings and
//! call records.
//!
//! `Store` is the only door to the database. It is cloneable and cheap to share (it wraps a
//! connection pool). Today the backend is SQLite through `sqlx` runtime queries; all SQL lives
//! in `sqlite/` with numbered migrations in `migrations/sqlite/`, so a PostgreSQL backend can
//! be added behind the same API without touching callers.
//!
//! What it does not do: caching (callers warm their own cache with
//! [`Store::all_credentials`]), deciding what is expired beyond the `now` it is given, or any
//! SIP parsing. It never stores a password, only HA1 values.

mod callmode;
mod directory;
mod error;
mod history;
mod im;
mod mwi;
mod names;
mod perms;
mod presence;
mod sqlite;
mod types;
mod voicemail;

use std::path::Path;

pub use error::StoreError;
pub use mwi::{
    LOCAL_SYSTEM, MwiCounts, MwiDevice, MwiMessage, MwiNotice, MwiProfile, MwiState, MwiSystem,
    MwiUserSettings,
};
pub use names::{validate_domain, validate_user};
pub use perms::RoleGrants;
pub use presence::PresenceSettings;
pub use types::{Binding, CallRecord, Credentials};
pub use voicemail::{NewVm, VmRow};

/// Shorthand for this crate's results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Handle to the database; clones share one pool.
#[derive(Debug, Clone)]
pub struct Store {
    // A single backend for now; when PostgreSQL arrives this becomes an enum of backends.
    db: sqlite::Db,
}

impl Store {
    /// Opens (creating if needed) `data_dir/switchboard.db` and applies pending migrations.
    pub async fn open(data_dir: &Path) -> Result<Store> {
        Ok(Store {
            db: sqlite::Db::open(data_dir).await?,
        })
    }

    /// A private in-memory database, for tests.
    pub async fn open_memory() -> Result<Store> {
        Ok(Store {
            db: sqlite::Db::open_memory().await?,
        })
    }

    /// True while no domain exists, i.e. on first start.
    pub async fn is_empty(&self) -> Result<bool> {
        self.db.is_empty().await
    }

    /// Adds a domain; fails with [`StoreError::DomainExists`] (compared case-insensitively).
    pub async fn add_domain(&self, name: &str) -> Result<()> {
        validate_domain(name)?;
        self.db.add_domain(name).await
    }

    /// All domains, sorted.
    pub async fn domains(&self) -> Result<Vec<String>> {
        self.db.domains().await
    }

    pub async fn domain_exists(&self, name: &str) -> Result<bool> {
        self.db.domain_exists(name).await
    }

    /// Adds a user; the digest realm is the domain name as it was stored by `add_domain`.
    pub async fn add_user(&self, domain: &str, name: &str, password: &str) -> Result<()> {
        self.import_users(domain, &[(name.to_owned(), password.to_owned())])
            .await
            .map(|_| ())
    }

    /// Adds many users in one transaction: either all of them or none.
    pub async fn import_users(&self, domain: &str, users: &[(String, String)]) -> Result<usize> {
        for (name, password) in users {
            validate_user(name)?;
            if password.is_empty() {
                return Err(StoreError::EmptyPassword(name.clone()));
            }
        }
        self.db.import_users(domain, users).await
    }

    pub async fn set_password(&self, domain: &str, name: &str, password: &str) -> Result<()> {
        if password.is_empty() {
            return Err(StoreError::EmptyPassword(name.to_owned()));
        }
        self.db.set_password(domain, name, password).await
    }

    /// Removes a user and the bindings of `sip:`, `sips:` and bare `name@domain` AORs.
    pub async fn remove_user(&self, domain: &str, name: &str) -> Result<()> {
        self.db.remove_user(domain, name).await
    }

    /// User names of a domain, sorted.
    pub async fn users(&self, domain: &str) -> Result<Vec<String>> {
        self.db.users(domain).await
    }

    pub async fn credentials(&self, domain: &str, name: &str) -> Result<Option<Credentials>> {
        self.db.credentials(domain, name).await
    }

    /// Every `(domain, user, credentials)`, to warm an in-memory cache.
    pub async fn all_credentials(&self) -> Result<Vec<(String, String, Credentials)>> {
        self.db.all_credentials().await
    }

    /// Replaces every binding of `aor` with `bindings` (empty: deletes them all). Each
    /// binding's `aor` must equal `aor`.
    pub async fn save_bindings(&self, aor: &str, bindings: &[Binding]) -> Result<()> {
        if let Some(b) = bindings.iter().find(|b| b.aor != aor) {
            return Err(StoreError::ForeignBinding {
                aor: aor.to_owned(),
                found: b.aor.clone(),
            });
        }
        self.db.save_bindings(aor, bindings).await
    }

    /// Like [`Store::save_bindings`] for several AORs, in one transaction (the registrar's
    /// write-behind batches).
    pub async fn save_bindings_many(&self, sets: &[(String, Vec<Binding>)]) -> Result<()> {
        for (aor, bindings) in sets {
            if let Some(b) = bindings.iter().find(|b| &b.aor != aor) {
                return Err(StoreError::ForeignBinding {
                    aor: aor.clone(),
                    found: b.aor.clone(),
                });
            }
        }
        self.db.save_bindings_many(sets).await
    }

    /// Bindings with `expires_at > now_unix`; expired rows are deleted on the way.
    pub async fn load_bindings(&self, now_unix: i64) -> Result<Vec<Binding>> {
        self.db.load_bindings(now_unix).await
    }

    pub async fn insert_call(&self, rec: &CallRecord) -> Result<()> {
        self.db.insert_call(rec).await
    }

    /// Calls where `user_aor` is caller or callee, newest first.
    pub async fn calls_for_user(&self, user_aor: &str, limit: u32) -> Result<Vec<CallRecord>> {
        self.db.calls_for_user(user_aor, limit).await
    }
}
