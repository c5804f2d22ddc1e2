//! The location service behind REGISTER (RFC 3261 §10.3): bindings per address-of-record,
//! expiry, refresh, `*` removal, Call-ID/CSeq ordering and min-expires.

use std::collections::HashMap;

use sip::{ContactValue, Message};
use store::Binding;

#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    pub min_expires: u32,
    pub default_expires: u32,
    pub max_expires: u32,
    pub max_contacts_per_aor: usize,
}

/// The registrar's answer to one REGISTER.
#[derive(Debug, Clone, PartialEq)]
pub enum RegisterOutcome {
    /// 200 with the current bindings; `changed` when something must be persisted,
    /// `devices_changed` when the set of contacts changed (not a mere refresh).
    Ok {
        bindings: Vec<Binding>,
        changed: bool,
        devices_changed: bool,
    },
    /// 423 Interval Too Brief with this Min-Expires (§10.3 step 7).
    IntervalTooBrief(u32),
    /// 400 with a reason (e.g. `*` with other contacts or a non-zero expiry, §10.3 step 6).
    Invalid(&'static str),
    /// 403: too many contacts for one AOR.
    TooManyContacts,
}

/// Where the REGISTER came from (kept with each binding so calls reach NATed phones).
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub transport: &'a str,
    pub source: &'a str,
}

#[derive(Debug, Default)]
pub struct Location {
    cfg: Option<RegistrarConfig>,
    aors: HashMap<String, Vec<Binding>>,
}

/// The AOR key: `user@domain` with a lower-cased domain.
pub fn aor_key(user: &str, domain: &str) -> String {
    format!("{user}@{}", domain.to_ascii_lowercase())
}

impl Location {
    pub fn new(cfg: RegistrarConfig) -> Location {
        Location {
            cfg: Some(cfg),
            aors: HashMap::new(),
        }
    }

    fn cfg(&self) -> RegistrarConfig {
        self.cfg.clone().unwrap_or(RegistrarConfig {
            min_expires: 60,
            default_expires: 3600,
            max_expires: 7200,
            max_contacts_per_aor: 10,
        })
    }

    /// Loads persisted bindings at start.
    pub fn load(&mut self, bindings: Vec<Binding>) {
        for b in bindings {
            self.aors.entry(b.aor.clone()).or_default().push(b);
        }
    }

    /// Applies a REGISTER for `aor` (already authorised for it).
    pub fn register(
        &mut self,
        aor: &str,
        req: &Message,
        origin: Origin<'_>,
        now: i64,
    ) -> RegisterOutcome {
        let cfg = self.cfg();
        let contacts = req.contacts();
        let header_expires = req.expires();
        let call_id = req.call_id().unwrap_or_default().to_owned();
        let cseq = req.cseq().map_or(0, |c| c.seq);
        let current: Vec<Binding> = self
            .aors
            .get(aor)
            .map(|v| v.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default();
        if contacts.is_empty() {
            return RegisterOutcome::Ok {
                bindings: current,
                changed: false,
                devices_changed: false,
            };
        }
        if contacts.iter().any(|c| matches!(c, ContactValue::Star)) {
            if contacts.len() != 1 || header_expires != Some(0) {
                return RegisterOutcome::Invalid("'*' needs Expires: 0 and no other Contact");
            }
            if current
                .iter()
                .any(|b| b.call_id == call_id && b.cseq >= cseq)
            {
                return RegisterOutcome::Invalid("out of order CSeq");
            }
            self.aors.remove(aor);
            return RegisterOutcome::Ok {
                bindings: Vec::new(),
                changed: true,
                devices_changed: !current.is_empty(),
            };
        }
        let mut next = current.clone();
        for c in &contacts {
            let ContactValue::Addr(addr) = c else {
                continue;
            };
            let uri = addr.uri.raw().to_owned();
            let expires = addr
                .expires()
                .or(header_expires)
                .unwrap_or(cfg.default_expires);
            if expires > 0 && expires < cfg.min_expires {
                return RegisterOutcome::IntervalTooBrief(cfg.min_expires);
            }
            let expires = expires.min(cfg.max_expires);
            let instance = addr
                .param("+sip.instance")
                .map(|s| s.trim_matches('"').to_owned());
            let pos = next.iter().position(|b| match (&instance, &b.instance) {
                (Some(i), Some(j)) => i == j,
                _ => b.contact.eq_ignore_ascii_case(&uri),
            });
            if let Some(i) = pos {
                let Some(existing) = next.get(i) else {
                    continue;
                };
                if existing.call_id == call_id && existing.cseq >= cseq {
                    return RegisterOutcome::Invalid("out of order CSeq");
                }
                next.remove(i);
            }
            if expires > 0 {
                next.push(Binding {
                    aor: aor.to_owned(),
                    contact: uri,
                    expires_at: now + i64::from(expires),
                    q: addr.q(),
                    call_id: call_id.clone(),
                    cseq,
                    instance,
                    transport: origin.transport.to_owned(),
                    source: origin.source.to_owned(),
                    user_agent: req.header(sip::HeaderName::UserAgent).map(str::to_owned),
                    // The SIP face knows the feature tags and fills this in.
                    classes: None,
                });
            }
        }
        if next.len() > cfg.max_contacts_per_aor {
            return RegisterOutcome::TooManyContacts;
        }
        if next.is_empty() {
            self.aors.remove(aor);
        } else {
            self.aors.insert(aor.to_owned(), next.clone());
        }
        let devices_changed = next.len() != current.len()
            || next
                .iter()
                .any(|b| !current.iter().any(|c| c.contact == b.contact));
        RegisterOutcome::Ok {
            bindings: next,
            changed: true,
            devices_changed,
        }
    }

    /// Live bindings of an AOR, highest q first.
    pub fn lookup(&self, aor: &str, now: i64) -> Vec<Binding> {
        let mut v: Vec<Binding> = self
            .aors
            .get(aor)
            .map(|v| v.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| b.q.unwrap_or(1.0).total_cmp(&a.q.unwrap_or(1.0)));
        v
    }

    /// Drops expired bindings; returns the AORs whose binding set changed.
    pub fn purge(&mut self, now: i64) -> Vec<String> {
        let mut changed = Vec::new();
        self.aors.retain(|aor, v| {
            let before = v.len();
            v.retain(|b| b.expires_at > now);
            if v.len() != before {
                changed.push(aor.clone());
            }
            !v.is_empty()
        });
        changed
    }

    pub fn contact_count(&self) -> usize {
        self.aors.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(contact: &str, expires: Option<u32>, call_id: &str, cseq: u32) -> Message {
        let exp = expires
            .map(|e| format!("Expires: {e}\r\n"))
            .unwrap_or_default();
        let s = format!(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK{cseq}\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\n{exp}Content-Length: 0\r\n\r\n"
        );
        sip::parse_datagram(s.into_bytes()).unwrap()
    }

    const O: Origin<'static> = Origin {
        transport: "udp",
        source: "192.0.2.1:5060",
    };

    fn loc() -> Location {
        Location::new(RegistrarConfig {
            min_expires: 60,
            default_expires: 3600,
            max_expires: 7200,
            max_contacts_per_aor: 3,
        })
    }

    #[test]
    fn several_contacts_refresh_and_star() {
        let mut l = loc();
        let aor = "alice@example.com";
        l.register(aor, &reg("<sip:a@192.0.2.1>", Some(600), "c1", 1), O, 0);
        l.register(
            aor,
            &reg("<sip:a@192.0.2.2>;expires=120", None, "c2", 1),
            O,
            0,
        );
        assert_eq!(l.lookup(aor, 10).len(), 2);
        assert_eq!(l.lookup(aor, 130).len(), 1);
        // Refresh of the first keeps one binding for it.
        l.register(aor, &reg("<sip:a@192.0.2.1>", Some(600), "c1", 2), O, 100);
        assert_eq!(l.lookup(aor, 110).len(), 2);
        // Out-of-order CSeq on the same Call-ID is refused.
        let o = l.register(aor, &reg("<sip:a@192.0.2.1>", Some(600), "c1", 2), O, 100);
        assert!(matches!(o, RegisterOutcome::Invalid(_)));
        // '*' needs Expires: 0.
        let o = l.register(aor, &reg("*", Some(5), "c3", 1), O, 100);
        assert!(matches!(o, RegisterOutcome::Invalid(_)));
        l.register(aor, &reg("*", Some(0), "c3", 1), O, 100);
        assert!(l.lookup(aor, 110).is_empty());
    }

    #[test]
    fn min_and_max_expires_and_limit() {
        let mut l = loc();
        let aor = "alice@example.com";
        let o = l.register(aor, &reg("<sip:a@192.0.2.1>", Some(30), "c1", 1), O, 0);
        assert_eq!(o, RegisterOutcome::IntervalTooBrief(60));
        l.register(aor, &reg("<sip:a@192.0.2.1>", Some(999_999), "c1", 2), O, 0);
        assert_eq!(l.lookup(aor, 0)[0].expires_at, 7200);
        for i in 2..4 {
            l.register(
                aor,
                &reg(&format!("<sip:a@192.0.2.{i}>"), None, "cx", i),
                O,
                0,
            );
        }
        let o = l.register(aor, &reg("<sip:a@192.0.2.9>", None, "cx", 9), O, 0);
        assert_eq!(o, RegisterOutcome::TooManyContacts);
        assert_eq!(l.purge(8000).len(), 1);
    }
}
