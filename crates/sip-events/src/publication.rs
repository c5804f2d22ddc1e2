//! RFC 3903 event state compositor (ESC) store: the publications of each resource, keyed by
//! entity tag, with expiry. Time (`Instant`) and entity-tag randomness (a `u64` seed the
//! caller draws) are inputs.
//!
//! Operations (§4, §6): initial (no `SIP-If-Match`, body → new entry, new etag), refresh
//! (`SIP-If-Match`, no body → extends, new etag), modify (`SIP-If-Match` + body → replaces,
//! new etag), remove (`SIP-If-Match` + `Expires: 0`). An unknown or expired etag is
//! [`PubError::UnknownEtag`] (412); a non-zero expiry below the minimum is
//! [`PubError::IntervalTooBrief`] (423 + `Min-Expires`); longer ones are shortened.
//!
//! Concurrent initial publications (baresip sends two initial PUBLISHes a few ms apart, both
//! without `SIP-If-Match`, see phones/NOTES.md) simply create separate entries, each with its
//! own etag; the one the client forgets expires on its own. The compositor reads every entry
//! of a resource through [`Publications::entries`] and must tolerate such duplicates (same
//! tuple ids). Not here: composition itself, persistence, authorization.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use thiserror::Error;

/// An entity tag (RFC 3903 §4.1), unique among a resource's publications.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Etag(pub String);

impl std::fmt::Display for Etag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One publication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<T> {
    /// Its entity tag.
    pub etag: Etag,
    /// Its event state.
    pub body: T,
    /// When it expires.
    pub expires_at: Instant,
}

/// Why a PUBLISH is refused (map: `UnknownEtag` → 412, `IntervalTooBrief` → 423,
/// `MissingBody` → 400).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PubError {
    /// `SIP-If-Match` names no live publication of this resource: 412.
    #[error("unknown entity tag")]
    UnknownEtag,
    /// Expiry shorter than allowed: 423 with `Min-Expires`.
    #[error("interval too brief (min {min_expires})")]
    IntervalTooBrief {
        /// The value for `Min-Expires`.
        min_expires: u32,
    },
    /// An initial PUBLISH without a body: 400.
    #[error("initial publication without body")]
    MissingBody,
}

/// Expiry bounds for publications (RFC 3903 §5, §6 step 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PubPolicy {
    /// Shorter non-zero requests get 423.
    pub min: u32,
    /// Longer requests are shortened to this.
    pub max: u32,
    /// Used without `Expires` (RFC 3903 §4: 3600 for presence).
    pub default: u32,
}

impl Default for PubPolicy {
    fn default() -> Self {
        PubPolicy {
            min: 60,
            max: 3600,
            default: 3600,
        }
    }
}

/// A PUBLISH as the store sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a, T> {
    /// The Request-URI's resource (the presentity / account).
    pub resource: &'a str,
    /// `SIP-If-Match`, if present.
    pub if_match: Option<&'a str>,
    /// `Expires`, if present.
    pub expires: Option<u32>,
    /// The parsed body, if any.
    pub body: Option<T>,
    /// Randomness for a new etag.
    pub etag_seed: u64,
}

/// What a successful PUBLISH did; carry `etag` in `SIP-ETag` and `expires` in `Expires`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new publication.
    Created {
        /// Its etag.
        etag: Etag,
        /// Granted seconds.
        expires: u32,
    },
    /// An existing one extended.
    Refreshed {
        /// Its new etag.
        etag: Etag,
        /// Granted seconds.
        expires: u32,
    },
    /// An existing one replaced.
    Modified {
        /// Its new etag.
        etag: Etag,
        /// Granted seconds.
        expires: u32,
    },
    /// Removed (or an initial publication with `Expires: 0`, which stores nothing).
    Removed,
}

/// Publications of every resource.
#[derive(Debug, Clone)]
pub struct Publications<T> {
    policy: PubPolicy,
    by_resource: HashMap<String, Vec<Entry<T>>>,
}

impl<T> Publications<T> {
    /// An empty store.
    pub fn new(policy: PubPolicy) -> Self {
        Publications {
            policy,
            by_resource: HashMap::new(),
        }
    }

    /// Applies a PUBLISH per RFC 3903 §6. State is unchanged on error. An entry whose
    /// expiry has passed is treated as gone even before [`Publications::expire`] ran.
    pub fn apply(&mut self, now: Instant, req: Request<'_, T>) -> Result<Outcome, PubError> {
        let expires = self.granted(req.expires)?;
        let Some(tag) = req.if_match else {
            let Some(body) = req.body else {
                return Err(PubError::MissingBody);
            };
            if expires == 0 {
                return Ok(Outcome::Removed);
            }
            let etag = self.fresh_etag(req.resource, req.etag_seed);
            self.by_resource
                .entry(req.resource.to_owned())
                .or_default()
                .push(Entry {
                    etag: etag.clone(),
                    body,
                    expires_at: now + secs(expires),
                });
            return Ok(Outcome::Created { etag, expires });
        };
        let tag = tag.trim();
        let live = self
            .by_resource
            .get(req.resource)
            .and_then(|v| v.iter().position(|e| e.etag.0 == tag && e.expires_at > now))
            .ok_or(PubError::UnknownEtag)?;
        if expires == 0 {
            self.remove_at(req.resource, live);
            return Ok(Outcome::Removed);
        }
        let etag = self.fresh_etag(req.resource, req.etag_seed);
        let entry = self
            .by_resource
            .get_mut(req.resource)
            .and_then(|v| v.get_mut(live))
            .ok_or(PubError::UnknownEtag)?;
        entry.etag = etag.clone();
        entry.expires_at = now + secs(expires);
        Ok(match req.body {
            Some(body) => {
                entry.body = body;
                Outcome::Modified { etag, expires }
            }
            None => Outcome::Refreshed { etag, expires },
        })
    }

    /// RFC 3903 §6 step 3: 0 stays 0, too short → 423, too long → `max`, none → default.
    fn granted(&self, requested: Option<u32>) -> Result<u32, PubError> {
        let max = self.policy.max.max(self.policy.min);
        match requested {
            None => Ok(self.policy.default.clamp(self.policy.min, max)),
            Some(0) => Ok(0),
            Some(e) if e < self.policy.min => Err(PubError::IntervalTooBrief {
                min_expires: self.policy.min,
            }),
            Some(e) => Ok(e.min(max)),
        }
    }

    /// An etag from `seed` that no publication of `resource` uses.
    fn fresh_etag(&self, resource: &str, seed: u64) -> Etag {
        let taken = |t: &str| self.entries(resource).any(|e| e.etag.0 == t);
        let mut candidate = seed;
        loop {
            let tag = format!("{candidate:016x}");
            if !taken(&tag) {
                return Etag(tag);
            }
            candidate = candidate.wrapping_add(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn remove_at(&mut self, resource: &str, index: usize) {
        if let Some(v) = self.by_resource.get_mut(resource) {
            if index < v.len() {
                v.remove(index);
            }
            if v.is_empty() {
                self.by_resource.remove(resource);
            }
        }
    }

    /// The live publications of `resource` (for the compositor), in creation order.
    pub fn entries(&self, resource: &str) -> impl Iterator<Item = &Entry<T>> {
        self.by_resource.get(resource).into_iter().flatten()
    }

    /// Removes what expired at `now`; returns the affected `(resource, etag)` pairs.
    pub fn expire(&mut self, now: Instant) -> Vec<(String, Etag)> {
        let mut gone = Vec::new();
        self.by_resource.retain(|resource, entries| {
            entries.retain(|e| {
                let live = e.expires_at > now;
                if !live {
                    gone.push((resource.clone(), e.etag.clone()));
                }
                live
            });
            !entries.is_empty()
        });
        gone.sort();
        gone
    }

    /// The earliest expiry, for the caller's timer.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.by_resource
            .values()
            .flatten()
            .map(|e| e.expires_at)
            .min()
    }

    /// Number of live publications.
    pub fn len(&self) -> usize {
        self.by_resource.values().map(Vec::len).sum()
    }

    /// No publications at all.
    pub fn is_empty(&self) -> bool {
        self.by_resource.is_empty()
    }
}

fn secs(s: u32) -> Duration {
    Duration::from_secs(u64::from(s))
}
