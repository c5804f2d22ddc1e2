//! `[presence]`: the server-wide presence policy. Per-user rules live in the database (CAS
//! `presence.rules`); this is only the default for watchers nobody decided about.

use serde::Deserialize;

/// What a watcher of the presentity's own domain gets before the presentity decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SameDomainDefault {
    /// Colleagues see each other at once.
    #[default]
    Allow,
    /// Every watcher waits for the presentity's approval (`presence.authorize`).
    Pending,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PresenceSection {
    pub same_domain_default: SameDomainDefault,
    /// Shortest SIP subscription (`SUBSCRIBE` Expires) granted; shorter gets 423.
    pub subscribe_min_expires: u32,
    /// Longest SIP subscription granted; longer requests are shortened.
    pub subscribe_max_expires: u32,
    /// Live SIP subscriptions one watcher may hold; more are refused with 403.
    pub max_subscriptions_per_watcher: u32,
    /// Live PUBLISH publications one presentity may hold; a new one beyond it replaces the
    /// one closest to expiry.
    pub max_publications_per_presentity: u32,
}

impl Default for PresenceSection {
    fn default() -> Self {
        PresenceSection {
            same_domain_default: SameDomainDefault::default(),
            subscribe_min_expires: 60,
            subscribe_max_expires: 3600,
            max_subscriptions_per_watcher: 500,
            max_publications_per_presentity: 32,
        }
    }
}

impl PresenceSection {
    /// The service's configuration.
    pub fn service(&self) -> services::presence::PresenceConfig {
        use services::presence::SameDomain;
        services::presence::PresenceConfig {
            same_domain_default: match self.same_domain_default {
                SameDomainDefault::Allow => SameDomain::Allow,
                SameDomainDefault::Pending => SameDomain::Pending,
            },
            max_publications: usize::try_from(self.max_publications_per_presentity)
                .unwrap_or(usize::MAX),
            max_subscriptions_per_watcher: usize::try_from(self.max_subscriptions_per_watcher)
                .unwrap_or(usize::MAX),
        }
    }
}

/// The subscription bounds' problems: all positive, min ≤ max.
pub(super) fn problems(p: &PresenceSection) -> Vec<super::ConfigProblem> {
    let mut out = Vec::new();
    for (key, v) in [
        ("presence.subscribe_min_expires", p.subscribe_min_expires),
        ("presence.subscribe_max_expires", p.subscribe_max_expires),
        (
            "presence.max_subscriptions_per_watcher",
            p.max_subscriptions_per_watcher,
        ),
        (
            "presence.max_publications_per_presentity",
            p.max_publications_per_presentity,
        ),
    ] {
        if v == 0 {
            out.push(super::ConfigProblem::new(key, "must be greater than 0"));
        }
    }
    if p.subscribe_min_expires > p.subscribe_max_expires {
        out.push(super::ConfigProblem::new(
            "presence.subscribe_min_expires",
            format!(
                "{} is greater than subscribe_max_expires ({})",
                p.subscribe_min_expires, p.subscribe_max_expires
            ),
        ));
    }
    out
}

/// Schema check of `presence.same_domain_default`.
pub(super) fn same_domain_default(s: &str) -> Result<(), String> {
    match s {
        "allow" | "pending" => Ok(()),
        _ => Err(format!(
            "unknown policy {s:?} (use \"allow\" or \"pending\")"
        )),
    }
}
