//! Client transactions: INVITE (RFC 3261 §17.1.1 with RFC 6026 §7.2) and non-INVITE
//! (§17.1.2); responses are matched by §17.1.3.

use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{Message, Method};

use crate::ack::ack_for;
use crate::endpoint::Endpoint;
use crate::key::ClientKey;
use crate::timer::{Timer, TxnRef};
use crate::{ClientTxnId, Output, TxnError};

/// §17.1.1.2: Timer D is at least 32 s on unreliable transports, independent of T1.
const TIMER_D: Duration = Duration::from_secs(32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClientState {
    /// INVITE sent, nothing heard (§17.1.1.2).
    Calling,
    /// Non-INVITE sent, nothing heard (§17.1.2.2).
    Trying,
    Proceeding,
    /// Non-2xx final received (INVITE) or any final (non-INVITE).
    Completed,
    /// 2xx received for an INVITE (RFC 6026 §7.2).
    Accepted,
}

#[derive(Debug)]
pub(crate) struct ClientTxn<A> {
    invite: bool,
    state: ClientState,
    key: ClientKey,
    request: Message,
    pub(crate) target: A,
    reliable: bool,
    /// The current retransmission interval of Timer A or E.
    interval: Duration,
    /// The ACK sent for a non-2xx final, resent for each retransmission of it.
    ack: Option<Bytes>,
}

impl<A> ClientTxn<A> {
    /// Still waiting for a final response, so a failure must be reported to the TU.
    pub(crate) fn awaits_final(&self) -> bool {
        matches!(
            self.state,
            ClientState::Calling | ClientState::Trying | ClientState::Proceeding
        )
    }
}

impl<A: Clone + Eq + Hash + Debug> Endpoint<A> {
    pub(crate) fn send_request(
        &mut self,
        now: Instant,
        id: ClientTxnId,
        msg: Message,
        target: A,
        reliable: bool,
    ) -> Result<(), TxnError> {
        if !msg.is_request() {
            return Err(TxnError::NotARequest);
        }
        let method = msg.method_kind();
        if method == Method::Ack {
            return Err(TxnError::AckTransaction);
        }
        let key = ClientKey::of(&msg).ok_or(TxnError::MissingBranch)?;
        if self.clients.contains_key(&id) {
            return Err(TxnError::DuplicateId(id));
        }
        if self.client_index.contains_key(&key) {
            return Err(TxnError::DuplicateBranch);
        }
        if self.clients.len() >= self.max_transactions {
            return Err(TxnError::Overloaded(Box::new(msg)));
        }
        let invite = method == Method::Invite;
        let r = TxnRef::Client(id);
        let t1 = self.timers.t1;
        let (retransmit, timeout) = if invite {
            (Timer::A, Timer::B)
        } else {
            (Timer::E, Timer::F)
        };
        // §17.1.1.2, §17.1.2.2: retransmission only over unreliable transports.
        if !reliable {
            self.queue.set(r, retransmit, now, t1);
        }
        self.queue.set(r, timeout, now, self.t64());
        self.transmit(target.clone(), msg.message_bytes());
        self.client_index.insert(key.clone(), id);
        self.clients.insert(
            id,
            ClientTxn {
                invite,
                state: if invite {
                    ClientState::Calling
                } else {
                    ClientState::Trying
                },
                key,
                request: msg,
                target,
                reliable,
                interval: t1,
                ack: None,
            },
        );
        Ok(())
    }

    pub(crate) fn on_response(&mut self, now: Instant, msg: Message) {
        let id = ClientKey::of(&msg).and_then(|k| self.client_index.get(&k).copied());
        let (Some(id), Some(status)) = (id, msg.status()) else {
            self.out.push_back(Output::StrayResponse { msg });
            return;
        };
        match self.clients.get(&id).map(|t| t.invite) {
            Some(true) => self.invite_response(now, id, msg, status),
            Some(false) => self.non_invite_response(now, id, msg, status),
            None => self.out.push_back(Output::StrayResponse { msg }),
        }
    }

    /// §17.1.1.2 and RFC 6026 §7.2.
    fn invite_response(&mut self, now: Instant, id: ClientTxnId, msg: Message, status: u16) {
        let r = TxnRef::Client(id);
        let t64 = self.t64();
        let Some(txn) = self.clients.get_mut(&id) else {
            return;
        };
        use ClientState::*;
        match (txn.state, status) {
            (Calling | Proceeding, 100..=199) => {
                txn.state = Proceeding;
                self.queue.cancel(r, Timer::A);
                // Timer B only bounds Calling; Proceeding waits for the TU (Timer C, CANCEL).
                self.queue.cancel(r, Timer::B);
                self.out.push_back(Output::Response { txn: id, msg });
            }
            (Calling | Proceeding, 200..=299) => {
                txn.state = Accepted;
                self.queue.cancel(r, Timer::A);
                self.queue.cancel(r, Timer::B);
                self.queue.set(r, Timer::M, now, t64);
                self.out.push_back(Output::Response { txn: id, msg });
            }
            (Calling | Proceeding, _) => {
                txn.state = Completed;
                self.queue.cancel(r, Timer::A);
                self.queue.cancel(r, Timer::B);
                let ack = ack_for(&txn.request, &msg);
                txn.ack = Some(ack.clone());
                let (target, reliable) = (txn.target.clone(), txn.reliable);
                self.transmit(target, ack);
                self.out.push_back(Output::Response { txn: id, msg });
                if reliable {
                    self.terminate_client(id);
                } else {
                    self.queue.set(r, Timer::D, now, TIMER_D);
                }
            }
            // RFC 6026 §7.2: every 2xx, retransmitted or from another fork, goes to the TU.
            (Accepted, 200..=299) => self.out.push_back(Output::Response { txn: id, msg }),
            // §17.1.1.2: a retransmitted final is ACKed again and absorbed.
            (Completed, 300..) => {
                if let Some(ack) = txn.ack.clone() {
                    let target = txn.target.clone();
                    self.transmit(target, ack);
                }
            }
            _ => {}
        }
    }

    /// §17.1.2.2.
    fn non_invite_response(&mut self, now: Instant, id: ClientTxnId, msg: Message, status: u16) {
        let r = TxnRef::Client(id);
        let t4 = self.timers.t4;
        let Some(txn) = self.clients.get_mut(&id) else {
            return;
        };
        match (txn.state, status) {
            (ClientState::Trying | ClientState::Proceeding, 100..=199) => {
                txn.state = ClientState::Proceeding;
                self.out.push_back(Output::Response { txn: id, msg });
            }
            (ClientState::Trying | ClientState::Proceeding, _) => {
                txn.state = ClientState::Completed;
                self.queue.cancel(r, Timer::E);
                self.queue.cancel(r, Timer::F);
                let reliable = txn.reliable;
                self.out.push_back(Output::Response { txn: id, msg });
                if reliable {
                    self.terminate_client(id);
                } else {
                    self.queue.set(r, Timer::K, now, t4);
                }
            }
            _ => {}
        }
    }

    pub(crate) fn client_timer(&mut self, now: Instant, id: ClientTxnId, timer: Timer) {
        let r = TxnRef::Client(id);
        let t2 = self.timers.t2;
        let Some(txn) = self.clients.get_mut(&id) else {
            return;
        };
        match (timer, txn.state) {
            // §17.1.1.2: A doubles without the T2 cap.
            (Timer::A, ClientState::Calling) => {
                txn.interval = txn.interval.saturating_mul(2);
                let (target, bytes, next) = (
                    txn.target.clone(),
                    txn.request.message_bytes(),
                    txn.interval,
                );
                self.queue.set(r, Timer::A, now, next);
                self.transmit(target, bytes);
            }
            // §17.1.2.2: E doubles up to T2 while Trying, and is T2 once Proceeding.
            (Timer::E, ClientState::Trying | ClientState::Proceeding) => {
                txn.interval = if txn.state == ClientState::Trying {
                    txn.interval.saturating_mul(2).min(t2)
                } else {
                    t2
                };
                let (target, bytes, next) = (
                    txn.target.clone(),
                    txn.request.message_bytes(),
                    txn.interval,
                );
                self.queue.set(r, Timer::E, now, next);
                self.transmit(target, bytes);
            }
            (Timer::B, ClientState::Calling)
            | (Timer::F, ClientState::Trying | ClientState::Proceeding) => {
                self.out.push_back(Output::ClientTimeout {
                    txn: id,
                    transport_error: false,
                });
                self.terminate_client(id);
            }
            (Timer::D | Timer::K | Timer::M, _) => self.terminate_client(id),
            _ => {}
        }
    }

    pub(crate) fn terminate_client(&mut self, id: ClientTxnId) {
        self.queue.cancel_all(TxnRef::Client(id));
        if let Some(txn) = self.clients.remove(&id)
            && self.client_index.get(&txn.key) == Some(&id)
        {
            self.client_index.remove(&txn.key);
        }
    }
}
