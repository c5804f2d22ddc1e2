//! `cas-bench presence`: the CAS half of the presence fan-out benchmark (issue 4).
//!
//! Opens `--sessions` WebSocket sessions (`u000001`… with passwords `pw000001`…, the users
//! bench/presence/run.sh imports), measures the server's memory, then every session sends
//! `presence.subscribe` for one presentity (`--presentity`, default `p000001`) and the memory
//! is measured again (per-subscription cost = the difference). Then, `--rounds` times, the
//! presentity's own session sends `presence.set` (status alternating `away`/`available`, note
//! `round-N`) and the client timestamps every `presence` event whose note names the round:
//! time until the last event reached its session, latency percentiles, events per server
//! CPU-second (server CPU from `/proc/<pid>/task/*/schedstat` between the `set` and the last
//! event, and until the server went idle again). Missing, duplicate and foreign events are
//! counted.
//! One clock (the client's), loopback only; `key=value` lines on stdout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cas_bench::{Args, Res, cpu_seconds, percentile};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{login_json, mem_line, ns_since, out, wait_quiet, ws_login};

struct Shared {
    /// Per round, per session: arrival (ns since base), 0 = not yet.
    arrivals: Vec<Vec<AtomicU64>>,
    per_round: Vec<AtomicU64>,
    duplicates: AtomicU64,
    other_events: AtomicU64,
    disconnects: AtomicU64,
}

type Ready = oneshot::Sender<Result<(), String>>;

/// CPU seconds of every live thread of `pid`, from `/proc/<pid>/task/*/schedstat`
/// (nanoseconds; `/proc/<pid>/stat` counts 10 ms ticks, too coarse for one fan-out).
/// Falls back to `/proc/<pid>/stat` when schedstat is unavailable.
fn cpu_fine(pid: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return cpu_seconds(pid).unwrap_or(0.0);
    };
    let mut ns: u64 = 0;
    let mut any = false;
    for e in dir.flatten() {
        let v = std::fs::read_to_string(e.path().join("schedstat")).ok();
        if let Some(n) = v.and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok()) {
            ns += n;
            any = true;
        }
    }
    if any {
        ns as f64 / 1e9
    } else {
        cpu_seconds(pid).unwrap_or(0.0)
    }
}

#[allow(clippy::too_many_arguments)]
async fn watcher(
    idx: usize,
    url: Arc<str>,
    cfg: WebSocketConfig,
    login: String,
    subscribe: String,
    shared: Arc<Shared>,
    base: Instant,
    sem: Arc<Semaphore>,
    logged_in: Ready,
    mut go: watch::Receiver<bool>,
    subscribed: Ready,
) {
    let permit = sem.clone().acquire_owned().await;
    let r = tokio::time::timeout(Duration::from_secs(30), ws_login(&url, cfg, &login)).await;
    drop(permit);
    let mut ws = match r {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => {
            let _ = logged_in.send(Err(e.to_string()));
            return;
        }
        Err(_) => {
            let _ = logged_in.send(Err("connect + login took over 30 s".into()));
            return;
        }
    };
    let _ = logged_in.send(Ok(()));
    if go.wait_for(|g| *g).await.is_err() {
        return;
    }
    let permit = sem.acquire_owned().await;
    let mut subscribed = Some(subscribed);
    if let Err(e) = ws.send(Message::Text(subscribe.into())).await {
        if let Some(s) = subscribed.take() {
            let _ = s.send(Err(e.to_string()));
        }
        return;
    }
    let mut permit = Some(permit);
    loop {
        let text = match ws.next().await {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => continue,
        };
        let now = ns_since(base);
        let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        if v["topic"] != "presence" {
            shared.other_events.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if v["message"] == "subscribe" && v.get("response").is_some() {
            drop(permit.take());
            let ok = v["response"] == 0
                && v["presence"]
                    .as_array()
                    .and_then(|l| l.first())
                    .is_some_and(|p| p["authorized"] == true);
            if let Some(s) = subscribed.take() {
                let _ = s.send(if ok {
                    Ok(())
                } else {
                    Err(format!("subscribe: {v}"))
                });
            }
            continue;
        }
        if v["message"] != "presence" {
            shared.other_events.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let round = v["note"]
            .as_str()
            .and_then(|n| n.strip_prefix("round-"))
            .and_then(|n| n.parse::<usize>().ok());
        match round.and_then(|r| shared.arrivals.get(r).zip(shared.per_round.get(r))) {
            Some((slots, count)) => {
                if let Some(slot) = slots.get(idx) {
                    if slot
                        .compare_exchange(0, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                    {
                        count.fetch_add(1, Ordering::Relaxed);
                    } else {
                        shared.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            None => {
                shared.other_events.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    shared.disconnects.fetch_add(1, Ordering::Relaxed);
}

async fn collect(rxs: Vec<oneshot::Receiver<Result<(), String>>>, what: &str) -> usize {
    let mut ok = 0;
    let mut first_err = None;
    let mut errs = 0;
    for rx in rxs {
        match rx.await {
            Ok(Ok(())) => ok += 1,
            Ok(Err(e)) => {
                errs += 1;
                first_err.get_or_insert(e);
            }
            Err(_) => errs += 1,
        }
    }
    out(&format!("{what}_ok"), ok);
    out(&format!("{what}_failed"), errs);
    if let Some(e) = first_err {
        out(&format!("{what}_first_error"), e.replace('\n', " "));
    }
    ok
}

pub async fn run(a: Args) -> Res<()> {
    let addr: std::net::SocketAddr = a.str("addr")?.parse()?;
    let pid: u32 = a.str("pid")?.parse()?;
    let pid_s = pid.to_string();
    let n: usize = a.num("sessions", 10_000)?;
    let first: usize = a.num("first", 1)?;
    let width: usize = a.num("width", 6)?;
    let prefix = a.opt("prefix").unwrap_or_else(|| "u".into());
    let pw_prefix = a.opt("password-prefix").unwrap_or_else(|| "pw".into());
    let domain = a.opt("domain").unwrap_or_else(|| "bench.test".into());
    let presentity = a.opt("presentity").unwrap_or_else(|| "p000001".into());
    let pres_pw = a
        .opt("presentity-password")
        .unwrap_or_else(|| format!("pw{presentity}"));
    let rounds: usize = a.num("rounds", 3)?;
    let concurrency: usize = a.num("concurrency", 100)?;
    let wait_max: f64 = a.num("wait", 60.0)?;
    let url: Arc<str> = format!("ws://{addr}/cas/ws").into();
    let cfg = WebSocketConfig::default().read_buffer_size(4096);
    let base = Instant::now();
    let shared = Arc::new(Shared {
        arrivals: (0..=rounds)
            .map(|_| (0..n).map(|_| AtomicU64::new(0)).collect())
            .collect(),
        per_round: (0..=rounds).map(|_| AtomicU64::new(0)).collect(),
        duplicates: AtomicU64::new(0),
        other_events: AtomicU64::new(0),
        disconnects: AtomicU64::new(0),
    });
    let subscribe = json!({"topic":"presence","message":"subscribe","request_id":"sub",
        "users":[format!("{presentity}@{domain}")]})
    .to_string();

    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss0, pss0) = mem_line("mem_before", pid);
    let sem = Arc::new(Semaphore::new(concurrency));
    let (go_tx, go_rx) = watch::channel(false);
    let (mut logins, mut subs) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let t_open = Instant::now();
    for i in 0..n {
        let user = format!("{prefix}{:0width$}", first + i);
        let pw = format!("{pw_prefix}{:0width$}", first + i);
        let (l_tx, l_rx) = oneshot::channel();
        let (s_tx, s_rx) = oneshot::channel();
        logins.push(l_rx);
        subs.push(s_rx);
        tokio::spawn(watcher(
            i,
            url.clone(),
            cfg,
            login_json(&user, &pw, Some(&domain)),
            subscribe.clone(),
            shared.clone(),
            base,
            sem.clone(),
            l_tx,
            go_rx.clone(),
            s_tx,
        ));
    }
    let connected = collect(logins, "sessions").await;
    out("open_s", format!("{:.2}", t_open.elapsed().as_secs_f64()));
    let q = wait_quiet(&pid_s, 60.0).await;
    out(
        "quiet_after_login_s",
        q.map_or("no".into(), |t| format!("{t:.1}")),
    );
    let (rss1, pss1) = mem_line("mem_sessions", pid);
    let t_sub = Instant::now();
    go_tx.send(true)?;
    let subscribed = collect(subs, "subscriptions").await;
    out(
        "subscribe_s",
        format!("{:.2}", t_sub.elapsed().as_secs_f64()),
    );
    let q = wait_quiet(&pid_s, 60.0).await;
    out(
        "quiet_after_subscribe_s",
        q.map_or("no".into(), |t| format!("{t:.1}")),
    );
    let (rss2, pss2) = mem_line("mem_subscribed", pid);
    let per = |a: Option<u64>, b: Option<u64>, k: usize| match (a, b) {
        (Some(a), Some(b)) if k > 0 => format!("{:.0}", (b as f64 - a as f64) * 1024.0 / k as f64),
        _ => "?".into(),
    };
    out("rss_per_session_bytes", per(rss0, rss1, connected));
    out("pss_per_session_bytes", per(pss0, pss1, connected));
    out("rss_per_subscription_bytes", per(rss1, rss2, subscribed));
    out("pss_per_subscription_bytes", per(pss1, pss2, subscribed));

    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        ws_login(&url, cfg, &login_json(&presentity, &pres_pw, Some(&domain))),
    )
    .await
    .map_err(|_| "presentity login timed out")??;
    let (mut sink, mut stream) = ws.split();
    // Read (and drop) what the presentity's session gets, so its socket never backs up.
    let replies = Arc::new(AtomicU64::new(0));
    let r2 = replies.clone();
    tokio::spawn(async move {
        while let Some(Ok(m)) = stream.next().await {
            if let Message::Text(t) = m
                && t.as_str().contains("\"message\":\"set\"")
            {
                r2.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    out("watchers", subscribed);
    out("rounds", rounds);
    for r in 1..=rounds {
        let q = wait_quiet(&pid_s, 30.0).await;
        out(
            &format!("r{r}_quiet_before_s"),
            q.map_or("no".into(), |t| format!("{t:.1}")),
        );
        let cpu0 = cpu_fine(&pid_s);
        let status = if r % 2 == 1 { "away" } else { "available" };
        let set = json!({"topic":"presence","message":"set","request_id":format!("set-{r}"),
            "status": status, "note": format!("round-{r}")});
        let t0 = ns_since(base);
        sink.send(Message::Text(set.to_string().into())).await?;
        let count = &shared.per_round[r];
        let deadline = Instant::now() + Duration::from_secs_f64(wait_max);
        while (count.load(Ordering::Relaxed) as usize) < subscribed && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let cpu1 = cpu_fine(&pid_s);
        let got = count.load(Ordering::Relaxed) as usize;
        let mut lat: Vec<u64> = shared.arrivals[r]
            .iter()
            .map(|x| x.load(Ordering::Relaxed))
            .filter(|&x| x > 0)
            .map(|x| x.saturating_sub(t0) / 1000)
            .collect();
        lat.sort_unstable();
        let _ = wait_quiet(&pid_s, 30.0).await;
        let cpu2 = cpu_fine(&pid_s);
        let last_ms = lat.last().map_or(0.0, |&u| u as f64 / 1000.0);
        let cpu = cpu1 - cpu0;
        out(&format!("r{r}_events"), got);
        out(&format!("r{r}_missing"), subscribed.saturating_sub(got));
        out(&format!("r{r}_last_ms"), format!("{last_ms:.1}"));
        out(
            &format!("r{r}_p50_ms"),
            format!("{:.1}", percentile(&lat, 50.0) as f64 / 1000.0),
        );
        out(
            &format!("r{r}_p99_ms"),
            format!("{:.1}", percentile(&lat, 99.0) as f64 / 1000.0),
        );
        out(&format!("r{r}_server_cpu_s"), format!("{cpu:.4}"));
        out(
            &format!("r{r}_server_cpu_until_idle_s"),
            format!("{:.4}", cpu2 - cpu0),
        );
        out(
            &format!("r{r}_events_per_cpu_s"),
            if cpu > 0.0 {
                format!("{:.0}", got as f64 / cpu)
            } else {
                "inf".into()
            },
        );
    }
    out("set_replies", replies.load(Ordering::Relaxed));
    out("duplicates", shared.duplicates.load(Ordering::Relaxed));
    out(
        "other_messages",
        shared.other_events.load(Ordering::Relaxed),
    );
    out("disconnects", shared.disconnects.load(Ordering::Relaxed));
    Ok(())
}
