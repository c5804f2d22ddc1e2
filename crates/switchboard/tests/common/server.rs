//! The server under test: the real `switchboard serve` binary on port 0 with a temporary
//! data directory (and configuration file), its demo passwords, stop/restart/crash, its
//! log, and the `switchboard` CLI on the same data directory. Every wait is bounded.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead as _, BufReader, Read as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::DOMAIN;

/// How to start the server.
#[derive(Debug, Clone, Default)]
pub struct ServerOpts {
    /// Contents of a configuration file (TOML), if any.
    pub config: Option<String>,
    /// The SIP domain (default [`DOMAIN`]).
    pub domain: Option<String>,
}

impl ServerOpts {
    pub fn config(toml: &str) -> ServerOpts {
        ServerOpts {
            config: Some(toml.to_owned()),
            domain: None,
        }
    }
}

/// A running `switchboard serve`, killed when dropped.
pub struct Server {
    child: Option<Child>,
    dir: tempfile::TempDir,
    config: Option<PathBuf>,
    domain: String,
    /// The SIP address (UDP and TCP share the port).
    pub addr: SocketAddr,
    /// The CAS HTTP API address.
    pub http: SocketAddr,
    /// Demo passwords by user name (printed on the first start only).
    pub passwords: HashMap<String, String>,
    starts: u32,
}

impl Server {
    pub fn start(opts: ServerOpts) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = opts.config.map(|text| {
            let path = dir.path().join("switchboard.toml");
            std::fs::write(&path, text).unwrap();
            path
        });
        let mut s = Server {
            child: None,
            dir,
            config,
            domain: opts.domain.unwrap_or_else(|| DOMAIN.to_owned()),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            passwords: HashMap::new(),
            starts: 0,
        };
        s.spawn();
        for u in ["alice", "bob", "carol"] {
            assert!(
                s.passwords.contains_key(u),
                "no demo password for {u}; stdout lines: {:?}",
                s.passwords
            );
        }
        s
    }

    pub fn default_start() -> Server {
        Server::start(ServerOpts::default())
    }

    /// The process id, e.g. to read its memory use.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn password(&self, user: &str) -> String {
        self.passwords[user].clone()
    }

    fn stderr_path(&self, n: u32) -> PathBuf {
        self.dir.path().join(format!("stderr-{n}.log"))
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let stderr = File::create(self.stderr_path(self.starts)).unwrap();
        let data = self.data_dir();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        if let Some(c) = &self.config {
            cmd.arg("--config").arg(c);
        }
        cmd.arg("serve")
            .arg("--data")
            .arg(&data)
            .args([
                "--sip",
                "127.0.0.1:0",
                "--http",
                "127.0.0.1:0",
                "--domain",
                &self.domain,
            ])
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        self.child = Some(child);
        let (tx, rx) = mpsc::channel::<String>();
        // Keeps reading until the process exits, so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more; keep draining.
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let (mut udp, mut tcp, mut http) = (None, None, None);
        while udp.is_none() || tcp.is_none() || http.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(e) => panic!(
                    "server did not report its listeners ({e}); stderr:\n{}",
                    self.stderr_text()
                ),
            };
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["demo", "user", who, "password", pw, ..] => {
                    let name = who.split('@').next().unwrap_or_default();
                    self.passwords.insert(name.to_owned(), (*pw).to_owned());
                }
                ["listening", "sip", "udp", a] => udp = Some(a.parse::<SocketAddr>().unwrap()),
                ["listening", "sip", "tcp", a] => tcp = Some(a.parse::<SocketAddr>().unwrap()),
                ["listening", "http", a] => http = Some(a.parse::<SocketAddr>().unwrap()),
                _ => {}
            }
        }
        let (udp, tcp) = (udp.unwrap(), tcp.unwrap());
        assert_eq!(udp, tcp, "UDP and TCP should share the port");
        self.addr = udp;
        self.http = http.unwrap();
    }

    /// Stops the server with SIGTERM and waits for it to exit (bounded).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                assert!(st.success(), "server exited with {st} after SIGTERM");
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not stop within 10 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then a new process on the same data directory (and configuration). The SIP
    /// port changes.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// SIGKILL (a crash: nothing is flushed or finished), then a new process on the same
    /// data directory. The SIP port changes.
    pub fn crash_restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.spawn();
    }

    /// Runs `switchboard --data <this server's data> {args}` (the CLI, e.g. to add users
    /// or systems while the server runs); it must succeed.
    pub fn cli(&self, args: &[&str]) {
        let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("--data")
            .arg(self.data_dir())
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "switchboard {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// All stderr written so far by every process of this server.
    pub fn stderr_text(&self) -> String {
        let mut out = String::new();
        for n in 1..=self.starts {
            let mut s = String::new();
            if let Ok(mut f) = File::open(self.stderr_path(n)) {
                let _ = f.read_to_string(&mut s);
            }
            out.push_str(&format!("----- server process {n} -----\n{s}"));
        }
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.stderr_text());
        }
    }
}
