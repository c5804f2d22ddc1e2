//! Shared pieces of the CAS benchmark: a minimal keep-alive HTTP/1.1 client on a tokio
//! `TcpStream`, percentiles, `/proc` readings and argument parsing.

use std::collections::HashMap;
use std::error::Error;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

pub type Res<T> = Result<T, Box<dyn Error + Send + Sync>>;

// ---------------------------------------------------------------------------------------
// HTTP/1.1 keep-alive client
// ---------------------------------------------------------------------------------------

/// One keep-alive connection. Only `Content-Length` bodies are understood (axum/hyper answer
/// fixed bodies that way); anything else is an error.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// The body of the last response.
    pub body: Vec<u8>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> Res<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(8192),
            body: Vec::with_capacity(8192),
        })
    }

    /// Sends one complete request (head and body) and reads its response; returns the status.
    pub async fn request(&mut self, req: &[u8]) -> Res<u16> {
        self.stream.write_all(req).await?;
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = &self.buf[..end];
                let (status, len) = parse_head(head)?;
                let total = end + 4 + len;
                while self.buf.len() < total {
                    self.fill().await?;
                }
                self.body.clear();
                self.body.extend_from_slice(&self.buf[end + 4..total]);
                self.buf.drain(..total);
                return Ok(status);
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Res<()> {
        let mut tmp = [0u8; 16384];
        let n = self.stream.read(&mut tmp).await?;
        if n == 0 {
            return Err("connection closed by the server".into());
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8]) -> Res<(u16, usize)> {
    let text = std::str::from_utf8(head)?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().ok_or("empty response head")?;
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .ok_or("no status")?
        .parse()?;
    let mut len = None;
    for l in lines {
        if let Some((n, v)) = l.split_once(':') {
            let n = n.trim();
            if n.eq_ignore_ascii_case("content-length") {
                len = Some(v.trim().parse::<usize>()?);
            } else if n.eq_ignore_ascii_case("transfer-encoding") {
                return Err(format!("unsupported transfer-encoding {v}").into());
            }
        }
    }
    Ok((status, len.unwrap_or(0)))
}

/// A `POST /cas` request with a JSON body, optionally with a Bearer token.
pub fn post_cas(addr: SocketAddr, token: Option<&str>, body: &str) -> Vec<u8> {
    let mut s = format!(
        "POST /cas HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        s.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    s.push_str("\r\n");
    s.push_str(body);
    s.into_bytes()
}

// ---------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------

/// Nearest-rank percentile of a sorted slice (`p` in 0..=100); 0 when empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------------------

/// A `kB` field of /proc/PID/status (e.g. `VmRSS`).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    kib_field(&text, field)
}

/// The `Pss` of /proc/PID/smaps_rollup, in KiB.
pub fn pss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    kib_field(&text, "Pss")
}

fn kib_field(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        (n.trim() == field).then(|| v.split_whitespace().next()?.parse().ok())?
    })
}

/// utime + stime of a process, in seconds.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields resume after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / 100.0)
}

/// CPU time used by the whole machine so far (every core, user + system + irq), in seconds.
pub fn machine_busy_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy = f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)? + f.get(7)?;
    Some(busy / 100.0)
}

// ---------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------

/// `--key value` pairs.
pub struct Args(HashMap<String, String>);

impl Args {
    pub fn parse(args: impl Iterator<Item = String>) -> Res<Args> {
        let mut map = HashMap::new();
        let mut it = args.peekable();
        while let Some(a) = it.next() {
            let key = a
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {a}"))?;
            let value = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
            map.insert(key.to_owned(), value);
        }
        Ok(Args(map))
    }

    pub fn str(&self, key: &str) -> Res<String> {
        self.0
            .get(key)
            .cloned()
            .ok_or_else(|| format!("--{key} is required").into())
    }

    pub fn opt(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }

    pub fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> Res<T> {
        match self.0.get(key) {
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{key}: not a number: {v}").into()),
            None => Ok(default),
        }
    }
}
