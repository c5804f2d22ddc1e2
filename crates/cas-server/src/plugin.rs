//! The plug-in host: out-of-process programs on `/cas/plugin` (WebSocket) own topics, receive
//! the requests for them with the caller's identity and permissions, reply, and push events
//! to users. A slow or vanished plug-in yields `timeout` (408) or `unavailable` (503), never
//! a hung client.
//!
//! A plug-in that waits on something itself may answer `{"response":0,"pending":true}` first:
//! the client gets `pending: true` at once and the plug-in's second reply to the same id
//! completes the request as an event (within [`ASYNC_LIMIT`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use cas_proto::plugin::{PluginMessage, Refusal};
use cas_proto::{CasError, ErrorCode, Event, Object, Request};
use serde_json::Value;
use services::provider::Caller;
use services::provider::Outcome;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::Cas;
use crate::builtin::admin::secret_hash;

/// Topics only built-in providers may serve (DESIGN.md §3), whether or not they run yet.
const RESTRICTED: &[&str] = &[
    "session",
    "sub",
    "bulk",
    "admin",
    "permissions",
    "tel",
    "dir",
    "config",
    "vm",
    "history",
    "presence",
    "im",
    "mwi",
    "ptt",
];

/// How long an asynchronous plug-in request may take after its `pending` reply.
pub const ASYNC_LIMIT: Duration = Duration::from_secs(120);

struct Conn {
    name: String,
    tx: mpsc::UnboundedSender<String>,
    /// Requests awaiting replies; an entry stays after a `pending` reply.
    pending: HashMap<u64, mpsc::UnboundedSender<Value>>,
}

#[derive(Default)]
struct State {
    owners: HashMap<String, u64>,
    conns: HashMap<u64, Conn>,
}

pub struct PluginHost {
    state: Mutex<State>,
    timeout: Duration,
    next: AtomicU64,
}

impl PluginHost {
    pub fn new(timeout: Duration) -> PluginHost {
        PluginHost {
            state: Mutex::default(),
            timeout,
            next: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The plug-in connection owning a topic.
    pub fn owner(&self, topic: &str) -> Option<u64> {
        self.lock().owners.get(topic).copied()
    }

    /// Forwards a request to the topic's plug-in and waits (bounded) for its reply; a
    /// `pending` reply makes the request asynchronous.
    pub async fn call(
        self: &Arc<Self>,
        caller: &Caller,
        req: &Request,
    ) -> Result<Outcome, CasError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut rx = {
            let mut st = self.lock();
            let conn_id = st
                .owners
                .get(&req.topic)
                .copied()
                .ok_or_else(|| CasError::new(ErrorCode::Unavailable, "the plug-in is gone"))?;
            let conn = st
                .conns
                .get_mut(&conn_id)
                .ok_or_else(|| CasError::new(ErrorCode::Unavailable, "the plug-in is gone"))?;
            let mut request = req.fields.clone();
            request.insert("topic".into(), Value::String(req.topic.clone()));
            request.insert("message".into(), Value::String(req.message.clone()));
            let msg = PluginMessage::Request {
                id,
                user: caller.aor(),
                permissions: caller.perms.list(),
                request: Value::Object(request),
            };
            if conn.tx.send(msg.to_text()).is_err() {
                return Err(CasError::new(ErrorCode::Unavailable, "the plug-in is gone"));
            }
            let (tx, rx) = mpsc::unbounded_channel();
            conn.pending.insert(id, tx);
            rx
        };
        let topic = req.topic.clone();
        let first = self.answer(id, &topic, &mut rx, self.timeout).await?;
        if !is_pending(&first) {
            return reply_body(first).map(Outcome::Done);
        }
        let host = self.clone();
        Ok(Outcome::Pending(Box::pin(async move {
            loop {
                let next = host.answer(id, &topic, &mut rx, ASYNC_LIMIT).await?;
                if !is_pending(&next) {
                    return reply_body(next);
                }
            }
        })))
    }

    /// The plug-in's next answer to request `id`, within `limit`.
    async fn answer(
        &self,
        id: u64,
        topic: &str,
        rx: &mut mpsc::UnboundedReceiver<Value>,
        limit: Duration,
    ) -> Result<Value, CasError> {
        match tokio::time::timeout(limit, rx.recv()).await {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err(CasError::new(
                ErrorCode::Unavailable,
                format!("the plug-in serving '{topic}' went away"),
            )),
            Err(_) => {
                self.forget(id);
                Err(CasError::new(
                    ErrorCode::Timeout,
                    format!(
                        "the plug-in serving '{topic}' did not answer within {} ms",
                        limit.as_millis()
                    ),
                ))
            }
        }
    }

    fn forget(&self, id: u64) {
        for c in self.lock().conns.values_mut() {
            c.pending.remove(&id);
        }
    }

    fn register(
        &self,
        conn: u64,
        topics: Vec<String>,
        builtin: &dyn Fn(&str) -> bool,
    ) -> PluginMessage {
        let mut st = self.lock();
        let (mut ok, mut refused) = (Vec::new(), Vec::new());
        for t in topics {
            let valid = !t.is_empty()
                && t.len() <= 64
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            let reason = if !valid {
                Some("invalid topic name".to_owned())
            } else if RESTRICTED.contains(&t.as_str()) || builtin(&t) {
                Some("restricted to built-in providers".to_owned())
            } else {
                match st.owners.get(&t) {
                    Some(other) if *other != conn => {
                        let who = st
                            .conns
                            .get(other)
                            .map_or("another plug-in", |c| c.name.as_str());
                        Some(format!("already served by {who}"))
                    }
                    _ => None,
                }
            };
            match reason {
                Some(reason) => refused.push(Refusal { topic: t, reason }),
                None => {
                    st.owners.insert(t.clone(), conn);
                    ok.push(t);
                }
            }
        }
        PluginMessage::Registered {
            topics: ok,
            refused,
        }
    }

    fn complete(&self, conn: u64, id: u64, reply: Value) {
        let mut st = self.lock();
        let Some(c) = st.conns.get_mut(&conn) else {
            return;
        };
        let tx = if is_pending(&reply) {
            c.pending.get(&id).cloned()
        } else {
            c.pending.remove(&id)
        };
        if let Some(tx) = tx {
            let _ = tx.send(reply);
        }
    }

    fn owns(&self, conn: u64, topic: &str) -> bool {
        self.lock().owners.get(topic) == Some(&conn)
    }

    fn remove(&self, conn: u64) {
        let mut st = self.lock();
        st.owners.retain(|_, c| *c != conn);
        // Dropping the pending senders answers waiting clients with `unavailable`.
        st.conns.remove(&conn);
    }
}

/// `{"response":0,"pending":true}`: the plug-in will complete the request later.
fn is_pending(reply: &Value) -> bool {
    reply.get("pending").and_then(Value::as_bool) == Some(true)
        && reply.get("response").and_then(Value::as_u64).unwrap_or(0) == 0
}

/// A plug-in reply becomes the reply body, or an error if `response` is not 0.
fn reply_body(reply: Value) -> Result<Object, CasError> {
    let Value::Object(mut o) = reply else {
        return Err(CasError::new(
            ErrorCode::Unavailable,
            "the plug-in sent a malformed reply",
        ));
    };
    let code = o.get("response").and_then(Value::as_u64).unwrap_or(0);
    if code != 0 {
        let message = o
            .get("error")
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("the plug-in refused the request")
            .to_owned();
        let code = ErrorCode::from_code(code).unwrap_or(ErrorCode::BadRequest);
        return Err(CasError::new(code, message));
    }
    for h in cas_proto::envelope::HEADERS {
        o.remove(h);
    }
    o.remove("response");
    Ok(o)
}

/// Serves one plug-in connection until it closes.
pub async fn serve(cas: Arc<Cas>, mut ws: WebSocket) {
    let hello = tokio::time::timeout(Duration::from_secs(5), ws.recv()).await;
    let (name, credential) = match hello {
        Ok(Some(Ok(Message::Text(t)))) => match PluginMessage::parse(t.as_str()) {
            Ok(PluginMessage::Hello { credential, name }) => (name, credential),
            _ => return refuse(ws, "expected a hello message").await,
        },
        _ => return refuse(ws, "expected a hello message within 5 s").await,
    };
    let stored = cas.store.plugin_credential(&name).await.ok().flatten();
    let valid = stored.is_some_and(|h| sip::digest::digest_eq(&h, &secret_hash(&credential)));
    if !valid {
        warn!(plugin = %name, "plug-in refused: bad credential");
        return refuse(ws, "unknown plug-in or wrong credential").await;
    }
    let host = &cas.plugins;
    let conn = host.next.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    host.lock().conns.insert(
        conn,
        Conn {
            name: name.clone(),
            tx,
            pending: HashMap::new(),
        },
    );
    info!(plugin = %name, "plug-in connected");
    let welcome = PluginMessage::Welcome { name: name.clone() }.to_text();
    if ws.send(Message::Text(welcome.into())).await.is_ok() {
        loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(text) => {
                        if ws.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                    None => break,
                },
                inc = ws.recv() => match inc {
                    Some(Ok(Message::Text(t))) => {
                        let answer = on_message(&cas, conn, t.as_str());
                        if let Some(a) = answer
                            && ws.send(Message::Text(a.to_text().into())).await.is_err() {
                                break;
                            }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                },
            }
        }
    }
    cas.plugins.remove(conn);
    info!(plugin = %name, "plug-in disconnected, its topics are released");
}

fn on_message(cas: &Cas, conn: u64, text: &str) -> Option<PluginMessage> {
    match PluginMessage::parse(text) {
        Ok(PluginMessage::Register { topics }) => {
            let builtin = |t: &str| cas.providers.contains_key(t);
            Some(cas.plugins.register(conn, topics, &builtin))
        }
        Ok(PluginMessage::Reply { id, reply }) => {
            cas.plugins.complete(conn, id, reply);
            None
        }
        Ok(PluginMessage::Event { user, event }) => {
            let topic = event
                .get("topic")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if !cas.plugins.owns(conn, &topic) {
                return Some(PluginMessage::Error {
                    message: format!("events must belong to a topic you serve, not '{topic}'"),
                });
            }
            let message = event
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("event")
                .to_owned();
            let body = match event {
                Value::Object(o) => o,
                _ => Object::new(),
            };
            let ev = Event::build(&topic, &message, body);
            for id in cas.hub.sessions_of(&user) {
                cas.hub.deliver(id, ev.clone());
            }
            None
        }
        Ok(_) => Some(PluginMessage::Error {
            message: "unexpected message".into(),
        }),
        Err(e) => Some(PluginMessage::Error { message: e }),
    }
}

async fn refuse(mut ws: WebSocket, why: &str) {
    let _ = ws
        .send(Message::Text(
            PluginMessage::Error {
                message: why.into(),
            }
            .to_text()
            .into(),
        ))
        .await;
    let _ = ws.send(Message::Close(None)).await;
}

#[cfg(test)]
#[path = "plugin_tests.rs"]
mod tests;
