//! The seam between the CAS face and the services: a service provider serves one topic.
//! The face validates the request against the provider's catalogue and checks the message's
//! permission before calling it; the provider checks per-object permissions itself and
//! returns them in its reply.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use cas_proto::{CasError, Object, Request, TopicSpec};

use crate::perms::PermSet;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who is asking.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: String,
    pub domain: String,
    pub perms: Arc<PermSet>,
    /// The CAS session, for subscriptions.
    pub session: u64,
}

impl Caller {
    /// `user@domain`.
    pub fn aor(&self) -> String {
        format!("{}@{}", self.user, self.domain)
    }

    /// `Err(not permitted)` unless the role grants `action`.
    pub fn require(&self, action: &str) -> Result<(), CasError> {
        if self.perms.allows(action) {
            Ok(())
        } else {
            Err(CasError::not_permitted(format!(
                "{action} is not permitted for role {}",
                self.perms.role
            )))
        }
    }
}

/// A provider's answer: now, or later (the face replies `pending: true` and sends the
/// completion as an event with the same `request_id`).
pub enum Outcome {
    Done(Object),
    Pending(BoxFuture<'static, Result<Object, CasError>>),
}

pub trait Provider: Send + Sync {
    fn spec(&self) -> &'static TopicSpec;

    fn handle<'a>(
        &'a self,
        caller: &'a Caller,
        req: &'a Request,
    ) -> BoxFuture<'a, Result<Outcome, CasError>>;

    /// Resolves a download token this provider handed out (`GET /cas/file/{topic}/{token}`);
    /// providers without downloads keep the default.
    fn file(&self, _token: &str) -> Option<FileGrant> {
        None
    }
}

/// A file a provider lets one CAS session download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileGrant {
    /// The session that asked (the download is refused once it ended).
    pub session: u64,
    /// Its user, `user@domain`.
    pub user: String,
    pub path: std::path::PathBuf,
    pub content_type: &'static str,
    /// The file name offered to the client.
    pub name: String,
}

/// Maps a store error to a CAS error: not-found and invalid input are the caller's problem,
/// everything else is internal (and logged by the face).
pub fn store_error(e: store::StoreError) -> CasError {
    use store::StoreError as S;
    match e {
        S::NotFound { what, id } => CasError::not_found(format!("no such {what} {id}")),
        S::NoSuchUser { domain, name } => {
            CasError::not_found(format!("no such user {name}@{domain}"))
        }
        S::NoSuchDomain(d) => CasError::not_found(format!("no such domain {d}")),
        S::NoSuchRole(r) => CasError::not_found(format!("no such role {r}")),
        S::Invalid { what, why } => CasError::bad_request(format!("invalid {what}: {why}")),
        S::InvalidName(n) => CasError::bad_request(format!("invalid name {n:?}")),
        S::UserExists { domain, name } => CasError::new(
            cas_proto::ErrorCode::Conflict,
            format!("user {name}@{domain} already exists"),
        ),
        S::DomainExists(d) => CasError::new(
            cas_proto::ErrorCode::Conflict,
            format!("domain {d} already exists"),
        ),
        S::EmptyPassword(_) => CasError::bad_request("empty password"),
        other => {
            tracing::error!(error = %other, "store failure");
            CasError::internal()
        }
    }
}
