//! `user …` and `domain …` commands: thin wrappers over `store` with operator-friendly errors.

use std::path::Path;

use anyhow::Context as _;
use store::StoreError;

use crate::cli::{DomainCommand, UserCommand, open_store};
use crate::csv;

pub(crate) async fn user(
    data_dir: &Path,
    domain: &str,
    command: UserCommand,
) -> anyhow::Result<()> {
    let store = open_store(data_dir).await?;
    match command {
        UserCommand::Add { name, password } => {
            store
                .add_user(domain, &name, &password)
                .await
                .map_err(explain)?;
            println!("added user {name}@{domain}");
        }
        UserCommand::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let existing = store.users(domain).await.map_err(explain)?;
            let users = csv::parse_users(&text, &existing).map_err(|bad| {
                for row in &bad {
                    eprintln!("{}:{}: {}", file.display(), row.line, row.reason);
                }
                anyhow::anyhow!(
                    "{} bad row(s) in {}; nothing imported",
                    bad.len(),
                    file.display()
                )
            })?;
            let n = store.import_users(domain, &users).await.map_err(explain)?;
            println!("imported {n} users into {domain}");
        }
        UserCommand::List => {
            for name in store.users(domain).await.map_err(explain)? {
                println!("{name}");
            }
        }
        UserCommand::Passwd { name, password } => {
            store
                .set_password(domain, &name, &password)
                .await
                .map_err(explain)?;
            println!("changed password of {name}@{domain}");
        }
        UserCommand::Remove { name } => {
            store.remove_user(domain, &name).await.map_err(explain)?;
            println!("removed user {name}@{domain}");
        }
    }
    Ok(())
}

pub(crate) async fn domain(data_dir: &Path, command: DomainCommand) -> anyhow::Result<()> {
    let store = open_store(data_dir).await?;
    match command {
        DomainCommand::Add { name } => {
            store.add_domain(&name).await.map_err(explain)?;
            println!("added domain {name}");
        }
        DomainCommand::List => {
            for name in store.domains().await.map_err(explain)? {
                println!("{name}");
            }
        }
    }
    Ok(())
}

/// Tells the operator how to fix the common mistakes.
fn explain(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::NoSuchDomain(d) => anyhow::anyhow!(
            "no such domain {d}; create it with `switchboard domain add {d}` or pick another \
             with --domain"
        ),
        other => other.into(),
    }
}
