//! Voicemail crash safety against the real binary (issue 5: "kill -9 at random moments
//! during deposit, playback and delete; after restart the store passes an integrity check
//! and MWI equals the store"). The server is killed with SIGKILL at random moments and
//! restarted:
//! - here, while CAS clients store (send, forward, reply), mark and delete messages;
//! - in [`calls`], during real SIP calls: a caller leaving a message (greeting, recording,
//!   just after hang-up) and the owner on the mailbox number (playback, `7` delete).
//!
//! After every restart ([`check_consistent`]): `switchboard voicemail check --quiescent` and
//! CAS `vm.check` pass, every mailbox lists exactly the message files on disk with counts
//! to match, no `.part` is left, and message-waiting equals the store: CAS `mwi.get`
//! (our system's counts) and, in the SIP tests, the NOTIFY a phone's message-summary fetch
//! brings.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "vm_crash/calls.rs"]
mod calls;
mod common;
#[path = "vm_crash/peer.rs"]
mod peer;

use common::rtp::wav_files;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::cas::CasClient;
use common::{DOMAIN, Server};
use serde_json::json;
use services::voicemail::wav;

const USERS: [&str; 3] = ["alice", "bob", "carol"];
const ROUNDS: u64 = 6;

/// A WAV of `seconds` (large enough that a kill often lands while it is written).
pub fn audio(seconds: usize) -> String {
    let samples: Vec<i16> = (0..8000 * seconds)
        .map(|i| ((i % 40) as i16 - 20) * 400)
        .collect();
    common::rtp::b64(&wav::pcm16(8000, &samples))
}

fn part_files(srv: &Server, user: &str) -> usize {
    let dir = srv
        .data_dir()
        .join("voicemail")
        .join(DOMAIN.replace('.', "%2E"))
        .join(user)
        .join("tmp");
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// One client's load until `stop`: store, mark, forward, reply, delete; errors (the server
/// died under it) end the loop.
fn worker(mut c: CasClient, me: usize, stop: Arc<AtomicBool>, done: Arc<AtomicUsize>) {
    let wav = audio(12);
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let step = catch_unwind(AssertUnwindSafe(|| {
            let to = USERS[(me + 1 + n % 2) % 3];
            c.call(
                "vm",
                "send",
                json!({"to": to, "audio": wav, "subject": format!("n{n}")}),
            );
            let list = c.call("vm", "list", json!({}));
            let ids: Vec<i64> = list["messages"]
                .as_array()
                .map(|a| a.iter().filter_map(|m| m["id"].as_i64()).collect())
                .unwrap_or_default();
            if let Some(id) = ids.first() {
                match n % 4 {
                    0 => {
                        c.call("vm", "delete", json!({"id": id}));
                    }
                    1 => {
                        c.call("vm", "mark", json!({"id": id, "heard": true}));
                        c.call(
                            "vm",
                            "forward",
                            json!({"id": id, "to": USERS[(me + 2) % 3]}),
                        );
                    }
                    2 => {
                        c.call("vm", "reply", json!({"id": id, "audio": wav}));
                    }
                    _ => {
                        for id in ids.iter().skip(1).take(3) {
                            c.call("vm", "delete", json!({"id": id}));
                        }
                    }
                }
            }
        }));
        if step.is_err() {
            return;
        }
        n += 1;
        done.fetch_add(1, Ordering::Relaxed);
    }
}

/// A small xorshift generator; the seed is printed so a failing run can be replayed with
/// `VM_CRASH_SEED`.
pub struct Rng(u64);

impl Rng {
    pub fn new(test: &str) -> Rng {
        let seed = std::env::var("VM_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x9e37_79b9_u64 ^ u64::from(std::process::id()));
        eprintln!("{test}: VM_CRASH_SEED={seed}");
        let mut rng = Rng(seed.max(1));
        for _ in 0..8 {
            rng.step();
        }
        rng
    }

    pub fn step(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in `lo..hi` (milliseconds, usually).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.step() % (hi - lo).max(1)
    }
}

/// `(new, old)` of `user`'s mailbox as `vm.list` reports it, checked against its messages.
pub fn listed_counts(srv: &Server, user: &str) -> (u64, u64) {
    let mut c = CasClient::login(srv, user);
    let list = c.call("vm", "list", json!({}));
    let msgs = list["messages"].as_array().unwrap();
    let heard = msgs.iter().filter(|m| m["heard"] == true).count() as u64;
    let counts = (
        list["counts"]["new"].as_u64().unwrap(),
        list["counts"]["old"].as_u64().unwrap(),
    );
    assert_eq!(counts, (msgs.len() as u64 - heard, heard), "{list}");
    counts
}

/// Our system's counts for `user` in CAS `mwi.get` equal the store. Message-waiting re-reads
/// the mailboxes when it starts, a moment after the listeners open: a short wait is allowed.
pub fn check_mwi(srv: &Server, user: &str, round: u64) -> (u64, u64) {
    let want = listed_counts(srv, user);
    let mut c = CasClient::login(srv, user);
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut tries = 0;
    loop {
        let v = c.call("mwi", "get", json!({}));
        let local = v["systems"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["system"] == "local"))
            .unwrap_or_else(|| panic!("no local system in {v}"));
        let got = (
            local["new"].as_u64().unwrap(),
            local["old"].as_u64().unwrap(),
        );
        if got == want {
            if tries > 0 {
                eprintln!("round {round}: {user}'s MWI caught up after {tries} reads");
            }
            return want;
        }
        tries += 1;
        assert!(
            std::time::Instant::now() < deadline,
            "round {round}: {user}'s MWI {got:?} != store {want:?}: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn check_consistent(srv: &Server, round: u64) {
    // The CLI, next to the running (idle, just reconciled) server.
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--data")
        .arg(srv.data_dir())
        .args(["--config", "/dev/null"])
        .args(["voicemail", "check", "--quiescent"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "round {round}: voicemail check failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut admin = CasClient::login(srv, "alice");
    let chk = admin.call("vm", "check", json!({}));
    assert_eq!(chk["ok"], true, "round {round}: {chk}");
    for u in USERS {
        let mut c = CasClient::login(srv, u);
        let list = c.call("vm", "list", json!({}));
        let listed = list["messages"].as_array().unwrap().len();
        assert_eq!(
            listed,
            wav_files(srv, u),
            "round {round}: {u}'s list vs files"
        );
        let counts = &list["counts"];
        let total = counts["new"].as_u64().unwrap() + counts["old"].as_u64().unwrap();
        assert_eq!(total as usize, listed, "round {round}: {u}'s counts");
        assert_eq!(
            part_files(srv, u),
            0,
            "round {round}: {u} has partial files"
        );
        check_mwi(srv, u, round);
    }
}

/// Repairs the starts so far made (`repaired=` of the `voicemail reconciled` lines).
fn repairs(srv: &Server) -> usize {
    srv.stderr_text()
        .lines()
        .filter(|l| l.contains("voicemail reconciled"))
        .filter_map(|l| l.split("repaired=").nth(1))
        .filter_map(|v| v.split_whitespace().next()?.parse::<usize>().ok())
        .sum()
}

#[test]
fn kill_during_deposits_and_deletes_leaves_a_consistent_store() {
    let mut srv = Server::default_start();
    let mut rng = Rng::new("cas");
    let mut total = 0;
    // At least ROUNDS kills, and more (bounded) until one landed inside the protocol: on a
    // loaded machine a few kills may all fall between operations.
    for round in 0..ROUNDS * 3 {
        if round >= ROUNDS && repairs(&srv) > 0 {
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::new();
        for (i, u) in USERS.iter().enumerate() {
            let c = CasClient::login(&srv, u);
            let (stop, done) = (stop.clone(), done.clone());
            threads.push(std::thread::spawn(move || worker(c, i, stop, done)));
        }
        // Let some work complete, then kill at a random moment.
        std::thread::sleep(Duration::from_millis(rng.between(150, 750)));
        srv.crash_restart();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            let _ = t.join();
        }
        total += done.load(Ordering::Relaxed);
        check_consistent(&srv, round);
    }
    assert!(total > 0, "no operation completed before the kills");
    // The kills landed inside the protocol: some start had to repair something.
    let repaired = repairs(&srv);
    eprintln!("operations {total}, repairs at restart {repaired}");
    assert!(repaired > 0, "no kill interrupted a voicemail write");
}
