//! Shared harness for the SIP integration tests: the real `switchboard` binary on port 0 with a
//! temporary data directory, and a minimal test user agent over UDP and TCP.
//!
//! Every wait is bounded; a test that hangs is a failed test.
#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod calls;
pub mod cas;
pub mod phones;
pub mod presence;
pub mod rtp;
mod server;

#[allow(unused_imports)] // not every test file starts with options
pub use server::{Server, ServerOpts};

/// The repository root (scenario files, phone harness, corpora).
pub fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether an interop peer is installed. A missing peer fails the test, unless the operator
/// asked to skip interop tests with `SWITCHBOARD_SKIP_INTEROP=1` (then: false, skip).
pub fn have(tool: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("SWITCHBOARD_SKIP_INTEROP").is_some(),
            "{tool} is not installed (apt-get install sip-tester baresip-core), \
             or set SWITCHBOARD_SKIP_INTEROP=1"
        );
    }
    found
}

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sip::digest::{self, Algorithm, ResponseInput};
use sip::{AuthParams, Framer, Framing, HeaderName, Limits, Message};

pub const DOMAIN: &str = "example.test";
/// How long to wait for an answer that must come.
pub const WAIT: Duration = Duration::from_secs(3);
/// How long to listen for an answer that must not come.
pub const SILENCE: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------
// Wires: UDP and TCP
// ---------------------------------------------------------------------------------------

/// One way of sending to and receiving from the server.
pub enum Wire {
    Udp(UdpSocket),
    Tcp { stream: TcpStream, framer: Framer },
}

impl Wire {
    pub fn udp() -> Wire {
        Wire::udp_on("127.0.0.1")
    }

    /// A UDP socket on another loopback address (any 127/8 works on Linux).
    pub fn udp_on(ip: &str) -> Wire {
        Wire::Udp(UdpSocket::bind((ip, 0)).unwrap())
    }

    pub fn tcp(server: SocketAddr) -> Wire {
        let stream = TcpStream::connect_timeout(&server, WAIT).unwrap();
        stream.set_nodelay(true).unwrap();
        Wire::Tcp {
            stream,
            framer: Framer::new(65_536),
        }
    }

    pub fn local(&self) -> SocketAddr {
        match self {
            Wire::Udp(s) => s.local_addr().unwrap(),
            Wire::Tcp { stream, .. } => stream.local_addr().unwrap(),
        }
    }

    pub fn transport(&self) -> &'static str {
        match self {
            Wire::Udp(_) => "UDP",
            Wire::Tcp { .. } => "TCP",
        }
    }

    pub fn send(&mut self, to: SocketAddr, bytes: &[u8]) {
        match self {
            Wire::Udp(s) => {
                s.send_to(bytes, to).unwrap();
            }
            Wire::Tcp { stream, .. } => stream.write_all(bytes).unwrap(),
        }
    }

    /// The next parsable message within `timeout`, or `None`.
    pub fn recv(&mut self, timeout: Duration) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            match self {
                Wire::Udp(s) => {
                    s.set_read_timeout(Some(left)).unwrap();
                    let mut buf = vec![0u8; 65_536];
                    match s.recv_from(&mut buf) {
                        Ok((n, _)) => {
                            buf.truncate(n);
                            match sip::parse_datagram(buf) {
                                Ok(m) => return Some(m),
                                Err(e) => eprintln!("test UA: unparsable datagram: {e}"),
                            }
                        }
                        Err(_) => return None,
                    }
                }
                Wire::Tcp { stream, framer } => {
                    while let Ok(Some(frame)) = framer.next_frame() {
                        if let sip::Frame::Message(raw) = frame {
                            return Some(
                                Message::parse(raw, Framing::Stream, &Limits::default()).unwrap(),
                            );
                        }
                    }
                    stream.set_read_timeout(Some(left)).unwrap();
                    let mut buf = [0u8; 16_384];
                    match stream.read(&mut buf) {
                        Ok(0) => return None,
                        Ok(n) => framer.push(&buf[..n]),
                        Err(_) => return None,
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

static COUNTER: AtomicU64 = AtomicU64::new(1);

/// A fresh token, unique within the process and across runs.
pub fn token(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}{n}x{t:x}x{}", std::process::id())
}

pub fn new_branch() -> String {
    token("z9hG4bK")
}

/// A request being built; printed with `bytes()`.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub uri: String,
    /// Via sent-by: `TRANSPORT host:port`.
    pub via_sent_by: String,
    pub branch: String,
    pub from: String,
    pub to: String,
    pub call_id: String,
    pub cseq: u32,
    pub max_forwards: Option<u32>,
    pub headers: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn sdp(mut self, body: &str) -> Request {
        self.content_type = Some("application/sdp".into());
        self.body = body.as_bytes().to_vec();
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut s = format!("{} {} SIP/2.0\r\n", self.method, self.uri);
        s.push_str(&format!(
            "Via: SIP/2.0/{};branch={};rport\r\n",
            self.via_sent_by, self.branch
        ));
        if let Some(mf) = self.max_forwards {
            s.push_str(&format!("Max-Forwards: {mf}\r\n"));
        }
        s.push_str(&format!("From: {}\r\n", self.from));
        s.push_str(&format!("To: {}\r\n", self.to));
        s.push_str(&format!("Call-ID: {}\r\n", self.call_id));
        s.push_str(&format!("CSeq: {} {}\r\n", self.cseq, self.method));
        for (n, v) in &self.headers {
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        if let Some(ct) = &self.content_type {
            s.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        s.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    /// True when `resp` answers this request (Call-ID and CSeq).
    pub fn answered_by(&self, resp: &Message) -> bool {
        resp.status().is_some()
            && resp.call_id() == Some(self.call_id.as_str())
            && resp
                .cseq()
                .is_some_and(|c| c.seq == self.cseq && c.method == self.method)
    }
}

// ---------------------------------------------------------------------------------------
// Digest
// ---------------------------------------------------------------------------------------

/// One challenge row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub raw: String,
    pub realm: String,
    pub nonce: String,
    pub algorithm: String,
    pub qop: Option<String>,
    pub stale: bool,
}

impl Challenge {
    pub fn parse(v: &str) -> Challenge {
        let p = AuthParams::parse(v).unwrap_or_else(|| panic!("bad challenge {v:?}"));
        assert!(p.is_digest(), "not a Digest challenge: {v}");
        Challenge {
            raw: v.to_owned(),
            realm: p.get("realm").unwrap(),
            nonce: p.get("nonce").unwrap(),
            algorithm: p.get("algorithm").unwrap_or_else(|| "MD5".into()),
            qop: p.get("qop"),
            stale: p
                .get("stale")
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
        }
    }

    pub fn alg(&self) -> Algorithm {
        Algorithm::from_token(&self.algorithm).unwrap()
    }

    /// The challenge without its nonce, to compare shapes.
    pub fn shape(&self) -> String {
        self.raw.replace(&self.nonce, "NONCE")
    }
}

/// The challenge rows of a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate).
pub fn challenges(resp: &Message) -> Vec<Challenge> {
    let name = match resp.status() {
        Some(401) => HeaderName::WwwAuthenticate,
        Some(407) => HeaderName::ProxyAuthenticate,
        other => panic!("expected a challenge, got {other:?}"),
    };
    resp.header_values(name)
        .into_iter()
        .map(Challenge::parse)
        .collect()
}

/// Everything that goes into an `Authorization` value.
#[derive(Debug, Clone)]
pub struct DigestAnswer<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub realm: &'a str,
    pub nonce: &'a str,
    pub algorithm: Algorithm,
    pub method: &'a str,
    pub uri: &'a str,
    pub nc: u32,
    pub cnonce: &'a str,
}

impl DigestAnswer<'_> {
    pub fn header_value(&self) -> String {
        let ha1 = digest::ha1(self.algorithm, self.username, self.realm, self.password);
        let nc = format!("{:08x}", self.nc);
        let response = digest::response(
            self.algorithm,
            &ha1,
            &ResponseInput {
                method: self.method,
                uri: self.uri,
                nonce: self.nonce,
                qop_auth: Some((&nc, self.cnonce)),
            },
        );
        format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}, qop=auth, nc={nc}, cnonce=\"{}\"",
            self.username,
            self.realm,
            self.nonce,
            self.uri,
            self.algorithm.token(),
            self.cnonce
        )
    }
}

// ---------------------------------------------------------------------------------------
// The test user agent
// ---------------------------------------------------------------------------------------

/// A minimal user agent for one user: one wire, one Call-ID and From tag at a time.
pub struct Ua {
    pub wire: Wire,
    pub server: SocketAddr,
    pub user: String,
    pub password: String,
    pub domain: String,
    pub call_id: String,
    pub from_tag: String,
    pub cseq: u32,
    /// Sent as User-Agent when set.
    pub user_agent: Option<String>,
}

impl Ua {
    pub fn new(server: &Server, user: &str) -> Ua {
        Ua::on_wire(server, user, Wire::udp())
    }

    pub fn on_wire(server: &Server, user: &str, wire: Wire) -> Ua {
        Ua {
            wire,
            server: server.addr,
            user: user.to_owned(),
            password: server.passwords.get(user).cloned().unwrap_or_default(),
            domain: DOMAIN.to_owned(),
            call_id: token("cid"),
            from_tag: token("t"),
            cseq: 0,
            user_agent: None,
        }
    }

    pub fn local(&self) -> SocketAddr {
        self.wire.local()
    }

    pub fn aor(&self) -> String {
        format!("sip:{}@{}", self.user, self.domain)
    }

    /// A Contact URI on this UA's socket.
    pub fn contact_uri(&self) -> String {
        let t = if matches!(self.wire, Wire::Tcp { .. }) {
            ";transport=tcp"
        } else {
            ""
        };
        format!("sip:{}@{}{t}", self.user, self.local())
    }

    /// Starts a new Call-ID (a new registration flow or call).
    pub fn new_call(&mut self) {
        self.call_id = token("cid");
        self.from_tag = token("t");
    }

    /// A request in the UA's current Call-ID with the next CSeq and a fresh branch.
    pub fn request(&mut self, method: &str, uri: &str, to: &str) -> Request {
        self.cseq += 1;
        let mut headers = Vec::new();
        if let Some(ua) = &self.user_agent {
            headers.push(("User-Agent".to_owned(), ua.clone()));
        }
        Request {
            method: method.to_owned(),
            uri: uri.to_owned(),
            via_sent_by: format!("{} {}", self.wire.transport(), self.local()),
            branch: new_branch(),
            from: format!("<{}>;tag={}", self.aor(), self.from_tag),
            to: to.to_owned(),
            call_id: self.call_id.clone(),
            cseq: self.cseq,
            max_forwards: Some(70),
            headers,
            content_type: None,
            body: Vec::new(),
        }
    }

    /// REGISTER for this UA's own AOR.
    pub fn register_request(&mut self) -> Request {
        let uri = format!("sip:{}", self.domain);
        let to = format!("<{}>", self.aor());
        self.request("REGISTER", &uri, &to)
    }

    /// The same request again with the next CSeq and a fresh branch.
    pub fn reissue(&mut self, req: &Request) -> Request {
        self.cseq += 1;
        let mut r = req.clone();
        r.cseq = self.cseq;
        r.branch = new_branch();
        r
    }

    pub fn send(&mut self, req: &Request) {
        let bytes = req.bytes();
        self.send_raw(&bytes);
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        let to = self.server;
        self.wire.send(to, bytes);
    }

    pub fn recv(&mut self, timeout: Duration) -> Option<Message> {
        self.wire.recv(timeout)
    }

    /// The next message satisfying `pred` within `timeout`; others are skipped.
    pub fn recv_where(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&Message) -> bool,
    ) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self.wire.recv(left)?;
            if pred(&m) {
                return Some(m);
            }
        }
    }

    /// The next response to `req` other than 100 Trying.
    pub fn next_response(&mut self, req: &Request, timeout: Duration) -> Option<Message> {
        self.recv_where(timeout, |m| req.answered_by(m) && m.status() != Some(100))
    }

    /// The final response to `req`, skipping provisional ones; a non-2xx final response to
    /// an INVITE is acknowledged.
    pub fn final_response(&mut self, req: &Request, timeout: Duration) -> Option<Message> {
        let resp = self.recv_where(timeout, |m| {
            req.answered_by(m) && m.status().is_some_and(|s| s >= 200)
        })?;
        if req.method == "INVITE" && resp.status().is_some_and(|s| s >= 300) {
            self.ack_failure(req, &resp);
        }
        Some(resp)
    }

    /// Sends `req` and returns its final response (panics after [`WAIT`]).
    pub fn transact(&mut self, req: &Request) -> Message {
        self.send(req);
        self.final_response(req, WAIT)
            .unwrap_or_else(|| panic!("no final response to {} {}", req.method, req.uri))
    }

    /// The ACK for a non-2xx final response (§17.1.1.3): same branch and Request-URI.
    pub fn ack_failure(&mut self, invite: &Request, resp: &Message) {
        let mut ack = invite.clone();
        ack.method = "ACK".into();
        ack.to = resp.header(HeaderName::To).unwrap().to_owned();
        ack.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("Proxy-Authorization"));
        ack.content_type = None;
        ack.body.clear();
        self.send(&ack);
    }

    /// The credentials answering `challenge` for `req` as this UA's user.
    pub fn answer(&self, challenge: &Challenge, req: &Request, nc: u32) -> String {
        DigestAnswer {
            username: &self.user,
            password: &self.password,
            realm: &challenge.realm,
            nonce: &challenge.nonce,
            algorithm: challenge.alg(),
            method: &req.method,
            uri: &req.uri,
            nc,
            cnonce: "0a4f113b",
        }
        .header_value()
    }

    /// Sends `req` without credentials, expects 401/407, and returns the challenge rows.
    pub fn get_challenge(&mut self, req: &Request) -> (Message, Vec<Challenge>) {
        let resp = self.transact(req);
        let code = resp.status().unwrap();
        assert!(
            code == 401 || code == 407,
            "expected a challenge to {}, got {code}",
            req.method
        );
        let ch = challenges(&resp);
        (resp, ch)
    }

    /// `req` re-issued with an answer to the first challenge row of `alg` (any when None).
    pub fn authorize(
        &mut self,
        req: &Request,
        challenges: &[Challenge],
        code: u16,
        alg: Option<Algorithm>,
    ) -> Request {
        let ch = challenges
            .iter()
            .find(|c| alg.is_none_or(|a| c.alg() == a))
            .unwrap_or_else(|| panic!("no {alg:?} challenge in {challenges:?}"));
        let mut r = self.reissue(req);
        let value = self.answer(ch, &r, 1);
        let name = if code == 401 {
            "Authorization"
        } else {
            "Proxy-Authorization"
        };
        r.headers.push((name.to_owned(), value));
        r
    }

    /// Sends `req`, answers the challenge, and returns the authenticated request (already sent)
    /// without waiting for its final response.
    pub fn send_authenticated(&mut self, req: &Request, alg: Option<Algorithm>) -> Request {
        let (resp, ch) = self.get_challenge(req);
        let r = self.authorize(req, &ch, resp.status().unwrap(), alg);
        self.send(&r);
        r
    }

    /// Sends `req` with digest authentication and returns the final response.
    pub fn authenticated(&mut self, req: &Request, alg: Option<Algorithm>) -> Message {
        let r = self.send_authenticated(req, alg);
        self.final_response(&r, WAIT)
            .unwrap_or_else(|| panic!("no final response to authenticated {}", r.method))
    }

    /// Registers `contacts` (full Contact values) with an optional Expires header.
    pub fn register(&mut self, contacts: &[&str], expires: Option<u32>) -> Message {
        let mut req = self.register_request();
        for c in contacts {
            req = req.header("Contact", c);
        }
        if let Some(e) = expires {
            req = req.header("Expires", &e.to_string());
        }
        self.authenticated(&req, None)
    }

    /// Answers an incoming request as a UAS, sending the response to the server.
    pub fn reply(
        &mut self,
        req: &Message,
        code: u16,
        reason: &str,
        to_tag: &str,
        extra: &[(&str, &str)],
        sdp: Option<&str>,
    ) {
        let mut b = sip::response_to(req, code, reason, Some(to_tag));
        for (n, v) in extra {
            b.header(n, v);
        }
        let bytes = match sdp {
            Some(body) => b.finish(Some("application/sdp"), body.as_bytes()),
            None => b.finish_empty(),
        };
        self.send_raw(&bytes);
    }
}

/// The `;expires=` of each Contact of a 200 to REGISTER, by URI.
pub fn contact_expiries(resp: &Message) -> HashMap<String, u32> {
    resp.contacts()
        .into_iter()
        .map(|c| match c {
            sip::ContactValue::Addr(a) => (
                a.uri.raw().to_owned(),
                a.expires()
                    .unwrap_or_else(|| panic!("Contact without expires: {:?}", a.uri.raw())),
            ),
            sip::ContactValue::Star => panic!("'*' in a 200 to REGISTER"),
        })
        .collect()
}

/// An OPTIONS to the server itself.
pub fn options(ua: &mut Ua) -> Request {
    let uri = format!("sip:{}", ua.domain);
    let to = format!("<{uri}>");
    ua.request("OPTIONS", &uri, &to)
}

/// A short SDP offer/answer.
pub fn sdp(who: &str, port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns={who}\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
}

/// What a message-summary NOTIFY (RFC 3842 §5.2) tells a phone, parsed with
/// `sip_events::summary`: `Messages-Waiting` and the `Voice-Message` counts `[new, old,
/// urgent_new, urgent_old]` (zeros when the line is absent); `None` when `m` is no NOTIFY or
/// its body is no message-summary.
pub fn mwi_state(m: &Message) -> Option<(bool, [u32; 4])> {
    use sip_events::summary::{self, MsgClass};
    if m.method() != "NOTIFY" {
        return None;
    }
    let s = summary::parse(m.body()).ok()?;
    let c = s.counts(MsgClass::Voice);
    Some((s.waiting, [c.new, c.old, c.urgent_new, c.urgent_old]))
}
