//! Runs a baresip scenario script (`tests/phones/*_test.py`) against a test [`Server`]: its
//! SIP port and two users' passwords on the command line, the phones' domain
//! `127.0.0.1:PORT` (an alias of the default domain), a work directory, `--deadline`; the
//! script bounds itself and is killed by PID at the deadline plus 5 s as a backstop. The
//! run's JSON summary must say `"ok": true` and name each expected check as passed; every
//! failure message carries the script's output, the phones' baresip logs and the server's
//! log.
//!
//! It does not decide whether the test runs: callers check `have("baresip")` and
//! `have("python3")` first.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Server, repo};

/// A finished script run: its summary and where its phones kept their logs.
pub struct PhoneRun {
    /// The script's JSON summary (`ok` was true).
    pub summary: Value,
    pub stdout: String,
    stderr: String,
    work: tempfile::TempDir,
}

/// Runs `tests/phones/{script}` with `HOST PORT DOMAIN user_a PASS_A user_b PASS_B`, then
/// `extra` (more positional arguments and options), `--deadline {deadline_s}` and
/// `--workdir`. Panics (with every log) unless it exits 0 with `"ok": true` in time.
pub fn run_script(
    server: &Server,
    script: &str,
    users: [&str; 2],
    extra: &[&str],
    deadline_s: u64,
) -> PhoneRun {
    let work = tempfile::tempdir().unwrap();
    let port = server.addr.port().to_string();
    let domain = format!("127.0.0.1:{port}");
    let (out_path, err_path) = (work.path().join("out"), work.path().join("err"));
    let mut child = Command::new("python3")
        .arg(repo().join("tests/phones").join(script))
        .args(["127.0.0.1", &port, &domain])
        .args([users[0], &server.password(users[0])])
        .args([users[1], &server.password(users[1])])
        .args(extra)
        .args(["--deadline", &deadline_s.to_string(), "--workdir"])
        .arg(work.path().join("run"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let backstop = Instant::now() + Duration::from_secs(deadline_s + 5);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > backstop {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut run = PhoneRun {
        summary: Value::Null,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        work,
    };
    assert!(
        status.is_some_and(|s| s.success()),
        "{script} failed ({status:?}):\n{}",
        run.context(server)
    );
    run.summary = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("{script}: no JSON summary ({e}):\n{}", run.context(server)));
    assert_eq!(run.summary["ok"], true, "{}", run.context(server));
    run
}

impl PhoneRun {
    /// Every check in `names` is in the summary and passed.
    pub fn assert_checks(&self, server: &Server, names: &[&str]) {
        for name in names {
            assert_eq!(
                self.summary["checks"][name],
                true,
                "{name}: {}",
                self.context(server)
            );
        }
    }

    /// The script's output, each phone's baresip log (its last 20 kB: a subscribe storm
    /// would be megabytes) and the server's log.
    pub fn context(&self, server: &Server) -> String {
        let mut out = format!("{}\n{}", self.stdout, self.stderr);
        let mut phones: Vec<_> = std::fs::read_dir(self.work.path().join("run"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        phones.sort();
        for dir in phones {
            let log = tail(&dir.join("baresip.log"), 20_000);
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            out.push_str(&format!("\n--- {name}\n{log}"));
        }
        out.push_str(&format!("\n--- server\n{}", server.stderr_text()));
        out
    }
}

fn tail(path: &Path, max: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let cut = text.len().saturating_sub(max);
    String::from_utf8_lossy(text.get(cut..).unwrap_or_default()).into_owned()
}
