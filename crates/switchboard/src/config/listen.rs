//! SIP listen addresses: `udp:IP:PORT`, `tcp:IP:PORT`, or bare `IP:PORT` for both.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// A SIP transport the server can listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    Udp,
    Tcp,
}

impl TransportKind {
    /// The `transport=` token (RFC 3261 §19.1.1), lower case.
    pub fn token(self) -> &'static str {
        match self {
            TransportKind::Udp => "udp",
            TransportKind::Tcp => "tcp",
        }
    }
}

/// One socket to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenSpec {
    pub transport: TransportKind,
    pub addr: SocketAddr,
}

impl fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport.token(), self.addr)
    }
}

/// One entry of `sip.listen` as written; a bare address stands for UDP and TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct ListenEntry {
    /// `None` means both UDP and TCP.
    pub transport: Option<TransportKind>,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid listen address {0:?}: expected udp:IP:PORT, tcp:IP:PORT or IP:PORT")]
pub struct ListenParseError(String);

impl ListenEntry {
    /// The sockets this entry stands for, UDP first.
    pub fn specs(self) -> impl Iterator<Item = ListenSpec> {
        let transports: &[TransportKind] = match self.transport {
            Some(TransportKind::Udp) => &[TransportKind::Udp],
            Some(TransportKind::Tcp) => &[TransportKind::Tcp],
            None => &[TransportKind::Udp, TransportKind::Tcp],
        };
        transports.iter().map(move |&transport| ListenSpec {
            transport,
            addr: self.addr,
        })
    }
}

impl FromStr for ListenEntry {
    type Err = ListenParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (transport, rest) = match s.split_once(':') {
            Some((t, rest)) if t.eq_ignore_ascii_case("udp") => (Some(TransportKind::Udp), rest),
            Some((t, rest)) if t.eq_ignore_ascii_case("tcp") => (Some(TransportKind::Tcp), rest),
            _ => (None, s),
        };
        let addr = rest.parse().map_err(|_| ListenParseError(s.to_owned()))?;
        Ok(ListenEntry { transport, addr })
    }
}

impl TryFrom<String> for ListenEntry {
    type Error = ListenParseError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for ListenEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.transport {
            Some(t) => write!(f, "{}:{}", t.token(), self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_forms() {
        let udp: ListenEntry = "udp:0.0.0.0:5060".parse().unwrap();
        assert_eq!(udp.transport, Some(TransportKind::Udp));
        let tcp: ListenEntry = "TCP:[::1]:5070".parse().unwrap();
        assert_eq!(tcp.transport, Some(TransportKind::Tcp));
        assert_eq!(tcp.addr, "[::1]:5070".parse().unwrap());
        let both: ListenEntry = "127.0.0.1:5060".parse().unwrap();
        let specs: Vec<String> = both.specs().map(|s| s.to_string()).collect();
        assert_eq!(specs, ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"]);
        for s in ["udp:0.0.0.0:5060", "tcp:[::]:5060", "10.0.0.1:5"] {
            assert_eq!(s.parse::<ListenEntry>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "udp:",
            "udp:0.0.0.0",
            "tls:0.0.0.0:5061",
            "::1:5060",
            "host:5060",
            "udp:0.0.0.0:70000",
        ] {
            assert!(bad.parse::<ListenEntry>().is_err(), "{bad}");
        }
    }
}
