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
}

pub struct Hub {
    state: Mutex<State>,
    idle: Duration,
}

fn now_ms() -> i64 {
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
        let mut st = self.lock();
        if let Some(s) = st.sessions.remove(&id) {
            if let Some(t) = s.token {
                st.tokens.remove(&t);
            }
            s.notify.notify_waiters();
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
            st.sessions
                .values()
                .filter(|s| {
                    users.is_none_or(|u| {
                        u.iter()
                            .any(|a| *a == format!("{}@{}", s.info.user, s.info.domain))
                    })
                })
                .filter(|s| {
                    always
                        || s.subs
                            .iter()
                            .any(|(t, k)| t == topic && (k.is_none() || k.as_deref() == key))
                })
                .map(|s| s.info.id)
                .collect()
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

    /// Sessions of `user@domain`.
    pub fn sessions_of(&self, aor: &str) -> Vec<SessionId> {
        self.lock()
            .sessions
            .values()
            .filter(|s| format!("{}@{}", s.info.user, s.info.domain) == aor)
            .map(|s| s.info.id)
            .collect()
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

    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
