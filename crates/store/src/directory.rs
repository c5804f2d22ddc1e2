//! The personal directory of each user: contacts, distribution lists and speed dials.
//!
//! A contact is kept as an opaque JSON document (`card`) that the directory service writes
//! and validates; the store only guarantees ownership: every call names the owner
//! (`domain`, `user`) and an object of another owner is reported as not found, exactly like
//! one that does not exist, so nobody learns what others keep.

use sqlx::SqliteConnection;

use crate::{Result, Store, StoreError};

mod lists;

/// Writes that read first (counts, ownership) take the write lock up front.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

fn not_found(what: &'static str, id: impl ToString) -> StoreError {
    StoreError::NotFound {
        what,
        id: id.to_string(),
    }
}

/// The users row of `user@domain` (domain compared case-insensitively).
async fn owner_id(conn: &mut SqliteConnection, domain: &str, user: &str) -> Result<i64> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT u.id FROM users u JOIN domains d ON d.id = u.domain_id
         WHERE d.name = ? AND u.name = ?",
    )
    .bind(domain)
    .bind(user)
    .fetch_optional(&mut *conn)
    .await?;
    id.ok_or_else(|| StoreError::NoSuchUser {
        domain: domain.to_owned(),
        name: user.to_owned(),
    })
}

impl Store {
    /// The personal contacts of `user@domain` as `(id, card)`, oldest first.
    pub async fn contacts(&self, domain: &str, user: &str) -> Result<Vec<(i64, String)>> {
        let mut conn = self.db.pool().acquire().await?;
        let owner = owner_id(&mut conn, domain, user).await?;
        Ok(
            sqlx::query_as("SELECT id, card FROM contacts WHERE owner_id = ? ORDER BY id")
                .bind(owner)
                .fetch_all(&mut *conn)
                .await?,
        )
    }

    /// One contact's card; [`StoreError::NotFound`] if it is not one of the owner's.
    pub async fn contact(&self, domain: &str, user: &str, id: i64) -> Result<String> {
        let mut conn = self.db.pool().acquire().await?;
        let owner = owner_id(&mut conn, domain, user).await?;
        let card: Option<String> =
            sqlx::query_scalar("SELECT card FROM contacts WHERE id = ? AND owner_id = ?")
                .bind(id)
                .bind(owner)
                .fetch_optional(&mut *conn)
                .await?;
        card.ok_or_else(|| not_found("contact", id))
    }

    /// Adds contacts in one transaction (all or none) and returns their ids in order. Fails
    /// with [`StoreError::Invalid`] when the owner would hold more than `limit` contacts.
    pub async fn add_contacts(
        &self,
        domain: &str,
        user: &str,
        cards: &[String],
        limit: usize,
        now: i64,
    ) -> Result<Vec<i64>> {
        let mut tx = self.db.pool().begin_with(BEGIN_WRITE).await?;
        let owner = owner_id(&mut tx, domain, user).await?;
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contacts WHERE owner_id = ?")
            .bind(owner)
            .fetch_one(&mut *tx)
            .await?;
        let held = usize::try_from(held).unwrap_or(usize::MAX);
        if held.saturating_add(cards.len()) > limit {
            return Err(StoreError::Invalid {
                what: "contacts",
                why: format!("at most {limit} contacts per user ({held} held)"),
            });
        }
        let mut ids = Vec::with_capacity(cards.len());
        for card in cards {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO contacts (owner_id, card, updated_at) VALUES (?, ?, ?) RETURNING id",
            )
            .bind(owner)
            .bind(card)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Replaces a contact's card.
    pub async fn update_contact(
        &self,
        domain: &str,
        user: &str,
        id: i64,
        card: &str,
        now: i64,
    ) -> Result<()> {
        let mut conn = self.db.pool().acquire().await?;
        let owner = owner_id(&mut conn, domain, user).await?;
        let done = sqlx::query(
            "UPDATE contacts SET card = ?, updated_at = ? WHERE id = ? AND owner_id = ?",
        )
        .bind(card)
        .bind(now)
        .bind(id)
        .bind(owner)
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 0 {
            return Err(not_found("contact", id));
        }
        Ok(())
    }

    /// Deletes a contact; it leaves every list it was in.
    pub async fn delete_contact(&self, domain: &str, user: &str, id: i64) -> Result<()> {
        let mut conn = self.db.pool().acquire().await?;
        let owner = owner_id(&mut conn, domain, user).await?;
        let done = sqlx::query("DELETE FROM contacts WHERE id = ? AND owner_id = ?")
            .bind(id)
            .bind(owner)
            .execute(&mut *conn)
            .await?;
        if done.rows_affected() == 0 {
            return Err(not_found("contact", id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) async fn store() -> Store {
        let s = Store::open_memory().await.unwrap();
        s.add_domain("example.com").await.unwrap();
        for u in ["alice", "bob"] {
            s.add_user("example.com", u, "pw").await.unwrap();
        }
        s
    }

    #[tokio::test]
    async fn contacts_are_private_to_their_owner() {
        let s = store().await;
        let cards = vec!["{\"name\":\"A\"}".to_owned(), "{\"name\":\"B\"}".to_owned()];
        let ids = s
            .add_contacts("example.com", "alice", &cards, 10, 1)
            .await
            .unwrap();
        assert_eq!(ids.len(), 2);
        let id = ids[0];
        assert_eq!(s.contacts("EXAMPLE.com", "alice").await.unwrap().len(), 2);
        assert!(s.contacts("example.com", "bob").await.unwrap().is_empty());
        assert!(matches!(
            s.contact("example.com", "bob", id).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(
            s.update_contact("example.com", "bob", id, "{}", 2)
                .await
                .is_err()
        );
        assert!(s.delete_contact("example.com", "bob", id).await.is_err());
        s.update_contact("example.com", "alice", id, "{\"name\":\"C\"}", 2)
            .await
            .unwrap();
        assert_eq!(
            s.contact("example.com", "alice", id).await.unwrap(),
            "{\"name\":\"C\"}"
        );
        // The limit counts what is held: all or nothing.
        let err = s
            .add_contacts("example.com", "alice", &cards, 3, 1)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
        assert_eq!(s.contacts("example.com", "alice").await.unwrap().len(), 2);
        s.delete_contact("example.com", "alice", id).await.unwrap();
        assert!(s.contact("example.com", "alice", id).await.is_err());
        assert!(matches!(
            s.contacts("example.com", "nobody").await,
            Err(StoreError::NoSuchUser { .. })
        ));
    }
}
