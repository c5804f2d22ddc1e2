//! The core task: owns the transaction layer and all SIP state, dispatches requests to the
//! registrar, the B2BUA and the built-in answers, and turns service verdicts into responses.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use services::auth::{AuthRequest, Authenticator, Verdict};
use services::bans::{BanList, FailureCounter};
use services::directory::Directory;
use services::registrar::Location;
use sip::{HeaderName, Message, Method, response_to};
use sip_txn::{ClientTxnId, Endpoint, Input, Output, ServerTxnId, Timers};
use store::Binding;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::SipConfig;
use crate::b2bua::Calls;
use crate::persist::PersistTx;
use crate::transport::{Event, Target, Transports};
use crate::util::{random_token, unix_now};

/// Methods we answer or relay, for `Allow` (RFC 3261 §20.5).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, MESSAGE, NOTIFY, REFER, SUBSCRIBE, PUBLISH";

/// A status, its reason phrase, and an optional header row explaining it.
type Rejection = (u16, &'static str, Option<(&'static str, String)>);

pub struct Core {
    pub cfg: SipConfig,
    pub txn: Endpoint<Target>,
    pub transports: Transports,
    pub dir: Directory,
    pub location: Location,
    auth: Authenticator,
    failures: FailureCounter,
    pub persist: PersistTx,
    pub calls: Calls,
    /// Calls the media engine terminates (voicemail, play-on-phone).
    pub media_calls: crate::media::MediaCalls,
    /// Calls whose media is relayed by the engine.
    pub anchors: crate::anchor::Anchors,
    pub deps: crate::Deps,
    /// Live CAS sessions per user (from the bus), so MESSAGE can tell delivered from stored.
    pub cas_sessions: std::collections::HashMap<String, usize>,
    /// Event subscriptions we notify (presence, message-summary).
    pub subs: crate::subscribe::Subscriptions,
    /// Service classes of registered devices (voice, video, IM).
    pub classes: crate::devices::DeviceClasses,
    last_overload_warning: Option<Instant>,
}

impl Core {
    pub fn new(
        cfg: SipConfig,
        transports: Transports,
        dir: Directory,
        bindings: Vec<Binding>,
        bans: BanList,
        persist: PersistTx,
        deps: crate::Deps,
    ) -> Core {
        let mut location = Location::new(cfg.registrar.clone());
        // [presence] Device classes are stored with the bindings; announced again below.
        let mut classes = crate::devices::DeviceClasses::default();
        classes.seed(&bindings);
        let aors: std::collections::BTreeSet<String> =
            bindings.iter().map(|b| b.aor.clone()).collect();
        location.load(bindings);
        let mut core = Core {
            auth: Authenticator::new(cfg.auth.clone()),
            failures: FailureCounter::new(cfg.bans.clone(), bans),
            txn: Endpoint::new(Timers::default()),
            transports,
            dir,
            location,
            persist,
            calls: Calls::default(),
            media_calls: crate::media::MediaCalls::default(),
            anchors: crate::anchor::Anchors::default(),
            cas_sessions: std::collections::HashMap::new(),
            subs: crate::subscribe::Subscriptions::default(),
            classes,
            last_overload_warning: None,
            deps,
            cfg,
        };
        for aor in aors {
            core.devices_changed(&aor);
        }
        core
    }

    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<Event>,
        mut bus: tokio::sync::broadcast::Receiver<services::bus::BusEvent>,
        mut shutdown: oneshot::Receiver<()>,
    ) {
        let mut housekeeping = Instant::now() + Duration::from_secs(30);
        let mut resync_due = false;
        let mut media_notes = self.media_calls.take_notes();
        loop {
            let now = Instant::now();
            let mut next = housekeeping;
            if let Some(t) = self.txn.poll_timeout() {
                next = next.min(t);
            }
            if let Some(t) = self.calls.next_deadline() {
                next = next.min(t);
            }
            if let Some(t) = self.subs.next_deadline() {
                next = next.min(t);
            }
            tokio::select! {
                _ = &mut shutdown => break,
                ev = events.recv() => match ev {
                    Some(ev) => {
                        self.on_event(ev);
                        // Take what else is queued before looking at timers again.
                        for _ in 0..64 {
                            match events.try_recv() {
                                Ok(ev) => self.on_event(ev),
                                Err(_) => break,
                            }
                        }
                    }
                    None => break,
                },
                Some(note) = recv_note(&mut media_notes) => self.on_media_note(note),
                ev = bus.recv() => {
                    match ev {
                        Ok(ev) => self.on_bus(ev),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            warn!(lost = n, "sip core lagged behind the bus, resyncing CAS sessions");
                            resync_due = true;
                        }
                        Err(_) => {}
                    }
                    // Lost events may have been session starts and ends (MESSAGE tells
                    // delivered from stored by them): ask the hub once caught up.
                    if resync_due && bus.is_empty() {
                        resync_due = false;
                        self.deps.bus.resync_sessions();
                    }
                },
                _ = tokio::time::sleep_until(next.max(now).into()) => {}
            }
            let now = Instant::now();
            if self.txn.poll_timeout().is_some_and(|t| t <= now) {
                self.input(Input::Timeout);
            }
            if self.calls.next_deadline().is_some_and(|t| t <= now) {
                self.call_timers(now);
            }
            if self.subs.next_deadline().is_some_and(|t| t <= now) {
                self.sub_timers(now);
            }
            if housekeeping <= now {
                housekeeping = now + Duration::from_secs(30);
                self.housekeeping();
            }
        }
        info!("sip core stopped");
    }

    fn housekeeping(&mut self) {
        let now = unix_now();
        for aor in self.location.purge(now) {
            let bindings = self.location.lookup(&aor, now);
            self.deps
                .bus
                .publish(services::bus::BusEvent::Registration {
                    aor: aor.clone(),
                    contacts: bindings.len(),
                });
            self.devices_changed(&aor);
            let bindings = self.classes.stamp(bindings);
            let _ = self
                .persist
                .send(crate::persist::Persist::Bindings { aor, bindings });
        }
        self.auth.purge(u64::try_from(now).unwrap_or(0));
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Incoming { msg, target } => self.input(Input::Received {
                msg,
                source: target,
                reliable: target.transport.is_reliable(),
            }),
            Event::ConnOpened { addr, tx } => self.transports.conn_opened(addr, tx),
            Event::ConnClosed { addr } => self.transports.conn_closed(addr),
            Event::ConnectFailed { addr } => {
                self.transports.connect_failed(addr);
                self.input(Input::TransportError {
                    target: Target {
                        transport: crate::Transport::Tcp,
                        addr,
                    },
                });
            }
            Event::Directory(d) => self.dir = d,
            Event::Deferred(d) => (d.0)(self),
        }
    }

    /// Feeds the transaction layer and acts on everything it outputs.
    pub fn input(&mut self, input: Input<Target>) {
        let source = match &input {
            Input::Received { source, .. } => Some(*source),
            _ => None,
        };
        match self.txn.handle_input(Instant::now(), input) {
            Ok(()) => {}
            Err(sip_txn::TxnError::Overloaded(msg)) => {
                // The transaction table is full: answer statelessly, tell the operator (at
                // most once a second).
                if self
                    .last_overload_warning
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
                {
                    warn!("transaction table full, answering 503");
                    self.last_overload_warning = Some(Instant::now());
                }
                if let Some(source) = source
                    && msg.is_request()
                    && msg.method_kind() != Method::Ack
                {
                    let mut b = response_to(&msg, 503, "Service Unavailable", None);
                    b.header("Retry-After", "5");
                    self.transports.send(source, b.finish_empty());
                }
            }
            Err(e) => debug!(error = %e, "transaction layer refused input"),
        }
        while let Some(out) = self.txn.poll_output() {
            self.on_output(out);
        }
    }

    fn on_output(&mut self, out: Output<Target>) {
        match out {
            Output::Transmit { target, bytes } => {
                if !self.transports.send(target, bytes) {
                    warn!(peer = %target.addr, "no transport to send on");
                }
            }
            Output::Request {
                txn,
                msg,
                source,
                cancels,
            } => self.on_request(txn, msg, source, cancels),
            Output::Ack { msg, source } => self.on_ack(msg, source),
            Output::Response { txn, msg } => {
                if !self.on_notify_response(txn, &msg) {
                    self.on_response(txn, msg);
                }
            }
            Output::StrayResponse { msg } => self.on_stray_response(msg),
            Output::ClientTimeout { txn, .. } => {
                if !self.on_notify_timeout(txn) {
                    self.on_client_timeout(txn);
                }
            }
            Output::AckTimeout { txn } => self.on_ack_timeout(txn),
            Output::ServerTerminated { txn } => self.calls.server_terminated(txn),
        }
    }

    fn on_request(
        &mut self,
        txn: ServerTxnId,
        msg: Message,
        source: Target,
        cancels: Option<ServerTxnId>,
    ) {
        let method = msg.method_kind();
        if let Some((code, reason, extra)) = self.precheck(&msg) {
            let extra: Vec<(&str, String)> = extra.into_iter().collect();
            self.respond(txn, &msg, code, reason, &extra);
            return;
        }
        if method == Method::Cancel {
            self.on_cancel(txn, msg, cancels);
            return;
        }
        if msg.to().and_then(|t| t.tag().map(str::len)).is_some() {
            // Subscription dialogs first: the B2BUA relays whatever else is in a dialog.
            if self.on_subscribe_in_dialog(txn, &msg, source) {
                return;
            }
            self.on_in_dialog(txn, msg, source);
            return;
        }
        match method {
            Method::Options => self.on_options(txn, &msg),
            Method::Register => self.on_register(txn, msg, source),
            Method::Invite => self.on_invite(txn, msg, source),
            Method::Message => self.on_message(txn, msg, source),
            Method::Subscribe => self.on_subscribe(txn, msg, source),
            Method::Publish => self.on_publish(txn, msg, source),
            Method::Refer => {
                if self.authenticate(txn, &msg, source).is_some() {
                    self.respond(txn, &msg, 403, "Forbidden", &[]);
                }
            }
            Method::Notify => self.on_out_of_dialog_notify(txn, msg, source),
            Method::Bye | Method::Ack | Method::Info | Method::Update | Method::Prack => {
                self.respond(txn, &msg, 481, "Call/Transaction Does Not Exist", &[]);
            }
            Method::Cancel => {}
            Method::Other => {
                self.respond(
                    txn,
                    &msg,
                    405,
                    "Method Not Allowed",
                    &[("Allow", ALLOW.to_owned())],
                );
            }
        }
    }

    /// Checks that apply before any service looks at a request (RFC 3261 §8.2.1–§8.2.2,
    /// §16.3; RFC 4475 §3.3).
    fn precheck(&self, msg: &Message) -> Option<Rejection> {
        let method = msg.method_kind();
        let uri = msg.uri()?;
        if uri.as_sip().is_none() {
            return Some((416, "Unsupported URI Scheme", None));
        }
        if matches!(method, Method::Ack | Method::Cancel) {
            return None;
        }
        let mut unsupported = Vec::new();
        for h in [HeaderName::Require, HeaderName::ProxyRequire] {
            unsupported.extend(msg.header_values(h).into_iter().map(str::to_owned));
        }
        if !unsupported.is_empty() {
            return Some((
                420,
                "Bad Extension",
                Some(("Unsupported", unsupported.join(", "))),
            ));
        }
        let targets_user = uri.as_sip().is_some_and(|u| u.user.is_some());
        if msg.max_forwards() == Some(0) && targets_user && method != Method::Register {
            return Some((483, "Too Many Hops", None));
        }
        if matches!(method, Method::Invite | Method::Message | Method::Options)
            && let Some(enc) = msg.header(HeaderName::ContentEncoding)
            && !enc.trim().eq_ignore_ascii_case("identity")
            && !enc.trim().is_empty()
        {
            return Some((
                415,
                "Unsupported Media Type",
                Some(("Accept-Encoding", "identity".into())),
            ));
        }
        if method == Method::Invite {
            if !msg.body().is_empty() {
                match msg.content_type() {
                    None => return Some((400, "Missing Content-Type", None)),
                    Some(ct) => {
                        let ct = ct.to_ascii_lowercase();
                        if !ct.starts_with("application/sdp") && !ct.starts_with("multipart/") {
                            return Some((
                                415,
                                "Unsupported Media Type",
                                Some(("Accept", "application/sdp".into())),
                            ));
                        }
                    }
                }
            }
            let accepts = msg.header_values(HeaderName::Accept);
            if !accepts.is_empty()
                && !accepts.iter().any(|a| {
                    let a = a.to_ascii_lowercase();
                    a.starts_with("application/sdp")
                        || a.starts_with("*/*")
                        || a.starts_with("application/*")
                })
            {
                return Some((
                    406,
                    "Not Acceptable",
                    Some(("Accept", "application/sdp".into())),
                ));
            }
        }
        None
    }

    fn on_options(&mut self, txn: ServerTxnId, msg: &Message) {
        self.respond(
            txn,
            msg,
            200,
            "OK",
            &[
                ("Allow", ALLOW.to_owned()),
                ("Accept", "application/sdp".to_owned()),
                ("Allow-Events", crate::subscribe::ALLOW_EVENTS.to_owned()),
                ("Supported", String::new()),
            ],
        );
    }

    /// Sends a response built from the request (§8.2.6) with extra header rows.
    pub fn respond(
        &mut self,
        txn: ServerTxnId,
        req: &Message,
        code: u16,
        reason: &str,
        extra: &[(&str, String)],
    ) {
        let tag = random_token(10);
        let mut b = response_to(req, code, reason, Some(&tag));
        b.header("Server", "switchboard");
        for (n, v) in extra {
            if !v.is_empty() {
                b.header(n, v);
            }
        }
        self.send_response(txn, b.finish_empty());
    }

    pub fn send_response(&mut self, txn: ServerTxnId, bytes: Bytes) {
        // Built by us: indexed, not re-validated.
        match sip::Message::parse_own(bytes) {
            Ok(response) => self.input(Input::SendResponse { txn, response }),
            Err(e) => warn!(error = %e, "built an unparsable response"),
        }
    }

    /// Starts a client transaction for a request we built.
    pub fn send_request(&mut self, target: Target, bytes: Bytes) -> Option<ClientTxnId> {
        let msg = match sip::parse_datagram(bytes) {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, "built an unparsable request");
                return None;
            }
        };
        let id = self.txn.new_client_id();
        self.input(Input::SendRequest {
            id,
            msg,
            target,
            reliable: target.transport.is_reliable(),
        });
        Some(id)
    }

    /// Digest-authenticates a request from a local user (RFC 3261 §22). Sends the challenge
    /// or refusal itself and returns the authenticated user only on success.
    pub fn authenticate(
        &mut self,
        txn: ServerTxnId,
        msg: &Message,
        source: Target,
    ) -> Option<(String, String)> {
        let is_register = msg.method_kind() == Method::Register;
        let identity = if is_register { msg.to() } else { msg.from() };
        let Some((user, host)) = identity
            .as_ref()
            .and_then(|n| n.uri.as_sip())
            .and_then(|u| Some((u.user_unescaped()?, u.host_text.to_owned())))
        else {
            // The claimed identity is no SIP user (e.g. `To: isbn:…`, RFC 4475 §3.3.4).
            let which = if is_register { "To" } else { "From" };
            let reason = format!("{which} Is Not a SIP User");
            self.respond(txn, msg, 400, &reason, &[]);
            return None;
        };
        let Some(domain) = self.dir.local_domain(&host).map(str::to_owned) else {
            self.respond(txn, msg, 403, "Forbidden", &[]);
            return None;
        };
        if !self.cfg.auth_required {
            return Some((user, domain));
        }
        let rows: Vec<&str> =
            msg.header_values_all(&[HeaderName::Authorization, HeaderName::ProxyAuthorization]);
        let now = u64::try_from(unix_now()).unwrap_or(0);
        let verdict = self.auth.verify(
            &AuthRequest {
                method: msg.method(),
                credentials: &rows,
                realm: &domain,
                identity: &user,
            },
            &self.dir,
            now,
        );
        let ip: IpAddr = source.addr.ip();
        match verdict {
            Verdict::Authenticated(u) => {
                self.failures.success(ip);
                return Some((u, domain));
            }
            Verdict::Challenge { stale, failed } => {
                if failed && self.failures.failure(ip, Instant::now()) {
                    warn!(peer = %ip, "source banned after repeated authentication failures");
                }
                let (code, reason, header) = if is_register {
                    (401, "Unauthorized", "WWW-Authenticate")
                } else {
                    (407, "Proxy Authentication Required", "Proxy-Authenticate")
                };
                let rows: Vec<(&str, String)> = self
                    .auth
                    .challenge(&domain, stale, now)
                    .into_iter()
                    .map(|c| (header, c))
                    .collect();
                self.respond(txn, msg, code, reason, &rows);
            }
            Verdict::WrongIdentity => {
                if self.failures.failure(ip, Instant::now()) {
                    warn!(peer = %ip, "source banned after repeated authentication failures");
                }
                self.respond(txn, msg, 403, "Forbidden", &[]);
            }
        }
        None
    }
}

/// The next note of the IVR tasks; pending forever without a channel.
async fn recv_note(
    rx: &mut Option<mpsc::UnboundedReceiver<crate::ivr::Note>>,
) -> Option<crate::ivr::Note> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Helpers on messages used by several modules.
pub trait MessageExt {
    fn header_values_all(&self, names: &[HeaderName]) -> Vec<&str>;
}

impl MessageExt for Message {
    fn header_values_all(&self, names: &[HeaderName]) -> Vec<&str> {
        self.headers()
            .filter(|(n, _, _)| names.contains(n))
            .map(|(_, _, v)| v)
            .collect()
    }
}
