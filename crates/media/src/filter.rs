//! Source filtering for one RTP leg: which transport address may send us media.
//!
//! Media from any address other than the negotiated peer is dropped (issue 5). The default is
//! [`Latching::Strict`]: the exact address and port from the peer's SDP (`c=` + `m=` port,
//! RFC 4566 §5.7/§5.14), or, for RTCP, that port + 1 (RFC 3550 §11) or the RTP address itself
//! with `a=rtcp-mux` (RFC 5761). [`Latching::SameIp`] is symmetric RTP (RFC 4961) for peers
//! behind a port-rewriting NAT: during a short window after the leg starts, the first packet
//! from the negotiated peer's *IP address* (any port) latches that address, and from then on
//! the filter is strict again on the latched address; media is also sent there. Media from
//! the exact negotiated address closes the window as well. A different IP address is never
//! accepted, so a third party cannot hijack the stream.
//!
//! Does not: parse packets, look at SSRCs, or rate-limit (the I/O side does that).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How strictly a leg checks the source address of incoming media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Latching {
    /// Only the exact negotiated address and port (default).
    #[default]
    Strict,
    /// Symmetric RTP: within `window` after the leg starts, the first packet whose source IP
    /// equals the negotiated IP latches its port; strict afterwards.
    SameIp {
        /// How long after the leg starts a latch may happen.
        window: Duration,
    },
}

/// Why an incoming packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Not from the negotiated (or latched) peer.
    WrongSource,
    /// The remote address is unspecified (`0.0.0.0`, hold) or unknown.
    NoPeer,
    /// Not an RTP/RTCP packet of ours (bad version, too short, unknown payload type).
    Malformed,
}

/// Per-leg source filter; see the module doc for the rules.
#[derive(Debug, Clone)]
pub struct SourceFilter {
    rtp: SocketAddr,
    rtcp: Option<SocketAddr>,
    latching: Latching,
    start: Instant,
    latched: bool,
}

impl SourceFilter {
    /// A filter for a peer whose negotiated RTP address is `rtp` and RTCP address `rtcp`
    /// (`None` when RTCP is multiplexed or not used).
    pub fn new(
        now: Instant,
        rtp: SocketAddr,
        rtcp: Option<SocketAddr>,
        latching: Latching,
    ) -> Self {
        SourceFilter {
            rtp,
            rtcp,
            latching,
            start: now,
            latched: false,
        }
    }

    /// Where media for this peer is sent (the latched address once latched).
    pub fn rtp_peer(&self) -> SocketAddr {
        self.rtp
    }

    /// Where RTCP for this peer is sent: the RTCP address, or the RTP address when muxed.
    pub fn rtcp_peer(&self) -> SocketAddr {
        self.rtcp.unwrap_or(self.rtp)
    }

    /// Checks an RTP packet's source; may latch (see [`Latching::SameIp`]).
    #[inline]
    pub fn check_rtp(&mut self, now: Instant, from: SocketAddr) -> Result<(), DropReason> {
        if from == self.rtp && !self.rtp.ip().is_unspecified() {
            // Media from the negotiated address itself ends the latching window early.
            self.latched = true;
            return Ok(());
        }
        if self.rtp.ip().is_unspecified() || self.rtp.port() == 0 {
            return Err(DropReason::NoPeer);
        }
        if self.may_latch(now, from) {
            let shift = i32::from(from.port()) - i32::from(self.rtp.port());
            self.rtp = from;
            if let Some(rtcp) = self.rtcp.as_mut() {
                let port = i32::from(rtcp.port()) + shift;
                rtcp.set_port(u16::try_from(port).unwrap_or(from.port().wrapping_add(1)));
            }
            self.latched = true;
            return Ok(());
        }
        Err(DropReason::WrongSource)
    }

    /// Checks an RTCP packet's source (never latches: RTP decides the peer's address).
    #[inline]
    pub fn check_rtcp(&self, from: SocketAddr) -> Result<(), DropReason> {
        if self.rtp.ip().is_unspecified() {
            return Err(DropReason::NoPeer);
        }
        if from == self.rtcp_peer() || from == self.rtp {
            Ok(())
        } else {
            Err(DropReason::WrongSource)
        }
    }

    fn may_latch(&self, now: Instant, from: SocketAddr) -> bool {
        match self.latching {
            Latching::Strict => false,
            Latching::SameIp { window } => {
                !self.latched
                    && from.ip() == self.rtp.ip()
                    && now.saturating_duration_since(self.start) <= window
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn strict_accepts_only_the_negotiated_address() {
        let t0 = Instant::now();
        let mut f = SourceFilter::new(
            t0,
            addr("10.0.0.1:4000"),
            Some(addr("10.0.0.1:4001")),
            Latching::Strict,
        );
        assert_eq!(f.check_rtp(t0, addr("10.0.0.1:4000")), Ok(()));
        assert_eq!(
            f.check_rtp(t0, addr("10.0.0.1:4002")),
            Err(DropReason::WrongSource)
        );
        assert_eq!(
            f.check_rtp(t0, addr("10.0.0.2:4000")),
            Err(DropReason::WrongSource)
        );
        assert_eq!(f.check_rtcp(addr("10.0.0.1:4001")), Ok(()));
        assert_eq!(
            f.check_rtcp(addr("10.0.0.9:4001")),
            Err(DropReason::WrongSource)
        );
    }

    #[test]
    fn same_ip_latches_once_within_the_window() {
        let t0 = Instant::now();
        let latching = Latching::SameIp {
            window: Duration::from_secs(2),
        };
        let mut f = SourceFilter::new(
            t0,
            addr("10.0.0.1:4000"),
            Some(addr("10.0.0.1:4001")),
            latching,
        );
        assert_eq!(
            f.check_rtp(t0, addr("10.0.0.2:5000")),
            Err(DropReason::WrongSource)
        );
        assert_eq!(f.check_rtp(t0, addr("10.0.0.1:6000")), Ok(()));
        assert_eq!(f.rtp_peer(), addr("10.0.0.1:6000"));
        assert_eq!(f.rtcp_peer(), addr("10.0.0.1:6001"));
        assert_eq!(
            f.check_rtp(t0, addr("10.0.0.1:4000")),
            Err(DropReason::WrongSource)
        );
    }

    #[test]
    fn same_ip_does_not_latch_after_the_window() {
        let t0 = Instant::now();
        let latching = Latching::SameIp {
            window: Duration::from_secs(2),
        };
        let mut f = SourceFilter::new(t0, addr("10.0.0.1:4000"), None, latching);
        let late = t0 + Duration::from_secs(3);
        assert_eq!(
            f.check_rtp(late, addr("10.0.0.1:6000")),
            Err(DropReason::WrongSource)
        );
    }

    #[test]
    fn media_from_the_negotiated_address_closes_the_window() {
        let t0 = Instant::now();
        let latching = Latching::SameIp {
            window: Duration::from_secs(2),
        };
        let mut f = SourceFilter::new(t0, addr("10.0.0.1:4000"), None, latching);
        assert_eq!(f.check_rtp(t0, addr("10.0.0.1:4000")), Ok(()));
        assert_eq!(
            f.check_rtp(t0, addr("10.0.0.1:6000")),
            Err(DropReason::WrongSource)
        );
    }

    #[test]
    fn hold_address_accepts_nothing() {
        let t0 = Instant::now();
        let mut f = SourceFilter::new(t0, addr("0.0.0.0:4000"), None, Latching::Strict);
        assert_eq!(
            f.check_rtp(t0, addr("0.0.0.0:4000")),
            Err(DropReason::NoPeer)
        );
    }
}
