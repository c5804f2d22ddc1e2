//! UDP and TCP transports (RFC 3261 §18) and the connection table.
//!
//! Receive paths run in their own tasks: they drop banned sources and scanners, parse, answer
//! unparsable requests statelessly, stamp the source for `received`/`rport` (RFC 3581), and
//! pass messages to the core. Sending is done by the core through [`Transports`]; TCP
//! connections are reused in both directions (§18.2.2, §18.1.1), and a missing connection to a
//! device is opened on demand. TLS and WebSocket slot in as further [`Transport`] variants
//! whose connection tasks feed the same events.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use services::bans::{BanList, is_scanner};
use sip::framer::Frame;
use sip::{Framer, Framing, HeaderName, Limits, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::errors::stateless_error;
use crate::{ServerError, SipConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }

    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }

    pub fn from_token(t: &str) -> Option<Transport> {
        if t.eq_ignore_ascii_case("udp") {
            Some(Transport::Udp)
        } else if t.eq_ignore_ascii_case("tcp") {
            Some(Transport::Tcp)
        } else {
            None
        }
    }
}

/// Where a message goes: a transport and the peer's address (on TCP, the connection to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    pub transport: Transport,
    pub addr: SocketAddr,
}

/// What transports and helper tasks tell the core.
pub enum Event {
    Incoming {
        msg: Message,
        target: Target,
    },
    ConnOpened {
        addr: SocketAddr,
        tx: mpsc::Sender<Bytes>,
    },
    ConnClosed {
        addr: SocketAddr,
    },
    ConnectFailed {
        addr: SocketAddr,
    },
    Directory(services::directory::Directory),
    /// Work a helper task hands back to the core once its I/O is done (e.g. answering a
    /// request after the store write it waited for): run on the core thread.
    Deferred(Deferred),
}

/// A closure run on the core thread (`Event::Deferred`).
pub struct Deferred(pub Box<dyn FnOnce(&mut crate::core::Core) + Send>);

#[derive(Clone)]
struct RxContext {
    events: mpsc::Sender<Event>,
    bans: BanList,
    limits: Limits,
    idle: Duration,
}

/// The sending half, owned by the core.
pub struct Transports {
    udp: Vec<(SocketAddr, Arc<UdpSocket>)>,
    tcp: Vec<SocketAddr>,
    conns: HashMap<SocketAddr, mpsc::Sender<Bytes>>,
    connecting: HashMap<SocketAddr, Vec<Bytes>>,
    local_ip_cache: HashMap<IpAddr, IpAddr>,
    rx: RxContext,
}

pub async fn bind_all(
    cfg: &SipConfig,
    events: mpsc::Sender<Event>,
    bans: BanList,
) -> Result<Transports, ServerError> {
    let rx = RxContext {
        events,
        bans,
        limits: Limits {
            max_size: cfg.max_message_size,
            ..Limits::default()
        },
        idle: cfg.tcp_idle_timeout,
    };
    let mut t = Transports {
        udp: Vec::new(),
        tcp: Vec::new(),
        conns: HashMap::new(),
        connecting: HashMap::new(),
        local_ip_cache: HashMap::new(),
        rx: rx.clone(),
    };
    // Port 0 on one address for both UDP and TCP means one OS-chosen port for both, so phones
    // that mix transports (see phones/NOTES.md §1.9) reach both: bind them as a pair.
    let mut pairs: HashMap<IpAddr, (std::net::UdpSocket, std::net::TcpListener)> = HashMap::new();
    for (transport, addr) in &cfg.listen {
        let both = cfg
            .listen
            .iter()
            .any(|(t, a)| *t != *transport && a.ip() == addr.ip() && a.port() == 0);
        if *transport == Transport::Udp && addr.port() == 0 && both {
            let pair = bind_pair(addr.ip()).map_err(|source| ServerError::Bind {
                transport: *transport,
                addr: *addr,
                source,
            })?;
            pairs.insert(addr.ip(), pair);
        }
    }
    for (transport, requested) in &cfg.listen {
        let addr = requested;
        let bind_err = |source| ServerError::Bind {
            transport: *transport,
            addr: *addr,
            source,
        };
        let paired = if addr.port() == 0 {
            pairs.get_mut(&addr.ip())
        } else {
            None
        };
        match transport {
            Transport::Udp => {
                let sock = match paired.and_then(|(u, _)| u.try_clone().ok()) {
                    Some(std_sock) => UdpSocket::from_std(std_sock).map_err(bind_err)?,
                    None => UdpSocket::bind(addr).await.map_err(bind_err)?,
                };
                let sock = Arc::new(sock);
                let local = sock.local_addr().map_err(bind_err)?;
                tokio::spawn(udp_loop(sock.clone(), rx.clone()));
                t.udp.push((local, sock));
            }
            Transport::Tcp => {
                let listener = match paired.and_then(|(_, l)| l.try_clone().ok()) {
                    Some(std_listener) => TcpListener::from_std(std_listener).map_err(bind_err)?,
                    None => TcpListener::bind(addr).await.map_err(bind_err)?,
                };
                let local = listener.local_addr().map_err(bind_err)?;
                tokio::spawn(tcp_accept_loop(listener, rx.clone()));
                t.tcp.push(local);
            }
        }
    }
    Ok(t)
}

/// A UDP socket and a TCP listener on the same OS-chosen port of `ip` (retrying when the
/// port the OS gave the UDP socket is taken for TCP).
fn bind_pair(ip: IpAddr) -> std::io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    let mut last = std::io::Error::other("no free port pair");
    for _ in 0..32 {
        let udp = std::net::UdpSocket::bind(SocketAddr::new(ip, 0))?;
        let port = udp.local_addr()?.port();
        match std::net::TcpListener::bind(SocketAddr::new(ip, port)) {
            Ok(tcp) => {
                udp.set_nonblocking(true)?;
                tcp.set_nonblocking(true)?;
                return Ok((udp, tcp));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

impl Transports {
    /// A sender into the core's event queue, for helper tasks (`Event::Deferred`).
    pub fn events(&self) -> mpsc::Sender<Event> {
        self.rx.events.clone()
    }

    pub fn listeners(&self) -> Vec<(Transport, SocketAddr)> {
        let udp = self.udp.iter().map(|(a, _)| (Transport::Udp, *a));
        udp.chain(self.tcp.iter().map(|a| (Transport::Tcp, *a)))
            .collect()
    }

    /// Sends bytes; on TCP opens a connection when none exists. Returns false when the
    /// message cannot be sent at all (no listener of that transport).
    pub fn send(&mut self, target: Target, bytes: Bytes) -> bool {
        match target.transport {
            Transport::Udp => {
                let sock = self
                    .udp
                    .iter()
                    .find(|(a, _)| a.is_ipv4() == target.addr.is_ipv4())
                    .or(self.udp.first());
                match sock {
                    Some((_, s)) => {
                        if let Err(e) = s.try_send_to(&bytes, target.addr) {
                            debug!(peer = %target.addr, error = %e, "udp send failed");
                        }
                        true
                    }
                    None => false,
                }
            }
            Transport::Tcp => {
                if let Some(tx) = self.conns.get(&target.addr) {
                    if tx.try_send(bytes.clone()).is_ok() {
                        return true;
                    }
                    self.conns.remove(&target.addr);
                }
                if self.tcp.is_empty() {
                    return false;
                }
                let queue = self.connecting.entry(target.addr).or_default();
                queue.push(bytes);
                if queue.len() == 1 {
                    tokio::spawn(tcp_connect(target.addr, self.rx.clone()));
                }
                true
            }
        }
    }

    pub fn conn_opened(&mut self, addr: SocketAddr, tx: mpsc::Sender<Bytes>) {
        for b in self.connecting.remove(&addr).unwrap_or_default() {
            let _ = tx.try_send(b);
        }
        self.conns.insert(addr, tx);
    }

    pub fn conn_closed(&mut self, addr: SocketAddr) {
        self.conns.remove(&addr);
    }

    pub fn connect_failed(&mut self, addr: SocketAddr) {
        self.connecting.remove(&addr);
    }

    /// The address to put in our Via and Contact for messages to `peer`.
    pub fn local_addr(&mut self, transport: Transport, peer: IpAddr) -> SocketAddr {
        let bound = match transport {
            Transport::Udp => self
                .udp
                .iter()
                .map(|(a, _)| *a)
                .find(|a| a.is_ipv4() == peer.is_ipv4()),
            Transport::Tcp => self
                .tcp
                .iter()
                .copied()
                .find(|a| a.is_ipv4() == peer.is_ipv4()),
        };
        let bound = bound
            .or_else(|| self.udp.first().map(|(a, _)| *a))
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5060)));
        if !bound.ip().is_unspecified() {
            return bound;
        }
        let ip = *self
            .local_ip_cache
            .entry(peer)
            .or_insert_with(|| route_source(peer).unwrap_or(bound.ip()));
        SocketAddr::new(ip, bound.port())
    }
}

/// The local address the OS would use to reach `peer` (no packet is sent).
fn route_source(peer: IpAddr) -> Option<IpAddr> {
    let any: SocketAddr = if peer.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let s = std::net::UdpSocket::bind(any).ok()?;
    s.connect(SocketAddr::new(peer, 9)).ok()?;
    s.local_addr().ok().map(|a| a.ip())
}

/// Checks shared by every receive path. Returns the message to hand to the core, or the
/// bytes of a stateless error response.
fn accept_bytes(
    raw: Bytes,
    peer: SocketAddr,
    framing: Framing,
    ctx: &RxContext,
) -> Result<Option<Message>, Option<Bytes>> {
    if ctx.bans.is_banned(peer.ip(), Instant::now()) {
        return Ok(None);
    }
    match Message::parse(raw.clone(), framing, &ctx.limits) {
        Ok(mut msg) => {
            if msg.header(HeaderName::UserAgent).is_some_and(is_scanner) {
                return Ok(None);
            }
            msg.set_received(peer);
            Ok(Some(msg))
        }
        Err(e) => {
            debug!(peer = %peer, error = %e, "unparsable message");
            Err(e
                .status()
                .and_then(|(code, reason)| stateless_error(&raw, code, reason, &e.to_string())))
        }
    }
}

async fn udp_loop(sock: Arc<UdpSocket>, ctx: RxContext) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP errors surface here on some systems; they are not fatal.
                debug!(error = %e, "udp receive error");
                continue;
            }
        };
        let data = buf.get(..n).unwrap_or_default();
        if data.iter().all(|c| c.is_ascii_whitespace() || *c == 0) {
            continue; // keep-alive
        }
        match accept_bytes(Bytes::copy_from_slice(data), peer, Framing::Datagram, &ctx) {
            Ok(Some(msg)) => {
                let target = Target {
                    transport: Transport::Udp,
                    addr: peer,
                };
                if ctx
                    .events
                    .try_send(Event::Incoming { msg, target })
                    .is_err()
                {
                    warn!(peer = %peer, "core overloaded, datagram dropped");
                }
            }
            Ok(None) => {}
            Err(Some(resp)) => {
                let _ = sock.try_send_to(&resp, peer);
            }
            Err(None) => {}
        }
    }
}

async fn tcp_accept_loop(listener: TcpListener, ctx: RxContext) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if ctx.bans.is_banned(peer.ip(), Instant::now()) {
                    continue;
                }
                tokio::spawn(tcp_conn(stream, peer, ctx.clone()));
            }
            Err(e) => {
                warn!(error = %e, "tcp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn tcp_connect(addr: SocketAddr, ctx: RxContext) {
    let conn = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await;
    match conn {
        Ok(Ok(stream)) => tcp_conn(stream, addr, ctx).await,
        _ => {
            info!(peer = %addr, "tcp connect failed");
            let _ = ctx.events.send(Event::ConnectFailed { addr }).await;
        }
    }
}

async fn tcp_conn(stream: TcpStream, peer: SocketAddr, ctx: RxContext) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Bytes>(1024);
    if ctx
        .events
        .send(Event::ConnOpened {
            addr: peer,
            tx: tx.clone(),
        })
        .await
        .is_err()
    {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            if wr.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    let mut framer = Framer::new(ctx.limits.max_size);
    let mut buf = vec![0u8; 16_384];
    'conn: loop {
        let n = match tokio::time::timeout(ctx.idle, rd.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => n,
        };
        framer.push(buf.get(..n).unwrap_or_default());
        loop {
            match framer.next_frame() {
                Ok(None) => break,
                Ok(Some(Frame::Ping)) => {
                    let _ = tx.try_send(Bytes::from_static(b"\r\n"));
                }
                Ok(Some(Frame::Message(raw))) => {
                    match accept_bytes(raw, peer, Framing::Stream, &ctx) {
                        Ok(Some(msg)) => {
                            let target = Target {
                                transport: Transport::Tcp,
                                addr: peer,
                            };
                            if ctx
                                .events
                                .send(Event::Incoming { msg, target })
                                .await
                                .is_err()
                            {
                                break 'conn;
                            }
                        }
                        Ok(None) => {}
                        Err(resp) => {
                            if let Some(resp) = resp {
                                let _ = tx.send(resp).await;
                            }
                        }
                    }
                }
                Err(e) => {
                    // The stream cannot be resynchronised (RFC 3261 §18.3).
                    debug!(peer = %peer, error = %e, "tcp framing error, closing");
                    break 'conn;
                }
            }
        }
    }
    drop(tx);
    let _ = ctx.events.send(Event::ConnClosed { addr: peer }).await;
    writer.abort();
}
