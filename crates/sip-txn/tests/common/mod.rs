//! A simulated network for transaction tests: two endpoints (UAC = 0, UAS = 1) joined by a
//! deterministic link with loss, duplication, reordering and delay from a seeded xorshift,
//! and a virtual clock that jumps to the next event.
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod msg;

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::Message;
use sip_txn::{ClientTxnId, Endpoint, Input, Output, ServerTxnId, Timers};

pub const UAC: u8 = 0;
pub const UAS: u8 = 1;

/// Marsaglia's xorshift64: enough randomness for a network, none of it global.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn percent(&mut self, p: u32) -> bool {
        self.next() % 100 < u64::from(p)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct NetParams {
    pub loss: u32,
    pub dup: u32,
    /// Percentage of packets held back by up to `reorder_ms` extra.
    pub reorder: u32,
    pub reorder_ms: u64,
    pub delay_ms: u64,
    pub jitter_ms: u64,
    pub reliable: bool,
}

impl Default for NetParams {
    fn default() -> Self {
        NetParams {
            loss: 0,
            dup: 0,
            reorder: 0,
            reorder_ms: 0,
            delay_ms: 10,
            jitter_ms: 0,
            reliable: false,
        }
    }
}

struct Packet {
    at: Instant,
    seq: u64,
    from: u8,
    to: u8,
    bytes: Bytes,
}

/// One output of one endpoint, in the order it was produced.
#[derive(Debug)]
pub struct Event {
    pub at: Instant,
    pub side: u8,
    pub out: Output<u8>,
}

/// What a TU does in reaction to an output: inputs for the same endpoint, after a delay.
pub type Tu = Box<dyn FnMut(u8, &Output<u8>) -> Vec<(Duration, Input<u8>)>>;
/// Drops chosen packets (sender, message) before the random network sees them.
pub type DropFilter = Box<dyn FnMut(u8, &Message) -> bool>;

pub struct Sim {
    pub t0: Instant,
    pub now: Instant,
    pub nodes: [Endpoint<u8>; 2],
    pub params: NetParams,
    pub log: Vec<Event>,
    pub errors: Vec<(u8, sip_txn::TxnError)>,
    pub tu: Tu,
    pub drop: DropFilter,
    rng: XorShift,
    in_flight: Vec<Packet>,
    scheduled: Vec<(Instant, u64, u8, Input<u8>)>,
    seq: u64,
}

impl Sim {
    pub fn new(seed: u64, params: NetParams) -> Sim {
        let t0 = Instant::now();
        Sim {
            t0,
            now: t0,
            nodes: [
                Endpoint::new(Timers::default()),
                Endpoint::new(Timers::default()),
            ],
            params,
            log: Vec::new(),
            errors: Vec::new(),
            tu: Box::new(|_, _| Vec::new()),
            drop: Box::new(|_, _| false),
            rng: XorShift::new(seed),
            in_flight: Vec::new(),
            scheduled: Vec::new(),
            seq: 0,
        }
    }

    /// Milliseconds since the start, for readable assertions.
    pub fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.duration_since(self.t0).as_millis()).unwrap()
    }

    pub fn input(&mut self, side: u8, after: Duration, input: Input<u8>) {
        self.seq += 1;
        self.scheduled
            .push((self.now + after, self.seq, side, input));
    }

    /// Starts a client transaction on the UAC now.
    pub fn send_request(&mut self, msg: Message) -> ClientTxnId {
        let id = self.nodes[0].new_client_id();
        let reliable = self.params.reliable;
        self.input(
            UAC,
            Duration::ZERO,
            Input::SendRequest {
                id,
                msg,
                target: UAS,
                reliable,
            },
        );
        id
    }

    /// Runs until nothing is pending or the next event is after `limit` from the start.
    pub fn run_for(&mut self, limit: Duration) {
        let end = self.t0 + limit;
        loop {
            self.drain();
            let next = [
                self.nodes[0].poll_timeout(),
                self.nodes[1].poll_timeout(),
                self.in_flight.iter().map(|p| p.at).min(),
                self.scheduled.iter().map(|s| s.0).min(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next.filter(|n| *n <= end) else {
                return;
            };
            self.now = self.now.max(next);
            self.step();
        }
    }

    pub fn run(&mut self) {
        self.run_for(Duration::from_secs(3600));
    }

    fn step(&mut self) {
        let now = self.now;
        let mut due: Vec<Packet> = Vec::new();
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].at <= now {
                due.push(self.in_flight.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|p| (p.at, p.seq));
        for p in due {
            let msg = sip::parse_datagram(p.bytes).expect("endpoints send valid SIP");
            let input = Input::Received {
                msg,
                source: p.from,
                reliable: self.params.reliable,
            };
            self.feed(p.to, input);
        }
        let mut inputs: Vec<_> = Vec::new();
        let mut i = 0;
        while i < self.scheduled.len() {
            if self.scheduled[i].0 <= now {
                inputs.push(self.scheduled.swap_remove(i));
            } else {
                i += 1;
            }
        }
        inputs.sort_by_key(|s| (s.0, s.1));
        for (_, _, side, input) in inputs {
            self.feed(side, input);
        }
        for side in [UAC, UAS] {
            if self.nodes[usize::from(side)]
                .poll_timeout()
                .is_some_and(|t| t <= now)
            {
                self.feed(side, Input::Timeout);
            }
        }
    }

    fn feed(&mut self, side: u8, input: Input<u8>) {
        if let Err(e) = self.nodes[usize::from(side)].handle_input(self.now, input) {
            self.errors.push((side, e));
        }
        self.drain();
    }

    fn drain(&mut self) {
        loop {
            let mut any = false;
            for side in [UAC, UAS] {
                while let Some(out) = self.nodes[usize::from(side)].poll_output() {
                    any = true;
                    self.on_output(side, out);
                }
            }
            if !any {
                return;
            }
        }
    }

    fn on_output(&mut self, side: u8, out: Output<u8>) {
        if let Output::Transmit { target, bytes } = &out {
            self.send(side, *target, bytes.clone());
        } else {
            for (after, input) in (self.tu)(side, &out) {
                self.input(side, after, input);
            }
        }
        self.log.push(Event {
            at: self.now,
            side,
            out,
        });
    }

    fn send(&mut self, from: u8, to: u8, bytes: Bytes) {
        let msg = sip::parse_datagram(bytes.clone()).expect("endpoints send valid SIP");
        if (self.drop)(from, &msg) {
            return;
        }
        let p = self.params;
        if !p.reliable && self.rng.percent(p.loss) {
            return;
        }
        let copies = if !p.reliable && self.rng.percent(p.dup) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut delay = p.delay_ms + self.rng.below(p.jitter_ms + 1);
            if !p.reliable && self.rng.percent(p.reorder) {
                delay += self.rng.below(p.reorder_ms + 1);
            }
            self.seq += 1;
            self.in_flight.push(Packet {
                at: self.now + Duration::from_millis(delay),
                seq: self.seq,
                from,
                to,
                bytes: bytes.clone(),
            });
        }
    }

    // ----- queries over the log -----

    pub fn outputs(&self, side: u8) -> impl Iterator<Item = &Output<u8>> {
        self.log
            .iter()
            .filter(move |e| e.side == side)
            .map(|e| &e.out)
    }

    /// Messages `side` transmitted, parsed, with the time in ms.
    pub fn sent(&self, side: u8) -> Vec<(u64, Message)> {
        self.log
            .iter()
            .filter(|e| e.side == side)
            .filter_map(|e| match &e.out {
                Output::Transmit { bytes, .. } => {
                    Some((self.ms(e.at), sip::parse_datagram(bytes.clone()).unwrap()))
                }
                _ => None,
            })
            .collect()
    }

    /// Times (ms) at which `side` transmitted a request with `method` or a response `status`.
    pub fn sent_times(&self, side: u8, what: &str) -> Vec<u64> {
        self.sent(side)
            .into_iter()
            .filter(|(_, m)| match m.status() {
                Some(s) => s.to_string() == what,
                None => m.method() == what,
            })
            .map(|(t, _)| t)
            .collect()
    }

    /// Responses delivered to the UAC TU for `id`, as status codes.
    pub fn responses(&self, id: ClientTxnId) -> Vec<u16> {
        self.outputs(UAC)
            .filter_map(|o| match o {
                Output::Response { txn, msg } if *txn == id => msg.status(),
                _ => None,
            })
            .collect()
    }

    pub fn timeouts(&self, id: ClientTxnId) -> usize {
        self.outputs(UAC)
            .filter(|o| matches!(o, Output::ClientTimeout { txn, .. } if *txn == id))
            .count()
    }

    /// Requests delivered to the UAS TU: (txn, method, cancels).
    pub fn requests(&self) -> Vec<(ServerTxnId, String, Option<ServerTxnId>)> {
        self.outputs(UAS)
            .filter_map(|o| match o {
                Output::Request {
                    txn, msg, cancels, ..
                } => Some((*txn, msg.method().to_owned(), *cancels)),
                _ => None,
            })
            .collect()
    }

    pub fn count(&self, side: u8, pred: impl Fn(&Output<u8>) -> bool) -> usize {
        self.outputs(side).filter(|o| pred(o)).count()
    }
}

/// Differences between consecutive times.
pub fn gaps(times: &[u64]) -> Vec<u64> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}
