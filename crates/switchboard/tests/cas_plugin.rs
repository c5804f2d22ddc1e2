//! Out-of-process plug-ins (DESIGN.md §3) with the example `examples/plugins/weather.py`
//! against the real binary: requests reach the plug-in with the caller's identity and
//! permissions, asynchronous answers, one owner per topic, restricted topics, credentials,
//! a slow or dead plug-in never hangs a client, and events pushed to users.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::cas::{CasClient, Ws, ws_connect, ws_recv, ws_recv_where, ws_send};
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

const CONFIG: &str = "[http]\nplugin_timeout_ms = 1000\n";

/// A running `weather.py`, killed by its PID when dropped.
struct Plugin {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Plugin {
    fn start(server: &Server, name: &str, credential: &str, topics: &[&str]) -> Plugin {
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/plugins/weather.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script)
            .args(["--url", &format!("ws://{}/cas/plugin", server.http)])
            .args(["--name", name, "--credential", credential, "--delay", "3"]);
        for t in topics {
            cmd.args(["--topic", t]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Plugin { child, lines }
    }

    /// Waits (bounded) for a stdout line starting with `prefix`.
    fn expect(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.starts_with(prefix) => return l,
                Ok(_) => {}
                Err(e) => panic!("plug-in never printed {prefix:?} ({e})"),
            }
        }
    }

    /// Waits (bounded) for the process to exit by itself.
    fn exit_status(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < deadline, "plug-in did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        self.kill();
    }
}

fn credential(alice: &mut CasClient, name: &str) -> String {
    let r = alice.call("admin", "plugin_credential", json!({"name": name}));
    assert_eq!(r["response"], 0, "{r}");
    r["credential"].as_str().unwrap().to_owned()
}

/// A WebSocket logged in as `user`.
fn ws_login(server: &Server, user: &str) -> Ws {
    let mut ws = ws_connect(server, "/cas/ws");
    let login =
        json!({"topic":"session","message":"login","user":user,"password":server.password(user)});
    ws_send(&mut ws, &login);
    assert_eq!(ws_recv(&mut ws).unwrap()["response"], 0);
    ws
}

/// A server, alice (admin), and a running weather plug-in.
fn setup() -> (Server, CasClient, Plugin) {
    let server = Server::start(ServerOpts::config(CONFIG));
    let mut alice = CasClient::login(&server, "alice");
    let secret = credential(&mut alice, "weather");
    let plugin = Plugin::start(&server, "weather", &secret, &[]);
    plugin.expect("welcome weather");
    plugin.expect("registered weather");
    (server, alice, plugin)
}

/// Long-polls until `n` events arrived (bounded).
fn collect_events(client: &CasClient, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut events = Vec::new();
    while events.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} events: {events:?}",
            events.len()
        );
        events.extend(client.events(2));
    }
    events
}

#[test]
fn requests_reach_the_plugin_with_the_callers_identity() {
    let (server, mut alice, _plugin) = setup();
    let mut bob_anon = CasClient::anonymous(&server);
    let login = bob_anon.call(
        "session",
        "login",
        json!({"user":"bob","password":server.password("bob")}),
    );
    let mut bob = CasClient::login(&server, "bob");
    let r = bob
        .post(&json!({"topic":"weather","message":"forecast","request_id":"w1","city":"Oslo"}))
        .1;
    assert_eq!(r["response"], 0, "{r}");
    assert_eq!(
        pick(&r, &["topic", "message", "request_id"]),
        json!(["weather", "forecast", "w1"])
    );
    assert!(r["sequence_id"].is_u64() && r["timestamp"].is_i64(), "{r}");
    assert_eq!(r["forecast"].as_array().unwrap().len(), 3);
    assert_eq!(r["served_by"], "weather");
    assert_eq!(r["caller"]["user"], "bob@example.test");
    assert_eq!(
        r["caller"]["permissions"], login["permissions"],
        "the plug-in sees the caller's permissions"
    );
    let r = alice.call("weather", "forecast", json!({"city":"Oslo","days":1}));
    assert_eq!(
        (
            r["caller"]["user"].clone(),
            r["caller"]["permissions"].clone()
        ),
        (json!("alice@example.test"), json!(["*"]))
    );
    // The plug-in's own refusals come back with their codes.
    assert_eq!(
        bob.code("weather", "forecast", json!({"city":"Oslo","days":9})),
        400
    );
    let r = bob.call("weather", "nope", json!({}));
    assert_eq!(r["response"], 404);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("weather.nope"),
        "{r}"
    );
    // A plug-in topic can be subscribed to.
    assert_eq!(bob.code("sub", "subscribe", json!({"to":"weather"})), 0);
    // Over WebSocket too.
    let mut ws = ws_login(&server, "carol");
    ws_send(
        &mut ws,
        &json!({"topic":"weather","message":"forecast","request_id":3,"city":"Lima"}),
    );
    let r = ws_recv(&mut ws).unwrap();
    assert_eq!(
        (
            r["request_id"].clone(),
            r["city"].clone(),
            r["caller"]["user"].clone()
        ),
        (json!(3), json!("Lima"), json!("carol@example.test"))
    );
}

#[test]
fn asynchronous_answers_complete_as_events() {
    let (server, _alice, _plugin) = setup();
    let mut bob = CasClient::login(&server, "bob");
    let r = bob.call("weather", "later", json!({"city":"Quito","after_ms":300}));
    assert_eq!(pick(&r, &["response", "pending"]), json!([0, true]), "{r}");
    let id = r["request_id"].clone();
    let events = collect_events(&bob, 1);
    let done = &events[0];
    assert_eq!(
        pick(done, &["request_id", "completion", "response"]),
        json!([id, true, 0]),
        "{done}"
    );
    assert_eq!(
        pick(done, &["topic", "message", "city"]),
        json!(["weather", "later", "Quito"])
    );
    assert!(done["sequence_id"].as_u64().unwrap() > r["sequence_id"].as_u64().unwrap());

    // bulk waits for the asynchronous element; mixed answers it later; serial one by one.
    let requests = json!([
        {"topic":"weather","message":"later","request_id":"L","city":"Bern","after_ms":200},
        {"topic":"weather","message":"forecast","request_id":"F","city":"Bern"},
    ]);
    let r = bob.call("bulk", "bulk", json!({"mode":"bulk","requests":requests}));
    assert_eq!(r["replies"][0]["city"], "Bern", "{r}");
    assert!(r["replies"][0].get("pending").is_none(), "{r}");
    let r = bob.call("bulk", "bulk", json!({"mode":"mixed","requests":requests}));
    assert_eq!(r["replies"][0]["pending"], true, "{r}");
    assert_eq!(r["replies"][1]["city"], "Bern", "{r}");
    let events = collect_events(&bob, 1);
    assert_eq!(
        pick(&events[0], &["request_id", "completion"]),
        json!(["L", true])
    );
    let r = bob.call("bulk", "bulk", json!({"mode":"serial","requests":requests}));
    assert_eq!(r["pending"], true);
    let events = collect_events(&bob, 2);
    let ids: Vec<&Value> = events.iter().map(|e| &e["request_id"]).collect();
    assert_eq!(ids, [&json!("L"), &json!("F")]);

    // Over WebSocket: pending reply first, then the completion.
    let mut ws = ws_login(&server, "bob");
    ws_send(
        &mut ws,
        &json!({"topic":"weather","message":"later","request_id":"ws","city":"Pune","after_ms":0}),
    );
    let first = ws_recv(&mut ws).unwrap();
    let second = ws_recv(&mut ws).unwrap();
    assert_eq!(
        (first["pending"].clone(), second["completion"].clone()),
        (json!(true), json!(true)),
        "{first} {second}"
    );
    assert_eq!(
        second["sequence_id"].as_u64().unwrap(),
        first["sequence_id"].as_u64().unwrap() + 1
    );
}

#[test]
fn topics_have_one_owner_and_restricted_topics_stay_built_in() {
    let (server, mut alice, _plugin) = setup();
    // Another plug-in cannot take `weather`.
    let secret = credential(&mut alice, "weather2");
    let mut second = Plugin::start(&server, "weather2", &secret, &["weather"]);
    second.expect("welcome weather2");
    let line = second.expect("refused weather");
    assert!(line.contains("already served by weather"), "{line}");
    assert_eq!(second.exit_status().code(), Some(2), "nothing registered");
    // Restricted topics are refused, the others accepted.
    let secret = credential(&mut alice, "sneaky");
    let sneaky = Plugin::start(
        &server,
        "sneaky",
        &secret,
        &["dir", "admin", "session", "storms"],
    );
    sneaky.expect("registered storms");
    for t in ["dir", "admin", "session"] {
        let line = sneaky.expect(&format!("refused {t}"));
        assert!(line.contains("restricted"), "{line}");
    }
    let mut bob = CasClient::login(&server, "bob");
    assert_eq!(
        bob.code("admin", "user_list", json!({})),
        403,
        "admin stays built in"
    );
    assert_eq!(
        bob.call("storms", "forecast", json!({"city":"Rome"}))["served_by"],
        "sneaky"
    );
    // A wrong credential, or one issued for another name, is refused.
    let mut bad = Plugin::start(&server, "weather", "not-the-credential", &["hail"]);
    let line = bad.expect("error");
    assert!(line.contains("credential"), "{line}");
    assert_eq!(bad.exit_status().code(), Some(1));
    let mut other = Plugin::start(&server, "weather2", "x", &["hail"]);
    other.expect("error");
    assert_eq!(other.exit_status().code(), Some(1));
    assert_eq!(bob.code("hail", "forecast", json!({})), 404);
    // A new credential replaces the old one.
    let fresh = credential(&mut alice, "weather2");
    let mut old = Plugin::start(&server, "weather2", &secret, &["hail"]);
    old.expect("error");
    let newer = Plugin::start(&server, "weather2", &fresh, &["hail"]);
    newer.expect("registered hail");
    assert_eq!(old.exit_status().code(), Some(1));
}

#[test]
fn a_slow_or_dead_plugin_never_hangs_a_client() {
    let (server, mut alice, mut plugin) = setup();
    let mut bob = CasClient::login(&server, "bob");
    let start = Instant::now();
    let r = bob.call("weather", "slow", json!({"city":"Oslo"}));
    let took = start.elapsed();
    assert_eq!(r["response"], 408, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("1000 ms"),
        "{r}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(1800),
        "408 after {took:?}"
    );
    // A WebSocket client waiting on the slow plug-in still receives its events meanwhile.
    let mut ws = ws_login(&server, "bob");
    ws_send(
        &mut ws,
        &json!({"topic":"weather","message":"slow","request_id":"s"}),
    );
    std::thread::sleep(Duration::from_millis(200));
    alice.call(
        "admin",
        "grant",
        json!({"role":"user","action":"weather.read"}),
    );
    let first = ws_recv(&mut ws).unwrap();
    assert_eq!(
        pick(&first, &["topic", "message"]),
        json!(["permissions", "changed"])
    );
    let r = ws_recv(&mut ws).unwrap();
    assert_eq!(pick(&r, &["request_id", "response"]), json!(["s", 408]));
    assert!(r["sequence_id"].as_u64() > first["sequence_id"].as_u64());
    // The plug-in still serves; its late answer is dropped.
    assert_eq!(bob.code("weather", "forecast", json!({"city":"Oslo"})), 0);

    // Killed while a request waits: that request fails at once, later ones are refused.
    let waiting = {
        // A session of its own: no earlier events in its queue.
        let mut c = CasClient::login(&server, "bob");
        std::thread::spawn(move || {
            let start = Instant::now();
            let r = c.call("weather", "later", json!({"city":"Oslo","after_ms":5000}));
            assert_eq!(r["pending"], true, "{r}");
            let events = collect_events(&c, 1);
            (events, start.elapsed())
        })
    };
    let slow = {
        let mut c = CasClient::login(&server, "bob");
        std::thread::spawn(move || {
            let start = Instant::now();
            (c.call("weather", "slow", json!({})), start.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    plugin.kill();
    let (r, took) = slow.join().unwrap();
    assert_eq!(r["response"], 503, "{r}");
    assert!(
        took < Duration::from_millis(900),
        "the dead plug-in's request waited {took:?}"
    );
    let (events, took) = waiting.join().unwrap();
    assert_eq!(
        pick(&events[0], &["completion", "response"]),
        json!([true, 503]),
        "{events:?}"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    let start = Instant::now();
    let r = bob.call("weather", "forecast", json!({"city":"Oslo"}));
    assert!(r["response"] == 404 || r["response"] == 503, "{r}");
    assert!(start.elapsed() < Duration::from_secs(1));

    // The topic is free again: a new plug-in takes it.
    let secret = credential(&mut alice, "weather");
    let again = Plugin::start(&server, "weather", &secret, &[]);
    again.expect("registered weather");
    assert_eq!(bob.code("weather", "forecast", json!({"city":"Oslo"})), 0);
}

#[test]
fn plugin_events_reach_the_users_sessions() {
    let (server, _alice, _plugin) = setup();
    let mut ws = ws_login(&server, "bob");
    let mut bob = CasClient::login(&server, "bob");
    let carol = CasClient::login(&server, "carol");
    let r = bob.call("weather", "alert_me", json!({"text":"hail","count":2}));
    assert_eq!(r["alerts"], 2, "{r}");
    let ev = ws_recv_where(&mut ws, |v| v["topic"] == "weather").unwrap();
    assert_eq!(
        pick(&ev, &["message", "text", "n"]),
        json!(["alert", "hail", 0])
    );
    assert!(ev["sequence_id"].is_u64() && ev["timestamp"].is_i64());
    assert_eq!(ws_recv(&mut ws).unwrap()["n"], 1);
    let events = bob.events(1);
    assert_eq!(events.len(), 2, "every session of the user: {events:?}");
    assert!(carol.events(1).is_empty(), "only the user's sessions");

    // A long-poll queue keeps the newest 1000 events; the sequence gap shows what was lost.
    let before = bob.call("session", "info", json!({}))["sequence_id"]
        .as_u64()
        .unwrap();
    let r = bob.call("weather", "alert_me", json!({"count":1100}));
    assert_eq!(r["alerts"], 1100, "{r}");
    assert_eq!(r["sequence_id"], before + 1101, "the events went first");
    let events = bob.events(1);
    assert_eq!(events.len(), 1000);
    assert_eq!(events[0]["n"], 100, "the oldest were dropped");
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["sequence_id"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs[0], before + 101, "the gap after {before} is visible");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
}
