//! Command-line interface: argument definitions and dispatch.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, ListenEntry};
use crate::{admin, serve};

/// Switchboard: a SIP and unified-communications server.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, arg_required_else_help = true)]
pub struct Cli {
    /// Configuration file (TOML); built-in defaults when absent.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory; overrides `server.data_dir`.
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Check a configuration file, report every problem, and exit.
    #[arg(long, value_name = "FILE")]
    pub check_config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Manage users of a domain.
    User {
        /// Domain of the users; defaults to `server.domain`.
        #[arg(long, global = true, value_name = "NAME")]
        domain: Option<String>,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage domains.
    Domain {
        #[command(subcommand)]
        command: DomainCommand,
    },
    /// Message-waiting: voicemail systems, users' profiles and delivery settings.
    Mwi {
        /// Domain of the users named without one; defaults to `server.domain`.
        #[arg(long, global = true, value_name = "NAME")]
        domain: Option<String>,
        #[command(subcommand)]
        command: crate::mwi_cli::MwiCommand,
    },
    /// Voicemail: integrity check of the mailboxes, PINs.
    Voicemail {
        /// Domain of users named without one; defaults to `server.domain`.
        #[arg(long, global = true, value_name = "NAME")]
        domain: Option<String>,
        #[command(subcommand)]
        command: crate::voicemail_cli::VoicemailCommand,
    },
    /// Check a configuration file, report every problem, and exit.
    CheckConfig {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// SIP listen address: udp:IP:PORT, tcp:IP:PORT, or IP:PORT for both. Repeatable;
    /// replaces `sip.listen`.
    #[arg(long = "sip", value_name = "ADDR")]
    pub sip: Vec<ListenEntry>,
    /// HTTP listen address; overrides `http.listen`.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// SIP domain and realm; overrides `server.domain`.
    #[arg(long, value_name = "NAME")]
    pub domain: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user.
    Add {
        name: String,
        #[arg(long)]
        password: String,
    },
    /// Import users from a CSV file of `name,password` lines (optional header line).
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// List the users, one per line.
    List,
    /// Change a user's password.
    Passwd {
        name: String,
        #[arg(long)]
        password: String,
    },
    /// Remove a user and their registrations.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Add a domain.
    Add { name: String },
    /// List the domains, one per line.
    List,
}

/// Parses the process arguments and runs the command.
pub async fn run() -> anyhow::Result<ExitCode> {
    run_with(Cli::parse()).await
}

pub async fn run_with(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(file) = &cli.check_config {
        return Ok(check_config(file));
    }
    let config_file = cli.config.as_deref();
    // The data directory: `--data`, else `server.data_dir` of the configuration.
    let data_dir = |config: &Config| {
        cli.data
            .clone()
            .unwrap_or_else(|| config.server.data_dir.clone())
    };
    match cli.command {
        Some(Command::CheckConfig { file }) => Ok(check_config(&file)),
        Some(Command::Serve(args)) => {
            serve::run(config_file, cli.data.clone(), args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::User { domain, command }) => {
            let config = load_config(config_file)?;
            let domain = domain.unwrap_or_else(|| config.server.domain.clone());
            admin::user(&data_dir(&config), &domain, command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Mwi { domain, command }) => {
            let config = load_config(config_file)?;
            let domain = domain.unwrap_or_else(|| config.server.domain.clone());
            crate::mwi_cli::run(&data_dir(&config), &domain, command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Voicemail { domain, command }) => {
            let config = load_config(config_file)?;
            let domain = domain.unwrap_or_else(|| config.server.domain.clone());
            crate::voicemail_cli::run(&config, &data_dir(&config), &domain, command).await
        }
        Some(Command::Domain { command }) => {
            let config = load_config(config_file)?;
            admin::domain(&data_dir(&config), command).await?;
            Ok(ExitCode::SUCCESS)
        }
        // `arg_required_else_help` prints help for a bare `switchboard`; this is e.g.
        // `switchboard --data X` and nothing else.
        None => anyhow::bail!("no command given; see `switchboard --help`"),
    }
}

/// Loads `path`, or the defaults when there is none; every problem ends up in the error.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    let Some(path) = path else {
        return Ok(Config::default());
    };
    Config::load(path).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        anyhow::anyhow!(
            "invalid configuration {}:\n{}",
            path.display(),
            lines.join("\n")
        )
    })
}

/// Prints `config OK` on stdout, or one problem per line on stderr and exits 1.
fn check_config(file: &Path) -> ExitCode {
    match Config::load(file) {
        Ok(config) => {
            if config.media.prefer_opus && !media_server::OPUS {
                eprintln!(
                    "{}: warning: [media] prefer_opus has no effect: built without the opus feature",
                    file.display()
                );
            }
            println!("config OK");
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for problem in &problems {
                eprintln!("{}: {problem}", file.display());
            }
            ExitCode::FAILURE
        }
    }
}

/// Adds context naming the data directory to store errors.
pub(crate) async fn open_store(data_dir: &Path) -> anyhow::Result<store::Store> {
    store::Store::open(data_dir)
        .await
        .with_context(|| format!("cannot open the database in {}", data_dir.display()))
}
