//! The in-memory view of users and domains that the SIP core consults on every request, so
//! no request waits on the database. Refreshed from the store by the server.

use std::collections::{HashMap, HashSet};

use store::Credentials;

/// Users and their HA1 values, keyed by lower-cased domain and user name.
#[derive(Debug, Default, Clone)]
pub struct Directory {
    default_domain: String,
    domains: HashSet<String>,
    users: HashMap<(String, String), Credentials>,
}

impl Directory {
    pub fn new(default_domain: &str) -> Directory {
        let mut domains = HashSet::new();
        domains.insert(default_domain.to_ascii_lowercase());
        Directory {
            default_domain: default_domain.to_ascii_lowercase(),
            domains,
            users: HashMap::new(),
        }
    }

    /// Replaces the content with a fresh snapshot from the store.
    pub fn replace(&mut self, domains: Vec<String>, users: Vec<(String, String, Credentials)>) {
        self.domains = domains
            .into_iter()
            .map(|d| d.to_ascii_lowercase())
            .collect();
        self.domains.insert(self.default_domain.clone());
        self.users = users
            .into_iter()
            .map(|(d, u, c)| ((d.to_ascii_lowercase(), u), c))
            .collect();
    }

    pub fn default_domain(&self) -> &str {
        &self.default_domain
    }

    /// Maps a host from a URI to the domain it names: one of ours by name, or the default
    /// domain when the host is an IP literal or `localhost` (phones often use the server's
    /// address as their domain). `None` for foreign domains.
    pub fn local_domain(&self, host: &str) -> Option<&str> {
        let h = host.trim_start_matches('[').trim_end_matches(']');
        let lower = h.to_ascii_lowercase();
        if let Some(d) = self.domains.get(&lower) {
            return Some(d.as_str());
        }
        let is_ip = h.parse::<std::net::IpAddr>().is_ok();
        (is_ip || lower == "localhost").then_some(self.default_domain.as_str())
    }

    pub fn credentials(&self, domain: &str, user: &str) -> Option<&Credentials> {
        self.users
            .get(&(domain.to_ascii_lowercase(), user.to_owned()))
    }

    pub fn user_exists(&self, domain: &str, user: &str) -> bool {
        self.credentials(domain, user).is_some()
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_map_to_default_domain() {
        let mut d = Directory::new("example.com");
        d.replace(
            vec!["other.org".into()],
            vec![(
                "example.com".into(),
                "alice".into(),
                Credentials {
                    ha1_md5: "x".into(),
                    ha1_sha256: "y".into(),
                },
            )],
        );
        assert_eq!(d.local_domain("EXAMPLE.com"), Some("example.com"));
        assert_eq!(d.local_domain("127.0.0.1"), Some("example.com"));
        assert_eq!(d.local_domain("[::1]"), Some("example.com"));
        assert_eq!(d.local_domain("other.org"), Some("other.org"));
        assert_eq!(d.local_domain("evil.net"), None);
        assert!(d.user_exists("example.com", "alice"));
        assert!(!d.user_exists("example.com", "mallory"));
    }
}
