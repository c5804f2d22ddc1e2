//! Digest authentication of SIP requests (RFC 3261 §22, RFC 7616, RFC 8760).
//!
//! Nonces are self-validating (timestamp + random + keyed hash), so issuing a challenge keeps
//! no state; state is kept only for nonces that authenticated something, to refuse replays
//! (nonce-count must grow). Unknown users are challenged and fail exactly like known users
//! with a wrong password, so responses never reveal which users exist.

use std::collections::HashMap;
use std::time::Duration;

use rand::RngCore;
use sip::AuthParams;
use sip::digest::{self, Algorithm, ResponseInput};

use crate::directory::Directory;

#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Offered in this order (one challenge row per algorithm).
    pub algorithms: Vec<Algorithm>,
    pub nonce_lifetime: Duration,
}

/// What to do with a request after looking at its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated as this user name.
    Authenticated(String),
    /// Challenge (401/407); `stale` when the nonce expired or was reused but the
    /// credentials were otherwise right (RFC 7616 §3.3). `failed` when this was a wrong
    /// answer that should count towards a ban.
    Challenge { stale: bool, failed: bool },
    /// The credentials are for another identity than the request claims (403).
    WrongIdentity,
}

/// The request facts authentication needs.
#[derive(Debug, Clone, Copy)]
pub struct AuthRequest<'a> {
    pub method: &'a str,
    /// The `Authorization` / `Proxy-Authorization` values present (all rows).
    pub credentials: &'a [&'a str],
    /// Realm = the domain the identity belongs to.
    pub realm: &'a str,
    /// The user the request claims to be (From user, or To user for REGISTER).
    pub identity: &'a str,
}

#[derive(Debug)]
pub struct Authenticator {
    cfg: AuthConfig,
    secret: [u8; 32],
    /// Nonce → highest nonce-count accepted, with the nonce's issue time (unix s).
    used: HashMap<String, (u32, u64)>,
}

impl Authenticator {
    pub fn new(cfg: AuthConfig) -> Authenticator {
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        Authenticator {
            cfg,
            secret,
            used: HashMap::new(),
        }
    }

    /// The challenge header values, one per algorithm.
    pub fn challenge(&self, realm: &str, stale: bool, now_unix: u64) -> Vec<String> {
        let nonce = self.nonce(now_unix);
        let realm = realm.replace(['"', '\\'], "");
        self.cfg
            .algorithms
            .iter()
            .map(|alg| {
                format!(
                    "Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{}",
                    alg.token(),
                    if stale { ", stale=true" } else { "" }
                )
            })
            .collect()
    }

    fn nonce(&self, now_unix: u64) -> String {
        let mut r = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut r);
        let body = format!("{now_unix:x}.{}", digest::hex(&r));
        format!("{body}.{}", self.mac(&body))
    }

    fn mac(&self, body: &str) -> String {
        let h = Algorithm::Sha256.hash_parts(&[&self.secret, body.as_bytes()]);
        h.get(..24).unwrap_or("").to_owned()
    }

    /// Returns the nonce's issue time if it is one of ours.
    fn nonce_time(&self, nonce: &str) -> Option<u64> {
        let (body, mac) = nonce.rsplit_once('.')?;
        if !digest::digest_eq(&self.mac(body), mac) {
            return None;
        }
        let (ts, _) = body.split_once('.')?;
        u64::from_str_radix(ts, 16).ok()
    }

    pub fn verify(&mut self, req: &AuthRequest<'_>, dir: &Directory, now_unix: u64) -> Verdict {
        let fresh = Verdict::Challenge {
            stale: false,
            failed: false,
        };
        let failed = Verdict::Challenge {
            stale: false,
            failed: true,
        };
        // Pick the credentials for our realm (a request may carry several rows, §22.3).
        let Some(p) = req
            .credentials
            .iter()
            .filter_map(|c| AuthParams::parse(c))
            .find(|p| p.is_digest() && p.get("realm").as_deref() == Some(req.realm))
        else {
            return fresh;
        };
        if p.has_duplicates() {
            return failed;
        }
        let (Some(username), Some(nonce), Some(uri), Some(response)) = (
            p.get("username"),
            p.get("nonce"),
            p.get("uri"),
            p.get("response"),
        ) else {
            return failed;
        };
        if username != req.identity {
            return Verdict::WrongIdentity;
        }
        let alg = match p.get("algorithm") {
            None => Algorithm::Md5,
            Some(a) => match Algorithm::from_token(&a) {
                Some(a) if self.cfg.algorithms.contains(&a) => a,
                _ => return fresh,
            },
        };
        let Some(issued) = self.nonce_time(&nonce) else {
            return fresh;
        };
        let qop = p.get("qop");
        let (nc_text, cnonce) = (p.get("nc"), p.get("cnonce"));
        let qop_auth = match (qop.as_deref(), nc_text.as_deref(), cnonce.as_deref()) {
            (Some("auth"), Some(nc), Some(cn)) => Some((nc, cn)),
            (None, _, _) => None,
            _ => return failed,
        };
        let nc = match qop_auth {
            Some((nc, _)) => match u32::from_str_radix(nc, 16) {
                Ok(n) if nc.len() == 8 && n > 0 => n,
                _ => return failed,
            },
            None => 1,
        };
        let ha1 = match dir.credentials(req.realm, &username) {
            Some(c) => match alg {
                Algorithm::Md5 => c.ha1_md5.clone(),
                Algorithm::Sha256 => c.ha1_sha256.clone(),
            },
            // Unknown user: do the same work against a value nobody can match.
            None => alg.hash_parts(&[&self.secret, username.as_bytes()]),
        };
        let expected = digest::response(
            alg,
            &ha1,
            &ResponseInput {
                method: req.method,
                uri: &uri,
                nonce: &nonce,
                qop_auth,
            },
        );
        if !digest::digest_eq(&expected, &response) || !dir.user_exists(req.realm, &username) {
            return failed;
        }
        let lifetime = self.cfg.nonce_lifetime.as_secs();
        if now_unix.saturating_sub(issued) > lifetime {
            return Verdict::Challenge {
                stale: true,
                failed: false,
            };
        }
        match self.used.get(&nonce) {
            Some((last, _)) if nc <= *last => {
                return Verdict::Challenge {
                    stale: true,
                    failed: false,
                };
            }
            _ => {}
        }
        self.used.insert(nonce, (nc, issued));
        if self.used.len() > 200_000 {
            self.purge(now_unix);
        }
        Verdict::Authenticated(username)
    }

    /// Forgets nonces past their lifetime (they are refused by time anyway).
    pub fn purge(&mut self, now_unix: u64) {
        let lifetime = self.cfg.nonce_lifetime.as_secs();
        self.used
            .retain(|_, (_, issued)| now_unix.saturating_sub(*issued) <= lifetime);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::Credentials;

    fn dir() -> Directory {
        let mut d = Directory::new("example.com");
        let c = Credentials {
            ha1_md5: digest::ha1(Algorithm::Md5, "alice", "example.com", "pw"),
            ha1_sha256: digest::ha1(Algorithm::Sha256, "alice", "example.com", "pw"),
        };
        d.replace(vec![], vec![("example.com".into(), "alice".into(), c)]);
        d
    }

    fn answer(challenge: &str, alg: Algorithm, user: &str, pw: &str, nc: &str) -> String {
        let p = AuthParams::parse(challenge).unwrap();
        let nonce = p.get("nonce").unwrap();
        let ha1 = digest::ha1(alg, user, "example.com", pw);
        let r = digest::response(
            alg,
            &ha1,
            &ResponseInput {
                method: "REGISTER",
                uri: "sip:example.com",
                nonce: &nonce,
                qop_auth: Some((nc, "abc")),
            },
        );
        format!(
            "Digest username=\"{user}\", realm=\"example.com\", nonce=\"{nonce}\", uri=\"sip:example.com\", response=\"{r}\", algorithm={}, qop=auth, nc={nc}, cnonce=\"abc\"",
            alg.token()
        )
    }

    fn auth() -> Authenticator {
        Authenticator::new(AuthConfig {
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            nonce_lifetime: Duration::from_secs(300),
        })
    }

    fn req<'a>(creds: &'a [&'a str], identity: &'a str) -> AuthRequest<'a> {
        AuthRequest {
            method: "REGISTER",
            credentials: creds,
            realm: "example.com",
            identity,
        }
    }

    #[test]
    fn accepts_both_algorithms_and_refuses_replay() {
        let mut a = auth();
        let d = dir();
        for (i, alg) in [Algorithm::Sha256, Algorithm::Md5].into_iter().enumerate() {
            let ch = a.challenge("example.com", false, 1000);
            let row = &ch[i];
            let c = answer(row, alg, "alice", "pw", "00000001");
            let v = a.verify(&req(&[&c], "alice"), &d, 1001);
            assert_eq!(v, Verdict::Authenticated("alice".into()));
            // Same nonce and nc again: a replay.
            let v = a.verify(&req(&[&c], "alice"), &d, 1002);
            assert!(matches!(v, Verdict::Challenge { stale: true, .. }));
            let c2 = answer(row, alg, "alice", "pw", "00000002");
            assert_eq!(
                a.verify(&req(&[&c2], "alice"), &d, 1003),
                Verdict::Authenticated("alice".into())
            );
        }
    }

    #[test]
    fn wrong_password_unknown_user_and_identity() {
        let mut a = auth();
        let d = dir();
        let ch = a.challenge("example.com", false, 1000);
        let bad = answer(&ch[0], Algorithm::Sha256, "alice", "nope", "00000001");
        let unknown = answer(&ch[0], Algorithm::Sha256, "mallory", "pw", "00000001");
        let failed = Verdict::Challenge {
            stale: false,
            failed: true,
        };
        assert_eq!(a.verify(&req(&[&bad], "alice"), &d, 1001), failed);
        assert_eq!(a.verify(&req(&[&unknown], "mallory"), &d, 1001), failed);
        let good = answer(&ch[0], Algorithm::Sha256, "alice", "pw", "00000001");
        assert_eq!(
            a.verify(&req(&[&good], "bob"), &d, 1001),
            Verdict::WrongIdentity
        );
    }

    #[test]
    fn expired_nonce_is_stale_and_forged_nonce_is_refused() {
        let mut a = auth();
        let d = dir();
        let ch = a.challenge("example.com", false, 1000);
        let c = answer(&ch[1], Algorithm::Md5, "alice", "pw", "00000001");
        let v = a.verify(&req(&[&c], "alice"), &d, 1000 + 301);
        assert!(matches!(v, Verdict::Challenge { stale: true, .. }));
        let forged = c.replace("nonce=\"", "nonce=\"f");
        let v = a.verify(&req(&[&forged], "alice"), &d, 1001);
        assert!(matches!(v, Verdict::Challenge { stale: false, .. }));
    }
}
