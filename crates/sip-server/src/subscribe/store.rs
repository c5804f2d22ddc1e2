//! The notifier's subscription table (RFC 6665 §4.2): one compact record per subscription
//! dialog and the indexes that find it (by presentity for fan-out, by NOTIFY transaction,
//! by deadline, a count per watcher for the per-watcher cap).
//!
//! Lean by design, because one presentity may have ten thousand watchers:
//! - the dialog is not kept as separate strings but as the fixed rows of every NOTIFY
//!   (`Max-Forwards`, `From`, `To`, `Call-ID`, `Route`, `Event`), built once; a NOTIFY is
//!   that head plus a fresh `Via`, `CSeq`, `Contact`, `Subscription-State` and the body
//!   shared by the whole fan-out ([`Sub::notify`]), never re-parsed for validation;
//! - our To tag is `{id:x}-{secret:x}`: the in-dialog lookup needs no map, and the random
//!   secret keeps the tag unguessable;
//! - presentity and watcher are `Arc<str>` shared with the indexes.
//!
//! Not here: what to send and when (`notify.rs`), answering SUBSCRIBE (`subscribe.rs`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use sip_txn::ClientTxnId;

use super::Package;
use crate::dialog::contact_uri;
use crate::glue::Rollup;
use crate::transport::Target;
use crate::util::new_branch;

pub type SubId = u64;

/// Where a subscription stands (RFC 6665 §4.1.3 `Subscription-State`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Active,
    /// With the reason token; the subscription goes once its final NOTIFY is answered.
    Terminated(&'static str),
}

/// What a new subscription is built from (the SUBSCRIBE that created it).
#[derive(Debug)]
pub struct NewSub<'a> {
    pub package: Package,
    pub presentity: Arc<str>,
    pub watcher: Arc<str>,
    pub event_id: Option<&'a str>,
    pub rollup: Rollup,
    /// The SUBSCRIBE's To (our identity, without our tag yet), From and Call-ID.
    pub to: &'a str,
    pub from: &'a str,
    pub from_tag: &'a str,
    pub call_id: &'a str,
    pub record_route: Vec<&'a str>,
    /// The watcher's Contact: Request-URI of our NOTIFYs.
    pub remote_target: &'a str,
    pub target: Target,
    pub remote_cseq: u32,
    pub expires_at: Instant,
    pub state: State,
    /// Whether the presence service was asked (and must be told when it ends).
    pub asked: bool,
    pub allowed: bool,
}

/// One subscription dialog, notifier side.
#[derive(Debug)]
pub struct Sub {
    pub package: Package,
    pub rollup: Rollup,
    pub state: State,
    /// The watcher may see the state (authorized); never true for a pending or blocked one.
    pub allowed: bool,
    /// `Presence::authorize` remembered this subscription: `forget_asker` when it goes.
    pub asked: bool,
    /// Newer state than the last NOTIFY carried: send once nothing is outstanding.
    pub dirty: bool,
    pub failures: u32,
    pub presentity: Arc<str>,
    pub watcher: Arc<str>,
    /// The random half of our To tag.
    secret: u64,
    /// `NOTIFY <remote target> SIP/2.0\r\n` followed by the fixed rows of every NOTIFY.
    head: Box<str>,
    /// Where the fixed rows start in `head` (after the request line).
    line_end: u16,
    /// Where the Call-ID, the watcher's tag and the Event `id` are in the fixed rows.
    call_id: Range<u16>,
    from_tag: Range<u16>,
    event_id: Option<Range<u16>>,
    /// Where the watcher is reached (its flow: NAT and TCP friendly).
    pub target: Target,
    pub local_cseq: u32,
    pub remote_cseq: u32,
    pub expires_at: Instant,
    /// The NOTIFY awaiting its final response (one at a time, §4.2.2).
    pub in_flight: Option<ClientTxnId>,
    pub retry_at: Option<Instant>,
    pub sent_version: Option<u64>,
}

impl Sub {
    /// Our To tag in this dialog.
    pub fn tag(&self, id: SubId) -> String {
        format!("{id:x}-{:x}", self.secret)
    }

    pub fn call_id(&self) -> &str {
        slice(self.rows(), &self.call_id)
    }

    /// The watcher's From tag (its dialog tag).
    pub fn watcher_tag(&self) -> &str {
        slice(self.rows(), &self.from_tag)
    }

    /// The `id` of the subscription's Event header (RFC 6665 §8.2.1).
    pub fn event_id(&self) -> Option<&str> {
        self.event_id.as_ref().map(|r| slice(self.rows(), r))
    }

    /// The fixed rows (after the request line).
    fn rows(&self) -> &str {
        self.head
            .get(usize::from(self.line_end)..)
            .unwrap_or_default()
    }

    /// A SUBSCRIBE refresh is a target refresh (RFC 6665 §4.1.2.4): the new Contact. `false`
    /// (nothing changed) when the head would grow past what the record indexes.
    pub fn set_remote_target(&mut self, uri: &str) -> bool {
        let line = format!("NOTIFY {uri} SIP/2.0\r\n");
        let Ok(line_end) = u16::try_from(line.len()) else {
            return false;
        };
        if line.len() + self.rows().len() > usize::from(u16::MAX) {
            return false;
        }
        let head = line + self.rows();
        self.head = head.into_boxed_str();
        self.line_end = line_end;
        true
    }

    /// The next NOTIFY of this dialog: a new CSeq, the state row and the (shared) body.
    pub fn notify(&mut self, local: SocketAddr, state: &str, body: Option<(&str, &[u8])>) -> Bytes {
        self.local_cseq = self.local_cseq.saturating_add(1);
        let len = body.map_or(0, |(_, b)| b.len());
        let (line, rows) = self
            .head
            .split_at_checked(usize::from(self.line_end))
            .unwrap_or_default();
        let mut s = String::with_capacity(self.head.len() + 256);
        s.push_str(line);
        let _ = write!(
            s,
            "Via: SIP/2.0/{} {local};branch={};rport\r\n",
            self.target.transport.via_token(),
            new_branch()
        );
        s.push_str(rows);
        let _ = write!(
            s,
            "CSeq: {} NOTIFY\r\nContact: {}\r\nSubscription-State: {state}\r\n",
            self.local_cseq,
            contact_uri(local, self.target.transport)
        );
        if let Some((ct, _)) = body {
            let _ = write!(s, "Content-Type: {ct}\r\n");
        }
        let _ = write!(s, "Content-Length: {len}\r\n\r\n");
        let mut out = s.into_bytes();
        if let Some((_, b)) = body {
            out.extend_from_slice(b);
        }
        Bytes::from(out)
    }
}

/// Where the `tag` parameter's value `tag` is in a From header value.
fn tag_range(from: &str, tag: &str) -> Option<Range<usize>> {
    if tag.is_empty() {
        return None;
    }
    from.match_indices(tag)
        .map(|(i, _)| i..i + tag.len())
        .find(|r| {
            let before = from.get(..r.start).is_some_and(|b| b.ends_with('='));
            let after = from.get(r.end..).unwrap_or_default();
            before && (after.is_empty() || after.starts_with([';', ' ', '\t']))
        })
}

fn slice<'a>(s: &'a str, r: &Range<u16>) -> &'a str {
    s.get(usize::from(r.start)..usize::from(r.end))
        .unwrap_or_default()
}

/// Every subscription and the indexes that find them.
#[derive(Debug, Default)]
pub struct Subscriptions {
    next_id: SubId,
    pub subs: HashMap<SubId, Box<Sub>>,
    by_presentity: HashMap<(Package, Arc<str>), HashSet<SubId>>,
    /// Live subscriptions per watcher (for `[presence] max_subscriptions_per_watcher`),
    /// keyed by a keyed hash of the watcher: 16 bytes a watcher instead of a second copy of
    /// its name (two watchers sharing a hash would share a quota: 2^-64).
    per_watcher: HashMap<u64, u32>,
    hasher: RandomState,
    pub by_txn: HashMap<ClientTxnId, SubId>,
    expiries: BTreeSet<(Instant, SubId)>,
    retries: BTreeSet<(Instant, SubId)>,
}

impl Subscriptions {
    /// Records a new subscription; its id (our tag is [`Sub::tag`]). `None` when the dialog
    /// rows are too long to index (64 KiB: never for a message we accepted).
    pub fn insert(&mut self, n: NewSub<'_>) -> Option<SubId> {
        let id = self.next_id;
        let secret = rand::random::<u64>();
        let tag = format!("{id:x}-{secret:x}");
        let line = format!("NOTIFY {} SIP/2.0\r\n", n.remote_target);
        let mut head =
            String::with_capacity(line.len() + 96 + n.to.len() + n.from.len() + n.call_id.len());
        let _ = write!(head, "Max-Forwards: 70\r\nFrom: {};tag={tag}\r\nTo: ", n.to);
        let to_start = head.len();
        head.push_str(n.from);
        let from_tag = tag_range(n.from, n.from_tag)
            .map_or(to_start..to_start, |r| to_start + r.start..to_start + r.end);
        head.push_str("\r\nCall-ID: ");
        let call_start = head.len();
        head.push_str(n.call_id);
        let call_id = call_start..head.len();
        head.push_str("\r\n");
        for r in &n.record_route {
            let _ = write!(head, "Route: {r}\r\n");
        }
        let _ = write!(head, "Event: {}", n.package.name());
        let event_id = n.event_id.map(|i| {
            head.push_str(";id=");
            let at = head.len();
            head.push_str(i);
            at..head.len()
        });
        head.push_str("\r\n");
        let range =
            |r: Range<usize>| Some(u16::try_from(r.start).ok()?..u16::try_from(r.end).ok()?);
        let line_end = u16::try_from(line.len()).ok()?;
        u16::try_from(line.len() + head.len()).ok()?;
        let sub = Sub {
            package: n.package,
            rollup: n.rollup,
            state: n.state,
            allowed: n.allowed,
            asked: n.asked,
            dirty: true,
            failures: 0,
            presentity: n.presentity,
            watcher: n.watcher,
            secret,
            call_id: range(call_id)?,
            from_tag: range(from_tag)?,
            event_id: match event_id {
                Some(r) => Some(range(r)?),
                None => None,
            },
            head: (line + &head).into_boxed_str(),
            line_end,
            target: n.target,
            local_cseq: 0,
            remote_cseq: n.remote_cseq,
            expires_at: n.expires_at,
            in_flight: None,
            retry_at: None,
            sent_version: None,
        };
        self.next_id += 1;
        self.by_presentity
            .entry((sub.package, sub.presentity.clone()))
            .or_default()
            .insert(id);
        *self
            .per_watcher
            .entry(self.hasher.hash_one(&*sub.watcher))
            .or_default() += 1;
        self.expiries.insert((sub.expires_at, id));
        self.subs.insert(id, Box::new(sub));
        Some(id)
    }

    /// The subscription whose dialog is `call_id` with our tag `tag`.
    pub fn find(&self, call_id: &str, tag: &str) -> Option<SubId> {
        let (id, secret) = tag.split_once('-')?;
        let id = SubId::from_str_radix(id, 16).ok()?;
        let secret = u64::from_str_radix(secret, 16).ok()?;
        let sub = self.subs.get(&id)?;
        (sub.secret == secret && sub.call_id() == call_id).then_some(id)
    }

    /// How many subscriptions `watcher` holds.
    pub fn of_watcher(&self, watcher: &str) -> usize {
        self.per_watcher
            .get(&self.hasher.hash_one(watcher))
            .map_or(0, |n| usize::try_from(*n).unwrap_or(usize::MAX))
    }

    /// Forgets a subscription entirely; the record, for what its end implies.
    pub fn remove(&mut self, id: SubId) -> Option<Box<Sub>> {
        let sub = self.subs.remove(&id)?;
        self.unindex(id, &sub);
        let h = self.hasher.hash_one(&*sub.watcher);
        if let Some(n) = self.per_watcher.get_mut(&h) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_watcher.remove(&h);
            }
        }
        self.expiries.remove(&(sub.expires_at, id));
        if let Some(t) = sub.retry_at {
            self.retries.remove(&(t, id));
        }
        if let Some(t) = sub.in_flight {
            self.by_txn.remove(&t);
        }
        Some(sub)
    }

    /// Takes a subscription out of its presentity's fan-out (it is terminating).
    fn unindex(&mut self, id: SubId, sub: &Sub) {
        let key = (sub.package, sub.presentity.clone());
        if let Some(set) = self.by_presentity.get_mut(&key) {
            set.remove(&id);
            if set.is_empty() {
                self.by_presentity.remove(&key);
            }
        }
    }

    /// Marks a subscription as terminating with `reason` (no more fan-out to it).
    pub fn terminate(&mut self, id: SubId, reason: &'static str) {
        let Some(sub) = self.subs.get_mut(&id) else {
            return;
        };
        sub.state = State::Terminated(reason);
        let key = (sub.package, sub.presentity.clone());
        if let Some(set) = self.by_presentity.get_mut(&key) {
            set.remove(&id);
            if set.is_empty() {
                self.by_presentity.remove(&key);
            }
        }
    }

    pub fn set_expiry(&mut self, id: SubId, at: Instant) {
        if let Some(sub) = self.subs.get_mut(&id) {
            self.expiries.remove(&(sub.expires_at, id));
            sub.expires_at = at;
            self.expiries.insert((at, id));
        }
    }

    pub fn set_retry(&mut self, id: SubId, at: Option<Instant>) {
        if let Some(sub) = self.subs.get_mut(&id) {
            if let Some(t) = sub.retry_at.take() {
                self.retries.remove(&(t, id));
            }
            if let Some(t) = at {
                sub.retry_at = Some(t);
                self.retries.insert((t, id));
            }
        }
    }

    /// The subscriptions of one presentity in one package.
    pub fn of_presentity(&self, package: Package, presentity: &str) -> Vec<SubId> {
        self.by_presentity
            .get(&(package, Arc::from(presentity)))
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        let e = self.expiries.first().map(|(t, _)| *t);
        let r = self.retries.first().map(|(t, _)| *t);
        match (e, r) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Subscriptions whose expiry passed, and those whose retry is due.
    pub fn due(&mut self, now: Instant) -> (Vec<SubId>, Vec<SubId>) {
        let mut expired = Vec::new();
        while let Some(&(t, id)) = self.expiries.first() {
            if t > now {
                break;
            }
            self.expiries.remove(&(t, id));
            expired.push(id);
        }
        let mut retry = Vec::new();
        while let Some(&(t, id)) = self.retries.first() {
            if t > now {
                break;
            }
            self.retries.remove(&(t, id));
            if let Some(s) = self.subs.get_mut(&id) {
                s.retry_at = None;
            }
            retry.push(id);
        }
        (expired, retry)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::transport::Transport;

    fn new_sub<'a>(from: &'a str, from_tag: &'a str) -> NewSub<'a> {
        NewSub {
            package: Package::Presence,
            presentity: Arc::from("bob@example.test"),
            watcher: Arc::from("alice@example.test"),
            event_id: Some("7"),
            rollup: Rollup::Compound,
            to: "<sip:bob@example.test>",
            from,
            from_tag,
            call_id: "c1@host",
            record_route: vec!["<sip:p1;lr>"],
            remote_target: "sip:alice@192.0.2.1:5062",
            target: Target {
                transport: Transport::Udp,
                addr: "192.0.2.1:5062".parse().unwrap(),
            },
            remote_cseq: 1,
            expires_at: Instant::now(),
            state: State::Active,
            asked: true,
            allowed: true,
        }
    }

    #[test]
    fn notify_is_a_valid_request_in_the_dialog() {
        let mut subs = Subscriptions::default();
        let from = "\"a1b2\" <sip:alice@example.test;a=a1b2>;tag=a1b2;x=a1b2";
        let id = subs.insert(new_sub(from, "a1b2")).unwrap();
        let sub = subs.subs.get_mut(&id).unwrap();
        let tag = sub.tag(id);
        assert_eq!(sub.watcher_tag(), "a1b2");
        assert_eq!(sub.call_id(), "c1@host");
        let local: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let b = sub.notify(
            local,
            "active;expires=60",
            Some(("application/pidf+xml", b"<x/>")),
        );
        let m = sip::parse_datagram(b).unwrap();
        assert_eq!(m.method(), "NOTIFY");
        assert_eq!(m.uri_str(), "sip:alice@192.0.2.1:5062");
        assert_eq!(m.call_id(), Some("c1@host"));
        assert_eq!(m.from().unwrap().tag(), Some(tag.as_str()));
        assert_eq!(m.to().unwrap().tag(), Some("a1b2"));
        assert_eq!(m.cseq().unwrap().seq, 1);
        assert_eq!(m.header_named("Event"), Some("presence;id=7"));
        assert_eq!(m.header_named("Route"), Some("<sip:p1;lr>"));
        assert_eq!(m.body(), b"<x/>");
        assert_eq!(sub.event_id(), Some("7"));
        assert!(sub.set_remote_target("sip:alice@192.0.2.9:5070"));
        assert_eq!(sub.call_id(), "c1@host");
        assert_eq!(sub.watcher_tag(), "a1b2");
        let again = sub.notify(local, "terminated;reason=timeout", None);
        let m = sip::parse_datagram(again).unwrap();
        assert_eq!(m.cseq().unwrap().seq, 2);
        assert_eq!(m.uri_str(), "sip:alice@192.0.2.9:5070");
        assert_eq!(m.header_named("Event"), Some("presence;id=7"));
        assert!(m.body().is_empty());
        // The tag finds the dialog; a wrong secret, id or Call-ID does not.
        assert_eq!(subs.find("c1@host", &tag), Some(id));
        assert_eq!(subs.find("c2@host", &tag), None);
        assert_eq!(subs.find("c1@host", "0-1"), None);
        assert_eq!(subs.find("c1@host", "zz"), None);
        assert_eq!(subs.of_watcher("alice@example.test"), 1);
        assert!(subs.remove(id).is_some());
        assert_eq!(subs.of_watcher("alice@example.test"), 0);
        assert!(
            subs.of_presentity(Package::Presence, "bob@example.test")
                .is_empty()
        );
    }
}

/// Bytes per subscription (issue 4 goal: ≤ 2 KiB per subscription in all; this is the
/// notifier's own share), accounted from `size_of`, string lengths and table capacities for
/// 10,000 watchers of one presentity, as in `bench/presence`.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod footprint {
    use std::mem::size_of;

    use super::*;
    use crate::transport::Transport;

    /// Heap bytes of a hashbrown table of `cap` entries of `entry` bytes (buckets are the
    /// next power of two above cap·8/7, one control byte each).
    fn table(cap: usize, entry: usize) -> usize {
        let buckets = (cap * 8 / 7).next_power_of_two();
        buckets * (entry + 1)
    }

    fn bytes(subs: &Subscriptions) -> usize {
        let records: usize = subs
            .subs
            .values()
            .map(|s| size_of::<Sub>() + s.head.len() + 16 + s.watcher.len())
            .sum();
        let sets: usize = subs
            .by_presentity
            .values()
            .map(|set| table(set.capacity(), size_of::<SubId>()))
            .sum();
        records
            + table(subs.subs.capacity(), size_of::<(SubId, Box<Sub>)>())
            + sets
            + table(subs.per_watcher.capacity(), size_of::<(u64, u32)>())
            + subs.expiries.len() * size_of::<(Instant, SubId)>() * 3 / 2
    }

    #[test]
    fn ten_thousand_watchers_cost_under_700_bytes_each() {
        const N: usize = 10_000;
        let presentity: Arc<str> = Arc::from("p000001@bench.test");
        let mut subs = Subscriptions::default();
        for i in 1..=N {
            let from = format!("<sip:u{i:06}@bench.test>;tag=w{i}");
            let call_id = format!("5f3a9c1e-{i}@bench");
            let target = format!("sip:u{i:06}@127.0.0.1:40000");
            subs.insert(NewSub {
                package: Package::Presence,
                presentity: presentity.clone(),
                watcher: Arc::from(format!("u{i:06}@bench.test").as_str()),
                event_id: None,
                rollup: Rollup::Compound,
                to: "<sip:p000001@bench.test>",
                from: &from,
                from_tag: &format!("w{i}"),
                call_id: &call_id,
                record_route: Vec::new(),
                remote_target: &target,
                target: Target {
                    transport: Transport::Udp,
                    addr: "127.0.0.1:40000".parse().unwrap(),
                },
                remote_cseq: 1,
                expires_at: Instant::now(),
                state: State::Active,
                asked: true,
                allowed: true,
            })
            .unwrap();
        }
        let per_sub = bytes(&subs) / N;
        eprintln!(
            "subscription footprint: {per_sub} bytes each (Sub {} + head {})",
            size_of::<Sub>(),
            subs.subs.values().next().unwrap().head.len()
        );
        assert!(per_sub < 700, "{per_sub} bytes per subscription");
    }
}
