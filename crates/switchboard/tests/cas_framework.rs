//! The CAS framework over the wire (DESIGN.md §3), against the real binary: login and
//! sessions, standard headers, hostile input, XML, bulk modes, subscriptions, session expiry,
//! live permission changes, WebSocket sessions and many waiting long-poll clients.
//! Asynchronous requests and plug-ins are in `cas_plugin.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use cas_proto::{Format, Limits};
use common::cas::{CasClient, HttpResponse, Ws, http, ws_connect, ws_recv, ws_recv_where, ws_send};
use common::{Server, ServerOpts};
use serde_json::{Value, json};

/// `call` for the tests that only need the reply's `response` code.
trait Code {
    fn code(&mut self, topic: &str, message: &str, fields: Value) -> u64;
}

impl Code for CasClient {
    fn code(&mut self, topic: &str, message: &str, fields: Value) -> u64 {
        self.call(topic, message, fields)["response"]
            .as_u64()
            .unwrap()
    }
}

/// The values of `keys` in `v`, as a list (to compare several fields at once).
fn pick(v: &Value, keys: &[&str]) -> Value {
    keys.iter().map(|k| v[*k].clone()).collect()
}

/// Whether the list `v` contains the string `item`.
fn has(v: &Value, item: &str) -> bool {
    v.as_array().is_some_and(|a| a.iter().any(|x| x == item))
}

/// The reply without what legitimately differs between two answers.
fn strip(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        for k in ["timestamp", "sequence_id", "session"] {
            o.remove(k);
        }
    }
    v
}

/// The decoded body of an answer, in the format its Content-Type names.
fn body_of(r: &HttpResponse) -> Value {
    let format = Format::from_content_type(&r.content_type)
        .unwrap_or_else(|| panic!("no CAS content type: {r:?}"));
    cas_proto::decode(&r.body, format, &Limits::default())
        .unwrap_or_else(|e| panic!("unparsable answer ({e}): {}", r.text()))
}

/// Asserts a 4xx answer whose body is an error reply with that code.
fn assert_client_error(r: &HttpResponse, what: &str) -> Value {
    assert!(
        (400..500).contains(&r.status),
        "{what}: status {} body {}",
        r.status,
        r.text()
    );
    let v = body_of(r);
    assert_eq!(v["response"], u64::from(r.status), "{what}: {v}");
    assert_eq!(v["error"]["code"], u64::from(r.status), "{what}: {v}");
    assert!(v["error"]["message"].is_string(), "{what}: {v}");
    assert!(
        v["timestamp"].is_i64(),
        "{what}: every answer has a timestamp: {v}"
    );
    v
}

/// `POST /cas` with the given headers.
fn post(server: &Server, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
    http(server.http, "POST", "/cas", headers, body)
}

/// `GET /cas/events?timeout=0` with the given headers.
fn poll_now(server: &Server, headers: &[(&str, &str)]) -> HttpResponse {
    http(server.http, "GET", "/cas/events?timeout=0", headers, b"")
}

fn seqs(messages: &[Value]) -> Vec<u64> {
    messages
        .iter()
        .map(|m| m["sequence_id"].as_u64().unwrap())
        .collect()
}

/// A WebSocket logged in as `user`, and the login reply.
fn ws_login(server: &Server, user: &str) -> (Ws, Value) {
    let mut ws = ws_connect(server, "/cas/ws");
    let login =
        json!({"topic":"session","message":"login","user":user,"password":server.password(user)});
    ws_send(&mut ws, &login);
    let reply = ws_recv(&mut ws).unwrap();
    assert_eq!(reply["response"], 0, "{reply}");
    (ws, reply)
}

fn still_serving(client: &mut CasClient) {
    let r = http(client.addr, "OPTIONS", "/cas", &[], b"");
    assert!(r.status < 500, "OPTIONS after hostile input: {}", r.status);
    let info = client.call("session", "info", json!({}));
    assert_eq!(info["response"], 0, "{info}");
}

#[test]
fn login_succeeds_and_refusals_do_not_enumerate_users() {
    let server = Server::default_start();
    let mut alice = CasClient::login(&server, "alice");
    let info = alice.call("session", "info", json!({}));
    assert_eq!(info["user"], "alice");
    assert_eq!(info["role"], "admin");
    assert_eq!(info["permissions"], json!(["*"]));

    let mut anon = CasClient::anonymous(&server);
    let r = anon.call(
        "session",
        "login",
        json!({"user": "bob", "password": server.password("bob")}),
    );
    assert_eq!(r["response"], 0);
    assert!(r["session"].as_str().is_some_and(|s| s.len() >= 32), "{r}");
    assert_eq!(r["role"], "user");
    assert!(
        r["permissions"].as_array().is_some_and(|p| !p.is_empty()),
        "{r}"
    );

    let login = |user: &str, pw: &str| {
        let body =
            json!({"topic":"session","message":"login","request_id":7,"user":user,"password":pw});
        anon.post_raw("application/json", body.to_string().as_bytes())
    };
    let wrong = login("bob", "not-the-password");
    let unknown = login("mallory", "not-the-password");
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(
        strip(wrong.json()),
        strip(unknown.json()),
        "refusals must be identical"
    );
    assert_client_error(&wrong, "wrong password");

    // No session, an unknown token, an ended session: 401.
    let (status, v) = anon.post(&json!({"topic":"session","message":"info"}));
    assert_eq!((status, v["response"].as_u64()), (401, Some(401)), "{v}");
    let mut forged = CasClient::anonymous(&server);
    forged.token = Some("0123456789abcdef0123456789abcdef".into());
    let (status, _) = forged.post(&json!({"topic":"session","message":"info"}));
    assert_eq!(status, 401);
    let mut bob = CasClient::login(&server, "bob");
    assert_eq!(bob.code("session", "logout", json!({})), 0);
    let (status, v) = bob.post(&json!({"topic":"session","message":"info"}));
    assert_eq!(status, 401, "{v}");
    // A stale token does not stand in the way of logging in again.
    let (status, v) = bob.post(
        &json!({"topic":"session","message":"login","user":"bob","password":server.password("bob")}),
    );
    assert_eq!(status, 200, "{v}");
    let r = poll_now(&server, &[("Authorization", "Bearer nope")]);
    assert_client_error(&r, "long-poll with an unknown token");
    // The scheme is case-insensitive.
    let auth = format!("bearer {}", alice.token.as_deref().unwrap());
    let r = poll_now(&server, &[("Authorization", &auth)]);
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn standard_headers_and_one_sequence_across_replies_and_events() {
    let server = Server::default_start();
    let mut alice = CasClient::login(&server, "alice");
    let bob = CasClient::login(&server, "bob");
    let mut seen = vec![1u64]; // the login reply
    let send = |id: Value| {
        let (status, v) = bob.post(&json!({"topic":"session","message":"info","request_id":id}));
        assert_eq!(status, 200);
        v
    };
    for (n, id) in [json!(41), json!("req-42"), json!(43)]
        .into_iter()
        .enumerate()
    {
        let v = send(id.clone());
        assert_eq!(v["request_id"], id, "request_id is echoed as sent");
        assert!(
            v["timestamp"]
                .as_i64()
                .is_some_and(|t| t > 1_600_000_000_000),
            "{v}"
        );
        seen.push(v["sequence_id"].as_u64().unwrap());
        if n == 1 {
            // An event in between: the replies show a gap where it went.
            alice.call(
                "admin",
                "grant",
                json!({"role":"user","action":"weather.read"}),
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    let events = bob.events(2);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["topic"], "permissions");
    assert!(events[0]["timestamp"].is_i64());
    seen.push(events[0]["sequence_id"].as_u64().unwrap());
    seen.sort_unstable();
    assert_eq!(
        seen,
        [1, 2, 3, 4, 5],
        "one counter per session, no duplicates"
    );
    let replies: Vec<u64> = [json!(1), json!(2)]
        .iter()
        .map(|i| send(i.clone())["sequence_id"].as_u64().unwrap())
        .collect();
    assert!(replies[0] < replies[1] && replies[0] > 5, "{replies:?}");
}

#[test]
fn hostile_input_gets_4xx_and_the_server_keeps_serving() {
    let server = Server::start(ServerOpts::config("[http]\nmax_body = 65536\n"));
    let mut alice = CasClient::login(&server, "alice");
    let raw = |ct: &str, body: &[u8]| alice.post_raw(ct, body);
    let deep = "[".repeat(100) + &"]".repeat(100);
    let mut big = br#"{"topic":"session","message":"info","pad":""#.to_vec();
    big.resize(70_000, b'x');
    big.extend_from_slice(br#""}"#);
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        ("malformed JSON", "application/json", br#"{"topic":"#.to_vec(), 400, "malformed JSON"),
        ("malformed XML", "application/xml", b"<cas><topic>x</cas>".to_vec(), 400, "XML"),
        ("a DTD", "application/xml",
            b"<?xml version=\"1.0\"?><!DOCTYPE cas [<!ENTITY x \"y\">]><cas><topic>&x;</topic></cas>".to_vec(), 400, "DTD"),
        ("unknown topic", "application/json", br#"{"topic":"nope","message":"x"}"#.to_vec(), 404, "nope"),
        ("unknown message", "application/json", br#"{"topic":"session","message":"nope"}"#.to_vec(), 404, "nope"),
        ("unknown admin message", "application/json", br#"{"topic":"admin","message":"nope"}"#.to_vec(), 404, "nope"),
        ("missing field", "application/json", br#"{"topic":"admin","message":"grant","role":"user"}"#.to_vec(), 400, "'action'"),
        ("wrong type", "application/json", br#"{"topic":"admin","message":"grant","role":5,"action":"a.b"}"#.to_vec(), 400, "'role'"),
        ("unknown field", "application/json", br#"{"topic":"session","message":"info","colour":"red"}"#.to_vec(), 400, "'colour'"),
        ("bad header type", "application/json", br#"{"topic":"session","message":"info","request_id":[1]}"#.to_vec(), 400, "request_id"),
        ("too large", "application/json", big, 413, "limit"),
        ("too deep", "application/json", deep.into_bytes(), 413, "depth"),
        ("an existing user", "application/json", br#"{"topic":"admin","message":"user_add","user":"bob","password":"pw"}"#.to_vec(), 409, "already exists"),
        ("not JSON or XML", "text/plain", b"hello".to_vec(), 415, "Content-Type"),
        ("empty body", "application/json", Vec::new(), 400, "JSON"),
        ("empty XML", "application/xml", Vec::new(), 400, "XML"),
        ("an array", "application/json", b"[1,2]".to_vec(), 400, "object"),
        ("a string", "application/json", b"\"login\"".to_vec(), 400, "object"),
    ];
    for (what, ct, body, status, needle) in cases {
        let r = raw(ct, &body);
        assert_eq!(r.status, status, "{what}: {}", r.text());
        let v = assert_client_error(&r, what);
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(needle),
            "{what}: {msg:?} should mention {needle:?}"
        );
    }
    still_serving(&mut alice);

    let info = json!({"topic":"session","message":"info"});
    let too_many: Vec<Value> = (0..101).map(|_| info.clone()).collect();
    let r = alice.call("bulk", "bulk", json!({"requests": too_many}));
    assert_eq!(r["response"], 413, "{r}");
    let nested = json!({"topic":"bulk","message":"bulk","requests":[info.clone()]});
    let r = alice.call(
        "bulk",
        "bulk",
        json!({"requests": [info.clone(), nested, 5, info.clone()]}),
    );
    assert_eq!(r["response"], 0, "{r}");
    let codes: Vec<u64> = r["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["response"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [0, 400, 400, 0], "{r}");
    assert!(
        r["replies"][1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nested")
    );
    still_serving(&mut alice);
}

/// A small fixed-seed generator (xorshift64*), so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    const TOKENS: &[u8] = b"{ } [ ] \" , : < > </ /> null true -1e999 \\u0000 \\ud800 &amp; &x; \
        <!DOCTYPE <![CDATA[ \xff\xfe type=\"number\" type=\"array\" \"topic\" \"bulk\"";
    let tokens: Vec<&[u8]> = TOKENS
        .split(|b| *b == b' ')
        .filter(|t| !t.is_empty())
        .collect();
    let mut out = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(4) {
            0 if !out.is_empty() => {
                let end = (at + rng.below(8)).min(out.len());
                out.drain(at.min(end)..end);
            }
            1 => {
                let t = tokens[rng.below(tokens.len())];
                out.splice(at..at, t.iter().copied());
            }
            2 if at < out.len() => out[at] = u8::try_from(rng.next() & 0xff).unwrap(),
            _ => {
                let n = rng.below(6);
                let dup: Vec<u8> = out[at..(at + n).min(out.len())].to_vec();
                out.splice(at..at, dup);
            }
        }
    }
    out
}

#[test]
fn random_and_mutated_bodies_always_get_a_4xx_error_reply() {
    let server = Server::default_start();
    let mut bob = CasClient::login(&server, "bob");
    // Every seed is refused as bob (403/404/400/401), so every mutation must be refused too.
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("application/json", br#"{"topic":"admin","message":"user_list","request_id":1}"#.to_vec()),
        ("application/json", br#"{"topic":"admin","message":"grant","role":"user","action":"*"}"#.to_vec()),
        ("application/json", br#"{"topic":"bulk","message":"bulk","mode":"sideways","requests":[{"topic":"admin","message":"user_list"}]}"#.to_vec()),
        ("application/json", br#"{"topic":"session","message":"login","user":"bob","password":"x"}"#.to_vec()),
        ("application/xml", b"<cas><topic>admin</topic><message>user_list</message><request_id type=\"number\">3</request_id></cas>".to_vec()),
        ("application/xml", b"<cas><topic>nope</topic><message>x</message><l type=\"array\"><item>a</item></l></cas>".to_vec()),
    ];
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    for i in 0..400 {
        let (ct, body) = if i % 10 == 9 {
            let n = rng.below(200);
            let ct = if i % 20 == 9 {
                "application/json"
            } else {
                "application/xml"
            };
            (
                ct,
                (0..n)
                    .map(|_| u8::try_from(rng.next() & 0xff).unwrap())
                    .collect(),
            )
        } else {
            let (ct, seed) = &seeds[rng.below(seeds.len())];
            (*ct, mutate(&mut rng, seed))
        };
        let r = bob.post_raw(ct, &body);
        assert_client_error(&r, &format!("case {i}: {}", String::from_utf8_lossy(&body)));
    }
    still_serving(&mut bob);
}

#[test]
fn xml_is_answered_in_xml_and_equals_json() {
    let server = Server::default_start();
    let pw = server.password("bob");
    let xml_login = format!(
        "<?xml version=\"1.0\"?><cas><topic>session</topic><message>login</message>\
         <request_id type=\"number\">5</request_id><user>bob</user><password>{pw}</password></cas>"
    );
    let r = post(
        &server,
        &[("Content-Type", "application/xml")],
        xml_login.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.content_type.starts_with("application/xml"), "{r:?}");
    assert!(r.text().contains("<cas"), "{}", r.text());
    let from_xml = body_of(&r);
    let token = from_xml["session"].as_str().unwrap().to_owned();
    let json_login =
        json!({"topic":"session","message":"login","request_id":5,"user":"bob","password":pw});
    let r = post(
        &server,
        &[("Content-Type", "application/json")],
        json_login.to_string().as_bytes(),
    );
    assert_eq!(
        strip(from_xml.clone()),
        strip(r.json()),
        "XML and JSON logins are the same reply"
    );

    let auth = format!("Bearer {token}");
    let info_xml =
        b"<cas><topic>session</topic><message>info</message><request_id>abc</request_id></cas>";
    let x = post(
        &server,
        &[("Content-Type", "text/xml"), ("Authorization", &auth)],
        info_xml,
    );
    let j = post(
        &server,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &auth),
        ],
        br#"{"topic":"session","message":"info","request_id":"abc"}"#,
    );
    assert_eq!(x.status, 200, "{}", x.text());
    assert_eq!(strip(body_of(&x)), strip(j.json()));
    assert_eq!(
        body_of(&x)["sequence_id"].as_u64().unwrap() + 1,
        j.json()["sequence_id"].as_u64().unwrap()
    );
    // Accept picks the answer's format; errors come in it too.
    let r = post(
        &server,
        &[
            ("Content-Type", "application/xml"),
            ("Accept", "application/json"),
            ("Authorization", &auth),
        ],
        info_xml,
    );
    assert!(r.content_type.starts_with("application/json"), "{r:?}");
    assert_eq!(strip(r.json()), strip(j.json()));
    let r = post(
        &server,
        &[("Content-Type", "application/xml")],
        b"<cas><topic>session</topic>",
    );
    assert!(r.content_type.starts_with("application/xml"));
    assert_client_error(&r, "malformed XML answered in XML");
    let r = poll_now(
        &server,
        &[("Accept", "application/xml"), ("Authorization", &auth)],
    );
    assert_eq!(r.status, 200);
    assert_eq!(body_of(&r)["events"], json!([]));
}

#[test]
fn bulk_serial_and_mixed_modes() {
    let server = Server::default_start();
    let mut bob = CasClient::login(&server, "bob");
    let requests = json!([
        {"topic":"session","message":"info","request_id":"a"},
        {"topic":"admin","message":"user_list","request_id":"b"},
        {"topic":"sub","message":"list","request_id":"c"},
        {"topic":"session","message":"logout","request_id":"d"},
    ]);
    let ids = |v: &[Value]| {
        v.iter()
            .map(|r| (r["request_id"].clone(), r["response"].as_u64().unwrap()))
            .collect::<Vec<_>>()
    };
    let expected = vec![
        (json!("a"), 0),
        (json!("b"), 403),
        (json!("c"), 0),
        (json!("d"), 400),
    ];
    for mode in ["bulk", "mixed"] {
        let r = bob.call("bulk", "bulk", json!({"mode": mode, "requests": requests}));
        assert_eq!(r["response"], 0, "{r}");
        assert_eq!(
            ids(r["replies"].as_array().unwrap()),
            expected,
            "{mode}: {r}"
        );
        assert_eq!(r["replies"][0]["user"], "bob");
    }
    let r = bob.call(
        "bulk",
        "bulk",
        json!({"mode":"serial","requests": requests}),
    );
    assert_eq!(pick(&r, &["pending", "count"]), json!([true, 4]), "{r}");
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while events.len() < 4 && Instant::now() < deadline {
        events.extend(bob.events(2));
    }
    assert_eq!(
        ids(&events),
        expected,
        "serial replies arrive one by one, in order"
    );
    let got = seqs(&events);
    assert!(
        got.windows(2).all(|w| w[0] < w[1]) && got[0] > r["sequence_id"].as_u64().unwrap(),
        "{got:?}"
    );
    let r = bob.call(
        "bulk",
        "bulk",
        json!({"mode":"sideways","requests": requests}),
    );
    assert_eq!(r["response"], 400);

    // Over WebSocket: the pending reply first, then each reply as its own message.
    let (mut ws, _) = ws_login(&server, "bob");
    ws_send(
        &mut ws,
        &json!({"topic":"bulk","message":"bulk","mode":"serial","request_id":9,"requests":requests}),
    );
    let first = ws_recv(&mut ws).unwrap();
    assert_eq!(
        pick(&first, &["request_id", "pending"]),
        json!([9, true]),
        "{first}"
    );
    let mut all: Vec<Value> = (0..4).map(|_| ws_recv(&mut ws).unwrap()).collect();
    assert_eq!(ids(&all), expected);
    all.insert(0, first);
    let got = seqs(&all);
    assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "{got:?}");
}

#[test]
fn subscriptions_list_unsubscribe_and_unknown_topics() {
    let server = Server::default_start();
    let mut alice = CasClient::login(&server, "alice");
    let subs = |r: &Value| r["subscriptions"].clone();
    assert_eq!(subs(&alice.call("sub", "list", json!({}))), json!([]));
    let r = alice.call("sub", "subscribe", json!({"to":"permissions"}));
    assert_eq!(subs(&r), json!([{"to":"permissions","key":null}]));
    let r = alice.call(
        "sub",
        "subscribe",
        json!({"to":"admin","key":"bob@example.test"}),
    );
    assert_eq!(r["subscriptions"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(alice.code("sub", "subscribe", json!({"to":"nope"})), 404);
    assert_eq!(alice.code("sub", "subscribe", json!({})), 400);
    // `"subscribe": true` on any request subscribes to its topic.
    let r = alice.call("admin", "role_list", json!({"subscribe": true}));
    assert_eq!(r["response"], 0);
    let r = alice.call("sub", "list", json!({}));
    assert!(
        subs(&r)
            .as_array()
            .unwrap()
            .contains(&json!({"to":"admin","key":null})),
        "{r}"
    );
    assert_eq!(alice.code("sub", "unsubscribe", json!({"to":"admin"})), 0);
    assert_eq!(alice.code("sub", "unsubscribe", json!({"to":"admin"})), 404);
    assert_eq!(alice.code("sub", "unsubscribe", json!({"to":"nope"})), 404);
    let r = alice.call(
        "sub",
        "unsubscribe",
        json!({"to":"admin","key":"bob@example.test"}),
    );
    assert_eq!(subs(&r), json!([{"to":"permissions","key":null}]));
    // A failed request does not subscribe.
    let mut bob = CasClient::login(&server, "bob");
    assert_eq!(
        bob.code("admin", "user_list", json!({"subscribe": true})),
        403
    );
    assert_eq!(subs(&bob.call("sub", "list", json!({}))), json!([]));
}

#[test]
fn idle_sessions_expire_with_their_subscriptions() {
    let server = Server::start(ServerOpts::config("[http]\nsession_idle_timeout = 2\n"));
    let mut bob = CasClient::login(&server, "bob");
    bob.call("sub", "subscribe", json!({"to":"permissions"}));
    let mut carol = CasClient::login(&server, "carol");
    // A client waiting in a long-poll is active, even longer than the idle limit.
    let events = carol.events(3);
    assert!(events.is_empty());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(carol.code("session", "info", json!({})), 0);
    let (status, v) = bob.post(&json!({"topic":"session","message":"info"}));
    assert_eq!(status, 401, "bob was idle for 4.5 s: {v}");
    let mut alice = CasClient::login(&server, "alice");
    let r = alice.call("admin", "session_list", json!({"user":"bob@example.test"}));
    assert_eq!(r["sessions"], json!([]), "{r}");
    let r = alice.call(
        "admin",
        "session_list",
        json!({"user":"carol@example.test"}),
    );
    assert_eq!(r["sessions"][0]["transport"], "http", "{r}");
}

#[test]
fn permission_changes_reach_live_sessions_at_once() {
    let server = Server::default_start();
    let mut alice = CasClient::login(&server, "alice");
    let mut poll_bob = CasClient::login(&server, "bob");
    let (mut ws, login) = ws_login(&server, "bob");
    assert_eq!(login["role"], "user", "{login}");
    assert!(
        login.get("session").is_none(),
        "the socket is the session: {login}"
    );
    let user_list = json!({"topic":"admin","message":"user_list","request_id":"ul"});
    ws_send(&mut ws, &user_list);
    assert_eq!(ws_recv(&mut ws).unwrap()["response"], 403);
    let r = poll_bob.call("admin", "user_list", json!({}));
    assert_eq!(r["response"], 403);
    let why = r["error"]["message"].as_str().unwrap();
    assert!(why.contains("admin.users"), "403 names the action: {why}");

    let poller = {
        let mut bob = CasClient::anonymous(&server);
        bob.token = poll_bob.token.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            let events = bob.events(5);
            (events, start.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let granted = Instant::now();
    let r = alice.call(
        "admin",
        "grant",
        json!({"role":"user","action":"admin.users"}),
    );
    assert!(has(&r["actions"], "admin.users"), "{r}");
    let ev = ws_recv_where(&mut ws, |v| v["topic"] == "permissions").unwrap();
    assert!(
        granted.elapsed() < Duration::from_secs(1),
        "WS event after {:?}",
        granted.elapsed()
    );
    assert_eq!(ev["message"], "changed");
    assert_eq!(ev["role"], "user");
    assert!(has(&ev["permissions"], "admin.users"), "{ev}");
    let (events, waited) = poller.join().unwrap();
    assert!(
        waited < Duration::from_millis(1200),
        "long-poll answered after {waited:?}"
    );
    assert_eq!(
        pick(&events[0], &["topic", "message"]),
        json!(["permissions", "changed"])
    );

    ws_send(&mut ws, &user_list);
    let r = ws_recv_where(&mut ws, |v| v["request_id"] == "ul").unwrap();
    assert_eq!(r["response"], 0, "{r}");
    assert!(r["users"].as_array().unwrap().len() >= 3);
    assert_eq!(poll_bob.code("admin", "user_list", json!({})), 0);

    alice.call(
        "admin",
        "revoke",
        json!({"role":"user","action":"admin.users"}),
    );
    let ev = ws_recv_where(&mut ws, |v| v["topic"] == "permissions").unwrap();
    assert!(!has(&ev["permissions"], "admin.users"));
    assert_eq!(poll_bob.code("admin", "user_list", json!({})), 403);
    ws_send(&mut ws, &user_list);
    assert_eq!(
        ws_recv_where(&mut ws, |v| v["request_id"] == "ul").unwrap()["response"],
        403
    );

    // A new role for the user changes the live sessions' role.
    alice.call("admin", "user_role", json!({"user":"bob","role":"admin"}));
    let ev = ws_recv_where(&mut ws, |v| v["topic"] == "permissions").unwrap();
    assert_eq!(pick(&ev, &["role", "permissions"]), json!(["admin", ["*"]]));
    assert_eq!(poll_bob.call("session", "info", json!({}))["role"], "admin");
    assert_eq!(poll_bob.code("admin", "user_list", json!({})), 0);
    alice.call("admin", "user_role", json!({"user":"bob","role":"user"}));
    let deadline = Instant::now() + Duration::from_secs(3);
    while !poll_bob.events(1).iter().any(|e| e["role"] == "user") {
        assert!(
            Instant::now() < deadline,
            "no permissions.changed back to role user"
        );
    }
    assert_eq!(poll_bob.code("admin", "user_list", json!({})), 403);
}

#[test]
fn websocket_carries_login_requests_replies_and_events() {
    let server = Server::default_start();
    let mut alice = CasClient::login(&server, "alice");
    let mut ws = ws_connect(&server, "/cas/ws");
    ws_send(
        &mut ws,
        &json!({"topic":"session","message":"info","request_id":1}),
    );
    assert_eq!(ws_recv(&mut ws).unwrap()["response"], 401, "before login");
    ws_send(
        &mut ws,
        &json!({"topic":"session","message":"login","request_id":2,"user":"carol","password":"wrong"}),
    );
    assert_eq!(ws_recv(&mut ws).unwrap()["response"], 401);
    ws.send(tungstenite::Message::Text("{not json".into()))
        .unwrap();
    assert_eq!(ws_recv(&mut ws).unwrap()["response"], 400);
    ws_send(
        &mut ws,
        &json!({"topic":"session","message":"login","request_id":3,"user":"carol","password":server.password("carol")}),
    );
    let login = ws_recv(&mut ws).unwrap();
    assert_eq!(
        pick(&login, &["request_id", "response", "sequence_id"]),
        json!([3, 0, 1])
    );
    ws_send(
        &mut ws,
        &json!({"topic":"sub","message":"subscribe","request_id":4,"to":"permissions"}),
    );
    let r = ws_recv(&mut ws).unwrap();
    assert_eq!(pick(&r, &["request_id", "sequence_id"]), json!([4, 2]));
    alice.call(
        "admin",
        "grant",
        json!({"role":"user","action":"weather.read"}),
    );
    let ev = ws_recv(&mut ws).unwrap();
    assert_eq!(
        pick(&ev, &["topic", "sequence_id"]),
        json!(["permissions", 3]),
        "{ev}"
    );
    // XML over the socket is answered in XML.
    ws.send(tungstenite::Message::Text(
        "<cas><topic>session</topic><message>info</message></cas>".into(),
    ))
    .unwrap();
    match ws.read().unwrap() {
        tungstenite::Message::Text(t) => {
            let v = cas_proto::decode(t.as_bytes(), Format::Xml, &Limits::default()).unwrap();
            assert_eq!(pick(&v, &["user", "sequence_id"]), json!(["carol", 4]));
        }
        other => panic!("{other:?}"),
    }
    let carol_sessions = |alice: &mut CasClient| {
        alice.call(
            "admin",
            "session_list",
            json!({"user":"carol@example.test"}),
        )["sessions"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(carol_sessions(&mut alice), 1);
    // A second login on the socket replaces the session.
    ws_send(
        &mut ws,
        &json!({"topic":"session","message":"login","user":"carol","password":server.password("carol")}),
    );
    assert_eq!(ws_recv(&mut ws).unwrap()["sequence_id"], 1);
    assert_eq!(carol_sessions(&mut alice), 1);
    ws.close(None).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while carol_sessions(&mut alice) > 0 {
        assert!(
            Instant::now() < deadline,
            "closing the socket must end the session"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Logging out over the socket closes it.
    let (mut ws, _) = ws_login(&server, "carol");
    ws_send(
        &mut ws,
        &json!({"topic":"session","message":"logout","request_id":"bye"}),
    );
    assert_eq!(ws_recv(&mut ws).unwrap()["request_id"], "bye");
    assert!(ws_recv(&mut ws).is_none());
    assert_eq!(carol_sessions(&mut alice), 0);
}

#[test]
fn many_waiting_long_poll_clients_share_a_small_pool() {
    const CLIENTS: usize = 200;
    let server = Server::default_start();
    let mut alice = CasClient::login(&server, "alice");
    let tokens: Vec<String> = (0..CLIENTS)
        .map(|_| CasClient::login(&server, "bob").token.unwrap())
        .collect();
    let barrier = Arc::new(Barrier::new(CLIENTS + 1));
    let addr = server.http;
    let waiters: Vec<_> = tokens
        .into_iter()
        .map(|t| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let r = http(
                    addr,
                    "GET",
                    "/cas/events?timeout=10",
                    &[("Authorization", &format!("Bearer {t}"))],
                    b"",
                );
                assert_eq!(r.status, 200, "{}", r.text());
                r.json()["events"].as_array().unwrap().len()
            })
        })
        .collect();
    barrier.wait();
    std::thread::sleep(Duration::from_millis(1500));
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", server.pid().unwrap())).unwrap();
    let threads: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        threads < 64,
        "{threads} server threads for {CLIENTS} waiting clients"
    );
    let start = Instant::now();
    alice.call(
        "admin",
        "grant",
        json!({"role":"user","action":"weather.read"}),
    );
    let got: Vec<usize> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(
        got.iter().all(|n| *n == 1),
        "every client got its event: {got:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "answered in {:?}",
        start.elapsed()
    );
}
