//! Typed header values: Via (§20.42), name-addr headers From/To/Contact/Route (§20.10, §20.20,
//! §20.39), CSeq (§20.16), and digest credentials and challenges (§20.7, §20.44, §25.1).
//!
//! Values borrow from the (unfolded) header text.

use crate::message::check_version;
use crate::scan::{Scanner, is_token_char, unquote};
use crate::uri::{Host, Uri, param_lookup};

/// One Via value: `SIP/2.0/UDP host:port;params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    pub transport: &'a str,
    pub host: Host<'a>,
    pub host_text: &'a str,
    pub port: Option<u16>,
    /// Parameter text after the sent-by, starting after the first `;`, may contain LWS.
    pub params: &'a str,
}

impl<'a> Via<'a> {
    pub fn parse(v: &'a str) -> Option<Via<'a>> {
        let mut s = Scanner::new(v);
        s.skip_ws();
        let proto = s.token()?;
        if !proto.eq_ignore_ascii_case("SIP") || !s.sep(b'/') {
            return None;
        }
        let version = s.token()?;
        if !s.sep(b'/') || check_version(version).is_err() {
            return None;
        }
        let transport = s.token()?;
        if s.take_while(crate::scan::is_ws).is_empty() {
            return None;
        }
        // sent-by = host [ COLON port ], and COLON may carry white space (§25.1).
        let host_text = if s.peek() == Some(b'[') {
            let start = s.pos();
            s.take_while(|c| c != b']');
            if !s.eat(b']') {
                return None;
            }
            s.slice(start, s.pos())
        } else {
            s.take_while(|c| !matches!(c, b';' | b':' | b',' | b' ' | b'\t'))
        };
        let host = Host::parse(host_text)?;
        let port = if s.sep(b':') {
            let p = s.take_while(|c| c.is_ascii_digit());
            if p.is_empty() || p.len() > 5 {
                return None;
            }
            Some(p.parse::<u16>().ok()?)
        } else {
            None
        };
        s.skip_ws();
        let params = if s.eat(b';') {
            let p = s.rest();
            if !valid_params(p) {
                return None;
            }
            p
        } else if s.is_empty() {
            ""
        } else {
            return None;
        };
        Some(Via {
            transport,
            host,
            host_text,
            port,
            params,
        })
    }

    pub fn param(&self, name: &str) -> Option<&'a str> {
        param_lookup(self.params, ';', name)
    }

    pub fn branch(&self) -> Option<&'a str> {
        self.param("branch").filter(|b| !b.is_empty())
    }

    /// True when the branch carries the RFC 3261 magic cookie (§8.1.1.7).
    pub fn is_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with("z9hG4bK"))
    }
}

/// Generic params: `name[=token|quoted|host]` separated by `;` with optional LWS.
fn valid_params(p: &str) -> bool {
    let mut s = Scanner::new(p);
    loop {
        s.skip_ws();
        if s.token().is_none() {
            return false;
        }
        if s.sep(b'=') {
            let ok = if s.peek() == Some(b'"') {
                s.quoted().is_some()
            } else {
                !s.take_while(|c| is_token_char(c) || b"[]:".contains(&c))
                    .is_empty()
            };
            if !ok {
                return false;
            }
        }
        s.skip_ws();
        if s.is_empty() {
            return true;
        }
        if !s.eat(b';') {
            return false;
        }
    }
}

/// `[display-name] <URI> ;params` or `URI ;params` (From, To, Contact, Route, Record-Route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// Display name as written (quoted form keeps its quotes); see [`NameAddr::display`].
    pub display_raw: Option<&'a str>,
    pub uri: Uri<'a>,
    /// Header parameters after the address, without the leading `;`.
    pub params: &'a str,
}

impl<'a> NameAddr<'a> {
    pub fn parse(v: &'a str) -> Option<NameAddr<'a>> {
        let mut s = Scanner::new(v);
        s.skip_ws();
        let mut display_raw = None;
        if s.peek() == Some(b'"') {
            display_raw = Some(s.quoted()?);
            s.skip_ws();
            if s.peek() != Some(b'<') {
                return None;
            }
        } else if s.peek() != Some(b'<') {
            // Either a display name of tokens before '<' or a bare addr-spec.
            let start = s.pos();
            let before_angle = s.rest().split('<').next().unwrap_or("");
            if s.rest().contains('<') && !before_angle.contains(':') {
                let words = before_angle.trim_matches([' ', '\t']);
                if !words
                    .bytes()
                    .all(|c| is_token_char(c) || c == b' ' || c == b'\t')
                {
                    return None;
                }
                display_raw = (!words.is_empty()).then_some(words);
                s.set_pos(start + before_angle.len());
            } else {
                // addr-spec: the URI ends at ';' (header params) and may not hold '?' or ','.
                let uri_text = s.take_while(|c| c != b';' && c != b' ' && c != b'\t');
                if uri_text.contains('?') || uri_text.contains(',') {
                    return None;
                }
                let uri = Uri::parse(uri_text)?;
                let params = trailing_params(&mut s)?;
                return Some(NameAddr {
                    display_raw: None,
                    uri,
                    params,
                });
            }
        }
        if !s.eat(b'<') {
            return None;
        }
        let uri_text = s.take_while(|c| c != b'>');
        if !s.eat(b'>') {
            return None;
        }
        let uri = Uri::parse(uri_text)?;
        let params = trailing_params(&mut s)?;
        Some(NameAddr {
            display_raw,
            uri,
            params,
        })
    }

    pub fn param(&self, name: &str) -> Option<&'a str> {
        param_lookup(self.params, ';', name)
    }

    pub fn tag(&self) -> Option<&'a str> {
        self.param("tag").filter(|t| !t.is_empty())
    }

    /// The display name without quotes and escapes.
    pub fn display(&self) -> Option<String> {
        self.display_raw.map(unquote)
    }
}

fn trailing_params<'a>(s: &mut Scanner<'a>) -> Option<&'a str> {
    s.skip_ws();
    if s.is_empty() {
        return Some("");
    }
    if !s.eat(b';') {
        return None;
    }
    let p = s.rest();
    valid_params(p).then_some(p)
}

/// A Contact header value: `*` or a list of addresses (RFC 3261 §20.10).
#[derive(Debug, Clone, PartialEq)]
pub enum ContactValue<'a> {
    Star,
    Addr(NameAddr<'a>),
}

impl<'a> ContactValue<'a> {
    pub fn parse(v: &'a str) -> Option<ContactValue<'a>> {
        if v.trim_matches([' ', '\t']) == "*" {
            return Some(ContactValue::Star);
        }
        NameAddr::parse(v).map(ContactValue::Addr)
    }
}

impl NameAddr<'_> {
    /// The `expires` contact parameter, clamped to u32 (RFC 3261 §10.2.1.1).
    pub fn expires(&self) -> Option<u32> {
        self.param("expires").and_then(parse_delta_seconds)
    }

    /// The `q` contact parameter.
    pub fn q(&self) -> Option<f32> {
        self.param("q").and_then(|q| q.parse().ok())
    }
}

/// delta-seconds; values beyond 2^32-1 are taken as 2^32-1 (RFC 3261 §20.19 and §25.1).
pub fn parse_delta_seconds(s: &str) -> Option<u32> {
    let s = s.trim_matches([' ', '\t']);
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u32>().unwrap_or(u32::MAX))
}

/// `CSeq: number method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'a> {
    pub seq: u32,
    pub method: &'a str,
}

impl<'a> CSeq<'a> {
    pub fn parse(v: &'a str) -> Option<CSeq<'a>> {
        let mut s = Scanner::new(v);
        s.skip_ws();
        let digits = s.take_while(|c| c.is_ascii_digit());
        // RFC 3261 §8.1.1.5: the sequence number is less than 2^31.
        let seq: u32 = digits.parse().ok().filter(|n| *n < 1 << 31)?;
        let ws = s.take_while(crate::scan::is_ws);
        if ws.is_empty() {
            return None;
        }
        let method = s.token()?;
        s.skip_ws();
        s.is_empty().then_some(CSeq { seq, method })
    }
}

/// `Digest` credentials or challenge parameters (RFC 3261 §25.1 `digest-response`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParams<'a> {
    pub scheme: &'a str,
    params: Vec<(&'a str, &'a str)>,
}

impl<'a> AuthParams<'a> {
    pub fn parse(v: &'a str) -> Option<AuthParams<'a>> {
        let mut s = Scanner::new(v);
        s.skip_ws();
        let scheme = s.token()?;
        let mut params = Vec::new();
        loop {
            s.skip_ws();
            if s.is_empty() {
                break;
            }
            let name = s.token()?;
            if !s.sep(b'=') {
                return None;
            }
            let value = if s.peek() == Some(b'"') {
                s.quoted()?
            } else {
                s.take_while(|c| is_token_char(c) || c == b'/' || c == b':')
            };
            params.push((name, value));
            if params.len() > 32 {
                return None;
            }
            if !s.sep(b',') {
                s.skip_ws();
                if !s.is_empty() {
                    return None;
                }
            }
        }
        Some(AuthParams { scheme, params })
    }

    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }

    /// A parameter with quotes removed (no escapes appear in digest values in practice; they
    /// are removed too).
    pub fn get(&self, name: &str) -> Option<String> {
        self.raw(name).map(|v| {
            if v.starts_with('"') {
                unquote(v)
            } else {
                v.to_owned()
            }
        })
    }

    /// The parameter as written, quotes included.
    pub fn raw(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// True if a parameter name occurs twice (a malformed credential).
    pub fn has_duplicates(&self) -> bool {
        self.params.iter().enumerate().any(|(i, (k, _))| {
            self.params
                .iter()
                .skip(i + 1)
                .any(|(k2, _)| k.eq_ignore_ascii_case(k2))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_with_lws() {
        let v =
            Via::parse("SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8")
                .unwrap();
        assert_eq!(v.transport, "TCP");
        assert_eq!(v.host_text, "spindle.example.com");
        assert_eq!(v.branch(), Some("z9hG4bK9ikj8"));
        let v = Via::parse("SIP/2.0/UDP [2001:db8::9:1]:5070;branch=z9hG4bKas;rport").unwrap();
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.param("rport"), Some(""));
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;,;,,").is_none());
        assert!(Via::parse("SIP/99999.0/UDP h").is_none());
        let v = Via::parse("SIP/2.0/TCP [2001:db8::1] : 5061 ; branch=z9hG4bKx").unwrap();
        assert_eq!((v.host_text, v.port), ("[2001:db8::1]", Some(5061)));
        assert!(Via::parse("SIP/2.0/UDP h:").is_none());
        assert!(Via::parse("SIP/2.0/UDPh").is_none());
        assert!(Via::parse("SIP/2.0.0/UDP h").is_none());
    }

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse(r#""J Rosenberg \\\"" <sip:jdrosen@example.com> ; tag = 98asjd8"#)
            .unwrap();
        assert_eq!(n.tag(), Some("98asjd8"));
        assert_eq!(n.display().as_deref(), Some(r#"J Rosenberg \""#));
        let n =
            NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(n.tag(), Some("1918181833n"));
        let n = NameAddr::parse("Bob <sip:bob@b.example>;tag=x").unwrap();
        assert_eq!(n.display_raw, Some("Bob"));
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@bell-tel.com>;tag=43").is_none());
        assert!(NameAddr::parse("\"Unterminated <sip:x@y>").is_none());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_none());
        assert!(
            NameAddr::parse("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>").is_some()
        );
        assert!(NameAddr::parse("< sip:user@example.com >").is_none());
        let n = NameAddr::parse("\"caller\"<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(n.tag(), Some("323"));
    }

    #[test]
    fn cseq_bounds() {
        assert_eq!(CSeq::parse("0009 INVITE").unwrap().seq, 9);
        assert!(CSeq::parse("36893488147419103232 INVITE").is_none());
        assert!(CSeq::parse("2147483648 INVITE").is_none());
        assert!(CSeq::parse("1INVITE").is_none());
    }

    #[test]
    fn digest_params() {
        let a = AuthParams::parse(
            r#"Digest username="alice", realm="x", nonce="abc", uri="sip:x", response="ff", qop=auth, nc=00000001, cnonce="c""#,
        )
        .unwrap();
        assert!(a.is_digest());
        assert_eq!(a.get("username").as_deref(), Some("alice"));
        assert_eq!(a.get("qop").as_deref(), Some("auth"));
        assert_eq!(a.get("nc").as_deref(), Some("00000001"));
    }
}
