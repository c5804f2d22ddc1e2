//! Message-waiting (RFC 3842) aggregated from every voicemail system of a user — ours
//! (`local`, counts from `services::voicemail`) and external ones (an old PBX, a carrier)
//! that report through SIP NOTIFY/PUBLISH or the CAS `mwi` topic with a system account —
//! and delivered to every client of the user: phones (the SIP face reads [`Mwi::summary`]
//! on `BusEvent::MwiChanged`), CAS sessions (`mwi` `changed` events, kept for the next login
//! when none is online, across restarts) and SIP devices that take MESSAGE (a short text).
//!
//! [`Mwi`] is a cheap handle: reads are synchronous from a cache (safe on the SIP thread);
//! every change goes through one actor ([`actor`]) that writes the store first, then the
//! cache, then tells the bus. The pure aggregation is [`view`]; the CAS provider is
//! [`cas`]. Not here: SIP parsing and sending (the SIP face), the voicemail itself.

pub mod actor;
pub mod cas;
pub mod report;
pub mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use sip_events::publication::{self, PubError, PubPolicy, Publications};
use sip_events::summary::Summary;
use store::{LOCAL_SYSTEM, MwiDevice, MwiProfile, MwiState, MwiSystem, MwiUserSettings};
use tokio::sync::{mpsc, oneshot};

pub use actor::{LocalMailbox, LocalVoicemail, start};
pub use report::Report;
pub use view::View;

/// The `[mwi]` configuration.
#[derive(Debug, Clone)]
pub struct MwiConfig {
    /// Send a short text (SIP MESSAGE) to the user's registered devices on each change.
    pub message_text: bool,
    /// Send unsolicited NOTIFYs (`message-summary`) to registered devices on each change.
    pub unsolicited_notify: bool,
    /// The user part of the From of those MESSAGEs and NOTIFYs (`voicemail@<domain>`).
    pub from_user: String,
}

impl Default for MwiConfig {
    fn default() -> Self {
        MwiConfig {
            message_text: true,
            unsolicited_notify: false,
            from_user: "voicemail".into(),
        }
    }
}

/// Why a report or command was refused; each face maps it once (SIP status, CAS code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MwiError {
    #[error("{0} is not the account of a voicemail system")]
    NotASystem(String),
    #[error("system {system} does not serve {user}")]
    NotServed { system: String, user: String },
    #[error("no such voicemail system {0}")]
    NoSuchSystem(String),
    #[error("invalid report: {0}")]
    Invalid(String),
    #[error("message-waiting is busy")]
    Busy,
    #[error("message-waiting is stopping")]
    Stopped,
    #[error("store failure")]
    Store,
}

/// What the cache holds: the configuration rows and the last report of every system.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    pub systems: Vec<MwiSystem>,
    /// By user.
    pub profiles: HashMap<String, Vec<MwiProfile>>,
    pub settings: HashMap<String, MwiUserSettings>,
    /// By user.
    pub states: HashMap<String, Vec<MwiState>>,
    /// Live CAS sessions by user (kept by the actor from the bus).
    pub sessions: HashMap<String, usize>,
}

impl Cache {
    pub fn view(&self, aor: &str) -> View {
        view::aggregate(
            aor,
            &self.systems,
            self.profiles.get(aor).map_or(&[], Vec::as_slice),
            self.states.get(aor).map_or(&[], Vec::as_slice),
        )
    }

    /// The systems whose account is `account`.
    fn systems_of(&self, account: &str) -> impl Iterator<Item = &MwiSystem> {
        self.systems
            .iter()
            .filter(move |s| s.account.as_deref() == Some(account))
    }

    /// The user a system means by `name` (its mailbox id, or a local user name): `(aor)`.
    fn resolve(&self, system: &str, name: &str, domain: &str) -> Option<String> {
        let by_mailbox = self
            .profiles
            .values()
            .flatten()
            .find(|p| p.system == system && p.mailbox.as_deref().is_some_and(|m| m == name));
        if let Some(p) = by_mailbox {
            return Some(p.aor.clone());
        }
        let aor = if name.contains('@') {
            name.to_owned()
        } else {
            format!("{name}@{domain}")
        };
        self.profiles
            .get(&aor)
            .is_some_and(|ps| ps.iter().any(|p| p.system == system))
            .then_some(aor)
    }
}

/// The handle: cheap to clone, sync reads, changes through the actor.
#[derive(Debug, Clone)]
pub struct Mwi {
    cache: Arc<RwLock<Cache>>,
    tx: mpsc::Sender<actor::Command>,
    cfg: Arc<MwiConfig>,
    /// RFC 3903 entity tags and expiry of SIP `message-summary` publications (the counts
    /// they carry live in the store like every report).
    publications: Arc<Mutex<Publications<()>>>,
    /// For reads that are not cached (the user's devices).
    store: store::Store,
}

/// The clients of a user, as their own profile lists them: every one of them is told of
/// message-waiting changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clients {
    /// Registered SIP devices (no addresses).
    pub sip_devices: Vec<MwiDevice>,
    /// Live CAS sessions (WebSocket or long-poll).
    pub cas_sessions: usize,
}

/// Expiry bounds of `message-summary` publications: any non-zero interval, at most an hour
/// (also the default without `Expires`).
pub const PUBLICATION_POLICY: PubPolicy = PubPolicy {
    min: 1,
    max: 3600,
    default: 3600,
};

impl Mwi {
    /// The aggregated summary phones receive for `aor` (`user@domain`): totals of every
    /// active system, equal to the store.
    pub fn summary(&self, aor: &str) -> Summary {
        self.view(aor).summary()
    }

    /// The combined view of `aor`.
    pub fn view(&self, aor: &str) -> View {
        self.cache
            .read()
            .map(|c| c.view(aor))
            .unwrap_or_else(|_| View {
                aor: aor.to_owned(),
                ..View::default()
            })
    }

    /// Whether `aor`'s registered devices get unsolicited NOTIFYs.
    pub fn unsolicited_notify(&self, aor: &str) -> bool {
        self.setting(aor, |s| s.unsolicited_notify)
            .unwrap_or(self.cfg.unsolicited_notify)
    }

    /// Whether `aor`'s registered devices get a MESSAGE text on each change.
    pub fn message_text(&self, aor: &str) -> bool {
        self.setting(aor, |s| s.message_text)
            .unwrap_or(self.cfg.message_text)
    }

    /// The From user of what we send to devices.
    pub fn from_user(&self) -> &str {
        &self.cfg.from_user
    }

    fn setting(&self, aor: &str, f: impl Fn(&MwiUserSettings) -> Option<bool>) -> Option<bool> {
        self.cache
            .read()
            .ok()
            .and_then(|c| c.settings.get(aor).and_then(&f))
    }

    /// Checks that `account` (`user@domain`, authenticated) is the account of a system that
    /// serves the user `name` (a mailbox id there, a user name or `user@domain`); returns
    /// `(system, aor)`. With several systems on one account, `system` picks one.
    pub fn authorize(
        &self,
        account: &str,
        system: Option<&str>,
        name: &str,
        domain: &str,
    ) -> Result<(String, String), MwiError> {
        let cache = self.cache.read().map_err(|_| MwiError::Store)?;
        let mut any = false;
        for s in cache.systems_of(account) {
            if system.is_some_and(|want| want != s.name) {
                continue;
            }
            any = true;
            if let Some(aor) = cache.resolve(&s.name, name, domain) {
                return Ok((s.name.clone(), aor));
            }
        }
        if !any {
            return Err(match system {
                Some(sys) if cache.systems.iter().any(|s| s.name == sys) => {
                    MwiError::NotASystem(account.to_owned())
                }
                Some(sys) => MwiError::NoSuchSystem(sys.to_owned()),
                None => MwiError::NotASystem(account.to_owned()),
            });
        }
        Err(MwiError::NotServed {
            system: system.unwrap_or("-").to_owned(),
            user: name.to_owned(),
        })
    }

    /// Queues a report without waiting (the SIP thread); `Busy` when the queue is full.
    pub fn report(&self, report: Report) -> Result<(), MwiError> {
        self.tx
            .try_send(actor::Command::Report {
                report,
                reply: None,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => MwiError::Busy,
                mpsc::error::TrySendError::Closed(_) => MwiError::Stopped,
            })
    }

    /// Stores a report and waits until it is stored, cached and announced.
    pub async fn report_wait(&self, report: Report) -> Result<View, MwiError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(actor::Command::Report {
                report,
                reply: Some(reply),
            })
            .await
            .map_err(|_| MwiError::Stopped)?;
        rx.await.map_err(|_| MwiError::Stopped)?
    }

    /// Switches message-waiting of `aor` on `system` on or off; for an external system the
    /// command is sent (SIP MESSAGE to the system account) or only recorded, per its
    /// configuration. Returns whether it was sent.
    pub async fn activate(
        &self,
        aor: &str,
        system: &str,
        active: bool,
        by: &str,
    ) -> Result<bool, MwiError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(actor::Command::Activate {
                aor: aor.to_owned(),
                system: system.to_owned(),
                active,
                by: by.to_owned(),
                reply,
            })
            .await
            .map_err(|_| MwiError::Stopped)?;
        rx.await.map_err(|_| MwiError::Stopped)?
    }

    /// Our voicemail changed for `aor`: its counts are re-read (what `VoicemailChanged` on
    /// the bus does too).
    pub fn voicemail_changed(&self, aor: &str) {
        let _ = self.tx.try_send(actor::Command::LocalChanged {
            aor: aor.to_owned(),
        });
    }

    /// Applies an RFC 3903 publication step (initial, refresh, modify, remove) of a SIP
    /// voicemail system's `message-summary` for `resource` (the system and the user): entity
    /// tags and expiry only. Ending a publication keeps the counts: a system's last report
    /// stays true until it sends another one. `etag_seed` is randomness for a new tag.
    pub fn publication(
        &self,
        now: Instant,
        resource: &str,
        if_match: Option<&str>,
        expires: Option<u32>,
        has_body: bool,
        etag_seed: u64,
    ) -> Result<publication::Outcome, PubError> {
        let Ok(mut pubs) = self.publications.lock() else {
            return Err(PubError::UnknownEtag);
        };
        pubs.expire(now);
        pubs.apply(
            now,
            publication::Request {
                resource,
                if_match,
                expires,
                body: has_body.then_some(()),
                etag_seed,
            },
        )
    }

    /// Whether `etag` names a live publication of `resource` (checked before a modifying
    /// PUBLISH is stored, so a stale one changes nothing: 412).
    pub fn publication_known(&self, now: Instant, resource: &str, etag: &str) -> bool {
        self.publications.lock().is_ok_and(|p| {
            p.entries(resource)
                .any(|e| e.etag.0 == etag && e.expires_at > now)
        })
    }

    /// `aor`'s clients: registered devices (from the store, a write-behind copy of the
    /// registrar's, so a few tens of ms late) and live CAS sessions.
    pub async fn clients(&self, aor: &str, now_unix: i64) -> Result<Clients, MwiError> {
        let sip_devices = self
            .store
            .mwi_devices(aor, now_unix)
            .await
            .map_err(|_| MwiError::Store)?;
        let cas_sessions = self
            .cache
            .read()
            .map(|c| c.sessions.get(aor).copied().unwrap_or(0))
            .unwrap_or(0);
        Ok(Clients {
            sip_devices,
            cas_sessions,
        })
    }

    /// The systems of `aor`'s profile (`local` first).
    pub fn profile(&self, aor: &str) -> Vec<(MwiSystem, Option<MwiProfile>)> {
        let Ok(cache) = self.cache.read() else {
            return Vec::new();
        };
        let rows = cache.profiles.get(aor);
        let mut out = Vec::new();
        for s in &cache.systems {
            let row = rows
                .and_then(|r| r.iter().find(|p| p.system == s.name))
                .cloned();
            if s.name == LOCAL_SYSTEM || row.is_some() {
                out.push((s.clone(), row));
            }
        }
        out.sort_by_key(|(s, _)| (s.name != LOCAL_SYSTEM, s.name.clone()));
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests;
