//! `switchboard voicemail …`: the integrity check of the mailboxes (files against the
//! database), the repair a start would make, and setting a user's PIN. Thin wrappers over
//! `services::voicemail`.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use services::bus::Bus;
use services::voicemail::Voicemail;

use crate::cli::open_store;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum VoicemailCommand {
    /// Compare message files with the database; exit 1 when they disagree. Safe while the
    /// server runs (in-flight recordings are reported, not counted as errors, unless
    /// `--quiescent`).
    Check {
        /// Also fail on in-flight work (partial files, pending rows): for a stopped server.
        #[arg(long)]
        quiescent: bool,
        /// Repair as a start would (only with the server stopped), then check.
        #[arg(long)]
        repair: bool,
    },
    /// Set the PIN of a user's mailbox.
    Pin {
        /// The user (`name` in the default domain, or `name@domain`).
        user: String,
        pin: String,
    },
}

pub async fn run(
    config: &Config,
    data_dir: &Path,
    domain: &str,
    command: VoicemailCommand,
) -> anyhow::Result<ExitCode> {
    let store = open_store(data_dir).await?;
    let vm = Voicemail::open(store, Bus::new(16), config.voicemail.service(data_dir));
    match command {
        VoicemailCommand::Check { quiescent, repair } => {
            if repair {
                let r = vm.reconcile().await?;
                println!("repaired {}", r.repaired);
            }
            let report = vm.integrity_check().await?;
            println!("{}", report.to_json());
            for (mailbox, new, old) in vm.all_counts().await? {
                println!("mailbox {mailbox} new {new} old {old}");
            }
            Ok(if report.ok(quiescent) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        VoicemailCommand::Pin { user, pin } => {
            let aor = vm.mailbox_for(&user, domain).await?;
            vm.set_pin(&aor, &pin).await?;
            println!("PIN set for {aor}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
