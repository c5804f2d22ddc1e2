//! Brute-force protection: sources that fail authentication too often are ignored for a
//! while, and well-known scanners are dropped before any work is done.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Ban policy (config `[auth]`).
#[derive(Debug, Clone)]
pub struct BanPolicy {
    pub after_failures: u32,
    pub window: Duration,
    pub duration: Duration,
    pub trusted: Vec<IpAddr>,
}

/// Banned sources, shared between the core (which bans) and the transports (which drop).
#[derive(Debug, Clone, Default)]
pub struct BanList {
    inner: Arc<RwLock<HashMap<IpAddr, Instant>>>,
}

impl BanList {
    pub fn is_banned(&self, ip: IpAddr, now: Instant) -> bool {
        self.inner
            .read()
            .map(|m| m.get(&ip).is_some_and(|until| *until > now))
            .unwrap_or(false)
    }

    fn ban(&self, ip: IpAddr, until: Instant) {
        if let Ok(mut m) = self.inner.write() {
            m.retain(|_, u| *u > Instant::now().min(until));
            m.insert(ip, until);
        }
    }

    pub fn len(&self) -> usize {
        self.inner.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Counts authentication failures per source and bans past the threshold.
#[derive(Debug)]
pub struct FailureCounter {
    policy: BanPolicy,
    failures: HashMap<IpAddr, (u32, Instant)>,
    bans: BanList,
}

impl FailureCounter {
    pub fn new(policy: BanPolicy, bans: BanList) -> FailureCounter {
        FailureCounter {
            policy,
            failures: HashMap::new(),
            bans,
        }
    }

    /// Records one failure; returns true when this failure banned the source.
    pub fn failure(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.policy.after_failures == 0 || self.policy.trusted.contains(&ip) {
            return false;
        }
        if self.failures.len() > 100_000 {
            let window = self.policy.window;
            self.failures
                .retain(|_, (_, start)| now.duration_since(*start) < window);
        }
        let entry = self.failures.entry(ip).or_insert((0, now));
        if now.duration_since(entry.1) > self.policy.window {
            *entry = (0, now);
        }
        entry.0 += 1;
        if entry.0 >= self.policy.after_failures {
            self.failures.remove(&ip);
            self.bans.ban(ip, now + self.policy.duration);
            return true;
        }
        false
    }

    /// A success clears the count, so a user who mistyped once is not banned later.
    pub fn success(&mut self, ip: IpAddr) {
        self.failures.remove(&ip);
    }
}

/// User-Agent prefixes of SIP scanners; their requests are dropped without an answer.
const SCANNERS: &[&str] = &[
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sipsak",
    "iwar",
    "sundayddr",
    "siparmyknife",
    "vaxsipuseragent",
    "pplsip",
    "smap",
];

pub fn is_scanner(user_agent: &str) -> bool {
    let ua = user_agent.trim().to_ascii_lowercase();
    SCANNERS.iter().any(|s| ua.starts_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_after_threshold_and_expires() {
        let bans = BanList::default();
        let policy = BanPolicy {
            after_failures: 3,
            window: Duration::from_secs(60),
            duration: Duration::from_secs(600),
            trusted: vec!["10.0.0.9".parse().unwrap()],
        };
        let mut c = FailureCounter::new(policy, bans.clone());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let t = Instant::now();
        assert!(!c.failure(ip, t));
        assert!(!c.failure(ip, t));
        assert!(c.failure(ip, t));
        assert!(bans.is_banned(ip, t + Duration::from_secs(1)));
        assert!(!bans.is_banned(ip, t + Duration::from_secs(601)));
        let trusted: IpAddr = "10.0.0.9".parse().unwrap();
        for _ in 0..10 {
            assert!(!c.failure(trusted, t));
        }
        assert!(is_scanner("friendly-scanner"));
        assert!(!is_scanner("baresip v1.0.0"));
    }
}
