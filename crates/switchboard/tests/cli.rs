//! The command line, run as the real binary against a temporary data directory.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use sip::digest::{Algorithm, ha1};
use store::Store;

fn switchboard(args: &[&str]) -> std::io::Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

#[test]
fn user_add_list_passwd_remove() {
    let dir = tempfile::tempdir().unwrap();
    let data = path(dir.path());
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--data", data]);
        let out = switchboard(&all).unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };

    // The default domain is `localhost`, which does not exist yet.
    let out = switchboard(&["user", "add", "alice", "--password", "pw", "--data", data]).unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("no such domain localhost"), "{err}");
    assert!(err.contains("domain add"), "{err}");

    run(&["domain", "add", "example.com"]);
    assert_eq!(run(&["domain", "list"]), "example.com\n");
    run(&[
        "user",
        "add",
        "bob",
        "--password",
        "pw1",
        "--domain",
        "example.com",
    ]);
    run(&[
        "user",
        "--domain",
        "example.com",
        "add",
        "alice",
        "--password",
        "pw2",
    ]);
    assert_eq!(
        run(&["user", "list", "--domain", "example.com"]),
        "alice\nbob\n"
    );

    run(&[
        "user",
        "passwd",
        "bob",
        "--password",
        "new",
        "--domain",
        "example.com",
    ]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let creds = rt
        .block_on(async {
            let store = Store::open(dir.path()).await?;
            store.credentials("example.com", "bob").await
        })
        .unwrap()
        .unwrap();
    assert_eq!(
        creds.ha1_md5,
        ha1(Algorithm::Md5, "bob", "example.com", "new")
    );

    run(&["user", "remove", "bob", "--domain", "example.com"]);
    assert_eq!(run(&["user", "list", "--domain", "example.com"]), "alice\n");

    let out = switchboard(&[
        "user",
        "remove",
        "bob",
        "--domain",
        "example.com",
        "--data",
        data,
    ]);
    assert!(!out.unwrap().status.success());
    let out = switchboard(&[
        "user",
        "add",
        "a@b",
        "--password",
        "x",
        "--domain",
        "example.com",
        "--data",
        data,
    ]);
    let out = out.unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("invalid user name"));
}

#[test]
fn config_file_supplies_domain_and_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sb.toml");
    let data = dir.path().join("state");
    std::fs::write(
        &config,
        format!(
            "[server]\ndomain = \"example.org\"\ndata_dir = {:?}\n",
            path(&data)
        ),
    )
    .unwrap();
    let config = path(&config);
    for args in [
        &["--config", config, "domain", "add", "example.org"][..],
        &[
            "user",
            "add",
            "carol",
            "--password",
            "pw",
            "--config",
            config,
        ],
    ] {
        let out = switchboard(args).unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    let out = switchboard(&[
        "user",
        "list",
        "--domain",
        "example.org",
        "--data",
        path(&data),
    ]);
    assert_eq!(text(&out.unwrap().stdout), "carol\n");
}

#[test]
fn import_5000_users_in_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let data = path(dir.path());
    let csv = dir.path().join("users.csv");
    let mut body = String::from("name,password\n");
    for i in 0..5_000 {
        body.push_str(&format!("user{i:04},secret-{i}\n"));
    }
    std::fs::write(&csv, body).unwrap();
    assert!(
        switchboard(&["domain", "add", "localhost", "--data", data])
            .unwrap()
            .status
            .success()
    );

    let started = Instant::now();
    let out = switchboard(&["user", "import", path(&csv), "--data", data]).unwrap();
    let elapsed = started.elapsed();
    println!("imported 5000 users through the CLI in {elapsed:?}");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "imported 5000 users into localhost\n");
    assert!(elapsed.as_secs() < 10, "import took {elapsed:?}");

    let out = switchboard(&["user", "list", "--data", data]).unwrap();
    assert_eq!(text(&out.stdout).lines().count(), 5_000);
}

#[test]
fn import_with_bad_rows_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = path(dir.path());
    let csv = dir.path().join("users.csv");
    std::fs::write(&csv, "alice,pw\nbad name,pw\nbob,pw\nbob,again\ncarol\n").unwrap();
    assert!(
        switchboard(&["domain", "add", "localhost", "--data", data])
            .unwrap()
            .status
            .success()
    );
    let out = switchboard(&["user", "import", path(&csv), "--data", data]).unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    for line in [
        ":2: invalid user name",
        ":4: user bob is also on line 3",
        ":5: expected two fields",
    ] {
        assert!(err.contains(line), "missing {line:?} in {err}");
    }
    assert!(err.contains("nothing imported"), "{err}");
    let out = switchboard(&["user", "list", "--data", data]).unwrap();
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn check_config_reports_all_problems() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nlog_level = \"debug\"\n[sip]\ntcp_idle_timeout = \"5m\"\n\
         [registrar]\nmin_expires = 900\nmax_expires = 300\n",
    )
    .unwrap();
    for args in [["check-config", path(&bad)], ["--check-config", path(&bad)]] {
        let out = switchboard(&args).unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        for problem in [
            "server.log_level: unknown key",
            "sip.tcp_idle_timeout: expected an integer, found string",
            "registrar.min_expires: 900 is greater than max_expires (300)",
        ] {
            assert!(err.contains(problem), "missing {problem:?} in {err}");
        }
        assert_eq!(err.lines().count(), 3, "{err}");
    }

    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[registrar]\nmin_expires = 30\n").unwrap();
    let out = switchboard(&["check-config", path(&good)]).unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "config OK\n");
}

#[test]
fn unknown_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("typo.toml");
    std::fs::write(&config, "[sip]\nlisten_on = [\"0.0.0.0:5060\"]\n").unwrap();
    let out = switchboard(&["check-config", path(&config)]).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("sip.listen_on: unknown key"));
    // Every command refuses it, not only check-config.
    let out = switchboard(&["domain", "list", "--config", path(&config)]).unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("sip.listen_on: unknown key"));
}

/// Starts `serve` and returns the demo-user lines it printed before it was up, then stops the
/// server it started.
fn serve_demo_lines(data: &str) -> std::io::Result<Vec<String>> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--data", data, "--domain", "example.net"])
        .args(["--sip", "udp:127.0.0.1:0", "--http", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or(std::io::ErrorKind::BrokenPipe)?;
    // `listening http` is the last line `serve` prints once it is up.
    let lines: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("listening http "))
        .filter(|l| l.starts_with("demo user "))
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    Ok(lines)
}

#[test]
fn serve_creates_demo_users_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = path(dir.path());
    let lines = serve_demo_lines(data).unwrap();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(Store::open(dir.path())).unwrap();
    for (line, user) in lines.iter().zip(["alice", "bob", "carol"]) {
        let prefix = format!("demo user {user}@example.net password ");
        let rest = line
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{line}"));
        let words: Vec<&str> = rest.split_whitespace().collect();
        let role = if user == "alice" { "admin" } else { "user" };
        assert_eq!(words[1..], ["role", role], "{line}");
        let password = words[0];
        assert_eq!(password.len(), 12);
        assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
        let creds = rt
            .block_on(store.credentials("example.net", user))
            .unwrap()
            .unwrap();
        assert_eq!(
            creds.ha1_sha256,
            ha1(Algorithm::Sha256, user, "example.net", password)
        );
    }
    drop(store);
    assert!(
        serve_demo_lines(data).unwrap().is_empty(),
        "demo users printed twice"
    );
}
