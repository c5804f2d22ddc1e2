//! From a decoded message to its reply: session handling, validation against the catalogue,
//! the permission check, the provider (built-in or plug-in), async completion, bulk modes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cas_proto::{CasError, ErrorCode, Event, Object, Reply, Request};
use serde_json::{Value, json};
use services::bus::{Audience, Bus, BusEvent};
use services::perms::Permissions;
use services::provider::{BoxFuture, Caller, Outcome, Provider};
use store::Store;
use tokio::sync::mpsc;
use tracing::debug;

use crate::CasConfig;
use crate::builtin::{session, sub};
use crate::hub::{Hub, SessionInfo};
use crate::plugin::PluginHost;

/// How a client is connected, for where its session's messages go.
#[derive(Clone)]
pub enum Channel {
    Http,
    Ws(mpsc::UnboundedSender<Object>),
}

pub struct Cas {
    pub(crate) cfg: CasConfig,
    pub(crate) default_domain: String,
    pub(crate) store: Store,
    pub(crate) perms: Permissions,
    pub(crate) bus: Bus,
    pub(crate) hub: Arc<Hub>,
    pub(crate) providers: HashMap<&'static str, Arc<dyn Provider>>,
    pub(crate) plugins: Arc<PluginHost>,
}

/// Work that may start only once the reply is stamped and on its way (async completions,
/// serial bulk replies), so a session's messages leave in `sequence_id` order and a client
/// never sees a completion before its `pending` reply.
pub type Later = Vec<BoxFuture<'static, ()>>;

/// The reply to one message and the session it ran in (a login creates one).
pub struct Handled {
    pub reply: Object,
    pub session: Option<SessionInfo>,
    /// Spawn with [`release`] after the reply is stamped.
    pub later: Later,
}

/// Starts the deferred work of a handled message.
pub fn release(later: Later) {
    for f in later {
        tokio::spawn(f);
    }
}

fn token() -> String {
    use rand::Rng as _;
    let mut b = [0u8; 24];
    rand::thread_rng().fill(&mut b);
    sip::digest::hex(&b)
}

impl Cas {
    pub(crate) fn new(
        cfg: CasConfig,
        store: Store,
        bus: Bus,
        perms: Permissions,
        hub: Arc<Hub>,
        providers: HashMap<&'static str, Arc<dyn Provider>>,
    ) -> Cas {
        Cas {
            default_domain: cfg.domain.to_ascii_lowercase(),
            plugins: Arc::new(PluginHost::new(cfg.plugin_timeout)),
            cfg,
            store,
            perms,
            bus,
            hub,
            providers,
        }
    }

    /// Bus listener (notices, permission changes) and the idle-session sweeper.
    pub(crate) fn spawn_background(self: &Arc<Self>, bus: Bus) {
        let cas = self.clone();
        let mut rx = bus.subscribe();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => cas.on_bus(ev).await,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(lost = n, "CAS bus listener lagged");
                    }
                    Err(_) => return,
                }
            }
        });
        let hub = self.hub.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let n = hub.sweep();
                if n > 0 {
                    debug!(sessions = n, "idle sessions expired");
                }
            }
        });
    }

    async fn on_bus(&self, ev: BusEvent) {
        match ev {
            BusEvent::Notice {
                topic,
                key,
                audience,
                event,
                always,
            } => {
                let users = match &audience {
                    Audience::Users(u) => Some(u.as_slice()),
                    Audience::All => None,
                };
                let event = Event::build(
                    &topic,
                    event
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("event"),
                    event.clone(),
                );
                self.hub
                    .notice(&topic, key.as_deref(), users, &event, always);
            }
            // A listener lost session events (presence): the hub's sessions are the truth.
            BusEvent::SessionsQuery => self.bus.publish(BusEvent::SessionsSnapshot {
                sessions: self.hub.snapshot(),
            }),
            BusEvent::PermissionsChanged { role } => {
                for id in self.hub.sessions_with_role(&role) {
                    self.hub.deliver(id, self.permissions_event(&role));
                }
            }
            BusEvent::UserRoleChanged { user } => {
                let Some((name, domain)) = user.split_once('@') else {
                    return;
                };
                let Ok(role) = self.perms.role_of(domain, name).await else {
                    return;
                };
                // Every session has the new role before any of them hears of it.
                let ids = self.hub.sessions_of(&user);
                for id in &ids {
                    self.hub.set_role(*id, &role);
                }
                for id in ids {
                    self.hub.deliver(id, self.permissions_event(&role));
                }
            }
            _ => {}
        }
    }

    fn permissions_event(&self, role: &str) -> Object {
        let mut o = Object::new();
        o.insert("role".into(), json!(role));
        o.insert("permissions".into(), json!(self.perms.of_role(role).list()));
        Event::build("permissions", "changed", o)
    }

    /// Handles one message from a client.
    pub async fn handle(
        self: &Arc<Self>,
        session: Option<SessionInfo>,
        value: Value,
        chan: Channel,
    ) -> Handled {
        // Only the headers an error reply echoes are kept aside; the tree moves into the request.
        let mut echo = Object::new();
        for h in ["topic", "message", "request_id"] {
            if let Some(v) = value.get(h) {
                echo.insert(h.into(), v.clone());
            }
        }
        let req = match Request::from_value(value) {
            Ok(r) => r,
            Err(e) => {
                return Handled {
                    reply: Reply::error_for_raw(&Value::Object(echo), &e),
                    session,
                    later: Later::new(),
                };
            }
        };
        if req.topic == "session" && req.message == "login" {
            return self.login(&req, chan).await;
        }
        let Some(current) = session.as_ref().and_then(|s| self.hub.touch(s.id)) else {
            let e = CasError::new(
                ErrorCode::NotLoggedIn,
                "log in first (session.login), or the session expired",
            );
            return Handled {
                reply: Reply::error(Some(&req), &e),
                session: None,
                later: Later::new(),
            };
        };
        let mut later = Later::new();
        let mut reply = if req.is_bulk() {
            self.bulk(&current, &req, &mut later).await
        } else {
            self.run_one(&current, &req, &mut later).await
        };
        if req.topic == "session" && req.message == "logout" {
            // Stamped now: the session (and its counter) ends with this reply.
            self.hub.stamp(current.id, &mut reply);
            self.hub.end(current.id);
            return Handled {
                reply,
                session: None,
                later: Later::new(),
            };
        }
        Handled {
            reply,
            session: Some(current),
            later,
        }
    }

    async fn login(self: &Arc<Self>, req: &Request, chan: Channel) -> Handled {
        match self.check_login(req).await {
            Ok((user, domain, role)) => {
                let (tok, ws) = match chan {
                    Channel::Http => (Some(token()), None),
                    Channel::Ws(tx) => (None, Some(tx)),
                };
                let info = self.hub.create(&user, &domain, &role, tok.clone(), ws);
                self.bus.publish(BusEvent::SessionStarted {
                    user: format!("{user}@{domain}"),
                });
                let mut body = self.session_body(&info);
                if let Some(t) = tok {
                    body.insert("session".into(), json!(t));
                }
                Handled {
                    reply: Reply::ok(req, body),
                    session: Some(info),
                    later: Later::new(),
                }
            }
            Err(e) => Handled {
                reply: Reply::error(Some(req), &e),
                session: None,
                later: Later::new(),
            },
        }
    }

    /// One (non-bulk) request of a logged-in session; errors become error replies.
    /// An asynchronous outcome completes as an event pushed by a task in `later`.
    pub(crate) async fn run_one(
        self: &Arc<Self>,
        s: &SessionInfo,
        req: &Request,
        later: &mut Later,
    ) -> Object {
        match self.try_one(s, req).await {
            Ok(Outcome::Done(body)) => Reply::ok(req, body),
            Ok(Outcome::Pending(fut)) => {
                let hub = self.hub.clone();
                let (id, r) = (s.id, req.clone());
                later.push(Box::pin(async move {
                    let result = fut.await;
                    hub.deliver(id, Event::completion(&r, result));
                }));
                Reply::pending(req)
            }
            Err(e) => {
                if e.code == ErrorCode::Internal {
                    tracing::error!(topic = %req.topic, message = %req.message, "internal error");
                }
                Reply::error(Some(req), &e)
            }
        }
    }

    pub(crate) async fn try_one(
        self: &Arc<Self>,
        s: &SessionInfo,
        req: &Request,
    ) -> Result<Outcome, CasError> {
        let caller = Caller {
            user: s.user.clone(),
            domain: s.domain.clone(),
            perms: self.perms.of_role(&s.role),
            session: s.id,
        };
        let result = match req.topic.as_str() {
            "session" => self.session_message(s, req),
            "sub" => self.sub_message(s, req),
            "bulk" => Err(CasError::bad_request("bulk requests cannot be nested")),
            topic => match self.providers.get(topic) {
                Some(p) => {
                    let spec = p.spec().message(&req.message).ok_or_else(|| {
                        CasError::not_found(format!("unknown message {topic}.{}", req.message))
                    })?;
                    spec.validate(req)?;
                    if let Some(action) = spec.action {
                        caller.require(action)?;
                    }
                    p.handle(&caller, req).await
                }
                None => match self.plugins.owner(topic) {
                    Some(_) => self.plugins.call(&caller, req).await,
                    None => Err(CasError::not_found(format!("unknown topic '{topic}'"))),
                },
            },
        };
        if result.is_ok() && req.subscribe {
            self.hub.subscribe(s.id, &req.topic, None);
        }
        result
    }

    fn session_message(&self, s: &SessionInfo, req: &Request) -> Result<Outcome, CasError> {
        let spec = session::SPEC.message(&req.message).ok_or_else(|| {
            CasError::not_found(format!("unknown message session.{}", req.message))
        })?;
        spec.validate(req)?;
        match req.message.as_str() {
            "info" => Ok(Outcome::Done(self.session_body(s))),
            _ => Ok(Outcome::Done(Object::new())),
        }
    }

    fn sub_message(&self, s: &SessionInfo, req: &Request) -> Result<Outcome, CasError> {
        let spec = sub::SPEC
            .message(&req.message)
            .ok_or_else(|| CasError::not_found(format!("unknown message sub.{}", req.message)))?;
        spec.validate(req)?;
        let key = req.opt_str("key")?;
        match req.message.as_str() {
            "subscribe" => {
                let to = req.str("to")?;
                let known = self.providers.contains_key(to)
                    || self.plugins.owner(to).is_some()
                    || to == "permissions";
                if !known {
                    return Err(CasError::not_found(format!("unknown topic '{to}'")));
                }
                self.hub.subscribe(s.id, to, key);
            }
            "unsubscribe" if !self.hub.unsubscribe(s.id, req.str("to")?, key) => {
                return Err(CasError::not_found("no such subscription"));
            }
            _ => {}
        }
        let list: Vec<Value> = self
            .hub
            .subscriptions(s.id)
            .into_iter()
            .map(|(to, key)| json!({"to": to, "key": key}))
            .collect();
        let mut o = Object::new();
        o.insert("subscriptions".into(), Value::Array(list));
        Ok(Outcome::Done(o))
    }
}
