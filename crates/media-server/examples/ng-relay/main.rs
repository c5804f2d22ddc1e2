//! `ng-relay`: the media engine behind the subset of rtpengine's ng control protocol that the
//! RTP benchmark (bench/rtp) speaks, so the same load generator measures both relays.
//!
//! ```text
//! cargo run --release -p media-server --example ng-relay -- serve \
//!     [--ng 127.0.0.1:22242] [--rtp-ip 127.0.0.1] [--ports 54000-57999] [--threads N]
//!     [--inactivity 60]
//! cargo run --release -p media-server --example ng-relay -- record-cost \
//!     [--streams 20] [--secs 10] [--dir /tmp] [--ports 54000-57999]
//! ```
//!
//! `serve`: UDP datagrams `<cookie> <bencoded dict>` (rtpengine's ng protocol). `offer`
//! (`call-id`, `sdp`) anchors a call with [`MediaServer::anchor`] and answers the SDP for the
//! callee; `answer` (`call-id`, `sdp`) is [`MediaServer::anchor_answer`] and answers the SDP
//! for the caller; `delete` (`call-id`) is [`MediaServer::close_anchor`]; `ping` answers
//! `pong`. This is the code path the B2BUA uses when it anchors a call (no bench-only
//! forwarder), with switchboard's default media inactivity timeout (`[media]
//! inactivity_timeout = 60`; `--inactivity 0` turns it off). The datagrams are relayed by the
//! engine's relay threads (one per CPU the process may use); `--threads` sizes the tokio
//! runtime that serves the control protocol. Replies are cached per cookie so a retransmitted
//! command is answered, not executed twice. Runs until SIGTERM / Ctrl-C.
//!
//! `record-cost`: see `record_cost.rs`.
//!
//! Does not: speak the rest of the ng protocol (flags, `query`, `list`, media recording of an
//! anchored call — the engine records only endpoints it terminates).

mod bencode;
mod record_cost;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use bencode::Value;
use media_server::{MediaConfig, MediaServer, RelayId};

/// Options shared by the subcommands.
pub struct Opts {
    pub ng: SocketAddr,
    pub rtp_ip: IpAddr,
    pub port_min: u16,
    pub port_max: u16,
    pub threads: usize,
    /// Seconds; 0 = no inactivity watch.
    pub inactivity: u64,
    pub streams: usize,
    pub secs: u64,
    pub dir: std::path::PathBuf,
}

impl Opts {
    pub fn media_config(&self) -> MediaConfig {
        MediaConfig {
            rtp_ip: self.rtp_ip,
            port_min: self.port_min,
            port_max: self.port_max,
            prompts_dir: None,
            anchor_always: true,
            prefer_opus: false,
        }
    }
}

fn parse_opts(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        ng: SocketAddr::from(([127, 0, 0, 1], 22242)),
        rtp_ip: IpAddr::from([127, 0, 0, 1]),
        port_min: 54000,
        port_max: 57999,
        threads: std::thread::available_parallelism().map_or(1, usize::from),
        inactivity: 60,
        streams: 20,
        secs: 10,
        dir: std::env::temp_dir(),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let val = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |_| format!("bad value for {flag}: {val}");
        match flag.as_str() {
            "--ng" => o.ng = val.parse().map_err(|_| format!("bad --ng {val}"))?,
            "--rtp-ip" => o.rtp_ip = val.parse().map_err(|_| format!("bad --rtp-ip {val}"))?,
            "--ports" => {
                let (a, b) = val.split_once('-').ok_or("--ports wants MIN-MAX")?;
                o.port_min = a.parse().map_err(bad)?;
                o.port_max = b.parse().map_err(bad)?;
            }
            "--threads" => o.threads = val.parse().map_err(bad)?,
            "--inactivity" => o.inactivity = val.parse().map_err(bad)?,
            "--streams" => o.streams = val.parse().map_err(bad)?,
            "--secs" => o.secs = val.parse().map_err(bad)?,
            "--dir" => o.dir = val.into(),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("serve", &[][..]),
    };
    let opts = match parse_opts(rest) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("ng-relay: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cmd {
        "serve" => serve(&opts),
        "record-cost" => record_cost::run(&opts),
        _ => Err(format!("unknown subcommand {cmd} (serve | record-cost)")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ng-relay: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(o: &Opts) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let ms = MediaServer::start(&o.media_config()).map_err(|e| e.to_string())?;
        ms.set_inactivity_timeout(
            (o.inactivity > 0).then(|| std::time::Duration::from_secs(o.inactivity)),
        );
        let sock = tokio::net::UdpSocket::bind(o.ng)
            .await
            .map_err(|e| format!("bind {}: {e}", o.ng))?;
        eprintln!(
            "ng-relay: listening ng udp {} (rtp {} ports {}-{}, {} worker threads, \
             inactivity {} s)",
            o.ng, o.rtp_ip, o.port_min, o.port_max, o.threads, o.inactivity
        );
        let mut ng = Ng {
            ms,
            calls: HashMap::new(),
            replies: VecDeque::new(),
        };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 65536];
        loop {
            tokio::select! {
                r = sock.recv_from(&mut buf) => {
                    let Ok((n, from)) = r else { continue };
                    let Some(msg) = buf.get(..n) else { continue };
                    if let Some(reply) = ng.datagram(msg) {
                        let _ = sock.send_to(&reply, from).await;
                    }
                }
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
            }
        }
        let open = ng.calls.len();
        for (_, id) in ng.calls.drain() {
            ng.ms.close_anchor(id);
        }
        eprintln!("ng-relay: stopped ({open} calls were still anchored)");
        Ok(())
    })
}

/// The control protocol's state: Call-ID → anchored call, and the last replies by cookie.
struct Ng {
    ms: MediaServer,
    calls: HashMap<String, RelayId>,
    replies: VecDeque<(Vec<u8>, Vec<u8>)>,
}

const REPLY_CACHE: usize = 1024;

impl Ng {
    /// One request datagram → the reply datagram (None when there is no cookie).
    fn datagram(&mut self, msg: &[u8]) -> Option<Vec<u8>> {
        let space = msg.iter().position(|&b| b == b' ')?;
        let cookie = msg.get(..space)?;
        let body = msg.get(space + 1..)?;
        if let Some((_, r)) = self.replies.iter().find(|(c, _)| c == cookie) {
            return Some(r.clone());
        }
        let answer = match bencode::parse(body) {
            Ok(req) => self.command(&req),
            Err(e) => error(&format!("bad bencode: {e}")),
        };
        let mut reply = cookie.to_vec();
        reply.push(b' ');
        answer.encode(&mut reply);
        if self.replies.len() >= REPLY_CACHE {
            self.replies.pop_front();
        }
        self.replies.push_back((cookie.to_vec(), reply.clone()));
        Some(reply)
    }

    fn command(&mut self, req: &Value) -> Value {
        let call = req.str("call-id").unwrap_or_default().to_owned();
        let sdp = req.str("sdp").unwrap_or_default();
        match req.str("command").unwrap_or_default() {
            "ping" => Value::dict([("result", "pong")]),
            "offer" => {
                if let Some(old) = self.calls.remove(&call) {
                    self.ms.close_anchor(old);
                }
                match self.ms.anchor(sdp.as_bytes()) {
                    Ok((id, offer_b)) => {
                        self.calls.insert(call, id);
                        ok_sdp(&offer_b)
                    }
                    Err(e) => error(&e.to_string()),
                }
            }
            "answer" => match self.calls.get(&call) {
                Some(&id) => match self.ms.anchor_answer(id, sdp.as_bytes()) {
                    Ok(answer_a) => ok_sdp(&answer_a),
                    Err(e) => error(&e.to_string()),
                },
                None => error("Unknown call-id"),
            },
            "delete" => match self.calls.remove(&call) {
                Some(id) => {
                    self.ms.close_anchor(id);
                    Value::dict([("result", "ok")])
                }
                None => error("Unknown call-id"),
            },
            other => error(&format!("unsupported command {other:?}")),
        }
    }
}

fn ok_sdp(sdp: &str) -> Value {
    Value::dict([("result", "ok"), ("sdp", sdp)])
}

fn error(reason: &str) -> Value {
    Value::dict([("result", "error"), ("error-reason", reason)])
}
