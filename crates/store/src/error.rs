//! The store's one error type.

use std::path::PathBuf;

/// Everything a store operation can fail with. Messages never contain a password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("domain {0} already exists")]
    DomainExists(String),
    #[error("no such domain {0}")]
    NoSuchDomain(String),
    #[error("user {name}@{domain} already exists")]
    UserExists { domain: String, name: String },
    #[error("no such user {name}@{domain}")]
    NoSuchUser { domain: String, name: String },
    #[error("no such role {0}")]
    NoSuchRole(String),
    #[error("no such {what} {id}")]
    NotFound { what: &'static str, id: String },
    #[error("invalid {what}: {why}")]
    Invalid { what: &'static str, why: String },
    #[error("invalid user name {0:?}: use letters, digits and -_.!~*'()&=+$,;?/")]
    InvalidName(String),
    #[error("invalid domain name {0:?}: use a host name or an IP address")]
    InvalidDomain(String),
    #[error("empty password for user {0}")]
    EmptyPassword(String),
    #[error("binding of {found} cannot be saved under AOR {aor}")]
    ForeignBinding { aor: String, found: String },
    #[error("database holds an out-of-range value in {0}")]
    Corrupt(&'static str),
    #[error("database schema version {found} is newer than this program supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}
