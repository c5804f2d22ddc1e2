//! The CAS benchmark client. Two subcommands, each printing `key=value` lines on stdout
//! (progress and problems go to stderr):
//!
//! - `throughput`: N keep-alive HTTP/1.1 connections sending `dir.lookup_contacts` to
//!   `POST /cas` back to back for a fixed time (after a warm-up); requests/s, latency, and the
//!   server's CPU time during the window when `--pid` is given. Works against Switchboard
//!   (`--user`/`--password` log each connection in) and against `echo-server`.
//! - `sessions`: opens `--sessions` WebSocket sessions to `/cas/ws` (each logs in with its
//!   first message), reads the server's memory before and after (`--pid`), then a sender
//!   session sends `--ims` instant messages at `--rate` per second to users whose sessions
//!   are connected, and measures IM sent → `im.received` event at the receiving socket.
//! - `presence`: presence fan-out over CAS (see `src/presence.rs`).

#[path = "../presence.rs"]
mod presence;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cas_bench::{
    Args, Conn, Res, cpu_seconds, machine_busy_seconds, percentile, post_cas, pss_kib, status_kib,
};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

fn main() {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().unwrap_or_default();
    let parsed = match Args::parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cas-bench: {e}");
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cas-bench: runtime: {e}");
            std::process::exit(2);
        }
    };
    let result = rt.block_on(async move {
        match cmd.as_str() {
            "throughput" => throughput(parsed).await,
            "sessions" => sessions(parsed).await,
            "offline" => offline(parsed).await,
            "presence" => presence::run(parsed).await,
            _ => {
                Err("usage: cas-bench throughput|sessions|offline|presence --key value ...".into())
            }
        }
    });
    match result {
        // Exit at once: thousands of sockets close with the process, without handshakes.
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("cas-bench: {e}");
            std::process::exit(1);
        }
    }
}

fn out(key: &str, value: impl std::fmt::Display) {
    println!("{key}={value}");
}

// ---------------------------------------------------------------------------------------
// Throughput
// ---------------------------------------------------------------------------------------

async fn login_http(conn: &mut Conn, addr: SocketAddr, a: &Args) -> Res<String> {
    let mut msg = json!({"topic":"session","message":"login",
        "user": a.str("user")?, "password": a.str("password")?});
    if let Some(d) = a.opt("domain") {
        msg["domain"] = json!(d);
    }
    let status = conn.request(&post_cas(addr, None, &msg.to_string())).await?;
    let v: Value = serde_json::from_slice(&conn.body)?;
    match (status, v["session"].as_str()) {
        (200, Some(t)) => Ok(t.to_owned()),
        _ => Err(format!("login failed: HTTP {status}: {v}").into()),
    }
}

#[derive(Default)]
struct ConnResult {
    ok: u64,
    non_200: u64,
    io_errors: u64,
    first_error: Option<String>,
    lat_us: Vec<u64>,
}

async fn throughput(a: Args) -> Res<()> {
    let addr: SocketAddr = a.str("addr")?.parse()?;
    let conns: usize = a.num("conns", 32)?;
    let warmup: f64 = a.num("warmup", 2.0)?;
    let secs: f64 = a.num("secs", 10.0)?;
    let tokens: Vec<String> = a
        .opt("tokens")
        .unwrap_or_else(|| "al".to_owned())
        .split(',')
        .map(str::to_owned)
        .collect();
    let pid = a.opt("pid");
    let body = json!({"topic":"dir","message":"lookup_contacts","request_id":1,
        "tokens": tokens, "max": 25})
    .to_string();

    let mut list = Vec::with_capacity(conns);
    for _ in 0..conns {
        let mut c = Conn::connect(addr).await?;
        let token = if a.opt("user").is_some() {
            login_http(&mut c, addr, &a).await?
        } else {
            // The echo server ignores it; sent so both requests have the same shape.
            "0123456789abcdef0123456789abcdef".to_owned()
        };
        let req = post_cas(addr, Some(&token), &body);
        list.push((c, req));
    }
    // One request to check the answer before measuring.
    {
        let (c, req) = list.first_mut().ok_or("--conns must be at least 1")?;
        let status = c.request(req).await?;
        let text = String::from_utf8_lossy(&c.body).into_owned();
        if status != 200 {
            return Err(format!("first request: HTTP {status}: {text}").into());
        }
        let v: Value = serde_json::from_str(&text)?;
        out("request_bytes", req.len());
        out("reply_bytes", c.body.len());
        if let Some(n) = v.get("total") {
            out("lookup_total", n);
        }
        if let Some(e) = v.get("contacts").and_then(Value::as_array) {
            out("lookup_entries", e.len());
        }
        let sample: String = text.chars().take(160).collect();
        out("reply_sample", sample);
    }

    let start = tokio::time::Instant::now();
    let t0 = start + Duration::from_secs_f64(warmup);
    let t1 = t0 + Duration::from_secs_f64(secs);
    let mut tasks = Vec::with_capacity(conns);
    for (mut c, req) in list {
        tasks.push(tokio::spawn(async move {
            let mut r = ConnResult::default();
            loop {
                let s = tokio::time::Instant::now();
                if s >= t1 {
                    break;
                }
                let res = c.request(&req).await;
                let e = tokio::time::Instant::now();
                let in_window = e >= t0 && e < t1;
                match res {
                    Ok(200) if in_window => {
                        r.ok += 1;
                        r.lat_us.push((e - s).as_micros() as u64);
                    }
                    Ok(200) => {}
                    Ok(st) => {
                        if in_window {
                            r.non_200 += 1;
                        }
                        r.first_error.get_or_insert_with(|| {
                            format!("HTTP {st}: {}", String::from_utf8_lossy(&c.body))
                        });
                    }
                    Err(err) => {
                        r.io_errors += 1;
                        r.first_error.get_or_insert_with(|| err.to_string());
                        break;
                    }
                }
            }
            r
        }));
    }
    tokio::time::sleep_until(t0).await;
    let cpu0 = pid.as_deref().and_then(cpu_seconds);
    let self0 = cpu_seconds("self");
    let busy0 = machine_busy_seconds();
    let load0 = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    tokio::time::sleep_until(t1).await;
    let cpu1 = pid.as_deref().and_then(cpu_seconds);
    let self1 = cpu_seconds("self");
    let busy1 = machine_busy_seconds();
    let window = (tokio::time::Instant::now() - t0).as_secs_f64().max(secs);

    let mut total = ConnResult::default();
    for t in tasks {
        let r = t.await?;
        total.ok += r.ok;
        total.non_200 += r.non_200;
        total.io_errors += r.io_errors;
        if total.first_error.is_none() {
            total.first_error = r.first_error;
        }
        total.lat_us.extend(r.lat_us);
    }
    total.lat_us.sort_unstable();
    let rps = total.ok as f64 / secs;
    out("conns", conns);
    out("window_s", format!("{window:.2}"));
    out("requests", total.ok);
    out("rps", format!("{rps:.0}"));
    out("non_200", total.non_200);
    out("io_errors", total.io_errors);
    if let Some(e) = &total.first_error {
        out("first_error", e.replace('\n', " "));
    }
    out("lat_p50_us", percentile(&total.lat_us, 50.0));
    out("lat_p99_us", percentile(&total.lat_us, 99.0));
    out("lat_max_us", total.lat_us.last().copied().unwrap_or(0));
    if let (Some(c0), Some(c1)) = (cpu0, cpu1) {
        let cpu = c1 - c0;
        out("server_cpu_s", format!("{cpu:.2}"));
        if cpu > 0.0 {
            out(
                "req_per_server_cpu_s",
                format!("{:.0}", total.ok as f64 / cpu),
            );
        }
    }
    if let (Some(c0), Some(c1)) = (self0, self1) {
        out("client_cpu_s", format!("{:.2}", c1 - c0));
    }
    if let (Some(b0), Some(b1)) = (busy0, busy1) {
        out("machine_busy_cpu_s", format!("{:.2}", b1 - b0));
        // What neither the server nor this client used: other processes on the machine.
        if let (Some(s0), Some(s1), Some(c0), Some(c1)) = (cpu0, cpu1, self0, self1) {
            let other = (b1 - b0) - (s1 - s0) - (c1 - c0);
            out("other_cpu_s", format!("{:.2}", other.max(0.0)));
        }
    }
    out("loadavg_start", load0.trim());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Sessions: memory per idle session and event latency
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Shared {
    /// IM number and arrival time (ns since `base`) of every `im.received` event.
    arrivals: Mutex<Vec<(u32, u64)>>,
    /// `received` events whose `to` is not the session's user.
    misrouted: AtomicU64,
    /// `received` events whose text is not one of ours.
    foreign: AtomicU64,
    /// Other messages on receiving sessions after login.
    other: AtomicU64,
    /// Jumps in a session's `sequence_id`.
    seq_gaps: AtomicU64,
    /// Receiving sockets closed or failed while the test ran.
    disconnects: AtomicU64,
    first_disconnect: Mutex<Option<String>>,
}

fn ns_since(base: Instant) -> u64 {
    base.elapsed().as_nanos() as u64
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects and logs in over the socket; returns the socket and the login reply's sequence_id.
async fn ws_login(url: &str, cfg: WebSocketConfig, login: &str) -> Res<(Ws, u64)> {
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(cfg), true).await?;
    ws.send(Message::Text(login.to_owned().into())).await?;
    while let Some(m) = ws.next().await {
        if let Message::Text(t) = m? {
            let v: Value = serde_json::from_str(t.as_str())?;
            if v["topic"] == "session" && v["message"] == "login" {
                if v["response"] == 0 {
                    return Ok((ws, v["sequence_id"].as_u64().unwrap_or(0)));
                }
                return Err(format!("login refused: {t}").into());
            }
        }
    }
    Err("socket closed before the login reply".into())
}

fn login_json(user: &str, password: &str, domain: Option<&str>) -> String {
    let mut v = json!({"topic":"session","message":"login","request_id":"login",
        "user": user, "password": password});
    if let Some(d) = domain {
        v["domain"] = json!(d);
    }
    v.to_string()
}

/// One receiving session: logs in, reports, then reads events until the socket ends.
async fn receiver(
    url: Arc<str>,
    cfg: WebSocketConfig,
    user: String,
    login: String,
    shared: Arc<Shared>,
    base: Instant,
    sem: Arc<Semaphore>,
    ready: oneshot::Sender<Result<u64, String>>,
) {
    let Ok(permit) = sem.acquire_owned().await else {
        return;
    };
    let t = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(30), ws_login(&url, cfg, &login)).await;
    drop(permit);
    let (mut ws, mut last_seq) = match r {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
        Err(_) => {
            let _ = ready.send(Err("connect + login took over 30 s".into()));
            return;
        }
    };
    let _ = ready.send(Ok(t.elapsed().as_micros() as u64));
    let prefix = format!("{user}@");
    let reason = loop {
        let m = match ws.next().await {
            Some(Ok(m)) => m,
            Some(Err(e)) => break e.to_string(),
            None => break "closed (EOF)".to_owned(),
        };
        let text = match m {
            Message::Text(t) => t,
            Message::Close(c) => break format!("close frame {c:?}"),
            _ => continue,
        };
        let now = ns_since(base);
        let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
            shared.foreign.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if let Some(s) = v["sequence_id"].as_u64() {
            if s != last_seq + 1 {
                shared.seq_gaps.fetch_add(1, Ordering::Relaxed);
            }
            last_seq = s;
        }
        if v["topic"] == "im" && v["message"] == "received" {
            let n = v["text"]
                .as_str()
                .and_then(|s| s.strip_prefix('b'))
                .and_then(|s| s.parse::<u32>().ok());
            match n {
                Some(n) => {
                    if let Ok(mut a) = shared.arrivals.lock() {
                        a.push((n, now));
                    }
                    if !v["to"].as_str().is_some_and(|to| to.starts_with(&prefix)) {
                        shared.misrouted.fetch_add(1, Ordering::Relaxed);
                    }
                }
                None => {
                    shared.foreign.fetch_add(1, Ordering::Relaxed);
                }
            }
        } else {
            shared.other.fetch_add(1, Ordering::Relaxed);
        }
    };
    shared.disconnects.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut f) = shared.first_disconnect.lock() {
        f.get_or_insert(format!("{user}: {reason}"));
    }
}

/// Per IM: its reply's arrival (ns since base, 0 = none) and 0/1 flags.
struct Replies {
    at: Vec<AtomicU64>,
    errors: Vec<AtomicU64>,
    first_error: Mutex<Option<String>>,
    /// The reply said `stored: true` (the server thought the user unreachable).
    stored: Vec<AtomicU64>,
    /// `delivered.sessions` differing from the sessions the bench holds for that user.
    mismatch: Vec<AtomicU64>,
}

/// Waits until the process uses under 10 % of a core over half a second; returns how long
/// that took, or `None` after `max` seconds.
async fn wait_quiet(pid: &str, max: f64) -> Option<f64> {
    let t = Instant::now();
    while t.elapsed().as_secs_f64() < max {
        let c0 = cpu_seconds(pid).unwrap_or(0.0);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let c1 = cpu_seconds(pid).unwrap_or(0.0);
        if c1 - c0 < 0.05 {
            return Some(t.elapsed().as_secs_f64());
        }
    }
    None
}

fn mem_line(prefix: &str, pid: u32) -> (Option<u64>, Option<u64>) {
    let rss = status_kib(pid, "VmRSS");
    let pss = pss_kib(pid);
    out(
        &format!("{prefix}_rss_kib"),
        rss.map_or("?".into(), |v| v.to_string()),
    );
    out(
        &format!("{prefix}_pss_kib"),
        pss.map_or("?".into(), |v| v.to_string()),
    );
    (rss, pss)
}

async fn sessions(a: Args) -> Res<()> {
    let addr: SocketAddr = a.str("addr")?.parse()?;
    let pid: u32 = a.str("pid")?.parse()?;
    let n_sessions: usize = a.num("sessions", 10_000)?;
    let n_users: usize = a.num("users", n_sessions)?;
    let width: usize = a.num("width", 5)?;
    let user_prefix = a.opt("prefix").unwrap_or_else(|| "u".to_owned());
    let password = a.opt("password").unwrap_or_default();
    let domain = a.opt("domain");
    let concurrency: usize = a.num("concurrency", 100)?;
    let settle: f64 = a.num("settle", 3.0)?;
    // COUNT@RATE,...: IMs per phase and their pace (per second); "0" for none.
    let phases: Vec<(usize, f64)> = a
        .opt("ims")
        .unwrap_or_else(|| "200@20,2000@200".to_owned())
        .split(',')
        .filter(|p| *p != "0" && !p.is_empty())
        .map(|p| {
            let (c, r) = p.split_once('@').ok_or("--ims: COUNT@RATE,...")?;
            Ok((c.parse()?, r.parse()?))
        })
        .collect::<Res<_>>()?;
    let grace: f64 = a.num("grace", 5.0)?;
    let url: Arc<str> = format!("ws://{addr}/cas/ws").into();
    // Small client buffers: 10,000 sockets in one process.
    let cfg = WebSocketConfig::default().read_buffer_size(4096);
    let base = Instant::now();
    let user_name = |i: usize| format!("{user_prefix}{i:0width$}");

    // --- memory before --------------------------------------------------------------
    tokio::time::sleep(Duration::from_secs(1)).await;
    let threads0 = status_kib(pid, "Threads");
    let (rss0, pss0) = mem_line("mem_before", pid);

    // --- open the sessions ------------------------------------------------------------
    let shared = Arc::new(Shared::default());
    let sem = Arc::new(Semaphore::new(concurrency));
    let mut readies = Vec::with_capacity(n_sessions);
    let t_open = Instant::now();
    for i in 0..n_sessions {
        let u = i % n_users;
        let user = user_name(u);
        let login = login_json(&user, &password, domain.as_deref());
        let (tx, rx) = oneshot::channel();
        tokio::spawn(receiver(
            url.clone(),
            cfg,
            user,
            login,
            shared.clone(),
            base,
            sem.clone(),
            tx,
        ));
        readies.push((u, rx));
    }
    let mut per_user = vec![0usize; n_users];
    let mut login_us = Vec::with_capacity(n_sessions);
    let mut failures: HashMap<String, u64> = HashMap::new();
    for (u, rx) in readies {
        match rx.await {
            Ok(Ok(us)) => {
                per_user[u] += 1;
                login_us.push(us);
            }
            Ok(Err(e)) => *failures.entry(e.chars().take(200).collect()).or_default() += 1,
            Err(_) => *failures.entry("task ended".into()).or_default() += 1,
        }
    }
    let open_s = t_open.elapsed().as_secs_f64();
    login_us.sort_unstable();
    let connected = login_us.len();
    out("sessions_wanted", n_sessions);
    out("sessions_connected", connected);
    out("open_s", format!("{open_s:.2}"));
    out(
        "open_rate",
        format!("{:.0}", connected as f64 / open_s.max(1e-9)),
    );
    out("login_p50_us", percentile(&login_us, 50.0));
    out("login_p99_us", percentile(&login_us, 99.0));
    let mut fl: Vec<_> = failures.into_iter().collect();
    fl.sort_by(|x, y| y.1.cmp(&x.1));
    out("login_failures", fl.iter().map(|x| x.1).sum::<u64>());
    for (reason, count) in fl.iter().take(5) {
        out("login_failure", format!("{count}x {}", reason.replace('\n', " ")));
    }

    // --- wait until the server is idle (it may still digest the logins) -------------------
    let quiet_max: f64 = a.num("quiet-max", 60.0)?;
    let pid_s = pid.to_string();
    let q = wait_quiet(&pid_s, quiet_max).await;
    out(
        "quiet_after_s",
        q.map_or(format!("not quiet after {quiet_max:.0}"), |t| format!("{t:.1}")),
    );

    // --- memory after -------------------------------------------------------------------
    tokio::time::sleep(Duration::from_secs_f64(settle)).await;
    let (rss1, pss1) = mem_line("mem_after", pid);
    out(
        "server_threads",
        format!(
            "{}->{}",
            threads0.map_or("?".into(), |t| t.to_string()),
            status_kib(pid, "Threads").map_or("?".into(), |t| t.to_string())
        ),
    );
    if connected > 0 {
        if let (Some(b), Some(a)) = (rss0, rss1) {
            let per = (a as f64 - b as f64) * 1024.0 / connected as f64;
            out("rss_per_session_bytes", format!("{per:.0}"));
        }
        if let (Some(b), Some(a)) = (pss0, pss1) {
            let per = (a as f64 - b as f64) * 1024.0 / connected as f64;
            out("pss_per_session_bytes", format!("{per:.0}"));
        }
    }

    // --- event latency ------------------------------------------------------------------
    let targets: Vec<usize> = (0..n_users).filter(|&u| per_user[u] > 0).collect();
    let total_ims: usize = phases.iter().map(|p| p.0).sum();
    if targets.is_empty() || total_ims == 0 {
        out("im_phases", 0);
        return Ok(());
    }
    let sender = a.str("sender")?;
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        ws_login(&url, cfg, &login_json(&sender, &password, domain.as_deref())),
    )
    .await
    .map_err(|_| "sender login timed out")??;
    let (mut sink, mut stream) = ws.split();
    let replies = Arc::new(Replies {
        at: (0..total_ims).map(|_| AtomicU64::new(0)).collect(),
        errors: (0..total_ims).map(|_| AtomicU64::new(0)).collect(),
        first_error: Mutex::new(None),
        stored: (0..total_ims).map(|_| AtomicU64::new(0)).collect(),
        mismatch: (0..total_ims).map(|_| AtomicU64::new(0)).collect(),
    });
    // IM i goes to one user, spread over the connected ones.
    let target_of = |i: usize| targets[(i * 7919) % targets.len()];
    let expected: Vec<usize> = (0..total_ims).map(|i| per_user[target_of(i)]).collect();
    {
        let replies = replies.clone();
        let expected = expected.clone();
        tokio::spawn(async move {
            while let Some(Ok(m)) = stream.next().await {
                let Message::Text(t) = m else { continue };
                let now = ns_since(base);
                let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else {
                    continue;
                };
                if v["topic"] != "im" || v["message"] != "send" {
                    continue;
                }
                let Some(i) = v["request_id"].as_u64().map(|i| i as usize) else {
                    continue;
                };
                let (Some(slot), Some(err), Some(st), Some(mm)) = (
                    replies.at.get(i),
                    replies.errors.get(i),
                    replies.stored.get(i),
                    replies.mismatch.get(i),
                ) else {
                    continue;
                };
                slot.store(now.max(1), Ordering::Relaxed);
                if v["response"] != 0 {
                    err.store(1, Ordering::Relaxed);
                    if let Ok(mut f) = replies.first_error.lock() {
                        f.get_or_insert(t.as_str().chars().take(300).collect());
                    }
                    continue;
                }
                if v["stored"] == true {
                    st.store(1, Ordering::Relaxed);
                }
                let want = expected.get(i).copied().unwrap_or(0) as u64;
                if v["delivered"]["sessions"].as_u64() != Some(want) {
                    mm.store(1, Ordering::Relaxed);
                }
            }
        });
    }
    out("im_phases", phases.len());
    let mut sent_at = vec![0u64; total_ims];
    let mut first = 0usize;
    for (k, &(count, rate)) in phases.iter().enumerate() {
        let key = |name: &str| format!("im{}_{name}", k + 1);
        let range = first..first + count;
        first += count;
        if k > 0 {
            wait_quiet(&pid_s, quiet_max).await;
        }
        let cpu_im0 = cpu_seconds(&pid_s);
        let self_im0 = cpu_seconds("self");
        let busy_im0 = machine_busy_seconds();
        let period = Duration::from_secs_f64(1.0 / rate);
        let start = tokio::time::Instant::now() + Duration::from_millis(100);
        for (j, i) in range.clone().enumerate() {
            tokio::time::sleep_until(start + period * j as u32).await;
            let msg = json!({"topic":"im","message":"send","request_id": i,
                "to": user_name(target_of(i)), "text": format!("b{i}")})
            .to_string();
            sent_at[i] = ns_since(base);
            sink.send(Message::Text(msg.into())).await?;
        }
        let send_s = (ns_since(base) - sent_at[range.start]) as f64 / 1e9;
        let want_total: usize = expected[range.clone()].iter().sum();
        let deadline = Instant::now() + Duration::from_secs_f64(grace);
        let in_range = |n: &u32| range.contains(&(*n as usize));
        loop {
            let got = shared
                .arrivals
                .lock()
                .map(|a| a.iter().filter(|(n, _)| in_range(n)).count())
                .unwrap_or(0);
            let replied = replies.at[range.clone()]
                .iter()
                .filter(|r| r.load(Ordering::Relaxed) != 0)
                .count();
            if (got >= want_total && replied == count) || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let (Some(s0), Some(s1), Some(c0), Some(c1), Some(b0), Some(b1)) = (
            cpu_im0,
            cpu_seconds(&pid_s),
            self_im0,
            cpu_seconds("self"),
            busy_im0,
            machine_busy_seconds(),
        ) {
            out(&key("server_cpu_s"), format!("{:.2}", s1 - s0));
            out(&key("client_cpu_s"), format!("{:.2}", c1 - c0));
            let other = (b1 - b0) - (s1 - s0) - (c1 - c0);
            out(&key("other_cpu_s"), format!("{:.2}", other.max(0.0)));
        }

        let arrivals = shared.arrivals.lock().map(|a| a.clone()).unwrap_or_default();
        let mut per_im = vec![0usize; count];
        let mut lat_us = Vec::with_capacity(count);
        for (n, t) in arrivals.iter().filter(|(n, _)| in_range(n)) {
            let n = *n as usize;
            per_im[n - range.start] += 1;
            lat_us.push(t.saturating_sub(sent_at[n]) / 1000);
        }
        lat_us.sort_unstable();
        let exp = &expected[range.clone()];
        let lost: usize = per_im.iter().zip(exp).map(|(g, w)| w.saturating_sub(*g)).sum();
        let dup: usize = per_im.iter().zip(exp).map(|(g, w)| g.saturating_sub(*w)).sum();
        let mut reply_us: Vec<u64> = replies.at[range.clone()]
            .iter()
            .zip(&sent_at[range.clone()])
            .filter_map(|(r, s)| {
                let r = r.load(Ordering::Relaxed);
                (r != 0).then(|| r.saturating_sub(*s) / 1000)
            })
            .collect();
        reply_us.sort_unstable();
        let sum = |v: &[AtomicU64]| v.iter().map(|x| x.load(Ordering::Relaxed)).sum::<u64>();
        out(&key("sent"), count);
        out(&key("rate"), format!("{rate:.0}"));
        out(&key("send_s"), format!("{send_s:.2}"));
        out(&key("events_expected"), want_total);
        out(&key("events_received"), lat_us.len());
        out(&key("events_lost"), lost);
        out(&key("events_duplicate"), dup);
        out(&key("lat_p50_us"), percentile(&lat_us, 50.0));
        out(&key("lat_p90_us"), percentile(&lat_us, 90.0));
        out(&key("lat_p99_us"), percentile(&lat_us, 99.0));
        out(&key("lat_p999_us"), percentile(&lat_us, 99.9));
        out(&key("lat_max_us"), lat_us.last().copied().unwrap_or(0));
        out(&key("replies"), reply_us.len());
        out(&key("reply_errors"), sum(&replies.errors[range.clone()]));
        out(&key("reply_stored"), sum(&replies.stored[range.clone()]));
        out(
            &key("reply_delivered_mismatch"),
            sum(&replies.mismatch[range.clone()]),
        );
        out(&key("reply_p50_us"), percentile(&reply_us, 50.0));
        out(&key("reply_p99_us"), percentile(&reply_us, 99.0));
    }
    if let Ok(f) = replies.first_error.lock()
        && let Some(e) = f.as_ref()
    {
        out("reply_first_error", e.replace('\n', " "));
    }
    out("events_unknown", {
        let a = shared.arrivals.lock().map(|a| a.clone()).unwrap_or_default();
        a.iter().filter(|(n, _)| *n as usize >= total_ims).count()
    });
    out("events_misrouted", shared.misrouted.load(Ordering::Relaxed));
    out("events_foreign", shared.foreign.load(Ordering::Relaxed));
    out("events_other", shared.other.load(Ordering::Relaxed));
    out("seq_gaps", shared.seq_gaps.load(Ordering::Relaxed));
    out("disconnects", shared.disconnects.load(Ordering::Relaxed));
    if let Ok(f) = shared.first_disconnect.lock()
        && let Some(e) = f.as_ref()
    {
        out("first_disconnect", e.replace('\n', " "));
    }
    mem_line("mem_after_ims", pid);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Offline check: after every session closed, IMs must be stored, not pushed to no one
// ---------------------------------------------------------------------------------------

/// Sends `--count` IMs over HTTP to users spread over `--users` (none of which has a session
/// any more) and counts the replies: `stored: true` is right; `stored: false` means the server
/// still believes the user reachable and the message reached no one.
async fn offline(a: Args) -> Res<()> {
    let addr: SocketAddr = a.str("addr")?.parse()?;
    let n_users: usize = a.num("users", 10_000)?;
    let count: usize = a.num("count", 1000)?.min(n_users).max(1);
    let width: usize = a.num("width", 5)?;
    let prefix = a.opt("prefix").unwrap_or_else(|| "u".to_owned());
    let mut c = Conn::connect(addr).await?;
    let token = login_http(&mut c, addr, &a).await?;
    let (mut stored, mut phantom, mut errors) = (0u64, 0u64, 0u64);
    let mut phantom_sessions = 0u64;
    let mut first_error = None;
    let mut example = None;
    for k in 0..count {
        let u = k * n_users / count;
        let to = format!("{prefix}{u:0width$}");
        let body = json!({"topic":"im","message":"send","request_id": k, "to": to,
            "text": format!("offline {k}")})
        .to_string();
        let status = c.request(&post_cas(addr, Some(&token), &body)).await?;
        let v: Value = serde_json::from_slice(&c.body).unwrap_or_default();
        if status != 200 || v["response"] != 0 {
            errors += 1;
            first_error.get_or_insert_with(|| format!("HTTP {status}: {v}"));
        } else if v["stored"] == true {
            stored += 1;
        } else {
            phantom += 1;
            phantom_sessions += v["delivered"]["sessions"].as_u64().unwrap_or(0);
            example.get_or_insert_with(|| format!("{to}: {v}"));
        }
    }
    out("offline_sent", count);
    out("offline_stored", stored);
    out("offline_not_stored", phantom);
    out("offline_not_stored_sessions", phantom_sessions);
    out("offline_errors", errors);
    if let Some(e) = first_error {
        out("offline_first_error", e);
    }
    if let Some(e) = example {
        out("offline_example", e);
    }
    Ok(())
}
