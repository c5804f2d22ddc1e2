//! Voicemail: mailboxes, messages as WAV files plus database rows, the IVR (pure machines in
//! [`ivr`], driven through [`IvrCall`]), and the CAS `vm` topic ([`cas`]).
//!
//! Crash safety (ARCHITECTURE.md invariants): a message row is inserted `pending` before
//! its audio exists; audio is written to `tmp/<id>.part`, fsynced, renamed to
//! `msg-<id>.wav`, the directory fsynced, and only then is the row marked `ready`. Delete:
//! mark the row `deleting`, remove the file, delete the row. Only `ready` rows count. At
//! start [`Voicemail::start`] runs [`reconcile`](Voicemail::reconcile), which adopts a
//! renamed file whose row is still pending, keeps what a caller said before a crash cut
//! their recording (a deposit's `.part` holding at least the minimum message length: its
//! header is fixed and it is published), removes every other `.part`, finishes interrupted
//! deletes, and drops rows without files and files without rows; [`Voicemail::integrity_check`]
//! reports the same without changing anything.
//!
//! Every change that alters a mailbox's counts publishes `BusEvent::VoicemailChanged` with
//! the new counts (MWI follows it) and a `vm` notice for the owner's CAS sessions. Changes
//! are serialised by one lock so events leave in the order of the changes.
//!
//! The API is async and never blocks a thread: file work runs on `spawn_blocking`. The
//! SIP face calls it from tasks it spawns. It does not place calls or touch media: playback
//! on a phone is asked of the SIP face over the bus (`VmPlayOnPhone`).

mod call;
pub mod cas;
mod files;
pub mod ivr;
mod local;
mod ops;
pub mod pin;
pub mod prompts;
mod reconcile;
pub mod wav;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cas_proto::{CasError, ErrorCode};
use store::{Store, StoreError, VmRow};

use crate::bus::Bus;

pub use call::IvrCall;
pub use cas::SPEC;
pub use files::Layout;
pub use reconcile::Integrity;

/// A message id (also its file name, `msg-<id>.wav`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub i64);

/// Where a message is filed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Folder {
    /// The inbox.
    New,
    Saved,
}

impl Folder {
    pub fn as_str(self) -> &'static str {
        match self {
            Folder::New => "new",
            Folder::Saved => "saved",
        }
    }

    pub fn parse(s: &str) -> Option<Folder> {
        match s {
            "new" => Some(Folder::New),
            "saved" => Some(Folder::Saved),
            _ => None,
        }
    }
}

/// The service's settings (from `[voicemail]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoicemailConfig {
    pub enabled: bool,
    /// What users dial to reach their mailbox (e.g. `*98`).
    pub number: String,
    /// The tree of mailbox directories (`<data_dir>/voicemail` by default).
    pub root: PathBuf,
    pub max_message: Duration,
    pub max_greeting: Duration,
    /// Recordings shorter than this are discarded.
    pub min_message: Duration,
    /// The PIN of mailboxes whose owner never set one; `None`: such mailboxes cannot be
    /// opened by phone.
    pub default_pin: Option<String>,
    /// Played to callers of mailboxes without a greeting instead of `vm-unavailable`.
    pub default_greeting: Option<PathBuf>,
    /// How long `play_on_phone` waits for the phone to answer.
    pub play_timeout: Duration,
}

impl VoicemailConfig {
    /// Defaults with `root` as the mailbox tree.
    pub fn new(root: PathBuf) -> VoicemailConfig {
        VoicemailConfig {
            enabled: true,
            number: "*98".into(),
            root,
            max_message: Duration::from_secs(180),
            max_greeting: Duration::from_secs(60),
            min_message: ivr::MIN_RECORDING,
            default_pin: None,
            default_greeting: None,
            play_timeout: Duration::from_secs(45),
        }
    }
}

/// One message as the service hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    /// The owner, `user@domain`.
    pub mailbox: String,
    /// ANI: who left it.
    pub caller: String,
    /// DNIS: the number called.
    pub called: String,
    /// Unix milliseconds.
    pub received_at: i64,
    pub duration_ms: i64,
    pub subject: String,
    pub heard: bool,
    pub folder: Folder,
    /// `call`, `forward`, `reply` or `send`.
    pub origin: String,
    /// The audio file.
    pub path: PathBuf,
}

/// A deposit in progress: the pending row and the file the recording goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub id: MessageId,
    pub mailbox: String,
    /// `tmp/<id>.part` of the mailbox.
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("voicemail is disabled")]
    Disabled,
    #[error("no such mailbox {0}")]
    NoSuchMailbox(String),
    #[error("no such message {0}")]
    NoSuchMessage(i64),
    #[error("invalid audio: {0}")]
    BadAudio(#[from] wav::WavError),
    #[error("the recording is {0} ms long; the limits are {1} ms to {2} ms")]
    BadLength(u64, u64, u64),
    #[error("{0}")]
    Invalid(String),
    #[error("file {what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The one mapping of voicemail errors to CAS errors.
impl From<VmError> for CasError {
    fn from(e: VmError) -> CasError {
        match e {
            VmError::Disabled => CasError::new(ErrorCode::Unavailable, e.to_string()),
            VmError::NoSuchMailbox(_) | VmError::NoSuchMessage(_) => {
                CasError::not_found(e.to_string())
            }
            VmError::BadAudio(_) => CasError::new(ErrorCode::UnsupportedFormat, e.to_string()),
            VmError::BadLength(..) | VmError::Invalid(_) => CasError::bad_request(e.to_string()),
            VmError::Store(s) => crate::provider::store_error(s),
            VmError::Io { .. } | VmError::Task(_) => {
                tracing::error!(error = %e, "voicemail failure");
                CasError::internal()
            }
        }
    }
}

pub type Result<T, E = VmError> = std::result::Result<T, E>;

/// The voicemail service; clones share everything.
#[derive(Debug, Clone)]
pub struct Voicemail {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    bus: Bus,
    cfg: VoicemailConfig,
    layout: Layout,
    /// Serialises changes so counts and events leave in order.
    changes: tokio::sync::Mutex<()>,
    /// Download tokens handed out by `vm.download`.
    downloads: Mutex<HashMap<String, cas::Grant>>,
    next_request: AtomicU64,
}

impl Voicemail {
    /// Reconciles the tree with the database (see the module doc) and returns the service.
    /// Call before the faces start.
    pub async fn start(store: Store, bus: Bus, cfg: VoicemailConfig) -> Result<Voicemail> {
        let vm = Voicemail::open(store, bus, cfg);
        let report = vm.reconcile().await?;
        tracing::info!(
            messages = report.ready_rows,
            repaired = report.repaired,
            "voicemail reconciled"
        );
        Ok(vm)
    }

    /// The service without the start-up repair (tools that only look, e.g. the CLI's
    /// integrity check next to a running server).
    pub fn open(store: Store, bus: Bus, cfg: VoicemailConfig) -> Voicemail {
        Voicemail {
            inner: Arc::new(Inner {
                layout: Layout::new(cfg.root.clone()),
                store,
                bus,
                cfg,
                changes: tokio::sync::Mutex::new(()),
                downloads: Mutex::default(),
                next_request: AtomicU64::new(1),
            }),
        }
    }

    pub fn config(&self) -> &VoicemailConfig {
        &self.inner.cfg
    }

    /// The number users dial for their mailbox.
    pub fn number(&self) -> &str {
        &self.inner.cfg.number
    }

    pub fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    /// `user@domain` of an existing local user named `bob`, `bob@domain` or a SIP URI
    /// (`default_domain` completes a bare name).
    pub async fn mailbox_for(&self, user: &str, default_domain: &str) -> Result<String> {
        let (name, domain) = crate::im::rules::parse_peer(user, default_domain)
            .map_err(|_| VmError::NoSuchMailbox(user.to_owned()))?;
        match self.inner.store.credentials(&domain, &name).await? {
            Some(_) => Ok(format!("{name}@{domain}")),
            None => Err(VmError::NoSuchMailbox(format!("{name}@{domain}"))),
        }
    }

    /// The greeting callers of `aor` hear: the personal one, else the configured default,
    /// else `None` (the `vm-unavailable` prompt).
    pub async fn greeting(&self, aor: &str) -> Option<PathBuf> {
        let own = self.inner.layout.greeting(aor);
        let exists = tokio::fs::try_exists(&own).await.unwrap_or(false);
        if exists {
            Some(own)
        } else {
            self.inner.cfg.default_greeting.clone()
        }
    }

    /// An IVR call that leaves a message for `to` (`user@domain`): ANI `caller`, DNIS
    /// `called`. Drive it with [`IvrCall::start`] and [`IvrCall::input`].
    pub async fn deposit_call(&self, to: &str, caller: &str, called: &str) -> Result<IvrCall> {
        let rec = self.begin_deposit(to, caller, called).await?;
        let greeting = self.greeting(to).await;
        Ok(IvrCall::deposit(self.clone(), rec, greeting))
    }

    /// An IVR call into the mailbox of `aor` (the caller's own; the PIN is still asked).
    pub async fn access_call(&self, aor: &str) -> Result<IvrCall> {
        if !self.inner.cfg.enabled {
            return Err(VmError::Disabled);
        }
        let dir = self.inner.layout.clone();
        let owner = aor.to_owned();
        tokio::task::spawn_blocking(move || files::ensure_dirs(&dir, &owner))
            .await?
            .map_err(|source| VmError::Io {
                what: "create mailbox",
                source,
            })?;
        Ok(IvrCall::access(self.clone(), aor.to_owned()))
    }

    /// Counts `(unheard, heard)` of `aor`, as MWI reports them.
    pub async fn counts(&self, aor: &str) -> Result<(u32, u32)> {
        Ok(self.inner.store.vm_counts(aor).await?)
    }

    /// `(mailbox, unheard, heard)` of every mailbox with messages.
    pub async fn all_counts(&self) -> Result<Vec<(String, u32, u32)>> {
        Ok(self.inner.store.vm_all_counts().await?)
    }

    /// The messages of `aor` (one folder or all), oldest first.
    pub async fn list(&self, aor: &str, folder: Option<Folder>) -> Result<Vec<Message>> {
        let rows = self
            .inner
            .store
            .vm_messages(aor, folder.map(Folder::as_str))
            .await?;
        Ok(rows.into_iter().map(|r| self.message_of(r)).collect())
    }

    /// One message of `aor`.
    pub async fn message(&self, aor: &str, id: MessageId) -> Result<Message> {
        match self.inner.store.vm_message(aor, id.0).await? {
            Some(r) => Ok(self.message_of(r)),
            None => Err(VmError::NoSuchMessage(id.0)),
        }
    }

    /// Whether `pin` opens `aor`'s mailbox (its own PIN, else the configured default).
    pub async fn verify_pin(&self, aor: &str, pin: &str) -> Result<bool> {
        Ok(match self.inner.store.vm_pin_hash(aor).await? {
            Some(stored) => pin::verify(&stored, pin),
            None => self
                .inner
                .cfg
                .default_pin
                .as_deref()
                .is_some_and(|d| !d.is_empty() && d == pin),
        })
    }

    /// Sets the PIN of `aor` (4–12 digits).
    pub async fn set_pin(&self, aor: &str, new_pin: &str) -> Result<()> {
        pin::validate(new_pin).map_err(VmError::Invalid)?;
        let hash = pin::hash(new_pin);
        Ok(self
            .inner
            .store
            .vm_set_pin_hash(aor, &hash, now_ms() / 1000)
            .await?)
    }

    fn message_of(&self, r: VmRow) -> Message {
        Message {
            id: MessageId(r.id),
            path: self.inner.layout.message(&r.mailbox, r.id),
            mailbox: r.mailbox,
            caller: r.caller,
            called: r.called,
            received_at: r.received_at,
            duration_ms: r.duration_ms,
            subject: r.subject,
            heard: r.heard,
            folder: Folder::parse(&r.folder).unwrap_or(Folder::New),
            origin: r.origin,
        }
    }
}

/// Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
