//! Completed non-INVITE server transactions over unreliable transports (RFC 3261 §17.2.2),
//! kept compactly until Timer J.
//!
//! In Completed a non-INVITE server transaction only answers a retransmitted request with its
//! final response and absorbs everything else, for 64*T1 (32 s by default). So once the final
//! response is sent the full transaction is dropped (request state, tags, retransmission
//! interval, its timer entries) and this table keeps only what §17.2.2 needs: the matching key
//! (one shared allocation, see [`ServerKey`]), the final response's bytes (copied to an
//! exact-size buffer so that the TU's larger build buffer is freed once sent), the target,
//! and the id for [`crate::Output::ServerTerminated`]. Timer J is the same duration for every
//! entry, so the deadlines form a FIFO list instead of timer-queue entries.
//!
//! What it does not do: INVITE transactions (their Completed state needs Timer G/H and the
//! ACK) and reliable transports (Timer J is zero there: the transaction ends at once).
//!
//! Overload: these entries are counted apart from live transactions, with their own bound
//! ([`crate::Endpoint::with_max_completed`]). When it is reached the entry nearest to Timer J
//! is dropped early instead of refusing the new request: a retransmission of that old request
//! would then reach the TU as a new request, which is what a stateless server does for every
//! request, whereas refusing would answer 503 to fresh traffic.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::ServerTxnId;
use crate::key::ServerKey;

/// One completed non-INVITE server transaction.
#[derive(Debug)]
pub(crate) struct Completed<A> {
    pub(crate) id: ServerTxnId,
    /// The final response, resent when the request is retransmitted.
    pub(crate) response: Box<[u8]>,
    pub(crate) target: A,
}

#[derive(Debug)]
pub(crate) struct CompletedTable<A> {
    entries: BTreeMap<ServerKey, Completed<A>>,
    /// Timer J deadlines in non-decreasing order, each naming the key it was set for; an
    /// item whose key is no longer the stored one (same allocation) is stale and skipped.
    expiry: VecDeque<(Instant, ServerKey)>,
    pub(crate) max: usize,
}

impl<A> CompletedTable<A> {
    pub(crate) fn new(max: usize) -> Self {
        CompletedTable {
            entries: BTreeMap::new(),
            expiry: VecDeque::new(),
            max,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The response to resend for a retransmission of the request with `key`.
    pub(crate) fn retransmission(&self, key: &ServerKey) -> Option<(A, Bytes)>
    where
        A: Clone,
    {
        let c = self.entries.get(key)?;
        Some((c.target.clone(), Bytes::copy_from_slice(&c.response)))
    }

    /// Whether the transaction `id`, with `key`, is here.
    pub(crate) fn holds(&self, key: &ServerKey, id: ServerTxnId) -> bool {
        self.entries.get(key).is_some_and(|c| c.id == id)
    }

    /// Enters Completed until `until` (Timer J). A deadline earlier than the last one (the
    /// caller's clock went back) is raised to it so that the list stays sorted: an entry may
    /// live slightly longer, never shorter. Returns the id of an entry dropped to stay
    /// within the bound, if one was.
    pub(crate) fn insert(
        &mut self,
        key: ServerKey,
        entry: Completed<A>,
        until: Instant,
    ) -> Option<ServerTxnId> {
        let evicted = if self.entries.len() >= self.max {
            self.pop_front()
        } else {
            None
        };
        let until = self
            .expiry
            .back()
            .map_or(until, |(last, _)| until.max(*last));
        self.expiry.push_back((until, key.clone()));
        self.entries.insert(key, entry);
        evicted
    }

    /// The earliest Timer J deadline (possibly of a stale item, which only wakes the driver
    /// early).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.expiry.front().map(|(at, _)| *at)
    }

    /// Removes and returns the id of the next entry whose Timer J is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<ServerTxnId> {
        while self.expiry.front().is_some_and(|(at, _)| *at <= now) {
            let (_, key) = self.expiry.pop_front()?;
            if let Some(id) = self.remove_if_current(&key) {
                return Some(id);
            }
        }
        // Give back the deadline list's memory after a burst (amortised: it halves at most).
        if self.expiry.capacity() > 1024 && self.expiry.len() < self.expiry.capacity() / 4 {
            self.expiry.shrink_to(self.expiry.len() * 2);
        }
        None
    }

    /// Removes the entry with the earliest current deadline (stale items before it are
    /// consumed); `None` when there is none.
    fn pop_front(&mut self) -> Option<ServerTxnId> {
        loop {
            let (_, key) = self.expiry.pop_front()?;
            if let Some(id) = self.remove_if_current(&key) {
                return Some(id);
            }
        }
    }

    /// The deadline item's key is current when the table holds that very allocation: the
    /// item keeps its allocation alive, so a later entry with equal fields cannot share it.
    fn remove_if_current(&mut self, key: &ServerKey) -> Option<ServerTxnId> {
        let (stored, _) = self.entries.get_key_value(key)?;
        if !stored.same_allocation(key) {
            return None;
        }
        self.entries.remove(key).map(|c| c.id)
    }

    /// Removes every entry whose target is `target` (§17.2.4), returning their ids. Their
    /// deadline items become stale.
    pub(crate) fn remove_target(&mut self, target: &A) -> Vec<ServerTxnId>
    where
        A: PartialEq,
    {
        let mut ids = Vec::new();
        self.entries.retain(|_, c| {
            let keep = c.target != *target;
            if !keep {
                ids.push(c.id);
            }
            keep
        });
        if self.entries.is_empty() {
            self.expiry.clear();
        }
        ids
    }

    /// Bytes one entry costs beyond its share of the map's nodes: key allocation, response
    /// buffer and deadline item.
    #[cfg(test)]
    pub(crate) fn entry_heap_bytes(&self, key: &ServerKey) -> Option<usize> {
        let c = self.entries.get(key)?;
        Some(key.heap_bytes() + c.response.len() + size_of::<(Instant, ServerKey)>())
    }
}

impl ServerKey {
    fn same_allocation(&self, other: &ServerKey) -> bool {
        Arc::ptr_eq(self.shared(), other.shared())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::server::ServerTxn;

    /// The shape of the server's transport target (transport + peer address).
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    struct Target(#[allow(dead_code)] u8, #[allow(dead_code)] SocketAddr);

    fn register() -> sip::Message {
        sip::parse_datagram(
            &b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK-524287-1---a5d7c9e1f3b2a4c6\r\nMax-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=8f2d\r\nTo: <sip:alice@example.com>\r\nCall-ID: 7c1b9e3f0a2d4c6e8b1a3f5d7e9c2b4a\r\nCSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n"[..],
        )
        .unwrap()
    }

    #[test]
    fn deadline_list_gives_memory_back_after_a_burst() {
        let t0 = Instant::now();
        let mut table = CompletedTable::new(10_000);
        for i in 0..5_000u64 {
            let req = sip::parse_datagram(format!(
                "OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK{i}\r\nFrom: <sip:a@example.com>;tag=f\r\nTo: <sip:b@example.com>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            ).into_bytes()).unwrap();
            let entry = Completed {
                id: ServerTxnId(i),
                response: Box::new([]),
                target: 0u8,
            };
            assert!(
                table
                    .insert(ServerKey::of(&req).unwrap(), entry, t0)
                    .is_none()
            );
        }
        let burst = table.expiry.capacity();
        while table.pop_due(t0).is_some() {}
        assert!(table.is_empty());
        assert!(
            table.expiry.capacity() < burst / 2,
            "{burst} -> {}",
            table.expiry.capacity()
        );
    }

    /// What one completed entry costs, from sizes and buffer lengths (no counting
    /// allocator): the map slot, the deadline item, the key's shared allocation and the
    /// response. Before this table the same transaction kept a `ServerTxn` (320 bytes with
    /// this target, its 152-byte key stored twice with 3–7 separate strings) and two
    /// timer-queue entries (48 bytes each, in two maps).
    #[test]
    fn entry_sizes() {
        let slot = size_of::<ServerKey>() + size_of::<Completed<Target>>();
        let item = size_of::<(Instant, ServerKey)>();
        let live = size_of::<ServerTxn<Target>>();
        assert_eq!(size_of::<ServerKey>(), 16, "one fat pointer");
        assert!(slot <= 80, "map slot {slot}");
        assert!(item <= 32, "deadline item {item}");
        assert!(live <= 192, "live transaction {live}");
        let key = ServerKey::of(&register()).unwrap();
        let mut table = CompletedTable::new(1);
        let response = [0u8; 420];
        table.insert(
            key.clone(),
            Completed {
                id: ServerTxnId(1),
                response: response.into(),
                target: Target(0, "192.0.2.10:5060".parse().unwrap()),
            },
            Instant::now(),
        );
        let heap = table.entry_heap_bytes(&key).unwrap();
        assert!(key.heap_bytes() <= 80, "key {}", key.heap_bytes());
        // A B-tree leaf holds up to 11 slots; at the usual 2/3 fill a slot costs 1.5x.
        let per_entry = heap + slot * 3 / 2;
        println!(
            "completed entry: slot {slot} B, deadline item {item} B, key {} B, \
             response {} B, total ~{per_entry} B; live ServerTxn {live} B",
            key.heap_bytes(),
            response.len()
        );
        assert!(per_entry <= response.len() + 250, "{per_entry}");
    }
}
