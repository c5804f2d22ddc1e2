//! Registrar bindings: soft state, persisted only so that a restart keeps registrations.

use super::{BEGIN_WRITE, Db, narrow};
use crate::{Binding, Result};

type BindingRow = (
    String,
    String,
    i64,
    Option<f64>,
    String,
    i64,
    Option<String>,
    String,
    String,
    Option<String>,
);

impl Db {
    pub(crate) async fn save_bindings(&self, aor: &str, bindings: &[Binding]) -> Result<()> {
        self.save_bindings_many(&[(aor.to_owned(), bindings.to_vec())])
            .await
    }

    /// Several AORs in one transaction: one commit (one WAL sync) for a whole batch.
    pub(crate) async fn save_bindings_many(&self, sets: &[(String, Vec<Binding>)]) -> Result<()> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        for (aor, bindings) in sets {
            replace_aor(&mut tx, aor, bindings).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn replace_aor(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    aor: &str,
    bindings: &[Binding],
) -> Result<()> {
    sqlx::query("DELETE FROM bindings WHERE aor = ?")
        .bind(aor)
        .execute(&mut **tx)
        .await?;
    for b in bindings {
        sqlx::query(
            "INSERT INTO bindings (aor, contact, expires_at, q, call_id, cseq, instance,
                                       transport, source, user_agent)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(aor)
        .bind(&b.contact)
        .bind(b.expires_at)
        .bind(b.q.map(f64::from))
        .bind(&b.call_id)
        .bind(i64::from(b.cseq))
        .bind(&b.instance)
        .bind(&b.transport)
        .bind(&b.source)
        .bind(&b.user_agent)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl Db {
    pub(crate) async fn load_bindings(&self, now_unix: i64) -> Result<Vec<Binding>> {
        // Expired rows are of no use to anyone; dropping them here keeps the table from
        // collecting AORs that never registered again.
        sqlx::query("DELETE FROM bindings WHERE expires_at <= ?")
            .bind(now_unix)
            .execute(&self.pool)
            .await?;
        let rows: Vec<BindingRow> = sqlx::query_as(
            "SELECT aor, contact, expires_at, q, call_id, cseq, instance, transport, source,
                    user_agent
             FROM bindings WHERE expires_at > ? ORDER BY aor, id",
        )
        .bind(now_unix)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(binding).collect()
    }
}

fn binding(row: BindingRow) -> Result<Binding> {
    let (aor, contact, expires_at, q, call_id, cseq, instance, transport, source, user_agent) = row;
    Ok(Binding {
        aor,
        contact,
        expires_at,
        // Written from an f32, so narrowing back is exact.
        q: q.map(|q| q as f32),
        call_id,
        cseq: narrow(cseq, "bindings.cseq")?,
        instance,
        transport,
        source,
        user_agent,
    })
}
