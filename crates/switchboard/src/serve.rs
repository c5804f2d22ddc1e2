//! `switchboard serve`: configuration, logging, first-start demo users, then the servers.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rand::Rng as _;
use rand::distributions::Alphanumeric;
use tracing_subscriber::EnvFilter;

use crate::cli::{ServeArgs, load_config, open_store};
use crate::config::Config;

/// Users created on an empty database so a fresh install can be tried at once.
const DEMO_USERS: [&str; 3] = ["alice", "bob", "carol"];
const DEMO_PASSWORD_LEN: usize = 12;

/// Runs the server until it stops; returns only on error or shutdown.
pub async fn run(
    config_file: Option<&Path>,
    data_dir: Option<PathBuf>,
    args: ServeArgs,
) -> anyhow::Result<()> {
    let mut config = load_config(config_file)?;
    apply_flags(&mut config, data_dir, args);
    let problems = config.validate();
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        anyhow::bail!("invalid settings:\n{}", lines.join("\n"));
    }
    init_logging(&config.server.log)?;

    let store = open_store(&config.server.data_dir).await?;
    if store.is_empty().await? {
        create_demo(&store, &config.server.domain).await?;
    }
    tracing::info!(
        domain = %config.server.domain,
        data_dir = %config.server.data_dir.display(),
        "starting"
    );
    crate::servers::run(&config, store).await
}

/// Command-line flags win over the file.
fn apply_flags(config: &mut Config, data_dir: Option<PathBuf>, args: ServeArgs) {
    if let Some(dir) = data_dir {
        config.server.data_dir = dir;
    }
    if !args.sip.is_empty() {
        config.sip.listen = args.sip;
    }
    if let Some(http) = args.http {
        config.http.listen = http;
    }
    if let Some(domain) = args.domain {
        config.server.domain = domain;
    }
}

/// Logs go to stderr: stdout is reserved for machine-readable lines.
fn init_logging(configured: &str) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.trim().is_empty() => {
            EnvFilter::try_new(&env).with_context(|| format!("invalid RUST_LOG {env:?}"))?
        }
        _ => EnvFilter::try_new(configured)
            .with_context(|| format!("invalid server.log {configured:?}"))?,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}

/// Creates the domain and the demo users, printing each password once on stdout; only the
/// HA1 values are kept, so this is the operator's only chance to see them.
async fn create_demo(store: &store::Store, domain: &str) -> anyhow::Result<()> {
    store
        .add_domain(domain)
        .await
        .with_context(|| format!("cannot create domain {domain}"))?;
    let mut rng = rand::thread_rng();
    let users: Vec<(String, String)> = DEMO_USERS
        .iter()
        .map(|name| {
            let password: String = (&mut rng)
                .sample_iter(&Alphanumeric)
                .take(DEMO_PASSWORD_LEN)
                .map(char::from)
                .collect();
            ((*name).to_owned(), password)
        })
        .collect();
    store
        .import_users(domain, &users)
        .await
        .context("cannot create the demo users")?;
    // The first demo user administers the demo (CAS `admin` topic).
    store
        .set_user_role(domain, DEMO_USERS[0], "admin")
        .await
        .context("cannot make the first demo user an administrator")?;
    tracing::info!(domain, users = users.len(), "created demo domain and users");
    for (name, password) in &users {
        let role = if name == DEMO_USERS[0] {
            "admin"
        } else {
            "user"
        };
        println!("demo user {name}@{domain} password {password} role {role}");
    }
    Ok(())
}
