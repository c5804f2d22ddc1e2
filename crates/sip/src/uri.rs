//! SIP and SIPS URIs (RFC 3261 §19.1, §25.1) with IPv6 references (RFC 5118), and other
//! absolute URIs kept as opaque text (tel:, urn:, …).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::scan::{is_unreserved, valid_escaped};

/// The host part of a SIP URI or Via sent-by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    Name(&'a str),
    V4(Ipv4Addr),
    /// An IPv6 reference; the text keeps its brackets.
    V6(Ipv6Addr),
}

impl Host<'_> {
    /// Parses `hostname / IPv4address / IPv6reference`.
    pub fn parse(s: &str) -> Option<Host<'_>> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner.strip_suffix(']')?;
            return parse_ipv6(inner).map(Host::V6);
        }
        if s.is_empty() {
            return None;
        }
        if s.bytes().all(|c| c.is_ascii_digit() || c == b'.')
            && let Ok(ip) = s.parse::<Ipv4Addr>()
        {
            return Some(Host::V4(ip));
        }
        let name = s.strip_suffix('.').unwrap_or(s);
        let labels_ok = name.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        });
        // §25.1 `toplabel` starts with a letter, which is what tells `192.0.2.205060` (a
        // mangled address) from a name.
        let top_ok = name
            .rsplit('.')
            .next()
            .and_then(|t| t.bytes().next())
            .is_some_and(|c| c.is_ascii_alphabetic());
        (labels_ok && top_ok).then_some(Host::Name(s))
    }

    /// True for a name that equals `other` ignoring case, or the same address.
    pub fn matches(&self, other: &str) -> bool {
        match (self, Host::parse(other)) {
            (Host::Name(a), Some(Host::Name(b))) => a.eq_ignore_ascii_case(b),
            (a, Some(b)) => *a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// An IPv6 address, also in the `2001:db8:::192.0.2.1` form that RFC 3261's ABNF allowed by
/// mistake (`hexpart ":" IPv4address` with hexpart ending in `::`); RFC 5118 §4.10 asks
/// implementations to tolerate it.
fn parse_ipv6(s: &str) -> Option<Ipv6Addr> {
    if let Ok(a) = s.parse::<Ipv6Addr>() {
        return Some(a);
    }
    let (hex, v4) = s.rsplit_once(":::")?;
    v4.parse::<Ipv4Addr>().ok()?;
    format!("{hex}::{v4}").parse().ok()
}

/// Splits `host[:port]`, where host may be an IPv6 reference.
pub fn split_hostport(s: &str) -> Option<(Host<'_>, Option<u16>)> {
    let (host, port) = if s.starts_with('[') {
        let end = s.find(']')?;
        let (h, rest) = s.split_at(end + 1);
        match rest.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if rest.is_empty() => (h, None),
            None => return None,
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|c| c.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok()?)
        }
        Some(_) => return None,
        None => None,
    };
    Some((Host::parse(host)?, port))
}

/// A parsed URI borrowing its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri<'a> {
    Sip(SipUri<'a>),
    /// Any other absoluteURI (RFC 3261 §25.1), e.g. `tel:+1-201-555-0123`.
    Other {
        scheme: &'a str,
        raw: &'a str,
    },
}

/// `sip:` or `sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri<'a> {
    pub raw: &'a str,
    pub secure: bool,
    /// Still escaped, as on the wire.
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    pub host: Host<'a>,
    pub host_text: &'a str,
    pub port: Option<u16>,
    /// The `;params` text without the leading `;`, empty if none.
    pub params: &'a str,
    /// The `?headers` text without the `?`, if any.
    pub headers: Option<&'a str>,
}

fn is_user_char(c: u8) -> bool {
    is_unreserved(c) || b"&=+$,;?/".contains(&c)
}

fn is_password_char(c: u8) -> bool {
    is_unreserved(c) || b"&=+$,".contains(&c)
}

fn is_param_char(c: u8) -> bool {
    is_unreserved(c) || b"[]/:&+$=;".contains(&c)
}

fn is_header_char(c: u8) -> bool {
    is_unreserved(c) || b"[]/?:+$=&".contains(&c)
}

impl<'a> Uri<'a> {
    /// Parses a URI with no surrounding white space.
    pub fn parse(s: &'a str) -> Option<Uri<'a>> {
        let colon = s.find(':')?;
        let scheme = s.get(..colon)?;
        let first = scheme.bytes().next()?;
        if !first.is_ascii_alphabetic()
            || !scheme
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
        {
            return None;
        }
        let rest = s.get(colon + 1..)?;
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            return SipUri::parse(s, scheme.len() == 4, rest).map(Uri::Sip);
        }
        let opaque_ok = !rest.is_empty()
            && rest
                .bytes()
                .all(|c| c > b' ' && c != 0x7f && !b"<>\"".contains(&c));
        opaque_ok.then_some(Uri::Other { scheme, raw: s })
    }

    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Other { .. } => None,
        }
    }

    pub fn raw(&self) -> &'a str {
        match self {
            Uri::Sip(u) => u.raw,
            Uri::Other { raw, .. } => raw,
        }
    }
}

impl<'a> SipUri<'a> {
    fn parse(raw: &'a str, secure: bool, rest: &'a str) -> Option<SipUri<'a>> {
        // The userinfo ends at the last '@' before any '?' (users may contain ';' and '?').
        let (userinfo, after) = match rest.rfind('@') {
            Some(at) => (Some(rest.get(..at)?), rest.get(at + 1..)?),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(ui) => {
                let (u, p) = match ui.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (ui, None),
                };
                if u.is_empty() || !valid_escaped(u, is_user_char) {
                    return None;
                }
                if let Some(p) = p
                    && !valid_escaped(p, is_password_char)
                {
                    return None;
                }
                (Some(u), p)
            }
            None => (None, None),
        };
        let (before_headers, headers) = match after.split_once('?') {
            Some((b, h)) => (b, Some(h)),
            None => (after, None),
        };
        let (hostport, params) = match before_headers.split_once(';') {
            Some((hp, p)) => (hp, p),
            None => (before_headers, ""),
        };
        let (host, port) = split_hostport(hostport)?;
        let host_text = match hostport.rfind(':') {
            Some(i) if port.is_some() => hostport.get(..i)?,
            _ => hostport,
        };
        if !params.is_empty()
            && (!params
                .split(';')
                .all(|p| !p.is_empty() && valid_escaped(p, is_param_char))
                || has_repeated_name(params))
        {
            return None;
        }
        if let Some(h) = headers
            && (h.is_empty() || !valid_escaped(h, is_header_char))
        {
            return None;
        }
        Some(SipUri {
            raw,
            secure,
            user,
            password,
            host,
            host_text,
            port,
            params,
            headers,
        })
    }

    /// The value of a URI parameter (`Some("")` for a flag such as `lr`).
    pub fn param(&self, name: &str) -> Option<&'a str> {
        param_lookup(self.params, ';', name)
    }

    /// The `transport` parameter, lower-cased, defaulting per RFC 3261 §19.1.4.
    pub fn transport(&self) -> Option<&'a str> {
        self.param("transport")
    }

    /// The user part with `%HH` escapes decoded.
    pub fn user_unescaped(&self) -> Option<String> {
        self.user.map(unescape)
    }
}

/// §19.1.1: "any given parameter name MUST NOT appear more than once" (names compare
/// case-insensitively); sorting keeps a long hostile list at n log n.
fn has_repeated_name(params: &str) -> bool {
    let mut names: Vec<&str> = params
        .split(';')
        .map(|p| p.split('=').next().unwrap_or(""))
        .collect();
    let lower = |s: &str| {
        s.bytes()
            .map(|c| c.to_ascii_lowercase())
            .collect::<Vec<u8>>()
    };
    names.sort_unstable_by_key(|n| lower(n));
    names.windows(2).any(|w| match w {
        [a, b] => a.eq_ignore_ascii_case(b),
        _ => false,
    })
}

/// Finds `name[=value]` in a `sep`-separated parameter list, ignoring case of the name.
pub fn param_lookup<'a>(params: &'a str, sep: char, name: &str) -> Option<&'a str> {
    params.split(sep).find_map(|p| {
        let p = p.trim_matches([' ', '\t']);
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => (k.trim_matches([' ', '\t']), v.trim_matches([' ', '\t'])),
            None => (p, ""),
        };
        k.eq_ignore_ascii_case(name).then_some(v)
    })
}

/// Decodes `%HH` escapes; invalid escapes are kept literally.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri<'_> {
        match Uri::parse(s) {
            Some(Uri::Sip(u)) => u,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn basic_forms() {
        let u = sip("sip:alice:secret@example.com:5070;transport=tcp;lr?subject=x");
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("secret"));
        assert_eq!(u.host, Host::Name("example.com"));
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.transport(), Some("tcp"));
        assert_eq!(u.param("lr"), Some(""));
        assert_eq!(u.headers, Some("subject=x"));
        let u = sip("sips:[2001:db8::10]:5061");
        assert!(u.secure);
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.host_text, "[2001:db8::10]");
        let u = sip("sip:[2001:db8:::192.0.2.1]");
        assert_eq!(u.host, sip("sip:[2001:db8::192.0.2.1]").host);
    }

    #[test]
    fn semicolon_in_user() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert_eq!(u.host, Host::Name("example.com"));
    }

    #[test]
    fn rejects_bad() {
        for bad in [
            "sip:[2001:db8::10",
            "sip:[2001:db8:::1]",
            "sip:[2001:db8::::192.0.2.1]",
            "sip:user@exa mple.com",
            "sip:%zz@host",
            "sip:host:99999",
            "sip:192.0.2.205060",
            "sip:x@h;lr;LR",
            "sip:x@h;transport=tcp;maddr=a;transport=udp",
            "sip:x@host.123",
            "sip:",
            "<sip:x@y>",
        ] {
            assert!(
                Uri::parse(bad).and_then(|u| u.as_sip().cloned()).is_none(),
                "{bad}"
            );
        }
        assert!(matches!(
            Uri::parse("tel:+1-201-555-0123"),
            Some(Uri::Other { .. })
        ));
    }
}
