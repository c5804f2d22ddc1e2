//! The transaction layer's state and its one entry point, [`Endpoint::handle_input`].
//!
//! Tables are ordered maps rather than hash maps: lookups stay cheap, iteration is
//! deterministic, and no hidden random state enters a pure crate.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::client::ClientTxn;
use crate::completed::CompletedTable;
use crate::key::{AckKey, ClientKey, ServerKey};
use crate::server::ServerTxn;
use crate::timer::{TimerQueue, TxnRef};
use crate::{ClientTxnId, Input, Output, ServerTxnId, Timers, TxnError};

/// Live transactions per side beyond which new ones are refused ([`TxnError::Overloaded`]).
/// Completed non-INVITE server transactions over UDP are not counted here (see
/// [`DEFAULT_MAX_COMPLETED`]).
pub const DEFAULT_MAX_TRANSACTIONS: usize = 100_000;

/// Completed non-INVITE server transactions (waiting for Timer J) kept at most; beyond it
/// the oldest is dropped early. Each holds only its key, final response, target and id
/// (≈ 0.2 KiB plus the response; a full transaction entry with its timers cost ≈ 1.5 KiB plus
/// the response's build buffer), so the bound is four times [`DEFAULT_MAX_TRANSACTIONS`]:
/// 12,500 requests/s for 32 s.
pub const DEFAULT_MAX_COMPLETED: usize = 400_000;

/// The transaction layer of one SIP element. `A` is the caller's transport target.
#[derive(Debug)]
pub struct Endpoint<A> {
    pub(crate) timers: Timers,
    pub(crate) max_transactions: usize,
    pub(crate) clients: BTreeMap<ClientTxnId, ClientTxn<A>>,
    pub(crate) client_index: BTreeMap<ClientKey, ClientTxnId>,
    pub(crate) servers: BTreeMap<ServerTxnId, ServerTxn<A>>,
    pub(crate) server_index: BTreeMap<ServerKey, ServerTxnId>,
    /// Non-INVITE server transactions in Completed over unreliable transports (§17.2.2).
    pub(crate) completed: CompletedTable<A>,
    /// Server INVITE transactions in Accepted, for the ACK of their 2xx (§13.3.1.4).
    pub(crate) ack_index: BTreeMap<AckKey, ServerTxnId>,
    pub(crate) queue: TimerQueue,
    pub(crate) out: VecDeque<Output<A>>,
    next_client: u64,
    next_server: u64,
}

impl<A: Clone + Eq + Hash + Debug> Endpoint<A> {
    pub fn new(timers: Timers) -> Self {
        Endpoint {
            timers,
            max_transactions: DEFAULT_MAX_TRANSACTIONS,
            clients: BTreeMap::new(),
            client_index: BTreeMap::new(),
            servers: BTreeMap::new(),
            server_index: BTreeMap::new(),
            completed: CompletedTable::new(DEFAULT_MAX_COMPLETED),
            ack_index: BTreeMap::new(),
            queue: TimerQueue::default(),
            out: VecDeque::new(),
            next_client: 0,
            next_server: 0,
        }
    }

    /// Bounds the live transactions per side (client, server); at least 1. Completed
    /// non-INVITE server transactions have their own bound, [`Endpoint::with_max_completed`].
    pub fn with_max_transactions(mut self, max: usize) -> Self {
        self.max_transactions = max.max(1);
        self
    }

    /// Bounds the completed non-INVITE server transactions kept for Timer J; at least 1.
    /// Beyond it the one nearest to Timer J ends early (a retransmission of its request
    /// would reach the TU as new) rather than new requests being refused.
    pub fn with_max_completed(mut self, max: usize) -> Self {
        self.completed.max = max.max(1);
        self
    }

    pub fn new_client_id(&mut self) -> ClientTxnId {
        self.next_client = self.next_client.wrapping_add(1);
        ClientTxnId(self.next_client)
    }

    pub(crate) fn new_server_id(&mut self) -> ServerTxnId {
        self.next_server = self.next_server.wrapping_add(1);
        ServerTxnId(self.next_server)
    }

    /// Feeds one input. Errors concern only that input; the endpoint stays usable.
    pub fn handle_input(&mut self, now: Instant, input: Input<A>) -> Result<(), TxnError> {
        match input {
            Input::Received {
                msg,
                source,
                reliable,
            } => {
                if msg.is_request() {
                    self.on_request(now, msg, source, reliable)
                } else {
                    self.on_response(now, msg);
                    Ok(())
                }
            }
            Input::SendRequest {
                id,
                msg,
                target,
                reliable,
            } => self.send_request(now, id, msg, target, reliable),
            Input::SendResponse { txn, response } => self.send_response(now, txn, response),
            Input::SendStateless { target, bytes } => {
                self.transmit(target, bytes);
                Ok(())
            }
            Input::Timeout => {
                while let Some((txn, timer)) = self.queue.pop_due(now) {
                    match txn {
                        TxnRef::Client(id) => self.client_timer(now, id, timer),
                        TxnRef::Server(id) => self.server_timer(now, id, timer),
                    }
                }
                // Timer J (§17.2.2).
                while let Some(txn) = self.completed.pop_due(now) {
                    self.out.push_back(Output::ServerTerminated { txn });
                }
                Ok(())
            }
            Input::TransportError { target } => {
                self.transport_error(target);
                Ok(())
            }
        }
    }

    pub fn poll_output(&mut self) -> Option<Output<A>> {
        self.out.pop_front()
    }

    /// The earliest pending timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.queue.next(), self.completed.next()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Live (client, server) transactions; the server count includes the completed
    /// non-INVITE ones waiting for Timer J.
    pub fn len(&self) -> (usize, usize) {
        (
            self.clients.len(),
            self.servers.len() + self.completed.len(),
        )
    }

    /// Completed non-INVITE server transactions waiting for Timer J (the compact table).
    pub fn completed_len(&self) -> usize {
        self.completed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty() && self.servers.is_empty() && self.completed.is_empty()
    }

    pub(crate) fn transmit(&mut self, target: A, bytes: Bytes) {
        self.out.push_back(Output::Transmit { target, bytes });
    }

    /// 64*T1: Timers B, F, H, J, L, M (§17, Table 4).
    pub(crate) fn t64(&self) -> Duration {
        self.timers.t1.saturating_mul(64)
    }

    /// §17.1.4, §17.2.4: every transaction using `target` terminates; client transactions
    /// still waiting for a final response report it to the TU.
    fn transport_error(&mut self, target: A) {
        let clients: Vec<ClientTxnId> = self
            .clients
            .iter()
            .filter(|(_, t)| t.target == target)
            .map(|(id, _)| *id)
            .collect();
        for id in clients {
            if self.clients.get(&id).is_some_and(ClientTxn::awaits_final) {
                self.out.push_back(Output::ClientTimeout {
                    txn: id,
                    transport_error: true,
                });
            }
            self.terminate_client(id);
        }
        let servers: Vec<ServerTxnId> = self
            .servers
            .iter()
            .filter(|(_, t)| t.source == target)
            .map(|(id, _)| *id)
            .collect();
        for id in servers {
            self.terminate_server(id);
        }
        for txn in self.completed.remove_target(&target) {
            self.out.push_back(Output::ServerTerminated { txn });
        }
    }
}
