//! Distribution lists and speed dials of each user. A list member is a key chosen by the
//! directory service; a member that stands for one of the owner's contacts names it, so
//! deleting the contact removes it from every list.

use sqlx::SqliteConnection;

use super::{BEGIN_WRITE, not_found, owner_id};
use crate::{Result, Store, StoreError};

impl Store {
    /// The distribution lists of `user@domain` as `(id, name, members)`, members in the
    /// order they were added.
    pub async fn contact_lists(
        &self,
        domain: &str,
        user: &str,
    ) -> Result<Vec<(i64, String, Vec<String>)>> {
        let mut conn = self.db.pool().acquire().await?;
        let owner = owner_id(&mut conn, domain, user).await?;
        let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT l.id, l.name, m.member FROM contact_lists l
             LEFT JOIN contact_list_members m ON m.list_id = l.id
             WHERE l.owner_id = ? ORDER BY l.name, l.id, m.rowid",
        )
        .bind(owner)
        .fetch_all(&mut *conn)
        .await?;
        let mut out: Vec<(i64, String, Vec<String>)> = Vec::new();
        for (id, name, member) in rows {
            if out.last().is_none_or(|(last, _, _)| *last != id) {
                out.push((id, name, Vec::new()));
            }
            if let (Some(m), Some((_, _, members))) = (member, out.last_mut()) {
                members.push(m);
            }
        }
        Ok(out)
    }

    /// Creates a list; [`StoreError::Invalid`] if the owner already has one of that name.
    pub async fn create_contact_list(&self, domain: &str, user: &str, name: &str) -> Result<i64> {
        let mut conn = self.db.pool().acquire().await?;
        let owner = owner_id(&mut conn, domain, user).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO contact_lists (owner_id, name) VALUES (?, ?)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(owner)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
        id.ok_or_else(|| StoreError::Invalid {
            what: "list",
            why: format!("a list named {name:?} already exists"),
        })
    }

    pub async fn delete_contact_list(&self, domain: &str, user: &str, id: i64) -> Result<()> {
        let mut conn = self.db.pool().acquire().await?;
        let owner = owner_id(&mut conn, domain, user).await?;
        let done = sqlx::query("DELETE FROM contact_lists WHERE id = ? AND owner_id = ?")
            .bind(id)
            .bind(owner)
            .execute(&mut *conn)
            .await?;
        if done.rows_affected() == 0 {
            return Err(not_found("list", id));
        }
        Ok(())
    }

    /// Adds `member` to a list of the owner; `contact` names the owner's contact it stands
    /// for, if any (it must exist). Returns false if it was already a member.
    pub async fn add_list_member(
        &self,
        domain: &str,
        user: &str,
        list: i64,
        member: &str,
        contact: Option<i64>,
    ) -> Result<bool> {
        let mut tx = self.db.pool().begin_with(BEGIN_WRITE).await?;
        let owner = owner_id(&mut tx, domain, user).await?;
        owned(&mut tx, "contact_lists", "list", list, owner).await?;
        if let Some(c) = contact {
            owned(&mut tx, "contacts", "contact", c, owner).await?;
        }
        let done = sqlx::query(
            "INSERT INTO contact_list_members (list_id, member, contact_id) VALUES (?, ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(list)
        .bind(member)
        .bind(contact)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn remove_list_member(
        &self,
        domain: &str,
        user: &str,
        list: i64,
        member: &str,
    ) -> Result<()> {
        let mut tx = self.db.pool().begin_with(BEGIN_WRITE).await?;
        let owner = owner_id(&mut tx, domain, user).await?;
        owned(&mut tx, "contact_lists", "list", list, owner).await?;
        let done = sqlx::query("DELETE FROM contact_list_members WHERE list_id = ? AND member = ?")
            .bind(list)
            .bind(member)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(not_found("list member", member));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Speed dials of `user@domain` as `(key, target)`, by key.
    pub async fn speed_dials(&self, domain: &str, user: &str) -> Result<Vec<(u8, String)>> {
        let mut conn = self.db.pool().acquire().await?;
        let owner = owner_id(&mut conn, domain, user).await?;
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT key, target FROM speed_dials WHERE owner_id = ? ORDER BY key")
                .bind(owner)
                .fetch_all(&mut *conn)
                .await?;
        rows.into_iter()
            .map(|(k, t)| {
                u8::try_from(k)
                    .map(|k| (k, t))
                    .map_err(|_| StoreError::Corrupt("speed_dials.key"))
            })
            .collect()
    }

    /// Sets (or replaces) a speed dial.
    pub async fn set_speed_dial(
        &self,
        domain: &str,
        user: &str,
        key: u8,
        target: &str,
    ) -> Result<()> {
        let mut conn = self.db.pool().acquire().await?;
        let owner = owner_id(&mut conn, domain, user).await?;
        sqlx::query("INSERT OR REPLACE INTO speed_dials (owner_id, key, target) VALUES (?, ?, ?)")
            .bind(owner)
            .bind(i64::from(key))
            .bind(target)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    pub async fn delete_speed_dial(&self, domain: &str, user: &str, key: u8) -> Result<()> {
        let mut conn = self.db.pool().acquire().await?;
        let owner = owner_id(&mut conn, domain, user).await?;
        let done = sqlx::query("DELETE FROM speed_dials WHERE owner_id = ? AND key = ?")
            .bind(owner)
            .bind(i64::from(key))
            .execute(&mut *conn)
            .await?;
        if done.rows_affected() == 0 {
            return Err(not_found("speed dial", key));
        }
        Ok(())
    }
}

/// `Ok` if row `id` of `table` belongs to `owner`; not found otherwise.
async fn owned(
    conn: &mut SqliteConnection,
    table: &'static str,
    what: &'static str,
    id: i64,
    owner: i64,
) -> Result<()> {
    // `table` is one of this module's constants, never input.
    let sql = format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE id = ? AND owner_id = ?)");
    let yes: bool = sqlx::query_scalar(&sql)
        .bind(id)
        .bind(owner)
        .fetch_one(&mut *conn)
        .await?;
    if yes {
        Ok(())
    } else {
        Err(not_found(what, id))
    }
}

#[cfg(test)]
mod tests {
    use crate::directory::tests::store;

    #[tokio::test]
    async fn lists_follow_their_contacts() {
        let s = store().await;
        let c = s
            .add_contacts("example.com", "alice", &["{}".to_owned()], 10, 1)
            .await
            .unwrap()[0];
        let l = s
            .create_contact_list("example.com", "alice", "team")
            .await
            .unwrap();
        assert!(
            s.create_contact_list("example.com", "alice", "team")
                .await
                .is_err()
        );
        let m = format!("contact:{c}");
        assert!(
            s.add_list_member("example.com", "alice", l, &m, Some(c))
                .await
                .unwrap()
        );
        assert!(
            !s.add_list_member("example.com", "alice", l, &m, Some(c))
                .await
                .unwrap()
        );
        s.add_list_member("example.com", "alice", l, "user:bob@example.com", None)
            .await
            .unwrap();
        // Bob can touch neither the list nor Alice's contact.
        assert!(
            s.add_list_member("example.com", "bob", l, "x", None)
                .await
                .is_err()
        );
        let bl = s
            .create_contact_list("example.com", "bob", "team")
            .await
            .unwrap();
        assert!(
            s.add_list_member("example.com", "bob", bl, &m, Some(c))
                .await
                .is_err()
        );
        let lists = s.contact_lists("example.com", "alice").await.unwrap();
        assert_eq!(
            lists,
            vec![(
                l,
                "team".to_owned(),
                vec![m.clone(), "user:bob@example.com".to_owned()]
            )]
        );
        s.delete_contact("example.com", "alice", c).await.unwrap();
        let lists = s.contact_lists("example.com", "alice").await.unwrap();
        assert_eq!(lists[0].2, vec!["user:bob@example.com".to_owned()]);
        assert!(
            s.remove_list_member("example.com", "alice", l, &m)
                .await
                .is_err()
        );
        s.remove_list_member("example.com", "alice", l, "user:bob@example.com")
            .await
            .unwrap();
        s.delete_contact_list("example.com", "alice", l)
            .await
            .unwrap();
        assert!(
            s.delete_contact_list("example.com", "alice", l)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn speed_dials() {
        let s = store().await;
        s.set_speed_dial("example.com", "alice", 2, "bob")
            .await
            .unwrap();
        s.set_speed_dial("example.com", "alice", 1, "+1555")
            .await
            .unwrap();
        s.set_speed_dial("example.com", "alice", 2, "carol")
            .await
            .unwrap();
        assert_eq!(
            s.speed_dials("example.com", "alice").await.unwrap(),
            vec![(1, "+1555".to_owned()), (2, "carol".to_owned())]
        );
        assert!(
            s.speed_dials("example.com", "bob")
                .await
                .unwrap()
                .is_empty()
        );
        assert!(s.delete_speed_dial("example.com", "bob", 1).await.is_err());
        s.delete_speed_dial("example.com", "alice", 1)
            .await
            .unwrap();
        assert_eq!(
            s.speed_dials("example.com", "alice").await.unwrap().len(),
            1
        );
    }
}
