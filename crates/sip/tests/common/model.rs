//! The message model, its strategy, and the two printers.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq)]
pub enum Host {
    Name(String),
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

impl Host {
    pub fn text(&self) -> String {
        match self {
            Host::Name(n) => n.clone(),
            Host::V4(a) => a.to_string(),
            Host::V6(a) => format!("[{a}]"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Uri {
    pub secure: bool,
    pub user: Option<String>,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Vec<(String, Option<String>)>,
}

impl Uri {
    pub fn text(&self) -> String {
        let mut s = String::from(if self.secure { "sips:" } else { "sip:" });
        if let Some(u) = &self.user {
            let _ = write!(s, "{u}@");
        }
        s += &self.host.text();
        if let Some(p) = self.port {
            let _ = write!(s, ":{p}");
        }
        for (k, v) in &self.params {
            match v {
                Some(v) => {
                    let _ = write!(s, ";{k}={v}");
                }
                None => {
                    let _ = write!(s, ";{k}");
                }
            }
        }
        s
    }

    /// §20: a URI with a comma, question mark or semicolon must be in `<>`.
    pub fn needs_angle(&self) -> bool {
        self.text().contains([';', '?', ','])
    }
}

#[derive(Debug, Clone)]
pub enum Display {
    Tokens(Vec<String>),
    Quoted(String),
}

impl Display {
    /// What `NameAddr::display` returns.
    pub fn expected(&self) -> String {
        match self {
            Display::Tokens(w) => w.join(" "),
            Display::Quoted(s) => s.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Addr {
    pub display: Option<Display>,
    pub uri: Uri,
    pub angle: bool,
    pub tag: Option<String>,
    pub expires: Option<u32>,
    pub q: Option<String>,
}

impl Addr {
    pub fn angle(&self) -> bool {
        self.angle || self.display.is_some() || self.uri.needs_angle()
    }
}

#[derive(Debug, Clone)]
pub struct ViaM {
    pub transport: String,
    pub host: Host,
    pub port: Option<u16>,
    pub branch: String,
    pub rport: bool,
    pub received: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Request {
        method: String,
        uri: Uri,
    },
    Response {
        code: u16,
        reason: String,
        method: String,
    },
}

#[derive(Debug, Clone)]
pub struct Model {
    pub kind: Kind,
    pub vias: Vec<ViaM>,
    pub from: Addr,
    pub to: Addr,
    pub call_id: String,
    pub cseq: u32,
    pub contacts: Vec<Addr>,
    pub max_forwards: Option<u8>,
    pub extras: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// Drives every printing choice of [`render`].
    pub style: u64,
}

impl Model {
    pub fn method(&self) -> &str {
        match &self.kind {
            Kind::Request { method, .. } | Kind::Response { method, .. } => method,
        }
    }
}

// ----- strategies -----

const TOKEN: &str = "[a-zA-Z0-9.!%*_+`'~-]{1,10}";

fn token() -> impl Strategy<Value = String> {
    TOKEN
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "INVITE",
            "ACK",
            "BYE",
            "CANCEL",
            "REGISTER",
            "OPTIONS",
            "SUBSCRIBE",
            "NOTIFY",
            "MESSAGE",
            "REFER",
            "INFO",
            "UPDATE",
            "PRACK",
            "PUBLISH",
        ])
        .prop_map(str::to_owned),
        token(),
    ]
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        prop::collection::vec("[a-z]([a-z0-9-]{0,6}[a-z0-9])?", 1..4)
            .prop_map(|l| Host::Name(l.join("."))),
        any::<u32>().prop_map(|a| Host::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| Host::V6(Ipv6Addr::from(a))),
        // Small addresses print with `::`, and ::ffff:a.b.c.d with a dotted tail.
        (any::<u16>(), any::<u32>())
            .prop_map(|(a, b)| Host::V6(Ipv6Addr::from((u128::from(a) << 112) | u128::from(b)))),
        any::<u32>().prop_map(|a| Host::V6(Ipv4Addr::from(a).to_ipv6_mapped())),
    ]
}

fn uri() -> impl Strategy<Value = Uri> {
    (
        any::<bool>(),
        prop::option::of("([a-zA-Z0-9_.!~*'()&=+$,;?/-]|%[0-9A-F]{2}){1,12}"),
        host(),
        prop::option::of(any::<u16>()),
        prop::collection::vec(
            ("[a-z]{1,8}", prop::option::of("[a-zA-Z0-9_.-]{1,8}")),
            0..3,
        ),
    )
        .prop_map(|(secure, user, host, port, mut params)| {
            // §19.1.1: a URI parameter name appears at most once.
            let mut seen = std::collections::HashSet::new();
            params.retain(|(k, _)| seen.insert(k.clone()));
            Uri {
                secure,
                user,
                host,
                port,
                params,
            }
        })
}

fn display() -> impl Strategy<Value = Display> {
    prop_oneof![
        prop::collection::vec(token(), 1..3).prop_map(Display::Tokens),
        "([ -~]|é|ж|€|\t){0,16}".prop_map(Display::Quoted),
    ]
}

fn addr(tagged: bool) -> impl Strategy<Value = Addr> {
    (
        prop::option::of(display()),
        uri(),
        any::<bool>(),
        prop::option::weighted(if tagged { 0.95 } else { 0.5 }, token()),
        prop::option::of(any::<u32>()),
        prop::option::of("(0(\\.[0-9]{1,3})?|1(\\.0{1,3})?)"),
    )
        .prop_map(|(display, uri, angle, tag, expires, q)| Addr {
            display,
            uri,
            angle,
            tag,
            expires,
            q,
        })
}

fn via() -> impl Strategy<Value = ViaM> {
    (
        prop_oneof![
            prop::sample::select(vec!["UDP", "TCP", "TLS", "SCTP", "WS", "WSS"])
                .prop_map(str::to_owned),
            token(),
        ],
        host(),
        prop::option::of(any::<u16>()),
        "[a-zA-Z0-9.!%*_+`'~-]{1,12}",
        any::<bool>(),
        prop::option::of(prop_oneof![
            any::<u32>().prop_map(|a| Ipv4Addr::from(a).to_string()),
            any::<u128>().prop_map(|a| Ipv6Addr::from(a).to_string()),
        ]),
    )
        .prop_map(|(transport, host, port, branch, rport, received)| ViaM {
            transport,
            host,
            port,
            branch: format!("z9hG4bK{branch}"),
            rport,
            received,
        })
}

const WORD: &str = "[a-zA-Z0-9.!%*_+`'~()<>:\\\\\"/\\[\\]?{}-]{1,16}";

fn call_id() -> impl Strategy<Value = String> {
    (WORD, prop::option::of(WORD)).prop_map(|(a, b)| match b {
        Some(b) => format!("{a}@{b}"),
        None => a,
    })
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (method(), uri()).prop_map(|(method, uri)| Kind::Request { method, uri }),
        (100u16..700, "([ -~]|é|ж){0,20}", method()).prop_map(|(code, reason, method)| {
            Kind::Response {
                code,
                reason,
                method,
            }
        }),
    ]
}

/// A structurally valid request or response.
pub fn model() -> impl Strategy<Value = Model> {
    let headers = (
        prop::collection::vec(via(), 1..5),
        addr(true),
        addr(false),
        call_id(),
        0u32..(1 << 31),
        prop::collection::vec(addr(false), 0..4),
        prop::option::of(any::<u8>()),
    );
    let rest = (
        prop::collection::vec(("X-[A-Za-z0-9]{1,10}", "[!-~]([ -~]|é){0,20}[!-~]"), 0..3),
        prop::option::of("[a-z]{1,10}/[a-z0-9.+-]{1,10}"),
        prop::collection::vec(any::<u8>(), 0..80),
        any::<u64>(),
    );
    (kind(), headers, rest).prop_map(
        |(kind, (vias, from, to, call_id, cseq, contacts, max_forwards), rest)| {
            let (mut extras, content_type, body, style) = rest;
            // Rows are shuffled when printed, so a repeated name would have no "first" value.
            let mut seen = std::collections::HashSet::new();
            extras.retain(|(k, _)| seen.insert(k.to_ascii_lowercase()));
            // Builder::finish only writes Content-Type with a body; keep the model the same.
            let content_type = if body.is_empty() {
                None
            } else {
                Some(content_type.unwrap_or_else(|| "application/octet-stream".into()))
            };
            Model {
                kind,
                vias,
                from,
                to,
                call_id,
                cseq,
                contacts,
                max_forwards,
                extras,
                content_type,
                body,
                style,
            }
        },
    )
}

// ----- the liberal printer -----

/// Liberties of the grammar that the `sipx-sip` oracle does not take; each is legal per
/// RFC 3261 §25.1 (see tests/differential.rs), so `render` uses them all.
#[derive(Debug, Clone, Copy)]
pub struct Liberties {
    /// `sent-by = host [ COLON port ]` with `COLON = SWS ":" SWS`.
    pub lws_in_sent_by: bool,
    /// Bare LF line ends, which RFC 3261 §7 does not allow but robust parsers accept.
    pub lf_line_ends: bool,
}

impl Liberties {
    pub const ALL: Liberties = Liberties {
        lws_in_sent_by: true,
        lf_line_ends: true,
    };
    pub const SIPX: Liberties = Liberties {
        lws_in_sent_by: false,
        lf_line_ends: false,
    };
}

/// Printing choices, from the model's seed (xorshift64*).
struct Style(u64, Liberties);

impl Style {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[(self.next() % options.len() as u64) as usize]
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }

    /// Optional linear white space, folding included (SWS).
    fn sws(&mut self) -> &'static str {
        self.pick(&["", "", "", " ", "  ", "\t", "\r\n ", " \r\n\t "])
    }

    /// Required linear white space (LWS).
    fn lws(&mut self) -> &'static str {
        self.pick(&[" ", " ", " ", "\t", "   ", "\r\n ", " \r\n\t"])
    }

    fn sep(&mut self, c: char) -> String {
        format!("{}{c}{}", self.sws(), self.sws())
    }

    /// A header name: long form in any case, or the compact form.
    fn name(&mut self, long: &str, compact: Option<&str>) -> String {
        if let Some(c) = compact
            && self.chance(3)
        {
            return if self.chance(2) {
                c.to_uppercase()
            } else {
                c.to_owned()
            };
        }
        long.chars()
            .map(|ch| match self.next() % 4 {
                0 => ch.to_ascii_uppercase(),
                1 => ch.to_ascii_lowercase(),
                _ => ch,
            })
            .collect()
    }

    /// `name HCOLON`; white space before the colon cannot fold.
    fn hcolon(&mut self, long: &str, compact: Option<&str>) -> String {
        let name = self.name(long, compact);
        let before = self.pick(&["", "", " ", "\t "]);
        format!("{name}{before}:{}", self.sws())
    }
}

fn quote(s: &str, st: &mut Style) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        if ch == '"' || ch == '\\' || (ch.is_ascii_graphic() && st.chance(8)) {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

fn render_addr(a: &Addr, st: &mut Style, contact: bool) -> String {
    let mut s = String::new();
    match &a.display {
        Some(Display::Tokens(w)) => {
            s += &w.join(" ");
            s += st.sws();
        }
        Some(Display::Quoted(q)) => {
            s += &quote(q, st);
            s += st.sws();
        }
        None => {}
    }
    if a.angle() {
        let _ = write!(s, "<{}>", a.uri.text());
    } else {
        s += &a.uri.text();
    }
    let mut param = |s: &mut String, k: &str, v: Option<&str>| {
        let sep = st.sep(';');
        s.push_str(&sep);
        s.push_str(k);
        if let Some(v) = v {
            let eq = st.sep('=');
            let _ = write!(s, "{eq}{v}");
        }
    };
    if let Some(t) = &a.tag
        && !contact
    {
        param(&mut s, "tag", Some(t));
    }
    if contact {
        if let Some(e) = a.expires {
            param(&mut s, "expires", Some(&e.to_string()));
        }
        if let Some(q) = &a.q {
            param(&mut s, "q", Some(q));
        }
    }
    s
}

fn render_via(v: &ViaM, st: &mut Style) -> String {
    let mut s = format!("SIP{}2.0{}{}", st.sep('/'), st.sep('/'), v.transport);
    s += st.lws();
    s += &v.host.text();
    if let Some(p) = v.port {
        let colon = if st.1.lws_in_sent_by {
            st.sep(':')
        } else {
            ":".into()
        };
        let _ = write!(s, "{colon}{p}");
    }
    let mut params = vec![("branch", Some(v.branch.clone()))];
    if v.rport {
        params.push(("rport", None));
    }
    if let Some(r) = &v.received {
        params.push(("received", Some(r.clone())));
    }
    for (k, val) in params {
        let _ = write!(s, "{}{k}", st.sep(';'));
        if let Some(val) = val {
            let _ = write!(s, "{}{val}", st.sep('='));
        }
    }
    s
}

/// Groups values into rows: several values per row joined by commas, or one per row.
fn rows(values: Vec<String>, st: &mut Style) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        match out.last_mut() {
            Some(last) if st.chance(2) => {
                let comma = st.sep(',');
                let _ = write!(last, "{comma}{v}");
            }
            _ => out.push(v),
        }
    }
    out
}

/// Prints with every liberty of RFC 3261 §7.3.1 and §25: compact and odd-case names, LWS and
/// folding wherever the grammar allows it, several Via/Contact values per row, shuffled rows.
pub fn render(m: &Model) -> Vec<u8> {
    render_with(m, Liberties::ALL)
}

pub fn render_with(m: &Model, liberties: Liberties) -> Vec<u8> {
    let mut st = Style(m.style | 1, liberties);
    let mut out = match &m.kind {
        Kind::Request { method, uri } => format!("{method} {} SIP/2.0\r\n", uri.text()),
        Kind::Response { code, reason, .. } => format!("SIP/2.0 {code} {reason}\r\n"),
    };
    // (ordering key, row); rows of the same header keep their relative order.
    let mut lines: Vec<(u64, String)> = Vec::new();
    let vias: Vec<String> = m.vias.iter().map(|v| render_via(v, &mut st)).collect();
    let mut ordered = Vec::new();
    for row in rows(vias, &mut st) {
        ordered.push(format!("{}{row}", st.hcolon("Via", Some("v"))));
    }
    let contacts: Vec<String> = m
        .contacts
        .iter()
        .map(|c| render_addr(c, &mut st, true))
        .collect();
    let mut ordered_contacts = Vec::new();
    for row in rows(contacts, &mut st) {
        ordered_contacts.push(format!("{}{row}", st.hcolon("Contact", Some("m"))));
    }
    for group in [ordered, ordered_contacts] {
        let mut keys: Vec<u64> = group.iter().map(|_| st.next()).collect();
        keys.sort_unstable();
        lines.extend(keys.into_iter().zip(group));
    }
    let mut single = vec![
        format!(
            "{}{}",
            st.hcolon("From", Some("f")),
            render_addr(&m.from, &mut st, false)
        ),
        format!(
            "{}{}",
            st.hcolon("To", Some("t")),
            render_addr(&m.to, &mut st, false)
        ),
        format!("{}{}", st.hcolon("Call-ID", Some("i")), m.call_id),
        format!(
            "{}{}{}{}",
            st.hcolon("CSeq", None),
            m.cseq,
            st.lws(),
            m.method()
        ),
    ];
    if let Some(mf) = m.max_forwards {
        single.push(format!("{}{mf}", st.hcolon("Max-Forwards", None)));
    }
    for (k, v) in &m.extras {
        single.push(format!("{k}: {v}"));
    }
    if let Some(ct) = &m.content_type {
        single.push(format!("{}{ct}", st.hcolon("Content-Type", Some("c"))));
    }
    single.push(format!(
        "{}{}",
        st.hcolon("Content-Length", Some("l")),
        m.body.len()
    ));
    for row in single {
        lines.push((st.next(), row));
    }
    lines.sort_by_key(|(k, _)| *k);
    for (_, row) in lines {
        let _ = write!(out, "{}{}\r\n", row, st.pick(&["", "", " ", "\t"]));
    }
    out += "\r\n";
    if st.1.lf_line_ends && st.chance(6) {
        out = out.replace("\r\n", "\n");
    }
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&m.body);
    bytes
}

// ----- the crate's Builder -----

fn plain_addr(a: &Addr, contact: bool) -> String {
    let mut s = String::new();
    match &a.display {
        Some(Display::Tokens(w)) => s += &format!("{} ", w.join(" ")),
        Some(Display::Quoted(q)) => s += &format!("{} ", quote(q, &mut Style(2, Liberties::ALL))),
        None => {}
    }
    let _ = write!(s, "<{}>", a.uri.text());
    if !contact && let Some(t) = &a.tag {
        let _ = write!(s, ";tag={t}");
    }
    if contact {
        if let Some(e) = a.expires {
            let _ = write!(s, ";expires={e}");
        }
        if let Some(q) = &a.q {
            let _ = write!(s, ";q={q}");
        }
    }
    s
}

/// Prints the model with [`sip::Builder`], one value per row, canonical names.
pub fn build(m: &Model) -> bytes::Bytes {
    let mut b = match &m.kind {
        Kind::Request { method, uri } => sip::Builder::request(method, &uri.text()),
        Kind::Response { code, reason, .. } => sip::Builder::response(*code, reason),
    };
    for v in &m.vias {
        let mut via = format!("SIP/2.0/{} {}", v.transport, v.host.text());
        if let Some(p) = v.port {
            let _ = write!(via, ":{p}");
        }
        let _ = write!(via, ";branch={}", v.branch);
        if v.rport {
            via += ";rport";
        }
        if let Some(r) = &v.received {
            let _ = write!(via, ";received={r}");
        }
        b.header("Via", &via);
    }
    b.header("From", &plain_addr(&m.from, false));
    b.header("To", &plain_addr(&m.to, false));
    b.header("Call-ID", &m.call_id);
    b.header_fmt("CSeq", format_args!("{} {}", m.cseq, m.method()));
    for c in &m.contacts {
        b.header("Contact", &plain_addr(c, true));
    }
    if let Some(mf) = m.max_forwards {
        b.header_fmt("Max-Forwards", format_args!("{mf}"));
    }
    for (k, v) in &m.extras {
        b.header(k, v);
    }
    b.finish(m.content_type.as_deref(), &m.body)
}
