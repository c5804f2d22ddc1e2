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

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PresenceSection {
    pub same_domain_default: SameDomainDefault,
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
        }
    }
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
