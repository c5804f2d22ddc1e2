//! Play-on-phone (CAS `vm.play_on_phone`, asked over the bus): the server calls the user's
//! device — the one named, or every registered device in parallel — with an offer from the
//! media engine. The first device to answer (2xx) gets the message; the others are
//! cancelled (RFC 3261 §9.1, once they sent a provisional — a silent device gets its CANCEL
//! with its first provisional, even after the playback ended, until its INVITE times out)
//! or, if they answer too, ACKed and hung up. When every device refused or timed out, the request fails with the most
//! telling status (486 over 480/408, as for calls).
//!
//! The call itself (in-dialog BYE, hang-up after playback) is a media leg like any voicemail
//! call (`media.rs`); the playback task is `ivr::play_on_phone`.
//!
//! Does not: follow 3xx redirections, or ring devices one after another.

use bytes::Bytes;
use services::bus::BusEvent;
use sip::Message;
use sip_txn::{ClientTxnId, Input};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::core::{ALLOW, Core};
use crate::dialog::{Dialog, cancel_for};
use crate::ivr::{self, Note};
use crate::media::Leg;
use crate::transport::{Target, Transport};
use crate::util::{random_token, unix_now};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ForkState {
    Trying,
    Early,
    Done,
}

/// One device rung for a play-on-phone request.
pub(crate) struct Fork {
    dialog: Dialog,
    /// Our INVITE, for the CANCEL.
    invite: Message,
    cseq: u32,
    state: ForkState,
    /// Cancel as soon as the device sends a provisional (§9.1).
    cancel_pending: bool,
    /// Final failure (status, reason).
    failure: Option<(u16, String)>,
}

/// The devices of one play-on-phone request and which one answered.
pub(crate) struct Ringing {
    forks: Vec<Fork>,
    winner: Option<usize>,
}

impl Ringing {
    /// True until a device answered.
    pub(crate) fn unanswered(&self) -> bool {
        self.winner.is_none()
    }
}

impl Core {
    /// `vm.play_on_phone`: call `aor`'s device `device` (a contact URI) or all of them with an
    /// offer from the engine; on answer, play `file`.
    pub fn play_on_phone(
        &mut self,
        request_id: u64,
        aor: &str,
        device: Option<&str>,
        file: std::path::PathBuf,
    ) {
        let fail = |core: &mut Core, reason: &str| {
            core.deps.bus.publish(BusEvent::VmPlaybackFailed {
                request_id,
                reason: reason.to_owned(),
            });
        };
        let Some(media) = self.deps.media.clone() else {
            return fail(self, "no media engine");
        };
        let (user, domain) = aor.split_once('@').unwrap_or((aor, ""));
        let targets: Vec<(Target, String)> = self
            .location
            .lookup(&services::registrar::aor_key(user, domain), unix_now())
            .into_iter()
            .filter(|b| device.is_none_or(|d| b.contact == d))
            .filter_map(|b| {
                let t = Target {
                    transport: Transport::from_token(&b.transport)?,
                    addr: b.source.parse().ok()?,
                };
                Some((t, b.contact))
            })
            .collect();
        if targets.is_empty() {
            return fail(self, "no registered device");
        }
        let opened = match media.offer() {
            Ok(o) => o,
            Err(e) => return fail(self, &e.to_string()),
        };
        let number = self
            .deps
            .voicemail
            .as_ref()
            .map_or("voicemail", |v| v.number())
            .to_owned();
        let key = self.media_calls.next;
        self.media_calls.next += 1;
        let mut forks = Vec::new();
        for (target, contact) in targets {
            let local = self
                .transports
                .local_addr(target.transport, target.addr.ip());
            let tag = random_token(12);
            let mut dialog = Dialog {
                call_id: format!("{}@switchboard", random_token(20)),
                local: format!("\"Voicemail\" <sip:{number}@{domain}>;tag={tag}"),
                local_tag: tag,
                remote: format!("<sip:{aor}>"),
                remote_target: contact,
                route_set: Vec::new(),
                target,
                local_cseq: 0,
            };
            let bytes = dialog.request(
                "INVITE",
                local,
                &[("Allow", ALLOW)],
                Some(("application/sdp", opened.sdp.as_bytes())),
            );
            let Ok(invite) = sip::parse_datagram(bytes.clone()) else {
                continue;
            };
            let Some(txn) = self.send_request(target, bytes) else {
                continue;
            };
            self.media_calls.clients.insert(txn, (key, forks.len()));
            forks.push(Fork {
                cseq: dialog.local_cseq,
                dialog,
                invite,
                state: ForkState::Trying,
                cancel_pending: false,
                failure: None,
            });
        }
        let Some(first) = forks.first().map(|f| f.dialog.clone()) else {
            media.close(opened.id);
            return fail(self, "cannot send");
        };
        info!(
            forks = forks.len(),
            "play-on-phone: calling the user's devices"
        );
        let (to_task, from_core) = mpsc::unbounded_channel();
        self.media_calls.legs.insert(
            key,
            Leg {
                dialog: first,
                ep: opened.id,
                sdp: opened.sdp,
                to_task: Some(to_task),
                invite_txn: None,
                late_offer: false,
                ringing: Some(Ringing {
                    forks,
                    winner: None,
                }),
                play: Some((request_id, file)),
                bye_sent: false,
            },
        );
        // The task starts on answer; until then its channels wait here.
        self.media_calls
            .pending
            .insert(key, (opened.events, from_core));
    }

    /// A response to a play-on-phone INVITE; false when it is not ours.
    pub fn media_response(&mut self, txn: ClientTxnId, msg: &Message) -> bool {
        let Some(&(key, ix)) = self.media_calls.clients.get(&txn) else {
            return false;
        };
        let Some(code) = msg.status() else {
            return true;
        };
        if code >= 300 {
            self.media_calls.clients.remove(&txn);
            self.fork_failed(key, ix, code, msg.reason());
        } else if code >= 200 {
            self.fork_answered(key, ix, msg);
        } else {
            self.fork_provisional(key, ix);
        }
        true
    }

    /// A play-on-phone INVITE got no final answer.
    pub fn media_client_timeout(&mut self, txn: ClientTxnId) -> bool {
        let Some((key, ix)) = self.media_calls.clients.remove(&txn) else {
            return false;
        };
        self.fork_failed(key, ix, 408, "no answer");
        true
    }

    fn fork_provisional(&mut self, key: u64, ix: usize) {
        let Some(fork) = self.fork_mut(key, ix) else {
            return;
        };
        if fork.state == ForkState::Trying {
            fork.state = ForkState::Early;
        }
        if std::mem::take(&mut fork.cancel_pending) {
            let target = fork.dialog.target;
            if let Some(cancel) = cancel_for(&fork.invite) {
                self.fire_and_forget(target, cancel);
            }
        }
    }

    fn fork_answered(&mut self, key: u64, ix: usize, msg: &Message) {
        let Some(leg) = self.media_calls.legs.get_mut(&key) else {
            return;
        };
        let Some(ring) = leg.ringing.as_mut() else {
            return;
        };
        let winner = ring.winner;
        let Some(fork) = ring.forks.get_mut(ix) else {
            return;
        };
        let first_answer = fork.state != ForkState::Done;
        fork.state = ForkState::Done;
        fork.dialog.establish(msg);
        let target = fork.dialog.target;
        let local = self
            .transports
            .local_addr(target.transport, target.addr.ip());
        let ack: Bytes = fork.dialog.ack(fork.cseq, local, None);
        self.input(Input::SendStateless { target, bytes: ack });
        match winner {
            // A retransmitted 2xx (our ACK was lost): the ACK above is all it needs.
            Some(w) if w == ix => {}
            // Another device answered first: hang this one up.
            Some(_) => {
                if first_answer {
                    self.bye_fork(key, ix);
                }
            }
            None => self.play_answered(key, ix, msg),
        }
    }

    /// The first device answered: it becomes the call, the others are cancelled, the
    /// playback task starts.
    fn play_answered(&mut self, key: u64, ix: usize, msg: &Message) {
        let Some(media) = self.deps.media.clone() else {
            return;
        };
        let Some(leg) = self.media_calls.legs.get_mut(&key) else {
            return;
        };
        let Some(ring) = leg.ringing.as_mut() else {
            return;
        };
        ring.winner = Some(ix);
        let others: Vec<usize> = (0..ring.forks.len()).filter(|i| *i != ix).collect();
        if let Some(f) = ring.forks.get(ix) {
            leg.dialog = f.dialog.clone();
        }
        let request_id = leg.play.as_ref().map(|(r, _)| *r).unwrap_or_default();
        let file = leg
            .play
            .as_ref()
            .map(|(_, f)| f.clone())
            .unwrap_or_default();
        let ep = leg.ep;
        self.media_calls.dialogs.insert(
            (leg.dialog.call_id.clone(), leg.dialog.local_tag.clone()),
            key,
        );
        for i in others {
            self.cancel_fork(key, i);
        }
        if let Err(e) = media.remote_answer(ep, msg.body()) {
            warn!(error = %e, "phone's answer unusable for play-on-phone");
            self.media_calls.pending.remove(&key);
            self.on_media_note(Note::HangUp(key));
            self.on_media_note(Note::Done(key));
            self.deps.bus.publish(BusEvent::VmPlaybackFailed {
                request_id,
                reason: e.to_string(),
            });
            return;
        }
        if let Some((events, from_core)) = self.media_calls.pending.remove(&key) {
            let to_core = self.media_calls.notes();
            media.runtime().spawn(ivr::play_on_phone(
                key,
                media.clone(),
                ep,
                file,
                events,
                from_core,
                to_core,
            ));
        }
    }

    fn cancel_fork(&mut self, key: u64, ix: usize) {
        let Some(fork) = self.fork_mut(key, ix) else {
            return;
        };
        match fork.state {
            ForkState::Early => {
                let target = fork.dialog.target;
                if let Some(cancel) = cancel_for(&fork.invite) {
                    self.fire_and_forget(target, cancel);
                }
            }
            ForkState::Trying => fork.cancel_pending = true,
            ForkState::Done => {}
        }
    }

    /// ACKed already; a BYE ends a device's late answer.
    fn bye_fork(&mut self, key: u64, ix: usize) {
        let Some(fork) = self.fork_mut(key, ix) else {
            return;
        };
        let target = fork.dialog.target;
        fork.dialog.local_cseq = fork.cseq;
        let mut d = fork.dialog.clone();
        let local = self
            .transports
            .local_addr(target.transport, target.addr.ip());
        let bye = d.request("BYE", local, &[], None);
        self.fire_and_forget(target, bye);
    }

    fn fork_failed(&mut self, key: u64, ix: usize, code: u16, reason: &str) {
        let Some(fork) = self.fork_mut(key, ix) else {
            return;
        };
        if fork.state == ForkState::Done {
            return;
        }
        fork.state = ForkState::Done;
        fork.failure = Some((code, reason.to_owned()));
        debug!(status = code, "play-on-phone: a device refused");
        let Some(leg) = self.media_calls.legs.get_mut(&key) else {
            return;
        };
        let Some(ring) = leg.ringing.as_ref() else {
            return;
        };
        if !ring.unanswered() || ring.forks.iter().any(|f| f.state != ForkState::Done) {
            return;
        }
        // Every device refused: report the most telling status.
        let codes: Vec<u16> = ring
            .forks
            .iter()
            .filter_map(|f| f.failure.as_ref().map(|(c, _)| *c))
            .collect();
        let best = services::routing::best_failure(&codes);
        let reason = ring
            .forks
            .iter()
            .filter_map(|f| f.failure.as_ref())
            .find(|(c, _)| *c == best)
            .map_or_else(|| format!("{best}"), |(c, r)| format!("{c} {r}"));
        let request_id = leg.play.as_ref().map(|(r, _)| *r).unwrap_or_default();
        leg.bye_sent = true;
        if let Some(m) = &self.deps.media {
            m.close(leg.ep);
        }
        self.media_calls.pending.remove(&key);
        self.on_media_note(Note::Done(key));
        self.deps
            .bus
            .publish(BusEvent::VmPlaybackFailed { request_id, reason });
    }

    /// Play-on-phone request `key` is over: devices still ringing are handed to the
    /// B2BUA's orphan handling (`b2bua.rs`). One that sent no provisional yet owes a
    /// CANCEL, sent with its first provisional (RFC 3261 §9.1); one that did was cancelled
    /// when another answered; a late 2xx is ACKed and hung up; the INVITE timeout ends it.
    pub(crate) fn orphan_forks(&mut self, key: u64) {
        let txns: Vec<(ClientTxnId, usize)> = self
            .media_calls
            .clients
            .iter()
            .filter(|(_, (k, _))| *k == key)
            .map(|(t, (_, ix))| (*t, *ix))
            .collect();
        for (txn, ix) in txns {
            self.media_calls.clients.remove(&txn);
            let Some(fork) = self.fork_mut(key, ix) else {
                continue;
            };
            let cancel = match fork.state {
                ForkState::Done => continue,
                ForkState::Trying => cancel_for(&fork.invite),
                ForkState::Early => None,
            };
            let (dialog, cseq) = (fork.dialog.clone(), fork.cseq);
            debug!(
                pending_cancel = cancel.is_some(),
                "play-on-phone: a device still rings"
            );
            self.orphan_invite(txn, dialog, cseq, cancel);
        }
    }

    fn fork_mut(&mut self, key: u64, ix: usize) -> Option<&mut Fork> {
        self.media_calls
            .legs
            .get_mut(&key)?
            .ringing
            .as_mut()?
            .forks
            .get_mut(ix)
    }
}
