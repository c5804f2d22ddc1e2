//! Calls the media engine terminates: voicemail deposit (no answer, busy, no device, or the
//! "straight to voicemail" mode), mailbox access (the voicemail number, e.g. `*98`) and
//! play-on-phone (CAS `vm.play_on_phone`, over the bus).
//!
//! The SIP side lives here, on the core's thread: answering the INVITE with the engine's
//! SDP (RFC 3264; a late-offer INVITE gets our offer in the 200 and its answer comes in the
//! ACK, RFC 3261 §13.2.1), in-dialog BYE and re-INVITE (a new description moves the media,
//! RFC 3264 §8; our answer stays the same). The INVITEs we originate for play-on-phone are
//! in `play.rs`. The voicemail logic runs in a task per call (`ivr.rs`) on the engine's
//! runtime; the two talk over channels, so the core never waits. The engine's inactivity
//! timeout ends a call whose phone stopped sending RTP (the task hangs up).

use std::collections::HashMap;

use media_server::EndpointId;
use services::bus::BusEvent;
use sip::{HeaderName, Message, Method, response_to};
use sip_txn::{ClientTxnId, ServerTxnId};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::core::{ALLOW, Core};
use crate::dialog::{Dialog, contact_uri};
use crate::ivr::{self, Kind, Note, TaskIn};
use crate::transport::Target;

/// One call leg ending in the media engine.
pub(crate) struct Leg {
    pub dialog: Dialog,
    pub ep: EndpointId,
    /// Our SDP, repeated in answers to re-INVITEs.
    pub sdp: String,
    pub to_task: Option<mpsc::UnboundedSender<TaskIn>>,
    /// The INVITE we answered (incoming calls).
    pub invite_txn: Option<ServerTxnId>,
    /// We offered in the 200: the answer comes in the ACK.
    pub late_offer: bool,
    /// Play-on-phone: the devices rung (`play.rs`).
    pub ringing: Option<crate::play::Ringing>,
    /// Play-on-phone: the request to report on.
    pub play: Option<(u64, std::path::PathBuf)>,
    pub bye_sent: bool,
}

type Pending = (
    mpsc::UnboundedReceiver<media_server::MediaEvent>,
    mpsc::UnboundedReceiver<TaskIn>,
);

/// Every call the engine terminates, and the indexes that route SIP to them.
pub struct MediaCalls {
    pub(crate) next: u64,
    pub(crate) legs: HashMap<u64, Leg>,
    pub(crate) dialogs: HashMap<(String, String), u64>,
    /// Play-on-phone INVITEs: call key and device index.
    pub(crate) clients: HashMap<ClientTxnId, (u64, usize)>,
    /// Play-on-phone calls not answered yet: the task's channels until it starts.
    pub(crate) pending: HashMap<u64, Pending>,
    notes_tx: mpsc::UnboundedSender<Note>,
    notes_rx: Option<mpsc::UnboundedReceiver<Note>>,
}

impl Default for MediaCalls {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        MediaCalls {
            next: 1,
            legs: HashMap::new(),
            dialogs: HashMap::new(),
            clients: HashMap::new(),
            pending: HashMap::new(),
            notes_tx: tx,
            notes_rx: Some(rx),
        }
    }
}

impl MediaCalls {
    /// The channel IVR tasks report on (taken once by the core's loop).
    pub fn take_notes(&mut self) -> Option<mpsc::UnboundedReceiver<Note>> {
        self.notes_rx.take()
    }

    /// Where IVR tasks (and relay watchers) send their notes.
    pub(crate) fn notes(&self) -> mpsc::UnboundedSender<Note> {
        self.notes_tx.clone()
    }

    fn key_of(&self, msg: &Message) -> Option<u64> {
        let tag = msg.to()?.tag()?.to_owned();
        self.dialogs.get(&(msg.call_id()?.to_owned(), tag)).copied()
    }
}

/// The dialog for answering `invite` with tag `tag` (as the B2BUA builds its A leg).
pub fn uas_dialog(invite: &Message, source: Target, tag: &str) -> Dialog {
    let remote_target = invite
        .contacts()
        .first()
        .and_then(|c| match c {
            sip::ContactValue::Addr(a) => Some(a.uri.raw().to_owned()),
            sip::ContactValue::Star => None,
        })
        .unwrap_or_else(|| format!("sip:{}", source.addr));
    Dialog {
        call_id: invite.call_id().unwrap_or_default().to_owned(),
        local: format!(
            "{};tag={tag}",
            invite.header(HeaderName::To).unwrap_or_default()
        ),
        local_tag: tag.to_owned(),
        remote: invite
            .header(HeaderName::From)
            .unwrap_or_default()
            .to_owned(),
        remote_target,
        route_set: invite
            .header_values(HeaderName::RecordRoute)
            .into_iter()
            .map(str::to_owned)
            .collect(),
        target: source,
        local_cseq: 0,
    }
}

impl Core {
    /// Whether calls can go to voicemail at all (service and engine present, enabled).
    pub fn voicemail_ready(&self) -> bool {
        self.deps.media.is_some()
            && self
                .deps
                .voicemail
                .as_ref()
                .is_some_and(|v| v.config().enabled)
    }

    /// Whether `user` (the Request-URI user) is the voicemail access number.
    pub fn is_voicemail_number(&self, user: &str) -> bool {
        self.deps
            .voicemail
            .as_ref()
            .is_some_and(|v| !v.number().is_empty() && v.number() == user)
    }

    /// Answers `invite` with the media engine and starts the voicemail machine `kind` on it.
    /// `dialog` is the dialog the caller already knows (provisional responses sent with its
    /// tag), or a new one. Answers with the right failure when media cannot be set up.
    pub fn answer_with_voicemail(
        &mut self,
        txn: ServerTxnId,
        invite: &Message,
        dialog: Dialog,
        kind: Kind,
    ) {
        let (Some(media), Some(vm)) = (self.deps.media.clone(), self.deps.voicemail.clone()) else {
            self.respond(txn, invite, 480, "Temporarily Unavailable", &[]);
            return;
        };
        let late_offer = invite.body().is_empty();
        let opened = if late_offer {
            media.offer()
        } else {
            media.answer(invite.body())
        };
        let opened = match opened {
            Ok(o) => o,
            Err(e) => {
                let (code, reason) = e.sip_status();
                warn!(error = %e, status = code, "voicemail media could not be set up");
                let tag = dialog.local_tag.clone();
                let b = response_to(invite, code, reason, Some(&tag));
                self.send_response(txn, b.finish_empty());
                return;
            }
        };
        let key = self.media_calls.next;
        self.media_calls.next += 1;
        let (to_task, from_core) = mpsc::unbounded_channel();
        let target = dialog.target;
        let local = self
            .transports
            .local_addr(target.transport, target.addr.ip());
        let mut b = response_to(invite, 200, "OK", Some(&dialog.local_tag));
        b.header("Contact", &contact_uri(local, target.transport));
        b.header("Allow", ALLOW);
        let bytes = b.finish(Some("application/sdp"), opened.sdp.as_bytes());
        self.send_response(txn, bytes);
        info!(call_id = %dialog.call_id, kind = ?kind_name(&kind), "answered by voicemail");
        self.media_calls
            .dialogs
            .insert((dialog.call_id.clone(), dialog.local_tag.clone()), key);
        self.media_calls.legs.insert(
            key,
            Leg {
                dialog,
                ep: opened.id,
                sdp: opened.sdp,
                to_task: Some(to_task),
                invite_txn: Some(txn),
                late_offer,
                ringing: None,
                play: None,
                bye_sent: false,
            },
        );
        let task = ivr::Task {
            key,
            kind,
            vm,
            ep: opened.id,
            events: opened.events,
            from_core,
            to_core: self.media_calls.notes_tx.clone(),
            max: self.cfg.max_call_duration,
            media: media.clone(),
        };
        media.runtime().spawn(ivr::run(task));
    }

    /// An in-dialog request for a call we terminate; false when it is not ours.
    pub fn media_in_dialog(&mut self, txn: ServerTxnId, msg: &Message) -> bool {
        let Some(key) = self.media_calls.key_of(msg) else {
            return false;
        };
        match msg.method_kind() {
            Method::Bye => {
                self.respond(txn, msg, 200, "OK", &[]);
                if let Some(leg) = self.media_calls.legs.get_mut(&key) {
                    leg.bye_sent = true;
                    if let Some(tx) = leg.to_task.take() {
                        let _ = tx.send(TaskIn::HangUp);
                    }
                }
            }
            Method::Invite => {
                // A re-INVITE: media goes where the new description says (hold: nowhere);
                // our description stays as it is.
                let Some(leg) = self.media_calls.legs.get(&key) else {
                    return true;
                };
                if !msg.body().is_empty()
                    && let Some(media) = &self.deps.media
                    && let Err(e) = media.remote_update(leg.ep, msg.body())
                {
                    debug!(error = %e, "re-INVITE without a usable description");
                }
                let sdp = leg.sdp.clone();
                let tag = leg.dialog.local_tag.clone();
                let target = leg.dialog.target;
                let local = self
                    .transports
                    .local_addr(target.transport, target.addr.ip());
                let mut b = response_to(msg, 200, "OK", Some(&tag));
                b.header("Contact", &contact_uri(local, target.transport));
                let bytes = b.finish(Some("application/sdp"), sdp.as_bytes());
                self.send_response(txn, bytes);
            }
            _ => self.respond(txn, msg, 200, "OK", &[]),
        }
        true
    }

    /// The ACK for our 2xx; false when it is not ours.
    pub fn media_ack(&mut self, msg: &Message) -> bool {
        let Some(key) = self.media_calls.key_of(msg) else {
            return false;
        };
        if let Some(leg) = self.media_calls.legs.get_mut(&key)
            && leg.late_offer
        {
            leg.late_offer = false;
            if let Some(media) = &self.deps.media
                && let Err(e) = media.remote_answer(leg.ep, msg.body())
            {
                debug!(error = %e, "no usable answer in the ACK");
            }
        }
        true
    }

    /// The caller never acknowledged our 2xx: end the voicemail call.
    pub fn media_ack_timeout(&mut self, txn: ServerTxnId) -> bool {
        let Some((_, leg)) = self
            .media_calls
            .legs
            .iter_mut()
            .find(|(_, l)| l.invite_txn == Some(txn))
        else {
            return false;
        };
        if let Some(tx) = leg.to_task.take() {
            let _ = tx.send(TaskIn::HangUp);
        }
        true
    }

    /// A note from an IVR task.
    pub fn on_media_note(&mut self, note: Note) {
        match note {
            Note::HangUp(key) => self.media_hang_up(key),
            Note::Done(key) => {
                self.media_hang_up(key);
                self.orphan_forks(key);
                if let Some(leg) = self.media_calls.legs.remove(&key) {
                    self.media_calls
                        .dialogs
                        .remove(&(leg.dialog.call_id, leg.dialog.local_tag));
                }
                self.media_calls.clients.retain(|_, (k, _)| *k != key);
            }
            Note::RelayInactive(relay) => self.relay_inactive(relay),
            Note::PlaybackStarted(key) => {
                if let Some((request_id, _)) =
                    self.media_calls.legs.get(&key).and_then(|l| l.play.clone())
                {
                    self.deps
                        .bus
                        .publish(BusEvent::VmPlaybackStarted { request_id });
                }
            }
        }
    }

    fn media_hang_up(&mut self, key: u64) {
        let Some(leg) = self.media_calls.legs.get_mut(&key) else {
            return;
        };
        if leg.bye_sent || leg.ringing.as_ref().is_some_and(|r| r.unanswered()) {
            return;
        }
        leg.bye_sent = true;
        let target = leg.dialog.target;
        let local = self
            .transports
            .local_addr(target.transport, target.addr.ip());
        let bye = leg.dialog.request("BYE", local, &[], None);
        self.fire_and_forget(target, bye);
    }
}

fn kind_name(k: &Kind) -> &'static str {
    match k {
        Kind::Deposit { .. } => "deposit",
        Kind::Access { .. } => "access",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    /// `prompts/` (embedded by media-server) ships every prompt the voicemail machines play.
    #[test]
    fn every_voicemail_prompt_is_shipped() {
        let shipped = media_server::Prompts::load(None);
        for (name, _) in services::voicemail::prompts::PROMPTS {
            let clip = shipped.get(name);
            assert!(clip.is_some_and(|c| !c.is_empty()), "prompt {name} missing");
        }
    }
}
