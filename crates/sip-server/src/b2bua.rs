//! The B2BUA: every call has an A leg (the caller's dialog with us) and one B leg per
//! registered device of the callee, forked in parallel. The first 2xx wins; the other legs
//! are cancelled (§9.1, after a provisional) or, if they answer too, ACKed and hung up.
//! In-dialog requests are relayed leg to leg, so later services (voicemail, ring rules,
//! limits, media anchoring) can sit between the legs.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use services::registrar::aor_key;
use services::routing::{Forwarding, Route, best_failure, route_call};
use sip::{HeaderName, Message, Method, response_to};
use sip_txn::{ClientTxnId, Input, ServerTxnId};
use store::{Binding, CallRecord};
use tracing::{debug, info};

use crate::core::{ALLOW, Core};
use crate::dialog::{Dialog, cancel_for, contact_uri};
use crate::persist::Persist;
use crate::transport::{Target, Transport};
use crate::util::{random_token, unix_ms, unix_now};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegState {
    Trying,
    Early,
    Answered,
    Done(u16),
}

struct Leg {
    invite: Message,
    dialog: Dialog,
    state: LegState,
    cancel_pending: bool,
    device: String,
    /// The ACK we sent for this leg's 2xx, resent if the 2xx is retransmitted.
    ack: Option<Bytes>,
}

struct Call {
    a_invite: Message,
    a_txn: ServerTxnId,
    a: Dialog,
    a_final_sent: bool,
    a_acked: bool,
    legs: Vec<Leg>,
    answered: Option<usize>,
    caller: String,
    callee: String,
    caller_device: Option<String>,
    started_ms: i64,
    answered_ms: Option<i64>,
    ring_deadline: Option<Instant>,
    hard_deadline: Instant,
    /// A re-INVITE 2xx relayed towards this side, awaiting the originator's ACK:
    /// (side that gets the ACK, CSeq of the re-INVITE there).
    pending_ack: Option<(Side, u32)>,
    outcome: Option<(String, u16)>,
}

enum ClientCtx {
    Leg {
        call: u64,
        leg: usize,
    },
    Relay {
        call: u64,
        server: ServerTxnId,
        req: Message,
        to: Side,
    },
    /// A leg still ringing when its call ended: a late 2xx is ACKed and hung up.
    Orphan {
        dialog: Box<Dialog>,
        cseq: u32,
        /// The CANCEL still owed to a device that has sent no provisional yet.
        cancel: Option<Bytes>,
    },
    Fire,
}

/// All calls in progress and the indexes that route messages to them.
#[derive(Default)]
pub struct Calls {
    next_id: u64,
    calls: HashMap<u64, Call>,
    /// (Call-ID, our tag) → call and side.
    dialogs: HashMap<(String, String), (u64, Side)>,
    invites: HashMap<ServerTxnId, u64>,
    clients: HashMap<ClientTxnId, ClientCtx>,
}

impl Calls {
    pub fn next_deadline(&self) -> Option<Instant> {
        self.calls
            .values()
            .map(|c| {
                c.ring_deadline
                    .unwrap_or(c.hard_deadline)
                    .min(c.hard_deadline)
            })
            .min()
    }

    pub fn server_terminated(&mut self, txn: ServerTxnId) {
        if let Some(id) = self.invites.get(&txn)
            && !self.calls.contains_key(id)
        {
            self.invites.remove(&txn);
        }
    }
}

fn reason_for(code: u16) -> &'static str {
    match code {
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        486 => "Busy Here",
        487 => "Request Terminated",
        600 => "Busy Everywhere",
        603 => "Decline",
        _ => "Call Failed",
    }
}

fn disposition(code: u16) -> &'static str {
    match code {
        200..=299 => "answered",
        486 | 600 => "busy",
        487 => "cancelled",
        403 | 603 => "rejected",
        404 | 408 | 480 => "missed",
        _ => "failed",
    }
}

fn binding_target(b: &Binding) -> Option<Target> {
    Some(Target {
        transport: Transport::from_token(&b.transport)?,
        addr: b.source.parse().ok()?,
    })
}

fn body_of(msg: &Message) -> Option<(&str, &[u8])> {
    (!msg.body().is_empty()).then(|| (msg.content_type().unwrap_or("application/sdp"), msg.body()))
}

impl Core {
    pub fn on_invite(&mut self, txn: ServerTxnId, msg: Message, source: Target) {
        let Some((user, domain)) = self.authenticate(txn, &msg, source) else {
            return;
        };
        let Some(uri) = msg.uri().and_then(|u| u.as_sip().cloned()) else {
            return;
        };
        let Some(callee_domain) = self.dir.local_domain(uri.host_text).map(str::to_owned) else {
            self.respond(txn, &msg, 403, "Relaying Denied", &[]);
            return;
        };
        let mut callee_user = uri.user_unescaped().unwrap_or_default();
        let mut callee_domain = callee_domain;
        // The number dialled (DNIS), before any forwarding.
        let dialled = callee_user.clone();
        if self.is_voicemail_number(&callee_user) && self.voicemail_ready() {
            let dialog = crate::media::uas_dialog(&msg, source, &random_token(12));
            let aor = aor_key(&user, &domain);
            self.answer_with_voicemail(txn, &msg, dialog, crate::ivr::Kind::Access { aor });
            return;
        }
        match self
            .deps
            .policy
            .forwarding(&aor_key(&callee_user, &callee_domain))
        {
            Forwarding::RingDevices => {}
            Forwarding::ForwardTo(target) => {
                // Forwarding to another local user rings that user's devices; other targets
                // need a trunk, which does not exist yet.
                let local = target
                    .trim_start_matches("sip:")
                    .split_once('@')
                    .and_then(|(u, d)| Some((u.to_owned(), self.dir.local_domain(d)?.to_owned())));
                match local {
                    Some((u, d)) if self.dir.user_exists(&d, &u) => {
                        callee_user = u;
                        callee_domain = d;
                    }
                    _ => {
                        self.respond(txn, &msg, 480, "Forwarding Target Unreachable", &[]);
                        return;
                    }
                }
            }
            Forwarding::Voicemail => {
                if self.voicemail_ready() && self.dir.user_exists(&callee_domain, &callee_user) {
                    let dialog = crate::media::uas_dialog(&msg, source, &random_token(12));
                    let kind = crate::ivr::Kind::Deposit {
                        mailbox: aor_key(&callee_user, &callee_domain),
                        caller: aor_key(&user, &domain),
                        called: dialled,
                    };
                    self.answer_with_voicemail(txn, &msg, dialog, kind);
                } else {
                    self.respond(txn, &msg, 480, "Voicemail Unavailable", &[]);
                }
                return;
            }
        }
        let callee = aor_key(&callee_user, &callee_domain);
        let bindings = self.location.lookup(&callee, unix_now());
        let route = route_call(self.dir.user_exists(&callee_domain, &callee_user), bindings);
        let caller = aor_key(&user, &domain);
        let caller_device = msg.contacts().first().and_then(|c| match c {
            sip::ContactValue::Addr(a) => Some(a.uri.raw().to_owned()),
            sip::ContactValue::Star => None,
        });
        let started_ms = unix_ms();
        let bindings = match route {
            Route::NotFound => {
                self.respond(txn, &msg, 404, "Not Found", &[]);
                return;
            }
            Route::Offline => {
                if self.voicemail_ready() {
                    // No device: straight to the callee's mailbox.
                    let dialog = crate::media::uas_dialog(&msg, source, &random_token(12));
                    let kind = crate::ivr::Kind::Deposit {
                        mailbox: callee.clone(),
                        caller: caller.clone(),
                        called: dialled,
                    };
                    self.answer_with_voicemail(txn, &msg, dialog, kind);
                } else {
                    self.respond(txn, &msg, 480, "Temporarily Unavailable", &[]);
                }
                self.record(
                    &msg,
                    &caller,
                    &callee,
                    caller_device,
                    None,
                    started_ms,
                    None,
                    480,
                );
                return;
            }
            // Class-aware forking: a video offer rings the video devices (devices.rs).
            Route::Fork(b) => crate::devices::choose_for_call(
                &self.classes,
                b,
                crate::devices::offers_video(msg.body()),
            ),
        };
        let a_tag = random_token(12);
        let a = Dialog {
            call_id: msg.call_id().unwrap_or_default().to_owned(),
            local: format!(
                "{};tag={a_tag}",
                msg.header(HeaderName::To).unwrap_or_default()
            ),
            local_tag: a_tag.clone(),
            remote: msg.header(HeaderName::From).unwrap_or_default().to_owned(),
            remote_target: caller_device
                .clone()
                .unwrap_or_else(|| format!("sip:{}", source.addr)),
            route_set: msg
                .header_values(HeaderName::RecordRoute)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            target: source,
            local_cseq: 0,
        };
        let id = self.calls.next_id;
        self.calls.next_id += 1;
        let now = Instant::now();
        let call = Call {
            a_invite: msg.clone(),
            a_txn: txn,
            a,
            a_final_sent: false,
            a_acked: false,
            legs: Vec::new(),
            answered: None,
            caller,
            callee: callee.clone(),
            caller_device,
            started_ms,
            answered_ms: None,
            ring_deadline: Some(now + self.cfg.ring_timeout),
            hard_deadline: now + self.cfg.max_call_duration,
            pending_ack: None,
            outcome: None,
        };
        self.calls
            .dialogs
            .insert((call.a.call_id.clone(), a_tag), (id, Side::A));
        self.calls.invites.insert(txn, id);
        self.calls.calls.insert(id, call);
        info!(call_id = %msg.call_id().unwrap_or_default(), callee = %callee, forks = bindings.len(), "call forked");
        if let Err(code) = self.anchor_call(id, msg.body()) {
            self.fail_call(id, code);
            return;
        }
        for b in bindings {
            self.start_leg(id, &msg, &b);
        }
        if self.calls.calls.get(&id).is_some_and(|c| c.legs.is_empty()) {
            self.fail_call(id, 480);
        }
    }

    fn start_leg(&mut self, id: u64, a_invite: &Message, binding: &Binding) {
        let Some(target) = binding_target(binding) else {
            return;
        };
        let local = self
            .transports
            .local_addr(target.transport, target.addr.ip());
        let from = a_invite.from();
        let display = from
            .as_ref()
            .and_then(|f| f.display_raw)
            .map(|d| format!("{d} "))
            .unwrap_or_default();
        let from_uri = from
            .as_ref()
            .map(|f| f.uri.raw().to_owned())
            .unwrap_or_default();
        let to = a_invite
            .to()
            .map(|t| format!("<{}>", t.uri.raw()))
            .unwrap_or_default();
        let tag = random_token(12);
        let mut dialog = Dialog {
            call_id: format!("{}@switchboard", random_token(20)),
            local: format!("{display}<{from_uri}>;tag={tag}"),
            local_tag: tag.clone(),
            remote: to,
            remote_target: binding.contact.clone(),
            route_set: Vec::new(),
            target,
            local_cseq: 0,
        };
        let mf = a_invite
            .max_forwards()
            .unwrap_or(70)
            .saturating_sub(1)
            .min(70)
            .to_string();
        let mut extra = vec![("Allow", ALLOW)];
        let subject = a_invite.header(HeaderName::Subject).map(str::to_owned);
        if let Some(s) = &subject {
            extra.push(("Subject", s));
        }
        // Anchored calls offer the media engine's address instead (anchor.rs).
        let anchored = self.anchored_offer(id);
        let body = match &anchored {
            Some(sdp) => Some(("application/sdp", sdp.as_bytes())),
            None => body_of(a_invite),
        };
        let bytes = dialog.request("INVITE", local, &extra, body);
        // Max-Forwards of the new leg follows the caller's (loop protection across legs).
        let bytes = replace_max_forwards(&bytes, &mf);
        let Ok(invite) = sip::parse_datagram(bytes.clone()) else {
            return;
        };
        let Some(txn) = self.send_request(target, bytes) else {
            return;
        };
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let leg = call.legs.len();
        call.legs.push(Leg {
            invite,
            dialog: dialog.clone(),
            state: LegState::Trying,
            cancel_pending: false,
            device: binding.contact.clone(),
            ack: None,
        });
        self.calls
            .dialogs
            .insert((dialog.call_id, tag), (id, Side::B(leg)));
        self.calls
            .clients
            .insert(txn, ClientCtx::Leg { call: id, leg });
    }

    pub fn on_response(&mut self, txn: ClientTxnId, msg: Message) {
        if self.media_response(txn, &msg) {
            return;
        }
        let Some(code) = msg.status() else { return };
        let Some(ctx) = self.calls.clients.remove(&txn) else {
            return;
        };
        let is_final = code >= 200;
        match ctx {
            ClientCtx::Leg { call, leg } => {
                // INVITE legs stay known: a 2xx may be retransmitted (RFC 6026).
                self.calls.clients.insert(txn, ClientCtx::Leg { call, leg });
                self.on_leg_response(call, leg, &msg);
            }
            ClientCtx::Relay {
                call,
                server,
                req,
                to,
            } => {
                self.relay_response(call, server, &req, to, &msg);
                if !is_final {
                    self.calls.clients.insert(
                        txn,
                        ClientCtx::Relay {
                            call,
                            server,
                            req,
                            to,
                        },
                    );
                }
            }
            ClientCtx::Orphan {
                mut dialog,
                cseq,
                cancel,
            } => match code {
                100..=199 => {
                    // The call is over: cancel as soon as a provisional allows it (§9.1).
                    if let Some(c) = cancel {
                        self.fire(dialog.target, Some(c));
                    }
                    let cancel = None;
                    self.calls.clients.insert(
                        txn,
                        ClientCtx::Orphan {
                            dialog,
                            cseq,
                            cancel,
                        },
                    );
                }
                200..=299 => {
                    dialog.establish(&msg);
                    let target = dialog.target;
                    let local = self
                        .transports
                        .local_addr(target.transport, target.addr.ip());
                    let ack = dialog.ack(cseq, local, None);
                    dialog.local_cseq = cseq;
                    let bye = dialog.request("BYE", local, &[], None);
                    self.input(Input::SendStateless { target, bytes: ack });
                    self.fire(target, Some(bye));
                }
                _ => {}
            },
            ClientCtx::Fire => {
                if !is_final {
                    self.calls.clients.insert(txn, ClientCtx::Fire);
                }
            }
        }
    }

    fn on_leg_response(&mut self, id: u64, leg_ix: usize, msg: &Message) {
        let Some(code) = msg.status() else { return };
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let Some(leg) = call.legs.get_mut(leg_ix) else {
            return;
        };
        match code {
            100..=199 => {
                // Any provisional, 100 included, allows a CANCEL (§9.1).
                if leg.state == LegState::Trying {
                    leg.state = LegState::Early;
                }
                if leg.cancel_pending {
                    leg.cancel_pending = false;
                    let cancel = cancel_for(&leg.invite);
                    let target = leg.dialog.target;
                    self.fire(target, cancel);
                    return;
                }
                if code > 100 && !call.a_final_sent && call.outcome.is_none() {
                    let bytes = self.a_response(id, msg);
                    let a_txn = call_txn(self, id);
                    if let (Some(b), Some(t)) = (bytes, a_txn) {
                        self.send_response(t, b);
                    }
                    self.call_presence(id, Some(crate::glue::Activity::Ringing));
                }
            }
            200..=299 => self.on_leg_answer(id, leg_ix, msg),
            _ => {
                if matches!(leg.state, LegState::Done(_)) {
                    return;
                }
                leg.state = LegState::Done(code);
                self.check_all_failed(id);
            }
        }
    }

    fn on_leg_answer(&mut self, id: u64, leg_ix: usize, msg: &Message) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let already = call.answered;
        let late = call.a_final_sent && already != Some(leg_ix);
        let Some(leg) = call.legs.get_mut(leg_ix) else {
            return;
        };
        if leg.state == LegState::Answered {
            // A retransmitted 2xx: our ACK was lost.
            if let Some(ack) = leg.ack.clone() {
                let target = leg.dialog.target;
                self.input(Input::SendStateless { target, bytes: ack });
            }
            return;
        }
        leg.dialog.establish(msg);
        let cseq = leg.invite.cseq().map_or(1, |c| c.seq);
        if late || already.is_some() {
            // Another device answered first, or the caller gave up: ACK and hang up (§16.7
            // step 5 leaves this to the UAC; as a B2BUA it is ours).
            leg.state = LegState::Done(200);
            let local = self
                .transports
                .local_addr(leg.dialog.target.transport, leg.dialog.target.addr.ip());
            let ack = leg.dialog.ack(cseq, local, None);
            let bye = leg.dialog.request("BYE", local, &[], None);
            let target = leg.dialog.target;
            self.input(Input::SendStateless { target, bytes: ack });
            self.fire(target, Some(bye));
            return;
        }
        leg.state = LegState::Answered;
        call.answered = Some(leg_ix);
        call.answered_ms = Some(unix_ms());
        call.ring_deadline = None;
        let others: Vec<usize> = (0..call.legs.len()).filter(|i| *i != leg_ix).collect();
        info!(call_id = %call.a.call_id, "call answered");
        if let (Some(bytes), Some(t)) = (self.a_response(id, msg), call_txn(self, id)) {
            self.send_response(t, bytes);
        }
        if let Some(call) = self.calls.calls.get_mut(&id) {
            call.a_final_sent = true;
        }
        self.call_presence(id, Some(crate::glue::Activity::OnCall));
        for i in others {
            self.cancel_leg(id, i);
        }
    }

    fn cancel_leg(&mut self, id: u64, i: usize) {
        let Some(leg) = self
            .calls
            .calls
            .get_mut(&id)
            .and_then(|c| c.legs.get_mut(i))
        else {
            return;
        };
        match leg.state {
            LegState::Early => {
                let cancel = cancel_for(&leg.invite);
                let target = leg.dialog.target;
                self.fire(target, cancel);
            }
            LegState::Trying => leg.cancel_pending = true,
            LegState::Answered | LegState::Done(_) => {}
        }
    }

    /// Builds the response to the caller mirroring a B-leg response.
    fn a_response(&mut self, id: u64, msg: &Message) -> Option<Bytes> {
        let call = self.calls.calls.get(&id)?;
        let code = msg.status()?;
        let target = call.a.target;
        let mut b = response_to(&call.a_invite, code, msg.reason(), Some(&call.a.local_tag));
        let local = self
            .transports
            .local_addr(target.transport, target.addr.ip());
        b.header("Contact", &contact_uri(local, target.transport));
        b.header("Allow", ALLOW);
        let anchored = body_of(msg).and_then(|(_, body)| self.anchored_answer(id, body));
        Some(match (anchored, body_of(msg)) {
            (Some(sdp), _) => b.finish(Some("application/sdp"), sdp.as_bytes()),
            (None, Some((ct, body))) => b.finish(Some(ct), body),
            (None, None) => b.finish_empty(),
        })
    }

    fn check_all_failed(&mut self, id: u64) {
        let Some(call) = self.calls.calls.get(&id) else {
            return;
        };
        let pending = call.legs.iter().any(|l| {
            matches!(
                l.state,
                LegState::Trying | LegState::Early | LegState::Answered
            )
        });
        if pending || call.answered.is_some() {
            return;
        }
        let codes: Vec<u16> = call
            .legs
            .iter()
            .filter_map(|l| match l.state {
                LegState::Done(c) => Some(c),
                _ => None,
            })
            .collect();
        let code = best_failure(&codes);
        if call.a_final_sent {
            self.end_call(id);
        } else {
            self.fail_call(id, code);
        }
    }

    /// Answers the caller with a failure, cancels what still rings, and records the call.
    fn fail_call(&mut self, id: u64, code: u16) {
        if self.divert_to_voicemail(id, code) {
            return;
        }
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if call.a_final_sent {
            return;
        }
        call.a_final_sent = true;
        call.ring_deadline = None;
        call.outcome = Some((disposition(code).to_owned(), code));
        let txn = call.a_txn;
        let req = call.a_invite.clone();
        let tag = call.a.local_tag.clone();
        let legs = call.legs.len();
        let b = response_to(&req, code, reason_for(code), Some(&tag));
        self.send_response(txn, b.finish_empty());
        for i in 0..legs {
            self.cancel_leg(id, i);
        }
        self.end_call(id);
    }

    pub fn on_cancel(&mut self, txn: ServerTxnId, msg: Message, cancels: Option<ServerTxnId>) {
        let id = cancels.and_then(|t| self.calls.invites.get(&t).copied());
        let Some(id) = id else {
            self.respond(txn, &msg, 481, "Call/Transaction Does Not Exist", &[]);
            return;
        };
        self.respond(txn, &msg, 200, "OK", &[]);
        debug!(call_id = %msg.call_id().unwrap_or_default(), "caller cancelled");
        self.fail_call(id, 487);
    }

    pub fn on_ack(&mut self, msg: Message, _source: Target) {
        if self.media_ack(&msg) {
            return;
        }
        let Some((id, side)) = self.dialog_of(&msg) else {
            return;
        };
        // An anchored call's answer in the ACK points at the engine (anchor.rs).
        let anchored = body_of(&msg).and_then(|(ct, b)| {
            self.anchors
                .rewrite(self.deps.media.as_ref(), id, side, ct, b)
        });
        let body = match &anchored {
            Some(sdp) => Some(("application/sdp", sdp.as_bytes())),
            None => body_of(&msg),
        };
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if side == Side::A && !call.a_acked {
            call.a_acked = true;
            let Some(ix) = call.answered else { return };
            let Some(leg) = call.legs.get_mut(ix) else {
                return;
            };
            let cseq = leg.invite.cseq().map_or(1, |c| c.seq);
            let target = leg.dialog.target;
            let local = self
                .transports
                .local_addr(target.transport, target.addr.ip());
            let ack = leg.dialog.ack(cseq, local, body);
            leg.ack = Some(ack.clone());
            self.input(Input::SendStateless { target, bytes: ack });
            return;
        }
        // ACK for a relayed re-INVITE 2xx.
        if let Some((to, cseq)) = call.pending_ack.take() {
            if to != side {
                let body = body.map(|(c, b)| (c.to_owned(), b.to_vec()));
                if let Some(d) = dialog_mut(call, to) {
                    let target = d.target;
                    let local = self
                        .transports
                        .local_addr(target.transport, target.addr.ip());
                    let ack = d.ack(
                        cseq,
                        local,
                        body.as_ref().map(|(c, b)| (c.as_str(), b.as_slice())),
                    );
                    self.input(Input::SendStateless { target, bytes: ack });
                }
            } else {
                call.pending_ack = Some((to, cseq));
            }
        }
    }

    pub fn on_in_dialog(&mut self, txn: ServerTxnId, msg: Message, _source: Target) {
        if self.media_in_dialog(txn, &msg) {
            return;
        }
        let Some((id, side)) = self.dialog_of(&msg) else {
            self.respond(txn, &msg, 481, "Call/Transaction Does Not Exist", &[]);
            return;
        };
        let method = msg.method_kind();
        let answered = self.calls.calls.get(&id).and_then(|c| c.answered);
        let other = match (side, answered) {
            (Side::A, Some(ix)) => Side::B(ix),
            (Side::B(ix), Some(a)) if ix == a => Side::A,
            (Side::A, None) if method == Method::Bye => {
                // BYE in an early dialog from the caller: like a CANCEL (§15).
                self.respond(txn, &msg, 200, "OK", &[]);
                self.fail_call(id, 487);
                return;
            }
            _ => {
                self.respond(txn, &msg, 481, "Call/Transaction Does Not Exist", &[]);
                return;
            }
        };
        if method == Method::Bye {
            self.respond(txn, &msg, 200, "OK", &[]);
            if let Some(call) = self.calls.calls.get_mut(&id)
                && let Some(d) = dialog_mut(call, other)
            {
                let target = d.target;
                let local = self
                    .transports
                    .local_addr(target.transport, target.addr.ip());
                let bye = d.request("BYE", local, &[], None);
                self.fire(target, Some(bye));
            }
            self.end_call(id);
            return;
        }
        if method == Method::Invite && !msg.body().is_empty() {
            let hold = crate::glue::sdp_holds(msg.body());
            let activity = if hold {
                crate::glue::Activity::OnHold
            } else {
                crate::glue::Activity::OnCall
            };
            self.call_presence(id, Some(activity));
        }
        // Anything else (re-INVITE, UPDATE, INFO, MESSAGE, NOTIFY, REFER) goes to the other leg;
        // an anchored call's new description points at the engine (anchor.rs).
        let anchored = body_of(&msg).and_then(|(ct, b)| {
            self.anchors
                .rewrite(self.deps.media.as_ref(), id, side, ct, b)
        });
        let body = match &anchored {
            Some(sdp) => Some(("application/sdp", sdp.as_bytes())),
            None => body_of(&msg),
        };
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let Some(d) = dialog_mut(call, other) else {
            return;
        };
        let target = d.target;
        let local = self
            .transports
            .local_addr(target.transport, target.addr.ip());
        let mut extra: Vec<(&str, &str)> = Vec::new();
        for h in [
            "Event",
            "Subscription-State",
            "Refer-To",
            "Info-Package",
            "Subject",
        ] {
            if let Some(v) = msg.header_named(h) {
                extra.push((h, v));
            }
        }
        let bytes = d.request(msg.method(), local, &extra, body);
        if let Some(c) = self.send_request(target, bytes) {
            self.calls.clients.insert(
                c,
                ClientCtx::Relay {
                    call: id,
                    server: txn,
                    req: msg,
                    to: other,
                },
            );
        }
    }

    fn relay_response(
        &mut self,
        id: u64,
        server: ServerTxnId,
        req: &Message,
        to: Side,
        resp: &Message,
    ) {
        let Some(code) = resp.status() else { return };
        if code == 100 {
            return;
        }
        let anchored = body_of(resp).and_then(|(ct, b)| {
            self.anchors
                .rewrite(self.deps.media.as_ref(), id, to, ct, b)
        });
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let origin = if to == Side::A {
            call.answered.map(Side::B)
        } else {
            Some(Side::A)
        };
        let Some(origin_dialog) = origin.and_then(|o| dialog_mut(call, o)) else {
            return;
        };
        let tag = origin_dialog.local_tag.clone();
        let target = origin_dialog.target;
        if req.method_kind() == Method::Invite
            && (200..300).contains(&code)
            && let Some(d) = dialog_mut(call, to)
        {
            d.establish(resp);
            if let Some(cseq) = resp.cseq() {
                call.pending_ack = Some((to, cseq.seq));
            }
        }
        let local = self
            .transports
            .local_addr(target.transport, target.addr.ip());
        let mut b = response_to(req, code, resp.reason(), Some(&tag));
        if matches!(req.method_kind(), Method::Invite | Method::Update) {
            b.header("Contact", &contact_uri(local, target.transport));
        }
        let bytes = match (anchored, body_of(resp)) {
            (Some(sdp), _) => b.finish(Some("application/sdp"), sdp.as_bytes()),
            (None, Some((ct, body))) => b.finish(Some(ct), body),
            (None, None) => b.finish_empty(),
        };
        self.send_response(server, bytes);
    }

    pub fn on_stray_response(&mut self, msg: Message) {
        // A 2xx retransmitted after the client transaction ended: re-send our ACK.
        if msg.method_kind() != Method::Invite
            || !msg.status().is_some_and(|s| (200..300).contains(&s))
        {
            return;
        }
        let key = (
            msg.call_id().unwrap_or_default().to_owned(),
            msg.from()
                .and_then(|f| f.tag().map(str::to_owned))
                .unwrap_or_default(),
        );
        let Some((id, Side::B(ix))) = self.calls.dialogs.get(&key).copied() else {
            return;
        };
        let Some(leg) = self.calls.calls.get(&id).and_then(|c| c.legs.get(ix)) else {
            return;
        };
        if let Some(ack) = leg.ack.clone() {
            let target = leg.dialog.target;
            self.input(Input::SendStateless { target, bytes: ack });
        }
    }

    pub fn on_client_timeout(&mut self, txn: ClientTxnId) {
        if self.media_client_timeout(txn) {
            return;
        }
        match self.calls.clients.remove(&txn) {
            Some(ClientCtx::Leg { call, leg }) => {
                if let Some(l) = self
                    .calls
                    .calls
                    .get_mut(&call)
                    .and_then(|c| c.legs.get_mut(leg))
                    && matches!(l.state, LegState::Trying | LegState::Early)
                {
                    l.state = LegState::Done(408);
                }
                self.check_all_failed(call);
            }
            Some(ClientCtx::Relay { server, req, .. }) => {
                self.respond(server, &req, 408, "Request Timeout", &[]);
            }
            Some(ClientCtx::Orphan { .. }) | Some(ClientCtx::Fire) | None => {}
        }
    }

    pub fn on_ack_timeout(&mut self, txn: ServerTxnId) {
        if self.media_ack_timeout(txn) {
            return;
        }
        let Some(id) = self.calls.invites.get(&txn).copied() else {
            return;
        };
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        if call.answered.is_some() && !call.a_acked {
            info!(call_id = %call.a.call_id, "caller never acknowledged the answer, hanging up");
            self.hang_up_both(id);
        }
    }

    /// Ring timeouts (480 upstream) and the maximum call duration (BYE both legs).
    pub fn call_timers(&mut self, now: Instant) {
        let due: Vec<(u64, bool)> = self
            .calls
            .calls
            .iter()
            .filter_map(|(id, c)| {
                if c.hard_deadline <= now {
                    Some((*id, true))
                } else if c.ring_deadline.is_some_and(|t| t <= now) {
                    Some((*id, false))
                } else {
                    None
                }
            })
            .collect();
        for (id, hard) in due {
            if hard {
                self.hang_up_both(id);
                self.calls.calls.remove(&id);
            } else {
                self.fail_call(id, 480);
            }
        }
    }

    pub(crate) fn hang_up_both(&mut self, id: u64) {
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return;
        };
        let mut byes = Vec::new();
        for side in [Some(Side::A), call.answered.map(Side::B)]
            .into_iter()
            .flatten()
        {
            if let Some(d) = dialog_mut(call, side) {
                let target = d.target;
                byes.push((target, d.clone()));
            }
        }
        for (target, mut d) in byes {
            let local = self
                .transports
                .local_addr(target.transport, target.addr.ip());
            let bye = d.request("BYE", local, &[], None);
            self.fire(target, Some(bye));
        }
        self.end_call(id);
    }

    /// Sends a request whose outcome nobody waits for.
    pub fn fire_and_forget(&mut self, target: Target, bytes: Bytes) {
        self.fire(target, Some(bytes));
    }

    /// Sends a request whose outcome does not matter to the call (CANCEL, BYE).
    fn fire(&mut self, target: Target, bytes: Option<Bytes>) {
        if let Some(b) = bytes
            && let Some(txn) = self.send_request(target, b)
        {
            self.calls.clients.insert(txn, ClientCtx::Fire);
        }
    }

    fn dialog_of(&self, msg: &Message) -> Option<(u64, Side)> {
        let to_tag = msg.to()?.tag()?.to_owned();
        let key = (msg.call_id()?.to_owned(), to_tag);
        self.calls.dialogs.get(&key).copied()
    }

    /// Records the call once, and forgets it unless legs still need an answer.
    fn end_call(&mut self, id: u64) {
        self.close_anchor(id);
        let Some(call) = self.calls.calls.remove(&id) else {
            return;
        };
        crate::glue::call_activity_both(self, &call.caller, &call.callee, &call.a.call_id, None);
        let status = match (call.answered, &call.outcome) {
            (Some(_), _) => 200,
            (None, Some((_, code))) => *code,
            (None, None) => 480,
        };
        let callee_device = call
            .answered
            .and_then(|i| call.legs.get(i))
            .map(|l| l.device.clone());
        self.record(
            &call.a_invite,
            &call.caller,
            &call.callee,
            call.caller_device.clone(),
            callee_device,
            call.started_ms,
            call.answered_ms,
            status,
        );
        self.calls
            .dialogs
            .remove(&(call.a.call_id.clone(), call.a.local_tag.clone()));
        for l in &call.legs {
            self.calls
                .dialogs
                .remove(&(l.dialog.call_id.clone(), l.dialog.local_tag.clone()));
        }
        self.calls.invites.remove(&call.a_txn);
        let ringing: Vec<(ClientTxnId, usize)> = self
            .calls
            .clients
            .iter()
            .filter_map(|(t, c)| match c {
                ClientCtx::Leg { call: cid, leg } if *cid == id => Some((*t, *leg)),
                _ => None,
            })
            .collect();
        self.calls.clients.retain(|_, c| match c {
            ClientCtx::Leg { call: cid, .. } | ClientCtx::Relay { call: cid, .. } => *cid != id,
            ClientCtx::Orphan { .. } | ClientCtx::Fire => true,
        });
        for (txn, ix) in ringing {
            let Some(leg) = call.legs.get(ix) else {
                continue;
            };
            if matches!(leg.state, LegState::Trying | LegState::Early) {
                let cseq = leg.invite.cseq().map_or(1, |c| c.seq);
                let cancel = if leg.cancel_pending {
                    cancel_for(&leg.invite)
                } else {
                    None
                };
                self.orphan_invite(txn, leg.dialog.clone(), cseq, cancel);
            }
        }
    }

    /// An INVITE we sent that still rings although what it was for is over (a call that
    /// ended, a play-on-phone whose message was played): `cancel`, the CANCEL still owed
    /// to a device that sent no provisional yet, goes out with its first provisional
    /// (RFC 3261 §9.1); a late 2xx is ACKed and hung up; the INVITE's timeout ends it.
    pub(crate) fn orphan_invite(
        &mut self,
        txn: ClientTxnId,
        dialog: Dialog,
        cseq: u32,
        cancel: Option<Bytes>,
    ) {
        self.calls.clients.insert(
            txn,
            ClientCtx::Orphan {
                dialog: Box::new(dialog),
                cseq,
                cancel,
            },
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        invite: &Message,
        caller: &str,
        callee: &str,
        caller_device: Option<String>,
        callee_device: Option<String>,
        started_ms: i64,
        answered_ms: Option<i64>,
        status: u16,
    ) {
        let rec = CallRecord {
            id: random_token(16),
            call_id: invite.call_id().unwrap_or_default().to_owned(),
            caller: format!("sip:{caller}"),
            callee: format!("sip:{callee}"),
            caller_device,
            callee_device,
            started_at: started_ms,
            answered_at: answered_ms,
            ended_at: unix_ms(),
            disposition: disposition(status).to_owned(),
            status,
        };
        info!(call_id = %rec.call_id, disposition = %rec.disposition, status = rec.status, "call ended");
        let _ = self.persist.send(Persist::Call(rec));
    }
}

impl Core {
    /// Tells presence what the call does to both parties (ringing, on a call, on hold).
    fn call_presence(&self, id: u64, activity: Option<crate::glue::Activity>) {
        if let Some(c) = self.calls.calls.get(&id) {
            crate::glue::call_activity_both(self, &c.caller, &c.callee, &c.a.call_id, activity);
        }
    }
}

impl Core {
    /// Voicemail on no answer (ring timeout), busy, declined or no reachable device: the
    /// caller is answered by the media engine instead of getting the failure (media.rs).
    fn divert_to_voicemail(&mut self, id: u64, code: u16) -> bool {
        if !matches!(code, 408 | 480 | 486 | 600 | 603) || !self.voicemail_ready() {
            return false;
        }
        let Some(call) = self.calls.calls.get_mut(&id) else {
            return false;
        };
        if call.a_final_sent {
            return false;
        }
        call.a_final_sent = true;
        call.ring_deadline = None;
        call.outcome = Some((disposition(code).to_owned(), code));
        let dialled = call
            .a_invite
            .uri()
            .and_then(|u| u.as_sip().and_then(|s| s.user_unescaped()))
            .unwrap_or_default();
        let kind = crate::ivr::Kind::Deposit {
            mailbox: call.callee.clone(),
            caller: call.caller.clone(),
            called: dialled,
        };
        let (txn, invite, dialog) = (call.a_txn, call.a_invite.clone(), call.a.clone());
        let legs = call.legs.len();
        for i in 0..legs {
            self.cancel_leg(id, i);
        }
        self.end_call(id);
        self.answer_with_voicemail(txn, &invite, dialog, kind);
        true
    }
}

fn call_txn(core: &Core, id: u64) -> Option<ServerTxnId> {
    core.calls.calls.get(&id).map(|c| c.a_txn)
}

fn dialog_mut(call: &mut Call, side: Side) -> Option<&mut Dialog> {
    match side {
        Side::A => Some(&mut call.a),
        Side::B(i) => call.legs.get_mut(i).map(|l| &mut l.dialog),
    }
}

/// Replaces the Max-Forwards row of a message we built.
fn replace_max_forwards(bytes: &Bytes, mf: &str) -> Bytes {
    let text = String::from_utf8_lossy(bytes);
    Bytes::from(
        text.replacen(
            "Max-Forwards: 70\r\n",
            &format!("Max-Forwards: {mf}\r\n"),
            1,
        )
        .into_bytes(),
    )
}
