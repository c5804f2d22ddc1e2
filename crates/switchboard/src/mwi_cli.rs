//! `switchboard mwi …`: voicemail systems, users' profiles and delivery settings for
//! message-waiting (runtime data in the store; a running server picks changes up within a
//! second). Thin wrappers over `store`.

use std::path::Path;

use clap::Subcommand;
use store::{MwiSystem, MwiUserSettings};

use crate::cli::open_store;

#[derive(Debug, Subcommand)]
pub enum MwiCommand {
    /// Voicemail systems (`local` is ours and always present).
    System {
        #[command(subcommand)]
        command: SystemCommand,
    },
    /// Put a voicemail system into a user's profile (their mailbox id there).
    Assign {
        /// The user (`name` in the default domain, or `name@domain`).
        user: String,
        #[arg(long)]
        system: String,
        /// The user's mailbox id on that system (what it names in its reports).
        #[arg(long)]
        mailbox: Option<String>,
    },
    /// Take a voicemail system out of a user's profile (forgets its counts for them).
    Unassign {
        user: String,
        #[arg(long)]
        system: String,
    },
    /// Per-user delivery to SIP devices: `on`, `off` or `default` (the `[mwi]` setting).
    Delivery {
        user: String,
        #[arg(long, value_name = "on|off|default")]
        message_text: Option<String>,
        #[arg(long, value_name = "on|off|default")]
        unsolicited_notify: Option<String>,
    },
    /// A user's profile, counts and recorded activation commands.
    Show { user: String },
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Add or replace an external voicemail system.
    Add {
        name: String,
        /// `sip` (reports by NOTIFY/PUBLISH message-summary) or `cas` (CAS `mwi` report).
        #[arg(long, default_value = "sip")]
        kind: String,
        /// The system account (`name` or `name@domain`, a user of this server) it
        /// authenticates as.
        #[arg(long)]
        account: String,
        /// What users see (default: the name).
        #[arg(long)]
        label: Option<String>,
        /// Activation commands: `send` (SIP MESSAGE to the account's devices, recorded) or
        /// `record` (recorded only).
        #[arg(long, default_value = "record")]
        activation: String,
    },
    /// Remove an external system with its profiles and counts.
    Remove { name: String },
    /// List the systems: `name kind account activation label`.
    List,
}

fn aor(user: &str, domain: &str) -> String {
    if user.contains('@') {
        user.to_owned()
    } else {
        format!("{user}@{domain}")
    }
}

fn tri(v: Option<&str>, old: Option<bool>) -> anyhow::Result<Option<bool>> {
    match v {
        None => Ok(old),
        Some("on") => Ok(Some(true)),
        Some("off") => Ok(Some(false)),
        Some("default") => Ok(None),
        Some(other) => anyhow::bail!("{other:?}: use on, off or default"),
    }
}

pub(crate) async fn run(data_dir: &Path, domain: &str, command: MwiCommand) -> anyhow::Result<()> {
    let store = open_store(data_dir).await?;
    match command {
        MwiCommand::System { command } => match command {
            SystemCommand::Add {
                name,
                kind,
                account,
                label,
                activation,
            } => {
                let system = MwiSystem {
                    label: label.unwrap_or_else(|| name.clone()),
                    name,
                    kind,
                    account: Some(aor(&account, domain)),
                    activation,
                };
                store.mwi_put_system(&system).await?;
                println!("voicemail system {} saved", system.name);
            }
            SystemCommand::Remove { name } => {
                store.mwi_remove_system(&name).await?;
                println!("voicemail system {name} removed");
            }
            SystemCommand::List => {
                for s in store.mwi_systems().await? {
                    let account = s.account.as_deref().unwrap_or("-");
                    println!(
                        "{} {} {account} {} {}",
                        s.name, s.kind, s.activation, s.label
                    );
                }
            }
        },
        MwiCommand::Assign {
            user,
            system,
            mailbox,
        } => {
            let aor = aor(&user, domain);
            store.mwi_assign(&aor, &system, mailbox.as_deref()).await?;
            println!("{system} assigned to {aor}");
        }
        MwiCommand::Unassign { user, system } => {
            let aor = aor(&user, domain);
            store.mwi_unassign(&aor, &system).await?;
            println!("{system} unassigned from {aor}");
        }
        MwiCommand::Delivery {
            user,
            message_text,
            unsolicited_notify,
        } => {
            let aor = aor(&user, domain);
            let old = store
                .mwi_user_settings()
                .await?
                .into_iter()
                .find(|s| s.aor == aor)
                .unwrap_or_default();
            let s = MwiUserSettings {
                message_text: tri(message_text.as_deref(), old.message_text)?,
                unsolicited_notify: tri(unsolicited_notify.as_deref(), old.unsolicited_notify)?,
                aor,
            };
            store.mwi_put_user_settings(&s).await?;
            println!("delivery settings of {} saved", s.aor);
        }
        MwiCommand::Show { user } => {
            let aor = aor(&user, domain);
            for p in store.mwi_profiles().await?.iter().filter(|p| p.aor == aor) {
                let mailbox = p.mailbox.as_deref().unwrap_or("-");
                println!("profile {} mailbox {mailbox} active {}", p.system, p.active);
            }
            for s in store.mwi_states().await?.iter().filter(|s| s.aor == aor) {
                let c = s.counts;
                println!(
                    "counts {} {}/{} ({}/{}) messages {}",
                    s.system,
                    c.new,
                    c.old,
                    c.urgent_new,
                    c.urgent_old,
                    s.messages.len()
                );
            }
            for (system, active, at, sent, by) in store.mwi_activations(&aor).await? {
                println!("activation {system} active {active} at {at} sent {sent} by {by}");
            }
        }
    }
    Ok(())
}
