//! Server transactions: INVITE (RFC 3261 §17.2.1 with RFC 6026 §7.1, and the UAS 2xx
//! retransmission of §13.3.1.4) and non-INVITE (§17.2.2); requests are matched by §17.2.3.

use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{Message, Method};

use crate::completed::Completed;
use crate::endpoint::Endpoint;
use crate::key::{AckKey, ServerKey};
use crate::timer::{Timer, TxnRef};
use crate::{Output, ServerTxnId, TxnError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ServerState {
    /// Non-INVITE, nothing sent yet (§17.2.2).
    Trying,
    Proceeding,
    Completed,
    /// INVITE: the ACK for the non-2xx final arrived.
    Confirmed,
    /// INVITE: a 2xx was sent (RFC 6026 §7.1).
    Accepted,
}

#[derive(Debug)]
pub(crate) struct ServerTxn<A> {
    invite: bool,
    state: ServerState,
    key: ServerKey,
    pub(crate) source: A,
    reliable: bool,
    /// The last response sent, resent when the request is retransmitted.
    last: Option<Bytes>,
    /// The current interval of Timer G or of the 2xx retransmission.
    interval: Duration,
    /// To tag of the final response, to match an RFC 2543 ACK (§17.2.3).
    final_to_tag: Option<String>,
    /// From tag of the INVITE, compared on 2xx ACKs (§13.3.1.4).
    from_tag: Option<String>,
    ack_key: Option<AckKey>,
    /// The 2xx was acknowledged.
    acked: bool,
}

impl<A: Clone + Eq + Hash + Debug> Endpoint<A> {
    pub(crate) fn on_request(
        &mut self,
        now: Instant,
        msg: Message,
        source: A,
        reliable: bool,
    ) -> Result<(), TxnError> {
        let key = ServerKey::of(&msg).ok_or(TxnError::Malformed("top Via, To, From or CSeq"))?;
        let method = msg.method_kind();
        if method == Method::Ack {
            self.on_ack(now, msg, source, &key);
            return Ok(());
        }
        if let Some(id) = self.server_index.get(&key).copied() {
            self.retransmitted_request(id);
            return Ok(());
        }
        // §17.2.2: in Completed a retransmission gets the final response again.
        if let Some((target, bytes)) = self.completed.retransmission(&key) {
            self.transmit(target, bytes);
            return Ok(());
        }
        if self.servers.len() >= self.max_transactions {
            return Err(TxnError::Overloaded(Box::new(msg)));
        }
        let cancels = if method == Method::Cancel {
            ServerKey::cancelled_by(&msg)
                .and_then(|k| self.server_index.get(&k).copied())
                .filter(|id| self.servers.get(id).is_some_and(|t| t.invite))
        } else {
            None
        };
        let id = self.new_server_id();
        let invite = method == Method::Invite;
        let mut txn = ServerTxn {
            invite,
            state: ServerState::Trying,
            key: key.clone(),
            source: source.clone(),
            reliable,
            last: None,
            interval: self.timers.t1,
            final_to_tag: None,
            from_tag: invite
                .then(|| msg.from().and_then(|f| f.tag()).map(str::to_owned))
                .flatten(),
            ack_key: invite.then(|| AckKey::of(&msg)).flatten(),
            acked: false,
        };
        if invite {
            // §17.2.1: the INVITE transaction answers 100 Trying at once (no To tag, §8.2.6.1).
            let trying = sip::response_to(&msg, 100, "Trying", None).finish_empty();
            txn.state = ServerState::Proceeding;
            txn.last = Some(trying.clone());
            self.transmit(source.clone(), trying);
        }
        self.server_index.insert(key, id);
        self.servers.insert(id, txn);
        self.out.push_back(Output::Request {
            txn: id,
            msg,
            source,
            cancels,
        });
        Ok(())
    }

    /// §17.2.1, §17.2.2: a retransmission is answered with the last response, if any.
    fn retransmitted_request(&mut self, id: ServerTxnId) {
        let Some(txn) = self.servers.get(&id) else {
            return;
        };
        if txn.state == ServerState::Confirmed {
            return;
        }
        if let Some(last) = txn.last.clone() {
            let target = txn.source.clone();
            self.transmit(target, last);
        }
    }

    fn on_ack(&mut self, now: Instant, msg: Message, source: A, key: &ServerKey) {
        let r = |id| TxnRef::Server(id);
        if let Some(id) = self.match_ack(key, &msg)
            && let Some(txn) = self.servers.get_mut(&id)
        {
            match txn.state {
                ServerState::Completed => {
                    // §17.2.1: Completed -> Confirmed; Timer I absorbs ACK retransmissions.
                    txn.state = ServerState::Confirmed;
                    let reliable = txn.reliable;
                    self.queue.cancel(r(id), Timer::G);
                    self.queue.cancel(r(id), Timer::H);
                    if reliable {
                        self.terminate_server(id);
                    } else {
                        self.queue.set(r(id), Timer::I, now, self.timers.t4);
                    }
                    return;
                }
                // An RFC 2543 ACK for a 2xx shares the INVITE's key: treat as a 2xx ACK.
                ServerState::Accepted => {}
                _ => return,
            }
        }
        // §17.2.3: an ACK matching no transaction is the 2xx ACK; it stops the 2xx
        // retransmission of the INVITE with the same Call-ID, CSeq number and From tag.
        let from_tag = msg.from().and_then(|f| f.tag()).map(str::to_owned);
        if let Some(id) = AckKey::of(&msg).and_then(|k| self.ack_index.get(&k).copied())
            && let Some(txn) = self.servers.get_mut(&id)
            && txn.state == ServerState::Accepted
            && txn.from_tag == from_tag
        {
            txn.acked = true;
            self.queue.cancel(r(id), Timer::Retransmit2xx);
        }
        self.out.push_back(Output::Ack { msg, source });
    }

    /// §17.2.3: the transaction an ACK belongs to. For RFC 2543 peers the ACK's To tag is
    /// the tag of the response, so the INVITE may have been keyed without one.
    fn match_ack(&self, key: &ServerKey, ack: &Message) -> Option<ServerTxnId> {
        if !key.is_legacy() {
            return self.server_index.get(key).copied();
        }
        let tag = ack.to().and_then(|t| t.tag()).map(str::to_owned);
        [Some(key.clone()), ServerKey::without_to_tag(ack)]
            .into_iter()
            .flatten()
            .filter_map(|k| self.server_index.get(&k).copied())
            .find(|id| {
                self.servers
                    .get(id)
                    .is_some_and(|t| t.final_to_tag.is_some() && t.final_to_tag == tag)
            })
    }

    pub(crate) fn send_response(
        &mut self,
        now: Instant,
        id: ServerTxnId,
        response: Message,
    ) -> Result<(), TxnError> {
        let status = response.status().ok_or(TxnError::NotAResponse)?;
        let r = TxnRef::Server(id);
        let (t1, t64) = (self.timers.t1, self.t64());
        let Some(txn) = self.servers.get_mut(&id) else {
            // A completed non-INVITE transaction has already sent its final response.
            let completed =
                ServerKey::answered_by(&response).is_some_and(|k| self.completed.holds(&k, id));
            return Err(if completed {
                TxnError::InvalidState { txn: id, status }
            } else {
                TxnError::UnknownTransaction(id)
            });
        };
        let bytes = response.message_bytes();
        use ServerState::*;
        match (txn.invite, txn.state, status) {
            (true, Proceeding, 100..=199) | (false, Trying | Proceeding, 100..=199) => {
                txn.state = Proceeding;
            }
            // RFC 6026 §7.1: Accepted replaces Terminated after a 2xx; the TU's 2xx
            // retransmissions are still sent.
            (true, Proceeding, 200..=299) => {
                txn.state = Accepted;
                txn.interval = t1;
                if let Some(k) = txn.ack_key.clone() {
                    self.ack_index.insert(k, id);
                }
                self.queue.set(r, Timer::L, now, t64);
                self.queue.set(r, Timer::Retransmit2xx, now, t1);
            }
            (true, Accepted, 200..=299) => {}
            (true, Proceeding, _) => {
                txn.state = Completed;
                txn.final_to_tag = response.to().and_then(|t| t.tag()).map(str::to_owned);
                txn.interval = t1;
                if !txn.reliable {
                    self.queue.set(r, Timer::G, now, t1);
                }
                self.queue.set(r, Timer::H, now, t64);
            }
            (false, Trying | Proceeding, _) => {
                let target = txn.source.clone();
                if txn.reliable {
                    self.transmit(target, bytes);
                    self.terminate_server(id);
                } else {
                    self.enter_completed_non_invite(now, id, target, bytes);
                }
                return Ok(());
            }
            _ => return Err(TxnError::InvalidState { txn: id, status }),
        }
        txn.last = Some(bytes.clone());
        let target = txn.source.clone();
        self.transmit(target, bytes);
        Ok(())
    }

    pub(crate) fn server_timer(&mut self, now: Instant, id: ServerTxnId, timer: Timer) {
        let r = TxnRef::Server(id);
        let t2 = self.timers.t2;
        let Some(txn) = self.servers.get_mut(&id) else {
            return;
        };
        match (timer, txn.state) {
            // §17.2.1 Timer G and §13.3.1.4: T1 doubling, capped at T2.
            (Timer::G, ServerState::Completed) | (Timer::Retransmit2xx, ServerState::Accepted) => {
                txn.interval = txn.interval.saturating_mul(2).min(t2);
                let next = txn.interval;
                if let Some(last) = txn.last.clone() {
                    let target = txn.source.clone();
                    self.transmit(target, last);
                }
                self.queue.set(r, timer, now, next);
            }
            (Timer::H, ServerState::Completed) => {
                self.out.push_back(Output::AckTimeout { txn: id });
                self.terminate_server(id);
            }
            (Timer::L, ServerState::Accepted) => {
                if !txn.acked {
                    self.out.push_back(Output::AckTimeout { txn: id });
                }
                self.terminate_server(id);
            }
            (Timer::I, _) => self.terminate_server(id),
            _ => {}
        }
    }

    /// §17.2.2 over an unreliable transport: the full transaction gives way to a compact
    /// entry (key, response, target) until Timer J; see [`crate::completed`].
    fn enter_completed_non_invite(
        &mut self,
        now: Instant,
        id: ServerTxnId,
        target: A,
        bytes: Bytes,
    ) {
        let response: Box<[u8]> = bytes.as_ref().into();
        self.transmit(target.clone(), bytes);
        // A non-INVITE server transaction arms no timer before Timer J, and has no ACK key.
        let Some(txn) = self.servers.remove(&id) else {
            return;
        };
        if self.server_index.get(&txn.key) == Some(&id) {
            self.server_index.remove(&txn.key);
        }
        let entry = Completed {
            id,
            response,
            target,
        };
        let until = now.checked_add(self.t64()).unwrap_or(now);
        if let Some(txn) = self.completed.insert(txn.key, entry, until) {
            self.out.push_back(Output::ServerTerminated { txn });
        }
    }

    pub(crate) fn terminate_server(&mut self, id: ServerTxnId) {
        self.queue.cancel_all(TxnRef::Server(id));
        let Some(txn) = self.servers.remove(&id) else {
            return;
        };
        if self.server_index.get(&txn.key) == Some(&id) {
            self.server_index.remove(&txn.key);
        }
        if let Some(k) = txn.ack_key
            && self.ack_index.get(&k) == Some(&id)
        {
            self.ack_index.remove(&k);
        }
        self.out.push_back(Output::ServerTerminated { txn: id });
    }
}
