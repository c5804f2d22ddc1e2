//! Who may see whose presence (issue 4 "Authorization"), as pure data and one decision
//! function. Each user has [`Rules`]: whether their presence is visible at all, the policy
//! for unknown watchers of their own domain (the server's default unless they chose), and a
//! decision per watcher (`allow`, `deny`, `block`, or `pending` while undecided).
//!
//! Order of the decision: yourself → allow; hidden → deny; blocked or denied → deny; allowed
//! → allow; pending → pending; same domain → the same-domain policy; any other domain →
//! pending. `deny` and `block` look the same to the watcher (no state); a blocked watcher's
//! new requests are not even listed as pending.

use std::collections::BTreeMap;

use super::model::Authz;

/// The policy for a watcher of the presentity's own domain that has no decision yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SameDomain {
    #[default]
    Allow,
    Pending,
}

impl SameDomain {
    pub fn as_str(self) -> &'static str {
        match self {
            SameDomain::Allow => "allow",
            SameDomain::Pending => "pending",
        }
    }

    pub fn parse(s: &str) -> Option<SameDomain> {
        match s {
            "allow" => Some(SameDomain::Allow),
            "pending" => Some(SameDomain::Pending),
            _ => None,
        }
    }
}

/// A decision about one watcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    Allow,
    Deny,
    Block,
    /// Asked, not decided.
    Pending,
}

impl Decision {
    pub const ALL: [Decision; 4] = [
        Decision::Allow,
        Decision::Deny,
        Decision::Block,
        Decision::Pending,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Block => "block",
            Decision::Pending => "pending",
        }
    }

    pub fn parse(s: &str) -> Option<Decision> {
        Decision::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// One user's presence rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// `false`: nobody but the user sees their presence (they stay in the directory).
    pub visible: bool,
    /// The user's own choice; `None` = the server's `[presence] same_domain_default`.
    pub same_domain: Option<SameDomain>,
    /// Watcher (`user@domain`) → decision.
    pub watchers: BTreeMap<String, Decision>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            visible: true,
            same_domain: None,
            watchers: BTreeMap::new(),
        }
    }
}

impl Rules {
    /// The rules as stored: nothing but defaults means no row is needed.
    pub fn is_default(&self) -> bool {
        *self == Rules::default()
    }
}

/// May `watcher` see `presentity` (both `user@domain`, domain in lower case)?
pub fn decide(
    rules: Option<&Rules>,
    default: SameDomain,
    watcher: &str,
    presentity: &str,
) -> Authz {
    if watcher == presentity {
        return Authz::Allow;
    }
    let fallback = Rules::default();
    let r = rules.unwrap_or(&fallback);
    if !r.visible {
        return Authz::Deny;
    }
    match r.watchers.get(watcher) {
        Some(Decision::Allow) => return Authz::Allow,
        Some(Decision::Deny | Decision::Block) => return Authz::Deny,
        Some(Decision::Pending) => return Authz::Pending,
        None => {}
    }
    if domain_of(watcher) == domain_of(presentity) {
        match r.same_domain.unwrap_or(default) {
            SameDomain::Allow => Authz::Allow,
            SameDomain::Pending => Authz::Pending,
        }
    } else {
        Authz::Pending
    }
}

/// Whether a request from `watcher` is worth listing as pending: not for a watcher that
/// is already decided (blocked ones included), nor one the rules let in anyway.
pub fn should_list_pending(
    rules: Option<&Rules>,
    default: SameDomain,
    watcher: &str,
    presentity: &str,
) -> bool {
    let known = rules.is_some_and(|r| r.watchers.contains_key(watcher));
    !known && watcher != presentity && decide(rules, default, watcher, presentity) == Authz::Pending
}

fn domain_of(aor: &str) -> &str {
    aor.rsplit_once('@').map_or("", |(_, d)| d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const BOB: &str = "bob@example.test";

    fn rules(pairs: &[(&str, Decision)]) -> Rules {
        Rules {
            watchers: pairs.iter().map(|(w, d)| ((*w).to_owned(), *d)).collect(),
            ..Rules::default()
        }
    }

    #[test]
    fn defaults_follow_the_domain() {
        let d = SameDomain::Allow;
        assert_eq!(decide(None, d, "alice@example.test", BOB), Authz::Allow);
        assert_eq!(decide(None, d, "eve@other.test", BOB), Authz::Pending);
        assert_eq!(
            decide(None, SameDomain::Pending, "alice@example.test", BOB),
            Authz::Pending
        );
        let mine = Rules {
            same_domain: Some(SameDomain::Pending),
            ..Rules::default()
        };
        assert_eq!(
            decide(Some(&mine), d, "alice@example.test", BOB),
            Authz::Pending
        );
        assert_eq!(decide(Some(&mine), d, BOB, BOB), Authz::Allow);
    }

    #[test]
    fn decisions_and_visibility() {
        let d = SameDomain::Allow;
        let r = rules(&[
            ("alice@example.test", Decision::Deny),
            ("carol@example.test", Decision::Block),
            ("eve@other.test", Decision::Allow),
            ("dan@other.test", Decision::Pending),
        ]);
        assert_eq!(decide(Some(&r), d, "alice@example.test", BOB), Authz::Deny);
        assert_eq!(decide(Some(&r), d, "carol@example.test", BOB), Authz::Deny);
        assert_eq!(decide(Some(&r), d, "eve@other.test", BOB), Authz::Allow);
        assert_eq!(decide(Some(&r), d, "dan@other.test", BOB), Authz::Pending);
        assert_eq!(decide(Some(&r), d, "zed@example.test", BOB), Authz::Allow);
        let hidden = Rules {
            visible: false,
            ..r.clone()
        };
        assert_eq!(decide(Some(&hidden), d, "eve@other.test", BOB), Authz::Deny);
        assert_eq!(decide(Some(&hidden), d, BOB, BOB), Authz::Allow);
        // Blocked and already-listed watchers are not listed again; new strangers are.
        assert!(!should_list_pending(Some(&r), d, "carol@example.test", BOB));
        assert!(!should_list_pending(Some(&r), d, "dan@other.test", BOB));
        assert!(!should_list_pending(Some(&r), d, "zed@example.test", BOB));
        assert!(should_list_pending(Some(&r), d, "new@other.test", BOB));
        assert!(Rules::default().is_default());
        assert_eq!(Decision::parse("block"), Some(Decision::Block));
        assert_eq!(SameDomain::parse("pending"), Some(SameDomain::Pending));
    }
}
