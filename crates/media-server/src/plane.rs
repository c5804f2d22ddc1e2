//! The relay data plane: a few dedicated threads (one per CPU the process may run on, at
//! most [`MAX_THREADS`]), each owning the sockets of the anchored calls given to it and
//! waiting on all of them with one level-triggered epoll set (`epoll(7)` through `rustix`).
//!
//! Why not one tokio task per call: tokio's readiness is edge-triggered, so every forwarded
//! datagram cost a second `recvfrom` that returned `EAGAIN` (to re-arm the readiness), a task
//! wake-up and, at low load, an `epoll_wait` of its own. Here one readiness event is one
//! `recvfrom` that succeeds and one `sendto`; at load one `epoll_wait` returns many events,
//! and nothing else runs between them. A socket with two datagrams queued is simply reported
//! again by the next wait.
//!
//! Control (open, a phone's new description, close) arrives over a channel; the sender writes
//! an `eventfd` the epoll set watches, and the thread drains the channel after every wait
//! before it handles socket events. Inactivity is checked without a timer per call: the
//! thread keeps the earliest deadline any call may have (activity only moves a call's
//! deadline later), wakes then, reports the calls that are due and computes the next one.
//!
//! Does not: judge datagrams (`media::Relay` via `relay::Call`), or move a call between
//! threads once opened. Calls are given to the threads round-robin.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use media::Leg;
use rustix::buffer::spare_capacity;
use rustix::event::{EventfdFlags, Timespec, epoll, eventfd};
use rustix::fd::OwnedFd;
use tracing::{debug, warn};

use crate::MediaError;
use crate::negotiate::Peer;
use crate::pool::Lease;
use crate::relay::{Call, Watch};

/// Relay threads at most, whatever the CPU count.
pub(crate) const MAX_THREADS: usize = 4;
/// Readiness events taken per `epoll_wait`.
const EVENTS: usize = 256;
/// The largest datagram relayed whole (RTP over UDP stays far below the Ethernet MTU).
const DATAGRAM: usize = 2048;
/// Event key of the wake-up `eventfd`; calls use `slot << 2 | socket`.
const WAKE: u64 = u64::MAX;
/// Longest single wait (keeps the timeout within what `epoll_wait` takes).
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// What a relay thread is told.
pub(crate) enum Cmd {
    Open {
        id: u64,
        a: Lease,
        b: Lease,
        watch: Watch,
    },
    Peer {
        id: u64,
        leg: Leg,
        peer: Peer,
    },
    Close {
        id: u64,
    },
    Stop,
}

struct Inner {
    tx: mpsc::Sender<Cmd>,
    wake: Arc<OwnedFd>,
}

impl Inner {
    fn send(&self, cmd: Cmd) -> Result<(), MediaError> {
        self.tx.send(cmd).map_err(|_| MediaError::Stopped)?;
        let _ = rustix::io::write(&*self.wake, &1u64.to_ne_bytes());
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.send(Cmd::Stop);
    }
}

/// One relay thread's command side; the thread stops when the last clone is dropped.
#[derive(Clone)]
pub(crate) struct Worker(Arc<Inner>);

impl Worker {
    pub fn send(&self, cmd: Cmd) -> Result<(), MediaError> {
        self.0.send(cmd)
    }
}

/// The relay threads.
pub(crate) struct Plane {
    workers: Vec<Worker>,
    next: AtomicUsize,
}

impl Plane {
    /// Starts `threads` relay threads (at least one, at most [`MAX_THREADS`]).
    pub fn start(threads: usize) -> Result<Plane, MediaError> {
        let mut workers = Vec::new();
        for n in 0..threads.clamp(1, MAX_THREADS) {
            workers.push(spawn(n).map_err(|e| {
                warn!(error = %e, "relay thread not started");
                MediaError::Stopped
            })?);
        }
        Ok(Plane {
            workers,
            next: AtomicUsize::new(0),
        })
    }

    /// The thread the next call goes to.
    pub fn worker(&self) -> Option<Worker> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.workers.get(n % self.workers.len().max(1)).cloned()
    }
}

fn spawn(n: usize) -> std::io::Result<Worker> {
    let ep = epoll::create(epoll::CreateFlags::CLOEXEC)?;
    let wake = Arc::new(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?);
    epoll::add(
        &ep,
        &*wake,
        epoll::EventData::new_u64(WAKE),
        epoll::EventFlags::IN,
    )?;
    let (tx, rx) = mpsc::channel();
    let thread_wake = wake.clone();
    std::thread::Builder::new()
        .name(format!("relay-{n}"))
        .spawn(move || Thread::new(ep, thread_wake, rx).run())?;
    Ok(Worker(Arc::new(Inner { tx, wake })))
}

/// One relay thread's state.
struct Thread {
    ep: OwnedFd,
    wake: Arc<OwnedFd>,
    rx: mpsc::Receiver<Cmd>,
    calls: Vec<Option<Call>>,
    free: Vec<usize>,
    slots: HashMap<u64, usize>,
    /// No call's inactivity is due before this.
    next_check: Option<Instant>,
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn key(slot: usize, socket: usize) -> u64 {
    (u64::try_from(slot).unwrap_or(u64::MAX >> 2) << 2) | u64::try_from(socket & 3).unwrap_or(0)
}

impl Thread {
    fn new(ep: OwnedFd, wake: Arc<OwnedFd>, rx: mpsc::Receiver<Cmd>) -> Thread {
        Thread {
            ep,
            wake,
            rx,
            calls: Vec::new(),
            free: Vec::new(),
            slots: HashMap::new(),
            next_check: None,
        }
    }

    fn run(mut self) {
        let mut events: Vec<epoll::Event> = Vec::with_capacity(EVENTS);
        let mut buf = [0u8; DATAGRAM];
        loop {
            let timeout = self.next_check.map(|t| {
                // Rounded up to the next millisecond so a deadline is never waited for twice.
                let d = t.saturating_duration_since(Instant::now()) + Duration::from_millis(1);
                let d = d.min(MAX_WAIT);
                Timespec {
                    tv_sec: i64::try_from(d.as_secs()).unwrap_or(0),
                    tv_nsec: i64::from(d.subsec_nanos()),
                }
            });
            events.clear();
            match epoll::wait(&self.ep, spare_capacity(&mut events), timeout.as_ref()) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    warn!(error = %e, "relay thread cannot wait");
                    return;
                }
            }
            let now = Instant::now();
            // Commands first: a call closed here has its events of this wait ignored.
            if !self.commands(now) {
                break;
            }
            for ev in &events {
                let key = ev.data.u64();
                if key == WAKE {
                    let mut counter = [0u8; 8];
                    let _ = rustix::io::read(&*self.wake, &mut counter);
                    continue;
                }
                let slot = usize::try_from(key >> 2).unwrap_or(usize::MAX);
                let socket = usize::try_from(key & 3).unwrap_or(0);
                if let Some(Some(call)) = self.calls.get_mut(slot)
                    && let Some(due) = call.readable(now, socket, &mut buf)
                {
                    self.next_check = earliest(self.next_check, Some(due));
                }
            }
            if self.next_check.is_some_and(|t| t <= now) {
                self.sweep(now);
            }
        }
        debug!(calls = self.slots.len(), "relay thread stopped");
    }

    /// Reports every call whose inactivity is due; sets the next check.
    fn sweep(&mut self, now: Instant) {
        let mut next = None;
        for call in self.calls.iter_mut().flatten() {
            next = earliest(next, call.check(now));
        }
        self.next_check = next;
    }

    /// Drains the command channel; false when the thread is to stop.
    fn commands(&mut self, now: Instant) -> bool {
        loop {
            match self.rx.try_recv() {
                Ok(Cmd::Open { id, a, b, watch }) => self.open(id, Call::new(now, a, b, watch)),
                Ok(Cmd::Peer { id, leg, peer }) => {
                    let call = self
                        .slots
                        .get(&id)
                        .and_then(|&slot| self.calls.get_mut(slot))
                        .and_then(Option::as_mut);
                    if let Some(call) = call {
                        call.set_peer(now, leg, peer);
                        self.next_check = earliest(self.next_check, call.due());
                    }
                }
                Ok(Cmd::Close { id }) => self.close(id),
                Ok(Cmd::Stop) | Err(mpsc::TryRecvError::Disconnected) => return false,
                Err(mpsc::TryRecvError::Empty) => return true,
            }
        }
    }

    fn open(&mut self, id: u64, call: Call) {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.calls.push(None);
                self.calls.len().saturating_sub(1)
            }
        };
        for (ix, sock) in call.sockets().into_iter().enumerate() {
            let data = epoll::EventData::new_u64(key(slot, ix));
            if let Err(e) = epoll::add(&self.ep, sock, data, epoll::EventFlags::IN) {
                warn!(error = %e, "relay sockets unusable");
                for sock in call.sockets() {
                    let _ = epoll::delete(&self.ep, sock);
                }
                self.free.push(slot);
                return;
            }
        }
        if let Some(s) = self.calls.get_mut(slot) {
            *s = Some(call);
            self.slots.insert(id, slot);
        }
    }

    fn close(&mut self, id: u64) {
        let Some(slot) = self.slots.remove(&id) else {
            return;
        };
        if let Some(call) = self.calls.get_mut(slot).and_then(Option::take) {
            for sock in call.sockets() {
                let _ = epoll::delete(&self.ep, sock);
            }
            self.free.push(slot);
        }
    }
}
