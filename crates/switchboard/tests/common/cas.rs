//! A minimal CAS client for the tests: blocking HTTP/1.1 over `TcpStream` (JSON or XML
//! bodies), long-poll (with bounded waits for an event, `n` events or a completion), and a
//! WebSocket client (tungstenite, blocking).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Server;

/// An HTTP response: status, content type, body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP request on a fresh connection (`Connection: close`).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(150))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut content_type = String::new();
    let mut chunked = false;
    for line in head.lines().skip(1) {
        if let Some((n, v)) = line.split_once(':') {
            if n.eq_ignore_ascii_case("content-type") {
                content_type = v.trim().to_owned();
            }
            if n.eq_ignore_ascii_case("transfer-encoding")
                && v.trim().eq_ignore_ascii_case("chunked")
            {
                chunked = true;
            }
        }
    }
    if chunked {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        content_type,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[nl + 2 + size + 2..];
    }
    out
}

/// The reply, asserting success (`response` 0).
pub fn ok(r: Value) -> Value {
    assert_eq!(r["response"], 0, "{r}");
    r
}

/// A logged-in HTTP client.
pub struct CasClient {
    pub addr: SocketAddr,
    pub token: Option<String>,
    pub user: String,
    next_id: u64,
}

impl CasClient {
    pub fn anonymous(server: &Server) -> CasClient {
        CasClient {
            addr: server.http,
            token: None,
            user: String::new(),
            next_id: 1,
        }
    }

    /// Logs in as a demo user (password from the server's first start).
    pub fn login(server: &Server, user: &str) -> CasClient {
        let pw = server.password(user);
        CasClient::login_with(server, user, &pw)
    }

    pub fn login_with(server: &Server, user: &str, password: &str) -> CasClient {
        let mut c = CasClient::anonymous(server);
        let r = c.call(
            "session",
            "login",
            json!({"user": user, "password": password}),
        );
        assert_eq!(r["response"], 0, "login failed: {r}");
        c.token = Some(r["session"].as_str().unwrap().to_owned());
        c.user = user.to_owned();
        c
    }

    /// POSTs a JSON message as is; returns the HTTP status and the decoded reply.
    pub fn post(&self, msg: &Value) -> (u16, Value) {
        let r = self.post_raw("application/json", msg.to_string().as_bytes());
        (r.status, r.json())
    }

    pub fn post_raw(&self, content_type: &str, body: &[u8]) -> HttpResponse {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let mut headers = vec![("Content-Type", content_type)];
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        http(self.addr, "POST", "/cas", &headers, body)
    }

    /// Sends `topic.message` with `fields` and a fresh request_id; returns the reply.
    pub fn call(&mut self, topic: &str, message: &str, fields: Value) -> Value {
        let mut msg = fields.as_object().cloned().unwrap_or_default();
        msg.insert("topic".into(), json!(topic));
        msg.insert("message".into(), json!(message));
        msg.insert("request_id".into(), json!(self.next_id));
        self.next_id += 1;
        let (status, reply) = self.post(&Value::Object(msg));
        let code = reply["response"].as_u64().unwrap_or(u64::MAX);
        if code == 0 {
            assert_eq!(status, 200, "{reply}");
        } else {
            assert_eq!(
                u64::from(status),
                code,
                "HTTP status must equal the error code: {reply}"
            );
        }
        reply
    }

    /// Long-poll: the events that arrive within `timeout` seconds.
    pub fn events(&self, timeout: u64) -> Vec<Value> {
        let auth = format!("Bearer {}", self.token.as_deref().unwrap_or(""));
        let r = http(
            self.addr,
            "GET",
            &format!("/cas/events?timeout={timeout}"),
            &[("Authorization", &auth)],
            b"",
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["events"].as_array().cloned().unwrap_or_default()
    }

    /// The first event satisfying `pred` within `wait` (1 s long-polls; the events before it
    /// are dropped); panics naming `what` when none came.
    pub fn event_where(&self, wait: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Some(e) = self.events(1).into_iter().find(|e| pred(e)) {
                return e;
            }
        }
        panic!("no {what} event for {:?} within {wait:?}", self.user);
    }

    /// The `topic`.`message` events within a few 1 s long-polls (5 s at most), until `n`
    /// arrived; exactly `n` must.
    pub fn events_named(&self, topic: &str, message: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        while got.len() < n && Instant::now() < deadline {
            got.extend(
                self.events(1)
                    .into_iter()
                    .filter(|e| e["topic"] == topic && e["message"] == message),
            );
        }
        assert_eq!(got.len(), n, "{topic}.{message} events: {got:?}");
        got
    }

    /// The completion event of the asynchronous request `request_id` within `wait`.
    pub fn completion(&self, request_id: &Value, wait: Duration) -> Value {
        self.event_where(wait, &format!("completion of {request_id}"), |e| {
            e["completion"] == true && &e["request_id"] == request_id
        })
    }
}

pub type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

/// A WebSocket client on `/cas/ws` (not logged in yet).
pub fn ws_connect(server: &Server, path: &str) -> Ws {
    let (ws, _) = tungstenite::connect(format!("ws://{}{path}", server.http)).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    ws
}

pub fn ws_send(ws: &mut Ws, v: &Value) {
    ws.send(tungstenite::Message::Text(v.to_string().into()))
        .unwrap();
}

/// The next JSON text message, or `None` after the socket's read timeout.
pub fn ws_recv(ws: &mut Ws) -> Option<Value> {
    loop {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => {
                return Some(serde_json::from_str(t.as_str()).unwrap());
            }
            Ok(tungstenite::Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Receives until a message satisfies `pred` (others are skipped), or `None`.
pub fn ws_recv_where(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Option<Value> {
    for _ in 0..100 {
        let v = ws_recv(ws)?;
        if pred(&v) {
            return Some(v);
        }
    }
    None
}
