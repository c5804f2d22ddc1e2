//! The RTP port pool: even RTP ports with RTCP on the next odd port (RFC 3550 §11), taken
//! from a configured range and given back when the endpoint closes (the lease is dropped).
//!
//! Binding is done here, synchronously: a `bind` is one system call, so callers on the SIP
//! thread can open an endpoint without waiting for another task. A port another program
//! holds is skipped; when every pair is taken the pool answers `NoPorts` (503 upstream).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use crate::MediaError;

/// The shared pool; cheap to clone.
#[derive(Debug, Clone)]
pub struct PortPool {
    inner: Arc<Mutex<Inner>>,
    ip: IpAddr,
}

#[derive(Debug)]
struct Inner {
    min: u16,
    max: u16,
    /// Where the next search starts, so a released port is not reused at once (late packets
    /// of the previous call would land in the next one).
    next: u16,
    in_use: HashSet<u16>,
}

/// An RTP/RTCP socket pair; its ports return to the pool when dropped.
#[derive(Debug)]
pub struct Lease {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub port: u16,
    pool: PortPool,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.pool.inner.lock() {
            inner.in_use.remove(&self.port);
        }
    }
}

impl Lease {
    pub fn local(&self) -> SocketAddr {
        SocketAddr::new(self.pool.ip, self.port)
    }
}

impl PortPool {
    /// A pool over the even ports of `min..=max` (the range is rounded inwards to even RTP
    /// ports whose RTCP port is still in range).
    pub fn new(ip: IpAddr, min: u16, max: u16) -> PortPool {
        let min = min.saturating_add(min % 2);
        PortPool {
            inner: Arc::new(Mutex::new(Inner {
                min,
                max,
                next: min,
                in_use: HashSet::new(),
            })),
            ip,
        }
    }

    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// Ports currently leased.
    pub fn in_use(&self) -> usize {
        self.inner.lock().map(|i| i.in_use.len()).unwrap_or(0)
    }

    /// Binds the next free even port and its RTCP neighbour.
    pub fn allocate(&self) -> Result<Lease, MediaError> {
        let mut inner = self.inner.lock().map_err(|_| MediaError::NoPorts)?;
        let pairs = usize::from(inner.max.saturating_sub(inner.min)) / 2 + 1;
        for _ in 0..pairs {
            let port = inner.next;
            inner.next = match port.checked_add(2) {
                Some(p) if p.checked_add(1).is_some_and(|r| r <= inner.max) => p,
                _ => inner.min,
            };
            if port.checked_add(1).is_none_or(|r| r > inner.max) || inner.in_use.contains(&port) {
                continue;
            }
            let Ok(rtp) = UdpSocket::bind(SocketAddr::new(self.ip, port)) else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(self.ip, port.saturating_add(1))) else {
                continue;
            };
            if rtp.set_nonblocking(true).is_err() || rtcp.set_nonblocking(true).is_err() {
                continue;
            }
            inner.in_use.insert(port);
            return Ok(Lease {
                rtp,
                rtcp,
                port,
                pool: self.clone(),
            });
        }
        Err(MediaError::NoPorts)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn pool(min: u16, max: u16) -> PortPool {
        PortPool::new(IpAddr::from([127, 0, 0, 1]), min, max)
    }

    #[test]
    fn even_rtp_port_and_rtcp_neighbour() {
        let p = pool(41_001, 41_099);
        let l = p.allocate().unwrap();
        assert_eq!(l.port % 2, 0);
        assert_eq!(l.rtcp.local_addr().unwrap().port(), l.port + 1);
        assert!(l.port >= 41_002);
    }

    #[test]
    fn exhaustion_then_release() {
        let p = pool(41_200, 41_203);
        let a = p.allocate().unwrap();
        let b = p.allocate().unwrap();
        assert_ne!(a.port, b.port);
        assert!(matches!(p.allocate(), Err(MediaError::NoPorts)));
        assert_eq!(p.in_use(), 2);
        let freed = a.port;
        drop(a);
        let c = p.allocate().unwrap();
        assert_eq!(c.port, freed);
    }

    #[test]
    fn busy_ports_are_skipped() {
        let squatter = UdpSocket::bind("127.0.0.1:41300").unwrap();
        let p = pool(41_300, 41_303);
        let l = p.allocate().unwrap();
        assert_eq!(l.port, 41_302);
        drop(squatter);
    }
}
