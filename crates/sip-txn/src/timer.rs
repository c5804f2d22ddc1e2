//! The timer queue: one deadline per (transaction, timer), earliest first. Deadlines are
//! absolute instants computed from the `now` the driver passes in.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::{ClientTxnId, ServerTxnId};

/// The timers of RFC 3261 §17 (Table 4) and RFC 6026, plus the UAS 2xx retransmission
/// (§13.3.1.4). Timer J (server non-INVITE) is not here: the completed table keeps its
/// deadlines (`crate::completed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// INVITE request retransmission (client).
    A,
    /// INVITE transaction timeout (client).
    B,
    /// Wait for response retransmissions after a non-2xx final (client INVITE).
    D,
    /// Non-INVITE request retransmission (client).
    E,
    /// Non-INVITE transaction timeout (client).
    F,
    /// Wait for response retransmissions (client non-INVITE).
    K,
    /// Wait for 2xx retransmissions in Accepted (client INVITE, RFC 6026).
    M,
    /// INVITE non-2xx final response retransmission (server).
    G,
    /// Wait for ACK of a non-2xx final (server).
    H,
    /// Wait for ACK retransmissions (server INVITE).
    I,
    /// Wait in Accepted for INVITE retransmissions and the ACK (server, RFC 6026).
    L,
    /// 2xx retransmission until the ACK arrives (server INVITE, §13.3.1.4).
    Retransmit2xx,
}

impl Timer {
    const CLIENT: [Timer; 7] = [
        Timer::A,
        Timer::B,
        Timer::D,
        Timer::E,
        Timer::F,
        Timer::K,
        Timer::M,
    ];
    const SERVER: [Timer; 5] = [Timer::G, Timer::H, Timer::I, Timer::L, Timer::Retransmit2xx];
}

/// Which transaction a timer belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TxnRef {
    Client(ClientTxnId),
    Server(ServerTxnId),
}

#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    due: BTreeMap<(Instant, u64), (TxnRef, Timer)>,
    armed: BTreeMap<(TxnRef, Timer), (Instant, u64)>,
    seq: u64,
}

impl TimerQueue {
    /// Arms (or re-arms) `timer` to fire `after` from `now`. A deadline beyond what
    /// [`Instant`] can represent never fires.
    pub(crate) fn set(&mut self, txn: TxnRef, timer: Timer, now: Instant, after: Duration) {
        self.cancel(txn, timer);
        let Some(at) = now.checked_add(after) else {
            return;
        };
        self.seq = self.seq.wrapping_add(1);
        self.due.insert((at, self.seq), (txn, timer));
        self.armed.insert((txn, timer), (at, self.seq));
    }

    pub(crate) fn cancel(&mut self, txn: TxnRef, timer: Timer) {
        if let Some(k) = self.armed.remove(&(txn, timer)) {
            self.due.remove(&k);
        }
    }

    pub(crate) fn cancel_all(&mut self, txn: TxnRef) {
        let timers: &[Timer] = match txn {
            TxnRef::Client(_) => &Timer::CLIENT,
            TxnRef::Server(_) => &Timer::SERVER,
        };
        for t in timers {
            self.cancel(txn, *t);
        }
    }

    #[cfg(test)]
    pub(crate) fn is_armed(&self, txn: TxnRef, timer: Timer) -> bool {
        self.armed.contains_key(&(txn, timer))
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.due.keys().next().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(TxnRef, Timer)> {
        let (&key, _) = self.due.first_key_value()?;
        if key.0 > now {
            return None;
        }
        let fired = self.due.remove(&key)?;
        self.armed.remove(&fired);
        Some(fired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_cancel() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        let c = TxnRef::Client(ClientTxnId(1));
        let s = TxnRef::Server(ServerTxnId(1));
        q.set(c, Timer::A, t0, Duration::from_millis(500));
        q.set(s, Timer::G, t0, Duration::from_millis(100));
        q.set(c, Timer::B, t0, Duration::from_secs(32));
        assert_eq!(q.next(), Some(t0 + Duration::from_millis(100)));
        q.set(s, Timer::G, t0, Duration::from_secs(1));
        assert_eq!(q.next(), Some(t0 + Duration::from_millis(500)));
        assert_eq!(q.pop_due(t0), None);
        assert_eq!(q.pop_due(t0 + Duration::from_secs(2)), Some((c, Timer::A)));
        assert_eq!(q.pop_due(t0 + Duration::from_secs(2)), Some((s, Timer::G)));
        assert_eq!(q.pop_due(t0 + Duration::from_secs(2)), None);
        assert!(q.is_armed(c, Timer::B));
        q.cancel_all(c);
        assert_eq!(q.next(), None);
        q.set(c, Timer::A, t0, Duration::MAX);
        assert_eq!(q.next(), None);
    }
}
