//! Sessions and event delivery: who is logged in, what each session subscribed to, and the
//! per-session outgoing stream (WebSocket, or a bounded queue drained by long-poll). Every
//! outgoing message is stamped with `timestamp` and a per-session `sequence_id`, so a client
//! sees gaps (e.g. when a long-poll queue overflowed).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cas_proto::Object;
use serde_json::json;
use tokio::sync::{Notify, mpsc};

pub type SessionId = u64;

/// Events kept for a long-poll client that is not polling; older ones are dropped (the
/// sequence gap shows it).
const QUEUE_LIMIT: usize = 1000;

/// What an administrator sees of a live session (`admin.session_list`).
#[derive(Debug, Clone)]
pub struct SessionView {
    pub info: SessionInfo,
    pub transport: &'static str,
    pub idle: Duration,
    pub subscriptions: Vec<(String, Option<String>)>,
}

#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: SessionId,
    pub user: String,
    pub domain: String,
    pub role: String,
}

struct Session {
    info: SessionInfo,
    token: Option<String>,
    last_active: Instant,
    seq_out: u64,
    queue: VecDeque<Object>,
    notify: Arc<Notify>,
    ws: Option<mpsc::UnboundedSender<Object>>,
    subs: HashSet<(String, Option<String>)>,
    polling: usize,
}

#[derive(Default)]
struct State {
    next: SessionId,
    sessions: HashMap<SessionId, Session>,
    tokens: HashMap<String, SessionId>,
    /// `user@domain` → its sessions, so a notice for some users costs O(their sessions).
    by_user: HashMap<String, HashSet<SessionId>>,
}

fn aor(info: &SessionInfo) -> String {
    format!("{}@{}", info.user, info.domain)
}

pub struct Hub {
    state: Mutex<State>,
    idle: Duration,
    /// Told when a session ends, so services tracking reachability (IM) stay right.
    bus: Option<services::bus::Bus>,
}

/// Milliseconds since the Unix epoch, for `timestamp`.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Hub {
    pub fn new(idle: Duration) -> Arc<Hub> {
        Arc::new(Hub {
            state: Mutex::new(State::default()),
            idle,
            bus: None,
        })
    }

    /// A hub that publishes `SessionEnded` on the bus.
    pub fn with_bus(idle: Duration, bus: services::bus::Bus) -> Arc<Hub> {
        Arc::new(Hub {
            state: Mutex::new(State::default()),
            idle,
            bus: Some(bus),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a session; HTTP sessions get a token, WebSocket sessions are the socket.
    pub fn create(
        &self,
        user: &str,
        domain: &str,
        role: &str,
        token: Option<String>,
        ws: Option<mpsc::UnboundedSender<Object>>,
    ) -> SessionInfo {
        let mut st = self.lock();
        st.next += 1;
        let id = st.next;
        let info = SessionInfo {
            id,
            user: user.to_owned(),
            domain: domain.to_owned(),
            role: role.to_owned(),
        };
        if let Some(t) = &token {
            st.tokens.insert(t.clone(), id);
        }
        st.by_user.entry(aor(&info)).or_default().insert(id);
        st.sessions.insert(
            id,
            Session {
                info: info.clone(),
                token,
                last_active: Instant::now(),
                seq_out: 0,
                queue: VecDeque::new(),
                notify: Arc::new(Notify::new()),
                ws,
                subs: HashSet::new(),
                polling: 0,
            },
        );
        info
    }

    /// The session of a token, marking it active.
    pub fn by_token(&self, token: &str) -> Option<SessionInfo> {
        let mut st = self.lock();
        let id = *st.tokens.get(token)?;
        let s = st.sessions.get_mut(&id)?;
        s.last_active = Instant::now();
        Some(s.info.clone())
    }

    /// Marks a session active and returns its current identity (the role may have changed).
    pub fn touch(&self, id: SessionId) -> Option<SessionInfo> {
        let mut st = self.lock();
        let s = st.sessions.get_mut(&id)?;
        s.last_active = Instant::now();
        Some(s.info.clone())
    }

    pub fn end(&self, id: SessionId) {
        let ended = {
            let mut st = self.lock();
            let s = st.sessions.remove(&id);
            if let Some(t) = s.as_ref().and_then(|s| s.token.clone()) {
                st.tokens.remove(&t);
            }
            if let Some(s) = &s {
                let a = aor(&s.info);
                if let Some(set) = st.by_user.get_mut(&a) {
                    set.remove(&id);
                    if set.is_empty() {
                        st.by_user.remove(&a);
                    }
                }
            }
            s
        };
        if let Some(s) = ended {
            s.notify.notify_waiters();
            if let Some(bus) = &self.bus {
                bus.publish(services::bus::BusEvent::SessionEnded {
                    user: aor(&s.info),
                    session: id,
                });
            }
        }
    }

    /// Stamps `timestamp` and the next `sequence_id` of the session.
    pub fn stamp(&self, id: SessionId, msg: &mut Object) {
        let mut st = self.lock();
        if let Some(s) = st.sessions.get_mut(&id) {
            s.seq_out += 1;
            msg.insert("timestamp".into(), json!(now_ms()));
            msg.insert("sequence_id".into(), json!(s.seq_out));
        }
    }

    /// Sends a message to a session: on its WebSocket, or into its long-poll queue.
    pub fn deliver(&self, id: SessionId, mut msg: Object) {
        let mut st = self.lock();
        let Some(s) = st.sessions.get_mut(&id) else {
            return;
        };
        s.seq_out += 1;
        msg.insert("timestamp".into(), json!(now_ms()));
        msg.insert("sequence_id".into(), json!(s.seq_out));
        if let Some(ws) = &s.ws {
            let _ = ws.send(msg);
            return;
        }
        if s.queue.len() >= QUEUE_LIMIT {
            s.queue.pop_front();
        }
        s.queue.push_back(msg);
        s.notify.notify_one();
    }

    /// Long-poll: pending events now, or whatever arrives within `timeout`.
    pub async fn poll(&self, id: SessionId, timeout: Duration) -> Option<Vec<Object>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let notify = {
            let mut st = self.lock();
            let s = st.sessions.get_mut(&id)?;
            s.polling += 1;
            s.notify.clone()
        };
        let result = loop {
            {
                let mut st = self.lock();
                let Some(s) = st.sessions.get_mut(&id) else {
                    break None;
                };
                s.last_active = Instant::now();
                if !s.queue.is_empty() || tokio::time::Instant::now() >= deadline {
                    break Some(s.queue.drain(..).collect());
                }
            }
            tokio::select! {
                _ = notify.notified() => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        };
        let mut st = self.lock();
        if let Some(s) = st.sessions.get_mut(&id) {
            s.polling = s.polling.saturating_sub(1);
            s.last_active = Instant::now();
        }
        result
    }

    pub fn subscribe(&self, id: SessionId, topic: &str, key: Option<&str>) {
        if let Some(s) = self.lock().sessions.get_mut(&id) {
            s.subs.insert((topic.to_owned(), key.map(str::to_owned)));
        }
    }

    /// Removes one subscription; returns whether it existed.
    pub fn unsubscribe(&self, id: SessionId, topic: &str, key: Option<&str>) -> bool {
        self.lock()
            .sessions
            .get_mut(&id)
            .is_some_and(|s| s.subs.remove(&(topic.to_owned(), key.map(str::to_owned))))
    }

    pub fn subscriptions(&self, id: SessionId) -> Vec<(String, Option<String>)> {
        let mut v: Vec<_> = self
            .lock()
            .sessions
            .get(&id)
            .map(|s| s.subs.iter().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Routes a notice to the sessions it concerns. `users` = `None` means every session.
    pub fn notice(
        &self,
        topic: &str,
        key: Option<&str>,
        users: Option<&[String]>,
        event: &Object,
        always: bool,
    ) {
        let targets: Vec<SessionId> = {
            let st = self.lock();
            let wants = |s: &&Session| {
                always
                    || s.subs
                        .iter()
                        .any(|(t, k)| t == topic && (k.is_none() || k.as_deref() == key))
            };
            match users {
                Some(users) => users
                    .iter()
                    .filter_map(|u| st.by_user.get(u))
                    .flatten()
                    .filter_map(|id| st.sessions.get(id))
                    .filter(wants)
                    .map(|s| s.info.id)
                    .collect(),
                None => st
                    .sessions
                    .values()
                    .filter(wants)
                    .map(|s| s.info.id)
                    .collect(),
            }
        };
        for id in targets {
            self.deliver(id, event.clone());
        }
    }

    /// Sessions holding `role` (for `permissions.changed`).
    pub fn sessions_with_role(&self, role: &str) -> Vec<SessionId> {
        self.lock()
            .sessions
            .values()
            .filter(|s| s.info.role == role)
            .map(|s| s.info.id)
            .collect()
    }

    /// Every live session by user (`user@domain` → ids): the truth for a bus listener that
    /// lost `SessionStarted`/`SessionEnded` events (`BusEvent::SessionsQuery`).
    pub fn snapshot(&self) -> Vec<(String, Vec<SessionId>)> {
        self.lock()
            .by_user
            .iter()
            .map(|(user, set)| (user.clone(), set.iter().copied().collect()))
            .collect()
    }

    /// Sessions of `user@domain`.
    pub fn sessions_of(&self, aor: &str) -> Vec<SessionId> {
        self.lock()
            .by_user
            .get(aor)
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default()
    }

    pub fn set_role(&self, id: SessionId, role: &str) {
        if let Some(s) = self.lock().sessions.get_mut(&id) {
            s.info.role = role.to_owned();
        }
    }

    /// Ends sessions idle longer than the limit (WebSocket sessions end with their socket;
    /// a client in a long-poll is active). Returns how many ended.
    pub fn sweep(&self) -> usize {
        let idle = self.idle;
        let expired: Vec<SessionId> = self
            .lock()
            .sessions
            .values()
            .filter(|s| s.ws.is_none() && s.polling == 0 && s.last_active.elapsed() > idle)
            .map(|s| s.info.id)
            .collect();
        for id in &expired {
            self.end(*id);
        }
        expired.len()
    }

    /// Every live session, oldest first.
    pub fn list(&self) -> Vec<SessionView> {
        let mut v: Vec<SessionView> = self
            .lock()
            .sessions
            .values()
            .map(|s| {
                let mut subscriptions: Vec<_> = s.subs.iter().cloned().collect();
                subscriptions.sort();
                SessionView {
                    info: s.info.clone(),
                    transport: if s.ws.is_some() { "ws" } else { "http" },
                    idle: s.last_active.elapsed(),
                    subscriptions,
                }
            })
            .collect();
        v.sort_by_key(|s| s.info.id);
        v
    }

    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(n: u64) -> Object {
        let mut o = Object::new();
        o.insert("n".into(), json!(n));
        o
    }

    #[tokio::test]
    async fn one_sequence_per_session_and_a_bounded_queue() {
        let hub = Hub::new(Duration::from_secs(60));
        let a = hub.create("bob", "example.test", "user", Some("t".into()), None);
        let b = hub.create("carol", "example.test", "user", Some("u".into()), None);
        let mut reply = obj(0);
        hub.stamp(a.id, &mut reply);
        assert_eq!(reply["sequence_id"], 1);
        assert!(reply["timestamp"].is_i64());
        for n in 0..(QUEUE_LIMIT as u64 + 5) {
            hub.deliver(a.id, obj(n));
        }
        hub.deliver(b.id, obj(7));
        let got = hub.poll(a.id, Duration::ZERO).await.unwrap();
        assert_eq!(got.len(), QUEUE_LIMIT);
        // The five oldest were dropped: the first kept one shows the gap.
        assert_eq!(got[0]["n"], 5);
        assert_eq!(got[0]["sequence_id"], 7);
        let b_got = hub.poll(b.id, Duration::ZERO).await.unwrap();
        assert_eq!(b_got[0]["sequence_id"], 1, "sessions count separately");
    }

    #[tokio::test]
    async fn a_waiting_poll_wakes_on_delivery_and_on_session_end() {
        let hub = Hub::new(Duration::from_secs(60));
        let s = hub.create("bob", "example.test", "user", Some("t".into()), None);
        let h = hub.clone();
        let waiter = tokio::spawn(async move { h.poll(s.id, Duration::from_secs(10)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        hub.deliver(s.id, obj(1));
        let got = tokio::time::timeout(Duration::from_secs(1), waiter).await;
        assert_eq!(got.unwrap().unwrap().unwrap().len(), 1);
        assert!(hub.by_token("t").is_some());
        hub.end(s.id);
        assert!(hub.by_token("t").is_none());
        assert!(hub.poll(s.id, Duration::ZERO).await.is_none());
    }

    #[test]
    fn idle_http_sessions_expire_but_websockets_do_not() {
        let hub = Hub::new(Duration::ZERO);
        let (tx, _rx) = mpsc::unbounded_channel();
        let http = hub.create("bob", "example.test", "user", Some("t".into()), None);
        let ws = hub.create("bob", "example.test", "user", None, Some(tx));
        hub.subscribe(http.id, "dir", None);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(hub.sweep(), 1);
        assert!(hub.touch(http.id).is_none());
        assert!(hub.subscriptions(http.id).is_empty());
        assert!(hub.touch(ws.id).is_some());
        assert_eq!(hub.list()[0].transport, "ws");
    }

    #[test]
    fn notices_reach_subscribers_or_everyone_when_always() {
        let hub = Hub::new(Duration::from_secs(60));
        let bob = hub.create("bob", "example.test", "user", Some("t".into()), None);
        let carol = hub.create("carol", "example.test", "user", Some("u".into()), None);
        hub.subscribe(bob.id, "presence", Some("carol@example.test"));
        let users = ["bob@example.test".to_owned()];
        hub.notice("presence", Some("alice@example.test"), None, &obj(1), false);
        hub.notice("presence", Some("carol@example.test"), None, &obj(2), false);
        hub.notice("im", None, Some(&users), &obj(3), true);
        hub.notice("im", None, Some(&users), &obj(4), false);
        let queued = |id| {
            hub.lock()
                .sessions
                .get(&id)
                .map(|s| s.queue.iter().map(|o| o["n"].clone()).collect::<Vec<_>>())
                .unwrap()
        };
        assert_eq!(queued(bob.id), [json!(2), json!(3)]);
        assert!(queued(carol.id).is_empty());
    }
}
