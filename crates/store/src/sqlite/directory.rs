//! Domains and users.

use std::collections::HashSet;

use sip::digest::{Algorithm, ha1};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::{BEGIN_WRITE, Db};
use crate::{Credentials, Result, StoreError};

/// Rows per multi-row INSERT; 5 parameters each stays far below SQLite's variable limit.
const INSERT_CHUNK: usize = 500;

/// A domain row: its id and the spelling it was created with, which is the digest realm.
struct Domain {
    id: i64,
    realm: String,
}

struct NewUser {
    name: String,
    creds: Credentials,
}

impl Db {
    pub(crate) async fn is_empty(&self) -> Result<bool> {
        let any: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM domains)")
            .fetch_one(&self.pool)
            .await?;
        Ok(!any)
    }

    pub(crate) async fn add_domain(&self, name: &str) -> Result<()> {
        let inserted = sqlx::query("INSERT INTO domains (name) VALUES (?) ON CONFLICT DO NOTHING")
            .bind(name)
            .execute(&self.pool)
            .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::DomainExists(name.to_owned()));
        }
        Ok(())
    }

    pub(crate) async fn domains(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT name FROM domains ORDER BY name")
            .fetch_all(&self.pool)
            .await?)
    }

    pub(crate) async fn domain_exists(&self, name: &str) -> Result<bool> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM domains WHERE name = ?)")
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    pub(crate) async fn import_users(
        &self,
        domain: &str,
        users: &[(String, String)],
    ) -> Result<usize> {
        let realm = domain_row(&mut *self.pool.acquire().await?, domain)
            .await?
            .realm;
        // Hashing is the bulk of the cost of a large import; keep it off the async workers.
        let owned = users.to_vec();
        let new_users = tokio::task::spawn_blocking(move || {
            owned
                .into_iter()
                .map(|(name, password)| NewUser {
                    creds: hash(&name, &realm, &password),
                    name,
                })
                .collect::<Vec<_>>()
        })
        .await?;

        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let domain = domain_row(&mut tx, domain).await?;
        let mut taken: HashSet<String> =
            sqlx::query_scalar::<_, String>("SELECT name FROM users WHERE domain_id = ?")
                .bind(domain.id)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
        for user in &new_users {
            if !taken.insert(user.name.clone()) {
                return Err(StoreError::UserExists {
                    domain: domain.realm,
                    name: user.name.clone(),
                });
            }
        }
        for chunk in new_users.chunks(INSERT_CHUNK) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO users (domain_id, name, ha1_md5, ha1_sha256) ",
            );
            insert.push_values(chunk, |mut row, user| {
                row.push_bind(domain.id)
                    .push_bind(&user.name)
                    .push_bind(&user.creds.ha1_md5)
                    .push_bind(&user.creds.ha1_sha256);
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(new_users.len())
    }

    pub(crate) async fn set_password(
        &self,
        domain: &str,
        name: &str,
        password: &str,
    ) -> Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let domain = domain_row(&mut tx, domain).await?;
        let creds = hash(name, &domain.realm, password);
        let updated = sqlx::query(
            "UPDATE users SET ha1_md5 = ?, ha1_sha256 = ? WHERE domain_id = ? AND name = ?",
        )
        .bind(&creds.ha1_md5)
        .bind(&creds.ha1_sha256)
        .bind(domain.id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(no_such_user(domain, name));
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn remove_user(&self, domain: &str, name: &str) -> Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let domain = domain_row(&mut tx, domain).await?;
        let deleted = sqlx::query("DELETE FROM users WHERE domain_id = ? AND name = ?")
            .bind(domain.id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(no_such_user(domain, name));
        }
        // AORs are free text chosen by the registrar; match the forms it can produce, with the
        // user part exact and the host part case-insensitive (RFC 3261 §19.1.4).
        for scheme in ["sip:", "sips:", ""] {
            let prefix = format!("{scheme}{name}@");
            sqlx::query(
                "DELETE FROM bindings
                 WHERE substr(aor, 1, length(?1)) = ?1
                   AND substr(aor, length(?1) + 1) = ?2 COLLATE NOCASE",
            )
            .bind(&prefix)
            .bind(&domain.realm)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn users(&self, domain: &str) -> Result<Vec<String>> {
        let mut conn = self.pool.acquire().await?;
        let domain = domain_row(&mut conn, domain).await?;
        Ok(
            sqlx::query_scalar("SELECT name FROM users WHERE domain_id = ? ORDER BY name")
                .bind(domain.id)
                .fetch_all(&mut *conn)
                .await?,
        )
    }

    pub(crate) async fn credentials(
        &self,
        domain: &str,
        name: &str,
    ) -> Result<Option<Credentials>> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT u.ha1_md5, u.ha1_sha256 FROM users u JOIN domains d ON d.id = u.domain_id
             WHERE d.name = ? AND u.name = ?",
        )
        .bind(domain)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(ha1_md5, ha1_sha256)| Credentials {
            ha1_md5,
            ha1_sha256,
        }))
    }

    pub(crate) async fn all_credentials(&self) -> Result<Vec<(String, String, Credentials)>> {
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT d.name, u.name, u.ha1_md5, u.ha1_sha256
             FROM users u JOIN domains d ON d.id = u.domain_id ORDER BY d.name, u.name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(domain, user, ha1_md5, ha1_sha256)| {
                let creds = Credentials {
                    ha1_md5,
                    ha1_sha256,
                };
                (domain, user, creds)
            })
            .collect())
    }
}

/// Looks a domain up case-insensitively (the column is NOCASE).
async fn domain_row(conn: &mut SqliteConnection, name: &str) -> Result<Domain> {
    let row: Option<(i64, String)> = sqlx::query_as("SELECT id, name FROM domains WHERE name = ?")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|(id, realm)| Domain { id, realm })
        .ok_or_else(|| StoreError::NoSuchDomain(name.to_owned()))
}

fn hash(name: &str, realm: &str, password: &str) -> Credentials {
    Credentials {
        ha1_md5: ha1(Algorithm::Md5, name, realm, password),
        ha1_sha256: ha1(Algorithm::Sha256, name, realm, password),
    }
}

fn no_such_user(domain: Domain, name: &str) -> StoreError {
    StoreError::NoSuchUser {
        domain: domain.realm,
        name: name.to_owned(),
    }
}
